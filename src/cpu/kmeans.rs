//! CPU twin of `shaders/kmeans.wgsl`: the same Lloyd iteration with the same
//! summation order (per-chunk partial sums in point order, then chunks in order), so
//! the two backends agree on labels for the same initial centres.

use ndarray::{Array2, Array3, ArrayView2, Axis};
use rayon::prelude::*;

use crate::engine::{LloydBatch, LloydResult};
use crate::gpu::kmeans::CHUNK;

/// Centres per register block in the assignment loop (one AVX2 register of f32).
const LANES: usize = 8;

/// Nearest centre to `x` among the first `k` columns of `centres_t` (stored transposed,
/// d x kpad with kpad a multiple of LANES, so a block of centres fills a register).
/// Each distance is still summed over dimensions in ascending order, as the shader
/// does. Ties go to the lower index.
#[inline(always)]
fn nearest(x: &[f32], centres_t: &[f32], kpad: usize, k: usize) -> (u32, f32) {
    let mut best = 0u32;
    let mut bestd = f32::MAX;
    for c0 in (0..k).step_by(LANES) {
        let mut acc = [0.0f32; LANES];
        for (t, &xt) in x.iter().enumerate() {
            let row = &centres_t[t * kpad + c0..t * kpad + c0 + LANES];
            for j in 0..LANES {
                let diff = xt - row[j];
                acc[j] += diff * diff;
            }
        }
        for (j, &a) in acc.iter().enumerate().take(k - c0) {
            if a < bestd {
                bestd = a;
                best = (c0 + j) as u32;
            }
        }
    }
    (best, bestd)
}

/// Partial sums of one chunk: k x d sums and k counts, in point order.
type Partial = (Vec<f32>, Vec<u32>);

/// Assign every point of `pts` to its nearest centre and, when `sums` is set, add each
/// point to its chunk's partial sum for its new cluster (one pass over the data; the
/// per-(chunk, cluster, dimension) order is the shader's). Returns how many labels
/// changed and the partial sums.
fn assign(
    pts: ArrayView2<f32>,
    centres: &Array2<f32>,
    k: usize,
    labels: &mut [u32],
    mindist: &mut [f32],
    sums: bool,
) -> (usize, Vec<Partial>) {
    let (kmax, d) = centres.dim();
    let kpad = kmax.next_multiple_of(LANES);
    let mut centres_t = vec![0.0f32; d * kpad];
    for c in 0..kmax {
        for t in 0..d {
            centres_t[t * kpad + c] = centres[[c, t]];
        }
    }
    let per_chunk: Vec<(usize, Partial)> = labels
        .par_chunks_mut(CHUNK)
        .zip(mindist.par_chunks_mut(CHUNK))
        .enumerate()
        .map(|(ch, (ls, ds))| {
            let start = ch * CHUNK;
            let rows = pts.slice(ndarray::s![start..start + ls.len(), ..]);
            let x = rows.as_slice().expect("standard layout");
            let moved = assign_chunk(x, d, &centres_t, kpad, k, ls, ds);
            let partial = if sums {
                chunk_sums(x, d, k, ls)
            } else {
                (Vec::new(), Vec::new())
            };
            (moved, partial)
        })
        .collect();
    let moved = per_chunk.iter().map(|(m, _)| m).sum();
    (moved, per_chunk.into_iter().map(|(_, p)| p).collect())
}

/// Sums of the chunk's points per cluster (k x d) and counts, in point order.
fn chunk_sums(x: &[f32], d: usize, k: usize, labels: &[u32]) -> Partial {
    let mut sums = vec![0.0f32; k * d];
    let mut counts = vec![0u32; k];
    chunk_sums_into(x, d, labels, &mut sums, &mut counts);
    (sums, counts)
}

/// [`chunk_sums`] into zeroed-here buffers.
fn chunk_sums_into(x: &[f32], d: usize, labels: &[u32], sums: &mut [f32], counts: &mut [u32]) {
    sums.fill(0.0);
    counts.fill(0);
    for (xi, &l) in x.chunks_exact(d.max(1)).zip(labels) {
        let l = l as usize;
        counts[l] += 1;
        for (s, &v) in sums[l * d..(l + 1) * d].iter_mut().zip(xi) {
            *s += v;
        }
    }
}

