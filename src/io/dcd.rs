//! DCD: the binary trajectory of CHARMM, NAMD and LAMMPS (`dump dcd`).
//!
//! Fortran unformatted records, each framed by its length before and after (4-byte
//! markers, either byte order):
//! 1. 84 bytes: `CORD`, then 20 integers: frames (NSET), the first step (ISTART),
//!    steps between frames (NSAVC), ..., fixed atoms (9th), the MD time step (10th, a
//!    float, in the writer's time unit), whether each frame has a unit cell (11th),
//!    a 4th dimension (12th), the CHARMM version (20th, 0 for X-PLOR files);
//! 2. titles: a count and 80 bytes each;
//! 3. the number of atoms;
//! 4. per frame: the unit cell when flagged (6 doubles: A, cos γ, B, cos β, cos α, C as
//!    LAMMPS and recent CHARMM write them, or the angles in degrees as NAMD does; the
//!    convention is told by the values, as MDAnalysis does), then X, Y and Z (float32,
//!    Å).
//!
//! A DCD names no atoms: the species come from a topology (`super::topology`). The
//! time between frames is NSAVC MD steps; the step's length is not in a unit the file
//! states, so it is given (`--timestep-fs`) and the stride read from NSAVC, as for a
//! LAMMPS text dump. Cartesian positions are made fractional in each frame's cell (a
//! DCD does not store the box's origin: positions are taken from the cell's corner at
//! the origin, which shifts every frame alike and leaves displacements unchanged).

use std::path::Path;

use super::frames::FrameRange;
use super::parse_err;
use super::read_up_to as fill;
use crate::error::{Error, Result};
use crate::geom::inverse;
use crate::traj::Trajectory;
use crate::traj::stream::FrameSink;

/// What the header says.
#[derive(Debug, Clone)]
pub struct DcdHeader {
    pub n_atoms: usize,
    /// Frames the header announces (the file may hold fewer, or more if never updated).
    pub n_frames_header: usize,
    pub first_step: i64,
    /// MD steps between frames (NSAVC).
    pub steps_between_frames: i64,
    /// The MD time step as stored, in the writer's time unit (ps for LAMMPS metal
    /// units, fs for real units, AKMA for CHARMM).
    pub delta: f64,
    pub has_cell: bool,
    pub title: String,
}

/// Whether `head` starts like a DCD (an 84-byte record holding `CORD`).
pub(crate) fn looks_like(head: &[u8]) -> bool {
    head.len() >= 8
        && &head[4..8] == b"CORD"
        && (head[..4] == 84i32.to_le_bytes() || head[..4] == 84i32.to_be_bytes())
}

/// Fortran records of a byte slice (a header part or one frame).
struct Records<'a> {
    path: &'a Path,
    bytes: &'a [u8],
    /// Where the slice starts in the file, for messages.
    base: usize,
    at: usize,
    little: bool,
}

fn int(b: &[u8], little: bool) -> i32 {
    let a: [u8; 4] = b[..4].try_into().unwrap_or_default();
    if little {
        i32::from_le_bytes(a)
    } else {
        i32::from_be_bytes(a)
    }
}

impl<'a> Records<'a> {
    /// The next record's payload; an error when it is cut short or its two length
    /// markers differ.
    fn next(&mut self, what: &str) -> Result<&'a [u8]> {
        let start = self.at;
        let bad = |m: String| {
            Error::InvalidInput(format!(
                "{}: byte {}: {what}: {m}",
                self.path.display(),
                self.base + start
            ))
        };
        let head = self
            .bytes
            .get(start..start + 4)
            .ok_or_else(|| bad("cut short in its length marker".into()))?;
        let len = int(head, self.little);
        if len < 0 {
            return Err(bad(format!("negative record length {len}")));
        }
        let len = len as usize;
        let body = self
            .bytes
            .get(start + 4..start + 4 + len)
            .ok_or_else(|| bad(format!("a {len}-byte record runs past the end of the file")))?;
        let tail = self
            .bytes
            .get(start + 4 + len..start + 8 + len)
            .ok_or_else(|| bad("cut short in its closing length marker".into()))?;
        if int(tail, self.little) as usize != len {
            return Err(bad(format!(
                "record lengths differ ({len} before, {} after): not a DCD written with 4-byte markers?",
                int(tail, self.little)
            )));
        }
        self.at = start + 8 + len;
        Ok(body)
    }
}

