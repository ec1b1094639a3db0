//! Does the screening find conductors? Descriptors and clusters against measured ionic
//! conductivities (OBELiX's table, or any CSV with a composition or id column and a
//! conductivity column).
//!
//! Matching: by id where both tables have one and the ids agree, else by reduced
//! composition; a composition measured several times keeps its highest conductivity
//! (OBELiX's reference figure does the same); several feature rows of one composition
//! (polymorphs) each get it, and the per-formula analysis averages their descriptors.
//! Values written `<1E-8` are upper limits: kept, at the limit, and counted as
//! censored (they rank lowest; for the ROC they are non-conductors when the limit is
//! below the threshold).
//!
//! Statistics per descriptor: n, Spearman ρ with a seeded bootstrap 95 % interval
//! (percentiles of 2000 resamples of the pairs), Kendall τ-b, and the ROC AUC of the
//! descriptor as a score for σ ≥ threshold with its bootstrap interval (AUC < 0.5:
//! lower values go with conductors). With cluster labels: conductivity by cluster
//! (median, IQR, n, conductors), and the best cluster's conductor fraction against
//! random selection (permutation p-value, the choice of the best cluster included);
//! with a ranking: the top-k's conductor fraction against random selection.
//!
//! Three parts: [`input`] reads the tables and matches them, [`stats`] holds the rank
//! statistics (Spearman, Kendall, ROC AUC, bootstrap intervals), and this module runs
//! the validation and writes its report.

pub mod input;
pub mod stats;

pub use input::*;
pub use stats::*;

use std::collections::BTreeMap;
use std::path::Path;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::error::Result;

/// One descriptor against log10 σ on one subset.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DescriptorStats {
    pub subset: String,
    pub descriptor: String,
    pub n: usize,
    pub n_conductors: usize,
    pub n_censored: usize,
    pub spearman: Option<f64>,
    pub spearman_ci: Option<(f64, f64)>,
    pub kendall: Option<f64>,
    pub roc_auc: Option<f64>,
    pub roc_auc_ci: Option<(f64, f64)>,
}

/// Points of one subset: (descriptor values, log10 σ, conductor?, censored?).
pub struct Points {
    pub x: Vec<f64>,
    pub log_sigma: Vec<f64>,
    pub conductor: Vec<bool>,
    pub censored: Vec<bool>,
}

fn descriptor_stats(
    subset: &str,
    name: &str,
    p: &Points,
    o: &ValidateOptions,
    rng: &mut ChaCha8Rng,
) -> DescriptorStats {
    let n = p.x.len();
    let sp = |idx: &[usize]| {
        let x: Vec<f64> = idx.iter().map(|&i| p.x[i]).collect();
        let y: Vec<f64> = idx.iter().map(|&i| p.log_sigma[i]).collect();
        spearman(&x, &y)
    };
    let au = |idx: &[usize]| {
        let x: Vec<f64> = idx.iter().map(|&i| p.x[i]).collect();
        let c: Vec<bool> = idx.iter().map(|&i| p.conductor[i]).collect();
        auc(&x, &c)
    };
    let all: Vec<usize> = (0..n).collect();
    let roc_auc = au(&all);
    DescriptorStats {
        subset: subset.into(),
        descriptor: name.into(),
        n,
        n_conductors: p.conductor.iter().filter(|&&c| c).count(),
        n_censored: p.censored.iter().filter(|&&c| c).count(),
        spearman: sp(&all),
        spearman_ci: bootstrap(n, o.bootstrap, rng, &sp),
        kendall: kendall(&p.x, &p.log_sigma),
        roc_auc,
        roc_auc_ci: roc_auc.and_then(|_| bootstrap(n, o.bootstrap, rng, &au)),
    }
}

