//! What every trajectory reader shares: the rule for a cut-short last frame, and
//! stacking parsed frames into one [`Trajectory`].

use std::path::Path;

use ndarray::{Array2, Array3};

use super::parse_err;
use crate::error::Result;
use crate::traj::Trajectory;

/// Which frames of a file to analyse, counted from 0 as Python slices and MDAnalysis
/// count them: `start`, `start + every`, ... below `stop` (the end when None). Frames
/// left out are located but never parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct FrameRange {
    pub start: usize,
    pub stop: Option<usize>,
    pub every: usize,
}

impl Default for FrameRange {
    fn default() -> Self {
        FrameRange {
            start: 0,
            stop: None,
            every: 1,
        }
    }
}

impl FrameRange {
    /// Every frame.
    pub fn is_all(&self) -> bool {
        *self == FrameRange::default()
    }

    /// Whether frame `k` (counted from 0) is chosen.
    pub(crate) fn contains(&self, k: usize) -> bool {
        k >= self.start
            && self.stop.is_none_or(|s| k < s)
            && (k - self.start).is_multiple_of(self.every.max(1))
    }

    /// The chosen items of `all` (one per complete frame of `path`), or an error that
    /// says how many frames there are.
    pub(crate) fn pick<T: Copy>(&self, path: &Path, all: &[T]) -> Result<Vec<T>> {
        let bad = |m: String| crate::error::Error::InvalidInput(format!("{}: {m}", path.display()));
        if self.every == 0 {
            return Err(bad("option every must be at least 1".into()));
        }
        let stop = self.stop.unwrap_or(all.len()).min(all.len());
        if self.start >= all.len() {
            return Err(bad(format!(
                "option start {} is past the last frame: the file has {} frames (0..{})",
                self.start,
                all.len(),
                all.len()
            )));
        }
        if stop <= self.start {
            return Err(bad(format!(
                "option stop {} leaves no frame after option start {}",
                stop, self.start
            )));
        }
        Ok(all[self.start..stop]
            .iter()
            .step_by(self.every)
            .copied()
            .collect())
    }

    /// What was kept, for the notes.
    pub(crate) fn note(&self, total: usize, kept: usize) -> String {
        let stop = self.stop.unwrap_or(total).min(total);
        format!(
            "frames {}..{stop} every {}: {kept} of {total} frames kept",
            self.start, self.every
        )
    }
}

/// One parsed frame: species per atom, fractional positions, the cell (rows are the
/// lattice vectors, Å) and velocities (Å/ps) when the format has them.
pub(crate) struct Frame<S> {
    pub species: Vec<S>,
    pub frac: Array2<f32>,
    pub cell: [[f64; 3]; 3],
    pub vel: Option<Array2<f32>>,
}

/// A frame with fewer lines than it needs: under `--allow-truncated` (and with at
/// least one complete frame before it) it is dropped with a note; otherwise an error
/// at `line` that says how many frames were complete.
#[allow(clippy::too_many_arguments)]
pub(crate) fn truncated(
    path: &Path,
    line: usize,
    frame: usize,
    what: &str,
    expected: usize,
    found: usize,
    allow: bool,
    notes: &mut Vec<String>,
) -> Result<()> {
    let complete = frame - 1;
    if allow && complete > 0 {
        notes.push(format!(
            "frame {frame} is incomplete ({found} of {expected} {what}): dropped"
        ));
        return Ok(());
    }
    Err(parse_err(
        path,
        line,
        format!(
            "frame {frame} is truncated: {expected} {what} expected, found {found}; the {complete} complete frames can be analysed with option allow_truncated"
        ),
    ))
}

/// Every frame kept in memory: the sink behind `traj_input::read_trajectory` (and the
/// whole-file reads of an XDATCAR and of an extended XYZ without time).
#[derive(Default)]
pub(crate) struct Collect {
    pub species: Vec<String>,
    pub frac: Vec<f32>,
    pub cells: Vec<[[f64; 3]; 3]>,
    pub velocities: Option<Vec<f32>>,
}