/// One record read from the stream whole (a header part), at byte `at`.
fn record(
    path: &Path,
    src: &mut dyn std::io::Read,
    little: bool,
    at: &mut usize,
    what: &str,
) -> Result<Vec<u8>> {
    let mut len = [0u8; 4];
    if fill(path, src, &mut len)? < 4 {
        return Err(Error::InvalidInput(format!(
            "{}: byte {at}: {what}: the file ends before it",
            path.display()
        )));
    }
    let n = int(&len, little).max(0) as usize;
    if n > 1 << 20 {
        return Err(Error::InvalidInput(format!(
            "{}: byte {at}: {what}: a record of {n} bytes is not a DCD header's",
            path.display()
        )));
    }
    let mut buf = vec![0u8; n + 8];
    buf[..4].copy_from_slice(&len);
    let got = fill(path, src, &mut buf[4..])?;
    buf.truncate(4 + got);
    let mut rec = Records {
        path,
        bytes: &buf,
        base: *at,
        at: 0,
        little,
    };
    let body = rec.next(what)?.to_vec();
    *at += buf.len();
    Ok(body)
}

/// Frames handed to a sink at a time, at most.
const BLOCK_FRAMES: usize = 1024;
/// Bytes of raw frames read before they are converted (in parallel) and handed over.
const BLOCK_BYTES: usize = 64 << 20;

/// The header of the DCD at `path` (read without its frames), to settle the time
/// between frames before any frame is read.
pub fn header(path: &Path) -> Result<DcdHeader> {
    open(path).map(|o| o.1)
}

/// `path` opened past its three header records: the stream at the first frame, the
/// header, the byte order, the offset reached and whether frames carry a 4th dimension.
type Opened = (
    Box<dyn std::io::BufRead + Send>,
    DcdHeader,
    bool,
    usize,
    bool,
);

fn open(path: &Path) -> Result<Opened> {
    let mut src = super::open_stream(path)?;
    let mut first = [0u8; 8];
    let got = fill(path, &mut src, &mut first)?;
    if !looks_like(&first[..got]) {
        return Err(parse_err(
            path,
            0,
            "not a DCD: it does not start with an 84-byte record holding CORD (4-byte length markers)".into(),
        ));
    }
    let little = first[..4] == 84i32.to_le_bytes();
    let mut at = 0usize;
    let mut head = std::io::Read::chain(&first[..], &mut src);
    let h = record(path, &mut head, little, &mut at, "header")?;
    let ints: Vec<i32> = (0..20)
        .map(|i| int(&h[4 + 4 * i..8 + 4 * i], little))
        .collect();
    let charmm = ints[19] != 0;
    let fixed = ints[8];
    if fixed != 0 {
        return Err(Error::InvalidInput(format!(
            "{}: {fixed} fixed atoms (stored once, apart from the moving ones) are not supported",
            path.display()
        )));
    }
    let delta = if charmm {
        let b: [u8; 4] = h[40..44].try_into().unwrap_or_default();
        (if little {
            f32::from_le_bytes(b)
        } else {
            f32::from_be_bytes(b)
        }) as f64
    } else {
        let b: [u8; 8] = h[40..48].try_into().unwrap_or_default();
        if little {
            f64::from_le_bytes(b)
        } else {
            f64::from_be_bytes(b)
        }
    };
    let has_cell = charmm && ints[10] != 0;
    let four_d = charmm && ints[11] != 0;
    let titles = record(path, &mut src, little, &mut at, "titles")?;
    let title = if titles.len() >= 4 {
        String::from_utf8_lossy(&titles[4..])
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    } else {
        String::new()
    };
    let natom = record(path, &mut src, little, &mut at, "number of atoms")?;
    if natom.len() != 4 {
        return Err(parse_err(
            path,
            0,
            format!("the atom-count record holds {} bytes, not 4", natom.len()),
        ));
    }
    let n = int(&natom, little).max(0) as usize;
    let header = DcdHeader {
        n_atoms: n,
        n_frames_header: ints[0].max(0) as usize,
        first_step: ints[1] as i64,
        steps_between_frames: ints[2] as i64,
        delta,
        has_cell,
        title,
    };
    Ok((src, header, little, at, four_d))
}

