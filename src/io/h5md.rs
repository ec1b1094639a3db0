//! H5MD: the HDF5 layout for molecular simulation (written by LAMMPS's `dump h5md`,
//! MDAnalysis, and MLIP tools built on them), read by the pure-Rust `hdf5-reader`
//! crate (no libhdf5 to install; see the README for that choice).
//!
//! One particle group under `/particles` (the only one, else the one named `all`):
//! `position/value` (frames × atoms × 3) with its `unit` (Å when none is given, with a
//! note; nm and pm converted), `position/step` and `position/time` (with its `unit`,
//! ps when none) for the time between frames, the box (`box/edges`: a fixed vector or
//! matrix, or `box/edges/value` per frame; `boundary` must be periodic), and
//! `velocity/value` when present (its unit converted to Å/ps). Atoms are named by
//! `species` (integers, mapped by `--type-map`; fixed, or time-dependent as ZnH5MD and
//! ASE write it, `species/value`, when they do not change during the run) when the file
//! has it and a type map is given, else by a topology (`--topology`), as for DCD and XTC. Frames are read in
//! blocks by hyperslab, never the whole dataset.

use std::collections::HashMap;
use std::path::Path;

use hdf5_reader::{Dataset, Hdf5File, SliceInfo, SliceInfoElem};
use ndarray::ArrayD;

use super::frames::FrameRange;
use crate::error::{Error, Result};
use crate::geom::inverse;
use crate::traj::stream::FrameSink;

/// Whether `head` starts like an HDF5 file (its signature at byte 0).
pub(crate) fn looks_like(head: &[u8]) -> bool {
    head.starts_with(b"\x89HDF\r\n\x1a\n")
}

/// The kept frames' steps and times (ps), when the file has them, and the notes.
pub struct H5mdEnd {
    /// Frames handed over.
    pub frames: usize,
    pub steps: Option<Vec<i64>>,
    pub times_ps: Option<Vec<f64>>,
    pub notes: Vec<String>,
}

fn bad(path: &Path, m: String) -> Error {
    Error::InvalidInput(format!("{}: {m}", path.display()))
}

/// What an H5MD file holds for superion: its particle group's datasets.
struct Layout {
    group: String,
    position: Dataset,
    velocity: Option<Dataset>,
    /// Per-frame box edges (frames × 3 or frames × 3 × 3), or one box.
    edges: Edges,
    length_scale: f64,
    velocity_scale: f64,
    n_frames: usize,
    n_atoms: usize,
    notes: Vec<String>,
}

enum Edges {
    Fixed([[f64; 3]; 3]),
    /// The per-frame edges and their unit's factor to Å.
    PerFrame(Dataset, f64),
}

/// The length unit's factor to Å.
fn length_factor(unit: &str) -> Option<f64> {
    match unit.trim() {
        "Angstrom" | "angstrom" | "A" | "Å" | "AA" => Some(1.0),
        "nm" => Some(10.0),
        "pm" => Some(0.01),
        _ => None,
    }
}

fn unit_of(d: &Dataset) -> Option<String> {
    d.attribute("unit").ok().and_then(|a| a.read_string().ok())
}

/// A box from its edges as stored: a vector (orthorhombic) or a matrix (rows).
fn box_of(v: &[f64], scale: f64) -> Option<[[f64; 3]; 3]> {
    match v.len() {
        3 => Some(std::array::from_fn(|i| {
            std::array::from_fn(|j| if i == j { v[i] * scale } else { 0.0 })
        })),
        9 => Some(std::array::from_fn(|i| {
            std::array::from_fn(|j| v[3 * i + j] * scale)
        })),
        _ => None,
    }
}

