//! Extended XYZ, as ASE writes it: per frame an atom count, a comment line of
//! key=value pairs with `Lattice="ax ay az bx by bz cx cy cz"` (lattice vectors as
//! rows, Å) and `Properties=species:S:1:pos:R:3[:vel:R:3|:momenta:R:3]...`, then one
//! line per atom. Positions are Cartesian (Å). Velocities: `vel`/`velocities` are read
//! as Å/fs (GPUMD and most MD codes); ASE's `momenta` (amu·Å per ASE time unit,
//! Å·sqrt(amu/eV) ≈ 10.18 fs) are divided by the element's mass. Frames are located
//! first, then parsed in parallel.

use std::path::Path;

use ndarray::Array2;
use rayon::prelude::*;

use super::frames::{Collect, Frame, FrameRange, Handover, truncated};
use super::lines::{ChunkLines, LineStream, overlapped};
use super::parse_err;
use crate::error::Result;
use crate::geom::inverse;
use crate::phonon::composition::atomic_mass;
use crate::traj::Trajectory;
use crate::traj::stream::FrameSink;

/// ASE's unit of time in fs: Å·sqrt(amu/eV).
pub(crate) const ASE_TIME_FS: f64 = 10.180_505_710_774_743;

/// key=value pairs of a comment line (values may be "quoted").
pub(crate) fn key_values(line: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = line.trim();
    while !rest.is_empty() {
        let Some(eq) = rest.find('=') else { break };
        let key = rest[..eq]
            .trim()
            .rsplit(char::is_whitespace)
            .next()
            .unwrap_or("")
            .to_string();
        let after = &rest[eq + 1..];
        let (value, tail) = if let Some(q) = after.strip_prefix('"') {
            match q.find('"') {
                Some(end) => (q[..end].to_string(), &q[end + 1..]),
                None => (q.to_string(), ""),
            }
        } else {
            let end = after.find(char::is_whitespace).unwrap_or(after.len());
            (after[..end].to_string(), &after[end..])
        };
        out.push((key, value));
        rest = tail.trim_start();
    }
    out
}

struct Columns {
    species: usize,
    pos: usize,
    vel: Option<(usize, bool)>, // (column, is_momenta)
    width: usize,
}

/// The most columns an atom line may have (ASE writes tens): a `Properties` count past
/// it (`vel:R:4294967296`) is refused before any buffer of that width exists.
const MAX_COLUMNS: usize = 10_000;

fn columns(path: &Path, line: usize, props: &str) -> Result<Columns> {
    let parts: Vec<&str> = props.split(':').collect();
    if !parts.len().is_multiple_of(3) {
        return Err(parse_err(
            path,
            line,
            format!("Properties={props}: expected name:type:count triples"),
        ));
    }
    let (mut species, mut pos, mut vel) = (None, None, None);
    let mut col: usize = 0;
    for p in parts.chunks(3) {
        let n: usize = p[2].parse().map_err(|_| {
            parse_err(
                path,
                line,
                format!("Properties: {:?} is not a column count", p[2]),
            )
        })?;
        match (p[0].to_ascii_lowercase().as_str(), n) {
            ("species" | "element" | "symbols", 1) => species = Some(col),
            ("pos" | "positions", 3) => pos = Some(col),
            ("vel" | "velo" | "velocities", 3) => vel = Some((col, false)),
            ("momenta", 3) => vel = vel.or(Some((col, true))),
            _ => {}
        }
        col = col.saturating_add(n);
        if col > MAX_COLUMNS {
            return Err(parse_err(
                path,
                line,
                format!(
                    "Properties={props}: {col} or more columns per atom; at most {MAX_COLUMNS} are read"
                ),
            ));
        }
    }
    Ok(Columns {
        species: species
            .ok_or_else(|| parse_err(path, line, "Properties: no species column".into()))?,
        pos: pos.ok_or_else(|| parse_err(path, line, "Properties: no pos column".into()))?,
        vel,
        width: col,
    })
}

/// What the comment lines say about time, when every frame says it: `time=` (fs,
/// the unit ASE-based MD scripts and GPUMD write) and `step=`/`timestep=` (the MD
/// step number).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FrameClock {
    pub time_fs: Option<Vec<f64>>,
    pub step: Option<Vec<i64>>,
}

/// Read an extended XYZ file whole (gzip-transparent), with no time between frames (a
/// set of sites, a structure); trajectories are read through
/// [`crate::io::traj_input::read_trajectory`].
pub fn read(path: &Path, allow_truncated: bool) -> Result<Trajectory> {
    let mut all = Collect::default();
    let end = stream(
        path,
        allow_truncated,
        FrameRange::default(),
        CHUNK_LINES,
        &mut all,
    )?;
    all.into_trajectory(path, end.notes, false)
}