/// Read a DCD as `read` does, a frame at a time, handing blocks of frames to `sink`
/// instead of keeping them; frames left out by `range` are read past, not converted.
/// The kept frames' steps, the header and the notes.
pub fn stream(
    path: &Path,
    species: &[String],
    allow_truncated: bool,
    range: FrameRange,
    sink: &mut dyn FrameSink,
) -> Result<(Vec<i64>, DcdHeader, Vec<String>)> {
    let (mut src, header, little, mut at, four_d) = open(path)?;
    let (n, has_cell) = (header.n_atoms, header.has_cell);
    if species.len() != n {
        return Err(Error::InvalidInput(format!(
            "{}: {n} atoms, but the topology names {}",
            path.display(),
            species.len()
        )));
    }
    if !has_cell {
        return Err(Error::InvalidInput(format!(
            "{}: the file stores no unit cell; superion needs the periodic cell of each frame",
            path.display()
        )));
    }
    sink.begin(species)?;
    let frame_bytes = 56 + 3 * (8 + 4 * n) + if four_d { 8 + 4 * n } else { 0 };
    // Frames are read into a block (at most BLOCK_FRAMES, at most about 64 MB) and
    // converted in parallel.
    let per_block = (BLOCK_BYTES / frame_bytes.max(1)).clamp(1, BLOCK_FRAMES);
    let mut raw: Vec<u8> = Vec::with_capacity(per_block * frame_bytes);
    let mut where_: Vec<(usize, usize)> = Vec::with_capacity(per_block);
    let mut buf = vec![0u8; frame_bytes];
    let (mut frac, mut cells, mut steps) = (Vec::new(), Vec::new(), Vec::new());
    let mut notes = Vec::new();
    let mut complete = 0usize;
    let mut convert = |raw: &mut Vec<u8>,
                       where_: &mut Vec<(usize, usize)>,
                       sink: &mut dyn FrameSink|
     -> Result<()> {
        if where_.is_empty() {
            return Ok(());
        }
        use rayon::prelude::*;
        frac.resize(where_.len() * 3 * n, 0.0);
        cells.clear();
        let got: Vec<Result<[[f64; 3]; 3]>> = frac
            .par_chunks_mut((3 * n).max(1))
            .zip(raw.par_chunks(frame_bytes))
            .zip(where_.par_iter())
            .map(|((out, bytes), &(at, k))| frame(path, bytes, at, k, little, n, out))
            .collect();
        for c in got {
            cells.push(c?);
        }
        raw.clear();
        where_.clear();
        sink.frames(&frac, &cells, None)
    };
    loop {
        let got = fill(path, &mut src, &mut buf)?;
        if got == 0 {
            break;
        }
        if got < frame_bytes {
            super::frames::truncated(
                path,
                0,
                complete + 1,
                "bytes",
                frame_bytes,
                got,
                allow_truncated,
                &mut notes,
            )?;
            break;
        }
        if range.contains(complete) {
            raw.extend_from_slice(&buf);
            where_.push((at, complete));
            steps.push(header.first_step + complete as i64 * header.steps_between_frames);
            if where_.len() == per_block {
                convert(&mut raw, &mut where_, sink)?;
            }
        }
        at += frame_bytes;
        complete += 1;
    }
    convert(&mut raw, &mut where_, sink)?;
    if complete == 0 {
        return Err(Error::InvalidInput(format!(
            "{}: no complete frame",
            path.display()
        )));
    }
    let all: Vec<usize> = (0..complete).collect();
    range.pick(path, &all)?;
    if !range.is_all() {
        notes.push(range.note(complete, steps.len()));
    }
    Ok((steps, header, notes))
}

