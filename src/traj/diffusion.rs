//! Diffusion coefficients from MSDs, with an honest uncertainty.
//!
//! D = slope / (2 d) (d = the number of axes, 3 by default), the slope from a generalised least-squares
//! (GLS) line through the mean MSD over a window of lags. MSD points at different lags
//! are strongly correlated (they reuse the same displacements), so ordinary least
//! squares understates the error badly. The covariance of the mean MSD is estimated
//! from the per-atom MSD curves (atoms as independent samples, each with its own time
//! correlations), shrunk towards its diagonal by K / (K + N) for K fitted lags and N
//! atoms so it stays well conditioned; the GLS slope variance is (Xᵀ Σ⁻¹ X)⁻¹.
//!
//! The fit window starts at `--start-ps`, or automatically at the first lag from which
//! the MSD grows at least as t^0.75 (log-log slope over each [t, 2t]) all the way to
//! half the run, i.e. past the ballistic and caged regimes; if it never does, at 10 %
//! of the run. It ends at the last lag. At most 40 lags, evenly spaced in the window,
//! enter the fit (more add almost no information and make Σ harder to estimate).

use super::msd_core::Msd;
use crate::error::Result;
use crate::invalid;

/// 1 Å²/ps in cm²/s.
const A2_PER_PS_IN_CM2_PER_S: f64 = 1e-4;
const MAX_POINTS: usize = 40;

/// The diffusive-regime check: the MSD's exponent over the fit window (OLS of ln MSD on
/// ln t) must lie within this distance of 1 (the same 0.75 the automatic start asks of
/// every doubling of the lag) ...
pub(crate) const DIFFUSIVE_EXPONENT_TOLERANCE: f64 = 0.25;
/// ... and the MSD at the end of the window must reach (1 Å)²: ions that moved less
/// than an ångström on average have vibrated, not diffused (a jump is about 2 Å).
pub(crate) const DIFFUSIVE_MIN_MSD_A2: f64 = 1.0;

#[derive(Debug, Clone, serde::Serialize)]
pub struct Fit {
    /// D (cm²/s), or NaN (null in JSON) when the MSD is not diffusive over the fit
    /// window (see `diffusive`); the line's own value is `d_fitted_cm2_s`.
    pub d_cm2_s: f64,
    /// slope / 2d of the fitted line, diffusive or not.
    pub d_fitted_cm2_s: f64,
    /// The MSD's exponent over the fit window (d ln MSD / d ln t; 1 when diffusive,
    /// 0 on a plateau, 2 when ballistic).
    pub loglog_exponent: f64,
    /// Whether the MSD is diffusive over the fit window (exponent within 0.25 of 1,
    /// MSD at its end at least 1 Å², and, for an automatic start, a start found).
    pub diffusive: bool,
    /// Why not, or the evidence that it is.
    pub diffusive_note: String,
    pub d_err_cm2_s: f64,
    pub fit_start_ps: f64,
    pub fit_end_ps: f64,
    pub start_chosen_automatically: bool,
    /// Slope (Å²/ps) and intercept (Å²) of the fitted line.
    pub slope_a2_ps: f64,
    pub intercept_a2: f64,
    pub n_points: usize,
    pub method: String,
}

/// Cholesky factor (lower) of a symmetric positive definite matrix, or None.
fn cholesky(a: &[Vec<f64>]) -> Option<Vec<Vec<f64>>> {
    let n = a.len();
    let mut l = vec![vec![0.0; n]; n];
    for i in 0..n {
        for j in 0..=i {
            let s: f64 = (0..j).map(|k| l[i][k] * l[j][k]).sum();
            if i == j {
                let v = a[i][i] - s;
                if v <= 0.0 {
                    return None;
                }
                l[i][j] = v.sqrt();
            } else {
                l[i][j] = (a[i][j] - s) / l[j][j];
            }
        }
    }
    Some(l)
}

/// Solve L Lᵀ x = b.
fn chol_solve(l: &[Vec<f64>], b: &[f64]) -> Vec<f64> {
    let n = l.len();
    let mut y = vec![0.0; n];
    for i in 0..n {
        y[i] = (b[i] - (0..i).map(|k| l[i][k] * y[k]).sum::<f64>()) / l[i][i];
    }
    let mut x = vec![0.0; n];
    for i in (0..n).rev() {
        x[i] = (y[i] - (i + 1..n).map(|k| l[k][i] * x[k]).sum::<f64>()) / l[i][i];
    }
    x
}

