//! FFT twins of the windowed-sum kernels: the MSD over all time origins and
//! correlation functions in O(T log T) (the S1 − 2 S2 decomposition of Kneller et al.,
//! nMOLDYN). The engine uses them on the CPU path; the GPU path sums windows directly.

use ndarray::{Array3, ArrayView3};
use rayon::prelude::*;
use realfft::RealFftPlanner;

/// Self MSD per atom and axis at each lag: `u` is T x N x 3 unwrapped positions,
/// the result N x L x 3, each value averaged over the T − m origins.
pub fn self_msd(u: ArrayView3<f64>, lags: &[usize]) -> Array3<f64> {
    let ns = u.shape()[1];
    let rows: Vec<Vec<[f64; 3]>> = (0..ns)
        .into_par_iter()
        .map_init(RealFftPlanner::<f64>::new, |planner, a| {
            let axes: Vec<Vec<f64>> = (0..3)
                .map(|ax| msd_fft(&u.slice(ndarray::s![.., a, ax]).to_vec(), planner))
                .collect();
            lags.iter()
                .map(|&l| [axes[0][l], axes[1][l], axes[2][l]])
                .collect()
        })
        .collect();
    Array3::from_shape_fn((ns, lags.len(), 3), |(a, l, ax)| rows[a][l][ax])
}

/// MSD(m) for m = 0..T-1 of one series, averaged over all origins, by FFT:
/// MSD(m) = S1(m) − 2 S2(m), S2 the autocorrelation, S1 from a running sum of x².
pub fn msd_fft(x: &[f64], planner: &mut RealFftPlanner<f64>) -> Vec<f64> {
    let t = x.len();
    if t == 0 {
        return Vec::new();
    }
    let s2 = autocorrelation(x, x, planner);
    let d: Vec<f64> = x.iter().map(|v| v * v).collect();
    let mut q = 2.0 * d.iter().sum::<f64>();
    let mut out = vec![0.0; t];
    for m in 0..t {
        if m > 0 {
            q -= d[m - 1] + d[t - m];
        }
        out[m] = (q / (t - m) as f64 - 2.0 * s2[m]).max(0.0);
    }
    out
}

/// (1/(T−m)) Σ_t a(t) b(t+m) for m = 0..T-1, by zero-padded FFT.
pub fn autocorrelation(a: &[f64], b: &[f64], planner: &mut RealFftPlanner<f64>) -> Vec<f64> {
    let t = a.len();
    let n = (2 * t).next_power_of_two();
    let fwd = planner.plan_fft_forward(n);
    let inv = planner.plan_fft_inverse(n);
    let mut pa = fwd.make_input_vec();
    let mut pb = fwd.make_input_vec();
    pa[..t].copy_from_slice(a);
    pb[..t].copy_from_slice(b);
    let mut fa = fwd.make_output_vec();
    let mut fb = fwd.make_output_vec();
    fwd.process(&mut pa, &mut fa).expect("FFT sizes match");
    fwd.process(&mut pb, &mut fb).expect("FFT sizes match");
    // Σ_t a(t) b(t+m) is the inverse transform of conj(A) B.
    let mut prod: Vec<_> = fa.iter().zip(&fb).map(|(x, y)| x.conj() * y).collect();
    let mut out = inv.make_output_vec();
    inv.process(&mut prod, &mut out).expect("FFT sizes match");
    (0..t).map(|m| out[m] / n as f64 / (t - m) as f64).collect()
}
