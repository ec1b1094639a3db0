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

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rand::RngExt;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::error::{Error, Result};
use crate::io::parse_err;
use crate::phonon::composition::{Composition, parse_formula, reduce, reduced_formula};

/// Which columns of the conductivity table to use (None: found by name).
#[derive(Debug, Clone, Default)]
pub struct ColumnNames {
    pub composition: Option<String>,
    pub id: Option<String>,
    pub conductivity: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ValidateOptions {
    pub columns: ColumnNames,
    /// A conductor: σ ≥ this (S/cm).
    pub threshold_s_cm: f64,
    pub bootstrap: usize,
    pub seed: u64,
    /// Top-k of the ranking compared with random selection.
    pub top_k: usize,
    /// What the ranking ranks, as the report names it ("ranked candidates").
    pub ranking_name: String,
    pub permutations: usize,
}

impl Default for ValidateOptions {
    fn default() -> Self {
        ValidateOptions {
            columns: ColumnNames::default(),
            threshold_s_cm: 1e-4,
            bootstrap: 2000,
            seed: 0,
            top_k: 10,
            ranking_name: "ranked candidates".into(),
            permutations: 10_000,
        }
    }
}

/// One measurement of the conductivity table.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Measurement {
    pub line: usize,
    pub id: Option<String>,
    pub composition: String,
    pub sigma_s_cm: f64,
    /// An upper limit (`<1E-8`).
    pub censored: bool,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ConductivityTable {
    pub path: PathBuf,
    pub composition_column: Option<String>,
    pub id_column: Option<String>,
    pub conductivity_column: String,
    pub measurements: Vec<Measurement>,
    /// Rows without a usable conductivity: (line, text, reason).
    pub rejected: Vec<(usize, String, String)>,
}

fn find_column(
    header: &[String],
    given: Option<&str>,
    candidates: &[&str],
    contains: Option<&str>,
    path: &Path,
    what: &str,
) -> Result<Option<usize>> {
    if let Some(g) = given {
        return header.iter().position(|h| h == g).map(Some).ok_or_else(|| {
            parse_err(
                path,
                1,
                format!(
                    "no {what} column {g:?} (columns: {})",
                    crate::io::table::list_names(&header)
                ),
            )
        });
    }
    for c in candidates {
        if let Some(i) = header.iter().position(|h| h.eq_ignore_ascii_case(c)) {
            return Ok(Some(i));
        }
    }
    Ok(contains.and_then(|s| {
        header
            .iter()
            .position(|h| h.to_ascii_lowercase().contains(s))
    }))
}

/// The header (trimmed) and the rows of a CSV file (rows of any length).
fn read_csv(path: &Path) -> Result<(Vec<String>, Vec<csv::StringRecord>)> {
    crate::io::table::read_csv(path, true)
}

/// Read a conductivity table.
pub fn read_conductivities(path: &Path, cols: &ColumnNames) -> Result<ConductivityTable> {
    let (header, records) = read_csv(path)?;
    let comp = find_column(
        &header,
        cols.composition.as_deref(),
        &[
            "reduced composition",
            "composition",
            "reduced_formula",
            "formula",
            "pretty_formula",
        ],
        None,
        path,
        "composition",
    )?;
    let id = find_column(
        &header,
        cols.id.as_deref(),
        &["id", "material_id", "mp_id"],
        None,
        path,
        "id",
    )?;
    let cond = find_column(
        &header,
        cols.conductivity.as_deref(),
        &[
            "ionic conductivity (s cm-1)",
            "conductivity",
            "sigma",
            "sigma_s_cm",
        ],
        Some("conductivity"),
        path,
        "conductivity",
    )?
    .ok_or_else(|| {
        parse_err(
            path,
            1,
            format!(
                "no conductivity column: name it with option conductivity_column (columns: {})",
                crate::io::table::list_names(&header)
            ),
        )
    })?;
    if comp.is_none() && id.is_none() {
        return Err(parse_err(
            path,
            1,
            format!(
                "neither a composition nor an id column: name one with option composition_column or option id_column (columns: {})",
                crate::io::table::list_names(&header)
            ),
        ));
    }
    let mut measurements = Vec::new();
    let mut rejected = Vec::new();
    for (i, rec) in records.iter().enumerate() {
        let line = i + 2;
        let get = |c: Option<usize>| c.and_then(|c| rec.get(c)).map(|s| s.trim().to_string());
        let composition = get(comp).unwrap_or_default();
        let idv = get(id).filter(|s| !s.is_empty());
        let raw = get(Some(cond)).unwrap_or_default();
        let (text, censored) = match raw.strip_prefix('<') {
            Some(r) => (r.trim().to_string(), true),
            None => (raw.clone(), false),
        };
        let label = if composition.is_empty() {
            idv.clone().unwrap_or_default()
        } else {
            composition.clone()
        };
        if text.is_empty() {
            rejected.push((line, label, "no conductivity value".to_string()));
            continue;
        }
        match text.parse::<f64>() {
            Ok(v) if v.is_finite() && v > 0.0 => measurements.push(Measurement {
                line,
                id: idv,
                composition,
                sigma_s_cm: v,
                censored,
            }),
            _ => rejected.push((
                line,
                label,
                format!("conductivity {raw:?} is not a positive number (S/cm)"),
            )),
        }
    }
    if measurements.is_empty() {
        return Err(parse_err(path, 2, "no row with a conductivity".into()));
    }
    Ok(ConductivityTable {
        path: path.to_path_buf(),
        composition_column: comp.map(|c| header[c].clone()),
        id_column: id.map(|c| header[c].clone()),
        conductivity_column: header[cond].clone(),
        measurements,
        rejected,
    })
}

/// A descriptor table (what `phonon features` or `screen` writes): ids, formulas, the
/// `unstable` flag where present, and every numeric column (NaN where a cell is empty).
#[derive(Debug, Clone)]
pub struct FeatureSet {
    pub ids: Vec<String>,
    pub formulas: Vec<String>,
    pub unstable: Vec<Option<bool>>,
    pub descriptors: Vec<(String, Vec<f64>)>,
}

/// Columns that are bookkeeping, not descriptors.
const NOT_DESCRIPTORS: [&str; 11] = [
    "id",
    "dos_integral_per_3n",
    "net_charge",
    "oxidation_states",
    "formula",
    "unstable",
    "source",
    "n_sites",
    "n_atoms",
    "dos_integral",
    "anion",
];

pub fn read_features(path: &Path) -> Result<FeatureSet> {
    let (header, records) = read_csv(path)?;
    if records.is_empty() {
        return Err(parse_err(path, 2, "no data rows".into()));
    }
    let col = |name: &str| header.iter().position(|h| h == name);
    let id_c = col("id").unwrap_or(0);
    let f_c = col("formula").ok_or_else(|| {
        parse_err(
            path,
            1,
            format!(
                "no formula column: a features table from `phonon features` or `screen` has one (columns: {})",
                crate::io::table::list_names(&header)
            ),
        )
    })?;
    let u_c = col("unstable");
    let mut descriptors = Vec::new();
    for (c, name) in header.iter().enumerate() {
        if c == id_c || NOT_DESCRIPTORS.contains(&name.as_str()) || name.ends_with("_count") {
            continue;
        }
        // An empty cell, a word or NaN is a missing value; an infinite one is an error
        // (no descriptor is infinite: it is a broken upstream value).
        let mut vals = Vec::with_capacity(records.len());
        for (k, r) in records.iter().enumerate() {
            let v = r
                .get(c)
                .and_then(|s| s.trim().parse::<f64>().ok())
                .unwrap_or(f64::NAN);
            if v.is_infinite() {
                return Err(parse_err(
                    path,
                    k + 2,
                    format!(
                        "column {name}: an infinite value; expected a finite number or an empty cell"
                    ),
                ));
            }
            vals.push(v);
        }
        if vals.iter().any(|v| v.is_finite()) {
            descriptors.push((name.clone(), vals));
        }
    }
    Ok(FeatureSet {
        ids: records
            .iter()
            .map(|r| r.get(id_c).unwrap_or("").to_string())
            .collect(),
        formulas: records
            .iter()
            .map(|r| r.get(f_c).unwrap_or("").to_string())
            .collect(),
        unstable: records
            .iter()
            .map(|r| {
                u_c.and_then(|c| r.get(c)).and_then(|s| match s.trim() {
                    "true" | "True" | "1" => Some(true),
                    "false" | "False" | "0" => Some(false),
                    _ => None,
                })
            })
            .collect(),
        descriptors,
    })
}

/// Several feature tables (structure descriptors from `structure features`, phonon
/// descriptors from `phonon features`, ...) joined on their ids: the rows present in
/// every table, in the first table's order, with the first table's formula; a row is
/// unstable when any table says so. A descriptor name met again is suffixed with
/// `@` and its table's file stem.
pub fn read_feature_tables(paths: &[PathBuf]) -> Result<FeatureSet> {
    let Some((first, rest)) = paths.split_first() else {
        return Err(Error::InvalidInput("no features table given".into()));
    };
    let mut fs = read_features(first)?;
    for path in rest {
        let other = read_features(path)?;
        let mut at: BTreeMap<&str, usize> = BTreeMap::new();
        for (r, id) in other.ids.iter().enumerate() {
            if at.insert(id.as_str(), r).is_some() {
                return Err(Error::InvalidInput(format!(
                    "{}: id {id} appears more than once; tables are joined on their ids",
                    path.display()
                )));
            }
        }
        let keep: Vec<(usize, usize)> = fs
            .ids
            .iter()
            .enumerate()
            .filter_map(|(r, id)| at.get(id.as_str()).map(|&o| (r, o)))
            .collect();
        if keep.is_empty() {
            return Err(Error::InvalidInput(format!(
                "{} and {} share no id: tables are joined on their ids",
                first.display(),
                path.display()
            )));
        }
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut descriptors: Vec<(String, Vec<f64>)> = fs
            .descriptors
            .iter()
            .map(|(n, v)| (n.clone(), keep.iter().map(|&(r, _)| v[r]).collect()))
            .collect();
        for (n, v) in &other.descriptors {
            let name = if descriptors.iter().any(|d| &d.0 == n) {
                format!("{n}@{stem}")
            } else {
                n.clone()
            };
            descriptors.push((name, keep.iter().map(|&(_, o)| v[o]).collect()));
        }
        fs = FeatureSet {
            ids: keep.iter().map(|&(r, _)| fs.ids[r].clone()).collect(),
            formulas: keep.iter().map(|&(r, _)| fs.formulas[r].clone()).collect(),
            unstable: keep
                .iter()
                .map(|&(r, o)| match (fs.unstable[r], other.unstable[o]) {
                    (Some(true), _) | (_, Some(true)) => Some(true),
                    (None, None) => None,
                    _ => Some(false),
                })
                .collect(),
            descriptors,
        };
    }
    Ok(fs)
}

/// A feature row with a measured conductivity.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Matched {
    pub row: usize,
    pub id: String,
    pub formula: String,
    pub sigma_s_cm: f64,
    pub censored: bool,
    /// "id" or "composition".
    pub by: String,
    /// Measurements of this composition in the table (the highest is used).
    pub measurements: usize,
    pub unstable: Option<bool>,
}

