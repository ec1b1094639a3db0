//! The kernels' batch types and shared constants: what the engine hands to each
//! backend and what comes back. Both backends (`cpu`, `gpu`) depend on this module and
//! on nothing above it.

use ndarray::{Array2, Array3, ArrayView2, ArrayView3};

use crate::error::Result;
use crate::{geom, invalid};

/// Points per partial-sum chunk of the k-means reduction (must match `CHUNK` in
/// `shaders/kmeans.wgsl`; the CPU twin sums in the same chunks).
pub(crate) const CHUNK: usize = 256;

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
    pub(crate) fn kmax(&self) -> usize {
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
    /// B x kmax x d; rows at and beyond k\[b\] are ignored.
    pub init: ArrayView3<'a, f32>,
    /// Absolute tolerance on the summed squared centre shift, per problem.
    pub tol: &'a [f32],
    pub max_iter: u32,
}

impl LloydBatch<'_> {
    pub(crate) fn kmax(&self) -> usize {
        self.k.iter().copied().max().unwrap_or(1) as usize
    }

    pub(crate) fn validate(&self) -> Result<()> {
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

/// Inertia from each point's squared distance to its centre: Kahan-compensated f32 sums
/// over chunks of [`CHUNK`] points in order, the chunks added in order in f64. The GPU
/// sums the chunks on the device (`inertia_chunks` in `shaders/kmeans.wgsl`) and the
/// host adds them with [`inertia_of_chunks`], so both backends give the same value.
pub(crate) fn inertia_of(mindist: &[f32]) -> f64 {
    let chunks: Vec<f32> = mindist.chunks(CHUNK).map(kahan_f32).collect();
    inertia_of_chunks(&chunks)
}

/// The chunks' sums added in order (see [`inertia_of`]).
pub(crate) fn inertia_of_chunks(chunks: &[f32]) -> f64 {
    chunks.iter().map(|&v| v as f64).sum()
}

/// A Kahan-compensated f32 sum in order, as the shader computes it.
fn kahan_f32(v: &[f32]) -> f32 {
    let (mut sum, mut comp) = (0.0f32, 0.0f32);
    for &x in v {
        let y = x - comp;
        let t = sum + y;
        comp = (t - sum) - y;
        sum = t;
    }
    sum
}

/// For each group of `restarts` consecutive problems, the one with the lowest inertia
/// (ties: the earliest).
pub(crate) fn best_of_groups(inertia: &[f64], restarts: usize) -> Vec<usize> {
    let r = restarts.max(1);
    (0..inertia.len() / r)
        .map(|g| {
            (g * r..(g + 1) * r)
                .min_by(|&a, &b| inertia[a].total_cmp(&inertia[b]).then(a.cmp(&b)))
                .expect("restarts >= 1")
        })
        .collect()
}

/// The best of each group of `restarts` consecutive problems of `all` (see
/// [`best_of_groups`]).
pub(crate) fn select_best(all: LloydResult, restarts: usize) -> LloydResult {
    if restarts <= 1 {
        return all;
    }
    let best = best_of_groups(&all.inertia, restarts);
    LloydResult {
        labels: all.labels.select(ndarray::Axis(0), &best),
        centres: all.centres.select(ndarray::Axis(0), &best),
        inertia: best.iter().map(|&b| all.inertia[b]).collect(),
        n_iter: best.iter().map(|&b| all.n_iter[b]).collect(),
    }
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
    /// An unwrap scan of `n` atoms writes these frames into an output of shape `out`.
    pub(crate) fn check_output(&self, out: (usize, usize, usize), n: usize) -> Result<()> {
        if out != self.frac.dim() || self.frac.shape()[1] != n {
            return Err(invalid!(
                "output buffer {:?} does not match the trajectory {:?} of {} atoms",
                out,
                self.frac.dim(),
                n
            ));
        }
        Ok(())
    }

    pub(crate) fn validate(&self) -> Result<()> {
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
            let det = geom::det(&geom::mat3_of(cell));
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

/// The atoms whose self MSD [`crate::compute::Engine::unwrapped_self_msd`] takes: the
/// selected atoms, and the atoms whose mean displacement is removed from every frame
/// first (the drift reference; `None`: no drift correction).
#[derive(Debug, Clone, Copy)]
pub struct MsdSelection<'a> {
    pub atoms: &'a [usize],
    pub reference: Option<&'a [usize]>,
}

impl MsdSelection<'_> {
    pub(crate) fn validate(&self, n: usize) -> Result<()> {
        let all = self.atoms.iter().chain(self.reference.unwrap_or(&[]));
        if let Some(&bad) = all.clone().find(|&&a| a >= n) {
            return Err(invalid!(
                "atom index {bad} is out of range: the trajectory has {n} atoms"
            ));
        }
        if self.atoms.is_empty() {
            return Err(invalid!("no atoms selected for the MSD"));
        }
        if self.reference.is_some_and(|r| r.is_empty()) {
            return Err(invalid!("the drift reference holds no atoms"));
        }
        Ok(())
    }
}

/// Self MSD of the selected atoms of an unwrapped trajectory, and what the collective
/// MSD needs: no displacement of any frame.
#[derive(Debug, Clone)]
pub struct SelfMsd {
    /// Per selected atom, lag and axis (Ns x L x 3, Å²), averaged over the T − m origins.
    pub per_atom: Array3<f64>,
    /// Summed displacement of the selected atoms per frame (T x 3, Å), drift removed.
    pub summed: Array2<f64>,
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

/// Inverses of each cell, computed in f64 and stored as f32 (both backends use these).
pub(crate) fn inverse_cells(cells: ArrayView3<f32>) -> Array3<f32> {
    let mut inv = Array3::<f32>::zeros(cells.raw_dim());
    for (m, mut out) in cells.outer_iter().zip(inv.outer_iter_mut()) {
        let i = geom::inverse(&geom::mat3_of(m));
        out.indexed_iter_mut()
            .for_each(|((r, c), v)| *v = i[r][c] as f32);
    }
    inv
}

impl LongSteps {
    /// Reduce per-atom (count, max len² bits, frame) statistics to the report.
    pub(crate) fn from_stats(stats: &[[u32; 4]]) -> LongSteps {
        let mut out = LongSteps::default();
        let mut worst2 = 0.0f32;
        for (a, st) in stats.iter().enumerate() {
            out.count += st[0] as u64;
            let l2 = f32::from_bits(st[1]);
            if st[0] > 0 && l2 > worst2 {
                worst2 = l2;
                out.worst_atom = a;
                out.worst_frame = st[2] as usize;
            }
        }
        out.worst_a = worst2.sqrt();
        out
    }
}

/// One term of a site-energy landscape: an atom (a periodic image, Cartesian Å) and its
/// pair potential with the probe ion. `kind` 0 is a Morse-type bond-valence term
/// `d0/2 ((exp(alpha (r_min - r)) - 1)^2 - 1)` with `a = r_min`, `b = alpha`, `c = d0`;
/// kind 1 is a screened Coulomb term `a / r · erfc(b r)` (`a` = 14.4 q1 q2 /
/// sqrt(n1 n2) eV Å, `b` = 1 / screening length). Laid out as the shader reads it.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct GridAtom {
    pub pos: [f32; 3],
    pub kind: u32,
    pub a: f32,
    pub b: f32,
    pub c: f32,
    pub _pad: f32,
}

/// Grid points per block edge: a block of 4 x 4 x 4 points shares one candidate list
/// (and is one workgroup of 64 lanes on the GPU).
pub(crate) const GRID_BLOCK: usize = 4;

/// A periodic grid of probe positions in one cell and the atoms around it, with each
/// block's candidates (every atom within the cutoff of some point of the block) listed
/// once: the energy at a point is the sum of the terms of its block's candidates closer
/// than `cutoff_a`, added in candidate order on both backends.
#[derive(Clone, Debug)]
pub struct EnergyGrid {
    /// Lattice vectors as rows (Å).
    pub lattice: [[f32; 3]; 3],
    /// Points along a, b, c; point (i, j, k) sits at (i/na, j/nb, k/nc), and energies
    /// come back with k fastest.
    pub n: [usize; 3],
    pub cutoff_a: f32,
    pub atoms: Vec<GridAtom>,
    /// Candidates of block b: `candidates[starts[b]..starts[b + 1]]` (indices into `atoms`).
    pub starts: Vec<u32>,
    pub candidates: Vec<u32>,
}

impl EnergyGrid {
    /// Blocks along each axis.
    pub fn blocks(&self) -> [usize; 3] {
        self.n.map(|n| n.div_ceil(GRID_BLOCK))
    }

    pub fn points(&self) -> usize {
        self.n.iter().product()
    }

    /// The Cartesian position of point (i, j, k), in f32 as both backends compute it.
    #[inline]
    pub fn point(&self, idx: [usize; 3]) -> [f32; 3] {
        let f: [f32; 3] = std::array::from_fn(|a| idx[a] as f32 / self.n[a] as f32);
        std::array::from_fn(|k| {
            f[0] * self.lattice[0][k] + f[1] * self.lattice[1][k] + f[2] * self.lattice[2][k]
        })
    }
}

/// erfc(x) for x >= 0 by Abramowitz & Stegun 7.1.26 (absolute error below 1.5e-7), the
/// same operations as the shader's `erfc_as`.
#[inline]
pub fn erfc_as(x: f32) -> f32 {
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let poly = t
        * (0.254_829_6
            + t * (-0.284_496_74 + t * (1.421_413_8 + t * (-1.453_152_1 + t * 1.061_405_4))));
    poly * (-x * x).exp()
}

/// One term of a [`GridAtom`] at distance `r` (Å), in eV.
#[inline]
pub fn grid_term(atom: &GridAtom, r: f32) -> f32 {
    let r = r.max(1e-4);
    if atom.kind == 0 {
        let e = (atom.b * (atom.a - r)).exp() - 1.0;
        0.5 * atom.c * (e * e - 1.0)
    } else {
        atom.a / r * erfc_as(atom.b * r)
    }
}
