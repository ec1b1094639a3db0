//! Clustering a feature table over a range of k, with the scores that choose k.
//!
//! k-means runs every k (and every restart) in one engine batch; hierarchical methods
//! build one dendrogram and cut it at every k; spectral clustering embeds once and
//! runs k-means on the embedding; HDBSCAN finds its own k. For each k: inertia (the
//! elbow), the exact mean silhouette (all k in one batched engine call),
//! Calinski-Harabasz, Davies-Bouldin, the gap statistic (references clustered by the
//! same method) and a stability score (adjusted Rand index against re-runs). The
//! chosen k is the one with the highest mean silhouette; the gap statistic's own
//! suggestion is reported beside it.

use ndarray::{Array2, ArrayView2, ArrayView3, Axis};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub use super::density::NOISE;
use super::density::hdbscan;
use super::gap::gap_statistic;
use super::hierarchical::{Linkage, Tree, linkage};
use super::kmeans::{KMeansParams, KMeansProblem, kmeans_batch};
use super::scores::{adjusted_rand_index, calinski_harabasz, davies_bouldin, inertia};
use super::silhouette::{silhouette_samples, silhouette_samples_batch};
use super::spectral::spectral_labels;
use crate::compute::Engine;
use crate::error::Result;
use crate::invalid;

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    Kmeans,
    Ward,
    Complete,
    Average,
    Single,
    Spectral,
    Hdbscan,
}

impl Method {
    pub const ALL: [Method; 7] = [
        Method::Kmeans,
        Method::Ward,
        Method::Complete,
        Method::Average,
        Method::Single,
        Method::Spectral,
        Method::Hdbscan,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Method::Kmeans => "kmeans",
            Method::Ward => "ward",
            Method::Complete => "complete",
            Method::Average => "average",
            Method::Single => "single",
            Method::Spectral => "spectral",
            Method::Hdbscan => "hdbscan",
        }
    }

    fn linkage(self) -> Option<Linkage> {
        match self {
            Method::Ward => Some(Linkage::Ward),
            Method::Complete => Some(Linkage::Complete),
            Method::Average => Some(Linkage::Average),
            Method::Single => Some(Linkage::Single),
            _ => None,
        }
    }
}

/// Everything but the method and the k range.
#[derive(Clone, Debug, serde::Serialize)]
pub struct SelectOptions {
    pub seed: u64,
    pub kmeans: KMeansParams,
    /// Reference sets for the gap statistic (0: no gap statistic).
    pub gap_refs: usize,
    /// Extra runs for the stability score (0: none).
    pub stability_runs: usize,
    /// Spectral: Gaussian bandwidth σ (default: the median pairwise distance).
    pub bandwidth: Option<f64>,
    /// HDBSCAN: the smallest cluster (and the density neighbourhood).
    pub min_cluster_size: usize,
}

/// Above this many points the extras (gap statistic, stability, method comparison)
/// are off by default: each costs as much as the clustering over k, or more.
pub const EXTRAS_MAX_POINTS: usize = 2000;

impl Default for SelectOptions {
    fn default() -> Self {
        SelectOptions {
            seed: 0,
            kmeans: KMeansParams::default(),
            gap_refs: 10,
            stability_runs: 4,
            bandwidth: None,
            min_cluster_size: 5,
        }
    }
}

impl SelectOptions {
    /// The defaults for `n` points: the extras (gap statistic, stability) on up to
    /// [`EXTRAS_MAX_POINTS`], off above, where each costs as much as the clustering.
    pub fn for_points(n: usize) -> Self {
        let d = SelectOptions::default();
        if n > EXTRAS_MAX_POINTS {
            SelectOptions {
                gap_refs: 0,
                stability_runs: 0,
                ..d
            }
        } else {
            d
        }
    }
}

