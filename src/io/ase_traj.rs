//! ASE's binary trajectory (`.traj`), the ULM file ASE's `Trajectory` writes and so
//! what ASE's MD drivers and most machine-learned-potential workflows produce.
//!
//! Layout: the 8-byte magic `- of Ulm`, a 16-byte tag (`ASE-Trajectory`), then the
//! version, the number of items and the offset of the item table, as int64. Each item
//! (one frame) is an int64 length and a JSON object in which arrays are stored apart
//! in binary and referenced as `"name.": {"ndarray": [shape, dtype, offset]}`.
//! Atomic numbers (and masses, when set) are in the first item; Cartesian positions
//! (Å) and the cell in every item; momenta (amu·Å per ASE time unit) when the atoms
//! had them. The file stores no time: the time step comes from the caller. Frames are
//! parsed in parallel; those left out by the frame range are never decoded.

use std::path::Path;

use ndarray::Array2;
use rayon::prelude::*;
use serde_json::Value;

use super::frames::{Frame, FrameRange, Handover};
use super::xyz::ASE_TIME_FS;
use crate::error::{Error, Result};
use crate::geom::inverse;
use crate::phonon::composition::{atomic_mass, symbol_of_number};
use crate::traj::stream::FrameSink;

const MAGIC: &[u8; 8] = b"- of Ulm";
const TAG: &[u8] = b"ASE-Trajectory";

/// Whether a file starts as an ASE trajectory does.
pub(crate) fn looks_like(head: &[u8]) -> bool {
    head.len() >= 24 && &head[..8] == MAGIC && head[8..24].starts_with(TAG)
}

fn bad(path: &Path, what: String) -> Error {
    Error::InvalidInput(format!("{}: {what}", path.display()))
}

/// The file's bytes: read whole (gzip, zstd, xz, or where positioned reads are not
/// available),
/// or read where needed with positioned reads (a plain file: never held whole).
enum Source {
    Whole(Vec<u8>),
    #[cfg(unix)]
    File(std::fs::File, u64),
}

impl Source {
    fn open(path: &Path) -> Result<Source> {
        #[cfg(unix)]
        {
            if !super::stored_compressed(path)? {
                let f = std::fs::File::open(path).map_err(|e| Error::Io {
                    path: path.to_path_buf(),
                    source: e,
                })?;
                let len = f.metadata().map(|m| m.len()).unwrap_or(0);
                return Ok(Source::File(f, len));
            }
        }
        Ok(Source::Whole(super::read_bytes(path)?))
    }

    fn len(&self) -> usize {
        match self {
            Source::Whole(b) => b.len(),
            #[cfg(unix)]
            Source::File(_, len) => *len as usize,
        }
    }

    /// `len` bytes from `at`, or None past the end.
    fn get(&self, at: usize, len: usize) -> Option<std::borrow::Cow<'_, [u8]>> {
        let end = at.checked_add(len)?;
        match self {
            Source::Whole(b) => b.get(at..end).map(std::borrow::Cow::Borrowed),
            #[cfg(unix)]
            Source::File(f, size) => {
                if end as u64 > *size {
                    return None;
                }
                let mut buf = vec![0u8; len];
                std::os::unix::fs::FileExt::read_exact_at(f, &mut buf, at as u64).ok()?;
                Some(std::borrow::Cow::Owned(buf))
            }
        }
    }
}

fn int_at(src: &Source, at: usize, little: bool) -> Option<i64> {
    let b: [u8; 8] = src.get(at, 8)?.as_ref().try_into().ok()?;
    Some(if little {
        i64::from_le_bytes(b)
    } else {
        i64::from_be_bytes(b)
    })
}

/// An array stored apart: its shape, element type and byte offset.
struct ArrayRef {
    shape: Vec<usize>,
    dtype: String,
    offset: usize,
}

fn array_ref(item: &Value, name: &str) -> Option<ArrayRef> {
    let r = item.get(format!("{name}."))?.get("ndarray")?.as_array()?;
    Some(ArrayRef {
        shape: r
            .first()?
            .as_array()?
            .iter()
            .map(|v| v.as_u64().map(|x| x as usize))
            .collect::<Option<_>>()?,
        dtype: r.get(1)?.as_str()?.to_string(),
        offset: r.get(2)?.as_u64()? as usize,
    })
}

