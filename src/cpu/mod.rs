//! CPU twins of the WGSL kernels: same semantics, same names, multi-threaded with
//! rayon. They are the production path on machines without a hardware GPU and the
//! reference the GPU results are tested against.

pub mod displacement;
pub mod kmeans;
pub mod pairwise;

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
