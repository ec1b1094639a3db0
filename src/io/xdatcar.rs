//! VASP XDATCAR (VASP 5 header) and INCAR.
//!
//! Header: comment, scale (one number, three per-axis numbers, or a negative number
//! meaning the cell volume in Å³), three lattice vectors, species names, counts. Then
//! frames, each opened by `Direct configuration=  N` (fractional coordinates) or
//! `Cartesian configuration=  N` (Å, times the scale). A variable-cell run (NPT)
//! repeats the whole header before every frame. Frames are located first, then
//! parsed in parallel.

use std::path::Path;

use ndarray::{Array2, Array3};
use rayon::prelude::*;

use super::frames::FrameRange;
use super::{parse_err, read_text};
use crate::error::Result;
use crate::geom::{det, inverse};
use crate::traj::Trajectory;

/// Parse options.
#[derive(Debug, Clone, Copy, Default)]
pub struct XdatcarOptions {
    /// Drop an incomplete last frame (with a note) instead of failing.
    pub allow_truncated: bool,
    /// The frames to parse.
    pub frames: FrameRange,
}

struct Header {
    cell: [[f64; 3]; 3],
    species: Vec<String>,
    counts: Vec<usize>,
}

fn numbers(path: &Path, line_no: usize, line: &str, what: &str) -> Result<Vec<f64>> {
    line.split_ascii_whitespace()
        .map(|t| match t.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(v),
            Ok(_) => Err(parse_err(
                path,
                line_no,
                format!("{what}: {t:?} is not a finite number"),
            )),
            Err(_) => Err(parse_err(
                path,
                line_no,
                format!("{what}: expected numbers, found {t:?}"),
            )),
        })
        .collect()
}

/// Parse the 7 header lines starting at `at` (0-based line index).
fn header(path: &Path, lines: &[&str], at: usize) -> Result<Header> {
    let line = |k: usize| {
        lines
            .get(at + k)
            .copied()
            .ok_or_else(|| parse_err(path, at + k + 1, "the header is cut short".into()))
    };
    let scale = numbers(path, at + 2, line(1)?, "scale line")?;
    let mut cell = [[0.0; 3]; 3];
    for (r, row) in cell.iter_mut().enumerate() {
        let v = numbers(path, at + 3 + r, line(2 + r)?, "lattice vector")?;
        if v.len() != 3 {
            return Err(parse_err(
                path,
                at + 3 + r,
                format!("lattice vector: expected 3 numbers, found {}", v.len()),
            ));
        }
        row.copy_from_slice(&v);
    }
    match scale.as_slice() {
        [s] if *s > 0.0 => cell.iter_mut().flatten().for_each(|v| *v *= s),
        [s] if *s < 0.0 => {
            // A negative scale is the target volume.
            let f = (-s / det(&cell).abs()).cbrt();
            cell.iter_mut().flatten().for_each(|v| *v *= f);
        }
        [a, b, c] if *a > 0.0 && *b > 0.0 && *c > 0.0 => {
            for row in cell.iter_mut() {
                row[0] *= a;
                row[1] *= b;
                row[2] *= c;
            }
        }
        _ => {
            return Err(parse_err(
                path,
                at + 2,
                format!(
                    "scale line: expected one non-zero number (negative = volume) or three positive ones, found {:?}",
                    line(1)?.trim()
                ),
            ));
        }
    }
    if det(&cell).abs() < 1e-6 {
        return Err(parse_err(
            path,
            at + 3,
            "lattice vectors: the cell has zero volume".into(),
        ));
    }
    let species: Vec<String> = line(5)?
        .split_ascii_whitespace()
        .map(str::to_string)
        .collect();
    if species.is_empty() || species.iter().any(|s| s.parse::<f64>().is_ok()) {
        return Err(parse_err(
            path,
            at + 6,
            "expected the VASP 5 species line (element symbols, e.g. \"Li P S Cl\")".into(),
        ));
    }
    let counts: Vec<usize> = line(6)?
        .split_ascii_whitespace()
        .map(|t| {
            t.parse::<usize>().map_err(|_| {
                parse_err(
                    path,
                    at + 7,
                    format!("counts: expected whole numbers, found {t:?}"),
                )
            })
        })
        .collect::<Result<_>>()?;
    if counts.len() != species.len() {
        return Err(parse_err(
            path,
            at + 7,
            format!(
                "{} counts for {} species ({})",
                counts.len(),
                species.len(),
                species.join(" ")
            ),
        ));
    }
    if counts.iter().sum::<usize>() == 0 {
        return Err(parse_err(path, at + 7, "counts: no atoms".into()));
    }
    Ok(Header {
        cell,
        species,
        counts,
    })
}

