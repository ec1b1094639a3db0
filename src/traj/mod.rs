//! Molecular-dynamics trajectories and the analyses that share them.
//!
//! [`Trajectory`] is the one representation every reader (`crate::io::xdatcar`,
//! `crate::io::xyz`, `crate::io::lammps`) fills and every analysis (unwrapping, MSD
//! and diffusion, vibrational DOS, hops) reads: fractional positions, the cell of
//! every frame (or one fixed cell), the species of every atom, the time between
//! stored frames, and velocities when the file has them.

pub mod correlations;
pub mod diffusion;
pub mod hops;
pub mod msd;
pub(crate) mod msd_core;
pub mod stream;

pub mod vdos;

use std::path::PathBuf;

use ndarray::{Array3, Axis};

use crate::compute::{Engine, FracTrajectory, Unwrapped};
use crate::error::{Error, Result};

#[derive(Debug, Clone)]
pub struct Trajectory {
    pub source: PathBuf,
    /// Species of each atom, in file order.
    pub species: Vec<String>,
    /// Fractional positions, frames x atoms x 3.
    pub frac: Array3<f32>,
    /// Lattice vectors as rows (Å): 1 x 3 x 3 for a fixed cell, frames x 3 x 3 otherwise.
    pub cells: Array3<f32>,
    /// Time between stored frames (ps), once known.
    pub dt_ps: Option<f64>,
    /// Cartesian velocities (Å/ps), frames x atoms x 3, when the file has them.
    pub velocities: Option<Array3<f32>>,
    /// How the reader interpreted the file (time step source, dropped frames, ...).
    pub notes: Vec<String>,
}

impl Trajectory {
    pub fn n_frames(&self) -> usize {
        self.frac.shape()[0]
    }

    pub fn n_atoms(&self) -> usize {
        self.frac.shape()[1]
    }

    /// The engine's view of the positions.
    pub(crate) fn frac_view(&self) -> FracTrajectory<'_> {
        FracTrajectory {
            frac: self.frac.view(),
            cells: self.cells.view(),
        }
    }

    /// Distinct species in order of first appearance.
    pub fn species_list(&self) -> Vec<String> {
        distinct_species(&self.species)
    }

    /// Indices of the atoms of `species`; an unknown species is an error that lists
    /// the ones present.
    pub fn indices_of(&self, species: &str) -> Result<Vec<usize>> {
        let idx: Vec<usize> = self
            .species
            .iter()
            .enumerate()
            .filter(|(_, s)| *s == species)
            .map(|(i, _)| i)
            .collect();
        if idx.is_empty() {
            return Err(Error::InvalidInput(format!(
                "{}: no {species} atoms (species here: {})",
                self.source.display(),
                self.species_list().join(", ")
            )));
        }
        Ok(idx)
    }

    /// The time step, or an error saying how to give it.
    pub fn dt_ps(&self) -> Result<f64> {
        self.dt_ps.ok_or_else(|| {
            Error::InvalidInput(format!(
                "{}: the time between frames is unknown: give option timestep_fs and option stride (or an INCAR with POTIM and NBLOCK beside an XDATCAR)",
                self.source.display()
            ))
        })
    }

    /// Frame `t`'s lattice vectors as rows (Å).
    pub fn cell_rows(&self, t: usize) -> [[f64; 3]; 3] {
        let i = if self.cells.shape()[0] == 1 { 0 } else { t };
        std::array::from_fn(|a| std::array::from_fn(|b| self.cells[[i, a, b]] as f64))
    }

    /// A trajectory from Cartesian positions (T x N x 3, Å), cells (1 x 3 x 3 for a
    /// fixed cell, or T x 3 x 3; rows a, b, c), species (N symbols) and the time
    /// between frames (ps): what ASE or pymatgen hold in memory.
    pub fn from_cartesian(
        positions: ndarray::ArrayView3<f64>,
        cells: ndarray::ArrayView3<f64>,
        species: Vec<String>,
        dt_ps: Option<f64>,
        source: PathBuf,
    ) -> Result<Trajectory> {
        let (nf, na, three) = positions.dim();
        if three != 3 || nf == 0 || na == 0 {
            return Err(Error::InvalidInput(format!(
                "positions: expected a non-empty T × N × 3 array, got {:?}",
                positions.shape()
            )));
        }
        if species.len() != na {
            return Err(Error::InvalidInput(format!(
                "species: {} symbols for {na} atoms",
                species.len()
            )));
        }
        if cells.dim() != (nf, 3, 3) && cells.dim() != (1, 3, 3) {
            return Err(Error::InvalidInput(format!(
                "cells: expected {nf} × 3 × 3 (one per frame) or 1 × 3 × 3, got {:?}",
                cells.shape()
            )));
        }
        if let Some(d) = dt_ps {
            check_frame_time(d)?;
        }
        let mut frac = Array3::<f32>::zeros((nf, na, 3));
        for f in 0..nf {
            let ci = if cells.shape()[0] == 1 { 0 } else { f };
            let m: [[f64; 3]; 3] =
                std::array::from_fn(|a| std::array::from_fn(|b| cells[[ci, a, b]]));
            let det = crate::geom::det(&m);
            if !(det.abs() > 1e-12 && det.is_finite()) {
                return Err(Error::InvalidInput(format!(
                    "cells: the cell of frame {f} is singular"
                )));
            }
            let inv = crate::geom::inverse(&m);
            for a in 0..na {
                for x in 0..3 {
                    let v: f64 = (0..3).map(|k| positions[[f, a, k]] * inv[k][x]).sum();
                    if !v.is_finite() {
                        return Err(Error::InvalidInput(format!(
                            "positions: not finite at frame {f}, atom {a}"
                        )));
                    }
                    if v.abs() > MAX_FRACTIONAL as f64 {
                        return Err(Error::InvalidInput(format!(
                            "positions: frame {f}, atom {a} lies {v:e} cells from the origin; expected at most {:e}",
                            MAX_FRACTIONAL
                        )));
                    }
                    frac[[f, a, x]] = (v - v.floor()) as f32;
                }
            }
        }
        Ok(Trajectory {
            source,
            species,
            frac,
            cells: cells.mapv(|v| v as f32),
            dt_ps,
            velocities: None,
            notes: Vec::new(),
        })
    }

    /// Volume of frame `t`'s cell (Å³).
    pub fn volume_a3(&self, t: usize) -> f64 {
        let i = if self.cells.shape()[0] == 1 { 0 } else { t };
        crate::geom::det(&crate::geom::mat3_of(self.cells.index_axis(Axis(0), i))).abs()
    }
}

