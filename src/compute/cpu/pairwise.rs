//! CPU twin of `shaders/pairwise.wgsl`.

use ndarray::{Array2, Array3, ArrayView2, Axis, s};
use rayon::prelude::*;

use super::sq_dists_row;
use crate::compute::batch::LabelledBatch;
use crate::error::Result;

/// Rows of Y per block: a block of Y stays in L2 while a band of X streams past it.
const Y_BLOCK: usize = 256;

/// Point sets this small (with at most SMALL_WIDTH labels x clusters) take the dense
/// one-hot path in [`cluster_dist_sums`] (f32 sums of at most SMALL_SET distances).
const SMALL_SET: usize = 512;
const SMALL_WIDTH: usize = 256;
/// Columns of the one-hot product per register block (four AVX2 registers).
const ONEHOT_BLOCK: usize = 32;

/// acc[c] = Σ_j dist[j] · onehot[j][c] for a one-hot matrix of `wpad` columns (a
/// multiple of ONEHOT_BLOCK), 32 columns at a time held in registers.
fn onehot_sums(dist: &[f32], onehot: &[f32], wpad: usize, acc: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU supports AVX2 and FMA (checked just above).
        unsafe { onehot_sums_avx2(dist, onehot, wpad, acc) };
        return;
    }
    acc.fill(0.0);
    for (j, &dj) in dist.iter().enumerate() {
        for (a, &o) in acc.iter_mut().zip(&onehot[j * wpad..(j + 1) * wpad]) {
            *a += dj * o;
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn onehot_sums_avx2(dist: &[f32], onehot: &[f32], wpad: usize, acc: &mut [f32]) {
    use std::arch::x86_64::*;
    assert!(wpad.is_multiple_of(ONEHOT_BLOCK) && acc.len() >= wpad);
    assert!(onehot.len() >= dist.len() * wpad);
    for c0 in (0..wpad).step_by(ONEHOT_BLOCK) {
        let mut a = [_mm256_setzero_ps(); 4];
        for (j, &dj) in dist.iter().enumerate() {
            let w = _mm256_set1_ps(dj);
            for (r, ar) in a.iter_mut().enumerate() {
                // SAFETY: j < dist.len() and c0 + 32 <= wpad, inside onehot.
                let o = unsafe { _mm256_loadu_ps(onehot.as_ptr().add(j * wpad + c0 + 8 * r)) };
                *ar = _mm256_fmadd_ps(w, o, *ar);
            }
        }
        for (r, ar) in a.iter().enumerate() {
            // SAFETY: c0 + 32 <= wpad <= acc.len().
            unsafe { _mm256_storeu_ps(acc.as_mut_ptr().add(c0 + 8 * r), *ar) };
        }
    }
}

/// Squared Euclidean distances between the rows of `x` and `y` (n x m).
pub(crate) fn sq_dists(x: ArrayView2<f32>, y: ArrayView2<f32>) -> Array2<f32> {
    let (n, m) = (x.nrows(), y.nrows());
    let x = x.as_standard_layout();
    let y = y.as_standard_layout();
    let mut out = Array2::<f32>::zeros((n, m));
    if n == 0 || m == 0 {
        return out;
    }
    let ys = y.as_slice().expect("standard layout");
    let d = x.ncols();
    out.axis_chunks_iter_mut(Axis(0), 16)
        .into_par_iter()
        .enumerate()
        .for_each(|(band, mut rows)| {
            let r0 = band * 16;
            for j0 in (0..m).step_by(Y_BLOCK) {
                let j1 = (j0 + Y_BLOCK).min(m);
                for (di, mut row) in rows.outer_iter_mut().enumerate() {
                    let xi = x.row(r0 + di);
                    let row = row.as_slice_mut().expect("standard layout");
                    sq_dists_row(
                        xi.as_slice().unwrap(),
                        &ys[j0 * d..j1 * d],
                        &mut row[j0..j1],
                    );
                }
            }
        });
    out
}

/// The same distances delivered in tiles of at most `tile_bytes` to `sink`.
pub(crate) fn sq_dists_tiles(
    x: ArrayView2<f32>,
    y: ArrayView2<f32>,
    tile_bytes: u64,
    mut sink: impl FnMut(usize, usize, ArrayView2<f32>) -> Result<()>,
) -> Result<()> {
    let m = y.nrows().max(1);
    let rows = ((tile_bytes / (4 * m as u64)).max(1)) as usize;
    for r0 in (0..x.nrows()).step_by(rows) {
        let r1 = (r0 + rows).min(x.nrows());
        let tile = sq_dists(x.slice(s![r0..r1, ..]), y);
        sink(r0, 0, tile.view())?;
    }
    Ok(())
}

/// For each problem b, point i and cluster c: the sum of Euclidean distances from
/// point i to the members of cluster c (B x n x kmax), accumulated in f64.
pub fn cluster_dist_sums(batch: &LabelledBatch) -> Array3<f32> {
    let (sets, n, _) = batch.points.dim();
    let b_total = batch.labels.nrows();
    let kmax = batch.kmax();
    let mut out = Array3::<f32>::zeros((b_total, n, kmax));
    // Problems that share a point set share its distances: each distance is computed
    // once and added to every such problem's sums (k-means over k = 2..10 labels one
    // set nine times).
    // Sets in parallel (many small sets: hop detection) and points within a set in
    // parallel (one large set: screening); rayon balances the two.
    let done: Vec<(Vec<usize>, Vec<Vec<f64>>)> = (0..sets)
        .into_par_iter()
        .filter_map(|set| {
            let group: Vec<usize> = (0..b_total)
                .filter(|&b| batch.set_of[b] as usize == set)
                .collect();
            if group.is_empty() {
                return None;
            }
            let g = group.len();
            let pts = batch.points.index_axis(Axis(0), set);
            let pts = pts.as_standard_layout();
            let all = pts.as_slice().expect("standard layout");
            let labels: Vec<ndarray::ArrayView1<u32>> =
                group.iter().map(|&b| batch.labels.row(b)).collect();
            let width = g * kmax;
            if n <= SMALL_SET && width <= SMALL_WIDTH {
                // Small sets (hop detection: 140 frames, nine labellings): a one-hot
                // matrix of every labelling side by side turns the scattered
                // additions into one dense, vectorised multiply-add per point.
                let d = pts.ncols();
                let wpad = width.next_multiple_of(ONEHOT_BLOCK);
                let mut onehot = vec![0.0f32; n * wpad];
                for (q, l) in labels.iter().enumerate() {
                    for (j, &c) in l.iter().enumerate() {
                        onehot[j * wpad + q * kmax + c as usize] = 1.0;
                    }
                }
                let mut dist = vec![0.0f32; n];
                let mut acc = vec![0.0f32; wpad];
                let per_point: Vec<Vec<f64>> = (0..n)
                    .map(|i| {
                        sq_dists_row(&all[i * d..(i + 1) * d], all, &mut dist);
                        dist.iter_mut().for_each(|v| *v = v.max(0.0).sqrt());
                        onehot_sums(&dist, &onehot, wpad, &mut acc);
                        acc[..width].iter().map(|&v| v as f64).collect()
                    })
                    .collect();
                return Some((group, per_point));
            }
            let per_point: Vec<Vec<f64>> = (0..n)
                .into_par_iter()
                .map(|i| {
                    let d = pts.ncols();
                    let xi = &all[i * d..(i + 1) * d];
                    let mut acc = vec![0.0f64; g * kmax];
                    let mut acc2 = vec![0.0f64; g * kmax];
                    let mut dist = vec![0.0f32; Y_BLOCK];
                    for j0 in (0..n).step_by(Y_BLOCK) {
                        let j1 = (j0 + Y_BLOCK).min(n);
                        let dist = &mut dist[..j1 - j0];
                        sq_dists_row(xi, &all[j0 * d..j1 * d], dist);
                        dist.iter_mut().for_each(|v| *v = v.max(0.0).sqrt());
                        for (q, l) in labels.iter().enumerate() {
                            let acc = &mut acc[q * kmax..(q + 1) * kmax];
                            let acc2 = &mut acc2[q * kmax..(q + 1) * kmax];
                            let l = l.slice(s![j0..j1]);
                            // Two interleaved accumulators: neighbouring points often
                            // share a label, and one accumulator would serialise
                            // their additions through memory.
                            let (l, dd) = (l.as_slice().unwrap_or(&[]), &dist[..]);
                            if l.len() == dd.len() {
                                let half = l.len() / 2;
                                for m in 0..half {
                                    let (a, b) = (2 * m, 2 * m + 1);
                                    acc[l[a] as usize] += dd[a] as f64;
                                    acc2[l[b] as usize] += dd[b] as f64;
                                }
                                if l.len() % 2 == 1 {
                                    acc[l[l.len() - 1] as usize] += dd[l.len() - 1] as f64;
                                }
                            } else {
                                let l = labels[q].slice(s![j0..j1]);
                                for (&c, &v) in l.iter().zip(dist.iter()) {
                                    acc[c as usize] += v as f64;
                                }
                            }
                        }
                    }
                    acc.iter_mut().zip(&acc2).for_each(|(a, b)| *a += b);
                    acc
                })
                .collect();
            Some((group, per_point))
        })
        .collect();
    for (group, per_point) in done {
        for (i, acc) in per_point.iter().enumerate() {
            for (q, &b) in group.iter().enumerate() {
                for c in 0..kmax {
                    out[[b, i, c]] = acc[q * kmax + c] as f32;
                }
            }
        }
    }
    out
}