/// The first lag from which the MSD's local exponent d ln MSD / d ln t stays at least
/// 0.75 up to half the run (each exponent over a doubling of the lag); if none, the
/// first lag at a tenth of the run. O(L log L) in the number of lags.
fn auto_start_of(t: &[f64], msd_a2: &[f64]) -> (usize, bool) {
    let last = t.len().saturating_sub(1);
    let exponent = |i: usize| -> Option<f64> {
        let j = i + t[i..].partition_point(|&x| x < 2.0 * t[i]);
        (j < t.len() && msd_a2[i] > 0.0 && msd_a2[j] > 0.0)
            .then(|| (msd_a2[j] / msd_a2[i]).ln() / (t[j] / t[i]).ln())
    };
    let half = t.last().copied().unwrap_or(0.0) / 2.0;
    // good_from[i]: every lag from i up to half the run has an exponent >= 0.75.
    let upto = t.partition_point(|&x| x <= half);
    let mut good_from = vec![true; t.len() + 1];
    for k in (0..t.len()).rev() {
        good_from[k] = if k < upto {
            good_from[k + 1] && exponent(k).is_some_and(|a| a >= 0.75)
        } else {
            true
        };
    }
    for i in 0..t.len() {
        if t[i] * 2.0 > t[last] {
            break;
        }
        if good_from[i] {
            return (i, true);
        }
    }
    let fallback = (0..t.len()).find(|&i| t[i] >= 0.1 * t[last]).unwrap_or(0);
    (fallback, false)
}

/// The lag indices (into the lags of `times`) a fit from `start_ps` (None: automatic)
/// uses, and whether an automatic start was found: at most 40 points, evenly spread
/// from the start to the last lag. A streamed MSD keeps its per-atom curves at these
/// lags only.
pub fn fit_points(
    times: &[f64],
    msd_a2: &[f64],
    start_ps: Option<f64>,
) -> Result<(Vec<usize>, bool)> {
    let (first, automatic) = match start_ps {
        Some(s) => {
            if !(s >= 0.0) || s >= *times.last().unwrap_or(&0.0) {
                return Err(invalid!(
                    "option start_ps {s} is outside the trajectory's lags (0 to {:.3} ps)",
                    times.last().unwrap_or(&0.0)
                ));
            }
            (
                times.iter().position(|&t| t >= s - 1e-9).unwrap_or(0),
                false,
            )
        }
        None => auto_start_of(times, msd_a2),
    };
    let eligible: Vec<usize> = (first..times.len()).collect();
    if eligible.len() < 3 {
        return Err(invalid!(
            "only {} MSD points from the fit start: the trajectory is too short for a fit",
            eligible.len()
        ));
    }
    let k = eligible.len().min(MAX_POINTS);
    let pick = (0..k)
        .map(|j| eligible[(j * (eligible.len() - 1)) / (k - 1).max(1)])
        .collect();
    Ok((pick, automatic))
}

