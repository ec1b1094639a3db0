//! XTC: GROMACS's compressed trajectory, also written by MDAnalysis, MDTraj and
//! OpenMM. Each frame: a 56-byte header (magic 1995, or 2023 for files of more than
//! 2^28 atoms; the atom count; the step; the time in ps; the box, three vectors in
//! nm; the atom count again), then the positions in nm: uncompressed for 9 atoms or
//! fewer, else GROMACS's integer compression at the frame's precision. The frames
//! are split here (sizes checked before anything is decoded) and each is decoded by
//! the `molly` crate. An XTC names no atoms: the species come from a topology
//! (`super::topology`). Positions are made fractional in each frame's box and wrapped.
//!
//! The time of each frame is in the file (ps, single precision) with its step; the
//! time between frames is read off them (the steps must be evenly spaced), or from
//! `--timestep-fs` with the stride from the steps.

use std::path::Path;

use super::frames::FrameRange;
use super::parse_err;
use super::read_up_to as fill;
use crate::error::{Error, Result};
use crate::geom::inverse;
use crate::traj::Trajectory;
use crate::traj::stream::FrameSink;

/// Whether `head` starts like an XTC (the magic number 1995 or 2023, big-endian).
pub(crate) fn looks_like(head: &[u8]) -> bool {
    head.len() >= 4
        && matches!(
            i32::from_be_bytes([head[0], head[1], head[2], head[3]]),
            1995 | 2023
        )
}

/// The kept frames' steps and times (ps), and what the reader noted.
pub struct XtcEnd {
    pub steps: Vec<i64>,
    pub times_ps: Vec<f64>,
    pub notes: Vec<String>,
}

