//! The compute engine: one entry point per kernel family, run on the GPU (wgpu) or on
//! the CPU twin. Analysis code holds an [`Engine`] and asks it for "pairwise distances",
//! "a batch of Lloyd iterations" or "unwrap these frames"; it never sees buffers.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use ndarray::{Array2, Array3, ArrayView2, ArrayView3, ArrayViewMut3};

use super::gpu::{self, GpuContext};
use super::{batch::*, cpu};
use crate::error::{Error, Result};
use crate::invalid;

/// Which backend to run kernels on (`--backend`, or the `SUPERION_BACKEND` variable).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendChoice {
    /// A hardware GPU when one exists, else the CPU path. A software adapter
    /// (lavapipe) is 10-20x slower than plain Rust, so `auto` never picks it.
    #[default]
    Auto,
    /// wgpu on the best adapter there is, software adapters included (how the tests
    /// and CI exercise the shaders).
    Gpu,
    /// The multi-threaded CPU twins.
    Cpu,
}

impl BackendChoice {
    /// The name `FromStr` reads ("auto", "gpu", "cpu").
    pub fn name(self) -> &'static str {
        match self {
            BackendChoice::Auto => "auto",
            BackendChoice::Gpu => "gpu",
            BackendChoice::Cpu => "cpu",
        }
    }
}

impl std::str::FromStr for BackendChoice {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" | "" => Ok(BackendChoice::Auto),
            "gpu" => Ok(BackendChoice::Gpu),
            "cpu" => Ok(BackendChoice::Cpu),
            other => Err(invalid!("backend must be auto, gpu or cpu, not {other:?}")),
        }
    }
}

/// A kernel runner bound to one backend for its lifetime.
#[derive(Clone)]
pub struct Engine {
    gpu: Option<Arc<GpuContext>>,
    /// Why this backend was chosen (for `superion devices` and verbose logs).
    pub reason: String,
    /// Trajectories unwrapped by this engine and its clones (see [`Engine::unwraps`]).
    unwraps: Arc<AtomicUsize>,
}

impl Engine {
    /// The CPU path.
    pub fn cpu() -> Engine {
        Engine {
            gpu: None,
            reason: "CPU requested".into(),
            unwraps: Default::default(),
        }
    }

    /// Resolve a backend request. `gpu` fails if no adapter can be opened; `auto`
    /// falls back to the CPU and says why.
    pub fn new(choice: BackendChoice) -> Result<Engine> {
        match choice {
            BackendChoice::Cpu => Ok(Engine::cpu()),
            BackendChoice::Gpu => {
                let ctx = GpuContext::shared(false)?;
                let reason = format!(
                    "GPU requested: {} ({})",
                    ctx.summary.name, ctx.summary.backend
                );
                Ok(Engine {
                    gpu: Some(ctx),
                    reason,
                    unwraps: Default::default(),
                })
            }
            BackendChoice::Auto => {
                let adapters = gpu::enumerate_on(wgpu::Backends::PRIMARY);
                if gpu::pick(&adapters, true).is_none() {
                    let seen = if adapters.is_empty() {
                        "no adapter at all".to_string()
                    } else {
                        adapters
                            .iter()
                            .map(|a| format!("{} ({}, {})", a.name, a.backend, a.device_type))
                            .collect::<Vec<_>>()
                            .join(", ")
                    };
                    return Ok(Engine {
                        gpu: None,
                        reason: format!(
                            "auto: no hardware GPU (seen: {seen}); the CPU path is faster \
                             than a software adapter"
                        ),
                        unwraps: Default::default(),
                    });
                }
                match GpuContext::shared(true) {
                    Ok(ctx) => Ok(Engine {
                        reason: format!(
                            "auto: hardware GPU {} ({})",
                            ctx.summary.name, ctx.summary.backend
                        ),
                        gpu: Some(ctx),
                        unwraps: Default::default(),
                    }),
                    Err(e) => Ok(Engine {
                        gpu: None,
                        reason: format!("auto: GPU unusable ({e}); CPU path"),
                        unwraps: Default::default(),
                    }),
                }
            }
        }
    }

    /// `SUPERION_BACKEND` if set, else `auto`.
    pub fn from_env() -> Result<Engine> {
        let choice = match std::env::var("SUPERION_BACKEND") {
            Ok(v) => v.parse()?,
            Err(_) => BackendChoice::Auto,
        };
        Engine::new(choice)
    }