/// Assign one chunk of points (row-major, d per point); returns how many labels changed.
/// Compiled for AVX2 and for the baseline and picked at run time: the same IEEE
/// operations in the same order either way, so labels do not depend on the CPU.
fn assign_chunk(
    x: &[f32],
    d: usize,
    centres_t: &[f32],
    kpad: usize,
    k: usize,
    ls: &mut [u32],
    ds: &mut [f32],
) -> usize {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2 (checked just above).
        return unsafe { assign_chunk_avx2(x, d, centres_t, kpad, k, ls, ds) };
    }
    assign_chunk_generic(x, d, centres_t, kpad, k, ls, ds)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn assign_chunk_avx2(
    x: &[f32],
    d: usize,
    centres_t: &[f32],
    kpad: usize,
    k: usize,
    ls: &mut [u32],
    ds: &mut [f32],
) -> usize {
    use std::arch::x86_64::*;
    assert!(centres_t.len() >= d * kpad && kpad.is_multiple_of(LANES));
    let mut moved = 0;
    for ((xi, l), dist) in x
        .chunks_exact(d.max(1))
        .zip(ls.iter_mut())
        .zip(ds.iter_mut())
    {
        let mut best = 0u32;
        let mut bestd = f32::MAX;
        for c0 in (0..k).step_by(LANES) {
            let mut acc = _mm256_setzero_ps();
            for (t, &xt) in xi.iter().enumerate() {
                // Unfused sub, mul, add in dimension order: the shader's arithmetic.
                // SAFETY: c0 + 8 <= kpad, t < d, so the load stays inside centres_t.
                unsafe {
                    let c = _mm256_loadu_ps(centres_t.as_ptr().add(t * kpad + c0));
                    let diff = _mm256_sub_ps(_mm256_set1_ps(xt), c);
                    acc = _mm256_add_ps(acc, _mm256_mul_ps(diff, diff));
                }
            }
            // The block's minimum and its first lane, without leaving the register:
            // lanes past k count as +max, the lowest index wins ties (as the scalar
            // loop and the shader do).
            let valid = (k - c0).min(LANES);
            let acc = if valid < LANES {
                let idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
                let past = _mm256_cmpgt_epi32(idx, _mm256_set1_epi32(valid as i32 - 1));
                _mm256_blendv_ps(acc, _mm256_set1_ps(f32::MAX), _mm256_castsi256_ps(past))
            } else {
                acc
            };
            let m = _mm256_min_ps(acc, _mm256_permute2f128_ps(acc, acc, 1));
            let m = _mm256_min_ps(m, _mm256_shuffle_ps(m, m, 0b01_00_11_10));
            let m = _mm256_min_ps(m, _mm256_shuffle_ps(m, m, 0b10_11_00_01));
            let a = _mm256_cvtss_f32(m);
            if a < bestd {
                let eq = _mm256_movemask_ps(_mm256_cmp_ps(acc, m, _CMP_EQ_OQ)) as u32;
                bestd = a;
                best = (c0 as u32) + eq.trailing_zeros();
            }
        }
        if *l != best {
            moved += 1;
        }
        *l = best;
        *dist = bestd;
    }
    moved
}

#[inline(always)]
fn assign_chunk_generic(
    x: &[f32],
    d: usize,
    centres_t: &[f32],
    kpad: usize,
    k: usize,
    ls: &mut [u32],
    ds: &mut [f32],
) -> usize {
    let mut moved = 0;
    for ((xi, l), dist) in x
        .chunks_exact(d.max(1))
        .zip(ls.iter_mut())
        .zip(ds.iter_mut())
    {
        let (best, bestd) = nearest(xi, centres_t, kpad, k);
        if *l != best {
            moved += 1;
        }
        *l = best;
        *dist = bestd;
    }
    moved
}

/// New centres from the chunks' partial sums (chunks in order, as the shader); returns
/// the squared shift of each centre. An empty cluster keeps its centre.
fn update(partials: &[Partial], d: usize, k: usize, centres: &mut Array2<f32>) -> Vec<f32> {
    let mut shifts = vec![0.0f32; k];
    for c in 0..k {
        let count: u32 = partials.iter().map(|(_, n)| n[c]).sum();
        let mut sh = 0.0f32;
        for t in 0..d {
            let mut s = 0.0f32;
            for (sums, _) in partials {
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
            if n <= CHUNK {
                // One chunk: the same arithmetic as below without per-iteration
                // allocations or a parallel split (hop detection solves tens of
                // thousands of such problems).
                let x = pts.as_slice().expect("standard layout");
                let kpad = kmax.next_multiple_of(LANES);
                let mut centres_t = vec![0.0f32; d * kpad];
                let transpose = |c: &Array2<f32>, t: &mut [f32]| {
                    for ci in 0..kmax {
                        for dim in 0..d {
                            t[dim * kpad + ci] = c[[ci, dim]];
                        }
                    }
                };
                let mut part = [(vec![0.0f32; k * d], vec![0u32; k])];
                loop {
                    transpose(&centres, &mut centres_t);
                    let moved = assign_chunk(x, d, &centres_t, kpad, k, &mut labels, &mut mindist);
                    chunk_sums_into(x, d, &labels, &mut part[0].0, &mut part[0].1);
                    let shifts = update(&part, d, k, &mut centres);
                    n_iter += 1;
                    let total: f32 = shifts.iter().sum();
                    if moved == 0 || total <= batch.tol[b] || n_iter >= batch.max_iter {
                        break;
                    }
                }
                transpose(&centres, &mut centres_t);
                assign_chunk(x, d, &centres_t, kpad, k, &mut labels, &mut mindist);
                let inertia = mindist.iter().map(|&v| v as f64).sum();
                return (labels, centres, inertia, n_iter);
            }
            loop {
                let (moved, partials) =
                    assign(pts.view(), &centres, k, &mut labels, &mut mindist, true);
                let shifts = update(&partials, d, k, &mut centres);
                n_iter += 1;
                let total: f32 = shifts.iter().sum();
                if moved == 0 || total <= batch.tol[b] || n_iter >= batch.max_iter {
                    break;
                }
            }
            assign(pts.view(), &centres, k, &mut labels, &mut mindist, false);
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