/// Fit D from `msd` starting at `start_ps` (None: automatic).
pub fn fit(msd: &Msd, start_ps: Option<f64>) -> Result<Fit> {
    let times = msd.times_ps();
    let (pick, automatic) = fit_points(&times, &msd.msd_a2, start_ps)?;
    let k = pick.len();
    let x: Vec<f64> = pick.iter().map(|&i| times[i]).collect();
    let y: Vec<f64> = pick.iter().map(|&i| msd.msd_a2[i]).collect();
    // Covariance of the mean MSD from the per-atom curves.
    let n = msd.per_atom_a2.nrows();
    let cols: Vec<Vec<f64>> = pick
        .iter()
        .map(|&i| msd.per_atom_column(i).map(|c| c.to_vec()))
        .collect::<Result<_>>()?;
    let means: Vec<f64> = cols
        .iter()
        .map(|c| c.iter().sum::<f64>() / n as f64)
        .collect();
    let mut cov = vec![vec![0.0; k]; k];
    if n > 1 {
        for a in 0..k {
            for b in 0..=a {
                let s: f64 = (0..n)
                    .map(|r| (cols[a][r] - means[a]) * (cols[b][r] - means[b]))
                    .sum::<f64>()
                    / ((n - 1) * n) as f64;
                cov[a][b] = s;
                cov[b][a] = s;
            }
        }
    }
    let lambda = k as f64 / (k + n) as f64;
    for a in 0..k {
        for b in 0..k {
            if a != b {
                cov[a][b] *= 1.0 - lambda;
            }
        }
    }
    let (slope, intercept, var_slope, method) = match cholesky(&cov) {
        Some(l) => {
            // GLS normal equations: (Xᵀ W X) β = Xᵀ W y with W = Σ⁻¹.
            let w1 = chol_solve(&l, &vec![1.0; k]);
            let wx = chol_solve(&l, &x);
            let wy = chol_solve(&l, &y);
            let (s11, s1x, sxx) = (
                w1.iter().sum::<f64>(),
                wx.iter().sum::<f64>(),
                x.iter().zip(&wx).map(|(a, b)| a * b).sum::<f64>(),
            );
            let (s1y, sxy) = (
                wy.iter().sum::<f64>(),
                x.iter().zip(&wy).map(|(a, b)| a * b).sum::<f64>(),
            );
            let det = s11 * sxx - s1x * s1x;
            let slope = (s11 * sxy - s1x * s1y) / det;
            let intercept = (sxx * s1y - s1x * sxy) / det;
            (
                slope,
                intercept,
                s11 / det,
                format!(
                    "GLS, covariance of the mean MSD from {n} per-atom curves (shrinkage {lambda:.2})"
                ),
            )
        }
        None => {
            // A single atom (or a degenerate covariance): ordinary least squares, with
            // its (optimistic) residual error.
            let xm = x.iter().sum::<f64>() / k as f64;
            let ym = y.iter().sum::<f64>() / k as f64;
            let sxx: f64 = x.iter().map(|v| (v - xm).powi(2)).sum();
            let slope = x
                .iter()
                .zip(&y)
                .map(|(a, b)| (a - xm) * (b - ym))
                .sum::<f64>()
                / sxx;
            let intercept = ym - slope * xm;
            let rss: f64 = x
                .iter()
                .zip(&y)
                .map(|(a, b)| (b - intercept - slope * a).powi(2))
                .sum();
            (
                slope,
                intercept,
                rss / (k as f64 - 2.0) / sxx,
                "OLS (covariance not estimable: ignores correlations, underestimates the error)"
                    .into(),
            )
        }
    };
    let to_d = A2_PER_PS_IN_CM2_PER_S / (2.0 * msd.axes.count() as f64);
    let exponent = loglog_exponent(&x, &y);
    let end_msd = *y.last().unwrap_or(&0.0);
    let window = crate::traj::fmt_span_ps(x[0], *x.last().unwrap_or(&0.0));
    let not_diffusive = if start_ps.is_none() && !automatic {
        Some(format!(
            "the MSD never grows at least as t^0.75 from some lag up to half the run (the window {window} is a fallback at a tenth of the run; MSD exponent there {exponent:.2})"
        ))
    } else if !(exponent - 1.0).abs().le(&DIFFUSIVE_EXPONENT_TOLERANCE) {
        Some(format!(
            "the MSD grows as t^{exponent:.2} over {window}, not as t^1 (within {DIFFUSIVE_EXPONENT_TOLERANCE})"
        ))
    } else if !(end_msd >= DIFFUSIVE_MIN_MSD_A2) {
        Some(format!(
            "the MSD reaches only {end_msd:.3} Å² by {}: the ions moved less than 1 Å",
            crate::traj::fmt_duration_ps(*x.last().unwrap_or(&0.0))
        ))
    } else {
        None
    };
    let diffusive = not_diffusive.is_none();
    let diffusive_note = not_diffusive.unwrap_or_else(|| {
        format!("diffusive: MSD ∝ t^{exponent:.2} over {window}, reaching {end_msd:.3} Å²")
    });
    Ok(Fit {
        d_cm2_s: if diffusive { slope * to_d } else { f64::NAN },
        d_fitted_cm2_s: slope * to_d,
        loglog_exponent: exponent,
        diffusive,
        diffusive_note,
        d_err_cm2_s: var_slope.max(0.0).sqrt() * to_d,
        fit_start_ps: x[0],
        fit_end_ps: *x.last().unwrap_or(&0.0),
        start_chosen_automatically: start_ps.is_none() && automatic,
        slope_a2_ps: slope,
        intercept_a2: intercept,
        n_points: k,
        method,
    })
}