    /// How many trajectories this engine (and its clones) has unwrapped: analyses that
    /// share one [`crate::traj::Prepared`] trajectory add one between them.
    pub fn unwraps(&self) -> usize {
        self.unwraps.load(Ordering::Relaxed)
    }

    /// The GPU context, when this engine runs on one.
    pub fn gpu(&self) -> Option<&GpuContext> {
        self.gpu.as_deref()
    }

    /// Host-device traffic so far (None on the CPU path): take differences around a
    /// call to see its submits (host waits), dispatches and bytes up and down.
    pub fn traffic(&self) -> Option<gpu::Traffic> {
        self.gpu.as_deref().map(GpuContext::traffic)
    }

    /// `"cpu"` or `"gpu: <adapter> (<api>)"`.
    pub fn describe(&self) -> String {
        match &self.gpu {
            None => "cpu".into(),
            Some(ctx) => format!(
                "gpu: {} ({}, {})",
                ctx.summary.name, ctx.summary.backend, ctx.summary.device_type
            ),
        }
    }

    /// Squared Euclidean distances between the rows of `x` (n x d) and `y` (m x d).
    pub fn pairwise_sq_dists(&self, x: ArrayView2<f32>, y: ArrayView2<f32>) -> Result<Array2<f32>> {
        check_same_dims(x, y)?;
        match &self.gpu {
            Some(ctx) => gpu::pairwise::sq_dists(ctx, x, y),
            None => Ok(cpu::pairwise::sq_dists(x, y)),
        }
    }

    /// The same distances delivered in row-and-column tiles of at most `tile_bytes`
    /// to `sink(row0, col0, tile)`, for consumers that must not hold n x m at once.
    pub fn pairwise_sq_dists_tiles(
        &self,
        x: ArrayView2<f32>,
        y: ArrayView2<f32>,
        tile_bytes: u64,
        sink: impl FnMut(usize, usize, ArrayView2<f32>) -> Result<()>,
    ) -> Result<()> {
        check_same_dims(x, y)?;
        match &self.gpu {
            Some(ctx) => gpu::pairwise::sq_dists_tiles(ctx, x, y, tile_bytes, sink),
            None => cpu::pairwise::sq_dists_tiles(x, y, tile_bytes, sink),
        }
    }

    /// The energy of a probe ion at every point of a periodic grid (eV, k fastest):
    /// the bond-valence site-energy landscape's kernel.
    pub fn site_energies(&self, grid: &EnergyGrid) -> Result<Vec<f32>> {
        let blocks: usize = grid.blocks().iter().product();
        if grid.starts.len() != blocks + 1
            || grid
                .starts
                .last()
                .is_some_and(|&s| s as usize != grid.candidates.len())
            || grid
                .candidates
                .iter()
                .any(|&c| c as usize >= grid.atoms.len())
        {
            return Err(invalid!(
                "site-energy grid: candidate lists do not match the blocks and atoms"
            ));
        }
        match &self.gpu {
            Some(ctx) => gpu::bvse::site_energies(ctx, grid),
            None => Ok(cpu::bvse::site_energies(grid)),
        }
    }

    /// Per-cluster sums of Euclidean distances (B x n x kmax), silhouette's input.
    pub fn cluster_dist_sums(&self, batch: &LabelledBatch) -> Result<Array3<f32>> {
        match &self.gpu {
            Some(ctx) => gpu::pairwise::cluster_dist_sums(ctx, batch),
            None => Ok(cpu::pairwise::cluster_dist_sums(batch)),
        }
    }

    /// Lloyd iterations from given initial centres for a batch of k-means problems.
    pub fn lloyd(&self, batch: &LloydBatch) -> Result<LloydResult> {
        self.lloyd_best(batch, 1)
    }

