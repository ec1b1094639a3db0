//! k-means for many independent problems at once: initial centres are drawn on the
//! host from a seeded ChaCha stream (so both backends start from the same centres and
//! give the same labels), then the engine runs the Lloyd iterations for every
//! (problem, restart) pair in one batch, and the restart with the lowest inertia wins.

use ndarray::{Array2, Array3, ArrayView2, ArrayView3, Axis, s};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::compute::{Engine, LloydBatch};
use crate::error::Result;
use crate::invalid;

/// How initial centres are chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Init {
    /// Greedy k-means++ (Arthur & Vassilvitskii 2007), with 2 + ln k local trials per
    /// centre as scikit-learn does.
    KMeansPlusPlus,
    /// k distinct points chosen uniformly (scikit-learn's `init='random'`).
    Random,
}

/// Parameters shared by every problem of a batch (scikit-learn's names and defaults).
#[derive(Clone, Debug, serde::Serialize)]
pub struct KMeansParams {
    pub init: Init,
    pub n_init: u32,
    pub max_iter: u32,
    /// Relative tolerance: Lloyd stops when the summed squared centre shift is at most
    /// `tol` times the mean per-dimension variance of the points.
    pub tol: f64,
}

/// The most restarts a batch takes per problem (scikit-learn's default is 10).
pub(crate) const MAX_RESTARTS: u32 = 10_000;
/// The most initial-centre coordinates a batch holds (restarts x problems x k x d):
/// 2^28, 1 GiB of f32. Counted before anything is allocated.
pub(crate) const MAX_CENTRE_VALUES: usize = 1 << 28;

impl Default for KMeansParams {
    fn default() -> Self {
        KMeansParams {
            init: Init::KMeansPlusPlus,
            n_init: 10,
            max_iter: 300,
            tol: 1e-4,
        }
    }
}

/// One problem: cluster point set `set` into `k` clusters, seeded by `seed`.
#[derive(Clone, Copy, Debug)]
pub struct KMeansProblem {
    pub set: u32,
    pub k: u32,
    pub seed: u64,
}

/// The best restart of one problem.
#[derive(Clone, Debug)]
pub struct KMeansFit {
    pub labels: Vec<u32>,
    /// k x d
    pub centres: Array2<f32>,
    pub inertia: f64,
    pub n_iter: u32,
}

/// The RNG for restart `restart` of a problem seeded with `seed`.
fn rng_for(seed: u64, restart: u32) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(restart as u64);
    rng
}

fn sq_dist(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(x, y)| ((x - y) as f64).powi(2)).sum()
}

/// Greedy k-means++ initial centres (indices into `pts`).
pub(crate) fn kmeans_plusplus(pts: ArrayView2<f32>, k: usize, rng: &mut ChaCha8Rng) -> Vec<usize> {
    let n = pts.nrows();
    let row = |i: usize| pts.row(i).to_owned().into_raw_vec_and_offset().0;
    let trials = 2 + (k as f64).ln().floor() as usize;
    let first = rng.random_range(0..n);
    let mut chosen = vec![first];
    let c0 = row(first);
    let mut closest: Vec<f64> = (0..n)
        .into_par_iter()
        .map(|i| sq_dist(pts.row(i).as_slice().unwrap(), &c0))
        .collect();
    let mut pot: f64 = closest.iter().sum();
    for _ in 1..k {
        let mut cumsum = Vec::with_capacity(n);
        let mut acc = 0.0;
        for &v in &closest {
            acc += v;
            cumsum.push(acc);
        }
        let candidates: Vec<usize> = (0..trials)
            .map(|_| {
                let r = rng.random::<f64>() * pot;
                cumsum.partition_point(|&c| c < r).min(n - 1)
            })
            .collect();
        let mut best: Option<(f64, usize, Vec<f64>)> = None;
        for &cand in &candidates {
            let c = row(cand);
            let dist: Vec<f64> = closest
                .par_iter()
                .enumerate()
                .map(|(i, &old)| old.min(sq_dist(pts.row(i).as_slice().unwrap(), &c)))
                .collect();
            let p: f64 = dist.iter().sum();
            if best.as_ref().is_none_or(|(bp, _, _)| p < *bp) {
                best = Some((p, cand, dist));
            }
        }
        let (p, cand, dist) = best.expect("at least one candidate");
        chosen.push(cand);
        closest = dist;
        pot = p;
    }
    chosen
}

/// k distinct indices chosen uniformly (a partial Fisher-Yates shuffle).
pub(crate) fn random_points(n: usize, k: usize, rng: &mut ChaCha8Rng) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..n).collect();
    for i in 0..k {
        let j = rng.random_range(i..n);
        idx.swap(i, j);
    }
    idx.truncate(k);
    idx
}