/// The exponent of y ∝ x^a by least squares on the logarithms of the positive points
/// (NaN with fewer than two).
fn loglog_exponent(x: &[f64], y: &[f64]) -> f64 {
    let pts: Vec<(f64, f64)> = x
        .iter()
        .zip(y)
        .filter(|(a, b)| **a > 0.0 && **b > 0.0)
        .map(|(a, b)| (a.ln(), b.ln()))
        .collect();
    if pts.len() < 2 {
        return f64::NAN;
    }
    let n = pts.len() as f64;
    let (mx, my) = (
        pts.iter().map(|p| p.0).sum::<f64>() / n,
        pts.iter().map(|p| p.1).sum::<f64>() / n,
    );
    let sxx: f64 = pts.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    if sxx > 0.0 { sxy / sxx } else { f64::NAN }
}

/// D_sigma (cm²/s) from the collective MSD, by ordinary least squares from the fit
/// start to a third of the run. The collective MSD is a single series (as noisy as
/// one atom's MSD), so its long lags, averaged over few independent origins, are
/// left out; [`collective`] gives its uncertainty.
pub(crate) fn collective_d(msd: &Msd, fit: &Fit) -> f64 {
    let t = msd.times_ps();
    ols_d(msd, &t, &msd.collective_a2, fit.fit_start_ps)
}

/// The slope of `y(t)` as a D (cm²/s), fitted from `start_ps` to a third of `t`'s span.
fn ols_d(msd: &Msd, t: &[f64], y: &[f64], start_ps: f64) -> f64 {
    let end = t.last().copied().unwrap_or(0.0) / 3.0;
    let idx: Vec<usize> = (0..t.len().min(y.len()))
        .filter(|&i| t[i] >= start_ps - 1e-9 && t[i] <= end.max(start_ps))
        .collect();
    if idx.len() < 2 {
        return f64::NAN;
    }
    let xm = idx.iter().map(|&i| t[i]).sum::<f64>() / idx.len() as f64;
    let ym = idx.iter().map(|&i| y[i]).sum::<f64>() / idx.len() as f64;
    let sxx: f64 = idx.iter().map(|&i| (t[i] - xm).powi(2)).sum();
    let sxy: f64 = idx.iter().map(|&i| (t[i] - xm) * (y[i] - ym)).sum();
    sxy / sxx * A2_PER_PS_IN_CM2_PER_S / (2.0 * msd.axes.count() as f64)
}

/// D_sigma with its uncertainty, and the Haven ratio when the run determines it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Collective {
    /// D_sigma (cm²/s): the mean over consecutive blocks of the run when there are at
    /// least 3, else from the whole run (then without an uncertainty).
    pub d_cm2_s: f64,
    /// Its standard error over the blocks (NaN without blocks).
    pub d_err_cm2_s: f64,
    /// D_sigma of each block (cm²/s).
    pub block_d_cm2_s: Vec<f64>,
    /// The blocks' length (ps).
    pub block_ps: f64,
    /// H = D* / D_sigma and its propagated standard error; NaN when not determined.
    pub haven_ratio: f64,
    pub haven_ratio_err: f64,
    /// Why H is (or is not) determined, in words.
    pub haven_note: String,
}

/// The most blocks D_sigma is averaged over.
pub(crate) const MAX_BLOCKS: usize = 5;