    /// [`Engine::lloyd`] for problems in groups of `restarts` consecutive ones (the
    /// same problem from different initial centres), keeping each group's best: the
    /// lowest inertia, the earliest on ties. One row of the result per group. On the
    /// GPU the choice is made before anything is read back, so only the kept
    /// restarts' labels and centres cross the bus.
    pub(crate) fn lloyd_best(&self, batch: &LloydBatch, restarts: usize) -> Result<LloydResult> {
        batch.validate()?;
        let r = restarts.max(1);
        if !batch.k.len().is_multiple_of(r) {
            return Err(invalid!(
                "{} problems are not whole groups of {r} restarts",
                batch.k.len()
            ));
        }
        match &self.gpu {
            Some(ctx) => gpu::kmeans::lloyd(ctx, batch, r),
            None => Ok(select_best(cpu::kmeans::lloyd(batch), r)),
        }
    }

    /// Unwrap fractional trajectories into Cartesian displacements from frame 0.
    pub fn unwrap(&self, traj: &FracTrajectory, long_step_a: f32) -> Result<Unwrapped> {
        self.unwraps.fetch_add(1, Ordering::Relaxed);
        let mut disp = Array3::<f32>::zeros(traj.frac.raw_dim());
        let long_steps = self.unwrap_into(traj, long_step_a, disp.view_mut())?;
        Ok(Unwrapped {
            disp,
            origin: cpu::displacement::origin(traj),
            long_steps,
        })
    }

    /// [`Engine::unwrap`] into a caller-owned T x N x 3 buffer, reusable across calls.
    pub(crate) fn unwrap_into(
        &self,
        traj: &FracTrajectory,
        long_step_a: f32,
        disp: ArrayViewMut3<f32>,
    ) -> Result<LongSteps> {
        traj.validate()?;
        if disp.dim() != traj.frac.dim() {
            return Err(invalid!(
                "output buffer {:?} does not match the trajectory {:?}",
                disp.dim(),
                traj.frac.dim()
            ));
        }
        match &self.gpu {
            Some(ctx) => {
                check_unwrappable(traj)?;
                gpu::displacement::unwrap_into(ctx, traj, long_step_a, disp)
            }
            None => cpu::displacement::unwrap_into(traj, long_step_a, disp),
        }
    }

    /// An unwrap scan of `n` atoms to be fed consecutive blocks of frames (a streamed
    /// trajectory), on this engine's backend: the same displacements as
    /// [`Engine::unwrap`] of all the frames at once. Steps longer than `long_step_a`
    /// (Å) are counted.
    pub fn unwrap_scan(&self, n: usize, long_step_a: f32) -> Result<UnwrapScan> {
        Ok(match &self.gpu {
            Some(ctx) => UnwrapScan::Gpu(gpu::displacement::UnwrapStream::new(
                ctx.clone(),
                n,
                long_step_a,
            )?),
            None => UnwrapScan::Cpu(cpu::displacement::UnwrapScan::new(n, long_step_a)),
        })
    }

    /// For each lag and atom: the sum over time origins of the squared displacement
    /// per axis (L x N x 3, in f64), the building block of the MSD.
    pub fn windowed_sq_disp(&self, disp: ArrayView3<f32>, lags: &[usize]) -> Result<Array3<f64>> {
        let t = disp.shape()[0];
        if let Some(&bad) = lags.iter().find(|&&l| l >= t.max(1)) {
            return Err(invalid!(
                "lag {bad} frames needs more than the {t} frames given"
            ));
        }
        match &self.gpu {
            Some(ctx) => gpu::displacement::windowed_sq_disp(ctx, disp, lags),
            None => Ok(cpu::displacement::windowed_sq_disp(disp, lags)),
        }
    }

    /// Unwrap `traj`, remove from every frame the mean displacement of the drift
    /// reference, and take the selected atoms' self MSD at each lag, with the summed
    /// displacement the collective MSD needs (see [`SelfMsd`]). Steps longer than
    /// `long_step_a` (Å) are counted. On the GPU the displacements stay on the device:
    /// the frames go up, and only the MSD, the per-frame totals and the long-step
    /// statistics come back. On the CPU: the unwrap, then the MSD by FFT in f64.
    pub fn unwrapped_self_msd(
        &self,
        traj: &FracTrajectory,
        long_step_a: f32,
        sel: &MsdSelection,
        lags: &[usize],
    ) -> Result<SelfMsd> {
        traj.validate()?;
        let (t, n, _) = traj.frac.dim();
        sel.validate(n)?;
        if let Some(&bad) = lags.iter().find(|&&l| l >= t.max(1)) {
            return Err(invalid!(
                "lag {bad} frames needs more than the {t} frames given"
            ));
        }
        self.unwraps.fetch_add(1, Ordering::Relaxed);
        match &self.gpu {
            Some(ctx) => {
                check_unwrappable(traj)?;
                gpu::displacement::unwrapped_self_msd(ctx, traj, long_step_a, sel, lags)
            }
            None => cpu::displacement::unwrapped_self_msd(traj, long_step_a, sel, lags),
        }
    }