/// The numbers of a stored array, as f64.
fn numbers(path: &Path, src: &Source, r: &ArrayRef, little: bool, what: &str) -> Result<Vec<f64>> {
    let count: usize = r.shape.iter().product();
    let size = match r.dtype.as_str() {
        "float64" | "int64" => 8,
        "float32" | "int32" => 4,
        other => {
            return Err(bad(
                path,
                format!(
                    "{what}: arrays of {other} are not read (float64, float32, int64, int32 are)"
                ),
            ));
        }
    };
    let data = count
        .checked_mul(size)
        .and_then(|len| src.get(r.offset, len))
        .ok_or_else(|| {
            bad(
                path,
                format!(
                    "{what}: {count} values at byte {} run past the end of the file ({} bytes): is it cut short?",
                    r.offset,
                    src.len()
                ),
            )
        })?;
    let conv = |c: &[u8]| -> f64 {
        match (r.dtype.as_str(), little) {
            ("float64", true) => f64::from_le_bytes(c.try_into().unwrap_or_default()),
            ("float64", false) => f64::from_be_bytes(c.try_into().unwrap_or_default()),
            ("int64", true) => i64::from_le_bytes(c.try_into().unwrap_or_default()) as f64,
            ("int64", false) => i64::from_be_bytes(c.try_into().unwrap_or_default()) as f64,
            ("float32", true) => f32::from_le_bytes(c.try_into().unwrap_or_default()) as f64,
            ("float32", false) => f32::from_be_bytes(c.try_into().unwrap_or_default()) as f64,
            ("int32", true) => i32::from_le_bytes(c.try_into().unwrap_or_default()) as f64,
            _ => i32::from_be_bytes(c.try_into().unwrap_or_default()) as f64,
        }
    };
    Ok(data.chunks_exact(size).map(conv).collect())
}

/// One item's JSON text, checked to lie within the file.
fn item_bytes<'b>(
    path: &Path,
    src: &'b Source,
    offset: i64,
    index: usize,
) -> Result<std::borrow::Cow<'b, [u8]>> {
    let at = usize::try_from(offset).map_err(|_| {
        bad(
            path,
            format!("frame {}: negative offset {offset}", index + 1),
        )
    })?;
    let len = int_at(src, at, true)
        .and_then(|l| usize::try_from(l).ok())
        .ok_or_else(|| {
            bad(
                path,
                format!(
                    "frame {}: no item at byte {at}: is the file cut short?",
                    index + 1
                ),
            )
        })?;
    src.get(at + 8, len).ok_or_else(|| {
        bad(
            path,
            format!("frame {}: its {len} bytes at byte {} run past the end of the file: is it cut short?", index + 1, at + 8),
        )
    })
}

/// One item's JSON.
fn item(path: &Path, src: &Source, offset: i64, index: usize) -> Result<Value> {
    serde_json::from_slice(&item_bytes(path, src, offset, index)?).map_err(|e| {
        bad(
            path,
            format!("frame {}: its description is not JSON ({e})", index + 1),
        )
    })
}

/// Frames decoded and handed over at a time.
const BLOCK_FRAMES: usize = 1024;

/// How a streamed ASE trajectory ended.
pub struct AseEnd {
    /// Frames handed over.
    pub frames: usize,
    /// Whether the file was read whole first (gzip) rather than where needed.
    pub read_whole: bool,
    /// Frames left out or cut short, momenta dropped.
    pub notes: Vec<String>,
}