/// Conductivity of one cluster.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ClusterConductivity {
    pub cluster: String,
    pub n: usize,
    pub n_conductors: usize,
    pub median_log_sigma: f64,
    pub q1_log_sigma: f64,
    pub q3_log_sigma: f64,
    #[serde(skip)]
    pub log_sigma: Vec<f64>,
}

/// Conductors in a chosen group against random selection of the same size.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Enrichment {
    pub what: String,
    pub n: usize,
    pub conductors: usize,
    pub fraction: f64,
    /// The fraction of conductors among all matched entries.
    pub base_rate: f64,
    /// fraction / base_rate.
    pub enrichment: f64,
    /// Permutation p-value (conductor flags shuffled; as extreme or more).
    pub p_value: f64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Validation {
    pub features: String,
    pub conductivities: String,
    pub composition_column: Option<String>,
    pub id_column: Option<String>,
    pub conductivity_column: String,
    pub threshold_s_cm: f64,
    pub bootstrap: usize,
    pub seed: u64,
    pub measurements: usize,
    pub rejected_rows: usize,
    pub matched_entries: usize,
    pub matched_formulas: usize,
    pub matched_by_id: usize,
    pub unstable_matched: usize,
    pub conductors: usize,
    pub censored: usize,
    pub stats: Vec<DescriptorStats>,
    pub clusters: Vec<ClusterConductivity>,
    pub cluster_enrichment: Option<Enrichment>,
    pub top_k_enrichment: Option<Enrichment>,
    pub notes: Vec<String>,
    #[serde(skip)]
    pub matched: Vec<Matched>,
    #[serde(skip)]
    pub unmatched: Vec<Unmatched>,
}

/// The points of `descriptor` over the matched rows in `rows`.
pub fn points(
    fs: &FeatureSet,
    matched: &[Matched],
    rows: &[usize],
    descriptor: usize,
    threshold: f64,
) -> Points {
    let vals = &fs.descriptors[descriptor].1;
    let mut p = Points {
        x: vec![],
        log_sigma: vec![],
        conductor: vec![],
        censored: vec![],
    };
    for &i in rows {
        let m = &matched[i];
        let v = vals[m.row];
        if v.is_finite() {
            p.x.push(v);
            p.log_sigma.push(m.sigma_s_cm.log10());
            p.conductor.push(!m.censored && m.sigma_s_cm >= threshold);
            p.censored.push(m.censored);
        }
    }
    p
}

