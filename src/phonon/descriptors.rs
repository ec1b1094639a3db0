//! Vibrational descriptors of a phonon DOS for screening.
//!
//! Every integral is the trapezoid rule on the file's own grid, i.e. the exact integral
//! of the piecewise-linear DOS. Averages use positive frequencies only (the DOS is
//! integrated over [0, f_max], the segment that crosses zero cut at zero); weight at
//! imaginary (negative) frequencies is reported separately as `imaginary_fraction`
//! and flags the material `unstable` above a threshold, never mixed into averages.
//!
//! The original study's definitions are available as `legacy_*` columns, so its
//! published numbers can be reproduced and its bugs shown side by side: plain sums
//! instead of integrals, negative frequencies kept, and a Bose-Einstein occupation
//! computed with ħ instead of h (so its "298 K" column is really 298 × 2π ≈ 1872 K).

use super::Dos;
use super::composition::electronegativity;
use crate::error::Result;

/// Planck's constant (J s), Boltzmann's constant (J/K), ħ (J s): CODATA 2018.
const H: f64 = 6.626_070_15e-34;
const KB: f64 = 1.380_649e-23;
const HBAR: f64 = 1.054_571_817e-34;

/// Exact integral of the piecewise-linear function through (x, y).
pub fn trapezoid(x: &[f64], y: &[f64]) -> f64 {
    x.windows(2)
        .zip(y.windows(2))
        .map(|(xs, ys)| 0.5 * (xs[1] - xs[0]) * (ys[0] + ys[1]))
        .sum()
}

/// The part of the grid at f >= 0: grid points with f > 0, preceded by the point at
/// exactly zero (interpolated when the grid crosses zero between two points).
pub(crate) fn positive_part(f: &[f64], g: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let first = f.partition_point(|&v| v <= 0.0);
    let mut fx = Vec::with_capacity(f.len() - first + 1);
    let mut gx = Vec::with_capacity(f.len() - first + 1);
    if first > 0 {
        let (f0, f1) = (f[first - 1], f.get(first).copied().unwrap_or(f[first - 1]));
        let g0 = g[first - 1];
        let value = if f0 == 0.0 || first == f.len() {
            g0
        } else {
            let g1 = g[first];
            g0 + (g1 - g0) * (0.0 - f0) / (f1 - f0)
        };
        fx.push(0.0);
        gx.push(value);
    }
    fx.extend_from_slice(&f[first..]);
    gx.extend_from_slice(&g[first..]);
    (fx, gx)
}

/// The integral of g over f < 0 (the part [`positive_part`] leaves out).
fn negative_integral(f: &[f64], g: &[f64]) -> f64 {
    let (fp, gp) = positive_part(f, g);
    (trapezoid(f, g) - trapezoid(&fp, &gp)).max(0.0)
}

/// Bose-Einstein occupation with h (the physical one) at frequency `f_thz`.
fn occupation(f_thz: f64, t_k: f64) -> f64 {
    let x = H * f_thz * 1e12 / (KB * t_k);
    1.0 / x.exp_m1()
}

/// Descriptors of one projection (positive frequencies only).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Band {
    /// ⟨f⟩ = ∫ f g / ∫ g (THz).
    pub centre_thz: f64,
    /// ⟨f⟩_T = ∫ f g n(f, T) / ∫ g n(f, T), one per requested temperature (THz).
    pub centre_t_thz: Vec<f64>,
    /// Standard deviation of f under g (THz).
    pub spread_thz: f64,
    /// First local maximum of g with at least 10 % of the highest peak (THz).
    pub first_peak_thz: f64,
    /// Frequencies below which 10 % and 50 % of the weight lies (THz).
    pub f10_thz: f64,
    pub f50_thz: f64,
    /// ∫ g over f >= 0 (states, i.e. 3 × sites for a complete projection).
    pub integral: f64,
}

