//! The screening as files: `features.csv`, `labels.csv`, `scores.csv`,
//! `candidates.csv`, `report.md` and the figures.

use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::io::{fmt_f64, write_atomic, write_csv};
use crate::plot;
use crate::screen::{Known, Materials, Screening};

/// Write the screening's tables, figures and a Markdown report into `dir`; returns
/// the report's path. `skipped` lists inputs left out and why.
pub fn write_outputs(
    dir: &Path,
    m: &Materials,
    s: &Screening,
    known: &[Known],
    skipped: &[(String, String)],
) -> Result<PathBuf> {
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
    super::cluster::write_tables(dir, &m.ids, sel)?;
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
    plot::cluster::write_figures(
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
    crate::io::remove_stale(dir, &["agreement.csv", "agreement.svg"], None)?;
    if let Some(ag) = &s.agreement {
        super::cluster::write_agreement_csv(ag, &dir.join("agreement.csv"))?;
        plot::cluster::agreement_svg(ag, &dir.join("agreement.svg"))?;
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

/// Validate the screening written in `out` against measured conductivities (the
/// outputs in `out/validation/`) and add the validation section to its `report.md`.
pub fn add_validation(
    out: &Path,
    table: &crate::validate::ConductivityTable,
    o: &crate::validate::ValidateOptions,
) -> Result<crate::validate::Validation> {
    let v = super::validation::validate_screening(out, table, o)?;
    let report = out.join("report.md");
    let mut text = crate::io::read_text(&report)?;
    text.push('\n');
    text.push_str(&v.markdown_in("validation/"));
    text.push_str(
        "\n![descriptor vs conductivity](validation/scatter.svg)\n\n![ROC](validation/roc.svg)\n",
    );
    if !v.clusters.is_empty() {
        text.push_str("\n![by cluster](validation/clusters.svg)\n");
    }
    write_atomic(&report, text.as_bytes())?;
    Ok(v)
}

/// A screening request: what to read and how to cluster it.
#[derive(Clone, Debug)]
pub struct ScreenRequest {
    /// Phonon inputs, or one feature table (CSV).
    pub inputs: Vec<PathBuf>,
    /// How PhononDB entries' DOS are computed.
    pub dos: crate::phonon::entry_dos::DosOptions,
    pub known: Vec<Known>,
    pub method: crate::cluster::select::Method,
    /// The k tried (cut below the number of materials).
    pub ks: Vec<usize>,
    /// Descriptor columns (default: [`crate::screen::DEFAULT_COLUMNS`]).
    pub columns: Option<Vec<String>>,
    /// The id column of a feature table.
    pub id: Option<String>,
    pub seed: u64,
}

/// A screening written to its folder.
pub struct ScreenRun {
    pub materials: Materials,
    pub screening: Screening,
    /// The Markdown report.
    pub report: PathBuf,
    /// Inputs left out, and why.
    pub skipped: Vec<(String, String)>,
    /// What a user should know (k range cut, ...).
    pub notes: Vec<String>,
}

/// Read the materials, screen them and write the outputs into `out`.
pub fn run(engine: &crate::compute::Engine, r: &ScreenRequest, out: &Path) -> Result<ScreenRun> {
    use crate::invalid;
    let columns = r.columns.clone().unwrap_or_else(|| {
        crate::screen::DEFAULT_COLUMNS
            .iter()
            .map(|s| s.to_string())
            .collect()
    });
    let (m, skipped) = crate::screen::load_materials(&r.inputs, &r.dos, &columns, r.id.as_deref())?;
    let n = m.ids.len();
    if n < 3 {
        return Err(invalid!(
            "{n} materials with all the descriptor columns: screening needs at least 3"
        ));
    }
    let mut notes = Vec::new();
    let mut ks = r.ks.clone();
    ks.retain(|&k| k < n);
    if ks.is_empty() {
        let shown: Vec<String> = r.ks.iter().map(|k| k.to_string()).collect();
        return Err(invalid!(
            "k = {}: every k is at least the number of materials ({n})",
            shown.join(",")
        ));
    }
    if ks.len() < r.ks.len() {
        notes.push(format!(
            "{n} materials: k range cut to {}..{}",
            ks[0],
            ks[ks.len() - 1]
        ));
    }
    if n > crate::cluster::select::EXTRAS_MAX_POINTS {
        notes.push(format!(
            "{n} materials (more than {}): the gap statistic, the stability score and the method comparison left out",
            crate::cluster::select::EXTRAS_MAX_POINTS
        ));
    }
    let s = crate::screen::screen(engine, &m, &r.known, r.method, &ks, r.seed, true)?;
    let report = write_outputs(out, &m, &s, &r.known, &skipped)?;
    Ok(ScreenRun {
        materials: m,
        screening: s,
        report,
        skipped,
        notes,
    })
}
