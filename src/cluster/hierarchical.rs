//! Agglomerative clustering: the linkage itself is `kodama` (Müllner's algorithms,
//! as in scipy and fastcluster), on Euclidean distances from the engine's pairwise
//! kernel; then cuts into k clusters and the cophenetic correlation.

use ndarray::ArrayView2;

use crate::compute::Engine;
use crate::error::Result;
use crate::invalid;

/// Linkage criteria (scipy's names and definitions).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Linkage {
    Ward,
    Complete,
    Average,
    Single,
}

/// A dendrogram: n leaves and n − 1 merges (cluster ids as in scipy: leaves 0..n,
/// the cluster made by merge i is n + i).
#[derive(Debug, Clone)]
pub struct Tree {
    pub n: usize,
    /// (cluster a, cluster b, height, size of the new cluster)
    pub merges: Vec<(usize, usize, f64, usize)>,
}

/// Euclidean distances between the rows of `x`, condensed (upper triangle, row-major).
pub(crate) fn condensed_distances(engine: &Engine, x: ArrayView2<f32>) -> Result<Vec<f64>> {
    let n = x.nrows();
    let mut out = vec![0.0f64; n * n.saturating_sub(1) / 2];
    // Tiles of the distance matrix go straight into the condensed upper triangle: the
    // n x n matrix itself is never held.
    engine.pairwise_sq_dists_tiles(x, x, 64 << 20, |r0, c0, tile| {
        for ((di, dj), &d2) in tile.indexed_iter() {
            let (i, j) = (r0 + di, c0 + dj);
            if j > i {
                out[n * i - i * (i + 1) / 2 + (j - i - 1)] = (d2.max(0.0) as f64).sqrt();
            }
        }
        Ok(())
    })?;
    Ok(out)
}

/// The dendrogram of `x` (n x d) under `method`.
pub fn linkage(engine: &Engine, x: ArrayView2<f32>, method: Linkage) -> Result<(Tree, Vec<f64>)> {
    let n = x.nrows();
    if n < 2 {
        return Err(invalid!(
            "hierarchical clustering needs at least 2 points, not {n}"
        ));
    }
    let dist = condensed_distances(engine, x)?;
    let mut work = dist.clone();
    let m = match method {
        Linkage::Ward => kodama::Method::Ward,
        Linkage::Complete => kodama::Method::Complete,
        Linkage::Average => kodama::Method::Average,
        Linkage::Single => kodama::Method::Single,
    };
    let dend = kodama::linkage(&mut work, n, m);
    let merges = dend
        .steps()
        .iter()
        .map(|s| (s.cluster1, s.cluster2, s.dissimilarity, s.size))
        .collect();
    Ok((Tree { n, merges }, dist))
}

impl Tree {
    /// Flat labels for k clusters (the first n − k merges), numbered 0..k in order of
    /// first appearance.
    pub fn cut(&self, k: usize) -> Result<Vec<u32>> {
        if k == 0 || k > self.n {
            return Err(invalid!(
                "k = {k} must be between 1 and the number of points ({})",
                self.n
            ));
        }
        let mut nodes = crate::geom::UnionFind::new(2 * self.n);
        for (i, &(a, b, _, _)) in self.merges.iter().take(self.n - k).enumerate() {
            let new = self.n + i;
            let (ra, rb) = (nodes.find(a), nodes.find(b));
            nodes.attach(ra, new);
            nodes.attach(rb, new);
        }
        let mut names = std::collections::HashMap::new();
        Ok((0..self.n)
            .map(|leaf| {
                let root = nodes.find(leaf);
                let next = names.len() as u32;
                *names.entry(root).or_insert(next)
            })
            .collect())
    }

    /// Pearson correlation between the cophenetic distances (the height at which two
    /// points first share a cluster) and the original distances (condensed).
    pub fn cophenetic_correlation(&self, dist: &[f64]) -> f64 {
        let n = self.n;
        let mut members: Vec<Vec<usize>> = (0..n).map(|i| vec![i]).collect();
        let mut coph = vec![0.0; dist.len()];
        let idx = |i: usize, j: usize| {
            let (i, j) = if i < j { (i, j) } else { (j, i) };
            n * i - i * (i + 1) / 2 + (j - i - 1)
        };
        for &(a, b, h, _) in &self.merges {
            let (ma, mb) = (
                std::mem::take(&mut members[a]),
                std::mem::take(&mut members[b]),
            );
            for &i in &ma {
                for &j in &mb {
                    coph[idx(i, j)] = h;
                }
            }
            let mut merged = ma;
            merged.extend(mb);
            members.push(merged);
        }
        pearson(&coph, dist)
    }
}

/// Pearson's r (NaN when either side is constant).
pub(crate) fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
    cov / (va * vb).sqrt()
}
