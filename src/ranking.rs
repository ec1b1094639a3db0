//! A ranking of materials chosen on a training split and judged on a test split (OBELiX's
//! official split: fit on `train.csv` only, report on `test.csv`).
//!
//! A ranking scores a material by the mean of its descriptors' empirical-CDF positions
//! among the training entries (each centred at 0 and signed by the direction in which
//! it marks conductors on the training entries; a missing value counts 0), so no
//! descriptor's units weigh in and nothing is fitted beyond directions and the order of
//! the descriptors. Candidates, all fitted on the training entries only:
//! - each descriptor alone;
//! - the mean of the m descriptors with the highest training ROC AUC, m = 2..8.
//!
//! The chosen candidate is the one with the highest mean ROC AUC in repeated k-fold
//! cross-validation on the training entries (directions and the descriptor order refitted
//! in every fold). The test entries then get, for the chosen ranking and for a fixed
//! ranking named in advance (the default: the BVSE barrier E_3D, lower first), Spearman
//! ρ with log10 σ, ROC AUC (higher scores for conductors) with bootstrap intervals, and
//! the conductors among the top 10 and the top 10 % against the base rate, with
//! permutation p-values and Wilson 95 % intervals.

use std::collections::{BTreeMap, BTreeSet};

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::error::{Error, Result};
use crate::validate::{ConductivityTable, FeatureSet, auc, bootstrap, spearman};

#[derive(Debug, Clone)]
pub struct SplitOptions {
    /// A conductor: σ ≥ this (S/cm), upper limits excluded.
    pub threshold_s_cm: f64,
    pub folds: usize,
    pub repeats: usize,
    pub bootstrap: usize,
    pub permutations: usize,
    pub seed: u64,
    /// A ranking named in advance, reported beside the chosen one: (descriptor, +1 if
    /// higher is better, -1 if lower is).
    pub fixed: Vec<(String, f64)>,
    /// Training entries a descriptor must cover (fraction) to be a candidate.
    pub min_coverage: f64,
}

impl Default for SplitOptions {
    fn default() -> Self {
        SplitOptions {
            threshold_s_cm: 1e-4,
            folds: 5,
            repeats: 10,
            bootstrap: 2000,
            permutations: 10_000,
            seed: 0,
            fixed: vec![("bvse_e3d_ev".into(), -1.0)],
            min_coverage: 0.8,
        }
    }
}

/// One measured material of a split.
#[derive(Debug, Clone)]
struct Entry {
    log_sigma: f64,
    conductor: bool,
    values: Vec<f64>,
}

/// A ranking: descriptors (index, direction) and the training values each is placed among.
#[derive(Debug, Clone)]
struct Model {
    terms: Vec<(usize, f64)>,
    reference: Vec<Vec<f64>>,
}

impl Model {
    fn fit(train: &[Entry], terms: Vec<(usize, f64)>) -> Model {
        let reference = terms
            .iter()
            .map(|&(d, _)| {
                let mut v: Vec<f64> = train
                    .iter()
                    .map(|e| e.values[d])
                    .filter(|v| v.is_finite())
                    .collect();
                v.sort_by(f64::total_cmp);
                v
            })
            .collect();
        Model { terms, reference }
    }

    fn score(&self, e: &Entry) -> f64 {
        let mut s = 0.0;
        for ((d, dir), refv) in self.terms.iter().zip(&self.reference) {
            let v = e.values[*d];
            if v.is_finite() && !refv.is_empty() {
                s += dir * (ecdf(refv, v) - 0.5);
            }
        }
        s / self.terms.len().max(1) as f64
    }
}

