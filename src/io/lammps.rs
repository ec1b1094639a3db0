//! LAMMPS text dumps (`dump custom`/`dump atom`): per frame `ITEM: TIMESTEP`,
//! `ITEM: NUMBER OF ATOMS`, `ITEM: BOX BOUNDS` (orthogonal, or triclinic with the tilt
//! factors xy xz yz), and `ITEM: ATOMS` with named columns. Positions may be wrapped
//! (`x y z`), scaled (`xs ys zs`), unwrapped (`xu yu zu`) or scaled unwrapped
//! (`xsu ysu zsu`); image flags (`ix iy iz`) are added to wrapped ones. Atoms are
//! sorted by `id`. Species come from an `element` column or a type map (`1=Li,2=P`).
//! Velocities `vx vy vz` are read in metal units (Å/ps). The time between frames is
//! the TIMESTEP difference times the MD time step the caller gives.

use std::collections::HashMap;
use std::path::Path;

use ndarray::Array2;
use rayon::prelude::*;

use super::frames::{Frame, FrameRange, assemble, truncated};
use super::{parse_err, read_text};
use crate::error::{Error, Result};
use crate::geom::inverse;
use crate::traj::Trajectory;

/// Parse a type map such as "1=Li,2=P,3=S".
pub fn parse_type_map(text: &str) -> Result<HashMap<String, String>> {
    text.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|p| match p.split_once('=') {
            Some((t, el)) if !t.trim().is_empty() && !el.trim().is_empty() => {
                Ok((t.trim().to_string(), el.trim().to_string()))
            }
            _ => Err(Error::InvalidInput(format!(
                "option type_map: expected TYPE=ELEMENT pairs like 1=Li,2=P, found {p:?}"
            ))),
        })
        .collect()
}

/// Read a LAMMPS dump. Returns the trajectory and the TIMESTEP of every frame.
pub fn read(
    path: &Path,
    type_map: &HashMap<String, String>,
    allow_truncated: bool,
    frames: FrameRange,
) -> Result<(Trajectory, Vec<i64>)> {
    let text = read_text(path)?;
    let lines: Vec<&str> = text.lines().collect();
    let expect = |at: usize, item: &str| -> Result<()> {
        match lines.get(at) {
            Some(l) if l.trim_start().starts_with(item) => Ok(()),
            Some(l) => Err(parse_err(
                path,
                at + 1,
                format!("expected \"{item}\", found {:?}", l.trim()),
            )),
            None => Err(parse_err(
                path,
                at + 1,
                format!("expected \"{item}\", found the end of the file"),
            )),
        }
    };
    // Locate frames: 9 header lines, then n atom lines.
    let mut starts = Vec::new();
    let mut n_atoms = None;
    let mut at = 0;
    let mut notes = Vec::new();
    while at < lines.len() && !lines[at..].iter().all(|l| l.trim().is_empty()) {
        expect(at, "ITEM: TIMESTEP")?;
        expect(at + 2, "ITEM: NUMBER OF ATOMS")?;
        let n: usize = lines
            .get(at + 3)
            .and_then(|l| l.trim().parse().ok())
            .ok_or_else(|| parse_err(path, at + 4, "expected the number of atoms".into()))?;
        if n_atoms.is_some_and(|m| m != n) {
            return Err(parse_err(
                path,
                at + 4,
                format!(
                    "frame {} has {n} atoms, the first had {}",
                    starts.len() + 1,
                    n_atoms.unwrap_or(0)
                ),
            ));
        }
        n_atoms = Some(n);
        expect(at + 4, "ITEM: BOX BOUNDS")?;
        expect(at + 8, "ITEM: ATOMS")?;
        if at + 9 + n > lines.len() {
            let have = lines.len().saturating_sub(at + 9);
            truncated(
                path,
                lines.len(),
                starts.len() + 1,
                "atom lines",
                n,
                have,
                allow_truncated,
                &mut notes,
            )?;
            break;
        }
        starts.push(at);
        at += 9 + n;
    }
    let n = n_atoms.ok_or_else(|| parse_err(path, 1, "no frames".into()))?;
    if !frames.is_all() {
        let kept = frames.pick(path, &starts)?;
        notes.push(frames.note(starts.len(), kept.len()));
        starts = kept;
    }
    let frames: Vec<Result<(i64, Frame<String>)>> = starts
        .par_iter()
        .map(|&s| frame(path, &lines, s, n, type_map))
        .collect();
    let mut parsed = Vec::with_capacity(frames.len());
    let mut steps = Vec::with_capacity(frames.len());
    for r in frames {
        let (step, f) = r?;
        steps.push(step);
        parsed.push(f);
    }
    Ok((assemble(path, parsed, &starts, notes)?, steps))
}

