//! PhononDB entries (Togo's phonon database, 2018-04-17): a `.tar.lzma` archive (read
//! in memory) or its unpacked folder, holding `POSCAR-unitcell`, `phonopy.conf` (`DIM`,
//! `PRIMITIVE_AXIS`), `FORCE_SETS` (phonopy's format: per displacement the displaced
//! atom, the displacement and the forces on every supercell atom) and often `BORN`.
//!
//! This is the reading step of computing a DOS from force sets; every malformed or
//! missing part is an error naming the file (inside the archive) and the line.

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::{Error, Result};
pub use crate::phonon::structure::{Born, ForceSet, PhononDbEntry, Structure};

fn perr(file: &str, source: &Path, line: usize, msg: impl Into<String>) -> Error {
    Error::Parse {
        path: source.join(file),
        line,
        message: msg.into(),
    }
}

/// The entry's files by base name: from an archive in memory or from a folder.
fn files(path: &Path) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    if path.is_dir() {
        for e in std::fs::read_dir(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })? {
            let p = e
                .map_err(|source| Error::Io {
                    path: path.to_path_buf(),
                    source,
                })?
                .path();
            if p.is_file() {
                let name = p
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .to_string();
                if let Ok(text) = std::fs::read_to_string(&p) {
                    out.insert(name, text);
                }
            }
        }
        return Ok(out);
    }
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut tar_bytes = Vec::new();
    // PhononDB's ".tar.lzma" files are xz streams; plain LZMA ("lzma alone") too.
    let mut input = std::io::Cursor::new(&bytes);
    let unpacked = if bytes.starts_with(&[0xFD, b'7', b'z', b'X', b'Z', 0]) {
        lzma_rs::xz_decompress(&mut input, &mut tar_bytes)
    } else {
        lzma_rs::lzma_decompress(&mut input, &mut tar_bytes)
    };
    unpacked.map_err(|e| Error::Parse {
        path: path.to_path_buf(),
        line: 0,
        message: format!("not an xz- or LZMA-compressed tar archive: {e}"),
    })?;
    let mut archive = tar::Archive::new(std::io::Cursor::new(tar_bytes));
    let entries = archive.entries().map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    for e in entries {
        let mut e = e.map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        if !e.header().entry_type().is_file() {
            continue;
        }
        let name = e
            .path()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().to_string()))
            .unwrap_or_default();
        let mut text = String::new();
        if std::io::Read::read_to_string(&mut e, &mut text).is_ok() {
            out.insert(name, text);
        }
    }
    Ok(out)
}

fn numbers(
    line: &str,
    file: &str,
    src: &Path,
    no: usize,
    want: usize,
    what: &str,
) -> Result<Vec<f64>> {
    let v: Vec<f64> = line
        .split_whitespace()
        .take(want)
        .map(|w| w.parse::<f64>())
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| perr(file, src, no, format!("expected {what}")))?;
    if v.len() != want || v.iter().any(|x| !x.is_finite()) {
        return Err(perr(file, src, no, format!("expected {what}")));
    }
    Ok(v)
}

