//! CPU twin of `shaders/kmeans.wgsl`: the same Lloyd iteration with the same
//! summation order (per-chunk partial sums in point order, then chunks in order), so
//! the two backends agree on labels for the same initial centres.

use ndarray::{Array2, Array3, ArrayView2, Axis};
use rayon::prelude::*;

use crate::engine::{LloydBatch, LloydResult};
use crate::gpu::kmeans::CHUNK;

/// Nearest centre to `x` among the first `k` rows of `centres_t` (stored transposed,
/// d x kmax, so the loop over centres vectorises). Each distance is still summed over
/// dimensions in ascending order, as the shader does. Ties go to the lower index.
#[inline]
fn nearest(x: &[f32], centres_t: &[f32], kmax: usize, k: usize, acc: &mut [f32]) -> (u32, f32) {
    acc[..k].fill(0.0);
    for (t, &xt) in x.iter().enumerate() {
        let row = &centres_t[t * kmax..t * kmax + k];
        for (a, &c) in acc[..k].iter_mut().zip(row) {
            let diff = xt - c;
            *a += diff * diff;
        }
    }
    let mut best = 0u32;
    let mut bestd = f32::MAX;
    for (c, &a) in acc[..k].iter().enumerate() {
        if a < bestd {
            bestd = a;
            best = c as u32;
        }
    }
    (best, bestd)
}

/// Assign every point of `pts` to its nearest centre; returns how many labels changed.
fn assign(
    pts: ArrayView2<f32>,
    centres: &Array2<f32>,
    k: usize,
    labels: &mut [u32],
    mindist: &mut [f32],
) -> usize {
    let (kmax, d) = centres.dim();
    let mut centres_t = vec![0.0f32; d * kmax];
    for c in 0..kmax {
        for t in 0..d {
            centres_t[t * kmax + c] = centres[[c, t]];
        }
    }
    labels
        .par_chunks_mut(CHUNK)
        .zip(mindist.par_chunks_mut(CHUNK))
        .enumerate()
        .map(|(ch, (ls, ds))| {
            let mut acc = vec![0.0f32; kmax];
            let mut moved = 0;
            for (j, (l, dist)) in ls.iter_mut().zip(ds.iter_mut()).enumerate() {
                let x = pts.row(ch * CHUNK + j);
                let (best, bestd) = nearest(x.as_slice().unwrap(), &centres_t, kmax, k, &mut acc);
                if *l != best {
                    moved += 1;
                }
                *l = best;
                *dist = bestd;
            }
            moved
        })
        .sum()
}

/// New centres from labels (same order of sums as the shader); returns the squared
/// shift of each centre. An empty cluster keeps its centre.
fn update(pts: ArrayView2<f32>, labels: &[u32], k: usize, centres: &mut Array2<f32>) -> Vec<f32> {
    let d = pts.ncols();
    // partials[chunk][c][t], counts[chunk][c]
    let partials: Vec<(Vec<f32>, Vec<u32>)> = labels
        .par_chunks(CHUNK)
        .enumerate()
        .map(|(ch, ls)| {
            let mut sums = vec![0.0f32; k * d];
            let mut counts = vec![0u32; k];
            for (j, &l) in ls.iter().enumerate() {
                let l = l as usize;
                counts[l] += 1;
                let x = pts.row(ch * CHUNK + j);
                for (s, &v) in sums[l * d..(l + 1) * d].iter_mut().zip(x.iter()) {
                    *s += v;
                }
            }
            (sums, counts)
        })
        .collect();
    let mut shifts = vec![0.0f32; k];
    for c in 0..k {
        let count: u32 = partials.iter().map(|(_, n)| n[c]).sum();
        let mut sh = 0.0f32;
        for t in 0..d {
            let mut s = 0.0f32;
            for (sums, _) in &partials {
                s += sums[c * d + t];
            }
            let old = centres[[c, t]];
            let nv = if count > 0 { s / count as f32 } else { old };
            let diff = nv - old;
            sh += diff * diff;
            centres[[c, t]] = nv;
        }
        shifts[c] = sh;
    }
    shifts
}

/// Lloyd iterations for every problem of the batch (problems in parallel, and the
/// points of each problem in parallel chunks).
pub fn lloyd(batch: &LloydBatch) -> LloydResult {
    let (_, n, d) = batch.points.dim();
    let b_total = batch.k.len();
    let kmax = batch.kmax();
    let solved: Vec<(Vec<u32>, Array2<f32>, f64, u32)> = (0..b_total)
        .into_par_iter()
        .map(|b| {
            let pts = batch.points.index_axis(Axis(0), batch.set_of[b] as usize);
            let pts = pts.as_standard_layout();
            let k = batch.k[b] as usize;
            let mut centres = batch.init.index_axis(Axis(0), b).to_owned();
            let mut labels = vec![u32::MAX; n];
            let mut mindist = vec![0.0f32; n];
            let mut n_iter = 0;
            loop {
                let moved = assign(pts.view(), &centres, k, &mut labels, &mut mindist);
                let shifts = update(pts.view(), &labels, k, &mut centres);
                n_iter += 1;
                let total: f32 = shifts.iter().sum();
                if moved == 0 || total <= batch.tol[b] || n_iter >= batch.max_iter {
                    break;
                }
            }
            assign(pts.view(), &centres, k, &mut labels, &mut mindist);
            let inertia = mindist.iter().map(|&v| v as f64).sum();
            (labels, centres, inertia, n_iter)
        })
        .collect();
    let mut result = LloydResult {
        labels: Array2::zeros((b_total, n)),
        centres: Array3::zeros((b_total, kmax, d)),
        inertia: vec![0.0; b_total],
        n_iter: vec![0; b_total],
    };
    for (b, (labels, centres, inertia, n_iter)) in solved.into_iter().enumerate() {
        result
            .labels
            .row_mut(b)
            .assign(&ndarray::ArrayView1::from(&labels));
        result.centres.index_axis_mut(Axis(0), b).assign(&centres);
        result.inertia[b] = inertia;
        result.n_iter[b] = n_iter;
    }
    result
}