/// Validate the descriptors of `fs` (and, when given, cluster labels by id and a ranking
/// of ids, best first) against `table`.
pub fn validate(
    fs: &FeatureSet,
    features_path: &Path,
    table: &ConductivityTable,
    labels: Option<&BTreeMap<String, String>>,
    ranking: Option<&[String]>,
    o: &ValidateOptions,
) -> Result<Validation> {
    let (matched, unmatched) = match_tables(fs, table);
    if matched.is_empty() {
        return Err(crate::invalid!(
            "{} and {}: no feature row matches a measured composition or id",
            features_path.display(),
            table.path.display()
        ));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(o.seed);
    let all: Vec<usize> = (0..matched.len()).collect();
    let stable: Vec<usize> = all
        .iter()
        .copied()
        .filter(|&i| matched[i].unstable != Some(true))
        .collect();
    let mut stats = Vec::new();
    for d in 0..fs.descriptors.len() {
        let name = &fs.descriptors[d].0;
        stats.push(descriptor_stats(
            "all",
            name,
            &points(fs, &matched, &all, d, o.threshold_s_cm),
            o,
            &mut rng,
        ));
        if stable.len() < all.len() {
            stats.push(descriptor_stats(
                "stable",
                name,
                &points(fs, &matched, &stable, d, o.threshold_s_cm),
                o,
                &mut rng,
            ));
        }
        // Per formula: the mean descriptor over its polymorphs.
        let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, m) in matched.iter().enumerate() {
            let k = reduced_key(&m.formula).unwrap_or_else(|_| m.formula.clone());
            groups.entry(k).or_default().push(i);
        }
        if groups.len() < matched.len() {
            let mut p = Points {
                x: vec![],
                log_sigma: vec![],
                conductor: vec![],
                censored: vec![],
            };
            for rows in groups.values() {
                let v: Vec<f64> = rows
                    .iter()
                    .map(|&i| fs.descriptors[d].1[matched[i].row])
                    .filter(|v| v.is_finite())
                    .collect();
                if v.is_empty() {
                    continue;
                }
                let m = &matched[rows[0]];
                p.x.push(v.iter().sum::<f64>() / v.len() as f64);
                p.log_sigma.push(m.sigma_s_cm.log10());
                p.conductor
                    .push(!m.censored && m.sigma_s_cm >= o.threshold_s_cm);
                p.censored.push(m.censored);
            }
            stats.push(descriptor_stats("per_formula", name, &p, o, &mut rng));
        }
    }
    let is_conductor: Vec<bool> = matched
        .iter()
        .map(|m| !m.censored && m.sigma_s_cm >= o.threshold_s_cm)
        .collect();
    let n_cond = is_conductor.iter().filter(|&&c| c).count();
    let base = n_cond as f64 / matched.len() as f64;
    let mut notes = Vec::new();
    // Clusters.
    let mut clusters = Vec::new();
    let mut cluster_enrichment = None;
    if let Some(labels) = labels {
        let mut by: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, m) in matched.iter().enumerate() {
            if let Some(l) = labels.get(&m.id) {
                by.entry(l.clone()).or_default().push(i);
            }
        }
        for (l, rows) in &by {
            let mut ls: Vec<f64> = rows
                .iter()
                .map(|&i| matched[i].sigma_s_cm.log10())
                .collect();
            ls.sort_by(f64::total_cmp);
            clusters.push(ClusterConductivity {
                cluster: l.clone(),
                n: rows.len(),
                n_conductors: rows.iter().filter(|&&i| is_conductor[i]).count(),
                median_log_sigma: percentile(&ls, 0.5),
                q1_log_sigma: percentile(&ls, 0.25),
                q3_log_sigma: percentile(&ls, 0.75),
                log_sigma: ls,
            });
        }
        // The best cluster (highest conductor fraction, at least 3 matched) against the
        // same choice made on shuffled conductor flags.
        let groups: Vec<Vec<usize>> = by.values().filter(|r| r.len() >= 3).cloned().collect();
        let best = |flags: &[bool]| -> Option<(f64, usize, usize)> {
            groups
                .iter()
                .map(|g| {
                    let c = g.iter().filter(|&&i| flags[i]).count();
                    (c as f64 / g.len() as f64, c, g.len())
                })
                .max_by(|a, b| a.0.total_cmp(&b.0))
        };
        if let Some((frac, c, n)) = best(&is_conductor).filter(|_| n_cond > 0) {
            let mut flags = is_conductor.clone();
            let mut hits = 0;
            for _ in 0..o.permutations {
                flags.shuffle(&mut rng);
                if best(&flags).is_some_and(|b| b.0 >= frac) {
                    hits += 1;
                }
            }
            cluster_enrichment = Some(Enrichment {
                what: "the cluster with the most conductors (of clusters with ≥ 3 matched entries)"
                    .into(),
                n,
                conductors: c,
                fraction: frac,
                base_rate: base,
                enrichment: if base > 0.0 { frac / base } else { f64::NAN },
                p_value: (hits + 1) as f64 / (o.permutations + 1) as f64,
            });
        } else {
            notes.push("cluster enrichment not determined (no conductor, or no cluster with 3 matched entries)".into());
        }
    }
    // Top-k of the ranking.
    let mut top_k_enrichment = None;
    if let Some(ranking) = ranking {
        let pos: BTreeMap<&str, usize> = matched
            .iter()
            .enumerate()
            .map(|(i, m)| (m.id.as_str(), i))
            .collect();
        let ranked: Vec<usize> = ranking
            .iter()
            .filter_map(|id| pos.get(id.as_str()).copied())
            .collect();
        let k = o.top_k.min(ranked.len());
        if k > 0 && n_cond > 0 {
            let top = &ranked[..k];
            let c = top.iter().filter(|&&i| is_conductor[i]).count();
            let mut flags = is_conductor.clone();
            let mut hits = 0;
            for _ in 0..o.permutations {
                flags.shuffle(&mut rng);
                if top.iter().filter(|&&i| flags[i]).count() >= c {
                    hits += 1;
                }
            }
            top_k_enrichment = Some(Enrichment {
                what: format!("the top {k} {} with a measurement", o.ranking_name),
                n: k,
                conductors: c,
                fraction: c as f64 / k as f64,
                base_rate: base,
                enrichment: if base > 0.0 {
                    c as f64 / k as f64 / base
                } else {
                    f64::NAN
                },
                p_value: (hits + 1) as f64 / (o.permutations + 1) as f64,
            });
        } else {
            notes.push("top-k enrichment not determined (no ranked entry with a measurement, or no conductor)".into());
        }
    }
    let censored = matched.iter().filter(|m| m.censored).count();
    if censored > 0 {
        notes.push(format!(
            "{censored} matched conductivities are upper limits (<x): ranked at their limit, never conductors"
        ));
    }
    let formulas: std::collections::BTreeSet<String> = matched
        .iter()
        .map(|m| reduced_key(&m.formula).unwrap_or_else(|_| m.formula.clone()))
        .collect();
    notes.push("a composition measured more than once keeps its highest conductivity; polymorphs each get it (subset all), and are averaged per formula (subset per_formula)".into());
    Ok(Validation {
        features: features_path.display().to_string(),
        conductivities: table.path.display().to_string(),
        composition_column: table.composition_column.clone(),
        id_column: table.id_column.clone(),
        conductivity_column: table.conductivity_column.clone(),
        threshold_s_cm: o.threshold_s_cm,
        bootstrap: o.bootstrap,
        seed: o.seed,
        measurements: table.measurements.len(),
        rejected_rows: table.rejected.len(),
        matched_entries: matched.len(),
        matched_formulas: formulas.len(),
        matched_by_id: matched.iter().filter(|m| m.by == "id").count(),
        unstable_matched: matched.iter().filter(|m| m.unstable == Some(true)).count(),
        conductors: n_cond,
        censored,
        stats,
        clusters,
        cluster_enrichment,
        top_k_enrichment,
        notes,
        matched,
        unmatched,
    })
}