/// The distinct species of `species` in order of first appearance.
pub(crate) fn distinct_species(species: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in species {
        if !out.contains(s) {
            out.push(s.clone());
        }
    }
    out
}

/// How the time between stored frames is given on the command line.
#[derive(Debug, Clone, Copy, Default)]
pub struct TimeStep {
    /// The MD integration step (fs).
    pub timestep_fs: Option<f64>,
    /// Every how many steps a frame was stored.
    pub stride: Option<usize>,
}

/// A trajectory unwrapped once (minimum-image steps in each frame's cell) and shared
/// by the analyses that need continuous paths: the MSD, the hops and the jumps. Made
/// by [`Trajectory::prepare`]; `msd::msd_prepared` and `hops::detect_prepared` take it,
/// so several analyses of one trajectory unwrap it once.
pub struct Prepared<'a> {
    pub traj: &'a Trajectory,
    pub unwrapped: Unwrapped,
    /// Frame-to-frame steps longer than this (Å) are counted in
    /// `unwrapped.long_steps`: there the nearest image may be ambiguous.
    pub long_step_a: f32,
}

impl Trajectory {
    /// Unwrap every atom on `engine`. Steps longer than `long_step_a` (default: a
    /// quarter of the cell's smallest width) are counted as possibly ambiguous.
    pub fn prepare(&self, engine: &Engine, long_step_a: Option<f32>) -> Result<Prepared<'_>> {
        let long = self.long_step_threshold(long_step_a);
        Ok(Prepared {
            traj: self,
            unwrapped: engine.unwrap(&self.frac_view(), long)?,
            long_step_a: long,
        })
    }

    /// The step length (Å) above which an unwrap step is counted as possibly ambiguous:
    /// `given`, or a quarter of the cell's smallest width.
    pub(crate) fn long_step_threshold(&self, given: Option<f32>) -> f32 {
        given.unwrap_or((self.min_width() / 4.0) as f32)
    }

    /// The smallest perpendicular width of the first frame's cell (Å).
    pub(crate) fn min_width(&self) -> f64 {
        crate::geom::cell_widths(&self.cell_rows(0))
            .into_iter()
            .fold(f64::INFINITY, f64::min)
    }
}

