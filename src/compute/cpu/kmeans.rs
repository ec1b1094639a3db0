//! CPU twin of `shaders/kmeans.wgsl`: the same Lloyd iteration with the same
//! summation order (per-chunk partial sums in point order, then chunks in order), so
//! the two backends agree on labels for the same initial centres.

use ndarray::{Array2, Array3, ArrayView2, Axis};
use rayon::prelude::*;

use crate::compute::batch::{CHUNK, LloydBatch, LloydResult};

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

/// Sums of the chunk's points per cluster (k x d) and counts.
fn chunk_sums(x: &[f32], d: usize, k: usize, labels: &[u32]) -> Partial {
    let mut sums = vec![0.0f32; k * d];
    let mut counts = vec![0u32; k];
    // Eight interleaved running sums per (cluster, dimension), point i of the chunk in
    // lane i % 8, then the lanes in order (the shader's order).
    let mut lanes = vec![0.0f32; k * d * SUM_LANES];
    for (i, (xi, &l)) in x.chunks_exact(d.max(1)).zip(labels).enumerate() {
        let l = l as usize;
        counts[l] += 1;
        for (t, &v) in xi.iter().enumerate() {
            lanes[(l * d + t) * SUM_LANES + i % SUM_LANES] += v;
        }
    }
    for (s, l) in sums.iter_mut().zip(lanes.chunks_exact(SUM_LANES)) {
        let mut acc = 0.0f32;
        for &v in l {
            acc += v;
        }
        *s = acc;
    }
    (sums, counts)
}

/// Lanes of the partial sums (see `shaders/kmeans.wgsl`).
const SUM_LANES: usize = 8;