/// Lines kept per chunk before it is parsed (tens of MB of text).
pub(crate) const CHUNK_LINES: usize = 1 << 20;

/// How a streamed extended XYZ ended.
pub struct XyzEnd {
    /// Frames handed over.
    pub frames: usize,
    /// The `time=` and `step=` values of the frames handed over.
    pub clock: FrameClock,
    /// Frames left out, a cut-short last frame.
    pub notes: Vec<String>,
}

/// Read an extended XYZ as `read_with_clock` does, handing the frames to `sink` a
/// chunk of about `chunk_lines` lines at a time (parsed in parallel) instead of
/// keeping them. Frames left out by `range` are located, not parsed.
pub fn stream(
    path: &Path,
    allow_truncated: bool,
    range: FrameRange,
    chunk_lines: usize,
    sink: &mut dyn FrameSink,
) -> Result<XyzEnd> {
    let mut st = Locating {
        src: LineStream::open(path)?,
        n_atoms: None,
        complete: 0,
        starts: Vec::new(),
        notes: Vec::new(),
    };
    let mut out = Handover::default();
    // Kept frames' raw time/step values, for the clock.
    let mut raw: Vec<(Option<String>, Option<String>)> = Vec::new();
    let mut hand_over = |chunk: &ChunkLines,
                         located: &[(usize, usize)],
                         n: usize,
                         raw: &mut Vec<(Option<String>, Option<String>)>,
                         sink: &mut dyn FrameSink|
     -> Result<()> {
        let parsed: Vec<Result<Parsed>> = located
            .par_iter()
            .map(|&(local, first)| {
                let lines: Vec<&str> = (local..local + 2 + n).map(|i| chunk.get(i)).collect();
                frame(path, &lines, first, n)
            })
            .collect();
        let mut frames = Vec::with_capacity(parsed.len());
        for (r, &(_, first)) in parsed.into_iter().zip(located) {
            let (f, time, step) = r?;
            raw.push((time, step));
            frames.push((f, first));
        }
        out.hand_over(path, frames, sink)
    };
    // Locate the next chunk's frames (true: the file is done) on one thread while
    // the last chunk's are parsed (in parallel) and handed to the sink on this one.
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
            let start = first_blank.unwrap_or(st.src.next);
            let Some(count) = (if first_blank.is_some() {
                Some("")
            } else {
                st.src.peek()?
            }) else {
                return Ok(true);
            };
            let n: usize = count.trim().parse().map_err(|_| {
                parse_err(
                    path,
                    start + 1,
                    format!(
                        "expected the number of atoms of frame {}, found {:?}",
                        st.complete + 1,
                        count.trim()
                    ),
                )
            })?;
            if let Some(first) = st.n_atoms.filter(|&m| m != n) {
                return Err(parse_err(
                    path,
                    start + 1,
                    format!(
                        "frame {} has {n} atoms, the first had {first}",
                        st.complete + 1
                    ),
                ));
            }
            st.n_atoms = Some(n);
            let keep = range.contains(st.complete);
            let local = chunk.len();
            st.src.take(keep.then_some(&mut *chunk))?;
            let mut have = 0;
            let comment = st.src.take(keep.then_some(&mut *chunk))?.is_some();
            while comment && have < n && st.src.take(keep.then_some(&mut *chunk))?.is_some() {
                have += 1;
            }
            if have < n {
                chunk.truncate(local);
                truncated(
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
                st.starts.push(start);
            }
            st.complete += 1;
        }
    };
    overlapped(
        &mut st,
        |st| st.n_atoms.unwrap_or(0),
        fill,
        |chunk, located, n| hand_over(chunk, located, n, &mut raw, sink),
    )?;
    if st.n_atoms.is_none() {
        return Err(parse_err(path, 1, "no frames".into()));
    }
    let Locating {
        complete,
        starts,
        mut notes,
        ..
    } = st;
    let all: Vec<usize> = (0..complete).collect();
    range.pick(path, &all)?;
    if !range.is_all() {
        notes.push(range.note(complete, starts.len()));
    }
    Ok(XyzEnd {
        frames: starts.len(),
        clock: clock(path, &starts, raw)?,
        notes,
    })
}

/// The locating side of a streamed extended XYZ: the lines, the atom count of the
/// first frame, the frames located so far, where the kept ones start, what was noted.
struct Locating<'a> {
    src: LineStream<'a>,
    n_atoms: Option<usize>,
    complete: usize,
    starts: Vec<usize>,
    notes: Vec<String>,
}