/// Why an entry of either table found no partner.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Unmatched {
    /// "conductivities" or "features".
    pub table: String,
    /// The table's line (conductivities) or the feature row's id.
    pub at: String,
    pub text: String,
    pub reason: String,
}

/// The reduced formula of a composition text, or why it has none.
pub fn reduced_key(text: &str) -> std::result::Result<String, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("no composition".into());
    }
    if t.contains('·')
        || t.contains('*')
        || t.to_ascii_lowercase().contains("h2o") && t.contains('x')
    {
        return Err("hydrate or adduct: not matched".into());
    }
    let c: Composition = parse_formula(t).ok_or_else(|| "not a chemical formula".to_string())?;
    if c.values().any(|v| (v - v.round()).abs() > 1e-6) {
        // Fractional amounts may still be a multiple of an integer formula (Li0.5Cl0.5).
        let min = c.values().copied().fold(f64::INFINITY, f64::min);
        let scaled: Composition = c.iter().map(|(k, v)| (k.clone(), v / min)).collect();
        if scaled.values().all(|v| (v - v.round()).abs() < 1e-6) {
            return Ok(reduced_formula(&reduce(&scaled)));
        }
        return Err("fractional amounts (partial occupancy or solid solution): no stoichiometric entry to match".into());
    }
    Ok(reduced_formula(&c))
}

