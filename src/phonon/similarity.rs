//! Pairwise similarity of phonon DOS curves, on the engine's pairwise kernel.
//!
//! - `wasserstein`: the 2-Wasserstein (earth mover's, quadratic cost) distance in THz
//!   between the normalised positive-frequency DOS. In one dimension it is the L2
//!   distance between quantile functions, W2² = ∫₀¹ (Qa(q) − Qb(q))² dq, so it is a
//!   squared Euclidean distance between quantile vectors sampled at `bins` points.
//! - `cosine` and `tanimoto`: on the area-normalised DOS vectors over [0, max_thz),
//!   from squared distances and norms (a·b = (|a|² + |b|² − |a − b|²) / 2).

use ndarray::Array2;

use super::Dos;
use super::descriptors::{dos_vector, positive_part, quantile};
use crate::compute::Engine;
use crate::error::Result;

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Metric {
    /// 2-Wasserstein distance (THz): 0 for identical DOS.
    Wasserstein,
    /// Cosine similarity of DOS vectors: 1 for identical shapes.
    Cosine,
    /// Tanimoto (extended Jaccard) similarity of DOS vectors: 1 for identical vectors.
    Tanimoto,
}

/// The n x n matrix of `metric` between every pair of `dos`.
pub fn similarity(
    engine: &Engine,
    dos: &[Dos],
    metric: Metric,
    bins: usize,
    max_thz: f64,
) -> Result<Array2<f64>> {
    let max_bins = super::descriptors::MAX_DOS_BINS;
    if bins == 0 || bins > max_bins || !(max_thz > 0.0 && max_thz.is_finite()) {
        return Err(crate::Error::InvalidInput(format!(
            "bins {bins}, max {max_thz} THz: bins (or quantile points) from 1 to {max_bins} and a positive finite range are needed"
        )));
    }
    let n = dos.len();
    let rows: Vec<Vec<f64>> = match metric {
        Metric::Wasserstein => dos
            .iter()
            .map(|d| {
                let (f, g) = positive_part(&d.freqs_thz, &d.total);
                (0..bins)
                    .map(|j| quantile(&f, &g, (j as f64 + 0.5) / bins as f64))
                    .collect()
            })
            .collect(),
        Metric::Cosine | Metric::Tanimoto => dos
            .iter()
            .map(|d| dos_vector(&d.freqs_thz, &d.total, bins, max_thz))
            .collect(),
    };
    let norms2: Vec<f64> = rows.iter().map(|r| r.iter().map(|v| v * v).sum()).collect();
    let x = Array2::from_shape_fn((n, bins), |(i, j)| match metric {
        // Unit vectors make the cosine a function of the distance alone.
        Metric::Cosine => (rows[i][j] / norms2[i].sqrt().max(1e-300)) as f32,
        _ => rows[i][j] as f32,
    });
    let d2 = engine.pairwise_sq_dists(x.view(), x.view())?;
    Ok(Array2::from_shape_fn((n, n), |(i, j)| {
        let d2 = d2[[i, j]].max(0.0) as f64;
        match metric {
            Metric::Wasserstein => (d2 / bins as f64).sqrt(),
            Metric::Cosine => 1.0 - d2 / 2.0,
            Metric::Tanimoto => {
                let dot = 0.5 * (norms2[i] + norms2[j] - d2);
                let den = norms2[i] + norms2[j] - dot;
                if den > 0.0 { dot / den } else { 1.0 }
            }
        }
    }))
}