/// Band descriptors of `g` on grid `f` at temperatures `temps_k`.
pub fn band(f: &[f64], g: &[f64], temps_k: &[f64]) -> Band {
    let (fp, gp) = positive_part(f, g);
    let w = trapezoid(&fp, &gp);
    if !(w > 0.0) {
        return Band {
            centre_thz: f64::NAN,
            centre_t_thz: vec![f64::NAN; temps_k.len()],
            spread_thz: f64::NAN,
            first_peak_thz: f64::NAN,
            f10_thz: f64::NAN,
            f50_thz: f64::NAN,
            integral: if w.is_nan() { f64::NAN } else { w.max(0.0) },
        };
    }
    let fg: Vec<f64> = fp.iter().zip(&gp).map(|(a, b)| a * b).collect();
    let centre = trapezoid(&fp, &fg) / w;
    let var: Vec<f64> = fp
        .iter()
        .zip(&gp)
        .map(|(a, b)| (a - centre).powi(2) * b)
        .collect();
    let spread = (trapezoid(&fp, &var) / w).max(0.0).sqrt();
    let centre_t = temps_k
        .iter()
        .map(|&t| {
            // n diverges as kT/hf at f -> 0 while g -> 0 as f^2: define n g = 0 at f = 0.
            let gn: Vec<f64> = fp
                .iter()
                .zip(&gp)
                .map(|(&a, &b)| if a > 0.0 { b * occupation(a, t) } else { 0.0 })
                .collect();
            let fgn: Vec<f64> = fp.iter().zip(&gn).map(|(a, b)| a * b).collect();
            trapezoid(&fp, &fgn) / trapezoid(&fp, &gn)
        })
        .collect();
    let peak = gp.iter().copied().fold(0.0, f64::max);
    let first_peak = (1..gp.len())
        .find(|&i| {
            let next = gp.get(i + 1).copied().unwrap_or(f64::NEG_INFINITY);
            gp[i] > gp[i - 1] && gp[i] >= next && gp[i] >= 0.1 * peak
        })
        .map_or(f64::NAN, |i| fp[i]);
    Band {
        centre_thz: centre,
        centre_t_thz: centre_t,
        spread_thz: spread,
        first_peak_thz: first_peak,
        f10_thz: quantile(&fp, &gp, 0.1),
        f50_thz: quantile(&fp, &gp, 0.5),
        integral: w,
    }
}

/// The frequency below which a fraction `q` of the (positive) weight lies, by linear
/// interpolation of the cumulative trapezoid integral.
pub(crate) fn quantile(f: &[f64], g: &[f64], q: f64) -> f64 {
    let total = trapezoid(f, g);
    let target = q * total;
    let mut acc = 0.0;
    for i in 1..f.len() {
        let seg = 0.5 * (f[i] - f[i - 1]) * (g[i] + g[i - 1]);
        if acc + seg >= target && seg > 0.0 {
            return f[i - 1] + (f[i] - f[i - 1]) * (target - acc) / seg;
        }
        acc += seg;
    }
    f.last().copied().unwrap_or(f64::NAN)
}

/// Heat capacity and vibrational entropy per atom (in units of k_B) at `t_k`, from
/// the positive-frequency DOS; the DOS is normalised to 3 modes per atom by its
/// integral over all frequencies.
pub(crate) fn thermo_per_atom(f: &[f64], g: &[f64], t_k: f64) -> (f64, f64) {
    let all = trapezoid(f, g);
    let (fp, gp) = positive_part(f, g);
    let mut cv = Vec::with_capacity(fp.len());
    let mut s = Vec::with_capacity(fp.len());
    for (&fr, &d) in fp.iter().zip(&gp) {
        let x = H * fr * 1e12 / (KB * t_k);
        if x <= 0.0 {
            cv.push(d); // the classical limit: c(x) -> 1
            s.push(0.0); // s(x) diverges like -ln x but g -> 0 faster
            continue;
        }
        let em1 = x.exp_m1();
        cv.push(d * x * x * (em1 + 1.0) / (em1 * em1));
        s.push(d * (x / em1 - (-(-x).exp_m1()).ln()));
    }
    (
        3.0 * trapezoid(&fp, &cv) / all,
        3.0 * trapezoid(&fp, &s) / all,
    )
}