/// A dataset (or a hyperslab of it) as f64, whatever its numeric type.
fn values(d: &Dataset, sel: Option<&SliceInfo>) -> std::result::Result<Vec<f64>, String> {
    use hdf5_reader::Datatype;
    fn get<T: hdf5_reader::H5Type + Copy>(
        d: &Dataset,
        sel: Option<&SliceInfo>,
        to: impl Fn(T) -> f64,
    ) -> std::result::Result<Vec<f64>, String> {
        let a: ArrayD<T> = match sel {
            Some(s) => d.read_slice_parallel(s),
            None => d.read_array(),
        }
        .map_err(|e| e.to_string())?;
        Ok(a.iter().map(|v| to(*v)).collect())
    }
    match d.dtype() {
        Datatype::FloatingPoint { size: 4, .. } => get::<f32>(d, sel, |v| v as f64),
        Datatype::FloatingPoint { size: 8, .. } => get::<f64>(d, sel, |v| v),
        Datatype::FixedPoint {
            size: 4,
            signed: true,
            ..
        } => get::<i32>(d, sel, |v| v as f64),
        Datatype::FixedPoint {
            size: 8,
            signed: true,
            ..
        } => get::<i64>(d, sel, |v| v as f64),
        Datatype::FixedPoint {
            size: 4,
            signed: false,
            ..
        } => get::<u32>(d, sel, |v| v as f64),
        Datatype::FixedPoint {
            size: 8,
            signed: false,
            ..
        } => get::<u64>(d, sel, |v| v as f64),
        t => Err(format!("numbers of type {t:?} are not read")),
    }
}

fn read_f64(path: &Path, d: &Dataset, what: &str) -> Result<Vec<f64>> {
    check_claim(path, d.shape(), what)?;
    values(d, None).map_err(|e| bad(path, format!("{what}: {e}")))
}

/// The most a byte of an HDF5 file can expand to: deflate's limit (1032:1), rounded up.
/// A dataset that claims more values than its file could hold even so (a corrupt or
/// hostile header: 10^12 frames in an 18 KB file) is refused before anything that size
/// is allocated.
const MAX_EXPANSION: u64 = 1100;

fn check_claim(path: &Path, shape: &[u64], what: &str) -> Result<()> {
    let len = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let values = shape
        .iter()
        .try_fold(1u64, |a, &d| a.checked_mul(d))
        .unwrap_or(u64::MAX);
    // At least 4 bytes a value (f32) before compression.
    if values.saturating_mul(4) > len.saturating_mul(MAX_EXPANSION) {
        return Err(bad(
            path,
            format!(
                "{what}: shape {shape:?} claims {values} values, more than a file of {len} bytes can hold"
            ),
        ));
    }
    Ok(())
}

fn layout(path: &Path) -> Result<(Hdf5File, Layout)> {
    let f =
        Hdf5File::open(path).map_err(|e| bad(path, format!("not a readable HDF5 file: {e}")))?;
    let particles = f
        .group("/particles")
        .map_err(|_| bad(path, "no /particles group: not an H5MD file".into()))?;
    let groups: Vec<String> = particles
        .groups()
        .map_err(|e| bad(path, format!("/particles: {e}")))?
        .iter()
        .map(|g| g.name().to_string())
        .collect();
    let group = match groups.as_slice() {
        [one] => one.clone(),
        _ if groups.iter().any(|g| g == "all") => "all".to_string(),
        _ => {
            return Err(bad(
                path,
                format!(
                    "{} particle groups ({}); superion reads one, or the one named \"all\"",
                    groups.len(),
                    groups.join(", ")
                ),
            ));
        }
    };
    let at = |name: &str| format!("/particles/{group}/{name}");
    let position = f
        .dataset(&at("position/value"))
        .map_err(|_| bad(path, format!("no {}", at("position/value"))))?;
    let shape = position.shape().to_vec();
    check_claim(path, &shape, &at("position/value"))?;
    if shape.len() != 3 || shape[2] != 3 {
        return Err(bad(
            path,
            format!(
                "{}: shape {shape:?}, not frames × atoms × 3",
                at("position/value")
            ),
        ));
    }
    let mut notes = Vec::new();
    let length_scale = match unit_of(&position) {
        Some(u) => length_factor(&u).ok_or_else(|| {
            bad(
                path,
                format!(
                    "{}: length unit {u:?} not understood (Angstrom, nm, pm)",
                    at("position/value")
                ),
            )
        })?,
        None => {
            notes.push(format!(
                "{}: {} has no unit; read as Å",
                path.display(),
                at("position/value")
            ));
            1.0
        }
    };
    // The box: periodic in every direction.
    let bx = f.group(&at("box")).map_err(|_| {
        bad(
            path,
            format!("no {}: superion needs the periodic box", at("box")),
        )
    })?;
    if let Ok(b) = bx.attribute("boundary").and_then(|a| a.read_strings())
        && b.iter().any(|s| s.trim() != "periodic")
    {
        return Err(bad(
            path,
            format!("box boundary {b:?}: superion needs a periodic box in every direction"),
        ));
    }
    let edges = if let Ok(d) = f.dataset(&at("box/edges/value")) {
        let edge_scale = unit_of(&d)
            .and_then(|u| length_factor(&u))
            .unwrap_or(length_scale);
        Edges::PerFrame(d, edge_scale)
    } else if let Ok(d) = f.dataset(&at("box/edges")) {
        let scale = unit_of(&d)
            .and_then(|u| length_factor(&u))
            .unwrap_or(length_scale);
        let v = read_f64(path, &d, "box edges")?;
        Edges::Fixed(
            box_of(&v, scale)
                .ok_or_else(|| bad(path, format!("box edges of {} values, not 3 or 9", v.len())))?,
        )
    } else {
        return Err(bad(
            path,
            format!("no {} or {}", at("box/edges"), at("box/edges/value")),
        ));
    };
    let velocity = f
        .dataset(&at("velocity/value"))
        .ok()
        .filter(|v| v.shape() == shape.as_slice());
    let velocity_scale = velocity
        .as_ref()
        .and_then(unit_of)
        .map(|u| {
            // "Angstrom ps-1", "nm ps-1", "Angstrom fs-1": to Å/ps.
            let l = length_factor(u.split_whitespace().next().unwrap_or("")).unwrap_or(1.0);
            if u.contains("fs") { l * 1000.0 } else { l }
        })
        .unwrap_or(1.0);
    let (n_frames, n_atoms) = (shape[0] as usize, shape[1] as usize);
    Ok((
        f,
        Layout {
            group,
            position,
            velocity,
            edges,
            length_scale,
            velocity_scale,
            n_frames,
            n_atoms,
            notes,
        },
    ))
}

