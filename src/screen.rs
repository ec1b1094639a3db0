//! Screening: cluster materials by vibrational descriptors, find the clusters that
//! hold known fast Li conductors, and rank the other members of those clusters by
//! their distance (in the clustering's feature space) to the nearest known one.

use std::path::PathBuf;

use ndarray::Array2;

use crate::cluster::select::{
    Agreement, EXTRAS_MAX_POINTS, Method, NOISE, SelectOptions, Selection, cluster_over_k,
    method_agreement, standardise,
};
use crate::compute::Engine;
use crate::error::{Error, Result};
use crate::phonon::composition::{Composition, parse_formula, reduced_formula, same_reduced};
use crate::phonon::descriptors::{FeatureOptions, Value};
use crate::phonon::entry_dos::DosOptions;

/// Known fast Li-ion conductors used when `--known` is not given.
pub(crate) const DEFAULT_KNOWN: &[&str] = &[
    "Li10GeP2S12",
    "Li7La3Zr2O12",
    "Li3PS4",
    "Li6PS5Cl",
    "Li7P3S11",
    "Li3N",
    "LiTi2(PO4)3",
    "Li3OCl",
    "Li3InCl6",
];

/// The descriptor columns screening clusters on by default.
pub const DEFAULT_COLUMNS: &[&str] = &[
    "li_centre_thz",
    "li_centre_300k_thz",
    "li_spread_thz",
    "li_weight",
    "total_centre_thz",
];

/// The descriptor columns screening clusters crystal structures on by default: the
/// BVSE barrier, the Li-Li spacing, the Li sublattice's disorder and the Li fraction.
pub(crate) const STRUCTURE_COLUMNS: &[&str] = &[
    "bvse_e3d_ev",
    "li_li_nearest_mean_a",
    "li_site_disorder",
    "li_fraction",
];

/// A known conductor: a formula (matched as a reduced composition) or a material id.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Known {
    pub text: String,
    #[serde(skip)]
    pub composition: Option<Composition>,
}

/// A path rather than formulas: a folder separator, or a file extension (a formula's
/// '.' is followed by digits, "Li0.5La0.5TiO3").
fn looks_like_a_file(a: &str) -> bool {
    a.contains('/')
        || a.contains('\\')
        || a.rsplit_once('.').is_some_and(|(_, ext)| {
            [
                "txt", "csv", "dat", "list", "lst", "md", "tsv", "yaml", "json",
            ]
            .contains(&ext.to_ascii_lowercase().as_str())
        })
}

/// `--known`: a file (one formula or id per line, `#` comments) or a comma-separated
/// list; none means `DEFAULT_KNOWN`.
pub fn parse_known(arg: Option<&str>) -> Result<Vec<Known>> {
    let items: Vec<String> = match arg {
        None => DEFAULT_KNOWN.iter().map(|s| s.to_string()).collect(),
        Some(a) if std::path::Path::new(a).is_file() => {
            crate::io::read_text(std::path::Path::new(a))?
                .lines()
                .map(|l| l.split('#').next().unwrap_or("").trim().to_string())
                .filter(|l| !l.is_empty())
                .collect()
        }
        Some(a) if looks_like_a_file(a) => {
            return Err(Error::InvalidInput(format!(
                "option known {a:?}: no such file (formulas or ids go comma-separated, e.g. Li3PS4,mp-985583)"
            )));
        }
        Some(a) => a
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect(),
    };
    if items.is_empty() {
        return Err(Error::InvalidInput(
            "option known: no formulas or ids given".into(),
        ));
    }
    Ok(items
        .into_iter()
        .map(|t| Known {
            composition: parse_formula(&t),
            text: t,
        })
        .collect())
}

/// The materials to screen: ids, formulas, stability flags and feature values.
#[derive(Debug, Clone)]
pub struct Materials {
    pub ids: Vec<String>,
    pub formulas: Vec<String>,
    pub unstable: Vec<bool>,
    pub columns: Vec<String>,
    pub values: Array2<f64>,
}

