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

use super::frames::{Frame, FrameRange, Handover};
use super::lines::{ChunkLines, LineStream, overlapped};
use super::parse_err;
use crate::error::{Error, Result};
use crate::geom::inverse;
use crate::traj::stream::FrameSink;

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

/// Lines kept per chunk before it is parsed (tens of MB of text).
pub(crate) const CHUNK_LINES: usize = 1 << 20;

/// The locating side of a streamed dump: the lines, the atom count of the first
/// frame, the frames located so far and what was noted.
struct Locating<'a> {
    src: LineStream<'a>,
    n_atoms: Option<usize>,
    complete: usize,
    notes: Vec<String>,
}

/// How a streamed dump ended.
pub struct DumpEnd {
    /// TIMESTEP of every frame handed over.
    pub steps: Vec<i64>,
    /// Frames left out, a cut-short last frame.
    pub notes: Vec<String>,
}

/// Read a LAMMPS dump as `read` does, handing the frames to `sink` a chunk of about
/// `chunk_lines` lines at a time (parsed in parallel) instead of keeping them: only
/// the chunk's text is held. Frames left out by `range` are located, not parsed.
pub fn stream(
    path: &Path,
    type_map: &HashMap<String, String>,
    allow_truncated: bool,
    range: FrameRange,
    chunk_lines: usize,
    sink: &mut dyn FrameSink,
) -> Result<DumpEnd> {
    let mut st = Locating {
        src: LineStream::open(path)?,
        n_atoms: None,
        complete: 0,
        notes: Vec::new(),
    };
    // Locate the next chunk's frames on one thread while the last chunk's are parsed
    // (in parallel) and handed to the sink on this one.
    let fill = |st: &mut Locating,
                chunk: &mut ChunkLines,
                located: &mut Vec<(usize, usize)>|
     -> Result<bool> {
        loop {
            if chunk.full(chunk_lines) {
                return Ok(false);
            }
            let (at_end, first_blank) = st.src.skip_blank()?;
            if at_end {
                return Ok(true);
            }
            if let Some(i) = first_blank {
                return Err(parse_err(
                    path,
                    i + 1,
                    "expected \"ITEM: TIMESTEP\", found \"\"".into(),
                ));
            }
            let keep = range.contains(st.complete);
            let local = chunk.len();
            let start = st.src.next;
            // The 9 header lines, checked as they come.
            let mut n = 0usize;
            for k in 0..9 {
                let line_no = st.src.next + 1;
                let item = match k {
                    0 => Some("ITEM: TIMESTEP"),
                    2 => Some("ITEM: NUMBER OF ATOMS"),
                    4 => Some("ITEM: BOX BOUNDS"),
                    8 => Some("ITEM: ATOMS"),
                    _ => None,
                };
                let Some(line) = st.src.peek()? else {
                    // Reported at the next line that had to say something.
                    let (at, what) = match k {
                        0 => (0, "expected \"ITEM: TIMESTEP\", found the end of the file"),
                        1 | 2 => (
                            2,
                            "expected \"ITEM: NUMBER OF ATOMS\", found the end of the file",
                        ),
                        3 => (3, "expected the number of atoms"),
                        4 => (
                            4,
                            "expected \"ITEM: BOX BOUNDS\", found the end of the file",
                        ),
                        _ => (8, "expected \"ITEM: ATOMS\", found the end of the file"),
                    };
                    return Err(parse_err(path, start + at + 1, what.into()));
                };
                if let Some(item) = item
                    && !line.trim_start().starts_with(item)
                {
                    return Err(parse_err(
                        path,
                        line_no,
                        format!("expected \"{item}\", found {:?}", line.trim()),
                    ));
                }
                if k == 3 {
                    n = line.trim().parse().map_err(|_| {
                        parse_err(path, line_no, "expected the number of atoms".into())
                    })?;
                    if let Some(m) = st.n_atoms.filter(|&m| m != n) {
                        return Err(parse_err(
                            path,
                            line_no,
                            format!("frame {} has {n} atoms, the first had {m}", st.complete + 1),
                        ));
                    }
                    st.n_atoms = Some(n);
                }
                st.src.take(keep.then_some(&mut *chunk))?;
            }
            let mut have = 0;
            while have < n && st.src.take(keep.then_some(&mut *chunk))?.is_some() {
                have += 1;
            }
            if have < n {
                chunk.truncate(local);
                super::frames::truncated(
                    path,
                    st.src.next,
                    st.complete + 1,
                    "atom lines",
                    n,
                    have,
                    allow_truncated,
                    &mut st.notes,
                )?;
                return Ok(true);
            }
            if keep {
                located.push((local, start));
            }
            st.complete += 1;
        }
    };
    let mut out = Handover::default();
    let mut steps: Vec<i64> = Vec::new();
    overlapped(
        &mut st,
        |st| st.n_atoms.unwrap_or(0),
        fill,
        |chunk, located, n| {
            hand_over(
                path, chunk, located, n, type_map, &mut out, &mut steps, sink,
            )
        },
    )?;
    let Locating {
        n_atoms,
        complete,
        mut notes,
        ..
    } = st;
    if n_atoms.is_none() {
        return Err(parse_err(path, 1, "no frames".into()));
    }
    let all: Vec<usize> = (0..complete).collect();
    range.pick(path, &all)?;
    if !range.is_all() {
        notes.push(range.note(complete, steps.len()));
    }
    Ok(DumpEnd { steps, notes })
}