/// One parsed frame (species borrowed from the text) with its comment line's raw
/// `time=` and `step=` values.
type Parsed<'a> = (Frame<&'a str>, Option<String>, Option<String>);

/// One frame from its own lines (`lines[0]` is its atom count, at line `first` of the
/// file, counted from 0, for messages).
fn frame<'a>(path: &Path, lines: &[&'a str], first: usize, n: usize) -> Result<Parsed<'a>> {
    let kv = key_values(lines[1]);
    let raw = |keys: &[&str]| {
        kv.iter()
            .find(|(k, _)| keys.iter().any(|w| k.eq_ignore_ascii_case(w)))
            .map(|(_, v)| v.clone())
    };
    let (time, step) = (raw(&["time"]), raw(&["step", "timestep"]));
    let get = |k: &str| {
        kv.iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.as_str())
    };
    let lat = get("Lattice").ok_or_else(|| {
        parse_err(
            path,
            first + 2,
            "no Lattice=\"...\": a periodic cell is needed".into(),
        )
    })?;
    let v: Vec<f64> = lat
        .split_ascii_whitespace()
        .map(|t| t.parse::<f64>())
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| {
            parse_err(
                path,
                first + 2,
                format!("Lattice: expected 9 numbers, found {lat:?}"),
            )
        })?;
    if v.len() != 9 || v.iter().any(|x| !x.is_finite()) {
        return Err(parse_err(
            path,
            first + 2,
            format!("Lattice: expected 9 finite numbers, found {lat:?}"),
        ));
    }
    let cell = [[v[0], v[1], v[2]], [v[3], v[4], v[5]], [v[6], v[7], v[8]]];
    let inv = inverse(&cell);
    if !inv.iter().flatten().all(|x| x.is_finite()) {
        return Err(parse_err(
            path,
            first + 2,
            "Lattice: the cell has zero volume".into(),
        ));
    }
    let cols = columns(
        path,
        first + 2,
        get("Properties").unwrap_or("species:S:1:pos:R:3"),
    )?;
    let mut species: Vec<&'a str> = Vec::with_capacity(n);
    let mut frac = Array2::<f32>::zeros((n, 3));
    let mut vel = cols.vel.map(|_| Array2::<f32>::zeros((n, 3)));
    // One token buffer per frame; species names stay borrowed from the text.
    let mut toks: Vec<&'a str> = Vec::with_capacity(cols.width + 4);
    for i in 0..n {
        let line_no = first + 3 + i;
        toks.clear();
        super::tokens(lines[2 + i], &mut toks);
        if toks.len() < cols.width {
            return Err(parse_err(
                path,
                line_no,
                format!("expected {} columns, found {}", cols.width, toks.len()),
            ));
        }
        species.push(toks[cols.species]);
        let num = |c: usize| -> Result<f64> {
            match super::parse_f64(toks[c]) {
                Some(x) if x.is_finite() => Ok(x),
                _ => Err(parse_err(
                    path,
                    line_no,
                    format!(
                        "column {}: expected a finite number, found {:?}",
                        c + 1,
                        toks[c]
                    ),
                )),
            }
        };
        let r = [num(cols.pos)?, num(cols.pos + 1)?, num(cols.pos + 2)?];
        for j in 0..3 {
            frac[[i, j]] = (0..3).map(|k| r[k] * inv[k][j]).sum::<f64>() as f32;
        }
        if let (Some(v), Some((c, momenta))) = (vel.as_mut(), cols.vel) {
            let scale = if momenta {
                let m = atomic_mass(species[i]).ok_or_else(|| {
                    parse_err(
                        path,
                        line_no,
                        format!("momenta given but no mass known for {:?}", species[i]),
                    )
                })?;
                1000.0 / (m * ASE_TIME_FS) // amu·Å/t_ASE -> Å/ps
            } else {
                1000.0 // Å/fs -> Å/ps
            };
            for j in 0..3 {
                v[[i, j]] = (num(c + j)? * scale) as f32;
            }
        }
    }
    Ok((
        Frame {
            species,
            frac,
            cell,
            vel,
        },
        time,
        step,
    ))
}