/// One k's labelling and scores.
#[derive(Debug, Clone, serde::Serialize)]
pub struct KResult {
    pub k: usize,
    /// Cluster labels 0..k ([`NOISE`] for HDBSCAN's outliers).
    #[serde(skip)]
    pub labels: Vec<u32>,
    /// Per-sample silhouettes (0 for noise points).
    #[serde(skip)]
    pub silhouettes: Vec<f64>,
    pub inertia: f64,
    pub silhouette: f64,
    pub calinski_harabasz: f64,
    pub davies_bouldin: f64,
    /// Gap(k) and its standard error s_k.
    pub gap: Option<f64>,
    pub gap_s: Option<f64>,
    /// Mean adjusted Rand index between this labelling and re-runs (other seeds for
    /// k-means and spectral; 80 % subsamples for the deterministic methods).
    pub stability: Option<f64>,
    /// HDBSCAN: points left out as noise.
    pub noise: usize,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Selection {
    pub method: Method,
    pub results: Vec<KResult>,
    pub chosen_k: usize,
    pub why: String,
    /// The gap statistic's own suggestion (smallest k with Gap(k) ≥ Gap(k+1) − s_(k+1)).
    pub gap_suggested_k: Option<usize>,
    /// Hierarchical methods: the cophenetic correlation of the dendrogram.
    pub cophenetic_correlation: Option<f64>,
    /// Spectral: the Gaussian bandwidth used.
    pub bandwidth: Option<f64>,
    /// Hierarchical methods: the dendrogram.
    #[serde(skip)]
    pub tree: Option<super::hierarchical::Tree>,
}

/// Labellings of `x` for every k, and what the method leaves besides.
struct Labelled {
    labelings: Vec<Vec<u32>>,
    tree: Option<Tree>,
    cophenetic: Option<f64>,
    bandwidth: Option<f64>,
}

fn label_all(
    engine: &Engine,
    x: ArrayView2<f32>,
    method: Method,
    ks: &[usize],
    seed: u64,
    opts: &SelectOptions,
) -> Result<Labelled> {
    Ok(match method {
        Method::Kmeans => Labelled {
            labelings: kmeans_labels(engine, x.insert_axis(Axis(0)), ks, seed, &opts.kmeans)?
                .remove(0),
            tree: None,
            cophenetic: None,
            bandwidth: None,
        },
        Method::Spectral => {
            let (labelings, emb) =
                spectral_labels(engine, x, ks, seed, &opts.kmeans, opts.bandwidth)?;
            Labelled {
                labelings,
                tree: None,
                cophenetic: None,
                bandwidth: Some(emb.bandwidth),
            }
        }
        Method::Hdbscan => {
            let d = hdbscan(x, opts.min_cluster_size)?;
            Labelled {
                labelings: vec![d.labels],
                tree: None,
                cophenetic: None,
                bandwidth: None,
            }
        }
        _ => {
            let l = method.linkage().expect("hierarchical");
            let (tree, dist) = linkage(engine, x, l)?;
            let cophenetic = Some(tree.cophenetic_correlation(&dist));
            drop(dist);
            let labelings = ks.iter().map(|&k| tree.cut(k)).collect::<Result<_>>()?;
            Labelled {
                labelings,
                tree: Some(tree),
                cophenetic,
                bandwidth: None,
            }
        }
    })
}

/// k-means labels of every point set in `sets` (P x n x d) for every k: one batch.
fn kmeans_labels(
    engine: &Engine,
    sets: ArrayView3<f32>,
    ks: &[usize],
    seed: u64,
    params: &KMeansParams,
) -> Result<Vec<Vec<Vec<u32>>>> {
    let problems: Vec<KMeansProblem> = (0..sets.dim().0)
        .flat_map(|s| {
            ks.iter().map(move |&k| KMeansProblem {
                set: s as u32,
                k: k as u32,
                seed,
            })
        })
        .collect();
    let mut fits = kmeans_batch(engine, sets, &problems, params)?.into_iter();
    Ok((0..sets.dim().0)
        .map(|_| fits.by_ref().take(ks.len()).map(|f| f.labels).collect())
        .collect())
}

/// Rows of `x` with a label other than [`NOISE`], and their labels.
fn without_noise(x: ArrayView2<f32>, labels: &[u32]) -> (Array2<f32>, Vec<u32>) {
    let keep: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] != NOISE).collect();
    (
        x.select(Axis(0), &keep),
        keep.iter().map(|&i| labels[i]).collect(),
    )
}

/// What a long clustering run reports as it goes, for a progress display.
#[derive(Debug, Clone)]
pub enum ClusterEvent<'a> {
    /// The clustering over k is done (in `seconds`); the extras still to run and their
    /// estimated cost in seconds (each a multiple of the clustering just measured).
    Clustered {
        seconds: f64,
        extras: &'a [(String, f64)],
    },
    /// An extra, or one of its steps, begins.
    Step {
        what: &'a str,
        done: usize,
        total: usize,
    },
    /// An extra is finished, after `seconds`.
    Finished { what: &'a str, seconds: f64 },
}