    /// Self MSD per atom and axis (N x L x 3), averaged over the T − m origins of each
    /// lag m, of `ns` atoms of `t` frames whose series
    /// `series(atom, axis, out)` appends to the empty `out`: on the CPU each series is
    /// gathered where it lies (no T x N x 3 copy), on the GPU into the array it uploads.
    pub(crate) fn self_msd_of(
        &self,
        t: usize,
        ns: usize,
        series: impl Fn(usize, usize, &mut Vec<f64>) + Sync,
        lags: &[usize],
    ) -> Result<Array3<f64>> {
        if let Some(&bad) = lags.iter().find(|&&l| l >= t.max(1)) {
            return Err(invalid!(
                "lag {bad} frames needs more than the {t} frames given"
            ));
        }
        let checked = |a: usize, ax: usize, out: &mut Vec<f64>| {
            series(a, ax, out);
            debug_assert_eq!(out.len(), t, "a series of {t} frames");
        };
        if self.gpu.is_none() {
            return Ok(cpu::fft::self_msd_of(ns, checked, lags));
        }
        let mut u32 = Array3::<f32>::zeros((t, ns, 3));
        let mut one = Vec::with_capacity(t);
        for a in 0..ns {
            for ax in 0..3 {
                one.clear();
                checked(a, ax, &mut one);
                for (f, v) in one.iter().enumerate() {
                    u32[[f, a, ax]] = *v as f32;
                }
            }
        }
        let sums = self.windowed_sq_disp(u32.view(), lags)?; // L x N x 3
        let mut out = Array3::<f64>::zeros((ns, lags.len(), 3));
        for (l, &lag) in lags.iter().enumerate() {
            for a in 0..ns {
                for ax in 0..3 {
                    out[[a, l, ax]] = sums[[l, a, ax]] / (t - lag) as f64;
                }
            }
        }
        Ok(out)
    }
}

fn check_same_dims(x: ArrayView2<f32>, y: ArrayView2<f32>) -> Result<()> {
    if x.ncols() != y.ncols() {
        return Err(invalid!(
            "x has {} columns but y has {}",
            x.ncols(),
            y.ncols()
        ));
    }
    Ok(())
}

/// The shader cannot report a coordinate it cannot unwrap (the CPU twin does, inside
/// its scan): checked on the host before the frames go up.
fn check_unwrappable(traj: &FracTrajectory) -> Result<()> {
    match traj.frac.iter().find(|v| !(v.abs() < 2_097_152.0)) {
        Some(v) => Err(invalid!(
            "fractional coordinate {v} is not finite or beyond ±2^21 cells"
        )),
        None => Ok(()),
    }
}

/// An unwrap scan fed consecutive blocks of frames, on the CPU or the GPU (see
/// [`Engine::unwrap_scan`]).
pub enum UnwrapScan {
    Cpu(cpu::displacement::UnwrapScan),
    Gpu(gpu::displacement::UnwrapStream),
}

impl UnwrapScan {
    /// Frames scanned so far.
    pub fn frames(&self) -> usize {
        match self {
            UnwrapScan::Cpu(s) => s.frames(),
            UnwrapScan::Gpu(s) => s.frames(),
        }
    }

    /// Unwrap the next frames `traj` into `disp` (the same shape).
    pub fn advance(&mut self, traj: &FracTrajectory, disp: ArrayViewMut3<f32>) -> Result<()> {
        traj.validate()?;
        match self {
            UnwrapScan::Cpu(s) => s.advance(traj, disp),
            UnwrapScan::Gpu(s) => {
                check_unwrappable(traj)?;
                s.advance(traj, disp)
            }
        }
    }

    /// The long steps seen so far.
    pub fn long_steps(&self) -> Result<LongSteps> {
        match self {
            UnwrapScan::Cpu(s) => Ok(s.long_steps()),
            UnwrapScan::Gpu(s) => s.long_steps(),
        }
    }
}