/// Match the feature rows with the table (see the module documentation).
pub fn match_tables(fs: &FeatureSet, table: &ConductivityTable) -> (Vec<Matched>, Vec<Unmatched>) {
    let mut unmatched = Vec::new();
    // Best measurement per reduced composition, and per id.
    let mut by_comp: BTreeMap<String, (f64, bool, usize)> = BTreeMap::new();
    let mut by_id: BTreeMap<String, (f64, bool)> = BTreeMap::new();
    let mut comp_of_line: Vec<Option<String>> = Vec::new();
    for m in &table.measurements {
        if let Some(id) = &m.id {
            by_id.insert(id.clone(), (m.sigma_s_cm, m.censored));
        }
        match reduced_key(&m.composition) {
            Ok(k) => {
                let e = by_comp
                    .entry(k.clone())
                    .or_insert((m.sigma_s_cm, m.censored, 0));
                if m.sigma_s_cm > e.0 {
                    e.0 = m.sigma_s_cm;
                    e.1 = m.censored;
                }
                e.2 += 1;
                comp_of_line.push(Some(k));
            }
            Err(reason) => {
                comp_of_line.push(None);
                if m.id.is_none() || table.composition_column.is_some() {
                    unmatched.push(Unmatched {
                        table: "conductivities".into(),
                        at: format!("line {}", m.line),
                        text: m.composition.clone(),
                        reason,
                    });
                }
            }
        }
    }
    let mut matched = Vec::new();
    let mut used: std::collections::BTreeSet<String> = Default::default();
    for r in 0..fs.ids.len() {
        let (sigma, censored, by, n) = if let Some(&(s, c)) = by_id.get(&fs.ids[r]) {
            used.insert(format!("id:{}", fs.ids[r]));
            (s, c, "id", 1)
        } else {
            match reduced_key(&fs.formulas[r])
                .ok()
                .and_then(|k| by_comp.get(&k).map(|v| (k, *v)))
            {
                Some((k, (s, c, n))) => {
                    used.insert(k);
                    (s, c, "composition", n)
                }
                None => {
                    unmatched.push(Unmatched {
                        table: "features".into(),
                        at: fs.ids[r].clone(),
                        text: fs.formulas[r].clone(),
                        reason: "no measurement of this composition".into(),
                    });
                    continue;
                }
            }
        };
        matched.push(Matched {
            row: r,
            id: fs.ids[r].clone(),
            formula: fs.formulas[r].clone(),
            sigma_s_cm: sigma,
            censored,
            by: by.into(),
            measurements: n,
            unstable: fs.unstable[r],
        });
    }
    for (m, k) in table.measurements.iter().zip(&comp_of_line) {
        if let Some(k) = k {
            let id_used =
                m.id.as_ref()
                    .is_some_and(|i| used.contains(&format!("id:{i}")));
            if !used.contains(k) && !id_used {
                unmatched.push(Unmatched {
                    table: "conductivities".into(),
                    at: format!("line {}", m.line),
                    text: m.composition.clone(),
                    reason: format!("no feature row with the composition {k}"),
                });
            }
        }
    }
    (matched, unmatched)
}