/// D_sigma by block averaging, and the Haven ratio. The run is cut into B ≤ 5
/// consecutive blocks, each long enough to be fitted like the whole run (from the
/// fit start to a third of the block, at least twice the fit start); D_sigma is
/// the mean of the blocks' values and its error their standard error. H = D* / D_sigma
/// is reported only when D_sigma exceeds twice its error; otherwise the note says why
/// it is not determined.
pub fn collective(msd: &Msd, fit: &Fit) -> Collective {
    let t = msd.summed_disp_a.nrows();
    let dt = msd.dt_ps;
    let start = fit.fit_start_ps.max(dt);
    // Blocks of at least 6 × the fit start (the window from the start to a third of
    // the block spans a factor 2 in lag) and 10 frames.
    let min_block = ((6.0 * start / dt).ceil() as usize).max(10);
    let n_blocks = (t / min_block).min(MAX_BLOCKS);
    let mut planner = realfft::RealFftPlanner::<f64>::new();
    let block_d: Vec<f64> = if n_blocks >= 3 {
        let len = t / n_blocks;
        let tb: Vec<f64> = (0..len).map(|l| l as f64 * dt).collect();
        (0..n_blocks)
            .map(|b| {
                let c = crate::traj::msd_core::collective_msd(
                    msd.summed_disp_a.view(),
                    b * len,
                    (b + 1) * len,
                    msd.axes,
                    msd.n_atoms,
                    &mut planner,
                );
                ols_d(msd, &tb, &c, fit.fit_start_ps)
            })
            .collect()
    } else {
        Vec::new()
    };
    let block_ps = if n_blocks >= 3 {
        (t / n_blocks) as f64 * dt
    } else {
        0.0
    };
    let (d, err) = if block_d.len() >= 3 && block_d.iter().all(|v| v.is_finite()) {
        let n = block_d.len() as f64;
        let mean = block_d.iter().sum::<f64>() / n;
        let sd = (block_d.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
        (mean, sd / n.sqrt())
    } else {
        (collective_d(msd, fit), f64::NAN)
    };
    let (haven, haven_err, note) = if !err.is_finite() {
        (
            f64::NAN,
            f64::NAN,
            format!(
                "not determined: D_sigma needs at least 3 blocks of the run, each 6 × the fit start ({:.2} ps) long, for an uncertainty; this run is {:.2} ps",
                6.0 * start,
                t as f64 * dt
            ),
        )
    } else if !(d > 2.0 * err) {
        (
            f64::NAN,
            f64::NAN,
            format!(
                "not determined: D_sigma = {d:.2e} ± {err:.1e} cm²/s is not distinguishable from zero in this run ({} blocks of {block_ps:.2} ps); a longer run or several runs are needed",
                block_d.len()
            ),
        )
    } else {
        let h = fit.d_cm2_s / d;
        let rel = ((fit.d_err_cm2_s / fit.d_cm2_s).powi(2) + (err / d).powi(2)).sqrt();
        (
            h,
            h * rel,
            format!(
                "D* / D_sigma, D_sigma the mean of {} blocks of {block_ps:.2} ps ± its standard error",
                block_d.len()
            ),
        )
    };
    Collective {
        d_cm2_s: d,
        d_err_cm2_s: err,
        block_d_cm2_s: block_d,
        block_ps,
        haven_ratio: haven,
        haven_ratio_err: haven_err,
        haven_note: note,
    }
}

/// Formal charge of common mobile ions and anions (`--charge` overrides).
pub(crate) fn default_charge(species: &str) -> Option<f64> {
    Some(match species {
        "H" | "Li" | "Na" | "K" | "Rb" | "Cs" | "Ag" | "Cu" => 1.0,
        "Mg" | "Ca" | "Zn" | "Sr" | "Ba" => 2.0,
        "Al" => 3.0,
        "F" | "Cl" | "Br" | "I" => -1.0,
        "O" | "S" | "Se" => -2.0,
        _ => return None,
    })
}

/// Nernst-Einstein conductivity (S/cm): σ = N q² D / (V k_B T).
pub(crate) fn nernst_einstein_s_cm(
    n_ions: usize,
    charge: f64,
    d_cm2_s: f64,
    volume_a3: f64,
    temperature_k: f64,
) -> f64 {
    const E: f64 = 1.602_176_634e-19;
    const KB: f64 = 1.380_649e-23;
    let d_m2_s = d_cm2_s * 1e-4;
    let v_m3 = volume_a3 * 1e-30;
    let sigma_s_m = n_ions as f64 * (charge * E).powi(2) * d_m2_s / (v_m3 * KB * temperature_k);
    sigma_s_m / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cholesky_solves_a_small_system() {
        let a = vec![vec![4.0, 2.0], vec![2.0, 3.0]];
        let l = cholesky(&a).unwrap();
        let x = chol_solve(&l, &[2.0, 1.0]);
        assert!(
            (4.0 * x[0] + 2.0 * x[1] - 2.0).abs() < 1e-12
                && (2.0 * x[0] + 3.0 * x[1] - 1.0).abs() < 1e-12
        );
        assert!(cholesky(&[vec![0.0]]).is_none());
    }

    #[test]
    fn nernst_einstein_of_a_known_case() {
        // 1e-5 cm²/s, 1 Li per 100 Å³ at 300 K: σ = n q² D / (kT)
        // = 1e28 m⁻³ × (1.602e-19 C)² × 1e-9 m²/s / 4.142e-21 J = 61.96 S/m = 0.6196 S/cm.
        let s = nernst_einstein_s_cm(1, 1.0, 1e-5, 100.0, 300.0);
        assert!((s - 0.6196).abs() < 1e-3, "{s}");
    }
}