/// One frame's bytes (starting at byte `at` of the file; frame `k` from 0): its cell,
/// and its fractional positions appended to `frac`.
fn frame(
    path: &Path,
    bytes: &[u8],
    at: usize,
    k: usize,
    little: bool,
    n: usize,
    frac: &mut [f32],
) -> Result<[[f64; 3]; 3]> {
    let mut rec = Records {
        path,
        bytes,
        base: at,
        at: 0,
        little,
    };
    let what = |c: &str| format!("frame {} {c}", k + 1);
    let c = rec.next(&what("unit cell"))?;
    if c.len() != 48 {
        return Err(Error::InvalidInput(format!(
            "{}: frame {}: a unit-cell record of {} bytes, not 48",
            path.display(),
            k + 1,
            c.len()
        )));
    }
    let v: Vec<f64> = c
        .chunks_exact(8)
        .map(|b| {
            let a: [u8; 8] = b.try_into().unwrap_or_default();
            if little {
                f64::from_le_bytes(a)
            } else {
                f64::from_be_bytes(a)
            }
        })
        .collect();
    let cell = lattice(path, k, [v[0], v[2], v[5]], [v[4], v[3], v[1]])?;
    let mut xyz = [Vec::new(), Vec::new(), Vec::new()];
    for (c, axis) in xyz.iter_mut().zip(["X", "Y", "Z"]) {
        let r = rec.next(&what(axis))?;
        if r.len() != 4 * n {
            return Err(Error::InvalidInput(format!(
                "{}: frame {}: {axis} holds {} bytes, not {} for {n} atoms",
                path.display(),
                k + 1,
                r.len(),
                4 * n
            )));
        }
        *c = r
            .chunks_exact(4)
            .map(|b| {
                let a: [u8; 4] = b.try_into().unwrap_or_default();
                if little {
                    f32::from_le_bytes(a)
                } else {
                    f32::from_be_bytes(a)
                }
            })
            .collect();
    }
    let inv = inverse(&cell);
    for i in 0..n {
        let r = [xyz[0][i] as f64, xyz[1][i] as f64, xyz[2][i] as f64];
        if !r.iter().all(|v| v.is_finite()) {
            return Err(Error::InvalidInput(format!(
                "{}: frame {}, atom {}: a position is not a finite number",
                path.display(),
                k + 1,
                i + 1
            )));
        }
        for j in 0..3 {
            let s: f64 = (0..3).map(|a| r[a] * inv[a][j]).sum();
            frac[3 * i + j] = (s - s.floor()) as f32;
        }
    }
    Ok(cell)
}

/// Lattice vectors (rows) from the lengths and the angles α, β, γ, given as cosines
/// (all within ±1) or in degrees: a along x, b in the xy plane, as LAMMPS's box.
fn lattice(path: &Path, frame: usize, len: [f64; 3], ang: [f64; 3]) -> Result<[[f64; 3]; 3]> {
    let cosines = ang.iter().all(|c| c.abs() <= 1.0);
    let [ca, cb, cg] = if cosines {
        ang
    } else {
        ang.map(|d| d.to_radians().cos())
    };
    let sg = (1.0 - cg * cg).sqrt();
    let cy = (ca - cb * cg) / sg;
    let cz2 = 1.0 - cb * cb - cy * cy;
    if !(len.iter().all(|l| l.is_finite() && *l > 0.0) && sg > 1e-6 && cz2 > 1e-12) {
        return Err(Error::InvalidInput(format!(
            "{}: frame {}: the unit cell (lengths {len:?}, angles {ang:?}) is not a valid cell",
            path.display(),
            frame + 1
        )));
    }
    let [a, b, c] = len;
    Ok([
        [a, 0.0, 0.0],
        [b * cg, b * sg, 0.0],
        [c * cb, c * cy, c * cz2.sqrt()],
    ])
}

/// AKMA time unit (CHARMM's, in which a DCD header stores the time step) in ps.
pub const AKMA_PS: f64 = 0.048_888_21;

