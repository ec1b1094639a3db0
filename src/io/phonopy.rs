//! phonopy outputs: a folder with `total_dos.dat` (frequency in THz, DOS per
//! primitive cell), optionally `projected_dos.dat` (one column per primitive-cell atom,
//! or per group when phonopy ran with `PDOS = 1 2, 3 4`), and the `phonopy_params.yaml`
//! or `phonopy.yaml` whose `primitive_cell` names the atoms. Projections are tied to
//! atoms by that structure, never by the order of a formula string (the bug that put
//! the wrong atoms in the original study's Li column for about 1 in 3 materials).

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{parse_err, read_text};
use crate::error::Result;
use crate::phonon::mesh::{DosMethod, MeshDos};
use crate::phonon::{Dos, Projection};

/// The yaml files that may name the primitive cell's atoms, in order of preference.
const YAML_NAMES: &[&str] = &["phonopy_params.yaml", "phonopy.yaml", "phonopy_disp.yaml"];

#[derive(Deserialize)]
struct PhonopyYaml {
    primitive_cell: Option<Cell>,
}

#[derive(Deserialize)]
struct Cell {
    points: Vec<Point>,
}

#[derive(Deserialize)]
struct Point {
    symbol: String,
}

/// Whether `dir` looks like a phonopy DOS folder.
pub(crate) fn is_phonopy_dir(dir: &Path) -> bool {
    dir.join("total_dos.dat").is_file()
}

/// Numeric columns of a phonopy `.dat` file; `#` starts a comment line.
fn read_columns(path: &Path, expect_min: usize) -> Result<Vec<Vec<f64>>> {
    let text = read_text(path)?;
    let mut rows: Vec<Vec<f64>> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let row: Vec<f64> = line
            .split_ascii_whitespace()
            .enumerate()
            .map(|(c, tok)| {
                tok.parse::<f64>().map_err(|_| {
                    parse_err(
                        path,
                        i + 1,
                        format!("column {}: expected a number, found {tok:?}", c + 1),
                    )
                })
            })
            .collect::<Result<_>>()?;
        if row.len() < expect_min {
            return Err(parse_err(
                path,
                i + 1,
                format!(
                    "expected at least {expect_min} columns, found {}",
                    row.len()
                ),
            ));
        }
        if let Some(first) = rows.first()
            && first.len() != row.len()
        {
            return Err(parse_err(
                path,
                i + 1,
                format!(
                    "expected {} columns like the first row, found {}",
                    first.len(),
                    row.len()
                ),
            ));
        }
        rows.push(row);
    }
    if rows.is_empty() {
        return Err(parse_err(path, 1, "no data rows (only comments)".into()));
    }
    Ok(rows)
}

/// Symbols of the primitive cell's atoms from the first yaml file found in `dir`.
fn primitive_symbols(dir: &Path) -> Result<Option<(PathBuf, Vec<String>)>> {
    for name in YAML_NAMES {
        let path = dir.join(name);
        if !path.is_file() {
            continue;
        }
        let text = read_text(&path)?;
        let doc: PhonopyYaml = serde_yaml_ng::from_str(&text).map_err(|e| {
            let line = e.location().map_or(0, |l| l.line());
            parse_err(&path, line, format!("not a phonopy yaml file: {e}"))
        })?;
        let cell = doc.primitive_cell.ok_or_else(|| {
            parse_err(
                &path,
                0,
                "primitive_cell: missing (needed to name the atoms)".into(),
            )
        })?;
        return Ok(Some((
            path,
            cell.points.into_iter().map(|p| p.symbol).collect(),
        )));
    }
    Ok(None)
}

/// PDOS groups (1-based atom indices) from a `PDOS = 1 2, 3 4` tag in a `*.conf` file.
fn pdos_groups(dir: &Path) -> Result<Option<(PathBuf, Vec<Vec<usize>>)>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(None);
    };
    let mut confs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "conf"))
        .collect();
    confs.sort();
    for path in confs {
        let text = read_text(&path)?;
        for (i, line) in text.lines().enumerate() {
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            if !key.trim().eq_ignore_ascii_case("PDOS") || value.trim().eq_ignore_ascii_case("AUTO")
            {
                continue;
            }
            let groups = value
                .split(',')
                .map(|g| {
                    g.split_ascii_whitespace()
                        .map(|t| match t.parse::<usize>() {
                            Ok(v) if v >= 1 => Ok(v - 1),
                            _ => Err(parse_err(
                                &path,
                                i + 1,
                                format!("PDOS: expected atom numbers from 1, found {t:?}"),
                            )),
                        })
                        .collect::<Result<Vec<usize>>>()
                })
                .collect::<Result<Vec<_>>>()?;
            return Ok(Some((path, groups)));
        }
    }
    Ok(None)
}