/// The species of an H5MD's atoms from its `species` dataset and a type map, when it
/// has one and the map names every value; `None` otherwise.
pub(crate) fn species_from_file(
    path: &Path,
    type_map: &HashMap<String, String>,
) -> Result<Option<Vec<String>>> {
    if type_map.is_empty() {
        return Ok(None);
    }
    let (f, l) = layout(path)?;
    let first = match f.dataset(&format!("/particles/{}/species", l.group)) {
        // Fixed species: one value per atom.
        Ok(d) => {
            let v = read_f64(path, &d, "species")?;
            if v.len() < l.n_atoms {
                return Err(bad(
                    path,
                    format!("species: {} values for {} atoms", v.len(), l.n_atoms),
                ));
            }
            v[..l.n_atoms].to_vec()
        }
        // Time-dependent species (ZnH5MD, ASE's H5MD writer): species/value is frames
        // × atoms. The first and the last frame are read (never the whole dataset); a
        // run whose species change cannot be followed as one set of atoms.
        Err(_) => {
            let Ok(d) = f.dataset(&format!("/particles/{}/species/value", l.group)) else {
                return Ok(None);
            };
            let shape = d.shape().to_vec();
            if shape.len() != 2 || shape[1] as usize != l.n_atoms || shape[0] == 0 {
                return Err(bad(
                    path,
                    format!(
                        "species/value: shape {shape:?}, expected (frames, {} atoms)",
                        l.n_atoms
                    ),
                ));
            }
            let row = |k: u64| -> Result<Vec<f64>> {
                let sel = SliceInfo {
                    selections: vec![
                        SliceInfoElem::Slice {
                            start: k,
                            end: k + 1,
                            step: 1,
                        },
                        SliceInfoElem::Slice {
                            start: 0,
                            end: shape[1],
                            step: 1,
                        },
                    ],
                };
                values(&d, Some(&sel)).map_err(|e| bad(path, format!("species/value: {e}")))
            };
            let first = row(0)?;
            if shape[0] > 1 && row(shape[0] - 1)? != first {
                return Err(bad(
                    path,
                    "species/value: the atoms' species change during the run; superion follows one set of atoms".into(),
                ));
            }
            first
        }
    };
    let first: Vec<i64> = first.iter().map(|x| x.round() as i64).collect();
    first
        .iter()
        .map(|s| {
            type_map.get(&s.to_string()).cloned().ok_or_else(|| {
                bad(
                    path,
                    format!("species {s} has no element: give option type_map {s}=Element,..."),
                )
            })
        })
        .collect::<Result<Vec<_>>>()
        .map(Some)
}