/// The clustering over k and, when asked, the method comparison at the chosen k.
#[derive(Debug, Clone)]
pub struct Analysis {
    pub selection: Selection,
    pub agreement: Option<Agreement>,
}

/// [`cluster_over_k`], then (when `compare`) [`method_agreement`] at the chosen k,
/// reporting progress and the estimated cost of the extras to `observe`.
pub fn analyse(
    engine: &Engine,
    x: ArrayView2<f32>,
    method: Method,
    ks: &[usize],
    opts: &SelectOptions,
    compare: bool,
    observe: &mut dyn FnMut(ClusterEvent),
) -> Result<Analysis> {
    let selection = select_observed(engine, x, method, ks, opts, compare, observe)?;
    let agreement = if compare && selection.chosen_k >= 2 {
        let t = std::time::Instant::now();
        let a = agreement_observed(engine, x, selection.chosen_k, opts, observe)?;
        observe(ClusterEvent::Finished {
            what: COMPARISON,
            seconds: t.elapsed().as_secs_f64(),
        });
        Some(a)
    } else {
        None
    };
    Ok(Analysis {
        selection,
        agreement,
    })
}

const GAP: &str = "the gap statistic";
const STABILITY: &str = "the stability score";
const COMPARISON: &str = "the method comparison";

/// Cluster the rows of `x` for every k in `ks` (HDBSCAN ignores `ks` and finds its
/// own k), score every k and choose one.
pub fn cluster_over_k(
    engine: &Engine,
    x: ArrayView2<f32>,
    method: Method,
    ks: &[usize],
    opts: &SelectOptions,
) -> Result<Selection> {
    select_observed(engine, x, method, ks, opts, false, &mut |_| {})
}

/// The methods [`method_agreement`] can run on `n` points, and why the others not.
fn comparable(n: usize) -> (Vec<Method>, Vec<(Method, String)>) {
    let mut run = Vec::new();
    let mut skipped = Vec::new();
    for m in Method::ALL {
        let too_big = match m {
            Method::Spectral => n > super::spectral::MAX_POINTS,
            Method::Ward | Method::Complete | Method::Average | Method::Single => {
                n > MAX_HIERARCHICAL
            }
            _ => false,
        };
        if too_big {
            skipped.push((m, format!("n = {n} is too large for this method")));
        } else {
            run.push(m);
        }
    }
    (run, skipped)
}

