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
pub mod sites;
pub mod vdos;

use std::path::PathBuf;

use ndarray::{Array3, Axis};

use crate::engine::FracTrajectory;
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
    pub fn frac_view(&self) -> FracTrajectory<'_> {
        FracTrajectory {
            frac: self.frac.view(),
            cells: self.cells.view(),
        }
    }

    /// Distinct species in order of first appearance.
    pub fn species_list(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for s in &self.species {
            if !out.contains(s) {
                out.push(s.clone());
            }
        }
        out
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
                "{}: the time between frames is unknown: give --timestep-fs and --stride (or an INCAR with POTIM and NBLOCK beside an XDATCAR)",
                self.source.display()
            ))
        })
    }

    /// Volume of frame `t`'s cell (Å³).
    pub fn volume_a3(&self, t: usize) -> f64 {
        let i = if self.cells.shape()[0] == 1 { 0 } else { t };
        crate::cpu::displacement::det3(self.cells.index_axis(Axis(0), i)).abs()
    }
}

/// How the time between stored frames is given on the command line.
#[derive(Debug, Clone, Copy, Default)]
pub struct TimeStep {
    /// The MD integration step (fs).
    pub timestep_fs: Option<f64>,
    /// Every how many steps a frame was stored.
    pub stride: Option<usize>,
}