/// Parse the located frames of a chunk in parallel and hand them to the sink through
/// `out`; their TIMESTEPs go to `steps`.
#[allow(clippy::too_many_arguments)]
fn hand_over(
    path: &Path,
    chunk: &ChunkLines,
    located: &[(usize, usize)],
    n: usize,
    type_map: &HashMap<String, String>,
    out: &mut Handover,
    steps: &mut Vec<i64>,
    sink: &mut dyn FrameSink,
) -> Result<()> {
    let parsed: Vec<Result<(i64, Frame<&str>)>> = located
        .par_iter()
        .map(|&(local, first)| {
            let lines: Vec<&str> = (local..local + 9 + n).map(|i| chunk.get(i)).collect();
            frame(path, &lines, first, n, type_map)
        })
        .collect();
    let mut frames = Vec::with_capacity(parsed.len());
    for (r, &(_, first)) in parsed.into_iter().zip(located) {
        let (step, f) = r?;
        steps.push(step);
        frames.push((f, first));
    }
    out.hand_over(path, frames, sink)
}

/// One frame from its own lines (`lines[0]` is its `ITEM: TIMESTEP` line, at line
/// `first` of the file, counted from 0, for messages): its TIMESTEP and the frame.
fn frame<'a>(
    path: &Path,
    lines: &[&'a str],
    first: usize,
    n: usize,
    type_map: &'a HashMap<String, String>,
) -> Result<(i64, Frame<&'a str>)> {
    let timestep: i64 = lines[1].trim().parse().map_err(|_| {
        parse_err(
            path,
            first + 2,
            format!("expected the timestep, found {:?}", lines[1].trim()),
        )
    })?;
    // Box: "ITEM: BOX BOUNDS [xy xz yz] pp pp pp", then lo hi [tilt] per axis.
    let triclinic = lines[4].contains("xy");
    let mut b = [[0.0f64; 3]; 3];
    for (k, row) in b.iter_mut().enumerate() {
        let v: Vec<f64> = lines[5 + k]
            .split_ascii_whitespace()
            .map(|t| t.parse::<f64>())
            .collect::<std::result::Result<_, _>>()
            .map_err(|_| parse_err(path, first + 6 + k, "box bounds: expected numbers".into()))?;
        let want = if triclinic { 3 } else { 2 };
        if v.len() < want || v.iter().any(|x| !x.is_finite()) {
            return Err(parse_err(
                path,
                first + 6 + k,
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
            first + 6,
            "box bounds: the box has no volume".into(),
        ));
    }
    let inv = inverse(&cell);
    let origin = [xlo, ylo, zlo];
    let names: Vec<&str> = lines[8].split_ascii_whitespace().skip(2).collect();
    let col = |name: &str| names.iter().position(|c| *c == name);
    let id = col("id").ok_or_else(|| parse_err(path, first + 9, "ATOMS: no id column".into()))?;
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
            first + 9,
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
            first + 9,
            "ATOMS: neither an element nor a type column".into(),
        ));
    }
    // A handful of types: a list beats hashing every atom's type.
    let types: Vec<(&str, &'a str)> = type_map
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let mut rows: Vec<(i64, &'a str, [f64; 3], Option<[f64; 3]>)> = Vec::with_capacity(n);
    // One token buffer per frame; species stay borrowed from the text or the map.
    let mut toks: Vec<&'a str> = Vec::with_capacity(names.len() + 4);
    for i in 0..n {
        let line_no = first + 10 + i;
        toks.clear();
        super::tokens(lines[9 + i], &mut toks);
        if toks.len() < names.len() {
            return Err(parse_err(
                path,
                line_no,
                format!("expected {} columns, found {}", names.len(), toks.len()),
            ));
        }
        let num = |c: usize| -> Result<f64> {
            match super::parse_f64(toks[c]) {
                Some(x) if x.is_finite() => Ok(x),
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
        let sp: &'a str = match (element, ty) {
            (Some(e), _) => toks[e],
            (None, Some(t)) => types
                .iter()
                .find(|(k, _)| *k == toks[t])
                .map(|(_, v)| *v)
                .ok_or_else(|| {
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
            first + 10,
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

/// LAMMPS text dumps in the trajectory reader registry.
pub struct Reader;

impl crate::io::reader::TrajReader for Reader {
    fn name(&self) -> &'static str {
        "lammps"
    }
    fn about(&self) -> &'static str {
        "LAMMPS text dump (atoms named by --type-map)"
    }
    fn by_name(&self, name: &str) -> bool {
        name.ends_with(".DUMP") || name.ends_with(".LAMMPSTRJ") || name.contains("DUMP.")
    }
    fn sniff(&self, head: &[u8]) -> bool {
        String::from_utf8_lossy(head)
            .trim_start()
            .starts_with("ITEM: TIMESTEP")
    }
    fn time_in_frames(&self) -> bool {
        // TIMESTEP gives the stride, never the time step.
        false
    }
    fn time_hint(&self) -> &'static str {
        "; the stride comes from TIMESTEP"
    }
    fn stream(
        &self,
        path: &Path,
        opts: &crate::io::reader::TrajReadOptions,
        _species: Option<&[String]>,
        sink: &mut dyn crate::traj::stream::FrameSink,
    ) -> Result<crate::io::reader::ReadEnd> {
        let end = stream(
            path,
            &opts.type_map,
            opts.allow_truncated,
            opts.frames,
            CHUNK_LINES,
            sink,
        )?;
        Ok(crate::io::reader::ReadEnd {
            frames: end.steps.len(),
            steps: Some((end.steps, "TIMESTEP values")),
            notes: end.notes,
            ..Default::default()
        })
    }
}