/// Integrals of the piecewise-linear DOS over `bins` equal bins of [0, max_thz),
/// divided by the positive-frequency integral: an area-normalised DOS vector (it sums
/// to the fraction of the weight below `max_thz`).
pub fn dos_vector(f: &[f64], g: &[f64], bins: usize, max_thz: f64) -> Vec<f64> {
    let (fp, gp) = positive_part(f, g);
    let total = trapezoid(&fp, &gp);
    let width = max_thz / bins as f64;
    let mut out = vec![0.0; bins];
    if total <= 0.0 {
        return out;
    }
    let value_at =
        |i: usize, x: f64| gp[i] + (gp[i + 1] - gp[i]) * (x - fp[i]) / (fp[i + 1] - fp[i]);
    for i in 0..fp.len().saturating_sub(1) {
        let (a, b) = (fp[i], fp[i + 1].min(max_thz));
        if a >= max_thz {
            break;
        }
        // Split the segment [a, b] at bin edges.
        let mut lo = a;
        while lo < b {
            let bin = ((lo / width) as usize).min(bins - 1);
            let hi = ((bin + 1) as f64 * width).min(b);
            out[bin] += 0.5 * (hi - lo) * (value_at(i, lo) + value_at(i, hi));
            if hi <= lo {
                break;
            }
            lo = hi;
        }
    }
    out.iter_mut().for_each(|v| *v /= total);
    out
}

/// The original study's definitions, reproduced exactly for checking its numbers:
/// `fav` = Σ f g / Σ g over every grid point (negative frequencies included); the
/// temperature centres with n = 1/(exp(ħ f / k T) − 1) (ħ, with f in Hz) and n = 1 at
/// negative f; `first_f_a` = |f| at the first non-zero density (which measures the
/// grid's first point); `relative_w` = the ratio of grid widths (always 1).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Legacy {
    pub fav: f64,
    pub fav_t: Vec<f64>,
    pub first_f_a: f64,
    pub relative_w: f64,
}

pub fn legacy(f: &[f64], g: &[f64], total_f: &[f64], temps_k: &[f64]) -> Legacy {
    let fav = f.iter().zip(g).map(|(a, b)| a * b).sum::<f64>() / g.iter().sum::<f64>();
    let fav_t = temps_k
        .iter()
        .map(|&t| {
            let n: Vec<f64> = f
                .iter()
                .map(|&fr| {
                    if fr < 0.0 {
                        1.0
                    } else {
                        1.0 / (HBAR * fr * 1e12 / (KB * t)).exp_m1()
                    }
                })
                .collect();
            let num: f64 = f.iter().zip(g).zip(&n).map(|((a, b), c)| a * b * c).sum();
            let den: f64 = g.iter().zip(&n).map(|(b, c)| b * c).sum();
            num / den
        })
        .collect();
    let first_f_a = g
        .iter()
        .position(|&v| v != 0.0)
        .map_or(f64::NAN, |i| f[i].abs());
    let width = |x: &[f64]| x.last().unwrap_or(&0.0) - x.first().unwrap_or(&0.0);
    Legacy {
        fav,
        fav_t,
        first_f_a,
        relative_w: width(f) / width(total_f),
    }
}

/// What `features` computes, and how.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FeatureOptions {
    /// Elements to project on (each gives `<el>_*` columns), default Li.
    pub elements: Vec<String>,
    /// Temperatures (K) for the Bose-Einstein weighted centres.
    pub temperatures_k: Vec<f64>,
    /// Add the original study's `legacy_*` columns (for the first element).
    pub legacy: bool,
    /// Bins of the area-normalised DOS vector over [0, dos_max_thz), if wanted.
    pub dos_bins: Option<usize>,
    pub dos_max_thz: f64,
    /// `unstable` when the imaginary fraction of the total DOS exceeds this.
    pub unstable_threshold: f64,
}