fn select_observed(
    engine: &Engine,
    x: ArrayView2<f32>,
    method: Method,
    ks: &[usize],
    opts: &SelectOptions,
    compare_after: bool,
    observe: &mut dyn FnMut(ClusterEvent),
) -> Result<Selection> {
    let started = std::time::Instant::now();
    // Checked before any clustering, so a wrong option costs nothing.
    if opts.gap_refs > MAX_GAP_REFS {
        return Err(invalid!(
            "option gap_refs {}: at most {MAX_GAP_REFS} reference sets",
            opts.gap_refs
        ));
    }
    if opts.stability_runs > MAX_STABILITY_RUNS {
        return Err(invalid!(
            "option stability_runs {}: at most {MAX_STABILITY_RUNS} re-runs",
            opts.stability_runs
        ));
    }
    let n = x.nrows();
    let ks: Vec<usize> = if method == Method::Hdbscan {
        Vec::new()
    } else {
        if let Some(&bad) = ks.iter().find(|&&k| k < 2 || k >= n) {
            return Err(invalid!(
                "k = {bad}: the k range must lie between 2 and n − 1 = {} (n = {n} rows)",
                n.saturating_sub(1)
            ));
        }
        if ks.is_empty() {
            return Err(invalid!("the k range is empty"));
        }
        ks.to_vec()
    };
    let seed = opts.seed;
    let lab = label_all(engine, x, method, &ks, seed, opts)?;
    let label_s = started.elapsed().as_secs_f64();
    let ks: Vec<usize> = if method == Method::Hdbscan {
        let l = &lab.labelings[0];
        vec![
            l.iter()
                .filter(|&&v| v != NOISE)
                .map(|&v| v as usize + 1)
                .max()
                .unwrap_or(0),
        ]
    } else {
        ks
    };
    // Scores on the points that belong to a cluster.
    let mut results = Vec::with_capacity(ks.len());
    if method == Method::Hdbscan {
        let labels = &lab.labelings[0];
        let k = ks[0];
        let (xc, lc) = without_noise(x, labels);
        let noise = n - lc.len();
        let mut silhouettes = vec![0.0; n];
        let (mut sil, mut ch, mut db, mut w) = (f64::NAN, f64::NAN, f64::NAN, f64::NAN);
        if k >= 1 && !lc.is_empty() {
            w = inertia(xc.view(), &lc, k);
        }
        if k >= 2 && k < lc.len() {
            let s = silhouette_samples(engine, xc.view(), &lc, k as u32)?;
            sil = s.iter().sum::<f64>() / s.len() as f64;
            let mut it = s.into_iter();
            for (i, l) in labels.iter().enumerate() {
                if *l != NOISE {
                    silhouettes[i] = it.next().unwrap_or(0.0);
                }
            }
            ch = calinski_harabasz(xc.view(), &lc, k);
            db = davies_bouldin(xc.view(), &lc, k);
        }
        results.push(KResult {
            k,
            labels: labels.clone(),
            silhouettes,
            inertia: w,
            silhouette: sil,
            calinski_harabasz: ch,
            davies_bouldin: db,
            gap: None,
            gap_s: None,
            stability: None,
            noise,
        });
    } else {
        // Silhouettes of every k in one batched call.
        let label_rows = Array2::from_shape_fn((ks.len(), n), |(b, i)| lab.labelings[b][i]);
        let kk: Vec<u32> = ks.iter().map(|&k| k as u32).collect();
        let sil = silhouette_samples_batch(
            engine,
            x.insert_axis(Axis(0)),
            &vec![0; ks.len()],
            label_rows.view(),
            &kk,
        )?;
        for (b, (&k, labels)) in ks.iter().zip(&lab.labelings).enumerate() {
            results.push(KResult {
                k,
                inertia: inertia(x, labels, k),
                silhouette: sil.row(b).mean().unwrap_or(f64::NAN),
                calinski_harabasz: calinski_harabasz(x, labels, k),
                davies_bouldin: davies_bouldin(x, labels, k),
                silhouettes: sil.row(b).to_vec(),
                labels: labels.clone(),
                gap: None,
                gap_s: None,
                stability: None,
                noise: 0,
            });
        }
    }

    // What the extras will cost, from what the clustering just cost: the gap statistic
    // and each stability run cluster a data set of the same size over the same ks; the
    // comparison clusters once per method at one k.
    let mut extras: Vec<(String, f64)> = Vec::new();
    let with_gap = opts.gap_refs > 0 && method != Method::Hdbscan;
    if with_gap {
        extras.push((
            format!("{GAP} ({} reference sets)", opts.gap_refs),
            opts.gap_refs as f64 * label_s,
        ));
    }
    if opts.stability_runs > 0 {
        extras.push((
            format!("{STABILITY} ({} runs)", opts.stability_runs),
            opts.stability_runs as f64 * label_s,
        ));
    }
    if compare_after {
        // One clustering at one k per method; spectral's dense eigen-solve timed apart.
        let methods = comparable(n).0;
        let per_k = label_s / ks.len().max(1) as f64;
        let spectral = if methods.contains(&Method::Spectral) && method != Method::Spectral {
            super::spectral::estimated_solve_seconds(n)
        } else {
            per_k
        };
        extras.push((
            format!("{COMPARISON} ({} methods at one k)", methods.len()),
            (methods.len() - 1) as f64 * per_k + spectral,
        ));
    }
    observe(ClusterEvent::Clustered {
        seconds: started.elapsed().as_secs_f64(),
        extras: &extras,
    });

    // The gap statistic: the references clustered by the same method.
    let mut gap_suggested_k = None;
    if with_gap {
        let t = std::time::Instant::now();
        observe(ClusterEvent::Step {
            what: GAP,
            done: 0,
            total: 1,
        });
        let w: Vec<f64> = results.iter().map(|r| r.inertia).collect();
        let g = gap_statistic(x, &ks, &w, opts.gap_refs, seed, |refs| {
            let labelings: Vec<Vec<Vec<u32>>> = if method == Method::Kmeans {
                kmeans_labels(engine, refs, &ks, seed, &opts.kmeans)?
            } else {
                refs.outer_iter()
                    .map(|r| Ok(label_all(engine, r, method, &ks, seed, opts)?.labelings))
                    .collect::<Result<_>>()?
            };
            Ok(refs
                .outer_iter()
                .zip(labelings)
                .map(|(r, ls)| ks.iter().zip(ls).map(|(&k, l)| inertia(r, &l, k)).collect())
                .collect())
        })?;
        for (r, (gv, sv)) in results.iter_mut().zip(g.gap.iter().zip(&g.s)) {
            r.gap = Some(*gv);
            r.gap_s = Some(*sv);
        }
        gap_suggested_k = g.suggested_k;
        observe(ClusterEvent::Finished {
            what: GAP,
            seconds: t.elapsed().as_secs_f64(),
        });
    }

    // Stability: other seeds (k-means, spectral) or 80 % subsamples (deterministic
    // methods), compared with the full run by the adjusted Rand index.
    if opts.stability_runs > 0 {
        let t = std::time::Instant::now();
        let mut sums = vec![0.0; results.len()];
        for run in 1..=opts.stability_runs as u64 {
            observe(ClusterEvent::Step {
                what: STABILITY,
                done: run as usize - 1,
                total: opts.stability_runs,
            });
            let run_seed = seed.wrapping_add(run);
            let (rows, other): (Vec<usize>, Labelled) = match method {
                Method::Kmeans | Method::Spectral => (
                    (0..n).collect(),
                    label_all(engine, x, method, &ks, run_seed, opts)?,
                ),
                _ => {
                    let mut rng = ChaCha8Rng::seed_from_u64(run_seed ^ 0x5354_4142); // "STAB"
                    let mut rows: Vec<usize> = (0..n).collect();
                    for i in (1..n).rev() {
                        rows.swap(i, rng.random_range(0..=i));
                    }
                    rows.truncate((n * 4).div_ceil(5));
                    rows.sort_unstable();
                    if ks.iter().any(|&k| k >= rows.len()) {
                        break;
                    }
                    let sub = x.select(Axis(0), &rows);
                    let other = label_all(engine, sub.view(), method, &ks, run_seed, opts)?;
                    (rows, other)
                }
            };
            for (b, r) in results.iter().enumerate() {
                let full: Vec<u32> = rows.iter().map(|&i| r.labels[i]).collect();
                let other = other.labelings.get(b).unwrap_or(&other.labelings[0]);
                sums[b] += adjusted_rand_index(&full, other);
            }
            for (r, s) in results.iter_mut().zip(&sums) {
                r.stability = Some(s / run as f64);
            }
        }
        observe(ClusterEvent::Finished {
            what: STABILITY,
            seconds: t.elapsed().as_secs_f64(),
        });
    }

    let (chosen_k, why) = if method == Method::Hdbscan {
        let r = &results[0];
        (
            r.k,
            format!(
                "HDBSCAN found {} cluster(s) and {} noise point(s) (min_cluster_size {})",
                r.k, r.noise, opts.min_cluster_size
            ),
        )
    } else {
        let best = results
            .iter()
            .max_by(|a, b| a.silhouette.total_cmp(&b.silhouette).then(b.k.cmp(&a.k)))
            .expect("at least one k");
        let mut why = format!(
            "highest mean silhouette ({:.4}) over k = {}..{}",
            best.silhouette,
            ks[0],
            ks[ks.len() - 1]
        );
        if let Some(g) = gap_suggested_k {
            why.push_str(&format!("; the gap statistic suggests k = {g}"));
        }
        (best.k, why)
    };
    Ok(Selection {
        method,
        chosen_k,
        why,
        gap_suggested_k,
        results,
        cophenetic_correlation: lab.cophenetic,
        bandwidth: lab.bandwidth,
        tree: lab.tree,
    })
}

