//! Screening: cluster materials by vibrational descriptors, find the clusters that
//! hold known fast Li conductors, and rank the other members of those clusters by
//! their distance (in the clustering's feature space) to the nearest known one.

use ndarray::Array2;

use crate::cluster::select::{
    Agreement, Method, NOISE, SelectOptions, Selection, cluster_over_k, method_agreement,
    standardise,
};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::phonon::composition::{Composition, parse_formula, reduced_formula, same_reduced};

/// Known fast Li-ion conductors used when `--known` is not given.
pub const DEFAULT_KNOWN: &[&str] = &[
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

/// A known conductor: a formula (matched as a reduced composition) or a material id.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Known {
    pub text: String,
    #[serde(skip)]
    pub composition: Option<Composition>,
}

/// `--known`: a file (one formula or id per line, `#` comments) or a comma-separated
/// list; none means [`DEFAULT_KNOWN`].
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
        Some(a) => a
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect(),
    };
    if items.is_empty() {
        return Err(Error::InvalidInput(
            "--known: no formulas or ids given".into(),
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
    let opts = SelectOptions {
        seed,
        ..Default::default()
    };
    let selection = cluster_over_k(engine, x.view(), method, ks, &opts)?;
    let agreement = if method == Method::Hdbscan {
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

/// Write the screening's tables, figures and a Markdown report into `dir`; returns
/// the report's path. `skipped` lists inputs left out and why.
pub fn write_outputs(
    dir: &std::path::Path,
    m: &Materials,
    s: &Screening,
    known: &[Known],
    skipped: &[(String, String)],
) -> Result<std::path::PathBuf> {
    use crate::io::{fmt_f64, write_atomic, write_csv};
    use std::fmt::Write;
    let sel = &s.selection;
    let chosen = sel
        .results
        .iter()
        .find(|r| r.k == sel.chosen_k)
        .expect("chosen k");
    // Tables.
    let mut header = vec![
        "id".to_string(),
        "formula".to_string(),
        "unstable".to_string(),
    ];
    header.extend(m.columns.iter().cloned());
    let rows: Vec<Vec<String>> = (0..m.ids.len())
        .map(|i| {
            let mut r = vec![
                m.ids[i].clone(),
                m.formulas[i].clone(),
                m.unstable[i].to_string(),
            ];
            r.extend(m.values.row(i).iter().map(|v| fmt_f64(*v)));
            r
        })
        .collect();
    write_csv(&dir.join("features.csv"), &header, &rows)?;
    crate::cluster::select::write_tables(dir, &m.ids, sel)?;
    let ch: Vec<String> = [
        "rank",
        "id",
        "formula",
        "cluster",
        "distance",
        "nearest_known",
        "unstable",
    ]
    .map(String::from)
    .to_vec();
    let crows: Vec<Vec<String>> = s
        .candidates
        .iter()
        .map(|c| {
            vec![
                c.rank.to_string(),
                c.id.clone(),
                c.formula.clone(),
                c.cluster.to_string(),
                fmt_f64(c.distance),
                c.nearest_known.clone(),
                c.unstable.to_string(),
            ]
        })
        .collect();
    write_csv(&dir.join("candidates.csv"), &ch, &crows)?;
    // Figures.
    let marked: Vec<(usize, String)> = s
        .known_rows
        .iter()
        .map(|(i, _)| (*i, m.formulas[*i].clone()))
        .collect();
    crate::plot::cluster::write_figures(
        dir,
        &m.ids,
        &m.columns,
        m.values.view(),
        s.x.view(),
        sel,
        &marked,
    )?;
    // Report.
    let mut r = String::new();
    let _ = writeln!(r, "# superion screening report\n");
    let _ = writeln!(
        r,
        "{} materials clustered on {} (standardised): {}.",
        m.ids.len(),
        m.columns.join(", "),
        format!("{:?}", sel.method).to_lowercase()
    );
    if !skipped.is_empty() {
        let _ = writeln!(r, "\n{} inputs left out:\n", skipped.len());
        for (what, why) in skipped {
            let _ = writeln!(r, "- `{what}`: {why}");
        }
    }
    let _ = writeln!(
        r,
        "\n## Number of clusters\n\nChosen k = **{}**: {}.\n",
        sel.chosen_k, sel.why
    );
    if let Some(c) = sel.cophenetic_correlation {
        let _ = writeln!(r, "Cophenetic correlation of the dendrogram: {c:.3}.\n");
    }
    let _ = writeln!(
        r,
        "| k | inertia | silhouette | Calinski-Harabasz | Davies-Bouldin | gap ± s | stability (ARI) |\n|---|---|---|---|---|---|---|"
    );
    let opt = |v: Option<f64>| v.map_or("–".to_string(), |v| format!("{v:.3}"));
    for k in &sel.results {
        let _ = writeln!(
            r,
            "| {} | {:.4} | {:.4} | {:.3} | {:.3} | {} ± {} | {} |",
            k.k,
            k.inertia,
            k.silhouette,
            k.calinski_harabasz,
            k.davies_bouldin,
            opt(k.gap),
            opt(k.gap_s),
            opt(k.stability)
        );
    }
    let _ = writeln!(
        r,
        "\n![Elbow and silhouette against k](scores.svg)\n\n![Silhouette plot](silhouette.svg)\n"
    );
    if sel.tree.is_some() {
        let _ = writeln!(r, "![Dendrogram](dendrogram.svg)\n");
    }
    let _ = writeln!(r, "![Materials by cluster](scatter.svg)\n");
    if let Some(ag) = &s.agreement {
        ag.write_csv(&dir.join("agreement.csv"))?;
        crate::plot::cluster::agreement_svg(ag, &dir.join("agreement.svg"))?;
        let _ = writeln!(
            r,
            "## Do other methods agree?\n\nAdjusted Rand index between clustering methods at k = {} (1: the same partition; about 0: chance agreement; HDBSCAN at its own k, noise as one more group). Table: `agreement.csv`.\n\n![Method agreement](agreement.svg)\n",
            ag.k
        );
        for (m, why) in &ag.skipped {
            let _ = writeln!(r, "- {} left out: {why}", m.name());
        }
    }
    let _ = writeln!(r, "## Known fast Li conductors\n");
    let _ = writeln!(
        r,
        "Looked for: {}.\n",
        known
            .iter()
            .map(|k| k.text.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    if s.known_rows.is_empty() {
        let _ = writeln!(
            r,
            "None of them is among the inputs, so there is no cluster to rank candidates in."
        );
    } else {
        let _ = writeln!(r, "| id | formula | cluster |\n|---|---|---|");
        for (i, _) in &s.known_rows {
            let _ = writeln!(
                r,
                "| {} | {} | {} |",
                m.ids[*i], m.formulas[*i], chosen.labels[*i]
            );
        }
        if !s.known_missing.is_empty() {
            let _ = writeln!(r, "\nNot among the inputs: {}.", s.known_missing.join(", "));
        }
        let _ = writeln!(
            r,
            "\n## Candidates\n\nMembers of the clusters that hold known conductors, nearest first (distance in the standardised feature space). `unstable`: imaginary modes in the phonon DOS.\n"
        );
        let _ = writeln!(
            r,
            "| rank | id | formula | cluster | distance | nearest known | unstable |\n|---|---|---|---|---|---|---|"
        );
        for c in s.candidates.iter().take(50) {
            let _ = writeln!(
                r,
                "| {} | {} | {} | {} | {:.3} | {} | {} |",
                c.rank,
                c.id,
                c.formula,
                c.cluster,
                c.distance,
                c.nearest_known,
                if c.unstable { "yes" } else { "" }
            );
        }
        if s.candidates.len() > 50 {
            let _ = writeln!(
                r,
                "\n... {} more in `candidates.csv`.",
                s.candidates.len() - 50
            );
        }
    }
    let _ = writeln!(
        r,
        "\nFiles: `features.csv`, `labels.csv`, `scores.csv`, `candidates.csv`, and the SVG figures above."
    );
    let path = dir.join("report.md");
    write_atomic(&path, r.as_bytes())?;
    Ok(path)
}