/// VASP POSCAR (VASP 5: species line present; Direct or Cartesian).
pub fn parse_poscar(text: &str, file: &str, src: &Path) -> Result<Structure> {
    let lines: Vec<&str> = text.lines().collect();
    let get = |i: usize| {
        lines
            .get(i)
            .copied()
            .ok_or_else(|| perr(file, src, i + 1, "the file ends too early"))
    };
    let scale = numbers(get(1)?, file, src, 2, 1, "the scale factor")?[0];
    if scale <= 0.0 {
        return Err(perr(file, src, 2, "expected a positive scale factor"));
    }
    let mut lattice = [[0.0; 3]; 3];
    for (r, row) in lattice.iter_mut().enumerate() {
        let v = numbers(
            get(2 + r)?,
            file,
            src,
            3 + r,
            3,
            "three lattice-vector components",
        )?;
        *row = [v[0] * scale, v[1] * scale, v[2] * scale];
    }
    let names: Vec<String> = get(5)?.split_whitespace().map(String::from).collect();
    if names.is_empty() || names.iter().any(|n| n.parse::<f64>().is_ok()) {
        return Err(perr(
            file,
            src,
            6,
            "expected the species names (VASP 5 format)",
        ));
    }
    let counts: Vec<usize> = get(6)?
        .split_whitespace()
        .map(|w| w.parse::<usize>())
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| perr(file, src, 7, "expected the number of atoms of each species"))?;
    if counts.len() != names.len() {
        return Err(perr(
            file,
            src,
            7,
            format!("{} counts for {} species", counts.len(), names.len()),
        ));
    }
    let mut at = 7;
    if get(at)?.trim_start().starts_with(['S', 's']) {
        at += 1; // Selective dynamics
    }
    let mode = get(at)?.trim_start().to_ascii_lowercase();
    let cartesian = mode.starts_with('c') || mode.starts_with('k');
    if !cartesian && !mode.starts_with('d') {
        return Err(perr(file, src, at + 1, "expected Direct or Cartesian"));
    }
    let n: usize = counts
        .iter()
        .try_fold(0usize, |a, &c| a.checked_add(c))
        .ok_or_else(|| perr(file, src, 7, "the atom counts overflow"))?;
    if crate::geom::det(&lattice).abs() < 1e-8 {
        return Err(perr(
            file,
            src,
            3,
            "the lattice vectors are linearly dependent",
        ));
    }
    let inv = crate::geom::inverse(&lattice);
    // Grown as the lines come (a counts line claiming 10^12 atoms fails at the first
    // missing line, not on allocation).
    let mut frac = Vec::with_capacity(n.min(1 << 16));
    for i in 0..n {
        let no = at + 2 + i;
        let v = numbers(get(at + 1 + i)?, file, src, no, 3, "three coordinates")?;
        let p = if cartesian {
            // s = r · L⁻¹
            let r = [v[0] * scale, v[1] * scale, v[2] * scale];
            std::array::from_fn(|j| (0..3).map(|k| r[k] * inv[k][j]).sum())
        } else {
            [v[0], v[1], v[2]]
        };
        frac.push(p);
    }
    let species = names
        .iter()
        .zip(&counts)
        .flat_map(|(s, &c)| std::iter::repeat_n(s.clone(), c))
        .collect();
    Ok(Structure {
        lattice,
        species,
        frac,
    })
}

/// DIM as a 3 x 3 integer matrix (rows).
pub(crate) type Dim = [[i64; 3]; 3];

fn fraction(w: &str) -> Option<f64> {
    match w.split_once('/') {
        Some((a, b)) => Some(a.parse::<f64>().ok()? / b.parse::<f64>().ok()?),
        None => w.parse().ok(),
    }
}

/// phonopy.conf: DIM (3 or 9 integers) and PRIMITIVE_AXIS (9 numbers or fractions,
/// or AUTO).
pub(crate) fn parse_conf(
    text: &str,
    file: &str,
    src: &Path,
) -> Result<(Dim, Option<[[f64; 3]; 3]>)> {
    let mut dim = None;
    let mut prim = None;
    for (i, line) in text.lines().enumerate() {
        let Some((key, value)) = line.split('#').next().unwrap_or("").split_once('=') else {
            continue;
        };
        let words: Vec<&str> = value.split_whitespace().collect();
        match key.trim().to_ascii_uppercase().as_str() {
            "DIM" => {
                let v: Vec<i64> = words
                    .iter()
                    .map(|w| w.parse::<i64>())
                    .collect::<std::result::Result<_, _>>()
                    .map_err(|_| perr(file, src, i + 1, "DIM: expected 3 or 9 integers"))?;
                let m = match v.len() {
                    3 => [[v[0], 0, 0], [0, v[1], 0], [0, 0, v[2]]],
                    9 => [[v[0], v[1], v[2]], [v[3], v[4], v[5]], [v[6], v[7], v[8]]],
                    _ => return Err(perr(file, src, i + 1, "DIM: expected 3 or 9 integers")),
                };
                dim = Some(m);
            }
            "PRIMITIVE_AXIS" | "PRIMITIVE_AXES" => {
                if words.len() == 1 && words[0].eq_ignore_ascii_case("auto") {
                    continue;
                }
                let v: Vec<f64> = words
                    .iter()
                    .map(|w| fraction(w))
                    .collect::<Option<_>>()
                    .filter(|v: &Vec<f64>| v.len() == 9)
                    .ok_or_else(|| {
                        perr(
                            file,
                            src,
                            i + 1,
                            "PRIMITIVE_AXIS: expected 9 numbers or fractions (e.g. 0 1/2 1/2 ...)",
                        )
                    })?;
                prim = Some([[v[0], v[1], v[2]], [v[3], v[4], v[5]], [v[6], v[7], v[8]]]);
            }
            _ => {}
        }
    }
    let dim = dim.ok_or_else(|| perr(file, src, 0, "no DIM line (the supercell)"))?;
    Ok((dim, prim))
}

