//! Density-based clustering for outlier detection: HDBSCAN (Campello, Moulavi &
//! Sander 2013) from the `petal-clustering` crate, with scikit-learn's defaults
//! (`min_cluster_size = 5`, `min_samples = min_cluster_size`, excess-of-mass cluster
//! selection). HDBSCAN picks the number of clusters itself and leaves low-density
//! points out as noise.

use ndarray::ArrayView2;
use petal_clustering::{Fit, HDbscan};
use petal_neighbors::distance::Euclidean;

use crate::error::Result;
use crate::invalid;

/// The label of a point that belongs to no cluster (written as −1).
pub const NOISE: u32 = u32::MAX;

/// HDBSCAN result: labels 0..k in order of each cluster's first member, [`NOISE`] for
/// outliers, and the GLOSH outlier score of every point (0 inlier .. 1 outlier).
#[derive(Debug, Clone)]
pub struct Density {
    pub labels: Vec<u32>,
    pub k: usize,
    pub outlier_scores: Vec<f64>,
}

pub fn hdbscan(x: ArrayView2<f32>, min_cluster_size: usize) -> Result<Density> {
    let n = x.nrows();
    if min_cluster_size < 2 {
        return Err(invalid!(
            "option min_cluster_size must be at least 2, not {min_cluster_size}"
        ));
    }
    if n < min_cluster_size {
        return Err(invalid!(
            "HDBSCAN needs at least min_cluster_size = {min_cluster_size} points, not {n}"
        ));
    }
    if x.iter().any(|v| !v.is_finite()) {
        return Err(invalid!("points must be finite (found NaN or infinity)"));
    }
    let x64 = x.mapv(|v| v as f64);
    let mut model = HDbscan {
        alpha: 1.0,
        min_samples: min_cluster_size,
        min_cluster_size,
        metric: Euclidean::default(),
        boruvka: true,
    };
    let (clusters, _noise, scores) = model.fit(&x64, None);
    // Number clusters by their smallest member so the result does not depend on the
    // crate's internal (hash-map) order.
    let mut groups: Vec<Vec<usize>> = clusters.into_values().collect();
    for g in &mut groups {
        g.sort_unstable();
    }
    groups.sort_by_key(|g| g[0]);
    let mut labels = vec![NOISE; n];
    for (c, g) in groups.iter().enumerate() {
        for &i in g {
            labels[i] = c as u32;
        }
    }
    Ok(Density {
        k: groups.len(),
        labels,
        outlier_scores: scores
            .into_iter()
            .map(|s| if s.is_finite() { s } else { 0.0 })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_blobs_and_an_outlier() {
        let mut rows = Vec::new();
        for i in 0..20 {
            let t = i as f32 * 0.05;
            rows.push([t, 0.1 * (i % 3) as f32]);
            rows.push([10.0 + t, 0.1 * (i % 4) as f32]);
        }
        rows.push([5.0, 30.0]);
        let x = ndarray::Array2::from_shape_fn((rows.len(), 2), |(i, j)| rows[i][j]);
        let d = hdbscan(x.view(), 5).unwrap();
        assert_eq!(d.k, 2);
        assert_eq!(d.labels[40], NOISE);
        assert!((0..20).all(|i| d.labels[2 * i] == 0 && d.labels[2 * i + 1] == 1));
    }
}
