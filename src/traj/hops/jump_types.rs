//! Step 4's classification: jump lengths grouped into classes, jump types by the
//! labels of their sites.

use super::types::{Event, JumpType, Site, SiteDef};

pub(crate) fn histogram(v: &[f64], bins: usize) -> Vec<(f64, usize)> {
    if v.is_empty() {
        return Vec::new();
    }
    let max = v.iter().copied().fold(0.0, f64::max).max(1e-12);
    let w = max / bins as f64;
    let mut h = vec![0usize; bins];
    for &x in v {
        h[((x / w) as usize).min(bins - 1)] += 1;
    }
    h.into_iter()
        .enumerate()
        .map(|(i, c)| (i as f64 * w, c))
        .collect()
}

/// Split sorted distances into classes at the valleys of their density (a Gaussian
/// kernel of 0.05 Å): two neighbouring peaks are separate classes when the density
/// between them falls below half of the smaller peak. Discrete distances (sites from
/// a CIF) give one class each; the continuum of a discovered site set splits only
/// where the data shows a gap.
pub(crate) fn distance_classes(d: &[f64]) -> Vec<Vec<f64>> {
    if d.is_empty() {
        return Vec::new();
    }
    let bw = 0.05;
    let (lo, hi) = (d[0] - 4.0 * bw, d[d.len() - 1] + 4.0 * bw);
    let step = 0.005;
    let n = ((hi - lo) / step).ceil() as usize + 1;
    let xs: Vec<f64> = (0..n).map(|i| lo + i as f64 * step).collect();
    let kde: Vec<f64> = xs
        .iter()
        .map(|&x| {
            // Only the points within 5 bandwidths matter.
            let a = d.partition_point(|&v| v < x - 5.0 * bw);
            let b = d.partition_point(|&v| v <= x + 5.0 * bw);
            d[a..b]
                .iter()
                .map(|&v| (-(x - v).powi(2) / (2.0 * bw * bw)).exp())
                .sum()
        })
        .collect();
    let peaks: Vec<usize> = (0..n)
        .filter(|&i| {
            (i == 0 || kde[i] > kde[i - 1]) && (i + 1 == n || kde[i] >= kde[i + 1]) && kde[i] > 0.0
        })
        .collect();
    // Cut points between peaks whose valley is deep enough.
    let mut cuts: Vec<f64> = Vec::new();
    let mut left = peaks[0];
    for &right in &peaks[1..] {
        let (vi, vmin) = (left..=right)
            .map(|i| (i, kde[i]))
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap_or((left, 0.0));
        if vmin < 0.5 * kde[left].min(kde[right]) {
            cuts.push(xs[vi]);
            left = right;
        } else if kde[right] > kde[left] {
            left = right;
        }
    }
    let mut classes: Vec<Vec<f64>> = vec![Vec::new(); cuts.len() + 1];
    for &x in d {
        classes[cuts.partition_point(|&c| c < x)].push(x);
    }
    classes.retain(|c| !c.is_empty());
    classes
}

/// Classes of jumps: by the labels of their two sites (unordered) and by site-to-site
/// distance ([`distance_classes`]).
pub(crate) fn jump_types(
    events: &[Event],
    sites: &[SiteDef],
    n_ions: f64,
    simulated_ps: f64,
    d_of: &dyn Fn(f64) -> f64,
) -> Vec<JumpType> {
    let key = |e: &Event| {
        let (a, b) = (&sites[e.from_site].label, &sites[e.to_site].label);
        if a <= b {
            (a.clone(), b.clone())
        } else {
            (b.clone(), a.clone())
        }
    };
    let mut pairs: Vec<(String, String)> = events.iter().map(key).collect();
    pairs.sort();
    pairs.dedup();
    let mut out = Vec::new();
    for pair in pairs {
        let mut d: Vec<f64> = events
            .iter()
            .filter(|e| key(e) == pair)
            .map(|e| e.length_a)
            .collect();
        d.sort_by(f64::total_cmp);
        let classes = distance_classes(&d);
        for c in classes {
            let n = c.len();
            let mean = c.iter().sum::<f64>() / n as f64;
            let per = n_ions * simulated_ps;
            out.push(JumpType {
                name: {
                    let (lo, hi) = (c[0], c[n - 1]);
                    if hi - lo > 0.2 {
                        format!("{}-{} {:.2} Å ({:.2}-{:.2})", pair.0, pair.1, mean, lo, hi)
                    } else {
                        format!("{}-{} {:.2} Å", pair.0, pair.1, mean)
                    }
                },
                labels: pair.clone(),
                distance_a: mean,
                count: n,
                rate_per_ion_ps: n as f64 / per,
                rate_err_per_ion_ps: (n as f64).sqrt() / per,
                d_jump_cm2_s: d_of(c.iter().map(|x| x * x).sum()),
            });
        }
    }
    out
}

/// The jump type name of an event (as in `JumpAnalysis::types`).
pub fn type_of(e: &Event, sites: &[Site], types: &[JumpType]) -> String {
    let (a, b) = (&sites[e.from_site].label, &sites[e.to_site].label);
    let pair = if a <= b {
        (a.clone(), b.clone())
    } else {
        (b.clone(), a.clone())
    };
    types
        .iter()
        .filter(|t| t.labels == pair)
        .min_by(|x, y| {
            (x.distance_a - e.length_a)
                .abs()
                .total_cmp(&(y.distance_a - e.length_a).abs())
        })
        .map(|t| t.name.clone())
        .unwrap_or_default()
}