pub(crate) fn opt(v: Option<f64>) -> String {
    v.map(crate::io::fmt_f64).unwrap_or_default()
}

impl Validation {
    /// The report section, in plain words.
    pub fn markdown(&self) -> String {
        self.markdown_in("")
    }

    /// The report section, its file names prefixed with `folder` (e.g. "validation/").
    pub(crate) fn markdown_in(&self, folder: &str) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(s, "## Validation against measured conductivities\n");
        let _ = writeln!(
            s,
            "{} measurements in `{}` (column `{}`; {} rows without a usable value), matched to `{}`: **{} entries ({} formulas)** have a measured room-temperature conductivity ({} by id, {} unstable), {} of them conductors (σ ≥ {:e} S/cm), {} upper limits.\n",
            self.measurements,
            self.conductivities,
            self.conductivity_column,
            self.rejected_rows,
            self.features,
            self.matched_entries,
            self.matched_formulas,
            self.matched_by_id,
            self.unstable_matched,
            self.conductors,
            self.threshold_s_cm,
            self.censored
        );
        let _ = writeln!(
            s,
            "| descriptor | subset | n | Spearman ρ (95 % CI) | Kendall τ | ROC AUC (95 % CI) |\n|---|---|---|---|---|---|"
        );
        let f = |v: Option<f64>| v.map_or("–".into(), |v| format!("{v:.3}"));
        let ci =
            |c: Option<(f64, f64)>| c.map_or(String::new(), |(a, b)| format!(" [{a:.2}, {b:.2}]"));
        for st in &self.stats {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {}{} | {} | {}{} |",
                st.descriptor,
                st.subset,
                st.n,
                f(st.spearman),
                ci(st.spearman_ci),
                f(st.kendall),
                f(st.roc_auc),
                ci(st.roc_auc_ci)
            );
        }
        let _ = writeln!(
            s,
            "\nρ < 0: lower values go with higher conductivity; an interval that contains 0 is no evidence of a correlation. AUC: the probability that a conductor scores higher than a non-conductor (0.5 = chance; below 0.5 lower values mark conductors). Intervals: {} bootstrap resamples, seed {}.\n",
            self.bootstrap, self.seed
        );
        if !self.clusters.is_empty() {
            let _ = writeln!(
                s,
                "| cluster | n | conductors | median log10 σ | IQR |\n|---|---|---|---|---|"
            );
            for c in &self.clusters {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {:.2} | {:.2} to {:.2} |",
                    c.cluster,
                    c.n,
                    c.n_conductors,
                    c.median_log_sigma,
                    c.q1_log_sigma,
                    c.q3_log_sigma
                );
            }
            s.push('\n');
        }
        for e in [&self.cluster_enrichment, &self.top_k_enrichment]
            .into_iter()
            .flatten()
        {
            let _ = writeln!(
                s,
                "- {}: {} of {} are conductors ({:.0} %, against {:.0} % at random: {:.2}×; permutation p = {:.3}).",
                e.what,
                e.conductors,
                e.n,
                100.0 * e.fraction,
                100.0 * e.base_rate,
                e.enrichment,
                e.p_value
            );
        }
        for n in &self.notes {
            let _ = writeln!(s, "- {n}");
        }
        let _ = write!(
            s,
            "\nFigures: `{folder}scatter.svg` (descriptor vs log10 σ), `{folder}roc.svg`"
        );
        if !self.clusters.is_empty() {
            let _ = write!(s, ", `{folder}clusters.svg` (conductivity by cluster)");
        }
        let _ = writeln!(
            s,
            ". Tables: `{folder}validation.csv`, `{folder}matched.csv`, `{folder}unmatched.csv` (with reasons)."
        );
        s
    }
}