/// [`chunk_sums`] for one chunk held dimension-major (`xs` is d x npad, `labels`
/// covers npad points, padding labelled `u32::MAX`): the same lanes and order, one
/// register per (cluster, dimension) (adding +0.0 for non-members changes nothing: a
/// lane sum that starts at +0.0 is never −0.0).
#[allow(clippy::too_many_arguments)]
fn sums_soa(
    xs: &[f32],
    n: usize,
    npad: usize,
    d: usize,
    labels: &[u32],
    sums: &mut [f32],
    counts: &mut [u32],
) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2 (checked just above).
        unsafe { sums_soa_avx2(xs, n, npad, d, labels, sums, counts) };
        return;
    }
    let k = counts.len();
    counts.fill(0);
    for &l in &labels[..n] {
        counts[l as usize] += 1;
    }
    for c in 0..k {
        for t in 0..d {
            let mut lane = [0.0f32; SUM_LANES];
            for i in 0..n {
                if labels[i] as usize == c {
                    lane[i % SUM_LANES] += xs[t * npad + i];
                }
            }
            let mut acc = 0.0f32;
            for v in lane {
                acc += v;
            }
            sums[c * d + t] = acc;
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[allow(clippy::too_many_arguments)]
fn sums_soa_avx2(
    xs: &[f32],
    n: usize,
    npad: usize,
    d: usize,
    labels: &[u32],
    sums: &mut [f32],
    counts: &mut [u32],
) {
    use std::arch::x86_64::*;
    let k = counts.len();
    assert!(xs.len() >= d * npad && labels.len() >= npad && npad.is_multiple_of(SUM_LANES));
    assert!(sums.len() >= k * d);
    counts.fill(0);
    for &l in &labels[..n] {
        counts[l as usize] += 1;
    }
    let mut acc = [_mm256_setzero_ps(); 64];
    let mut heap;
    let acc: &mut [__m256] = if k * d <= 64 {
        &mut acc[..k * d]
    } else {
        heap = vec![_mm256_setzero_ps(); k * d];
        &mut heap
    };
    for p0 in (0..npad).step_by(SUM_LANES) {
        // SAFETY: p0 + 8 <= npad <= labels.len().
        let lab = unsafe { _mm256_loadu_si256(labels.as_ptr().add(p0) as *const __m256i) };
        let mut xr = [_mm256_setzero_ps(); 4];
        if d <= 4 {
            for (t, r) in xr.iter_mut().enumerate().take(d) {
                // SAFETY: t < d, p0 + 8 <= npad.
                *r = unsafe { _mm256_loadu_ps(xs.as_ptr().add(t * npad + p0)) };
            }
        }
        for c in 0..k {
            let m = _mm256_castsi256_ps(_mm256_cmpeq_epi32(lab, _mm256_set1_epi32(c as i32)));
            for t in 0..d {
                let x = if d <= 4 {
                    xr[t]
                } else {
                    // SAFETY: t < d, p0 + 8 <= npad.
                    unsafe { _mm256_loadu_ps(xs.as_ptr().add(t * npad + p0)) }
                };
                acc[c * d + t] = _mm256_add_ps(acc[c * d + t], _mm256_and_ps(x, m));
            }
        }
    }
    for (s, a) in sums.iter_mut().zip(acc.iter()) {
        let mut lane = [0.0f32; SUM_LANES];
        // SAFETY: `lane` holds 8 floats.
        unsafe { _mm256_storeu_ps(lane.as_mut_ptr(), *a) };
        let mut v = 0.0f32;
        for x in lane {
            v += x;
        }
        *s = v;
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

/// Assignment of one small problem held dimension-major (`xs` is d x npad): for each
/// point the squared distance to each centre summed over dimensions in ascending
/// order with unfused operations (the shader's arithmetic, so labels match), the
/// lowest index winning ties. Returns how many labels changed.
#[allow(clippy::too_many_arguments)]
fn assign_soa(
    xs: &[f32],
    n: usize,
    npad: usize,
    d: usize,
    centres: &Array2<f32>,
    k: usize,
    labels: &mut [u32],
    mindist: &mut [f32],
) -> usize {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2 (checked just above).
        return unsafe { assign_soa_avx2(xs, n, npad, d, centres, k, labels, mindist) };
    }
    let mut moved = 0;
    for i in 0..n {
        let mut best = 0u32;
        let mut bestd = f32::MAX;
        for c in 0..k {
            let mut acc = 0.0f32;
            for t in 0..d {
                let diff = xs[t * npad + i] - centres[[c, t]];
                acc += diff * diff;
            }
            if acc < bestd {
                bestd = acc;
                best = c as u32;
            }
        }
        moved += (labels[i] != best) as usize;
        labels[i] = best;
        mindist[i] = bestd;
    }
    moved
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[allow(clippy::too_many_arguments)]
fn assign_soa_avx2(
    xs: &[f32],
    n: usize,
    npad: usize,
    d: usize,
    centres: &Array2<f32>,
    k: usize,
    labels: &mut [u32],
    mindist: &mut [f32],
) -> usize {
    use std::arch::x86_64::*;
    assert!(xs.len() >= d * npad && npad.is_multiple_of(LANES) && n <= npad);
    let (kmax, _) = centres.dim();
    let c = centres.as_standard_layout();
    let c = c.as_slice().expect("standard layout");
    assert!(k <= kmax && c.len() >= k * d);
    let mut moved = 0;
    // Centre coordinates broadcast once; for d <= 4 the block's coordinates are loaded
    // once and kept in registers across the centres.
    let mut cv_stack = [_mm256_setzero_ps(); 64];
    let mut cv_heap;
    let cv: &mut [__m256] = if k * d <= 64 {
        &mut cv_stack[..k * d]
    } else {
        cv_heap = vec![_mm256_setzero_ps(); k * d];
        &mut cv_heap
    };
    for (o, &v) in cv.iter_mut().zip(&c[..k * d]) {
        *o = _mm256_set1_ps(v);
    }
    for p0 in (0..npad).step_by(LANES) {
        let mut best = _mm256_set1_ps(f32::MAX);
        let mut idx = _mm256_setzero_si256();
        let mut xr = [_mm256_setzero_ps(); 4];
        if d <= 4 {
            for (t, r) in xr.iter_mut().enumerate().take(d) {
                // SAFETY: t < d and p0 + 8 <= npad, so the load stays inside xs.
                *r = unsafe { _mm256_loadu_ps(xs.as_ptr().add(t * npad + p0)) };
            }
        }
        for ci in 0..k {
            let mut acc = _mm256_setzero_ps();
            for t in 0..d {
                let x = if d <= 4 {
                    xr[t]
                } else {
                    // SAFETY: t < d and p0 + 8 <= npad, so the load stays inside xs.
                    unsafe { _mm256_loadu_ps(xs.as_ptr().add(t * npad + p0)) }
                };
                let diff = _mm256_sub_ps(x, cv[ci * d + t]);
                acc = _mm256_add_ps(acc, _mm256_mul_ps(diff, diff));
            }
            let less = _mm256_cmp_ps(acc, best, _CMP_LT_OQ);
            best = _mm256_blendv_ps(best, acc, less);
            idx = _mm256_castps_si256(_mm256_blendv_ps(
                _mm256_castsi256_ps(idx),
                _mm256_castsi256_ps(_mm256_set1_epi32(ci as i32)),
                less,
            ));
        }
        let mut bd = [0.0f32; LANES];
        let mut bi = [0u32; LANES];
        // SAFETY: both arrays hold 8 lanes.
        unsafe {
            _mm256_storeu_ps(bd.as_mut_ptr(), best);
            _mm256_storeu_si256(bi.as_mut_ptr() as *mut __m256i, idx);
        }
        for j in 0..LANES.min(n.saturating_sub(p0)) {
            let i = p0 + j;
            moved += (labels[i] != bi[j]) as usize;
            labels[i] = bi[j];
            mindist[i] = bd[j];
        }
    }
    moved
}

/// Lanes of the shader's `update` workgroup.
const FOLD_LANES: usize = 64;

/// The chunks' values folded as the shader's `update` does: lane j sums chunks j,
/// j + 64, j + 128, ... in order, then lanes fold pairwise (i takes i + 32, then i +
/// 16, ...). With one chunk this is the chunk's value itself.
fn fold_chunks(values: impl Iterator<Item = f32>) -> f32 {
    let mut lanes = [0.0f32; FOLD_LANES];
    for (ch, v) in values.enumerate() {
        lanes[ch % FOLD_LANES] += v;
    }
    let mut w = FOLD_LANES / 2;
    while w > 0 {
        for i in 0..w {
            lanes[i] += lanes[i + w];
        }
        w /= 2;
    }
    lanes[0]
}

/// New centres from the chunks' partial sums (folded in the shader's order); returns
/// the squared shift of each centre. An empty cluster keeps its centre.
fn update(partials: &[Partial], d: usize, k: usize, centres: &mut Array2<f32>) -> Vec<f32> {
    let mut shifts = vec![0.0f32; k];
    for c in 0..k {
        let count: u32 = partials.iter().map(|(_, n)| n[c]).sum();
        let mut sh = 0.0f32;
        for t in 0..d {
            let s = fold_chunks(partials.iter().map(|(sums, _)| sums[c * d + t]));
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

/// Lloyd iterations of one small problem (at most one chunk of points): the same
/// arithmetic as the general path, with the points held dimension-major so that the
/// assignment and the sums run 8 points per register, and no allocation per
/// iteration (hop detection solves tens of thousands of such problems).
fn lloyd_small(batch: &LloydBatch, b: usize) -> (Vec<u32>, Array2<f32>, f64, u32) {
    let (_, n, d) = batch.points.dim();
    let pts = batch.points.index_axis(Axis(0), batch.set_of[b] as usize);
    let k = batch.k[b] as usize;
    let npad = n.next_multiple_of(LANES);
    let mut xs = vec![0.0f32; d * npad];
    for i in 0..n {
        for dim in 0..d {
            xs[dim * npad + i] = pts[[i, dim]];
        }
    }
    let mut centres = batch.init.index_axis(Axis(0), b).to_owned();
    // Padding points carry a label no cluster has.
    let mut labels = vec![u32::MAX; npad];
    let mut mindist = vec![0.0f32; n];
    let mut part = [(vec![0.0f32; k * d], vec![0u32; k])];
    let mut n_iter = 0;
    loop {
        let moved = assign_soa(&xs, n, npad, d, &centres, k, &mut labels, &mut mindist);
        sums_soa(&xs, n, npad, d, &labels, &mut part[0].0, &mut part[0].1);
        let shifts = update(&part, d, k, &mut centres);
        n_iter += 1;
        let total: f32 = shifts.iter().sum();
        if moved == 0 || total <= batch.tol[b] || n_iter >= batch.max_iter {
            break;
        }
    }
    assign_soa(&xs, n, npad, d, &centres, k, &mut labels, &mut mindist);
    let inertia = crate::compute::batch::inertia_of(&mindist[..n]);
    (labels, centres, inertia, n_iter)
}

/// Lloyd iterations for every problem of the batch (problems in parallel, and the
/// points of each problem in parallel chunks).
pub fn lloyd(batch: &LloydBatch) -> LloydResult {
    let (_, n, d) = batch.points.dim();
    let b_total = batch.k.len();
    let kmax = batch.kmax();
    let mut result = LloydResult {
        labels: Array2::zeros((b_total, n)),
        centres: Array3::zeros((b_total, kmax, d)),
        inertia: vec![0.0; b_total],
        n_iter: vec![0; b_total],
    };
    // Each problem writes its own rows of the result (no intermediate copies).
    result
        .labels
        .outer_iter_mut()
        .into_par_iter()
        .zip(result.centres.outer_iter_mut())
        .zip(result.inertia.par_iter_mut())
        .zip(result.n_iter.par_iter_mut())
        .enumerate()
        .for_each(
            |(b, (((mut lab_out, mut cen_out), inertia_out), iter_out))| {
                let (labels, centres, inertia, n_iter) = solve_one(batch, b);
                lab_out.assign(&ndarray::ArrayView1::from(&labels[..n]));
                cen_out.assign(&centres);
                *inertia_out = inertia;
                *iter_out = n_iter;
            },
        );
    result
}

/// One problem of the batch: labels, centres, inertia and iterations.
fn solve_one(batch: &LloydBatch, b: usize) -> (Vec<u32>, Array2<f32>, f64, u32) {
    let (_, n, d) = batch.points.dim();
    if n <= CHUNK {
        return lloyd_small(batch, b);
    }
    let pts = batch.points.index_axis(Axis(0), batch.set_of[b] as usize);
    let pts = pts.as_standard_layout();
    let k = batch.k[b] as usize;
    let mut centres = batch.init.index_axis(Axis(0), b).to_owned();
    let mut labels = vec![u32::MAX; n];
    let mut mindist = vec![0.0f32; n];
    let mut n_iter = 0;
    loop {
        let (moved, partials) = assign(pts.view(), &centres, k, &mut labels, &mut mindist, true);
        let shifts = update(&partials, d, k, &mut centres);
        n_iter += 1;
        let total: f32 = shifts.iter().sum();
        if moved == 0 || total <= batch.tol[b] || n_iter >= batch.max_iter {
            break;
        }
    }
    assign(pts.view(), &centres, k, &mut labels, &mut mindist, false);
    let inertia = crate::compute::batch::inertia_of(&mindist[..n]);
    (labels, centres, inertia, n_iter)
}