/// Write `traj` as a CHARMM-style DCD (little-endian, 4-byte markers) as LAMMPS's
/// `dump dcd` lays it out: a unit cell every frame (A, cos γ, B, cos β, cos α, C),
/// positions in Å in the cell turned to LAMMPS's orientation (a along x, b in the xy
/// plane), one frame per MD step of the time between frames (NSAVC 1, the step in the
/// header in AKMA units, as MDAnalysis and VMD read it). A DCD names no atoms: read it
/// back with a topology (`--topology` the original file).
pub fn write(traj: &Trajectory, path: &Path) -> Result<()> {
    let (t, n) = (traj.n_frames(), traj.n_atoms());
    let n32 = i32::try_from(n)
        .map_err(|_| Error::InvalidInput(format!("{n} atoms: too many for a DCD")))?;
    let t32 = i32::try_from(t)
        .map_err(|_| Error::InvalidInput(format!("{t} frames: too many for a DCD")))?;
    let rec = |w: &mut dyn std::io::Write, body: &[u8]| -> std::io::Result<()> {
        let len = (body.len() as i32).to_le_bytes();
        w.write_all(&len)?;
        w.write_all(body)?;
        w.write_all(&len)
    };
    super::write_atomic_with(path, |w| {
        let mut h = Vec::with_capacity(84);
        h.extend_from_slice(b"CORD");
        let mut ints = [0i32; 20];
        ints[0] = t32; // frames
        ints[1] = 0; // first step
        ints[2] = 1; // steps between frames
        ints[3] = t32; // steps in the run
        ints[10] = 1; // a unit cell in every frame
        ints[19] = 24; // CHARMM version
        for (i, v) in ints.iter().enumerate() {
            if i == 9 {
                let dt = traj.dt_ps.map_or(0.0, |d| d / AKMA_PS) as f32;
                h.extend_from_slice(&dt.to_le_bytes());
            } else {
                h.extend_from_slice(&v.to_le_bytes());
            }
        }
        rec(w, &h)?;
        let mut title = Vec::with_capacity(164);
        title.extend_from_slice(&2i32.to_le_bytes());
        for line in [
            format!(
                "superion {} from {}",
                env!("CARGO_PKG_VERSION"),
                traj.source.display()
            ),
            format!(
                "time between frames {} ps; species {}",
                traj.dt_ps.map_or("unknown".to_string(), |d| d.to_string()),
                crate::traj::distinct_species(&traj.species).join(" ")
            ),
        ] {
            let mut b = line.into_bytes();
            b.resize(80, b' ');
            title.extend_from_slice(&b);
        }
        rec(w, &title)?;
        rec(w, &n32.to_le_bytes())?;
        let mut xyz: [Vec<u8>; 3] = std::array::from_fn(|_| Vec::with_capacity(4 * n));
        for f in 0..t {
            let c = traj.cell_rows(f);
            let len: [f64; 3] = std::array::from_fn(|i| {
                (c[i][0] * c[i][0] + c[i][1] * c[i][1] + c[i][2] * c[i][2]).sqrt()
            });
            let cos = |i: usize, j: usize| {
                (c[i][0] * c[j][0] + c[i][1] * c[j][1] + c[i][2] * c[j][2]) / (len[i] * len[j])
            };
            let (ca, cb, cg) = (cos(1, 2), cos(0, 2), cos(0, 1));
            let mut cell = Vec::with_capacity(48);
            for v in [len[0], cg, len[1], cb, ca, len[2]] {
                cell.extend_from_slice(&v.to_le_bytes());
            }
            rec(w, &cell)?;
            // The same cell in LAMMPS's orientation.
            let l = lattice(path, f, len, [ca, cb, cg])
                .map_err(|e| std::io::Error::other(e.to_string()))?;
            for v in xyz.iter_mut() {
                v.clear();
            }
            for i in 0..n {
                let s: [f64; 3] = std::array::from_fn(|k| traj.frac[[f, i, k]] as f64);
                for (x, v) in xyz.iter_mut().enumerate() {
                    let r = s[0] * l[0][x] + s[1] * l[1][x] + s[2] * l[2][x];
                    v.extend_from_slice(&(r as f32).to_le_bytes());
                }
            }
            for v in &xyz {
                rec(w, v)?;
            }
        }
        Ok(())
    })
}

/// DCD in the trajectory reader registry.
pub struct Reader;