impl Default for FeatureOptions {
    fn default() -> Self {
        FeatureOptions {
            elements: vec!["Li".into()],
            temperatures_k: vec![300.0, 600.0, 900.0],
            legacy: false,
            dos_bins: None,
            dos_max_thz: 30.0,
            unstable_threshold: 1e-3,
        }
    }
}

/// One cell of a feature table.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(untagged)]
pub enum Value {
    Num(f64),
    Bool(bool),
    Text(String),
}

impl Value {
    /// The number, if this is one.
    pub fn num(&self) -> Option<f64> {
        match self {
            Value::Num(v) => Some(*v),
            _ => None,
        }
    }
}

/// One material's descriptors, in column order.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FeatureRow {
    pub columns: Vec<(String, Value)>,
    pub warnings: Vec<String>,
}

impl FeatureRow {
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.columns.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }
}

fn tlabel(t: f64) -> String {
    if t.fract() == 0.0 {
        format!("{}", t as i64)
    } else {
        format!("{t}")
    }
}

/// Append a projection's columns; `weight` (None for the total) is the fraction of
/// all modes, imaginary ones included, on this projection.
fn push_band(
    cols: &mut Vec<(String, Value)>,
    prefix: &str,
    b: &Band,
    temps: &[f64],
    weight: Option<f64>,
) {
    cols.push((format!("{prefix}_centre_thz"), Value::Num(b.centre_thz)));
    for (t, c) in temps.iter().zip(&b.centre_t_thz) {
        cols.push((
            format!("{prefix}_centre_{}k_thz", tlabel(*t)),
            Value::Num(*c),
        ));
    }
    cols.push((format!("{prefix}_spread_thz"), Value::Num(b.spread_thz)));
    cols.push((
        format!("{prefix}_first_peak_thz"),
        Value::Num(b.first_peak_thz),
    ));
    cols.push((format!("{prefix}_f10_thz"), Value::Num(b.f10_thz)));
    cols.push((format!("{prefix}_f50_thz"), Value::Num(b.f50_thz)));
    if let Some(w) = weight {
        cols.push((format!("{prefix}_weight"), Value::Num(w)));
    }
}

/// The DOS vector's column names (bin centres in THz).
pub(crate) fn dos_vector_columns(bins: usize, max_thz: f64) -> Vec<String> {
    let w = max_thz / bins as f64;
    (0..bins)
        .map(|i| format!("dos_{:.3}thz", (i as f64 + 0.5) * w))
        .collect()
}

/// All descriptors of one material: id, formula, total, each element, the anion
/// (most electronegative element) and the framework (everything but the first
/// element), stability, thermodynamics, and optionally the DOS vector and legacy.
/// The most bins a DOS vector may have.
pub const MAX_DOS_BINS: usize = 100_000;