/// The reduced compositions of the table's conductors (σ ≥ `threshold`, upper limits
/// excluded), sorted, each once: known conductors for `screen`.
pub fn conductor_formulas(table: &ConductivityTable, threshold: f64) -> Vec<String> {
    let mut k: Vec<String> = table
        .measurements
        .iter()
        .filter(|m| !m.censored && m.sigma_s_cm >= threshold)
        .filter_map(|m| reduced_key(&m.composition).ok())
        .collect();
    k.sort();
    k.dedup();
    k
}

/// The ids of the table's conductors (σ ≥ `threshold`, upper limits excluded), sorted:
/// known conductors for `screen` where the screened materials carry the table's ids
/// (OBELiX's CIFs are named by them).
pub fn conductor_ids(table: &ConductivityTable, threshold: f64) -> Vec<String> {
    let mut k: Vec<String> = table
        .measurements
        .iter()
        .filter(|m| !m.censored && m.sigma_s_cm >= threshold)
        .filter_map(|m| m.id.clone())
        .collect();
    k.sort();
    k.dedup();
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feature_tables_join_on_ids_and_infinities_are_refused() {
        let dir = std::env::temp_dir().join(format!("superion-join-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let a = dir.join("structure.csv");
        let b = dir.join("phonon.csv");
        std::fs::write(
            &a,
            "id,formula,li_fraction,bvse_e3d_ev\nm1,LiCl,0.5,0.3\nm2,Li2S,0.67,\nm3,LiF,0.5,0.9\n",
        )
        .unwrap();
        std::fs::write(&b, "id,formula,unstable,li_fraction,li_f10_thz\nm3,LiF,true,0.5,7.0\nm1,LiCl,false,0.5,3.0\n").unwrap();
        let fs = read_feature_tables(&[a.clone(), b.clone()]).unwrap();
        assert_eq!(fs.ids, ["m1", "m3"]);
        assert_eq!(fs.unstable, [Some(false), Some(true)]);
        let names: Vec<&str> = fs.descriptors.iter().map(|d| d.0.as_str()).collect();
        assert_eq!(
            names,
            [
                "li_fraction",
                "bvse_e3d_ev",
                "li_fraction@phonon",
                "li_f10_thz"
            ]
        );
        assert_eq!(fs.descriptors[3].1, [3.0, 7.0]);
        assert_eq!(fs.descriptors[1].1, [0.3, 0.9]);
        std::fs::write(&b, "id,formula,li_f10_thz\nm1,LiCl,inf\n").unwrap();
        let e = read_feature_tables(&[a.clone(), b.clone()])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("phonon.csv") && e.contains("li_f10_thz") && e.contains("infinite"),
            "{e}"
        );
        std::fs::write(&b, "id,formula,li_f10_thz\nx9,LiCl,1\n").unwrap();
        let e = read_feature_tables(&[a, b]).unwrap_err().to_string();
        assert!(e.contains("share no id"), "{e}");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn rank_statistics_on_known_cases() {
        let x = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(spearman(&x, &[10.0, 20.0, 30.0, 40.0, 50.0]), Some(1.0));
        assert_eq!(spearman(&x, &[5.0, 4.0, 3.0, 2.0, 1.0]), Some(-1.0));
        assert!((kendall(&x, &[5.0, 4.0, 3.0, 2.0, 1.0]).unwrap() + 1.0).abs() < 1e-12);
        assert_eq!(ranks(&[3.0, 1.0, 3.0, 2.0]), vec![3.5, 1.0, 3.5, 2.0]);
        // scipy.stats.spearmanr([1,2,3,4,5],[2,1,4,3,5]) = 0.8; kendalltau = 0.6
        assert!((spearman(&x, &[2.0, 1.0, 4.0, 3.0, 5.0]).unwrap() - 0.8).abs() < 1e-12);
        assert!((kendall(&x, &[2.0, 1.0, 4.0, 3.0, 5.0]).unwrap() - 0.6).abs() < 1e-12);
        assert_eq!(spearman(&x, &[1.0; 5]), None);
        assert_eq!(auc(&x, &[false, false, false, true, true]), Some(1.0));
        assert_eq!(auc(&x, &[true, true, false, false, false]), Some(0.0));
        assert_eq!(auc(&[1.0, 1.0], &[true, false]), Some(0.5));
        assert_eq!(auc(&x, &[false; 5]), None);
    }

    #[test]
    fn compositions_are_reduced_or_refused_with_a_reason() {
        assert_eq!(
            reduced_key("LiTi2(PO4)3").unwrap(),
            reduced_key("Li1Ti2P3O12").unwrap()
        );
        assert_eq!(reduced_key("Li7.0Bi1.0O6.0").unwrap(), "Li7BiO6");
        assert_eq!(reduced_key("Li2 O1").unwrap(), "Li2O");
        assert_eq!(reduced_key("Li0.5Cl0.5").unwrap(), "LiCl");
        assert!(
            reduced_key("Li6.4La3Zr1.4Ta0.6O12")
                .unwrap_err()
                .contains("fractional")
        );
        assert!(reduced_key("LiOH·H2O").unwrap_err().contains("hydrate"));
        assert!(
            reduced_key("Xx2O")
                .unwrap_err()
                .contains("not a chemical formula")
        );
    }
}