/// Frames handed to a sink at a time, at most.
const BLOCK_FRAMES: usize = 1024;
/// Bytes of kept frames read before they are decoded (in parallel) and handed over.
const BLOCK_BYTES: usize = 64 << 20;

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Read an XTC as `read` does, a frame at a time, handing blocks of frames to
/// `sink`; frames left out by `range` are read past, not decoded.
pub fn stream(
    path: &Path,
    species: &[String],
    allow_truncated: bool,
    range: FrameRange,
    sink: &mut dyn FrameSink,
) -> Result<XtcEnd> {
    let mut src = super::open_stream(path)?;
    let n = species.len();
    sink.begin(species)?;
    let (mut frac, mut cells) = (Vec::new(), Vec::new());
    let (mut steps, mut times) = (Vec::new(), Vec::new());
    let mut notes = Vec::new();
    let mut bytes: Vec<u8> = Vec::new();
    // Kept frames' bytes, decoded in parallel a block at a time: (offset in the
    // block, length, offset in the file, frame index) of each.
    let mut block: Vec<u8> = Vec::new();
    let mut spans: Vec<(usize, usize, u64, usize)> = Vec::new();
    let decode = |block: &[u8],
                  spans: &[(usize, usize, u64, usize)],
                  frac: &mut Vec<f32>,
                  cells: &mut Vec<[[f64; 3]; 3]>|
     -> Result<()> {
        use rayon::prelude::*;
        frac.resize(spans.len() * 3 * n, 0.0);
        cells.clear();
        let got: Vec<Result<[[f64; 3]; 3]>> = frac
            .par_chunks_mut((3 * n).max(1))
            .zip(spans.par_iter())
            .map(|(out, &(o, len, at, k))| decode_frame(path, &block[o..o + len], at, k, n, out))
            .collect();
        for c in got {
            cells.push(c?);
        }
        Ok(())
    };
    let (mut complete, mut at) = (0usize, 0u64);
    let cut = |what: String, notes: &mut Vec<String>, complete: usize| -> Result<()> {
        if allow_truncated {
            notes.push(format!(
                "{}: the last frame is cut short ({what}); {complete} complete frames read",
                path.display()
            ));
            Ok(())
        } else {
            Err(Error::InvalidInput(format!(
                "{}: frame {} is cut short ({what}); allow a truncated last frame to read the {complete} complete frames",
                path.display(),
                complete + 1
            )))
        }
    };
    loop {
        // The header.
        bytes.resize(56, 0);
        let got = fill(path, &mut src, &mut bytes)?;
        if got == 0 {
            break;
        }
        if got < 56 {
            cut(
                format!("{got} of its 56 header bytes"),
                &mut notes,
                complete,
            )?;
            break;
        }
        let bad = |m: String| parse_err(path, 0, format!("byte {at}: frame {}: {m}", complete + 1));
        let magic = be32(&bytes, 0) as i32;
        if magic != 1995 && magic != 2023 {
            return Err(bad(format!(
                "magic number {magic}, not 1995 or 2023: not an XTC frame"
            )));
        }
        let (natoms, natoms2) = (be32(&bytes, 4) as usize, be32(&bytes, 52) as usize);
        if natoms != natoms2 || natoms != n {
            return Err(if natoms != natoms2 {
                bad(format!("atom counts {natoms} and {natoms2} differ"))
            } else {
                Error::InvalidInput(format!(
                    "{}: frame {}: {natoms} atoms, but the topology names {n}",
                    path.display(),
                    complete + 1
                ))
            });
        }
        // The positions' bytes.
        let body = if natoms <= 9 {
            12 * natoms
        } else {
            let head_len = if magic == 2023 { 8 } else { 4 };
            let fixed = 4 + 24 + 4 + head_len;
            bytes.resize(56 + fixed, 0);
            let got = fill(path, &mut src, &mut bytes[56..])?;
            if got < fixed {
                cut("in its compression header".into(), &mut notes, complete)?;
                break;
            }
            let smallidx = be32(&bytes, 56 + 28) as usize;
            if !(9..73).contains(&smallidx) {
                return Err(bad(format!(
                    "compression size index {smallidx} is outside 9..72"
                )));
            }
            let count = if magic == 2023 {
                u64::from_be_bytes(bytes[88..96].try_into().unwrap_or_default())
            } else {
                be32(&bytes, 88) as u64
            };
            let count = usize::try_from(count)
                .ok()
                .filter(|c| *c <= 16 * natoms + 1024)
                .ok_or_else(|| {
                    bad(format!(
                        "{count} compressed bytes for {natoms} atoms: not a plausible XTC frame"
                    ))
                })?;
            fixed + count + molly::padding(count)
        };
        let start = bytes.len();
        bytes.resize(56 + body, 0);
        let need = bytes.len() - start;
        let got = fill(path, &mut src, &mut bytes[start..])?;
        if got < need {
            cut(
                format!("{got} of its {need} position bytes"),
                &mut notes,
                complete,
            )?;
            break;
        }
        if range.contains(complete) {
            // The frame's header: its step and time, read here.
            steps.push(be32(&bytes, 8) as i64);
            times.push(f32::from_bits(be32(&bytes, 12)) as f64);
            spans.push((block.len(), bytes.len(), at, complete));
            block.extend_from_slice(&bytes);
            if spans.len() == BLOCK_FRAMES || block.len() >= BLOCK_BYTES {
                decode(&block, &spans, &mut frac, &mut cells)?;
                sink.frames(&frac, &cells, None)?;
                block.clear();
                spans.clear();
            }
        }
        at += bytes.len() as u64;
        complete += 1;
    }
    if !spans.is_empty() {
        decode(&block, &spans, &mut frac, &mut cells)?;
        sink.frames(&frac, &cells, None)?;
    }
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
    Ok(XtcEnd {
        steps,
        times_ps: times,
        notes,
    })
}

