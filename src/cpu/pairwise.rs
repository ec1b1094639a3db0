//! CPU twin of `shaders/pairwise.wgsl`.

use ndarray::{Array2, Array3, ArrayView2, Axis, s};
use rayon::prelude::*;

use super::sq_dists_row;
use crate::engine::LabelledBatch;
use crate::error::Result;

/// Rows of Y per block: a block of Y stays in L2 while a band of X streams past it.
const Y_BLOCK: usize = 256;

/// Point sets this small (with at most SMALL_WIDTH labels x clusters) take the dense
/// one-hot path in [`cluster_dist_sums`] (f32 sums of at most SMALL_SET distances).
const SMALL_SET: usize = 512;
const SMALL_WIDTH: usize = 256;

/// Squared Euclidean distances between the rows of `x` and `y` (n x m).
pub fn sq_dists(x: ArrayView2<f32>, y: ArrayView2<f32>) -> Array2<f32> {
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
pub fn sq_dists_tiles(
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
                let mut onehot = vec![0.0f32; n * width];
                for (q, l) in labels.iter().enumerate() {
                    for (j, &c) in l.iter().enumerate() {
                        onehot[j * width + q * kmax + c as usize] = 1.0;
                    }
                }
                let per_point: Vec<Vec<f64>> = (0..n)
                    .map(|i| {
                        let mut dist = vec![0.0f32; n];
                        sq_dists_row(&all[i * d..(i + 1) * d], all, &mut dist);
                        let mut acc = vec![0.0f32; width];
                        for (j, &d2) in dist.iter().enumerate() {
                            let dj = d2.max(0.0).sqrt();
                            let row = &onehot[j * width..(j + 1) * width];
                            for (a, &o) in acc.iter_mut().zip(row) {
                                *a += dj * o;
                            }
                        }
                        acc.into_iter().map(|v| v as f64).collect()
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