/// FORCE_SETS in phonopy's type-1 format.
pub(crate) fn parse_force_sets(
    text: &str,
    file: &str,
    src: &Path,
) -> Result<(usize, Vec<ForceSet>)> {
    // Non-empty lines with their 1-based numbers.
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'));
    let mut next = |what: &str| {
        lines
            .next()
            .ok_or_else(|| perr(file, src, 0, format!("the file ends before {what}")))
    };
    let (no, l) = next("the number of atoms")?;
    let natom: usize = l
        .parse()
        .map_err(|_| perr(file, src, no, "expected the number of supercell atoms"))?;
    let (no, l) = next("the number of displacements")?;
    let ndisp: usize = l.parse().map_err(|_| {
        perr(
            file,
            src,
            no,
            "expected the number of displacements (type-1 FORCE_SETS)",
        )
    })?;
    // Capacities bounded by what the text can hold (a header claiming 10^12 atoms or
    // displacements fails at the first missing line, not on allocation).
    let lines_here = text.len() / 6 + 1;
    let mut sets = Vec::with_capacity(ndisp.min(lines_here));
    for d in 0..ndisp {
        let (no, l) = next(&format!("displacement {}", d + 1))?;
        let atom: usize = l
            .parse()
            .map_err(|_| perr(file, src, no, "expected the displaced atom's number"))?;
        if atom == 0 || atom > natom {
            return Err(perr(
                file,
                src,
                no,
                format!("displaced atom {atom} is not among the {natom} atoms"),
            ));
        }
        let (no, l) = next("the displacement vector")?;
        let v = numbers(l, file, src, no, 3, "the displacement (three numbers)")?;
        let mut forces = Vec::with_capacity(natom.min(lines_here));
        for _ in 0..natom {
            let (no, l) = next(&format!("the forces of displacement {}", d + 1))?;
            let f = numbers(l, file, src, no, 3, "a force (three numbers)")?;
            forces.push([f[0], f[1], f[2]]);
        }
        sets.push(ForceSet {
            atom: atom - 1,
            displacement: [v[0], v[1], v[2]],
            forces,
        });
    }
    if let Some((no, _)) = lines.next() {
        return Err(perr(
            file,
            src,
            no,
            format!("more lines than the {ndisp} displacements announced"),
        ));
    }
    Ok((natom, sets))
}

/// BORN: a header line, then ε (9 numbers), then 9 numbers per independent atom.
pub(crate) fn parse_born(text: &str, file: &str, src: &Path) -> Result<Born> {
    let lines: Vec<(usize, &str)> = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty())
        .collect();
    let header = lines.first().map(|l| l.1.to_string()).unwrap_or_default();
    if lines.len() < 3 {
        return Err(perr(
            file,
            src,
            0,
            "expected a header, the dielectric tensor and at least one Born charge",
        ));
    }
    let m3 = |(no, l): (usize, &str), what: &str| -> Result<[[f64; 3]; 3]> {
        let v = numbers(l, file, src, no, 9, what)?;
        Ok([[v[0], v[1], v[2]], [v[3], v[4], v[5]], [v[6], v[7], v[8]]])
    };
    let epsilon = m3(lines[1], "the dielectric tensor (9 numbers)")?;
    let charges = lines[2..]
        .iter()
        .map(|&l| m3(l, "a Born effective charge tensor (9 numbers)"))
        .collect::<Result<_>>()?;
    Ok(Born {
        epsilon,
        charges,
        header,
    })
}