/// Decode frame `k` (its bytes, at byte `at` of the file) into `out` (its wrapped
/// fractional positions); its cell.
fn decode_frame(
    path: &Path,
    bytes: &[u8],
    at: u64,
    k: usize,
    n: usize,
    out: &mut [f32],
) -> Result<[[f64; 3]; 3]> {
    let bad = |m: String| parse_err(path, 0, format!("byte {at}: frame {}: {m}", k + 1));
    let mut frame = molly::Frame::default();
    let mut r = molly::XTCReader::new(std::io::Cursor::new(bytes));
    let decoded = super::contained(|| r.read_frame(&mut frame));
    match decoded {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(bad(format!("cannot decode the positions: {e}"))),
        Err(_) => return Err(bad("the compressed positions are corrupt".into())),
    }
    if frame.positions.len() != 3 * n {
        return Err(bad(format!(
            "{} coordinates decoded for {n} atoms",
            frame.positions.len()
        )));
    }
    let cell: [[f64; 3]; 3] =
        std::array::from_fn(|i| std::array::from_fn(|j| 10.0 * frame.boxvec[3 * i + j] as f64));
    if !(crate::geom::det(&cell).abs() > 1e-9) {
        return Err(Error::InvalidInput(format!(
            "{}: frame {}: the box {:?} (Å) is not a periodic cell; superion needs the cell of each frame",
            path.display(),
            k + 1,
            cell
        )));
    }
    let inv = inverse(&cell);
    for (i, p) in frame.positions.chunks_exact(3).enumerate() {
        let r: [f64; 3] = std::array::from_fn(|x| 10.0 * p[x] as f64);
        if !r.iter().all(|v| v.is_finite()) {
            return Err(bad("a position is not a finite number".into()));
        }
        for j in 0..3 {
            let s: f64 = (0..3).map(|x| r[x] * inv[x][j]).sum();
            out[3 * i + j] = (s - s.floor()) as f32;
        }
    }
    Ok(cell)
}

/// Write `traj` as an XTC (GROMACS's compression at 0.001 nm, magic 1995, by the
/// `molly` crate): each frame's box and its positions wrapped into it (nm), the step
/// as the frame's index and the time (ps) from the time between frames. An XTC names
/// no atoms: read it back with a topology (`--topology` the original file).
pub fn write(traj: &Trajectory, path: &Path) -> Result<()> {
    let (t, n) = (traj.n_frames(), traj.n_atoms());
    if u32::try_from(t).is_err() || n > molly::XTC_1995_MAX_NATOMS {
        return Err(Error::InvalidInput(format!(
            "{t} frames of {n} atoms: too many for an XTC"
        )));
    }
    let dt = traj.dt_ps.unwrap_or(0.0);
    super::write_atomic_with(path, |w| {
        let mut out = molly::XTCWriter::new(w);
        let mut frame = molly::Frame {
            precision: 1000.0,
            ..Default::default()
        };
        for f in 0..t {
            let c = traj.cell_rows(f);
            frame.step = f as u32;
            frame.time = (f as f64 * dt) as f32;
            frame.boxvec = std::array::from_fn(|k| (c[k / 3][k % 3] / 10.0) as f32);
            frame.positions.clear();
            for i in 0..n {
                let s: [f64; 3] = std::array::from_fn(|k| {
                    let v = traj.frac[[f, i, k]] as f64;
                    v - v.floor()
                });
                for x in 0..3 {
                    let r: f64 = (0..3).map(|k| s[k] * c[k][x]).sum();
                    frame.positions.push((r / 10.0) as f32);
                }
            }
            out.write_frame(&frame)?;
        }
        Ok(())
    })
}

/// XTC in the trajectory reader registry.
pub struct Reader;

impl crate::io::reader::TrajReader for Reader {
    fn name(&self) -> &'static str {
        "xtc"
    }
    fn about(&self) -> &'static str {
        "XTC (GROMACS, MDAnalysis, MDTraj, OpenMM); needs --topology"
    }
    fn by_name(&self, name: &str) -> bool {
        name.ends_with(".XTC")
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
        "an XTC"
    }
    fn stream(
        &self,
        path: &Path,
        opts: &crate::io::reader::TrajReadOptions,
        species: Option<&[String]>,
        sink: &mut dyn crate::traj::stream::FrameSink,
    ) -> Result<crate::io::reader::ReadEnd> {
        let species = crate::io::reader::given_species(path, species)?;
        let end = stream(path, species, opts.allow_truncated, opts.frames, sink)?;
        // The time between frames from the frames' times.
        let settled = crate::io::reader::file_times(path, opts, &end.steps, &end.times_ps)?;
        Ok(crate::io::reader::ReadEnd {
            frames: end.steps.len(),
            steps: Some((end.steps, "XTC frames' steps")),
            notes: end.notes,
            settled,
            ..Default::default()
        })
    }
}