/// Average ranks (1-based), ties sharing their mean rank.
pub fn ranks(x: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..x.len()).collect();
    idx.sort_by(|&a, &b| x[a].total_cmp(&x[b]));
    let mut r = vec![0.0; x.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && x[idx[j + 1]] == x[idx[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            r[k] = avg;
        }
        i = j + 1;
    }
    r
}

/// Spearman's ρ (Pearson's r of average ranks); None when either side is constant.
pub fn spearman(x: &[f64], y: &[f64]) -> Option<f64> {
    if x.len() < 3 {
        return None;
    }
    Some(crate::cluster::hierarchical::pearson(&ranks(x), &ranks(y))).filter(|r| r.is_finite())
}

/// Kendall's τ-b.
pub fn kendall(x: &[f64], y: &[f64]) -> Option<f64> {
    let n = x.len();
    let (mut c, mut d, mut tx, mut ty) = (0i64, 0i64, 0i64, 0i64);
    for i in 0..n {
        for j in i + 1..n {
            let (a, b) = ((x[i] - x[j]).signum(), (y[i] - y[j]).signum());
            if x[i] == x[j] && y[i] == y[j] {
                continue;
            } else if x[i] == x[j] {
                tx += 1;
            } else if y[i] == y[j] {
                ty += 1;
            } else if a == b {
                c += 1;
            } else {
                d += 1;
            }
        }
    }
    let denom = (((c + d + tx) as f64) * ((c + d + ty) as f64)).sqrt();
    (n >= 2 && denom > 0.0).then(|| (c - d) as f64 / denom)
}