fn frame(
    path: &Path,
    lines: &[&str],
    s: usize,
    n: usize,
    type_map: &HashMap<String, String>,
) -> Result<(i64, Frame<String>)> {
    let timestep: i64 = lines[s + 1].trim().parse().map_err(|_| {
        parse_err(
            path,
            s + 2,
            format!("expected the timestep, found {:?}", lines[s + 1].trim()),
        )
    })?;
    // Box: "ITEM: BOX BOUNDS [xy xz yz] pp pp pp", then lo hi [tilt] per axis.
    let triclinic = lines[s + 4].contains("xy");
    let mut b = [[0.0f64; 3]; 3];
    for (k, row) in b.iter_mut().enumerate() {
        let v: Vec<f64> = lines[s + 5 + k]
            .split_ascii_whitespace()
            .map(|t| t.parse::<f64>())
            .collect::<std::result::Result<_, _>>()
            .map_err(|_| parse_err(path, s + 6 + k, "box bounds: expected numbers".into()))?;
        let want = if triclinic { 3 } else { 2 };
        if v.len() < want || v.iter().any(|x| !x.is_finite()) {
            return Err(parse_err(
                path,
                s + 6 + k,
                format!("box bounds: expected {want} finite numbers"),
            ));
        }
        row[..v.len().min(3)].copy_from_slice(&v[..v.len().min(3)]);
    }
    let (xy, xz, yz) = if triclinic {
        (b[0][2], b[1][2], b[2][2])
    } else {
        (0.0, 0.0, 0.0)
    };
    // LAMMPS writes the bounding box of a tilted cell; undo that to get lo/hi.
    let xlo = b[0][0]
        - [0.0, xy, xz, xy + xz]
            .into_iter()
            .fold(f64::INFINITY, f64::min);
    let xhi = b[0][1]
        - [0.0, xy, xz, xy + xz]
            .into_iter()
            .fold(f64::NEG_INFINITY, f64::max);
    let ylo = b[1][0] - 0f64.min(yz);
    let yhi = b[1][1] - 0f64.max(yz);
    let (zlo, zhi) = (b[2][0], b[2][1]);
    let cell = [
        [xhi - xlo, 0.0, 0.0],
        [xy, yhi - ylo, 0.0],
        [xz, yz, zhi - zlo],
    ];
    if cell[0][0] <= 0.0 || cell[1][1] <= 0.0 || cell[2][2] <= 0.0 {
        return Err(parse_err(
            path,
            s + 6,
            "box bounds: the box has no volume".into(),
        ));
    }
    let inv = inverse(&cell);
    let origin = [xlo, ylo, zlo];
    let names: Vec<&str> = lines[s + 8].split_ascii_whitespace().skip(2).collect();
    let col = |name: &str| names.iter().position(|c| *c == name);
    let id = col("id").ok_or_else(|| parse_err(path, s + 9, "ATOMS: no id column".into()))?;
    let (pos, scaled, unwrapped) = if let Some(c) = col("xu") {
        (c, false, true)
    } else if let Some(c) = col("xsu") {
        (c, true, true)
    } else if let Some(c) = col("x") {
        (c, false, false)
    } else if let Some(c) = col("xs") {
        (c, true, false)
    } else {
        return Err(parse_err(
            path,
            s + 9,
            "ATOMS: no position columns (x/xs/xu/xsu)".into(),
        ));
    };
    let images = col("ix")
        .zip(col("iy"))
        .zip(col("iz"))
        .filter(|_| !unwrapped);
    let vx = col("vx");
    let element = col("element");
    let ty = col("type");
    if element.is_none() && ty.is_none() {
        return Err(parse_err(
            path,
            s + 9,
            "ATOMS: neither an element nor a type column".into(),
        ));
    }
    let mut rows: Vec<(i64, String, [f64; 3], Option<[f64; 3]>)> = Vec::with_capacity(n);
    for i in 0..n {
        let line_no = s + 10 + i;
        let toks: Vec<&str> = lines[line_no - 1].split_ascii_whitespace().collect();
        if toks.len() < names.len() {
            return Err(parse_err(
                path,
                line_no,
                format!("expected {} columns, found {}", names.len(), toks.len()),
            ));
        }
        let num = |c: usize| -> Result<f64> {
            match toks[c].parse::<f64>() {
                Ok(x) if x.is_finite() => Ok(x),
                _ => Err(parse_err(
                    path,
                    line_no,
                    format!(
                        "column {} ({}): expected a finite number, found {:?}",
                        c + 1,
                        names[c],
                        toks[c]
                    ),
                )),
            }
        };
        let atom_id = toks[id].parse::<i64>().map_err(|_| {
            parse_err(
                path,
                line_no,
                format!("id: expected an integer, found {:?}", toks[id]),
            )
        })?;
        let sp = match (element, ty) {
            (Some(e), _) => toks[e].to_string(),
            (None, Some(t)) => type_map.get(toks[t]).cloned().ok_or_else(|| {
                parse_err(
                    path,
                    line_no,
                    format!(
                        "atom type {} has no element: give option type_map {}=Element,...",
                        toks[t], toks[t]
                    ),
                )
            })?,
            _ => unreachable!("checked above"),
        };
        let mut r = [num(pos)?, num(pos + 1)?, num(pos + 2)?];
        let mut s_frac = [0.0; 3];
        if scaled {
            s_frac = r;
        } else {
            for ax in 0..3 {
                r[ax] -= origin[ax];
            }
            for j in 0..3 {
                s_frac[j] = (0..3).map(|k| r[k] * inv[k][j]).sum();
            }
        }
        if let Some(((a, b2), c)) = images {
            s_frac[0] += num(a)?;
            s_frac[1] += num(b2)?;
            s_frac[2] += num(c)?;
        }
        let v = match vx {
            Some(c) => Some([num(c)?, num(c + 1)?, num(c + 2)?]),
            None => None,
        };
        rows.push((atom_id, sp, s_frac, v));
    }
    rows.sort_by_key(|r| r.0);
    if let Some(w) = rows.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(parse_err(
            path,
            s + 10,
            format!(
                "atom id {} appears twice in frame at TIMESTEP {timestep}",
                w[0].0
            ),
        ));
    }
    let mut frac = Array2::<f32>::zeros((n, 3));
    let mut vel = vx.map(|_| Array2::<f32>::zeros((n, 3)));
    let mut species = Vec::with_capacity(n);
    for (i, (_, sp, f, v)) in rows.into_iter().enumerate() {
        species.push(sp);
        for j in 0..3 {
            frac[[i, j]] = f[j] as f32;
        }
        if let (Some(out), Some(v)) = (vel.as_mut(), v) {
            for j in 0..3 {
                out[[i, j]] = v[j] as f32;
            }
        }
    }
    Ok((
        timestep,
        Frame {
            species,
            frac,
            cell,
            vel,
        },
    ))
}