impl crate::io::reader::TrajReader for Reader {
    fn name(&self) -> &'static str {
        "dcd"
    }
    fn about(&self) -> &'static str {
        "DCD (CHARMM, NAMD, LAMMPS dump dcd); needs --topology"
    }
    fn by_name(&self, name: &str) -> bool {
        name.ends_with(".DCD")
    }
    fn binary(&self) -> bool {
        true
    }
    fn sniff(&self, head: &[u8]) -> bool {
        looks_like(head)
    }
    fn names_atoms(&self) -> bool {
        false
    }
    fn unnamed(&self) -> &'static str {
        "a DCD"
    }
    fn time_in_frames(&self) -> bool {
        false
    }
    fn time_before_frames(
        &self,
        path: &Path,
        opts: &crate::io::reader::TrajReadOptions,
    ) -> Result<(Option<(f64, String)>, Vec<String>)> {
        let (t, warning) = dcd_time(path, opts, &header(path)?)?;
        Ok((t, warning.into_iter().collect()))
    }
    fn stream(
        &self,
        path: &Path,
        opts: &crate::io::reader::TrajReadOptions,
        species: Option<&[String]>,
        sink: &mut dyn crate::traj::stream::FrameSink,
    ) -> Result<crate::io::reader::ReadEnd> {
        let species = crate::io::reader::given_species(path, species)?;
        let (steps, _, notes) = stream(path, species, opts.allow_truncated, opts.frames, sink)?;
        Ok(crate::io::reader::ReadEnd {
            frames: steps.len(),
            steps: Some((steps, "DCD header's first step and steps between frames")),
            notes,
            ..Default::default()
        })
    }
}

/// The time between a DCD's frames from its header, and a warning when a given time
/// step disagrees with it. The header stores NSAVC (MD steps between frames) and DELTA
/// (the step in the writer's time unit: AKMA for CHARMM, NAMD, MDAnalysis and
/// superion's own writer; LAMMPS writes its own unit there). With no option
/// timestep_fs (and no stride), the time is NSAVC × DELTA read as AKMA, as MDAnalysis
/// and VMD read it, and the note says so; with one, the stride comes from NSAVC (by
/// `settle_time`) and a header that disagrees is reported.
fn dcd_time(
    path: &Path,
    opts: &crate::io::reader::TrajReadOptions,
    h: &DcdHeader,
) -> Result<(Option<(f64, String)>, Option<String>)> {
    let akma_fs = AKMA_PS * 1000.0;
    let header_fs = h.delta * akma_fs;
    let usable = h.delta.is_finite() && h.delta > 0.0 && h.steps_between_frames >= 1;
    match (opts.time.timestep_fs, opts.time.stride) {
        (None, None) if usable => {
            let every = opts.frames.every.max(1);
            let dt_ps = h.steps_between_frames as f64 * h.delta * AKMA_PS * every as f64;
            crate::traj::check_frame_time(dt_ps).map_err(|e| {
                crate::error::Error::InvalidInput(format!(
                    "{}: the DCD header's NSAVC {} x DELTA {} AKMA: {}",
                    path.display(),
                    h.steps_between_frames,
                    h.delta,
                    e.detail()
                ))
            })?;
            Ok((
                Some((
                    dt_ps,
                    format!(
                        "time between frames {} ps from the DCD header: NSAVC {} x DELTA {} AKMA ({} fs){} (AKMA is the unit of CHARMM, NAMD, MDAnalysis and superion; LAMMPS writes its own time unit there: give option timestep_fs if this is wrong)",
                        crate::io::reader::short(dt_ps),
                        h.steps_between_frames,
                        crate::io::reader::short(h.delta),
                        crate::io::reader::short(header_fs),
                        crate::io::reader::every_note(every, " x")
                    ),
                )),
                None,
            ))
        }
        (Some(step), stride)
            if usable && {
                let given = step * stride.unwrap_or(h.steps_between_frames as usize) as f64;
                let header = header_fs * h.steps_between_frames as f64;
                (given - header).abs() > 0.01 * header
            } =>
        {
            Ok((
                None,
                Some(format!(
                    "warning: {}: option timestep_fs {} fs x stride {} = {} fs between frames, but the DCD header says NSAVC {} x DELTA {} AKMA = {} fs; the given time is used: check it (a DCD written by superion's traj convert holds the time between frames as one step; without option timestep_fs the header's time is used)",
                    path.display(),
                    crate::io::reader::short(step),
                    stride.unwrap_or(h.steps_between_frames as usize),
                    crate::io::reader::short(
                        step * stride.unwrap_or(h.steps_between_frames as usize) as f64
                    ),
                    h.steps_between_frames,
                    crate::io::reader::short(h.delta),
                    crate::io::reader::short(header_fs * h.steps_between_frames as f64),
                )),
            ))
        }
        _ => Ok((None, None)),
    }
}
