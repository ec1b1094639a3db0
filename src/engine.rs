//! The compute engine: one entry point per kernel family, run on the GPU (wgpu) or on
//! the CPU twin. Analysis code holds an [`Engine`] and asks it for "pairwise distances",
//! "a batch of Lloyd iterations" or "unwrap these frames"; it never sees buffers.

use std::sync::Arc;

use ndarray::{Array2, Array3, ArrayView2, ArrayView3, ArrayViewMut3};

use crate::error::{Error, Result};
use crate::gpu::{self, GpuContext};
use crate::{cpu, invalid};

/// Which backend to run kernels on (`--backend`, or the `SUPERION_BACKEND` variable).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
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
}

impl Engine {
    /// The CPU path.
    pub fn cpu() -> Engine {
        Engine {
            gpu: None,
            reason: "CPU requested".into(),
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
                    });
                }
                match GpuContext::shared(true) {
                    Ok(ctx) => Ok(Engine {
                        reason: format!(
                            "auto: hardware GPU {} ({})",
                            ctx.summary.name, ctx.summary.backend
                        ),
                        gpu: Some(ctx),
                    }),
                    Err(e) => Ok(Engine {
                        gpu: None,
                        reason: format!("auto: GPU unusable ({e}); CPU path"),
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

    /// The GPU context, when this engine runs on one.
    pub fn gpu(&self) -> Option<&GpuContext> {
        self.gpu.as_deref()
    }

    /// Host-device traffic so far (None on the CPU path): take differences around a
    /// call to see its submits (host waits), dispatches and bytes up and down.
    pub fn traffic(&self) -> Option<crate::gpu::Traffic> {
        self.gpu.as_deref().map(GpuContext::traffic)
    }

    /// "cpu" or "gpu: <adapter> (<api>)".
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

    /// Per-cluster sums of Euclidean distances (B x n x kmax), silhouette's input.
    pub fn cluster_dist_sums(&self, batch: &LabelledBatch) -> Result<Array3<f32>> {
        match &self.gpu {
            Some(ctx) => gpu::pairwise::cluster_dist_sums(ctx, batch),
            None => Ok(cpu::pairwise::cluster_dist_sums(batch)),
        }
    }

    /// Lloyd iterations from given initial centres for a batch of k-means problems.
    pub fn lloyd(&self, batch: &LloydBatch) -> Result<LloydResult> {
        batch.validate()?;
        match &self.gpu {
            Some(ctx) => gpu::kmeans::lloyd(ctx, batch),
            None => Ok(cpu::kmeans::lloyd(batch)),
        }
    }

    /// Unwrap fractional trajectories into Cartesian displacements from frame 0.
    pub fn unwrap(&self, traj: &FracTrajectory, long_step_a: f32) -> Result<Unwrapped> {
        let mut disp = Array3::<f32>::zeros(traj.frac.raw_dim());
        let long_steps = self.unwrap_into(traj, long_step_a, disp.view_mut())?;
        Ok(Unwrapped {
            disp,
            origin: cpu::displacement::origin(traj),
            long_steps,
        })
    }

    /// [`Engine::unwrap`] into a caller-owned T x N x 3 buffer, reusable across calls.
    pub fn unwrap_into(
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
                // The CPU twin detects these inside its scan; the shader cannot report.
                if let Some(v) = traj.frac.iter().find(|v| !(v.abs() < 2_097_152.0)) {
                    return Err(invalid!(
                        "fractional coordinate {v} is not finite or beyond ±2^21 cells"
                    ));
                }
                gpu::displacement::unwrap_into(ctx, traj, long_step_a, disp)
            }
            None => cpu::displacement::unwrap_into(traj, long_step_a, disp),
        }
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

/// B labelled problems that share the number of points n and dimensions d.
/// Problem b uses point set `set_of[b]` of `points` (P x n x d), labels `labels[b]`
/// (each below `k[b]`). Hop detection has one point set per ion and one problem per
/// (ion, k); model selection has one point set and one problem per k.
#[derive(Debug, Clone, Copy)]
pub struct LabelledBatch<'a> {
    pub points: ArrayView3<'a, f32>,
    pub set_of: &'a [u32],
    pub labels: ArrayView2<'a, u32>,
    pub k: &'a [u32],
}

impl<'a> LabelledBatch<'a> {
    pub fn new(
        points: ArrayView3<'a, f32>,
        set_of: &'a [u32],
        labels: ArrayView2<'a, u32>,
        k: &'a [u32],
    ) -> Result<Self> {
        let (p, n, _) = points.dim();
        let b = labels.nrows();
        if set_of.len() != b || k.len() != b {
            return Err(invalid!(
                "{b} label rows but {} set indices and {} k values",
                set_of.len(),
                k.len()
            ));
        }
        if labels.ncols() != n {
            return Err(invalid!(
                "labels have {} columns, points have {n} rows",
                labels.ncols()
            ));
        }
        if let Some(s) = set_of.iter().find(|&&s| s as usize >= p) {
            return Err(invalid!("point set {s} does not exist (there are {p})"));
        }
        for (row, &kb) in labels.outer_iter().zip(k) {
            if kb == 0 {
                return Err(invalid!("k must be at least 1"));
            }
            if let Some(l) = row.iter().find(|&&l| l >= kb) {
                return Err(invalid!("label {l} is not below k = {kb}"));
            }
        }
        Ok(LabelledBatch {
            points,
            set_of,
            labels,
            k,
        })
    }

    /// The largest k in the batch (row width of per-cluster outputs).
    pub fn kmax(&self) -> usize {
        self.k.iter().copied().max().unwrap_or(1) as usize
    }

    /// The point sets problems `range` use, packed, and their set indices into that pack.
    pub(crate) fn sets_for(&self, range: std::ops::Range<usize>) -> (Vec<f32>, Vec<u32>) {
        pack_sets(self.points, &self.set_of[range])
    }

    /// Per problem in `range`: point indices sorted by label (stable) and the start of
    /// each cluster's run, padded with n up to kmax + 1 entries.
    pub(crate) fn sorted_order(&self, range: std::ops::Range<usize>) -> (Vec<u32>, Vec<u32>) {
        let n = self.labels.ncols();
        let kmax = self.kmax();
        let mut order = Vec::with_capacity(range.len() * n);
        let mut starts = Vec::with_capacity(range.len() * (kmax + 1));
        for b in range {
            let row = self.labels.row(b);
            let mut counts = vec![0u32; kmax + 1];
            for &l in row {
                counts[l as usize + 1] += 1;
            }
            for c in 0..kmax {
                counts[c + 1] += counts[c];
            }
            starts.extend_from_slice(&counts);
            let mut next = counts;
            let base = order.len();
            order.resize(base + n, 0);
            for (i, &l) in row.iter().enumerate() {
                order[base + next[l as usize] as usize] = i as u32;
                next[l as usize] += 1;
            }
        }
        (order, starts)
    }
}

/// Pack the distinct point sets named by `set_of` and remap the indices to the pack.
pub(crate) fn pack_sets(points: ArrayView3<f32>, set_of: &[u32]) -> (Vec<f32>, Vec<u32>) {
    let mut remap = std::collections::HashMap::new();
    let mut packed = Vec::new();
    let mut local = Vec::with_capacity(set_of.len());
    for &s in set_of {
        let next = remap.len() as u32;
        let id = *remap.entry(s).or_insert_with(|| {
            packed.extend(
                points
                    .index_axis(ndarray::Axis(0), s as usize)
                    .iter()
                    .copied(),
            );
            next
        });
        local.push(id);
    }
    (packed, local)
}

/// Lloyd iterations for B independent k-means problems sharing n and d (see
/// [`LabelledBatch`] for the point-set layout). Initial centres come from the host,
/// which is what makes both backends give the same labels for the same seed.
#[derive(Debug, Clone)]
pub struct LloydBatch<'a> {
    pub points: ArrayView3<'a, f32>,
    pub set_of: &'a [u32],
    pub k: &'a [u32],
    /// B x kmax x d; rows at and beyond k[b] are ignored.
    pub init: ArrayView3<'a, f32>,
    /// Absolute tolerance on the summed squared centre shift, per problem.
    pub tol: &'a [f32],
    pub max_iter: u32,
}