/// Adjusted Rand index between every pair of methods at one k (HDBSCAN at its own k,
/// its noise counted as one more group). Methods that cannot run on `x` (too many
/// points for a dense method) are left out and listed with the reason.
pub fn method_agreement(
    engine: &Engine,
    x: ArrayView2<f32>,
    k: usize,
    opts: &SelectOptions,
) -> Result<Agreement> {
    agreement_observed(engine, x, k, opts, &mut |_| {})
}

fn agreement_observed(
    engine: &Engine,
    x: ArrayView2<f32>,
    k: usize,
    opts: &SelectOptions,
    observe: &mut dyn FnMut(ClusterEvent),
) -> Result<Agreement> {
    let (run, mut skipped) = comparable(x.nrows());
    let mut methods = Vec::new();
    let mut labelings = Vec::new();
    for (i, &m) in run.iter().enumerate() {
        observe(ClusterEvent::Step {
            what: COMPARISON,
            done: i,
            total: run.len(),
        });
        match label_all(engine, x, m, &[k], opts.seed, opts) {
            Ok(l) => {
                methods.push(m);
                labelings.push(l.labelings.into_iter().next().expect("one k"));
            }
            Err(e) => skipped.push((m, e.to_string())),
        }
    }
    let ari = (0..methods.len())
        .map(|a| {
            (0..methods.len())
                .map(|b| adjusted_rand_index(&labelings[a], &labelings[b]))
                .collect()
        })
        .collect();
    let clusters_found = labelings
        .iter()
        .map(|l| {
            let mut c: Vec<u32> = l.iter().copied().filter(|&v| v != NOISE).collect();
            c.sort_unstable();
            c.dedup();
            c.len()
        })
        .collect();
    Ok(Agreement {
        k,
        methods,
        ari,
        clusters_found,
        skipped,
    })
}

