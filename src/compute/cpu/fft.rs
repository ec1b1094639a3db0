//! FFT twins of the windowed-sum kernels: the MSD over all time origins and
//! correlation functions in O(T log T) (the S1 − 2 S2 decomposition of Kneller et al.,
//! nMOLDYN). The engine uses them on the CPU path; the GPU path sums windows directly.

use ndarray::{Array3, ArrayView3};
use rayon::prelude::*;
use realfft::RealFftPlanner;

/// Self MSD per atom and axis at each lag: `u` is T x N x 3 unwrapped positions,
/// the result N x L x 3, each value averaged over the T − m origins.
pub(crate) fn self_msd(u: ArrayView3<f64>, lags: &[usize]) -> Array3<f64> {
    self_msd_of(
        u.shape()[1],
        |a, ax, out| out.extend(u.slice(ndarray::s![.., a, ax]).iter().copied()),
        lags,
    )
}

/// [`self_msd`] of `ns` atoms whose series `series(atom, axis, out)` appends to the
/// empty `out` (T values each): the series are gathered where they lie (a streamed
/// run's store) rather than copied into a T x N x 3 array first.
pub(crate) fn self_msd_of(
    ns: usize,
    series: impl Fn(usize, usize, &mut Vec<f64>) + Sync,
    lags: &[usize],
) -> Array3<f64> {
    let mut out = Array3::<f64>::zeros((ns, lags.len(), 3));
    out.outer_iter_mut()
        .into_par_iter()
        .enumerate()
        .for_each(|(a, mut row)| {
            SCRATCH.with_borrow_mut(|scratch| {
                for ax in 0..3 {
                    scratch.series.clear();
                    series(a, ax, &mut scratch.series);
                    let m = scratch.msd();
                    for (l, &lag) in lags.iter().enumerate() {
                        row[[l, ax]] = m[lag];
                    }
                }
            })
        });
    out
}

thread_local! {
    /// Each thread's MSD buffers, kept for the life of the thread: rayon calls a
    /// `for_each_init` initialiser once per job, not once per thread, so every job
    /// faulted in fresh half-megabyte buffers (a streamed `traj msd` of the 0.74 GB
    /// XDATCAR: 26 000 page faults before, 14 000 now; the wall time did not move).
    static SCRATCH: std::cell::RefCell<MsdScratch> = std::cell::RefCell::new(MsdScratch::new());
}

/// Buffers for one thread's MSDs by FFT, reused from series to series (fresh pages
/// for every atom cost more than the transforms).
pub struct MsdScratch {
    planner: RealFftPlanner<f64>,
    /// The series to transform; [`MsdScratch::msd`] reads it.
    pub series: Vec<f64>,
    pad: Vec<f64>,
    spec: Vec<realfft::num_complex::Complex<f64>>,
    back: Vec<f64>,
    sq: Vec<f64>,
    out: Vec<f64>,
    /// The transforms' own working space (`process` would allocate it afresh on
    /// every call: a fresh half megabyte, zeroed by the kernel, per series).
    work: Vec<realfft::num_complex::Complex<f64>>,
}

impl MsdScratch {
    pub fn new() -> Self {
        MsdScratch {
            planner: RealFftPlanner::new(),
            series: Vec::new(),
            pad: Vec::new(),
            spec: Vec::new(),
            back: Vec::new(),
            sq: Vec::new(),
            out: Vec::new(),
            work: Vec::new(),
        }
    }

    /// `msd_fft` of `self.series`: the same operations in the same order.
    pub fn msd(&mut self) -> &[f64] {
        let t = self.series.len();
        self.out.clear();
        if t == 0 {
            return &self.out;
        }
        let n = (2 * t).next_power_of_two();
        let fwd = self.planner.plan_fft_forward(n);
        let inv = self.planner.plan_fft_inverse(n);
        self.pad.clear();
        self.pad.resize(n, 0.0);
        self.pad[..t].copy_from_slice(&self.series);
        self.spec.clear();
        self.spec.resize(n / 2 + 1, Default::default());
        let need = fwd.get_scratch_len().max(inv.get_scratch_len());
        if self.work.len() < need {
            self.work.resize(need, Default::default());
        }
        fwd.process_with_scratch(&mut self.pad, &mut self.spec, &mut self.work)
            .expect("FFT sizes match");
        for x in self.spec.iter_mut() {
            *x = x.conj() * *x;
        }
        self.back.clear();
        self.back.resize(n, 0.0);
        inv.process_with_scratch(&mut self.spec, &mut self.back, &mut self.work)
            .expect("FFT sizes match");
        self.sq.clear();
        self.sq.extend(self.series.iter().map(|v| v * v));
        let d = &self.sq;
        let mut q = 2.0 * d.iter().sum::<f64>();
        for m in 0..t {
            if m > 0 {
                q -= d[m - 1] + d[t - m];
            }
            let s2 = self.back[m] / n as f64 / (t - m) as f64;
            self.out.push((q / (t - m) as f64 - 2.0 * s2).max(0.0));
        }
        &self.out
    }
}

impl Default for MsdScratch {
    fn default() -> Self {
        Self::new()
    }
}

/// MSD(m) for m = 0..T-1 of one series, averaged over all origins, by FFT:
/// MSD(m) = S1(m) − 2 S2(m), S2 the autocorrelation, S1 from a running sum of x².
pub(crate) fn msd_fft(x: &[f64], planner: &mut RealFftPlanner<f64>) -> Vec<f64> {
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
    pa[..t].copy_from_slice(a);
    let mut fa = fwd.make_output_vec();
    fwd.process(&mut pa, &mut fa).expect("FFT sizes match");
    // Σ_t a(t) b(t+m) is the inverse transform of conj(A) B. A series with itself
    // (the MSD's case) needs one forward transform: the same numbers, half the work.
    let mut prod: Vec<_> = if std::ptr::eq(a, b) {
        fa.iter().map(|x| x.conj() * x).collect()
    } else {
        pa.fill(0.0);
        pa[..t].copy_from_slice(b);
        let mut fb = fwd.make_output_vec();
        fwd.process(&mut pa, &mut fb).expect("FFT sizes match");
        fa.iter().zip(&fb).map(|(x, y)| x.conj() * y).collect()
    };
    let mut out = inv.make_output_vec();
    inv.process(&mut prod, &mut out).expect("FFT sizes match");
    (0..t).map(|m| out[m] / n as f64 / (t - m) as f64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reused-buffer MSD is `msd_fft` bit for bit, and both are the direct sum over
    /// origins, for lengths that pad to a power of two and ones that do not.
    #[test]
    fn scratch_msd_is_msd_fft_and_the_direct_sum() {
        let mut scratch = MsdScratch::new();
        let mut planner = RealFftPlanner::new();
        for t in [1usize, 2, 3, 7, 64, 65, 1000] {
            let x: Vec<f64> = (0..t)
                .map(|i| ((i * 7919) % 113) as f64 * 0.37 - 20.0)
                .collect();
            scratch.series = x.clone();
            let a = scratch.msd().to_vec();
            let b = msd_fft(&x, &mut planner);
            assert_eq!(
                a.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                b.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
            );
            for m in 0..t {
                let direct: f64 =
                    (0..t - m).map(|i| (x[i + m] - x[i]).powi(2)).sum::<f64>() / (t - m) as f64;
                assert!(
                    (a[m] - direct).abs() <= 1e-9 * (1.0 + direct),
                    "t {t} m {m}"
                );
            }
        }
    }
}