/// Mean over dimensions of the per-dimension variance (scikit-learn's tolerance scale).
fn mean_variance(pts: ArrayView2<f32>) -> f64 {
    let (n, d) = pts.dim();
    // Per-dimension sums in f64 over row blocks (in parallel), the blocks' sums added
    // in block order (the same bits whatever the threads), then the two-pass variance.
    let sums = |f: &(dyn Fn(usize, f32) -> f64 + Sync)| -> Vec<f64> {
        let blocks: Vec<Vec<f64>> = pts
            .axis_chunks_iter(Axis(0), 4096)
            .into_par_iter()
            .map(|block| {
                let mut acc = vec![0.0f64; d];
                for row in block.outer_iter() {
                    for (t, (a, &v)) in acc.iter_mut().zip(row.iter()).enumerate() {
                        *a += f(t, v);
                    }
                }
                acc
            })
            .collect();
        let mut total = vec![0.0f64; d];
        for b in &blocks {
            for (t, x) in total.iter_mut().zip(b) {
                *t += x;
            }
        }
        total
    };
    let mean: Vec<f64> = sums(&|_, v| v as f64)
        .into_iter()
        .map(|s| s / n as f64)
        .collect();
    let var = sums(&|t, v| (v as f64 - mean[t]).powi(2));
    var.iter().sum::<f64>() / n as f64 / d.max(1) as f64
}

/// Solve every problem (each with `params.n_init` restarts) in one engine batch.
/// `points` is P x n x d; problem i clusters `points[problems[i].set]`.
pub fn kmeans_batch(
    engine: &Engine,
    points: ArrayView3<f32>,
    problems: &[KMeansProblem],
    params: &KMeansParams,
) -> Result<Vec<KMeansFit>> {
    let (p, n, d) = points.dim();
    if params.n_init == 0 || params.n_init > MAX_RESTARTS {
        return Err(invalid!(
            "option n_init {}: expected 1 to {MAX_RESTARTS} restarts",
            params.n_init
        ));
    }
    if !params.tol.is_finite() || params.tol < 0.0 {
        return Err(invalid!(
            "tol must be a finite non-negative number, not {}",
            params.tol
        ));
    }
    for pr in problems {
        if pr.set as usize >= p {
            return Err(invalid!(
                "point set {} does not exist (there are {p})",
                pr.set
            ));
        }
        if pr.k == 0 || pr.k as usize > n {
            return Err(invalid!(
                "k = {} must be between 1 and the number of points ({n})",
                pr.k
            ));
        }
    }
    let finite = points.as_slice().map_or_else(
        || points.iter().all(|v| v.is_finite()),
        |flat| {
            flat.par_chunks(1 << 16)
                .all(|c| c.iter().all(|v| v.is_finite()))
        },
    );
    if !finite {
        return Err(invalid!("points must be finite (found NaN or infinity)"));
    }
    let kmax = problems.iter().map(|p| p.k).max().unwrap_or(1) as usize;
    let r = params.n_init as usize;
    let total = problems.len() * r;
    if total
        .checked_mul(kmax)
        .and_then(|v| v.checked_mul(d))
        .is_none_or(|v| v > MAX_CENTRE_VALUES)
    {
        return Err(invalid!(
            "{} problems x {r} restarts x k up to {kmax} x {d} features: more than {MAX_CENTRE_VALUES} centre coordinates at once (fewer restarts, a smaller k range or fewer features)",
            problems.len()
        ));
    }
    let set_var: Vec<f64> = (0..p)
        .into_par_iter()
        .map(|s| mean_variance(points.index_axis(Axis(0), s)))
        .collect();

    // Problem-major, restart-minor: entry i * r + j is restart j of problem i.
    let mut init = Array3::<f32>::zeros((total, kmax, d));
    init.outer_iter_mut()
        .into_par_iter()
        .enumerate()
        .for_each(|(e, mut c)| {
            let pr = &problems[e / r];
            let pts = points.index_axis(Axis(0), pr.set as usize);
            let mut rng = rng_for(pr.seed, (e % r) as u32);
            let idx = match params.init {
                Init::KMeansPlusPlus => kmeans_plusplus(pts, pr.k as usize, &mut rng),
                Init::Random => random_points(n, pr.k as usize, &mut rng),
            };
            for (row, &i) in idx.iter().enumerate() {
                c.row_mut(row).assign(&pts.row(i));
            }
        });
    let set_of: Vec<u32> = (0..total).map(|e| problems[e / r].set).collect();
    let k: Vec<u32> = (0..total).map(|e| problems[e / r].k).collect();
    let tol: Vec<f32> = (0..total)
        .map(|e| (params.tol * set_var[problems[e / r].set as usize]) as f32)
        .collect();
    // Each problem's restarts are consecutive; the lowest inertia wins, ties go to
    // the earliest restart.
    let res = engine.lloyd_best(
        &LloydBatch {
            points,
            set_of: &set_of,
            k: &k,
            init: init.view(),
            tol: &tol,
            max_iter: params.max_iter,
        },
        r,
    )?;

    Ok(problems
        .iter()
        .enumerate()
        .map(|(i, pr)| KMeansFit {
            labels: res.labels.row(i).to_vec(),
            centres: res.centres.slice(s![i, ..pr.k as usize, ..]).to_owned(),
            inertia: res.inertia[i],
            n_iter: res.n_iter[i],
        })
        .collect())
}

/// k-means of one point set (n x d) for one k.
pub fn kmeans(
    engine: &Engine,
    x: ArrayView2<f32>,
    k: u32,
    seed: u64,
    params: &KMeansParams,
) -> Result<KMeansFit> {
    let points = x.insert_axis(Axis(0));
    Ok(kmeans_batch(engine, points, &[KMeansProblem { set: 0, k, seed }], params)?.remove(0))
}