fn is_marker(line: &str) -> Option<bool> {
    let first = line.split_ascii_whitespace().next()?.to_ascii_lowercase();
    if first.starts_with("direct") {
        Some(false)
    } else if first.starts_with("cartesian") {
        Some(true)
    } else {
        None
    }
}

/// Read an XDATCAR (gzip-transparent). The time step is not in the file: the caller
/// sets it from an INCAR ([`incar_timestep`]) or from the command line.
pub fn read(path: &Path, opts: XdatcarOptions) -> Result<Trajectory> {
    let text = read_text(path)?;
    let lines: Vec<&str> = text.lines().collect();
    let first = header(path, &lines, 0)?;
    let n: usize = first.counts.iter().sum();
    let species: Vec<String> = first
        .species
        .iter()
        .zip(&first.counts)
        .flat_map(|(s, &c)| std::iter::repeat_n(s.clone(), c))
        .collect();
    if lines.get(7).and_then(|l| is_marker(l)).is_none() {
        return Err(parse_err(
            path,
            8,
            "expected \"Direct configuration=\" or \"Cartesian configuration=\"".into(),
        ));
    }
    // Frame starts: fixed cell -> marker every n + 1 lines; variable cell -> a header
    // of 7 lines, then the marker, every n + 8 lines.
    let variable = lines
        .get(8 + n)
        .is_some_and(|l| is_marker(l).is_none() && !l.trim().is_empty());
    let block = if variable { n + 8 } else { n + 1 };
    let mut markers: Vec<usize> = Vec::new();
    let mut at = 7; // where the next frame's marker line should be
    let mut truncated = None;
    let blank = |l: &&str| l.trim().is_empty();
    loop {
        let block_start = if variable && !markers.is_empty() {
            at - 7
        } else {
            at
        };
        if block_start >= lines.len() || lines[block_start..].iter().all(blank) {
            break;
        }
        if at >= lines.len() {
            truncated = Some((markers.len() + 1, lines.len(), 0));
            break;
        }
        if is_marker(lines[at]).is_none() {
            return Err(parse_err(
                path,
                at + 1,
                format!(
                    "expected \"Direct configuration=\" for frame {}, found {:?}",
                    markers.len() + 1,
                    lines[at].trim()
                ),
            ));
        }
        let have = lines[at + 1..]
            .iter()
            .take(n)
            .take_while(|l| !blank(l))
            .count();
        if have < n {
            truncated = Some((markers.len() + 1, at + 1 + have, have));
            break;
        }
        markers.push(at);
        at += block;
    }
    let mut notes = Vec::new();
    if let Some((frame, at, have)) = truncated {
        super::frames::truncated(
            path,
            at,
            frame,
            "coordinate lines",
            n,
            have,
            opts.allow_truncated,
            &mut notes,
        )?;
    }
    if markers.is_empty() {
        return Err(parse_err(path, 8, "no complete frame".into()));
    }
    let markers = if opts.frames.is_all() {
        markers
    } else {
        let kept = opts.frames.pick(path, &markers)?;
        notes.push(opts.frames.note(markers.len(), kept.len()));
        kept
    };
    let t = markers.len();
    // Parse frames in parallel.
    let frames: Vec<Result<(Array2<f32>, [[f64; 3]; 3])>> = markers
        .par_iter()
        .map(|&m| {
            let cell = if variable && m != 7 {
                let h = header(path, &lines, m - 7)?;
                if h.species != first.species || h.counts != first.counts {
                    return Err(parse_err(
                        path,
                        m - 1,
                        "species or counts change between frames".into(),
                    ));
                }
                h.cell
            } else {
                first.cell
            };
            let cartesian = is_marker(lines[m]).unwrap_or(false);
            let inv = inverse(&cell);
            let mut out = Array2::<f32>::zeros((n, 3));
            for (i, line) in lines[m + 1..m + 1 + n].iter().enumerate() {
                let mut it = line.split_ascii_whitespace();
                let mut v = [0.0f64; 3];
                for (c, slot) in v.iter_mut().enumerate() {
                    let tok = it.next().ok_or_else(|| {
                        parse_err(
                            path,
                            m + 2 + i,
                            format!("expected 3 coordinates, found {c}"),
                        )
                    })?;
                    *slot = match tok.parse::<f64>() {
                        Ok(x) if x.is_finite() => x,
                        Ok(_) => {
                            return Err(parse_err(
                                path,
                                m + 2 + i,
                                format!("coordinate {tok:?} is not a finite number"),
                            ));
                        }
                        Err(_) => {
                            return Err(parse_err(
                                path,
                                m + 2 + i,
                                format!("expected a number, found {tok:?}"),
                            ));
                        }
                    };
                }
                if cartesian {
                    // Cartesian coordinates (already in Å, as VASP writes them) -> fractional.
                    let s: [f64; 3] =
                        std::array::from_fn(|j| (0..3).map(|k| v[k] * inv[k][j]).sum());
                    v = s;
                }
                for c in 0..3 {
                    out[[i, c]] = v[c] as f32;
                }
            }
            Ok((out, cell))
        })
        .collect();
    // The text is no longer needed: freed before the frames are stacked.
    drop(lines);
    drop(text);
    let mut frac = Array3::<f32>::zeros((t, n, 3));
    let mut cells = Array3::<f32>::zeros((if variable { t } else { 1 }, 3, 3));
    for (f, r) in frames.into_iter().enumerate() {
        let (pos, cell) = r?;
        frac.index_axis_mut(ndarray::Axis(0), f).assign(&pos);
        if variable || f == 0 {
            for i in 0..3 {
                for j in 0..3 {
                    cells[[if variable { f } else { 0 }, i, j]] = cell[i][j] as f32;
                }
            }
        }
    }
    Ok(Trajectory {
        source: path.to_path_buf(),
        species,
        frac,
        cells,
        dt_ps: None,
        velocities: None,
        notes,
    })
}