/// ROC AUC of `score` for the positives (ties count one half); None without both
/// classes.
pub fn auc(score: &[f64], positive: &[bool]) -> Option<f64> {
    let r = ranks(score);
    let n1 = positive.iter().filter(|&&p| p).count() as f64;
    let n0 = positive.len() as f64 - n1;
    if n1 == 0.0 || n0 == 0.0 {
        return None;
    }
    let sum: f64 = r
        .iter()
        .zip(positive)
        .filter(|(_, p)| **p)
        .map(|(r, _)| r)
        .sum();
    Some((sum - n1 * (n1 + 1.0) / 2.0) / (n1 * n0))
}

pub(crate) fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Bootstrap 95 % interval (2.5th and 97.5th percentiles) of `stat` over resamples of
/// the indices 0..n.
pub(crate) fn bootstrap(
    n: usize,
    b: usize,
    rng: &mut ChaCha8Rng,
    stat: &dyn Fn(&[usize]) -> Option<f64>,
) -> Option<(f64, f64)> {
    if n < 3 || b == 0 {
        return None;
    }
    let mut vals: Vec<f64> = (0..b)
        .filter_map(|_| {
            let idx: Vec<usize> = (0..n).map(|_| rng.random_range(0..n)).collect();
            stat(&idx)
        })
        .collect();
    if vals.len() < b / 2 {
        return None;
    }
    vals.sort_by(f64::total_cmp);
    Some((percentile(&vals, 0.025), percentile(&vals, 0.975)))
}

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
    pub fn markdown_in(&self, folder: &str) -> String {
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

/// Cluster labels by id from a `labels.csv` (columns `id` and `label`).
pub fn read_labels(path: &Path) -> Result<BTreeMap<String, String>> {
    let (header, records) = read_csv(path)?;
    let (Some(i), Some(l)) = (
        header.iter().position(|h| h == "id"),
        header.iter().position(|h| h == "label" || h == "cluster"),
    ) else {
        return Err(parse_err(
            path,
            1,
            format!(
                "expected columns id and label (columns: {})",
                crate::io::table::list_names(&header)
            ),
        ));
    };
    Ok(records
        .iter()
        .map(|r| {
            (
                r.get(i).unwrap_or("").to_string(),
                r.get(l).unwrap_or("").to_string(),
            )
        })
        .collect())
}

/// The values of the first of `columns` a CSV has (e.g. the ids of OBELiX's train.csv).
pub fn read_ranking_column(path: &Path, columns: &[&str]) -> Result<Vec<String>> {
    let (header, records) = read_csv(path)?;
    let i = columns
        .iter()
        .find_map(|c| header.iter().position(|h| h == c))
        .ok_or_else(|| {
            parse_err(
                path,
                1,
                format!(
                    "no {} column (columns: {})",
                    columns.join(" or "),
                    crate::io::table::list_names(&header)
                ),
            )
        })?;
    Ok(records
        .iter()
        .map(|r| r.get(i).unwrap_or("").trim().to_string())
        .filter(|s| !s.is_empty())
        .collect())
}

/// The ids of a ranking (`candidates.csv`: column `id`, best first).
pub fn read_ranking(path: &Path) -> Result<Vec<String>> {
    let (header, records) = read_csv(path)?;
    let i = header.iter().position(|h| h == "id").ok_or_else(|| {
        parse_err(
            path,
            1,
            format!(
                "no id column (columns: {})",
                crate::io::table::list_names(&header)
            ),
        )
    })?;
    Ok(records
        .iter()
        .map(|r| r.get(i).unwrap_or("").to_string())
        .collect())
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