/// The position of `v` among the sorted training values `r`, in [0, 1], interpolated
/// linearly between neighbours (so distinct test values keep their order), and just
/// beyond 0 or 1 outside the training range (ordered by the distance past it).
fn ecdf(r: &[f64], v: f64) -> f64 {
    let n = r.len();
    let (lo, hi) = (r[0], r[n - 1]);
    let span = (hi - lo).abs().max(1e-12);
    if v < lo {
        return -1e-3 * (lo - v) / span;
    }
    if v > hi {
        return 1.0 + 1e-3 * (v - hi) / span;
    }
    let j = r.partition_point(|&x| x <= v); // r[j-1] <= v < r[j]
    if j == 0 || j >= n {
        return if j == 0 { 0.0 } else { 1.0 };
    }
    let (a, b) = (r[j - 1], r[j]);
    let frac = if b > a { (v - a) / (b - a) } else { 0.0 };
    ((j - 1) as f64 + 0.5 + frac) / n as f64
}

/// Training AUC of each descriptor as a score for conductors, and its direction.
fn directions(train: &[Entry], n_desc: usize, min_coverage: f64) -> Vec<Option<(f64, f64)>> {
    (0..n_desc)
        .map(|d| {
            let (x, y): (Vec<f64>, Vec<bool>) = train
                .iter()
                .filter(|e| e.values[d].is_finite())
                .map(|e| (e.values[d], e.conductor))
                .unzip();
            if (x.len() as f64) < min_coverage * train.len() as f64 {
                return None;
            }
            let a = auc(&x, &y)?;
            Some(if a >= 0.5 { (1.0, a) } else { (-1.0, 1.0 - a) })
        })
        .collect()
}

/// A candidate: how to build its terms from training entries.
#[derive(Debug, Clone, PartialEq)]
enum Candidate {
    Single(usize),
    TopM(usize),
}

fn build(c: &Candidate, train: &[Entry], n_desc: usize, min_coverage: f64) -> Option<Model> {
    let dirs = directions(train, n_desc, min_coverage);
    let terms = match c {
        Candidate::Single(d) => vec![(*d, dirs[*d]?.0)],
        Candidate::TopM(m) => {
            let mut ranked: Vec<(usize, f64, f64)> = dirs
                .iter()
                .enumerate()
                .filter_map(|(d, x)| x.map(|(dir, a)| (d, dir, a)))
                .collect();
            ranked.sort_by(|a, b| b.2.total_cmp(&a.2).then(a.0.cmp(&b.0)));
            if ranked.len() < *m {
                return None;
            }
            ranked[..*m].iter().map(|&(d, dir, _)| (d, dir)).collect()
        }
    };
    Some(Model::fit(train, terms))
}

fn model_auc(model: &Model, entries: &[Entry]) -> Option<f64> {
    let s: Vec<f64> = entries.iter().map(|e| model.score(e)).collect();
    let y: Vec<bool> = entries.iter().map(|e| e.conductor).collect();
    auc(&s, &y)
}

/// Conductors among the top `k` of a ranking, against the base rate.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TopK {
    pub k: usize,
    pub conductors: usize,
    pub precision: f64,
    /// Wilson 95 % interval of the precision.
    pub precision_ci: (f64, f64),
    pub base_rate: f64,
    pub enrichment: f64,
    /// Permutation p-value: conductor flags shuffled over the entries, at least as many
    /// in the top k.
    pub p_value: f64,
}

/// A ranking on the test entries.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TestReport {
    pub ranking: String,
    /// (descriptor, "higher" or "lower" ranks first).
    pub terms: Vec<(String, String)>,
    /// Mean cross-validated ROC AUC on the training entries.
    pub cv_auc_train: Option<f64>,
    pub n: usize,
    pub conductors: usize,
    pub spearman: Option<f64>,
    pub spearman_ci: Option<(f64, f64)>,
    pub roc_auc: Option<f64>,
    pub roc_auc_ci: Option<(f64, f64)>,
    pub top_10: TopK,
    pub top_10_percent: TopK,
    /// The test ids, best first.
    pub order: Vec<String>,
}

