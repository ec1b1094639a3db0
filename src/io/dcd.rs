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

use ndarray::Array2;

use super::frames::{Frame, FrameRange, assemble};
use super::parse_err;
use crate::error::{Error, Result};
use crate::geom::inverse;
use crate::traj::Trajectory;

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
pub fn looks_like(head: &[u8]) -> bool {
    head.len() >= 8
        && &head[4..8] == b"CORD"
        && (head[..4] == 84i32.to_le_bytes() || head[..4] == 84i32.to_be_bytes())
}

struct Records<'a> {
    path: &'a Path,
    bytes: &'a [u8],
    at: usize,
    little: bool,
}

impl<'a> Records<'a> {
    fn int(&self, b: &[u8]) -> i32 {
        let a: [u8; 4] = b[..4].try_into().unwrap_or_default();
        if self.little {
            i32::from_le_bytes(a)
        } else {
            i32::from_be_bytes(a)
        }
    }

    /// The next record's payload, or None at the very end of the file; an error when
    /// the record is cut short or its two length markers differ.
    fn next(&mut self, what: &str) -> Result<Option<&'a [u8]>> {
        if self.at == self.bytes.len() {
            return Ok(None);
        }
        let start = self.at;
        let bad = |m: String| {
            Error::InvalidInput(format!(
                "{}: byte {start}: {what}: {m}",
                self.path.display()
            ))
        };
        let head = self
            .bytes
            .get(start..start + 4)
            .ok_or_else(|| bad("cut short in its length marker".into()))?;
        let len = self.int(head);
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
        if self.int(tail) as usize != len {
            return Err(bad(format!(
                "record lengths differ ({len} before, {} after): not a DCD written with 4-byte markers?",
                self.int(tail)
            )));
        }
        self.at = start + 8 + len;
        Ok(Some(body))
    }
}

/// Read a DCD (gzip-transparent). `species` names its atoms (from a topology); the
/// returned steps are ISTART + k·NSAVC of the kept frames, for the time step.
pub fn read(
    path: &Path,
    species: &[String],
    allow_truncated: bool,
    range: FrameRange,
) -> Result<(Trajectory, Vec<i64>, DcdHeader)> {
    let bytes = super::read_bytes(path)?;
    if !looks_like(&bytes) {
        return Err(parse_err(
            path,
            0,
            "not a DCD: it does not start with an 84-byte record holding CORD (4-byte length markers)".into(),
        ));
    }
    let little = bytes[..4] == 84i32.to_le_bytes();
    let mut rec = Records {
        path,
        bytes: &bytes,
        at: 0,
        little,
    };
    let h = rec.next("header")?.unwrap_or_default();
    let ints: Vec<i32> = (0..20).map(|i| rec.int(&h[4 + 4 * i..8 + 4 * i])).collect();
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
    let titles = rec.next("titles")?.unwrap_or_default();
    let title = if titles.len() >= 4 {
        String::from_utf8_lossy(&titles[4..])
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    } else {
        String::new()
    };
    let natom = rec.next("number of atoms")?.unwrap_or_default();
    if natom.len() != 4 {
        return Err(parse_err(
            path,
            0,
            format!("the atom-count record holds {} bytes, not 4", natom.len()),
        ));
    }
    let n = rec.int(natom).max(0) as usize;
    let header = DcdHeader {
        n_atoms: n,
        n_frames_header: ints[0].max(0) as usize,
        first_step: ints[1] as i64,
        steps_between_frames: ints[2] as i64,
        delta,
        has_cell,
        title,
    };
    if species.len() != n {
        return Err(Error::InvalidInput(format!(
            "{}: {n} atoms, but the topology names {}",
            path.display(),
            species.len()
        )));
    }
    let frame_bytes =
        if has_cell { 56 } else { 0 } + 3 * (8 + 4 * n) + if four_d { 8 + 4 * n } else { 0 };
    let body_start = rec.at;
    let complete = (bytes.len() - body_start) / frame_bytes.max(1);
    let mut notes = Vec::new();
    if !(bytes.len() - body_start).is_multiple_of(frame_bytes.max(1)) {
        super::frames::truncated(
            path,
            0,
            complete + 1,
            "bytes",
            frame_bytes,
            (bytes.len() - body_start) % frame_bytes,
            allow_truncated,
            &mut notes,
        )?;
    }
    if complete == 0 {
        return Err(Error::InvalidInput(format!(
            "{}: no complete frame",
            path.display()
        )));
    }
    let all: Vec<usize> = (0..complete).collect();
    let kept = range.pick(path, &all)?;
    if !range.is_all() {
        notes.push(range.note(complete, kept.len()));
    }
    let mut frames = Vec::with_capacity(kept.len());
    for &k in &kept {
        rec.at = body_start + k * frame_bytes;
        let what = |c: &str| format!("frame {} {c}", k + 1);
        let cell = if has_cell {
            let c = rec.next(&what("unit cell"))?.unwrap_or_default();
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
            lattice(path, k, [v[0], v[2], v[5]], [v[4], v[3], v[1]])?
        } else {
            return Err(Error::InvalidInput(format!(
                "{}: the file stores no unit cell; superion needs the periodic cell of each frame",
                path.display()
            )));
        };
        let mut xyz = [Vec::new(), Vec::new(), Vec::new()];
        for (c, axis) in xyz.iter_mut().zip(["X", "Y", "Z"]) {
            let r = rec.next(&what(axis))?.unwrap_or_default();
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
        let mut frac = Array2::<f32>::zeros((n, 3));
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
                frac[[i, j]] = (s - s.floor()) as f32;
            }
        }
        frames.push(Frame {
            species: species.to_vec(),
            frac,
            cell,
            vel: None,
        });
    }
    let first_line = vec![0; frames.len()];
    let steps = kept
        .iter()
        .map(|&k| header.first_step + k as i64 * header.steps_between_frames)
        .collect();
    let traj = assemble(path, frames, &first_line, notes)?;
    Ok((traj, steps, header))
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
