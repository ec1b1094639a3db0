//! Cluster-validity scores (scikit-learn's definitions) and agreement between
//! labellings.

use ndarray::{Array2, ArrayView2};

/// Centroids (k x d) and sizes of a labelling.
fn centroids(x: ArrayView2<f32>, labels: &[u32], k: usize) -> (Array2<f64>, Vec<usize>) {
    let d = x.ncols();
    let mut c = Array2::<f64>::zeros((k, d));
    let mut size = vec![0usize; k];
    for (row, &l) in x.outer_iter().zip(labels) {
        size[l as usize] += 1;
        for t in 0..d {
            c[[l as usize, t]] += row[t] as f64;
        }
    }
    for (mut r, &s) in c.outer_iter_mut().zip(&size) {
        if s > 0 {
            r.mapv_inplace(|v| v / s as f64);
        }
    }
    (c, size)
}

/// Within-cluster sum of squared distances to the centroids (the elbow's y axis).
pub fn inertia(x: ArrayView2<f32>, labels: &[u32], k: usize) -> f64 {
    let (c, _) = centroids(x, labels, k);
    x.outer_iter()
        .zip(labels)
        .map(|(r, &l)| {
            r.iter()
                .zip(c.row(l as usize))
                .map(|(a, b)| (*a as f64 - b).powi(2))
                .sum::<f64>()
        })
        .sum()
}

/// Calinski-Harabasz index: between-cluster dispersion / within, scaled by degrees
/// of freedom (higher is better). NaN for k = 1 or k = n.
pub fn calinski_harabasz(x: ArrayView2<f32>, labels: &[u32], k: usize) -> f64 {
    let n = x.nrows();
    if k < 2 || k >= n {
        return f64::NAN;
    }
    let (c, size) = centroids(x, labels, k);
    let mean: Vec<f64> = (0..x.ncols())
        .map(|t| x.column(t).iter().map(|&v| v as f64).sum::<f64>() / n as f64)
        .collect();
    let between: f64 = (0..k)
        .map(|j| {
            size[j] as f64
                * c.row(j)
                    .iter()
                    .zip(&mean)
                    .map(|(a, b)| (a - b).powi(2))
                    .sum::<f64>()
        })
        .sum();
    let within = inertia(x, labels, k);
    if within == 0.0 {
        return 1.0;
    }
    between * (n - k) as f64 / (within * (k - 1) as f64)
}

/// Davies-Bouldin index: mean over clusters of the worst ratio of summed scatter to
/// centroid separation (lower is better). NaN for k = 1.
pub fn davies_bouldin(x: ArrayView2<f32>, labels: &[u32], k: usize) -> f64 {
    if k < 2 {
        return f64::NAN;
    }
    let (c, size) = centroids(x, labels, k);
    let mut scatter = vec![0.0; k];
    for (r, &l) in x.outer_iter().zip(labels) {
        scatter[l as usize] += r
            .iter()
            .zip(c.row(l as usize))
            .map(|(a, b)| (*a as f64 - b).powi(2))
            .sum::<f64>()
            .sqrt();
    }
    for j in 0..k {
        if size[j] > 0 {
            scatter[j] /= size[j] as f64;
        }
    }
    let sep = |i: usize, j: usize| {
        c.row(i)
            .iter()
            .zip(c.row(j))
            .map(|(a, b)| (a - b).powi(2))
            .sum::<f64>()
            .sqrt()
    };
    (0..k)
        .map(|i| {
            (0..k)
                .filter(|&j| j != i)
                .map(|j| {
                    let s = sep(i, j);
                    if s > 0.0 {
                        (scatter[i] + scatter[j]) / s
                    } else {
                        0.0
                    }
                })
                .fold(0.0, f64::max)
        })
        .sum::<f64>()
        / k as f64
}

/// Adjusted Rand index between two labellings (1 for identical partitions, ~0 for
/// chance agreement), as scikit-learn computes it.
pub fn adjusted_rand_index(a: &[u32], b: &[u32]) -> f64 {
    let n = a.len();
    // Dense ids, so any label values (including NOISE = u32::MAX) are accepted.
    let dense = |l: &[u32]| -> (Vec<usize>, usize) {
        let mut u: Vec<u32> = l.to_vec();
        u.sort_unstable();
        u.dedup();
        (
            l.iter().map(|x| u.binary_search(x).unwrap_or(0)).collect(),
            u.len(),
        )
    };
    let ((a, ka), (b, kb)) = (dense(a), dense(b));
    let mut table = vec![0u64; ka * kb];
    for (&x, &y) in a.iter().zip(&b) {
        table[x * kb + y] += 1;
    }
    let c2 = |v: u64| (v * v.saturating_sub(1) / 2) as f64;
    let sum_cells: f64 = table.iter().map(|&v| c2(v)).sum();
    let rows: f64 = (0..ka)
        .map(|i| c2((0..kb).map(|j| table[i * kb + j]).sum()))
        .sum();
    let cols: f64 = (0..kb)
        .map(|j| c2((0..ka).map(|i| table[i * kb + j]).sum()))
        .sum();
    let total = c2(n as u64);
    let expected = rows * cols / total;
    let max = 0.5 * (rows + cols);
    if max == expected {
        1.0
    } else {
        (sum_cells - expected) / (max - expected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ari_is_one_for_relabelled_partitions_and_small_for_unrelated() {
        assert!((adjusted_rand_index(&[0, 0, 1, 1, 2], &[2, 2, 0, 0, 1]) - 1.0).abs() < 1e-12);
        // scikit-learn: adjusted_rand_score([0,0,1,1],[0,1,0,1]) = -0.5
        assert!((adjusted_rand_index(&[0, 0, 1, 1], &[0, 1, 0, 1]) + 0.5).abs() < 1e-12);
    }

    #[test]
    fn scores_on_two_clean_blobs() {
        let x = ndarray::array![[0.0f32, 0.0], [0.0, 1.0], [10.0, 0.0], [10.0, 1.0]];
        let l = [0, 0, 1, 1];
        assert!((inertia(x.view(), &l, 2) - 1.0).abs() < 1e-9);
        // B = 4 * 25 = 100, W = 1: CH = 100 * (4 - 2) / (1 * 1) = 200.
        assert!((calinski_harabasz(x.view(), &l, 2) - 200.0).abs() < 1e-9);
        // scatter 0.5 each, separation 10: DB = 0.1.
        assert!((davies_bouldin(x.view(), &l, 2) - 0.1).abs() < 1e-9);
    }
}
