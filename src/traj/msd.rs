//! Mean squared displacements over all time origins.
//!
//! The trajectory is unwrapped on the engine (minimum-image steps in each frame's
//! cell), optionally corrected for drift, and then:
//! - the self MSD of every selected atom and axis, averaged over all T − m origins
//!   for each lag m. On the CPU path by FFT (the S1 − 2 S2 decomposition of Kneller et
//!   al., nMOLDYN), O(N T log T); on the GPU path by the engine's windowed sums,
//!   O(N T L) but massively parallel. Both give the same numbers.
//! - the collective MSD, from the summed displacement of the selected atoms (not from
//!   all pairs), divided by their number: its slope gives D_sigma for the Haven ratio.
//!
//! Drift correction subtracts, at every frame, the mean displacement of the framework
//! (all atoms not of the selected species), as pymatgen-analysis-diffusion and kinisi
//! do. With no framework (a one-species trajectory) it subtracts the mean displacement
//! of all atoms instead, which removes the centre-of-mass drift but also the
//! collective motion: the collective MSD is then zero by construction, and says so.
//!
//! One path: [`msd`] is the streamed MSD's sink (`crate::traj::stream::MsdStream`)
//! fed from memory with everything held in memory, and `msd_prepared` the same sink
//! handed displacements already unwrapped; a file streamed from disk goes through the
//! same sink with its store in scratch files past the budget.

pub use super::msd_core::{Axes, LagGrid, Msd, MsdOptions};

use super::stream::{FrameSink, MsdStream};
use super::{Prepared, Trajectory};
use crate::compute::Engine;
use crate::error::Result;
use crate::invalid;

/// Self and collective MSD of one species: the streamed MSD's sink
/// (`crate::traj::stream::MsdStream`) fed from memory, with everything held in memory
/// and the per-atom curves kept at every lag. One path, so a file read whole and the
/// same file streamed give the same numbers.
pub fn msd(engine: &Engine, traj: &Trajectory, opts: &MsdOptions) -> Result<Msd> {
    let dt_ps = traj.dt_ps()?;
    check_frames(traj)?;
    let mut sink = MsdStream::in_memory(opts, &traj.source).on(engine);
    sink.begin(&traj.species)?;
    in_blocks(traj, traj.frac.view(), |frac, cells| {
        sink.frames(frac, cells, None)
    })?;
    Ok(sink.finish_keeping_all(engine, dt_ps)?.msd)
}

/// [`msd`] of a trajectory already unwrapped (its long-step threshold applies, not
/// `opts.long_step_a`): the same sink, handed the unwrapped displacements.
pub(crate) fn msd_prepared(engine: &Engine, p: &Prepared, opts: &MsdOptions) -> Result<Msd> {
    let traj = p.traj;
    check_frames(traj)?;
    let dt_ps = traj.dt_ps()?;
    let mut sink = MsdStream::in_memory(opts, &traj.source)
        .on(engine)
        .unwrapped_by(p.long_step_a, &p.unwrapped.long_steps);
    sink.begin(&traj.species)?;
    in_blocks(traj, p.unwrapped.disp.view(), |disp, cells| {
        sink.unwrapped(disp, cells)
    })?;
    Ok(sink.finish_keeping_all(engine, dt_ps)?.msd)
}

/// Frames handed to the sink at a time by the in-memory MSD.
const BLOCK: usize = 1024;

/// `hand(values, cells)` for consecutive blocks of `BLOCK` frames of `per_frame`
/// (frames × atoms × 3) with their cells.
fn in_blocks(
    traj: &Trajectory,
    per_frame: ndarray::ArrayView3<f32>,
    mut hand: impl FnMut(&[f32], &[[[f64; 3]; 3]]) -> Result<()>,
) -> Result<()> {
    let all = per_frame.as_standard_layout(); // a view when already contiguous: no copy
    let flat = all.as_slice().expect("standard layout");
    let width = traj.n_atoms() * 3;
    for f0 in (0..traj.n_frames()).step_by(BLOCK) {
        let f1 = (f0 + BLOCK).min(traj.n_frames());
        let cells: Vec<[[f64; 3]; 3]> = (f0..f1).map(|f| traj.cell_rows(f)).collect();
        hand(&flat[f0 * width..f1 * width], &cells)?;
    }
    Ok(())
}

fn check_frames(traj: &Trajectory) -> Result<()> {
    let t = traj.n_frames();
    if t < 3 {
        return Err(invalid!(
            "{}: {t} frames; an MSD needs at least 3",
            traj.source.display()
        ));
    }
    Ok(())
}
