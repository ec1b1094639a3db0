//! Clustering a feature table over a range of k, with the scores that choose k.
//!
//! k-means runs every k (and every restart) in one engine batch; hierarchical methods
//! build one dendrogram and cut it at every k. For each k: inertia (the elbow), the
//! exact mean silhouette (all k in one batched engine call), Calinski-Harabasz and
//! Davies-Bouldin. The chosen k is the one with the highest mean silhouette.

use ndarray::{Array2, ArrayView2};

use super::hierarchical::{Linkage, linkage};
use super::kmeans::{KMeansParams, KMeansProblem, kmeans_batch};
use super::scores::{calinski_harabasz, davies_bouldin, inertia};
use super::silhouette::silhouette_samples_batch;
use crate::engine::Engine;
use crate::error::Result;
use crate::invalid;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    Kmeans,
    Ward,
    Complete,
    Average,
    Single,
}

/// One k's labelling and scores.
#[derive(Debug, Clone, serde::Serialize)]
pub struct KResult {
    pub k: usize,
    #[serde(skip)]
    pub labels: Vec<u32>,
    /// Per-sample silhouettes.
    #[serde(skip)]
    pub silhouettes: Vec<f64>,
    pub inertia: f64,
    pub silhouette: f64,
    pub calinski_harabasz: f64,
    pub davies_bouldin: f64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Selection {
    pub method: Method,
    pub results: Vec<KResult>,
    pub chosen_k: usize,
    pub why: String,
    /// Hierarchical methods: the cophenetic correlation of the dendrogram.
    pub cophenetic_correlation: Option<f64>,
    /// Hierarchical methods: the dendrogram.
    #[serde(skip)]
    pub tree: Option<super::hierarchical::Tree>,
}

/// Cluster the rows of `x` for every k in `ks`.
pub fn cluster_over_k(
    engine: &Engine,
    x: ArrayView2<f32>,
    method: Method,
    ks: &[usize],
    seed: u64,
    params: &KMeansParams,
) -> Result<Selection> {
    let n = x.nrows();
    if let Some(&bad) = ks.iter().find(|&&k| k < 2 || k >= n) {
        return Err(invalid!(
            "k = {bad}: the k range must lie between 2 and n − 1 = {} (n = {n} rows)",
            n.saturating_sub(1)
        ));
    }
    let mut cophenetic = None;
    let mut tree_out = None;
    let labelings: Vec<Vec<u32>> = match method {
        Method::Kmeans => {
            let problems: Vec<KMeansProblem> = ks
                .iter()
                .map(|&k| KMeansProblem {
                    set: 0,
                    k: k as u32,
                    seed,
                })
                .collect();
            kmeans_batch(engine, x.insert_axis(ndarray::Axis(0)), &problems, params)?
                .into_iter()
                .map(|f| f.labels)
                .collect()
        }
        _ => {
            let l = match method {
                Method::Ward => Linkage::Ward,
                Method::Complete => Linkage::Complete,
                Method::Average => Linkage::Average,
                _ => Linkage::Single,
            };
            let (tree, dist) = linkage(engine, x, l)?;
            cophenetic = Some(tree.cophenetic_correlation(&dist));
            let cuts = ks.iter().map(|&k| tree.cut(k)).collect::<Result<_>>()?;
            tree_out = Some(tree);
            cuts
        }
    };
    // Silhouettes of every k in one batched call.
    let label_rows = Array2::from_shape_fn((ks.len(), n), |(b, i)| labelings[b][i]);
    let kk: Vec<u32> = ks.iter().map(|&k| k as u32).collect();
    let sil = silhouette_samples_batch(
        engine,
        x.insert_axis(ndarray::Axis(0)),
        &vec![0; ks.len()],
        label_rows.view(),
        &kk,
    )?;
    let results: Vec<KResult> = ks
        .iter()
        .zip(labelings)
        .enumerate()
        .map(|(b, (&k, labels))| KResult {
            k,
            inertia: inertia(x, &labels, k),
            silhouette: sil.row(b).mean().unwrap_or(f64::NAN),
            calinski_harabasz: calinski_harabasz(x, &labels, k),
            davies_bouldin: davies_bouldin(x, &labels, k),
            silhouettes: sil.row(b).to_vec(),
            labels,
        })
        .collect();
    let best = results
        .iter()
        .max_by(|a, b| a.silhouette.total_cmp(&b.silhouette).then(b.k.cmp(&a.k)))
        .expect("at least one k");
    let why = format!(
        "highest mean silhouette ({:.4}) over k = {}..{}",
        best.silhouette,
        ks[0],
        ks[ks.len() - 1]
    );
    Ok(Selection {
        method,
        chosen_k: best.k,
        why,
        results,
        cophenetic_correlation: cophenetic,
        tree: tree_out,
    })
}

/// Parse "2..10", "3" or "2,3,5".
pub fn parse_k_range(text: &str) -> Result<Vec<usize>> {
    let bad =
        || invalid!("--k takes a number (3), a range (2..10) or a list (2,3,5), not {text:?}");
    let ks: Vec<usize> = if let Some((a, b)) = text.split_once("..") {
        let (a, b): (usize, usize) = (
            a.trim().parse().map_err(|_| bad())?,
            b.trim()
                .trim_start_matches('=')
                .parse()
                .map_err(|_| bad())?,
        );
        if a > b {
            return Err(bad());
        }
        (a..=b).collect()
    } else {
        text.split(',')
            .map(|t| t.trim().parse().map_err(|_| bad()))
            .collect::<Result<_>>()?
    };
    if ks.is_empty() { Err(bad()) } else { Ok(ks) }
}

/// The first two principal components of `x` (power iteration with deflation on the
/// d x d covariance), for 2-D scatter plots of many features.
pub fn principal_components_2(x: ArrayView2<f32>) -> Vec<(f64, f64)> {
    let (n, d) = x.dim();
    let mean: Vec<f64> = (0..d)
        .map(|t| x.column(t).iter().map(|&v| v as f64).sum::<f64>() / n as f64)
        .collect();
    let mut cov = vec![vec![0.0; d]; d];
    for row in x.outer_iter() {
        for a in 0..d {
            for b in 0..d {
                cov[a][b] += (row[a] as f64 - mean[a]) * (row[b] as f64 - mean[b]);
            }
        }
    }
    let mut comps: Vec<Vec<f64>> = Vec::new();
    for _ in 0..2.min(d) {
        let mut v: Vec<f64> = (0..d).map(|i| 1.0 + i as f64 * 1e-3).collect();
        for _ in 0..200 {
            let mut w: Vec<f64> = (0..d)
                .map(|a| (0..d).map(|b| cov[a][b] * v[b]).sum())
                .collect();
            for c in &comps {
                let p: f64 = w.iter().zip(c).map(|(a, b)| a * b).sum();
                w.iter_mut().zip(c).for_each(|(a, b)| *a -= p * b);
            }
            let norm = w.iter().map(|a| a * a).sum::<f64>().sqrt();
            if norm == 0.0 {
                break;
            }
            v = w.iter().map(|a| a / norm).collect();
        }
        comps.push(v);
    }
    x.outer_iter()
        .map(|row| {
            let proj = |c: &Vec<f64>| {
                (0..d)
                    .map(|t| (row[t] as f64 - mean[t]) * c[t])
                    .sum::<f64>()
            };
            (
                comps.first().map_or(0.0, proj),
                comps.get(1).map_or(0.0, proj),
            )
        })
        .collect()
}

/// Write `labels.csv` (id, the chosen k's label, then label_k<k> for every k) and
/// `scores.csv` (k, inertia, silhouette, Calinski-Harabasz, Davies-Bouldin) into `dir`.
pub fn write_tables(dir: &std::path::Path, ids: &[String], sel: &Selection) -> Result<()> {
    use crate::io::{fmt_f64, write_csv};
    let chosen = sel
        .results
        .iter()
        .find(|r| r.k == sel.chosen_k)
        .expect("chosen k is among the results");
    let mut header = vec!["id".to_string(), "label".to_string()];
    header.extend(sel.results.iter().map(|r| format!("label_k{}", r.k)));
    let rows: Vec<Vec<String>> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let mut row = vec![id.clone(), chosen.labels[i].to_string()];
            row.extend(sel.results.iter().map(|r| r.labels[i].to_string()));
            row
        })
        .collect();
    write_csv(&dir.join("labels.csv"), &header, &rows)?;
    let sh: Vec<String> = [
        "k",
        "inertia",
        "silhouette",
        "calinski_harabasz",
        "davies_bouldin",
    ]
    .map(String::from)
    .to_vec();
    let srows: Vec<Vec<String>> = sel
        .results
        .iter()
        .map(|r| {
            vec![
                r.k.to_string(),
                fmt_f64(r.inertia),
                fmt_f64(r.silhouette),
                fmt_f64(r.calinski_harabasz),
                fmt_f64(r.davies_bouldin),
            ]
        })
        .collect();
    write_csv(&dir.join("scores.csv"), &sh, &srows)
}

/// Per-column z-scores (population standard deviation), as f32.
pub fn standardise(v: ArrayView2<f64>) -> Array2<f32> {
    let mut out = v.to_owned();
    for mut col in out.columns_mut() {
        let n = col.len() as f64;
        let mean = col.sum() / n;
        let sd = (col.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt();
        col.mapv_inplace(|x| if sd > 0.0 { (x - mean) / sd } else { x - mean });
    }
    out.mapv(|x| x as f32)
}
