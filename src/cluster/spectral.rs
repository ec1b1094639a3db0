//! Spectral clustering (Ng, Jordan & Weiss 2001): a Gaussian affinity
//! W_ij = exp(−d_ij² / 2σ²) (W_ii = 0) from the engine's pairwise kernel, the
//! symmetric normalised matrix D^−1/2 W D^−1/2 (whose top eigenvectors are the bottom
//! eigenvectors of the normalised Laplacian I − D^−1/2 W D^−1/2), the k leading
//! eigenvectors as an embedding with unit-length rows, then k-means on the embedding.
//!
//! The bandwidth σ defaults to the median of the pairwise distances (a scale-free
//! choice that follows the data; scikit-learn's fixed `gamma = 1` does not). The
//! eigen-solve is dense (nalgebra's symmetric QR algorithm), so n is capped at
//! `MAX_POINTS`.

use ndarray::{Array2, Array3, ArrayView2, Axis};

use super::kmeans::{KMeansParams, KMeansProblem, kmeans_batch};
use crate::compute::Engine;
use crate::error::Result;
use crate::invalid;

/// Largest n for the dense eigen-solve (a 4000 x 4000 f64 matrix is 128 MB and its
/// full decomposition takes about a minute on two cores).
pub(crate) const MAX_POINTS: usize = 4000;

/// The spectral embedding of `x` and the bandwidth used.
#[derive(Debug, Clone)]
pub struct Embedding {
    /// n x m: the m leading eigenvectors of D^−1/2 W D^−1/2, by decreasing eigenvalue.
    pub vectors: Array2<f64>,
    /// The m leading eigenvalues.
    pub values: Vec<f64>,
    pub bandwidth: f64,
}

/// The median of the off-diagonal Euclidean distances of a squared-distance matrix.
fn median_distance(d2: &Array2<f32>) -> f64 {
    let n = d2.nrows();
    let mut v: Vec<f32> = Vec::with_capacity(n * n.saturating_sub(1) / 2);
    for i in 0..n {
        for j in i + 1..n {
            v.push(d2[[i, j]].max(0.0));
        }
    }
    if v.is_empty() {
        return 0.0;
    }
    let mid = v.len() / 2;
    let (_, m, _) = v.select_nth_unstable_by(mid, |a, b| a.total_cmp(b));
    (*m as f64).sqrt()
}

/// A rough time (s) for the dense eigen-solve of an `n`-point spectral clustering on
/// this machine: a 400-point solve timed now, scaled by n^3.4 (the QR algorithm is
/// n³, and slower per operation once the matrix leaves the cache: measured 0.6 s at
/// n = 800 and 11 s at n = 2000 on 2 cores).
pub(crate) fn estimated_solve_seconds(n: usize) -> f64 {
    const N0: usize = 400;
    let w = nalgebra::DMatrix::<f64>::from_fn(N0, N0, |i, j| {
        let (a, b) = (i.min(j) as f64, i.max(j) as f64);
        (-(b - a) * 0.01).exp() + 1e-3 * (a * 0.37 + b * 0.11).sin()
    });
    let t = std::time::Instant::now();
    let e = nalgebra::SymmetricEigen::new(w);
    std::hint::black_box(&e);
    t.elapsed().as_secs_f64() * (n as f64 / N0 as f64).powf(3.4)
}