/// POTIM (fs) and NBLOCK from an INCAR: the time between XDATCAR frames is
/// POTIM × NBLOCK. Both must be present (IonDiff reads them the same way).
pub fn incar_timestep(path: &Path) -> Result<(f64, usize)> {
    match incar_tags(path)? {
        (Some(p), Some(b)) => Ok((p, b)),
        (None, _) => Err(parse_err(
            path,
            0,
            "POTIM is missing (give option timestep_fs instead)".into(),
        )),
        (_, None) => Err(parse_err(
            path,
            0,
            "NBLOCK is missing (give option stride instead)".into(),
        )),
    }
}

/// The INCAR's NBLOCK (MD steps between XDATCAR frames).
pub fn incar_nblock(path: &Path) -> Result<usize> {
    incar_tags(path)?.1.ok_or_else(|| {
        parse_err(
            path,
            0,
            "NBLOCK is missing (give option stride instead)".into(),
        )
    })
}

/// POTIM and NBLOCK of an INCAR, where set.
fn incar_tags(path: &Path) -> Result<(Option<f64>, Option<usize>)> {
    let text = read_text(path)?;
    let mut potim = None;
    let mut nblock = None;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split(['#', '!']).next().unwrap_or("");
        for stmt in line.split(';') {
            let Some((k, v)) = stmt.split_once('=') else {
                continue;
            };
            let value = v.split_ascii_whitespace().next().unwrap_or("");
            match k.trim().to_ascii_uppercase().as_str() {
                "POTIM" => {
                    potim = Some(value.parse::<f64>().ok().filter(|p| *p > 0.0).ok_or_else(
                        || {
                            parse_err(
                                path,
                                i + 1,
                                format!(
                                    "POTIM: expected a positive time step in fs, found {value:?}"
                                ),
                            )
                        },
                    )?)
                }
                "NBLOCK" => {
                    nblock = Some(value.parse::<usize>().ok().filter(|n| *n > 0).ok_or_else(
                        || {
                            parse_err(
                                path,
                                i + 1,
                                format!(
                                    "NBLOCK: expected a positive whole number, found {value:?}"
                                ),
                            )
                        },
                    )?)
                }
                _ => {}
            }
        }
    }
    Ok((potim, nblock))
}

/// Whether `text` starts like an XDATCAR (a scale line, then three lattice vectors).
pub fn looks_like(text_head: &str) -> bool {
    let lines: Vec<&str> = text_head.lines().take(8).collect();
    lines.len() >= 8
        && lines[1..5]
            .iter()
            .all(|l| l.split_ascii_whitespace().all(|t| t.parse::<f64>().is_ok()))
        && is_marker(lines[7]).is_some()
}