/// Read a PhononDB entry (archive or folder) and check that its parts agree.
pub fn read_entry(path: &Path) -> Result<PhononDbEntry> {
    let files = files(path)?;
    let need = |name: &str| {
        files.get(name).ok_or_else(|| Error::Parse {
            path: path.join(name),
            line: 0,
            message: format!("missing: a PhononDB entry needs {name}"),
        })
    };
    let unitcell = parse_poscar(need("POSCAR-unitcell")?, "POSCAR-unitcell", path)?;
    let (dim, primitive_axis) = parse_conf(need("phonopy.conf")?, "phonopy.conf", path)?;
    let (natom, force_sets) = parse_force_sets(need("FORCE_SETS")?, "FORCE_SETS", path)?;
    let det = crate::geom::det(&dim);
    if det <= 0 {
        return Err(perr(
            "phonopy.conf",
            path,
            0,
            format!("DIM has determinant {det}: not a supercell"),
        ));
    }
    let want = unitcell.species.len() * det as usize;
    if natom != want {
        return Err(perr(
            "FORCE_SETS",
            path,
            1,
            format!(
                "{natom} atoms, but the unit cell ({} atoms) times DIM (determinant {det}) makes {want}",
                unitcell.species.len()
            ),
        ));
    }
    let born = files
        .get("BORN")
        .map(|t| parse_born(t, "BORN", path))
        .transpose()?;
    let name = path
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .to_string();
    let id = name
        .split(['-', '.'])
        .collect::<Vec<_>>()
        .windows(2)
        .find(|w| w[0] == "mp" || w[0] == "id")
        .map(|w| format!("mp-{}", w[1]))
        .unwrap_or(name);
    Ok(PhononDbEntry {
        id,
        source: path.to_path_buf(),
        unitcell,
        supercell_matrix: dim,
        primitive_axis,
        n_supercell_atoms: natom,
        force_sets,
        born,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conf_reads_fractions_and_dim_forms() {
        let (d, p) = parse_conf(
            "DIM = 2 2 2\nPRIMITIVE_AXIS = 0 1/2 1/2 1/2 0 1/2 1/2 1/2 0\n",
            "phonopy.conf",
            Path::new("x"),
        )
        .unwrap();
        assert_eq!(d, [[2, 0, 0], [0, 2, 0], [0, 0, 2]]);
        assert_eq!(p.unwrap()[0], [0.0, 0.5, 0.5]);
        let e = parse_conf("DIM = 2 2\n", "phonopy.conf", Path::new("x")).unwrap_err();
        assert!(e.to_string().contains("phonopy.conf:1"), "{e}");
        let e = parse_conf("PRIMITIVE_AXIS = auto\n", "phonopy.conf", Path::new("x")).unwrap_err();
        assert!(e.to_string().contains("no DIM"), "{e}");
    }

    #[test]
    fn force_sets_check_counts_and_numbers() {
        let good = "2\n1\n\n1\n 0.01 0 0\n -0.1 0 0\n 0.1 0 0\n";
        let (n, s) = parse_force_sets(good, "FORCE_SETS", Path::new("x")).unwrap();
        assert_eq!(
            (n, s.len(), s[0].atom, s[0].forces[1]),
            (2, 1, 0, [0.1, 0.0, 0.0])
        );
        let e =
            parse_force_sets("2\n1\n\n3\n0.01 0 0\n", "FORCE_SETS", Path::new("x")).unwrap_err();
        assert!(
            e.to_string().contains("FORCE_SETS:4") && e.to_string().contains("displaced atom 3"),
            "{e}"
        );
        let e = parse_force_sets(
            "2\n1\n\n1\n0.01 0 0\n-0.1 0 x\n",
            "FORCE_SETS",
            Path::new("x"),
        )
        .unwrap_err();
        assert!(e.to_string().contains("FORCE_SETS:6"), "{e}");
        let e = parse_force_sets(
            "2\n1\n\n1\n0.01 0 0\n-0.1 0 0\n",
            "FORCE_SETS",
            Path::new("x"),
        )
        .unwrap_err();
        assert!(e.to_string().contains("ends before"), "{e}");
    }
}
