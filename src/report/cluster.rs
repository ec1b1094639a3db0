//! Clustering as files: `labels.csv`, `scores.csv` and `agreement.csv` (the figures
//! are in `crate::plot::cluster`).

use std::path::Path;

use crate::cluster::select::{Agreement, NOISE, Selection};
use crate::error::Result;
use crate::io::{fmt_f64, write_csv};

/// Write `labels.csv` (id, the chosen k's label, then `label_k<k>` for every k; −1 for
/// noise) and `scores.csv` (k, inertia, silhouette, Calinski-Harabasz, Davies-Bouldin,
/// gap, gap_s, stability, noise; empty where a score does not apply) into `dir`.
pub fn write_tables(dir: &Path, ids: &[String], sel: &Selection) -> Result<()> {
    let chosen = sel
        .results
        .iter()
        .find(|r| r.k == sel.chosen_k)
        .expect("chosen k is among the results");
    let label = |l: u32| {
        if l == NOISE {
            "-1".to_string()
        } else {
            l.to_string()
        }
    };
    let mut header = vec!["id".to_string(), "label".to_string()];
    header.extend(sel.results.iter().map(|r| format!("label_k{}", r.k)));
    let rows: Vec<Vec<String>> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let mut row = vec![id.clone(), label(chosen.labels[i])];
            row.extend(sel.results.iter().map(|r| label(r.labels[i])));
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
        "gap",
        "gap_s",
        "stability",
        "noise",
    ]
    .map(String::from)
    .to_vec();
    let opt = |v: Option<f64>| v.map(fmt_f64).unwrap_or_default();
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
                opt(r.gap),
                opt(r.gap_s),
                opt(r.stability),
                r.noise.to_string(),
            ]
        })
        .collect();
    write_csv(&dir.join("scores.csv"), &sh, &srows)
}

/// `agreement.csv`: a square ARI table with method names.
pub fn write_agreement_csv(ag: &Agreement, path: &Path) -> Result<()> {
    let mut header = vec!["method".to_string()];
    header.extend(ag.methods.iter().map(|m| m.name().to_string()));
    let rows: Vec<Vec<String>> = ag
        .methods
        .iter()
        .enumerate()
        .map(|(a, m)| {
            let mut row = vec![m.name().to_string()];
            row.extend((0..ag.methods.len()).map(|b| format!("{:.4}", ag.ari[a][b])));
            row
        })
        .collect();
    write_csv(path, &header, &rows)
}

/// `input.json`: the columns and materials clustered, and those left out and why.
pub fn write_input(t: &crate::io::table::FeatureTable, path: &Path) -> Result<()> {
    let json = serde_json::to_string_pretty(t).map_err(|e| crate::invalid!("input.json: {e}"))?;
    crate::io::write_atomic(path, json.as_bytes())
}