/// Read a phonopy DOS folder.
pub fn read(dir: &Path) -> Result<Dos> {
    let total_path = dir.join("total_dos.dat");
    let rows = read_columns(&total_path, 2)?;
    if rows[0].len() != 2 {
        return Err(parse_err(
            &total_path,
            0,
            format!(
                "expected 2 columns (frequency, DOS), found {}",
                rows[0].len()
            ),
        ));
    }
    let freqs: Vec<f64> = rows.iter().map(|r| r[0]).collect();
    let total: Vec<f64> = rows.iter().map(|r| r[1]).collect();
    let symbols = primitive_symbols(dir)?;
    let mut projections = Vec::new();
    let pdos_path = dir.join("projected_dos.dat");
    if pdos_path.is_file() {
        let Some((yaml, species)) = &symbols else {
            return Err(parse_err(
                &pdos_path,
                0,
                format!(
                    "projected DOS without {} to name the atoms",
                    YAML_NAMES.join(" or ")
                ),
            ));
        };
        let prow = read_columns(&pdos_path, 2)?;
        if prow.len() != freqs.len()
            || prow
                .iter()
                .zip(&freqs)
                .any(|(r, f)| (r[0] - f).abs() > 1e-6 * f.abs().max(1.0))
        {
            return Err(parse_err(
                &pdos_path,
                0,
                "frequencies differ from total_dos.dat".into(),
            ));
        }
        let ncol = prow[0].len() - 1;
        let groups: Vec<Vec<usize>> = if ncol == species.len() {
            (0..ncol).map(|i| vec![i]).collect()
        } else {
            match pdos_groups(dir)? {
                Some((conf, g)) if g.len() == ncol => {
                    if let Some(bad) = g.iter().flatten().find(|&&a| a >= species.len()) {
                        return Err(parse_err(
                            &conf,
                            0,
                            format!(
                                "PDOS: atom {} is not among the {} atoms of {}",
                                bad + 1,
                                species.len(),
                                yaml.display()
                            ),
                        ));
                    }
                    g
                }
                _ => {
                    return Err(parse_err(
                        &pdos_path,
                        0,
                        format!(
                            "{ncol} projection columns, but {} names {} atoms and no *.conf gives {ncol} PDOS groups",
                            yaml.display(),
                            species.len()
                        ),
                    ));
                }
            }
        };
        for (c, sites) in groups.into_iter().enumerate() {
            let first = &species[sites[0]];
            let element = sites
                .iter()
                .all(|&s| &species[s] == first)
                .then(|| first.clone());
            projections.push(Projection {
                sites,
                element,
                density: prow.iter().map(|r| r[c + 1]).collect(),
            });
        }
    }
    let id = dir
        .canonicalize()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| dir.display().to_string());
    let mut dos = Dos {
        id,
        source: dir.to_path_buf(),
        freqs_thz: freqs,
        total,
        projections,
        species: symbols.map(|(_, s)| s).unwrap_or_default(),
        warnings: Vec::new(),
    };
    dos.validate()?;
    Ok(dos)
}

/// Write `total_dos.dat` and `projected_dos.dat` in phonopy's format (a comment line,
/// then frequency and densities, 20 characters and 10 decimals each). Each file is
/// written atomically ([`super::write_atomic`]), so none is ever half-written.
pub(crate) fn write_dos_files(
    dir: &Path,
    m: &MeshDos,
    method: DosMethod,
    sigma: f64,
) -> Result<()> {
    let header = match method {
        DosMethod::Tetrahedron => "# Tetrahedron method".to_string(),
        DosMethod::Gaussian => format!("# Sigma = {sigma:.6}"),
    };
    let write = |name: &str, cols: &dyn Fn(usize) -> Vec<f64>| -> Result<()> {
        use std::fmt::Write;
        let mut text = format!("{header}\n");
        for (i, w) in m.freqs_thz.iter().enumerate() {
            let _ = write!(text, "{w:20.10}");
            for v in cols(i) {
                let _ = write!(text, "{v:20.10}");
            }
            text.push('\n');
        }
        super::write_atomic(&dir.join(name), text.as_bytes())
    };
    write("total_dos.dat", &|i| vec![m.total[i]])?;
    write("projected_dos.dat", &|i| {
        m.projected.iter().map(|p| p[i]).collect()
    })?;
    Ok(())
}