/// One descriptor on both splits (direction from the training entries).
#[derive(Debug, Clone, serde::Serialize)]
pub struct DescriptorSplit {
    pub descriptor: String,
    pub direction: String,
    pub n_train: usize,
    pub train_auc: Option<f64>,
    pub n_test: usize,
    pub test_auc: Option<f64>,
    pub test_spearman: Option<f64>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct SplitReport {
    pub threshold_s_cm: f64,
    pub train_entries: usize,
    pub train_conductors: usize,
    pub test_entries: usize,
    pub test_conductors: usize,
    /// Ids of the split files with no feature row or no usable conductivity.
    pub train_missing: usize,
    pub test_missing: usize,
    pub candidates: Vec<(String, Option<f64>)>,
    pub chosen: TestReport,
    pub fixed: Option<TestReport>,
    pub descriptors: Vec<DescriptorSplit>,
    pub notes: Vec<String>,
}

fn wilson(k: usize, n: usize) -> (f64, f64) {
    if n == 0 {
        return (f64::NAN, f64::NAN);
    }
    let (p, n, z) = (k as f64 / n as f64, n as f64, 1.96f64);
    let centre = (p + z * z / (2.0 * n)) / (1.0 + z * z / n);
    let half = z * ((p * (1.0 - p) + z * z / (4.0 * n)) / n).sqrt() / (1.0 + z * z / n);
    (centre - half, centre + half)
}

fn top_k(
    order: &[usize],
    conductor: &[bool],
    k: usize,
    perms: usize,
    rng: &mut ChaCha8Rng,
) -> TopK {
    let k = k.min(order.len()).max(1);
    let c = order[..k].iter().filter(|&&i| conductor[i]).count();
    let base = conductor.iter().filter(|&&c| c).count() as f64 / conductor.len() as f64;
    let mut flags = conductor.to_vec();
    let mut hits = 0;
    for _ in 0..perms {
        flags.shuffle(rng);
        if order[..k].iter().filter(|&&i| flags[i]).count() >= c {
            hits += 1;
        }
    }
    TopK {
        k,
        conductors: c,
        precision: c as f64 / k as f64,
        precision_ci: wilson(c, k),
        base_rate: base,
        enrichment: if base > 0.0 {
            c as f64 / k as f64 / base
        } else {
            f64::NAN
        },
        p_value: (hits + 1) as f64 / (perms + 1) as f64,
    }
}

fn report(
    name: String,
    model: &Model,
    cv: Option<f64>,
    test: &[Entry],
    test_ids: &[String],
    names: &[String],
    o: &SplitOptions,
    rng: &mut ChaCha8Rng,
) -> TestReport {
    let s: Vec<f64> = test.iter().map(|e| model.score(e)).collect();
    let y: Vec<bool> = test.iter().map(|e| e.conductor).collect();
    let ls: Vec<f64> = test.iter().map(|e| e.log_sigma).collect();
    let mut order: Vec<usize> = (0..test.len()).collect();
    // Best first; ties by id so the order is reproducible.
    order.sort_by(|&a, &b| s[b].total_cmp(&s[a]).then(test_ids[a].cmp(&test_ids[b])));
    let n = test.len();
    let sp = |idx: &[usize]| {
        let x: Vec<f64> = idx.iter().map(|&i| s[i]).collect();
        let l: Vec<f64> = idx.iter().map(|&i| ls[i]).collect();
        spearman(&x, &l)
    };
    let au = |idx: &[usize]| {
        let x: Vec<f64> = idx.iter().map(|&i| s[i]).collect();
        let c: Vec<bool> = idx.iter().map(|&i| y[i]).collect();
        auc(&x, &c)
    };
    let all: Vec<usize> = (0..n).collect();
    TestReport {
        ranking: name,
        terms: model
            .terms
            .iter()
            .map(|&(d, dir)| {
                (
                    names[d].clone(),
                    if dir > 0.0 { "higher" } else { "lower" }.to_string(),
                )
            })
            .collect(),
        cv_auc_train: cv,
        n,
        conductors: y.iter().filter(|&&c| c).count(),
        spearman: sp(&all),
        spearman_ci: bootstrap(n, o.bootstrap, rng, &sp),
        roc_auc: au(&all),
        roc_auc_ci: bootstrap(n, o.bootstrap, rng, &au),
        top_10: top_k(&order, &y, 10, o.permutations, rng),
        top_10_percent: top_k(&order, &y, n.div_ceil(10), o.permutations, rng),
        order: order.iter().map(|&i| test_ids[i].clone()).collect(),
    }
}

/// Evaluate the descriptors of `fs` on the split (`train_ids`, `test_ids`), matching by id
/// with `table`.
pub fn evaluate(
    fs: &FeatureSet,
    table: &ConductivityTable,
    train_ids: &BTreeSet<String>,
    test_ids: &BTreeSet<String>,
    o: &SplitOptions,
) -> Result<SplitReport> {
    if let Some(both) = train_ids.intersection(test_ids).next() {
        return Err(Error::InvalidInput(format!(
            "{both} is in both the training and the test split"
        )));
    }
    let by_id: BTreeMap<&str, (f64, bool, Option<String>)> = table
        .measurements
        .iter()
        .filter_map(|m| {
            m.id.as_deref().map(|i| {
                let key = crate::validate::reduced_key(&m.composition).ok();
                (i, (m.sigma_s_cm, m.censored, key))
            })
        })
        .collect();
    let names: Vec<String> = fs.descriptors.iter().map(|d| d.0.clone()).collect();
    // Feature rows by reduced composition: a split id without a row of its own (features
    // from another database, e.g. PhononDB's mp-ids) takes the mean of the rows of its
    // composition, as validate's per-formula subset does.
    // Only when no feature row carries a split id: within one database a missing row is
    // a missing structure, not one to borrow from a namesake.
    let foreign = !fs
        .ids
        .iter()
        .any(|i| train_ids.contains(i) || test_ids.contains(i));
    let mut rows_of: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (r, f) in fs.formulas.iter().enumerate().filter(|_| foreign) {
        if let Ok(k) = crate::validate::reduced_key(f) {
            rows_of.entry(k).or_default().push(r);
        }
    }
    let train_keys: BTreeSet<&str> = train_ids
        .iter()
        .filter_map(|i| by_id.get(i.as_str()).and_then(|m| m.2.as_deref()))
        .collect();
    let mut by_composition = [0usize; 2];
    let mut shared = 0usize;
    let mut gather = |ids: &BTreeSet<String>, is_test: bool| -> (Vec<Entry>, Vec<String>, usize) {
        let mut entries = Vec::new();
        let mut kept = Vec::new();
        let mut missing = 0;
        for id in ids {
            let Some((sigma, censored, key)) = by_id.get(id.as_str()) else {
                missing += 1;
                continue;
            };
            let values: Vec<f64> = if let Some(row) = fs.ids.iter().position(|x| x == id) {
                fs.descriptors.iter().map(|d| d.1[row]).collect()
            } else {
                let Some(rows) = key.as_ref().and_then(|k| rows_of.get(k)) else {
                    missing += 1;
                    continue;
                };
                // The same structures on both sides would leak: a test composition that
                // is also a training composition is left out of the test entries.
                if is_test && key.as_deref().is_some_and(|k| train_keys.contains(k)) {
                    shared += 1;
                    missing += 1;
                    continue;
                }
                by_composition[is_test as usize] += 1;
                fs.descriptors
                    .iter()
                    .map(|d| {
                        let v: Vec<f64> = rows
                            .iter()
                            .map(|&r| d.1[r])
                            .filter(|x| x.is_finite())
                            .collect();
                        if v.is_empty() {
                            f64::NAN
                        } else {
                            v.iter().sum::<f64>() / v.len() as f64
                        }
                    })
                    .collect()
            };
            entries.push(Entry {
                log_sigma: sigma.log10(),
                conductor: !censored && *sigma >= o.threshold_s_cm,
                values,
            });
            kept.push(id.clone());
        }
        (entries, kept, missing)
    };
    let (train, _, train_missing) = gather(train_ids, false);
    let (test, test_kept, test_missing) = gather(test_ids, true);
    let classes = |e: &[Entry]| e.iter().any(|x| x.conductor) && e.iter().any(|x| !x.conductor);
    if !classes(&train) || !classes(&test) {
        return Err(Error::InvalidInput(
            "the training and the test entries need conductors and non-conductors both".into(),
        ));
    }
    let n_desc = names.len();
    let mut rng = ChaCha8Rng::seed_from_u64(o.seed);
    // Candidates and their cross-validated AUC on the training entries.
    let mut cands: Vec<Candidate> = (0..n_desc).map(Candidate::Single).collect();
    cands.extend((2..=8).map(Candidate::TopM));
    let label = |c: &Candidate| match c {
        Candidate::Single(d) => names[*d].clone(),
        Candidate::TopM(m) => format!("mean of the top {m} descriptors by training AUC"),
    };
    // Stratified folds: conductors and non-conductors dealt out separately, so that
    // every held-out fold has both (a few conductors would otherwise leave folds
    // without one, and no AUC).
    let mut folds_all = Vec::new();
    for _ in 0..o.repeats {
        let mut idx: Vec<usize> = (0..train.len()).collect();
        idx.shuffle(&mut rng);
        let mut fold_of = vec![0usize; train.len()];
        let mut dealt = [0usize; 2];
        for &i in &idx {
            let c = train[i].conductor as usize;
            fold_of[i] = dealt[c] % o.folds;
            dealt[c] += 1;
        }
        folds_all.push((idx, fold_of));
    }
    let mut scored = Vec::new();
    for c in &cands {
        let mut aucs = Vec::new();
        for (idx, fold_of) in &folds_all {
            for f in 0..o.folds {
                let mut fit = Vec::new();
                let mut hold = Vec::new();
                for &i in idx {
                    if fold_of[i] == f {
                        hold.push(i)
                    } else {
                        fit.push(i)
                    }
                }
                let fit_e: Vec<Entry> = fit.iter().map(|&i| train[i].clone()).collect();
                let hold_e: Vec<Entry> = hold.iter().map(|&i| train[i].clone()).collect();
                if let Some(m) = build(c, &fit_e, n_desc, o.min_coverage)
                    && let Some(a) = model_auc(&m, &hold_e)
                {
                    aucs.push(a);
                }
            }
        }
        let expected = o.repeats * o.folds;
        let cv = (aucs.len() == expected && expected > 0)
            .then(|| aucs.iter().sum::<f64>() / aucs.len() as f64);
        scored.push((c.clone(), cv));
    }
    let (best, best_cv) = scored
        .iter()
        .filter_map(|(c, a)| a.map(|a| (c.clone(), a)))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .ok_or_else(|| {
            Error::InvalidInput("no descriptor covers enough training entries".into())
        })?;
    let model = build(&best, &train, n_desc, o.min_coverage).expect("built in cross-validation");
    let chosen = report(
        format!("chosen on the training split: {}", label(&best)),
        &model,
        Some(best_cv),
        &test,
        &test_kept,
        &names,
        o,
        &mut rng,
    );
    let mut notes = Vec::new();
    let fixed = {
        let terms: Vec<(usize, f64)> = o
            .fixed
            .iter()
            .filter_map(|(n, dir)| names.iter().position(|x| x == n).map(|d| (d, *dir)))
            .collect();
        if terms.len() == o.fixed.len() && !terms.is_empty() {
            let m = Model::fit(&train, terms);
            let cv = scored.iter().find_map(|(c, a)| {
                (o.fixed.len() == 1 && *c == Candidate::Single(m.terms[0].0))
                    .then_some(*a)
                    .flatten()
            });
            Some(report(
                format!(
                    "named in advance: {}",
                    o.fixed
                        .iter()
                        .map(|(n, d)| format!(
                            "{n} ({} first)",
                            if *d > 0.0 { "higher" } else { "lower" }
                        ))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                &m,
                cv,
                &test,
                &test_kept,
                &names,
                o,
                &mut rng,
            ))
        } else {
            notes.push(format!(
                "the ranking named in advance ({}) is not in the feature table",
                o.fixed
                    .iter()
                    .map(|f| f.0.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            None
        }
    };
    let dirs = directions(&train, n_desc, 0.0);
    let descriptors = (0..n_desc)
        .map(|d| {
            let pts = |e: &[Entry]| -> (Vec<f64>, Vec<bool>, Vec<f64>) {
                let mut x = Vec::new();
                let mut y = Vec::new();
                let mut l = Vec::new();
                for en in e.iter().filter(|en| en.values[d].is_finite()) {
                    x.push(en.values[d]);
                    y.push(en.conductor);
                    l.push(en.log_sigma);
                }
                (x, y, l)
            };
            let (tx, _, _) = pts(&train);
            let (sx, sy, sl) = pts(&test);
            let dir = dirs[d].map_or(1.0, |x| x.0);
            let signed: Vec<f64> = sx.iter().map(|v| dir * v).collect();
            DescriptorSplit {
                descriptor: names[d].clone(),
                direction: if dir > 0.0 { "higher" } else { "lower" }.into(),
                n_train: tx.len(),
                train_auc: dirs[d].map(|x| x.1),
                n_test: sx.len(),
                test_auc: auc(&signed, &sy),
                test_spearman: spearman(&sx, &sl),
            }
        })
        .collect();
    notes.push("directions, the order of descriptors and the reference distributions come from the training entries only; the test entries are scored once".into());
    if by_composition.iter().sum::<usize>() > 0 {
        notes.push(format!(
            "the feature rows carry none of the split's ids: {} training and {} test ids take the mean of the rows of their reduced composition (polymorphs averaged); {} test ids whose composition is also a training id's were left out (the same structures on both sides)",
            by_composition[0], by_composition[1], shared
        ));
    }
    Ok(SplitReport {
        threshold_s_cm: o.threshold_s_cm,
        train_entries: train.len(),
        train_conductors: train.iter().filter(|e| e.conductor).count(),
        test_entries: test.len(),
        test_conductors: test.iter().filter(|e| e.conductor).count(),
        train_missing,
        test_missing,
        candidates: scored.iter().map(|(c, a)| (label(c), *a)).collect(),
        chosen,
        fixed,
        descriptors,
        notes,
    })
}

impl SplitReport {
    /// The report in plain words.
    pub fn markdown(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "## Ranking on the official split (fitted on train, reported on test)\n"
        );
        let _ = writeln!(
            s,
            "Training entries: {} ({} conductors, σ ≥ {:e} S/cm); test entries: {} ({} conductors); split ids without a feature row or a usable conductivity: {} train, {} test.\n",
            self.train_entries,
            self.train_conductors,
            self.threshold_s_cm,
            self.test_entries,
            self.test_conductors,
            self.train_missing,
            self.test_missing
        );
        let f = |v: Option<f64>| v.map_or("–".into(), |v| format!("{v:.3}"));
        let ci =
            |c: Option<(f64, f64)>| c.map_or(String::new(), |(a, b)| format!(" [{a:.2}, {b:.2}]"));
        let _ = writeln!(
            s,
            "| ranking | CV AUC (train) | test n | Spearman ρ (95 % CI) | ROC AUC (95 % CI) | top 10 | top 10 % |\n|---|---|---|---|---|---|---|"
        );
        for r in [Some(&self.chosen), self.fixed.as_ref()]
            .into_iter()
            .flatten()
        {
            let t = |k: &TopK| {
                format!(
                    "{}/{} ({:.0} % [{:.0}, {:.0}], {:.2}× base {:.0} %, p = {:.3})",
                    k.conductors,
                    k.k,
                    100.0 * k.precision,
                    100.0 * k.precision_ci.0,
                    100.0 * k.precision_ci.1,
                    k.enrichment,
                    100.0 * k.base_rate,
                    k.p_value
                )
            };
            let _ = writeln!(
                s,
                "| {} ({}) | {} | {} | {}{} | {}{} | {} | {} |",
                r.ranking,
                r.terms
                    .iter()
                    .map(|(n, d)| format!("{n} {d}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                f(r.cv_auc_train),
                r.n,
                f(r.spearman),
                ci(r.spearman_ci),
                f(r.roc_auc),
                ci(r.roc_auc_ci),
                t(&r.top_10),
                t(&r.top_10_percent)
            );
        }
        let _ = writeln!(
            s,
            "\nEvery descriptor (direction from the training entries; AUC of the signed descriptor, so above 0.5 means the training direction held on test):\n"
        );
        let _ = writeln!(
            s,
            "| descriptor | conductors rank | n train | AUC train | n test | AUC test | ρ test |\n|---|---|---|---|---|---|---|"
        );
        for d in &self.descriptors {
            let _ = writeln!(
                s,
                "| {} | {} first | {} | {} | {} | {} | {} |",
                d.descriptor,
                d.direction,
                d.n_train,
                f(d.train_auc),
                d.n_test,
                f(d.test_auc),
                f(d.test_spearman)
            );
        }
        for n in &self.notes {
            let _ = writeln!(s, "\n- {n}");
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::{ConductivityTable, FeatureSet, Measurement};

    /// 120 materials: `signal` separates conductors (lower is better), `noise` does not;
    /// even ids train, odd ids test.
    fn planted() -> (
        FeatureSet,
        ConductivityTable,
        BTreeSet<String>,
        BTreeSet<String>,
    ) {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        use rand::RngExt;
        let n = 120;
        let mut ids = Vec::new();
        let (mut signal, mut noise) = (Vec::new(), Vec::new());
        let mut measurements = Vec::new();
        for i in 0..n {
            let conductor = i % 3 == 0;
            let id = format!("m{i:03}");
            signal.push(if conductor { 0.3 } else { 0.8 } + 0.3 * rng.random::<f64>());
            noise.push(rng.random::<f64>());
            measurements.push(Measurement {
                line: i + 2,
                id: Some(id.clone()),
                composition: "LiCl".into(),
                sigma_s_cm: if conductor { 1e-3 } else { 1e-7 },
                censored: false,
            });
            ids.push(id);
        }
        let fs = FeatureSet {
            ids: ids.clone(),
            formulas: vec!["LiCl".into(); n],
            unstable: vec![None; n],
            descriptors: vec![("noise".into(), noise), ("signal".into(), signal)],
        };
        let table = ConductivityTable {
            path: "t.csv".into(),
            composition_column: None,
            id_column: Some("ID".into()),
            conductivity_column: "sigma".into(),
            measurements,
            rejected: vec![],
        };
        let train = ids.iter().step_by(2).cloned().collect();
        let test = ids.iter().skip(1).step_by(2).cloned().collect();
        (fs, table, train, test)
    }

    #[test]
    fn a_planted_descriptor_is_chosen_and_separates_the_test_entries() {
        let (fs, table, train, test) = planted();
        let o = SplitOptions {
            fixed: vec![("noise".into(), 1.0)],
            bootstrap: 200,
            permutations: 500,
            ..Default::default()
        };
        let r = evaluate(&fs, &table, &train, &test, &o).unwrap();
        assert_eq!((r.train_entries, r.test_entries), (60, 60));
        assert_eq!(r.test_conductors, 20);
        assert!(r.chosen.ranking.ends_with("signal"), "{}", r.chosen.ranking);
        assert_eq!(
            r.chosen.terms,
            vec![("signal".to_string(), "lower".to_string())]
        );
        // The planted gap (0.3-0.6 against 0.8-1.1) separates every test entry.
        assert_eq!(r.chosen.roc_auc, Some(1.0));
        assert_eq!(r.chosen.top_10.conductors, 10);
        assert!(r.chosen.top_10.p_value < 0.01);
        assert!((r.chosen.top_10.base_rate - 1.0 / 3.0).abs() < 1e-12);
        // The named ranking on noise is near chance, and its top 10 not significant.
        let f = r.fixed.unwrap();
        assert!((f.roc_auc.unwrap() - 0.5).abs() < 0.25, "{:?}", f.roc_auc);
        // Every test id ranked once.
        let mut order = r.chosen.order.clone();
        order.sort();
        assert_eq!(order, test.into_iter().collect::<Vec<_>>());
    }

    #[test]
    fn an_id_in_both_splits_is_refused() {
        let (fs, table, train, mut test) = planted();
        test.insert("m000".into());
        assert!(evaluate(&fs, &table, &train, &test, &SplitOptions::default()).is_err());
    }

    #[test]
    fn few_conductors_still_give_every_fold_both_classes() {
        // 5 conductors among 60 training entries: unstratified 5-fold splits leave
        // folds without a conductor (no AUC, no choice); dealt out by class, each
        // fold holds one.
        let (mut fs, mut table, train, test) = planted();
        let few: BTreeSet<&str> = ["m000", "m006", "m012", "m018", "m024"].into();
        for (k, m) in table.measurements.iter_mut().enumerate() {
            let id = m.id.clone().unwrap();
            if k % 2 == 0 && k % 3 == 0 && !few.contains(id.as_str()) {
                m.sigma_s_cm = 1e-7;
                fs.descriptors[1].1[k] = 0.8;
            }
        }
        let o = SplitOptions {
            bootstrap: 50,
            permutations: 50,
            ..Default::default()
        };
        let r = evaluate(&fs, &table, &train, &test, &o).unwrap();
        assert_eq!(r.train_conductors, 5);
        assert!(r.chosen.cv_auc_train.is_some());
        assert!(r.chosen.ranking.ends_with("signal"), "{}", r.chosen.ranking);
    }

    #[test]
    fn rows_from_another_database_are_matched_by_composition_without_leaks() {
        // The features carry other ids (PhononDB's mp-ids): each split id takes the
        // rows of its composition, polymorphs averaged; a test composition that is
        // also a training one is left out.
        let (_, mut table, train, test) = planted();
        let formula = |i: usize| format!("Li{}Cl", i + 1);
        for (i, m) in table.measurements.iter_mut().enumerate() {
            m.composition = formula(i);
        }
        // m001 (test) shares its composition with m000 (train).
        table.measurements[1].composition = formula(0);
        let (mut ids, mut formulas, mut signal) = (Vec::new(), Vec::new(), Vec::new());
        for (i, m) in table.measurements.iter().enumerate() {
            let good = m.sigma_s_cm > 1e-4;
            // Two polymorphs per composition: their mean separates the classes.
            for (p, v) in [(0, 0.2), (1, 0.6)] {
                ids.push(format!("mp-{i}-{p}"));
                formulas.push(m.composition.clone());
                signal.push(if good { v } else { v + 0.5 });
            }
        }
        let n = ids.len();
        let fs = FeatureSet {
            ids,
            formulas,
            unstable: vec![None; n],
            descriptors: vec![("signal".into(), signal)],
        };
        let o = SplitOptions {
            fixed: vec![],
            bootstrap: 50,
            permutations: 50,
            ..Default::default()
        };
        let r = evaluate(&fs, &table, &train, &test, &o).unwrap();
        assert_eq!((r.train_entries, r.test_entries), (60, 59));
        assert_eq!(r.test_missing, 1);
        assert_eq!(r.chosen.roc_auc, Some(1.0));
        assert!(
            r.notes
                .iter()
                .any(|n| n.contains("60 training and 59 test ids")
                    && n.contains("1 test ids whose composition")),
            "{:?}",
            r.notes
        );
        // With the split's own ids present, nothing is borrowed by composition.
        let (own, table, train, test) = planted();
        let r = evaluate(&own, &table, &train, &test, &o).unwrap();
        assert!(!r.notes.iter().any(|n| n.contains("reduced composition")));
    }

    #[test]
    fn wilson_interval_matches_a_known_case() {
        // 8 of 10: Wilson 95 % interval [0.490, 0.943].
        let (a, b) = wilson(8, 10);
        assert!(
            (a - 0.4902).abs() < 1e-3 && (b - 0.9433).abs() < 1e-3,
            "{a} {b}"
        );
    }
}