/// Read an ASE trajectory as `read` does, handing blocks of frames to `sink`: a plain
/// file is read where needed (positioned reads), never whole; a gzipped one is read
/// whole first.
pub fn stream(
    path: &Path,
    allow_truncated: bool,
    range: FrameRange,
    sink: &mut dyn FrameSink,
) -> Result<AseEnd> {
    let bytes = Source::open(path)?;
    if !looks_like(&bytes.get(0, 24).unwrap_or_default()) {
        return Err(bad(
            path,
            "not an ASE trajectory: it does not start with \"- of Ulm\" and the tag \"ASE-Trajectory\"".into(),
        ));
    }
    let (nitems, pos0) = match (int_at(&bytes, 32, true), int_at(&bytes, 40, true)) {
        (Some(n), Some(p)) if n >= 0 && p >= 0 => (n as usize, p as usize),
        _ => return Err(bad(path, "the header is cut short".into())),
    };
    let offsets: Vec<i64> = (0..nitems)
        .map(|i| int_at(&bytes, pos0 + 8 * i, true))
        .collect::<Option<_>>()
        .ok_or_else(|| {
            bad(
                path,
                format!("the table of {nitems} frames at byte {pos0} is cut short"),
            )
        })?;
    if offsets.is_empty() {
        return Err(bad(path, "no frames".into()));
    }
    // Frames cut short at the end (a run still writing, or killed).
    let mut notes = Vec::new();
    let complete = offsets
        .iter()
        .enumerate()
        .take_while(|(i, o)| item_bytes(path, &bytes, **o, *i).is_ok())
        .count();
    if complete < offsets.len() {
        if allow_truncated && complete > 0 {
            notes.push(format!(
                "frames {}..{} are cut short: dropped",
                complete + 1,
                offsets.len()
            ));
        } else {
            item_bytes(path, &bytes, offsets[complete], complete)?;
        }
    }
    let all: Vec<usize> = (0..complete).collect();
    let chosen = if range.is_all() {
        all
    } else {
        let kept = range.pick(path, &all)?;
        notes.push(range.note(all.len(), kept.len()));
        kept
    };
    // The header: atomic numbers (and masses) from the first item.
    let first = item(path, &bytes, offsets[0], 0)?;
    let little = first
        .get("_little_endian")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let z = array_ref(&first, "numbers")
        .ok_or_else(|| bad(path, "frame 1 has no atomic numbers (\"numbers\")".into()))?;
    let z = numbers(path, &bytes, &z, little, "numbers")?;
    let species: Vec<String> = z
        .iter()
        .map(|&z| {
            symbol_of_number(z as i64)
                .map(str::to_string)
                .ok_or_else(|| {
                    bad(
                        path,
                        format!("atomic number {z} is not an element superion knows"),
                    )
                })
        })
        .collect::<Result<_>>()?;
    let masses = match array_ref(&first, "masses") {
        Some(r) => numbers(path, &bytes, &r, little, "masses")?,
        None => species
            .iter()
            .map(|s| atomic_mass(s).unwrap_or(f64::NAN))
            .collect(),
    };
    let n = species.len();
    // Momenta in some frames only (atoms.set_momenta after the start): none are used.
    let with = chosen
        .iter()
        .map(|&i| Ok(array_ref(&item(path, &bytes, offsets[i], i)?, "momenta").is_some()))
        .collect::<Result<Vec<bool>>>()?
        .into_iter()
        .filter(|&m| m)
        .count();
    let use_vel = with == chosen.len();
    if with > 0 && !use_vel {
        notes.push(format!(
            "momenta in {with} of {} frames only: velocities not read",
            chosen.len()
        ));
    }
    let decode = |i: usize| -> Result<Frame<String>> {
        let it = item(path, &bytes, offsets[i], i)?;
        let little = it
            .get("_little_endian")
            .and_then(Value::as_bool)
            .unwrap_or(little);
        let here = |what: &str| format!("frame {}: {what}", i + 1);
        if let Some(r) = array_ref(&it, "numbers")
            && numbers(path, &bytes, &r, little, "numbers")? != z
        {
            return Err(bad(path, here("the atoms differ from the first frame's")));
        }
        let pos = array_ref(&it, "positions").ok_or_else(|| bad(path, here("no positions")))?;
        if pos.shape != [n, 3] {
            return Err(bad(
                path,
                here(&format!(
                    "positions of shape {:?}, expected [{n}, 3]",
                    pos.shape
                )),
            ));
        }
        let pos = numbers(path, &bytes, &pos, little, "positions")?;
        let cell: Vec<f64> = match (it.get("cell"), array_ref(&it, "cell")) {
            (Some(Value::Array(rows)), _) => rows
                .iter()
                .flat_map(|r| r.as_array().cloned().unwrap_or_default())
                .map(|v| v.as_f64().unwrap_or(f64::NAN))
                .collect(),
            (_, Some(r)) => numbers(path, &bytes, &r, little, "cell")?,
            _ => return Err(bad(path, here("no cell"))),
        };
        if cell.len() != 9 || cell.iter().any(|x| !x.is_finite()) {
            return Err(bad(
                path,
                here(&format!(
                    "a cell of 9 finite numbers expected, found {cell:?}"
                )),
            ));
        }
        let cell = [
            [cell[0], cell[1], cell[2]],
            [cell[3], cell[4], cell[5]],
            [cell[6], cell[7], cell[8]],
        ];
        let inv = inverse(&cell);
        if !inv.iter().flatten().all(|x| x.is_finite()) {
            return Err(bad(
                path,
                here("the cell has zero volume: superion analyses periodic cells"),
            ));
        }
        if pos.iter().any(|x| !x.is_finite()) {
            return Err(bad(path, here("a position is not a finite number")));
        }
        let frac = Array2::from_shape_fn((n, 3), |(a, j)| {
            (0..3).map(|k| pos[a * 3 + k] * inv[k][j]).sum::<f64>() as f32
        });
        let vel = match array_ref(&it, "momenta") {
            Some(r) => {
                let p = numbers(path, &bytes, &r, little, "momenta")?;
                if p.len() != 3 * n {
                    return Err(bad(path, here("momenta do not match the atoms")));
                }
                if let Some(a) = (0..n).find(|&a| !(masses[a] > 0.0)) {
                    return Err(bad(
                        path,
                        here(&format!("momenta given but no mass for {}", species[a])),
                    ));
                }
                // amu·Å per ASE time unit -> Å/ps
                Some(Array2::from_shape_fn((n, 3), |(a, j)| {
                    (p[a * 3 + j] / masses[a] / ASE_TIME_FS * 1000.0) as f32
                }))
            }
            None => None,
        };
        Ok(Frame {
            species: species.clone(),
            frac,
            cell,
            vel,
        })
    };
    let mut out = Handover::default();
    for block in chosen.chunks(BLOCK_FRAMES) {
        let frames: Vec<Result<Frame<String>>> = block.par_iter().map(|&i| decode(i)).collect();
        let mut parsed = Vec::with_capacity(frames.len());
        for (f, &i) in frames.into_iter().zip(block) {
            let mut f = f?;
            if !use_vel {
                f.vel = None;
            }
            // Messages name frames, not lines: the "line" of frame i is its number.
            parsed.push((f, i));
        }
        out.hand_over(path, parsed, sink)?;
    }
    Ok(AseEnd {
        frames: chosen.len(),
        read_whole: matches!(bytes, Source::Whole(_)),
        notes,
    })
}

/// ASE's .traj in the trajectory reader registry.
pub struct Reader;

impl crate::io::reader::TrajReader for Reader {
    fn name(&self) -> &'static str {
        "ase-traj"
    }
    fn aliases(&self) -> &'static [&'static str] {
        &["traj"]
    }
    fn about(&self) -> &'static str {
        "ASE's binary trajectory (.traj)"
    }
    fn by_name(&self, _name: &str) -> bool {
        // ".traj" is too common a suffix to trust: found by its signature.
        false
    }
    fn binary(&self) -> bool {
        true
    }
    fn sniff(&self, head: &[u8]) -> bool {
        looks_like(head)
    }
    fn time_in_frames(&self) -> bool {
        false
    }
    fn stream(
        &self,
        path: &Path,
        opts: &crate::io::reader::TrajReadOptions,
        _species: Option<&[String]>,
        sink: &mut dyn crate::traj::stream::FrameSink,
    ) -> Result<crate::io::reader::ReadEnd> {
        let end = stream(path, opts.allow_truncated, opts.frames, sink)?;
        Ok(crate::io::reader::ReadEnd {
            frames: end.frames,
            notes: end.notes,
            read_whole: end.read_whole,
            ..Default::default()
        })
    }
}