pub fn features(dos: &Dos, opts: &FeatureOptions) -> Result<FeatureRow> {
    if let Some(b) = opts.dos_bins.filter(|&b| b == 0 || b > MAX_DOS_BINS) {
        return Err(crate::error::Error::InvalidInput(format!(
            "option dos_vector {b}: expected 1 to {MAX_DOS_BINS} bins"
        )));
    }
    let f = &dos.freqs_thz;
    let temps = &opts.temperatures_k;
    let mut cols: Vec<(String, Value)> = vec![
        ("id".into(), Value::Text(dos.id.clone())),
        ("formula".into(), Value::Text(dos.formula())),
    ];
    let total = band(f, &dos.total, temps);
    let all = trapezoid(f, &dos.total);
    push_band(&mut cols, "total", &total, temps, None);
    let weight = |g: &[f64]| Some(trapezoid(f, g) / all);
    // A projection the material lacks (no such element, or no projected DOS at all)
    // leaves its columns empty and says so: a mixed folder still gives one row each.
    let mut warnings = dos.warnings.clone();
    let nan = vec![f64::NAN; f.len()];
    let mut element_dos: Vec<Option<Vec<f64>>> = Vec::new();
    for el in &opts.elements {
        match dos.element_dos(el) {
            Ok(g) => {
                push_band(
                    &mut cols,
                    &el.to_lowercase(),
                    &band(f, &g, temps),
                    temps,
                    weight(&g),
                );
                element_dos.push(Some(g));
            }
            Err(e) => {
                warnings.push(format!("{el} columns left empty: {}", e.detail()));
                push_band(
                    &mut cols,
                    &el.to_lowercase(),
                    &band(f, &nan, temps),
                    temps,
                    Some(f64::NAN),
                );
                element_dos.push(None);
            }
        }
    }
    // The anion: the most electronegative element present (S in Li3PS4, O in Li2O).
    let anion = dos
        .elements()
        .into_iter()
        .filter(|e| !opts.elements.contains(e))
        .max_by(|a, b| {
            electronegativity(a)
                .unwrap_or(0.0)
                .total_cmp(&electronegativity(b).unwrap_or(0.0))
        });
    let anion_dos = anion.as_ref().and_then(|a| dos.element_dos(a).ok());
    cols.push((
        "anion".into(),
        Value::Text(
            anion
                .clone()
                .filter(|_| anion_dos.is_some())
                .unwrap_or_default(),
        ),
    ));
    let g = anion_dos.as_deref().unwrap_or(&nan);
    push_band(&mut cols, "anion", &band(f, g, &[]), &[], weight(g));
    if let Some(first) = element_dos.first() {
        let framework: Vec<f64> = match first {
            Some(e) => dos
                .total
                .iter()
                .zip(e)
                .map(|(t, e)| (t - e).max(0.0))
                .collect(),
            None => nan.clone(),
        };
        push_band(
            &mut cols,
            "framework",
            &band(f, &framework, &[]),
            &[],
            weight(&framework),
        );
    }
    let imaginary = negative_integral(f, &dos.total) / all;
    cols.push(("imaginary_fraction".into(), Value::Num(imaginary)));
    cols.push((
        "unstable".into(),
        Value::Bool(imaginary > opts.unstable_threshold),
    ));
    let (cv, s) = thermo_per_atom(f, &dos.total, 300.0);
    cols.push(("cv_300k_kb_per_atom".into(), Value::Num(cv)));
    cols.push(("s_300k_kb_per_atom".into(), Value::Num(s)));
    cols.push(("dos_integral".into(), Value::Num(all)));
    cols.push(("n_sites".into(), Value::Num(dos.species.len() as f64)));
    // The sum rule: a complete DOS of N sites integrates to 3N. Off by more than 5 %,
    // the weights (li_weight is the Li atom fraction only where it holds) are off too.
    let per_3n = if dos.species.is_empty() {
        f64::NAN
    } else {
        all / (3.0 * dos.species.len() as f64)
    };
    cols.push(("dos_integral_per_3n".into(), Value::Num(per_3n)));
    if (per_3n - 1.0).abs() > 0.05 {
        warnings.push(format!(
            "DOS integral not 3N: {:.3} for {} sites ({:.3} of 3N); weights such as li_weight are off by as much (a coarse mesh, or a DOS cut off)",
            all,
            dos.species.len(),
            per_3n
        ));
    }
    if opts.legacy
        && let Some(first) = element_dos.first()
    {
        let l = legacy(f, first.as_deref().unwrap_or(&nan), f, temps);
        cols.push(("legacy_fav".into(), Value::Num(l.fav)));
        for (t, v) in temps.iter().zip(&l.fav_t) {
            cols.push((format!("legacy_{}", tlabel(*t)), Value::Num(*v)));
        }
        cols.push(("legacy_first_f_a".into(), Value::Num(l.first_f_a)));
        cols.push(("legacy_relative_w".into(), Value::Num(l.relative_w)));
    }
    if let Some(bins) = opts.dos_bins {
        let v = dos_vector(f, &dos.total, bins, opts.dos_max_thz);
        for (name, x) in dos_vector_columns(bins, opts.dos_max_thz)
            .into_iter()
            .zip(v)
        {
            cols.push((name, Value::Num(x)));
        }
    }
    if imaginary > opts.unstable_threshold {
        warnings.push(format!(
            "{:.2} % of the DOS is at imaginary frequencies: flagged unstable",
            100.0 * imaginary
        ));
    }
    Ok(FeatureRow {
        columns: cols,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trapezoid_is_exact_for_lines() {
        let x = [0.0, 1.0, 3.0];
        assert!((trapezoid(&x, &[1.0, 2.0, 4.0]) - 7.5).abs() < 1e-12);
    }

    #[test]
    fn positive_part_cuts_at_zero() {
        let (f, g) = positive_part(&[-1.0, 1.0, 2.0], &[2.0, 4.0, 4.0]);
        assert_eq!(f, vec![0.0, 1.0, 2.0]);
        assert_eq!(g, vec![3.0, 4.0, 4.0]);
        assert!((negative_integral(&[-1.0, 1.0, 2.0], &[2.0, 4.0, 4.0]) - 2.5).abs() < 1e-12);
    }

    /// A Debye DOS g = 3 f² / fD³ (one atom, three modes): centre 3/4 fD, spread
    /// sqrt(3/80) fD, f50 = fD / 2^(1/3); high-T heat capacity -> 3 k_B per atom.
    #[test]
    fn debye_model_analytic_values() {
        let fd = 10.0;
        let f: Vec<f64> = (0..=20000).map(|i| i as f64 * fd / 20000.0).collect();
        let g: Vec<f64> = f.iter().map(|x| 3.0 * 3.0 * x * x / fd.powi(3)).collect();
        let b = band(&f, &g, &[]);
        assert!((b.integral - 3.0).abs() < 1e-6);
        assert!((b.centre_thz - 0.75 * fd).abs() < 1e-6);
        assert!((b.spread_thz - (3.0f64 / 80.0).sqrt() * fd).abs() < 1e-5);
        assert!((b.f50_thz - fd / 2f64.cbrt()).abs() < 1e-3);
        let (cv, _) = thermo_per_atom(&f, &g, 1e5);
        assert!((cv - 3.0).abs() < 1e-3, "{cv}");
        // Debye heat capacity at T = θD: 2.856 k_B per atom (tabulated).
        let theta = H * fd * 1e12 / KB;
        let (cv, _) = thermo_per_atom(&f, &g, theta);
        assert!((cv - 2.856).abs() < 2e-3, "{cv}");
    }

    #[test]
    fn dos_vector_sums_to_the_weight_below_the_range() {
        let f: Vec<f64> = (0..=100).map(|i| i as f64 * 0.4).collect(); // 0..40 THz
        let g = vec![1.0; 101];
        let v = dos_vector(&f, &g, 30, 30.0);
        assert!((v.iter().sum::<f64>() - 0.75).abs() < 1e-12);
        assert!(v.iter().all(|x| (x - 0.025).abs() < 1e-12));
    }

    #[test]
    fn legacy_temperature_is_hbar_so_298k_is_really_1872k() {
        let f: Vec<f64> = (1..=400).map(|i| i as f64 * 0.05).collect();
        let g: Vec<f64> = f.iter().map(|x| x * x * (-x / 5.0).exp()).collect();
        let l = legacy(&f, &g, &f, &[298.0]);
        let b = band(&f, &g, &[298.0 * 2.0 * std::f64::consts::PI]);
        // Same weights up to the trapezoid end corrections: close, not equal.
        assert!(
            (l.fav_t[0] - b.centre_t_thz[0]).abs() < 0.05,
            "{} vs {}",
            l.fav_t[0],
            b.centre_t_thz[0]
        );
    }
}