/// Frames read at a time (at most; and at most about 64 MB of positions).
const BLOCK_FRAMES: usize = 1024;

/// Read an H5MD as `read` does, a block of frames at a time (hyperslabs of the
/// datasets), handing each to `sink`.
pub fn stream(
    path: &Path,
    species: &[String],
    range: FrameRange,
    sink: &mut dyn FrameSink,
) -> Result<H5mdEnd> {
    let (f, l) = layout(path)?;
    let n = l.n_atoms;
    if species.len() != n {
        return Err(bad(
            path,
            format!("{n} atoms, but the topology names {}", species.len()),
        ));
    }
    let all: Vec<usize> = (0..l.n_frames).collect();
    let kept = range.pick(path, &all)?;
    sink.begin(species)?;
    let at = |name: &str| format!("/particles/{}/{name}", l.group);
    let per_block = ((64usize << 20) / (24 * n).max(1)).clamp(1, BLOCK_FRAMES);
    let slab = |d: &Dataset, f0: usize, f1: usize, what: &str| -> Result<Vec<f64>> {
        let mut sel: Vec<SliceInfoElem> = vec![SliceInfoElem::Slice {
            start: f0 as u64,
            end: f1 as u64,
            step: 1,
        }];
        for &s in &d.shape()[1..] {
            sel.push(SliceInfoElem::Slice {
                start: 0,
                end: s,
                step: 1,
            });
        }
        values(d, Some(&SliceInfo { selections: sel }))
            .map_err(|e| bad(path, format!("{what}, frames {f0}..{f1}: {e}")))
    };
    let (mut frac, mut cells, mut vel) = (Vec::new(), Vec::new(), Vec::new());
    // Contiguous runs of the kept frames are read a block at a time.
    let mut i = 0;
    while i < kept.len() {
        let f0 = kept[i];
        let mut j = i;
        while j + 1 < kept.len()
            && kept[j + 1] == kept[j] + range.every.max(1)
            && j + 1 - i < per_block
        {
            j += 1;
        }
        let f1 = kept[j] + 1;
        let pos = slab(&l.position, f0, f1, "positions")?;
        let boxes = match &l.edges {
            Edges::PerFrame(d, _) => Some(slab(d, f0, f1, "box edges")?),
            Edges::Fixed(_) => None,
        };
        let v = match &l.velocity {
            Some(d) => Some(slab(d, f0, f1, "velocities")?),
            None => None,
        };
        cells.clear();
        vel.clear();
        for &k in &kept[i..=j] {
            let o = k - f0;
            let cell = match (&l.edges, &boxes) {
                (Edges::Fixed(c), _) => *c,
                (Edges::PerFrame(_, edge_scale), Some(b)) => {
                    let w = b.len() / (f1 - f0);
                    box_of(&b[o * w..(o + 1) * w], *edge_scale).ok_or_else(|| {
                        bad(
                            path,
                            format!("box edges of {w} values per frame, not 3 or 9"),
                        )
                    })?
                }
                _ => unreachable!("read above"),
            };
            if !(crate::geom::det(&cell).abs() > 1e-9) {
                return Err(bad(
                    path,
                    format!("frame {k}: the box {cell:?} (Å) has no volume"),
                ));
            }
            if let Some(v) = &v {
                vel.extend(
                    v[o * n * 3..(o + 1) * n * 3]
                        .iter()
                        .map(|x| (x * l.velocity_scale) as f32),
                );
            }
            cells.push(cell);
        }
        // Fractional positions, frames in parallel.
        {
            use rayon::prelude::*;
            frac.resize(cells.len() * 3 * n, 0.0);
            let nonfinite: Option<(usize, usize)> = frac
                .par_chunks_mut((3 * n).max(1))
                .zip(cells.par_iter())
                .zip(kept[i..=j].par_iter())
                .map(|((out, cell), &k)| {
                    let o = k - f0;
                    let inv = inverse(cell);
                    for a in 0..n {
                        let r: [f64; 3] =
                            std::array::from_fn(|x| pos[(o * n + a) * 3 + x] * l.length_scale);
                        if !r.iter().all(|x| x.is_finite()) {
                            return Some((k, a));
                        }
                        for c in 0..3 {
                            let s: f64 = (0..3).map(|x| r[x] * inv[x][c]).sum();
                            out[3 * a + c] = (s - s.floor()) as f32;
                        }
                    }
                    None
                })
                .find_first(|b| b.is_some())
                .flatten();
            if let Some((k, a)) = nonfinite {
                return Err(bad(
                    path,
                    format!(
                        "frame {k}, atom {}: a position is not a finite number",
                        a + 1
                    ),
                ));
            }
        }
        sink.frames(&frac, &cells, l.velocity.as_ref().map(|_| &vel[..]))?;
        i = j + 1;
    }
    // Steps and times of the kept frames, when stored per frame.
    let per_frame = |name: &str| -> Option<Vec<f64>> {
        let d = f.dataset(&at(name)).ok()?;
        (d.shape() == [l.n_frames as u64]).then(|| read_f64(path, &d, name).ok())?
    };
    let steps =
        per_frame("position/step").map(|s| kept.iter().map(|&k| s[k].round() as i64).collect());
    let time_scale = f
        .dataset(&at("position/time"))
        .ok()
        .and_then(|d| unit_of(&d))
        .map_or(1.0, |u| match u.trim() {
            "fs" => 1e-3,
            "ns" => 1e3,
            _ => 1.0,
        });
    let times_ps =
        per_frame("position/time").map(|t| kept.iter().map(|&k| t[k] * time_scale).collect());
    let mut notes = l.notes;
    if !range.is_all() {
        notes.push(range.note(l.n_frames, kept.len()));
    }
    Ok(H5mdEnd {
        frames: kept.len(),
        steps,
        times_ps,
        notes,
    })
}