/// A ranked candidate.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Candidate {
    pub rank: usize,
    pub id: String,
    pub formula: String,
    pub cluster: u32,
    /// Distance to the nearest known conductor in the (standardised) feature space.
    pub distance: f64,
    pub nearest_known: String,
    pub unstable: bool,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Screening {
    pub selection: Selection,
    /// (row, the known entry it matched)
    pub known_rows: Vec<(usize, String)>,
    /// Known entries with no match among the inputs.
    pub known_missing: Vec<String>,
    pub candidates: Vec<Candidate>,
    /// Adjusted Rand index between clustering methods at the chosen k.
    pub agreement: Option<Agreement>,
    #[serde(skip)]
    pub x: Array2<f32>,
}

impl Screening {
    /// The number of clusters at the chosen k when every one of them holds a known
    /// conductor (cluster membership then singles no material out); `None` otherwise
    /// (noise is no cluster).
    pub(crate) fn every_cluster_holds_known(&self) -> Option<usize> {
        let labels = &self
            .selection
            .results
            .iter()
            .find(|x| x.k == self.selection.chosen_k)?
            .labels;
        let clusters: std::collections::BTreeSet<u32> = labels
            .iter()
            .copied()
            .filter(|&l| l != crate::cluster::density::NOISE)
            .collect();
        let with_known: std::collections::BTreeSet<u32> =
            self.known_rows.iter().map(|(i, _)| labels[*i]).collect();
        (!clusters.is_empty() && clusters.is_subset(&with_known)).then_some(clusters.len())
    }
}

/// Run the screening on `m` (standardised unless `scale` is false).
pub fn screen(
    engine: &Engine,
    m: &Materials,
    known: &[Known],
    method: Method,
    ks: &[usize],
    seed: u64,
    scale: bool,
) -> Result<Screening> {
    let x = if scale {
        standardise(m.values.view())
    } else {
        m.values.mapv(|v| v as f32)
    };
    // The extras (gap statistic, stability, method comparison) where they are cheap.
    let large = m.ids.len() > EXTRAS_MAX_POINTS;
    let opts = SelectOptions {
        seed,
        ..SelectOptions::for_points(m.ids.len())
    };
    let selection = cluster_over_k(engine, x.view(), method, ks, &opts)?;
    let agreement = if method == Method::Hdbscan || large {
        None
    } else {
        Some(method_agreement(
            engine,
            x.view(),
            selection.chosen_k,
            &opts,
        )?)
    };
    let labels = &selection
        .results
        .iter()
        .find(|r| r.k == selection.chosen_k)
        .expect("chosen k")
        .labels;
    let mut known_rows = Vec::new();
    let mut known_missing = Vec::new();
    for k in known {
        let hits: Vec<usize> = (0..m.ids.len())
            .filter(|&i| {
                m.ids[i] == k.text
                    || match (&k.composition, parse_formula(&m.formulas[i])) {
                        (Some(a), Some(b)) => same_reduced(a, &b),
                        _ => false,
                    }
            })
            .collect();
        if hits.is_empty() {
            known_missing.push(
                k.composition
                    .as_ref()
                    .map_or(k.text.clone(), reduced_formula),
            );
        }
        known_rows.extend(hits.into_iter().map(|i| (i, k.text.clone())));
    }
    known_rows.sort();
    known_rows.dedup_by_key(|(i, _)| *i);
    // A known conductor left out as noise (HDBSCAN) defines no cluster.
    let known_clusters: Vec<u32> = known_rows
        .iter()
        .map(|(i, _)| labels[*i])
        .filter(|&l| l != NOISE)
        .collect();
    let dist = |a: usize, b: usize| {
        x.row(a)
            .iter()
            .zip(x.row(b))
            .map(|(p, q)| ((p - q) as f64).powi(2))
            .sum::<f64>()
            .sqrt()
    };
    let mut candidates: Vec<Candidate> = (0..m.ids.len())
        .filter(|i| known_clusters.contains(&labels[*i]) && !known_rows.iter().any(|(k, _)| k == i))
        .map(|i| {
            let (d, name) = known_rows
                .iter()
                .filter(|(k, _)| labels[*k] == labels[i])
                .map(|(k, _)| (dist(i, *k), format!("{} ({})", m.formulas[*k], m.ids[*k])))
                .min_by(|a, b| a.0.total_cmp(&b.0))
                .expect("a known conductor shares the cluster");
            Candidate {
                rank: 0,
                id: m.ids[i].clone(),
                formula: m.formulas[i].clone(),
                cluster: labels[i],
                distance: d,
                nearest_known: name,
                unstable: m.unstable[i],
            }
        })
        .collect();
    candidates.sort_by(|a, b| a.distance.total_cmp(&b.distance).then(a.id.cmp(&b.id)));
    candidates
        .iter_mut()
        .enumerate()
        .for_each(|(r, c)| c.rank = r + 1);
    Ok(Screening {
        selection,
        known_rows,
        known_missing,
        candidates,
        agreement,
        x,
    })
}