/// The `m` leading eigenvectors of the normalised affinity of `x`.
pub(crate) fn embedding(
    engine: &Engine,
    x: ArrayView2<f32>,
    m: usize,
    bandwidth: Option<f64>,
) -> Result<Embedding> {
    let n = x.nrows();
    if n > MAX_POINTS {
        return Err(invalid!(
            "spectral clustering solves a dense {n} x {n} eigenproblem; at most {MAX_POINTS} \
             points are supported (use option method kmeans or a hierarchical method)"
        ));
    }
    if m == 0 || m > n {
        return Err(invalid!(
            "the embedding dimension must be between 1 and n = {n}"
        ));
    }
    let d2 = engine.pairwise_sq_dists(x, x)?;
    let sigma = match bandwidth {
        Some(s) if s.is_finite() && s > 0.0 => s,
        Some(s) => return Err(invalid!("the bandwidth must be a positive number, not {s}")),
        None => median_distance(&d2),
    };
    if sigma <= 0.0 {
        return Err(invalid!(
            "all points coincide: spectral clustering has nothing to separate"
        ));
    }
    let inv = 1.0 / (2.0 * sigma * sigma);
    let mut w = nalgebra::DMatrix::<f64>::from_fn(n, n, |i, j| {
        if i == j {
            0.0
        } else {
            (-(d2[[i, j]].max(0.0) as f64) * inv).exp()
        }
    });
    // Symmetrise exactly (the kernel's d2[i,j] and d2[j,i] may differ in the last bit).
    for i in 0..n {
        for j in i + 1..n {
            let a = 0.5 * (w[(i, j)] + w[(j, i)]);
            w[(i, j)] = a;
            w[(j, i)] = a;
        }
    }
    let deg: Vec<f64> = (0..n).map(|i| w.row(i).sum()).collect();
    let scale: Vec<f64> = deg
        .iter()
        .map(|&g| if g > 0.0 { 1.0 / g.sqrt() } else { 0.0 })
        .collect();
    for i in 0..n {
        for j in 0..n {
            w[(i, j)] *= scale[i] * scale[j];
        }
    }
    let eig = nalgebra::SymmetricEigen::new(w);
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| {
        eig.eigenvalues[b]
            .total_cmp(&eig.eigenvalues[a])
            .then(a.cmp(&b))
    });
    let mut vectors = Array2::<f64>::zeros((n, m));
    let mut values = Vec::with_capacity(m);
    for (c, &e) in order.iter().take(m).enumerate() {
        values.push(eig.eigenvalues[e]);
        // A deterministic sign: the largest-magnitude component positive.
        let col = eig.eigenvectors.column(e);
        let pivot = (0..n)
            .max_by(|&a, &b| col[a].abs().total_cmp(&col[b].abs()).then(b.cmp(&a)))
            .unwrap_or(0);
        let sign = if col[pivot] < 0.0 { -1.0 } else { 1.0 };
        for i in 0..n {
            vectors[[i, c]] = sign * col[i];
        }
    }
    Ok(Embedding {
        vectors,
        values,
        bandwidth: sigma,
    })
}

/// Spectral labels of `x` for every k in `ks` (k-means on the row-normalised k leading
/// eigenvectors; every k in one engine batch).
pub(crate) fn spectral_labels(
    engine: &Engine,
    x: ArrayView2<f32>,
    ks: &[usize],
    seed: u64,
    params: &KMeansParams,
    bandwidth: Option<f64>,
) -> Result<(Vec<Vec<u32>>, Embedding)> {
    let n = x.nrows();
    let kmax = ks.iter().copied().max().unwrap_or(1);
    let emb = embedding(engine, x, kmax, bandwidth)?;
    // Set b holds the embedding for ks[b], zero-padded to kmax columns (zero columns
    // change no distance).
    let mut sets = Array3::<f32>::zeros((ks.len(), n, kmax));
    for (b, &k) in ks.iter().enumerate() {
        let mut set = sets.index_axis_mut(Axis(0), b);
        for i in 0..n {
            let norm = (0..k)
                .map(|c| emb.vectors[[i, c]].powi(2))
                .sum::<f64>()
                .sqrt();
            for c in 0..k {
                set[[i, c]] = if norm > 0.0 {
                    (emb.vectors[[i, c]] / norm) as f32
                } else {
                    0.0
                };
            }
        }
    }
    let problems: Vec<KMeansProblem> = ks
        .iter()
        .enumerate()
        .map(|(b, &k)| KMeansProblem {
            set: b as u32,
            k: k as u32,
            seed,
        })
        .collect();
    let fits = kmeans_batch(engine, sets.view(), &problems, params)?;
    Ok((fits.into_iter().map(|f| f.labels).collect(), emb))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_rings_separate_where_kmeans_cannot() {
        // Concentric circles (radius 1 and 4): k-means splits them by a line;
        // spectral clustering with a small bandwidth follows the rings.
        let n = 60;
        let mut x = Array2::<f32>::zeros((2 * n, 2));
        for i in 0..n {
            let t = i as f32 / n as f32 * std::f32::consts::TAU;
            x[[i, 0]] = t.cos();
            x[[i, 1]] = t.sin();
            x[[n + i, 0]] = 4.0 * t.cos();
            x[[n + i, 1]] = 4.0 * t.sin();
        }
        let engine = Engine::cpu();
        let (labels, emb) = spectral_labels(
            &engine,
            x.view(),
            &[2],
            0,
            &KMeansParams::default(),
            Some(0.5),
        )
        .unwrap();
        assert_eq!(emb.bandwidth, 0.5);
        let l = &labels[0];
        let truth: Vec<u32> = (0..2 * n).map(|i| (i >= n) as u32).collect();
        assert_eq!(super::super::scores::adjusted_rand_index(l, &truth), 1.0);
        // The two leading eigenvalues of a graph with two components are both 1.
        assert!((emb.values[0] - 1.0).abs() < 1e-6 && (emb.values[1] - 1.0).abs() < 1e-3);
    }
}