/// Largest n for which hierarchical methods run in the method comparison (their
/// condensed distance matrix is n²/2 doubles, held twice).
pub(crate) const MAX_HIERARCHICAL: usize = 20_000;

/// Pairwise agreement of clustering methods.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Agreement {
    pub k: usize,
    pub methods: Vec<Method>,
    /// ari\[a\]\[b\]: agreement of methods a and b.
    pub ari: Vec<Vec<f64>>,
    /// The clusters each method found (HDBSCAN finds its own; noise not counted).
    pub clusters_found: Vec<usize>,
    pub skipped: Vec<(Method, String)>,
}

/// Parse "2..10", "3" or "2,3,5".
pub fn parse_k_range(text: &str) -> Result<Vec<usize>> {
    let bad =
        || invalid!("option k takes a number (3), a range (2..10) or a list (2,3,5), not {text:?}");
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
        if b > MAX_K {
            return Err(invalid!(
                "option k: {b} clusters asked for; at most {MAX_K} (k is cut to n − 1 anyway)"
            ));
        }
        (a..=b).collect()
    } else {
        text.split(',')
            .map(|t| t.trim().parse().map_err(|_| bad()))
            .collect::<Result<_>>()?
    };
    if ks.is_empty() {
        return Err(bad());
    }
    if let Some(&k) = ks.iter().find(|&&k| k > MAX_K) {
        return Err(invalid!(
            "option k: {k} clusters asked for; at most {MAX_K} (k is cut to n − 1 anyway)"
        ));
    }
    Ok(ks)
}

/// The largest k option k may name.
pub(crate) const MAX_K: usize = 10_000;
/// The most reference sets the gap statistic may draw.
pub(crate) const MAX_GAP_REFS: usize = 1000;
/// The most re-runs the stability score may make.
pub(crate) const MAX_STABILITY_RUNS: usize = 1000;

/// The first two principal components of `x` (power iteration with deflation on the
/// d x d covariance), for 2-D scatter plots of many features, with the fraction of
/// the total variance each of the two explains.
pub(crate) fn principal_components_2_explained(x: ArrayView2<f32>) -> (Vec<(f64, f64)>, [f64; 2]) {
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
    let total: f64 = (0..d).map(|a| cov[a][a]).sum();
    let explained = |c: Option<&Vec<f64>>| {
        c.map_or(0.0, |c| {
            let lambda: f64 = (0..d)
                .map(|a| c[a] * (0..d).map(|b| cov[a][b] * c[b]).sum::<f64>())
                .sum();
            if total > 0.0 { lambda / total } else { 0.0 }
        })
    };
    let fractions = [explained(comps.first()), explained(comps.get(1))];
    let points = x
        .outer_iter()
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
        .collect();
    (points, fractions)
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