/// The materials to screen, from phonon inputs or a feature table, with the inputs
/// left out and why.
pub(crate) fn load_materials(
    inputs: &[PathBuf],
    dos: &DosOptions,
    columns: &[String],
    id: Option<&str>,
) -> Result<(Materials, Vec<(String, String)>)> {
    let mut skipped = Vec::new();
    if inputs.len() == 1
        && inputs[0]
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
    {
        let path = &inputs[0];
        let text_columns = [
            "formula",
            "pretty_formula",
            "formula_pretty_reduced",
            "unstable",
        ];
        let mut t = crate::io::table::read_table_with_text(path, id, Some(columns), &text_columns)?;
        let formulas = text_columns[..3].iter().find_map(|c| t.text.remove(*c));
        let unstable = t
            .text
            .remove("unstable")
            .map(|v| v.iter().map(|s| s.eq_ignore_ascii_case("true")).collect())
            .unwrap_or_else(|| vec![false; t.ids.len()]);
        // Shown as reduced formulas ("Li6 Ti12 P18 O72" -> "LiTi2P3O12") where they parse.
        let formulas = formulas
            .unwrap_or_else(|| vec![String::new(); t.ids.len()])
            .into_iter()
            .map(|f| {
                crate::phonon::composition::parse_formula(&f)
                    .map_or(f, |c| crate::phonon::composition::reduced_formula(&c))
            })
            .collect();
        return Ok((
            Materials {
                ids: t.ids,
                formulas,
                unstable,
                columns: t.columns,
                values: t.values,
            },
            skipped,
        ));
    }
    let (rows, failures) = crate::materials::feature_rows(inputs, &FeatureOptions::default(), dos)?;
    for f in failures {
        skipped.push((f.input.display().to_string(), f.error));
    }
    let mut ids = Vec::new();
    let mut formulas = Vec::new();
    let mut unstable = Vec::new();
    let mut values = Vec::new();
    for r in &rows {
        let text = |k: &str| match r.get(k) {
            Some(Value::Text(t)) => t.clone(),
            _ => String::new(),
        };
        let vals: Vec<Option<f64>> = columns
            .iter()
            .map(|c| r.get(c).and_then(Value::num).filter(|v| v.is_finite()))
            .collect();
        if let Some(j) = vals.iter().position(Option::is_none) {
            skipped.push((
                text("id"),
                format!("no value for {} (e.g. no Li projection)", columns[j]),
            ));
            continue;
        }
        ids.push(text("id"));
        formulas.push(text("formula"));
        unstable.push(r.get("unstable") == Some(&Value::Bool(true)));
        values.extend(vals.into_iter().flatten());
    }
    let n = ids.len();
    let values = Array2::from_shape_vec((n, columns.len()), values)
        .map_err(|e| Error::InvalidInput(format!("feature table: {e}")))?;
    Ok((
        Materials {
            ids,
            formulas,
            unstable,
            columns: columns.to_vec(),
            values,
        },
        skipped,
    ))
}