impl crate::traj::stream::FrameSink for Collect {
    fn begin(&mut self, species: &[String]) -> Result<()> {
        self.species = species.to_vec();
        Ok(())
    }
    fn frames(&mut self, frac: &[f32], cells: &[[[f64; 3]; 3]], vel: Option<&[f32]>) -> Result<()> {
        self.frac.extend_from_slice(frac);
        self.cells.extend_from_slice(cells);
        if let Some(v) = vel {
            self.velocities
                .get_or_insert_with(Vec::new)
                .extend_from_slice(v);
        }
        Ok(())
    }
}

impl Collect {
    /// The trajectory: one cell per frame when `per_frame_cells`, else the cell stored
    /// once when every frame has the same.
    pub(crate) fn into_trajectory(
        self,
        path: &Path,
        notes: Vec<String>,
        per_frame_cells: bool,
    ) -> Result<Trajectory> {
        let (t, n) = (self.cells.len(), self.species.len());
        let shape_err = |e: ndarray::ShapeError| {
            crate::error::Error::InvalidInput(format!("{}: {e}", path.display()))
        };
        let frac = Array3::from_shape_vec((t, n, 3), self.frac).map_err(shape_err)?;
        let velocities = match self.velocities {
            Some(v) => Some(Array3::from_shape_vec((t, n, 3), v).map_err(shape_err)?),
            None => None,
        };
        let same = self.cells.windows(2).all(|w| w[0] == w[1]);
        let stored = if per_frame_cells || !same {
            t
        } else {
            1.min(t)
        };
        let cells = Array3::from_shape_fn((stored, 3, 3), |(f, i, j)| self.cells[f][i][j] as f32);
        Ok(Trajectory {
            source: path.to_path_buf(),
            species: self.species,
            frac,
            cells,
            dt_ps: None,
            velocities,
            notes,
        })
    }
}

/// Whether two (short) species names are equal: an inlined loop, not a call to
/// `memcmp` per atom.
#[inline]
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).all(|(x, y)| x == y)
}

/// The handing-over side of a streaming text reader: the first frame's species (every
/// later frame must have them; the sink is begun with them), whether it had
/// velocities (then every frame must), and buffers reused from chunk to chunk.
#[derive(Default)]
pub(crate) struct Handover {
    species: Option<Vec<String>>,
    velocities: bool,
    handed: usize,
    frac: Vec<f32>,
    vel: Vec<f32>,
    cells: Vec<[[f64; 3]; 3]>,
}

impl Handover {
    /// Hand parsed frames (each with the file line, from 0, where it starts) to the
    /// sink as one block.
    pub(crate) fn hand_over<S: AsRef<str>>(
        &mut self,
        path: &Path,
        frames: Vec<(Frame<S>, usize)>,
        sink: &mut dyn crate::traj::stream::FrameSink,
    ) -> Result<()> {
        if frames.is_empty() {
            return Ok(());
        }
        self.frac.clear();
        self.vel.clear();
        self.cells.clear();
        for (f, first) in frames {
            self.handed += 1;
            let k = self.handed;
            match &self.species {
                None => {
                    let owned: Vec<String> =
                        f.species.iter().map(|s| s.as_ref().to_string()).collect();
                    sink.begin(&owned)?;
                    self.velocities = f.vel.is_some();
                    self.species = Some(owned);
                }
                Some(sp)
                    if sp.len() != f.species.len()
                        || sp.iter().zip(&f.species).any(|(a, b)| !same(a, b.as_ref())) =>
                {
                    return Err(parse_err(
                        path,
                        first + 1,
                        format!("frame {k}: atom species differ from the first frame"),
                    ));
                }
                Some(_) => {}
            }
            match (&f.vel, self.velocities) {
                (Some(v), true) => self.vel.extend(v.iter()),
                (None, true) => {
                    return Err(parse_err(
                        path,
                        first + 1,
                        format!("frame {k}: velocities missing"),
                    ));
                }
                _ => {}
            }
            self.frac.extend(f.frac.iter());
            self.cells.push(f.cell);
        }
        sink.frames(
            &self.frac,
            &self.cells,
            self.velocities.then_some(&self.vel[..]),
        )
    }
}