/// A duration given in ps, in the unit that fits (fs below 1 ps, ns from 1000 ps) with
/// four significant digits: `0.4 fs`, `2.5 ps`, `1.2 ns`, never `0.00 ps`.
pub fn fmt_duration_ps(t_ps: f64) -> String {
    if !t_ps.is_finite() {
        return format!("{t_ps} ps");
    }
    if t_ps == 0.0 {
        return "0 ps".into();
    }
    let (v, unit) = if t_ps.abs() < 1.0 {
        (t_ps * 1e3, "fs")
    } else if t_ps.abs() < 1e3 {
        (t_ps, "ps")
    } else {
        (t_ps * 1e-3, "ns")
    };
    let decimals = (3 - v.abs().log10().floor() as i64).clamp(0, 12) as usize;
    let mut s = format!("{v:.decimals$}");
    if s.contains('.') {
        s = s.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    format!("{s} {unit}")
}

/// A span of lags in ps as `2-13.9 ps` (one unit when both ends share it, else each
/// with its own: `500 fs-2 ps`).
pub fn fmt_span_ps(a_ps: f64, b_ps: f64) -> String {
    let (a, b) = (fmt_duration_ps(a_ps), fmt_duration_ps(b_ps));
    match (a.rsplit_once(' '), b.rsplit_once(' ')) {
        (Some((va, ua)), Some((vb, ub))) if ua == ub || va == "0" => format!("{va}-{vb} {ub}"),
        _ => format!("{a}-{b}"),
    }
}

#[cfg(test)]
mod duration_tests {
    #[test]
    fn durations_in_units_that_fit() {
        use super::fmt_duration_ps as f;
        assert_eq!(f(0.0), "0 ps");
        assert_eq!(f(0.000005), "0.005 fs");
        assert_eq!(f(0.1), "100 fs");
        assert_eq!(f(0.2925), "292.5 fs");
        assert_eq!(f(2.5), "2.5 ps");
        assert_eq!(f(13.999), "14 ps");
        assert_eq!(f(1234.6), "1.235 ns");
        assert_eq!(super::fmt_span_ps(2.0, 13.9), "2-13.9 ps");
        assert_eq!(super::fmt_span_ps(0.0, 0.0005), "0-0.5 fs");
        assert_eq!(super::fmt_span_ps(0.5, 2.0), "500 fs-2 ps");
    }
}

/// The longest time between stored frames accepted: 1 µs. Beyond it no MD run is
/// meant, and products of times (lags, fits, axes) come near overflow.
pub(crate) const MAX_FRAME_TIME_PS: f64 = 1e6;

/// The farthest an atom may lie from the origin, in cells (fractional coordinate):
/// unwrapped coordinates of the longest runs stay within thousands of cells; beyond
/// this, squares of displacements overflow the analyses' sums. Checked where frames
/// enter.
pub(crate) const MAX_FRACTIONAL: f32 = 1e6;

/// The fastest an atom may move (Å/ps): 10^6 Å/ps is a third of the speed of light,
/// 10^5 times a thermal speed. Checked where velocities enter.
pub(crate) const MAX_SPEED_A_PS: f32 = 1e6;

/// A number for a message: as written for ordinary magnitudes (2, 0.1, 1500), in
/// exponent form for very large or small ones (1e308, not 309 digits).
pub(crate) fn fmt_number(v: f64) -> String {
    if v != 0.0 && v.is_finite() && !(1e-4..1e9).contains(&v.abs()) {
        format!("{v:e}")
    } else {
        format!("{v}")
    }
}

/// The time between frames (ps) as every reader and front end checks it: positive,
/// finite, at most [`MAX_FRAME_TIME_PS`].
pub(crate) fn check_frame_time(dt_ps: f64) -> Result<()> {
    if dt_ps.is_finite() && dt_ps > 0.0 && dt_ps <= MAX_FRAME_TIME_PS {
        Ok(())
    } else {
        Err(Error::InvalidInput(format!(
            "time between frames {dt_ps} ps: expected a positive time of at most {MAX_FRAME_TIME_PS:e} ps (1 µs)"
        )))
    }
}
