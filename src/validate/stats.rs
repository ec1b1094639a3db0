//! Rank statistics: average ranks, Spearman ρ, Kendall τ-b, the ROC AUC and seeded
//! bootstrap intervals.

use rand::RngExt;
use rand_chacha::ChaCha8Rng;

/// Average ranks (1-based), ties sharing their mean rank.
pub fn ranks(x: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..x.len()).collect();
    idx.sort_by(|&a, &b| x[a].total_cmp(&x[b]));
    let mut r = vec![0.0; x.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && x[idx[j + 1]] == x[idx[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            r[k] = avg;
        }
        i = j + 1;
    }
    r
}

/// Spearman's ρ (Pearson's r of average ranks); None when either side is constant.
pub fn spearman(x: &[f64], y: &[f64]) -> Option<f64> {
    if x.len() < 3 {
        return None;
    }
    Some(crate::cluster::hierarchical::pearson(&ranks(x), &ranks(y))).filter(|r| r.is_finite())
}

/// Kendall's τ-b.
pub fn kendall(x: &[f64], y: &[f64]) -> Option<f64> {
    let n = x.len();
    let (mut c, mut d, mut tx, mut ty) = (0i64, 0i64, 0i64, 0i64);
    for i in 0..n {
        for j in i + 1..n {
            let (a, b) = ((x[i] - x[j]).signum(), (y[i] - y[j]).signum());
            if x[i] == x[j] && y[i] == y[j] {
                continue;
            } else if x[i] == x[j] {
                tx += 1;
            } else if y[i] == y[j] {
                ty += 1;
            } else if a == b {
                c += 1;
            } else {
                d += 1;
            }
        }
    }
    let denom = (((c + d + tx) as f64) * ((c + d + ty) as f64)).sqrt();
    (n >= 2 && denom > 0.0).then(|| (c - d) as f64 / denom)
}

/// ROC AUC of `score` for the positives (ties count one half); None without both
/// classes.
pub fn auc(score: &[f64], positive: &[bool]) -> Option<f64> {
    let r = ranks(score);
    let n1 = positive.iter().filter(|&&p| p).count() as f64;
    let n0 = positive.len() as f64 - n1;
    if n1 == 0.0 || n0 == 0.0 {
        return None;
    }
    let sum: f64 = r
        .iter()
        .zip(positive)
        .filter(|(_, p)| **p)
        .map(|(r, _)| r)
        .sum();
    Some((sum - n1 * (n1 + 1.0) / 2.0) / (n1 * n0))
}

pub(crate) fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Bootstrap 95 % interval (2.5th and 97.5th percentiles) of `stat` over resamples of
/// the indices 0..n.
pub(crate) fn bootstrap(
    n: usize,
    b: usize,
    rng: &mut ChaCha8Rng,
    stat: &dyn Fn(&[usize]) -> Option<f64>,
) -> Option<(f64, f64)> {
    if n < 3 || b == 0 {
        return None;
    }
    let mut vals: Vec<f64> = (0..b)
        .filter_map(|_| {
            let idx: Vec<usize> = (0..n).map(|_| rng.random_range(0..n)).collect();
            stat(&idx)
        })
        .collect();
    if vals.len() < b / 2 {
        return None;
    }
    vals.sort_by(f64::total_cmp);
    Some((percentile(&vals, 0.025), percentile(&vals, 0.975)))
}