/// H5MD in the trajectory reader registry.
pub struct Reader;

impl crate::io::reader::TrajReader for Reader {
    fn name(&self) -> &'static str {
        "h5md"
    }
    fn about(&self) -> &'static str {
        "H5MD (LAMMPS dump h5md, MDAnalysis, ZnH5MD); species by --type-map or --topology"
    }
    fn by_name(&self, name: &str) -> bool {
        name.ends_with(".H5MD") || name.ends_with(".H5")
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
        "this H5MD (no species dataset, or no option type_map for it)"
    }
    fn own_species(
        &self,
        path: &Path,
        opts: &crate::io::reader::TrajReadOptions,
    ) -> Result<Option<crate::io::topology::Topology>> {
        Ok(
            species_from_file(path, &opts.type_map)?.map(|species| crate::io::topology::Topology {
                note: format!(
                    "species from the file's species and option type_map ({})",
                    crate::traj::distinct_species(&species).join(", ")
                ),
                species,
            }),
        )
    }
    fn stream(
        &self,
        path: &Path,
        opts: &crate::io::reader::TrajReadOptions,
        species: Option<&[String]>,
        sink: &mut dyn crate::traj::stream::FrameSink,
    ) -> Result<crate::io::reader::ReadEnd> {
        let species = crate::io::reader::given_species(path, species)?;
        let end = stream(path, species, opts.frames, sink)?;
        let settled = h5md_time(path, opts, &end)?;
        Ok(crate::io::reader::ReadEnd {
            frames: end.frames,
            steps: end.steps.map(|s| (s, "H5MD position/step values")),
            notes: end.notes,
            settled,
            ..Default::default()
        })
    }
}

/// An H5MD's time between frames from its frames' times (and steps), when it stores
/// them; see [`file_times`].
fn h5md_time(
    path: &Path,
    opts: &crate::io::reader::TrajReadOptions,
    end: &H5mdEnd,
) -> Result<Option<(f64, String)>> {
    let Some(times) = &end.times_ps else {
        return Ok(None);
    };
    let steps: Vec<i64> = match &end.steps {
        Some(s) => s.clone(),
        None => (0..times.len() as i64).collect(),
    };
    crate::io::reader::file_times(path, opts, &steps, times)
}