/// The `time=` and `step=` values of every frame (None where a frame lacks one), from
/// each frame's raw values; `starts[f]` is where frame f starts, for messages.
fn clock(
    path: &Path,
    starts: &[usize],
    raw: Vec<(Option<String>, Option<String>)>,
) -> Result<FrameClock> {
    let mut time = Some(Vec::with_capacity(starts.len()));
    let mut step = Some(Vec::with_capacity(starts.len()));
    for (&s, (t_raw, s_raw)) in starts.iter().zip(raw) {
        match (time.as_mut(), t_raw) {
            (Some(t), Some(v)) => match v.parse::<f64>() {
                Ok(x) if x.is_finite() => t.push(x),
                _ => {
                    return Err(parse_err(
                        path,
                        s + 2,
                        format!("time: expected a number (fs), found {v:?}"),
                    ));
                }
            },
            (_, None) => time = None,
            _ => {}
        }
        match (step.as_mut(), s_raw) {
            (Some(t), Some(v)) => match v.parse::<i64>() {
                Ok(x) => t.push(x),
                _ => {
                    return Err(parse_err(
                        path,
                        s + 2,
                        format!("step: expected a whole number, found {v:?}"),
                    ));
                }
            },
            (_, None) => step = None,
            _ => {}
        }
    }
    Ok(FrameClock {
        time_fs: time,
        step,
    })
}

/// Write `traj` as extended XYZ, the form ASE, OVITO and most MLIP tools read:
/// `Lattice` (rows, Å), `Properties=species:S:1:pos:R:3` (+ `vel:R:3` in Å/fs when the
/// trajectory has velocities), `time=` in fs when the time between frames is known
/// (this reader takes it back), `pbc="T T T"`. Positions are Cartesian (Å) as the
/// file had them, wrapped or not. Written piece by piece, atomically.
pub fn write(traj: &Trajectory, path: &Path) -> Result<()> {
    let (t, n) = (traj.n_frames(), traj.n_atoms());
    let props = if traj.velocities.is_some() {
        "species:S:1:pos:R:3:vel:R:3"
    } else {
        "species:S:1:pos:R:3"
    };
    super::write_atomic_with(path, |w| {
        for f in 0..t {
            let c = traj.cells.index_axis(
                ndarray::Axis(0),
                if traj.cells.shape()[0] == 1 { 0 } else { f },
            );
            let lattice: Vec<String> = c.iter().map(|v| v.to_string()).collect();
            write!(
                w,
                "{n}\nLattice=\"{}\" Properties={props}",
                lattice.join(" ")
            )?;
            if let Some(dt) = traj.dt_ps {
                write!(w, " time={}", f as f64 * dt * 1000.0)?;
            }
            writeln!(w, " pbc=\"T T T\"")?;
            for i in 0..n {
                let fr = [
                    traj.frac[[f, i, 0]] as f64,
                    traj.frac[[f, i, 1]] as f64,
                    traj.frac[[f, i, 2]] as f64,
                ];
                let r: [f64; 3] =
                    std::array::from_fn(|j| (0..3).map(|k| fr[k] * c[[k, j]] as f64).sum());
                write!(w, "{} {:.8} {:.8} {:.8}", traj.species[i], r[0], r[1], r[2])?;
                if let Some(v) = &traj.velocities {
                    write!(
                        w,
                        " {:.10} {:.10} {:.10}",
                        v[[f, i, 0]] as f64 / 1000.0,
                        v[[f, i, 1]] as f64 / 1000.0,
                        v[[f, i, 2]] as f64 / 1000.0
                    )?;
                }
                writeln!(w)?;
            }
        }
        Ok(())
    })
}

/// Extended XYZ in the trajectory reader registry.
pub struct Reader;

impl crate::io::reader::TrajReader for Reader {
    fn name(&self) -> &'static str {
        "xyz"
    }
    fn aliases(&self) -> &'static [&'static str] {
        &["extxyz"]
    }
    fn about(&self) -> &'static str {
        "Extended XYZ as ASE writes it"
    }
    fn by_name(&self, name: &str) -> bool {
        name.ends_with(".XYZ") || name.ends_with(".EXTXYZ")
    }
    fn sniff(&self, head: &[u8]) -> bool {
        let head = String::from_utf8_lossy(head);
        let mut it = head.lines();
        it.next().is_some_and(|l| l.trim().parse::<usize>().is_ok())
            && it.next().is_some_and(|l| l.contains("Lattice="))
    }
    fn stream(
        &self,
        path: &Path,
        opts: &crate::io::reader::TrajReadOptions,
        _species: Option<&[String]>,
        sink: &mut dyn crate::traj::stream::FrameSink,
    ) -> Result<crate::io::reader::ReadEnd> {
        let end = stream(path, opts.allow_truncated, opts.frames, CHUNK_LINES, sink)?;
        Ok(crate::io::reader::ReadEnd {
            frames: end.frames,
            steps: end.clock.step.map(|s| (s, "step= values")),
            time_fs: end.clock.time_fs,
            notes: end.notes,
            ..Default::default()
        })
    }
}