impl LloydBatch<'_> {
    pub fn kmax(&self) -> usize {
        self.k.iter().copied().max().unwrap_or(1) as usize
    }

    fn validate(&self) -> Result<()> {
        let (p, n, d) = self.points.dim();
        let b = self.k.len();
        if self.set_of.len() != b || self.tol.len() != b {
            return Err(invalid!(
                "{b} problems but {} set indices and {} tolerances",
                self.set_of.len(),
                self.tol.len()
            ));
        }
        if self.init.dim() != (b, self.kmax(), d) {
            return Err(invalid!(
                "initial centres have shape {:?}, expected ({b}, {}, {d})",
                self.init.dim(),
                self.kmax()
            ));
        }
        if let Some(s) = self.set_of.iter().find(|&&s| s as usize >= p) {
            return Err(invalid!("point set {s} does not exist (there are {p})"));
        }
        if let Some(&k) = self.k.iter().find(|&&k| k == 0 || k as usize > n) {
            return Err(invalid!(
                "k = {k} is not between 1 and the number of points ({n})"
            ));
        }
        if self.max_iter == 0 {
            return Err(invalid!("max_iter must be at least 1"));
        }
        Ok(())
    }
}

/// What Lloyd's algorithm returns for a batch.
#[derive(Debug, Clone)]
pub struct LloydResult {
    /// B x n, consistent with `centres` (a final assignment step follows the last update).
    pub labels: Array2<u32>,
    /// B x kmax x d.
    pub centres: Array3<f32>,
    /// Sum of squared distances of points to their centres, per problem.
    pub inertia: Vec<f64>,
    /// Lloyd iterations run, per problem.
    pub n_iter: Vec<u32>,
}

