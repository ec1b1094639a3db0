//! CPU twins of the WGSL kernels: same semantics, same names, multi-threaded with
//! rayon. They are the production path on machines without a hardware GPU and the
//! reference the GPU results are tested against.

pub mod bvse;
pub mod displacement;
pub mod fft;
pub mod kmeans;
pub mod pairwise;

/// Squared distances from `x` to each row of `ys` (rows of length `x.len()`) into
/// `out`. With AVX2 and FMA (checked at run time, the binary stays portable) four rows
/// share each load of `x` in explicit 8-lane registers; otherwise a portable loop.
/// Used where results are compared with a tolerance (pairwise, silhouette), not by
/// k-means assignment, whose unfused arithmetic must match the shader bit for bit.
pub(crate) fn sq_dists_row(x: &[f32], ys: &[f32], out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU supports AVX2 and FMA (checked just above).
        unsafe { sq_dists_row_avx2(x, ys, out) };
        return;
    }
    sq_dists_row_generic(x, ys, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn sq_dists_row_avx2(x: &[f32], ys: &[f32], out: &mut [f32]) {
    use std::arch::x86_64::*;
    let d = x.len();
    assert!(ys.len() >= out.len() * d, "ys holds out.len() rows");
    let hsum = |v: __m256| -> f32 {
        let mut lanes = [0.0f32; 8];
        // SAFETY: `lanes` has room for 8 floats.
        unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), v) };
        lanes.iter().sum()
    };
    let main = d / 8 * 8;
    let rows4 = out.len() / 4 * 4;
    for j in (0..rows4).step_by(4) {
        let base = j * d;
        // SAFETY: t + 8 <= main <= d, and every row j..j+4 lies inside `ys` (asserted).
        let (mut a0, mut a1, mut a2, mut a3) = (
            _mm256_setzero_ps(),
            _mm256_setzero_ps(),
            _mm256_setzero_ps(),
            _mm256_setzero_ps(),
        );
        let mut t = 0;
        while t < main {
            unsafe {
                let xv = _mm256_loadu_ps(x.as_ptr().add(t));
                let p = ys.as_ptr().add(base + t);
                let d0 = _mm256_sub_ps(xv, _mm256_loadu_ps(p));
                let d1 = _mm256_sub_ps(xv, _mm256_loadu_ps(p.add(d)));
                let d2 = _mm256_sub_ps(xv, _mm256_loadu_ps(p.add(2 * d)));
                let d3 = _mm256_sub_ps(xv, _mm256_loadu_ps(p.add(3 * d)));
                a0 = _mm256_fmadd_ps(d0, d0, a0);
                a1 = _mm256_fmadd_ps(d1, d1, a1);
                a2 = _mm256_fmadd_ps(d2, d2, a2);
                a3 = _mm256_fmadd_ps(d3, d3, a3);
            }
            t += 8;
        }
        for (r, acc) in [a0, a1, a2, a3].into_iter().enumerate() {
            let y = &ys[base + r * d..base + (r + 1) * d];
            let tail: f32 = x[main..]
                .iter()
                .zip(&y[main..])
                .map(|(a, b)| (a - b) * (a - b))
                .sum();
            out[j + r] = hsum(acc) + tail;
        }
    }
    for j in rows4..out.len() {
        let y = &ys[j * d..(j + 1) * d];
        let mut acc = _mm256_setzero_ps();
        let mut t = 0;
        while t < main {
            // SAFETY: t + 8 <= main <= d = x.len() = y.len().
            unsafe {
                let diff = _mm256_sub_ps(
                    _mm256_loadu_ps(x.as_ptr().add(t)),
                    _mm256_loadu_ps(y.as_ptr().add(t)),
                );
                acc = _mm256_fmadd_ps(diff, diff, acc);
            }
            t += 8;
        }
        let tail: f32 = x[main..]
            .iter()
            .zip(&y[main..])
            .map(|(a, b)| (a - b) * (a - b))
            .sum();
        out[j] = hsum(acc) + tail;
    }
}

#[inline(always)]
fn sq_dists_row_generic(x: &[f32], ys: &[f32], out: &mut [f32]) {
    let d = x.len();
    if d == 0 {
        out.fill(0.0);
        return;
    }
    let mut blocks = ys.chunks_exact(4 * d).zip(out.chunks_exact_mut(4));
    for (y4, o4) in &mut blocks {
        let (y0, rest) = y4.split_at(d);
        let (y1, rest) = rest.split_at(d);
        let (y2, y3) = rest.split_at(d);
        let mut acc = [[0.0f32; 8]; 4];
        for ((((xc, a), b), c), e) in x
            .chunks_exact(8)
            .zip(y0.chunks_exact(8))
            .zip(y1.chunks_exact(8))
            .zip(y2.chunks_exact(8))
            .zip(y3.chunks_exact(8))
        {
            let xc: &[f32; 8] = xc.try_into().expect("8 lanes");
            let rows: [&[f32; 8]; 4] = [a, b, c, e].map(|r| r.try_into().expect("8 lanes"));
            for (acc_r, row) in acc.iter_mut().zip(rows) {
                for l in 0..8 {
                    let diff = xc[l] - row[l];
                    acc_r[l] += diff * diff;
                }
            }
        }
        let t = d / 8 * 8;
        for (r, yr) in [y0, y1, y2, y3].iter().enumerate() {
            let mut tail = 0.0f32;
            for u in t..d {
                let diff = x[u] - yr[u];
                tail += diff * diff;
            }
            o4[r] = acc[r].iter().sum::<f32>() + tail;
        }
    }
    let done = out.len() / 4 * 4;
    for (j, o) in out[done..].iter_mut().enumerate() {
        let y = &ys[(done + j) * d..(done + j + 1) * d];
        *o = sq_dist_lanes(x, y);
    }
}

/// Sum of squares of `a - b`, accumulated in 8 independent lanes so LLVM can
/// vectorise it (a plain `fold` is a serial dependency chain in strict IEEE order).
#[inline]
pub(crate) fn sq_dist_lanes(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let mut ca = a.chunks_exact(8);
    let mut cb = b.chunks_exact(8);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for l in 0..8 {
            let d = x[l] - y[l];
            lanes[l] += d * d;
        }
    }
    let mut tail = 0.0f32;
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        let d = x - y;
        tail += d * d;
    }
    lanes.iter().sum::<f32>() + tail
}
