//! The gap statistic (Tibshirani, Walther & Hastie 2001): for each k,
//! Gap(k) = E*[log W*_k] − log W_k, where W_k is the pooled within-cluster sum of
//! squares (the inertia) and E* the mean over B reference sets drawn uniformly in the
//! bounding box of the data (the paper's option (a)), each clustered by the same
//! method. s_k = sd_k · sqrt(1 + 1/B); the suggested k is the smallest with
//! Gap(k) ≥ Gap(k+1) − s_(k+1).

use ndarray::{Array3, ArrayView2, ArrayView3};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::Result;

/// Gap(k) and s_k for every k, and the suggested k.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Gap {
    pub gap: Vec<f64>,
    pub s: Vec<f64>,
    pub suggested_k: Option<usize>,
    pub references: usize,
}

/// `refs` reference sets (refs x n x d), uniform in the per-column range of `x`,
/// from a ChaCha stream seeded by `seed`.
pub(crate) fn reference_sets(x: ArrayView2<f32>, refs: usize, seed: u64) -> Array3<f32> {
    let (n, d) = x.dim();
    let lo: Vec<f32> = (0..d)
        .map(|t| x.column(t).iter().copied().fold(f32::INFINITY, f32::min))
        .collect();
    let hi: Vec<f32> = (0..d)
        .map(|t| {
            x.column(t)
                .iter()
                .copied()
                .fold(f32::NEG_INFINITY, f32::max)
        })
        .collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x6761_7073_7461_7473); // "gapstats"
    Array3::from_shape_fn((refs, n, d), |(_, _, t)| {
        let u: f32 = rng.random();
        lo[t] + u * (hi[t] - lo[t])
    })
}

/// The gap statistic from the data's inertia per k (`w`, aligned with `ks`) and the
/// references' inertias (`w_ref[b][i]` for reference b and ks[i]).
pub(crate) fn gap_from_inertias(ks: &[usize], w: &[f64], w_ref: &[Vec<f64>]) -> Gap {
    let b = w_ref.len() as f64;
    let mut gap = Vec::with_capacity(ks.len());
    let mut s = Vec::with_capacity(ks.len());
    for (i, &wk) in w.iter().enumerate() {
        let logs: Vec<f64> = w_ref
            .iter()
            .map(|r| r[i].max(f64::MIN_POSITIVE).ln())
            .collect();
        let mean = logs.iter().sum::<f64>() / b;
        let sd = (logs.iter().map(|l| (l - mean).powi(2)).sum::<f64>() / b).sqrt();
        gap.push(mean - wk.max(f64::MIN_POSITIVE).ln());
        s.push(sd * (1.0 + 1.0 / b).sqrt());
    }
    let suggested_k = (0..ks.len().saturating_sub(1))
        .find(|&i| ks[i + 1] == ks[i] + 1 && gap[i] >= gap[i + 1] - s[i + 1])
        .map(|i| ks[i]);
    Gap {
        gap,
        s,
        suggested_k,
        references: w_ref.len(),
    }
}

/// The gap statistic of `x` for `ks`, with `cluster` giving the inertia per k of any
/// point set (called once with all references at once, so batched methods stay
/// batched).
pub(crate) fn gap_statistic(
    x: ArrayView2<f32>,
    ks: &[usize],
    w: &[f64],
    refs: usize,
    seed: u64,
    cluster: impl Fn(ArrayView3<f32>) -> Result<Vec<Vec<f64>>>,
) -> Result<Gap> {
    let sets = reference_sets(x, refs, seed);
    let w_ref = cluster(sets.view())?;
    Ok(gap_from_inertias(ks, w, &w_ref))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggested_k_is_the_first_k_whose_gap_is_not_beaten() {
        // Gap rises to k = 3 and then flattens.
        let ks = [1, 2, 3, 4, 5];
        let w = [100.0, 40.0, 10.0, 9.0, 8.0];
        let refs: Vec<Vec<f64>> = (0..10)
            .map(|b| {
                let e = 1.0 + 0.001 * b as f64;
                vec![100.0 * e, 80.0 * e, 65.0 * e, 55.0 * e, 48.0 * e]
            })
            .collect();
        let g = gap_from_inertias(&ks, &w, &refs);
        assert_eq!(g.suggested_k, Some(3));
        assert!(
            (g.gap[0] - (refs.iter().map(|r| r[0].ln()).sum::<f64>() / 10.0 - 100f64.ln())).abs()
                < 1e-12
        );
    }

    #[test]
    fn references_fill_the_bounding_box() {
        let x = ndarray::array![[0.0f32, -1.0], [2.0, 1.0], [1.0, 0.0]];
        let r = reference_sets(x.view(), 4, 7);
        assert_eq!(r.dim(), (4, 3, 2));
        assert!(r.iter().step_by(2).all(|&v| (0.0..=2.0).contains(&v)));
        assert!(
            r.iter()
                .skip(1)
                .step_by(2)
                .all(|&v| (-1.0..=1.0).contains(&v))
        );
        assert_eq!(r, reference_sets(x.view(), 4, 7));
    }
}