/// Fractional coordinates of a trajectory with its cells: `frac` is T x N x 3,
/// `cells` is 1 x 3 x 3 (fixed cell) or T x 3 x 3 (one per frame), rows are the
/// lattice vectors in Å, so Cartesian r = s · L.
#[derive(Debug, Clone, Copy)]
pub struct FracTrajectory<'a> {
    pub frac: ArrayView3<'a, f32>,
    pub cells: ArrayView3<'a, f32>,
}

impl FracTrajectory<'_> {
    fn validate(&self) -> Result<()> {
        let (t, _, three) = self.frac.dim();
        if three != 3 {
            return Err(invalid!("positions must have 3 components, not {three}"));
        }
        let nc = self.cells.shape()[0];
        if self.cells.shape()[1..] != [3, 3] || (nc != 1 && nc != t) {
            return Err(invalid!(
                "cells must be 1x3x3 or {t}x3x3, not {:?}",
                self.cells.shape()
            ));
        }
        for (f, cell) in self.cells.outer_iter().enumerate() {
            let det = crate::cpu::displacement::det3(cell);
            if !det.is_finite() || det.abs() < 1e-6 {
                return Err(invalid!("cell of frame {f} is singular (volume {det} Å³)"));
            }
        }
        Ok(())
    }

    /// Whether every cell is orthogonal (rounding alone then gives the minimum image).
    pub(crate) fn orthogonal(&self) -> bool {
        self.cells.outer_iter().all(|c| {
            (0..3).all(|i| (0..3).all(|j| i == j || c[[i, j]].abs() <= 1e-6 * c[[i, i]].abs()))
        })
    }

    /// The cell of frame `t`.
    pub(crate) fn cell(&self, t: usize) -> ArrayView2<'_, f32> {
        let i = if self.cells.shape()[0] == 1 { 0 } else { t };
        self.cells.index_axis(ndarray::Axis(0), i)
    }
}

/// Unwrapped trajectory: Cartesian displacements from frame 0 (T x N x 3, Å) and the
/// frame-0 Cartesian positions, plus the ambiguous-step report.
#[derive(Debug, Clone)]
pub struct Unwrapped {
    pub disp: Array3<f32>,
    pub origin: Array2<f32>,
    pub long_steps: LongSteps,
}

/// Frame-to-frame steps longer than the threshold given to `unwrap`: beyond about half
/// a cell the nearest image is ambiguous, so such steps deserve a warning.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct LongSteps {
    pub count: u64,
    /// The longest step (Å), with its atom and the frame it ends on.
    pub worst_a: f32,
    pub worst_atom: usize,
    pub worst_frame: usize,
}
