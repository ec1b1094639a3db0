//! The validation's inputs: the conductivity table, the feature tables, matching them
//! (by id, else by reduced composition), and the label and ranking files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

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
pub(crate) fn reduced_key(text: &str) -> std::result::Result<String, String> {
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
