//! Exact silhouette coefficients (Rousseeuw 1987) from the engine's per-cluster
//! distance sums, so the n x n distance matrix is never stored.

use ndarray::{Array2, ArrayView2, ArrayView3};

use crate::compute::{Engine, LabelledBatch};
use crate::error::Result;

/// Per-sample silhouettes for B labelled problems (B x n). As in scikit-learn, a point
/// alone in its cluster scores 0, and a problem with a single cluster scores 0.
pub fn silhouette_samples_batch(
    engine: &Engine,
    points: ArrayView3<f32>,
    set_of: &[u32],
    labels: ArrayView2<u32>,
    k: &[u32],
) -> Result<Array2<f64>> {
    let batch = LabelledBatch::new(points, set_of, labels, k)?;
    let sums = engine.cluster_dist_sums(&batch)?;
    let (b_total, n) = labels.dim();
    let mut out = Array2::<f64>::zeros((b_total, n));
    for b in 0..b_total {
        let kb = k[b] as usize;
        let mut sizes = vec![0usize; kb];
        for &l in labels.row(b) {
            sizes[l as usize] += 1;
        }
        for i in 0..n {
            let own = labels[[b, i]] as usize;
            if sizes[own] <= 1 {
                continue;
            }
            let a = sums[[b, i, own]] as f64 / (sizes[own] - 1) as f64;
            let bmin = (0..kb)
                .filter(|&c| c != own && sizes[c] > 0)
                .map(|c| sums[[b, i, c]] as f64 / sizes[c] as f64)
                .fold(f64::INFINITY, f64::min);
            if bmin.is_finite() {
                let m = a.max(bmin);
                out[[b, i]] = if m > 0.0 { (bmin - a) / m } else { 0.0 };
            }
        }
    }
    Ok(out)
}

/// Per-sample silhouettes of one labelling of `x` (n x d) into `k` clusters.
pub fn silhouette_samples(
    engine: &Engine,
    x: ArrayView2<f32>,
    labels: &[u32],
    k: u32,
) -> Result<Vec<f64>> {
    let labels = ArrayView2::from_shape((1, labels.len()), labels)
        .map_err(|_| crate::invalid!("labels do not match the points"))?;
    let s = silhouette_samples_batch(engine, x.insert_axis(ndarray::Axis(0)), &[0], labels, &[k])?;
    Ok(s.row(0).to_vec())
}

/// Mean silhouette of one labelling.
pub fn silhouette_score(
    engine: &Engine,
    x: ArrayView2<f32>,
    labels: &[u32],
    k: u32,
) -> Result<f64> {
    let s = silhouette_samples(engine, x, labels, k)?;
    Ok(s.iter().sum::<f64>() / s.len().max(1) as f64)
}
