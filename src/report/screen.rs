//! The screening as files: `features.csv`, `labels.csv`, `scores.csv`,
//! `candidates.csv`, `report.md` and the figures.

use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::io::{fmt_f64, write_atomic, write_csv};
use crate::plot;
use crate::screen::{Known, Materials, Screening};

/// One structure of the ranking by the BVSE barrier: id, formula, E_3D (eV).
pub(crate) type Ranked = (String, String, f64);

/// Lists longer than this are counted in the report and written out in full to a CSV.
const LIST_IN_REPORT: usize = 30;

/// Write the screening's tables, figures and a Markdown report into `dir`; returns
/// the report's path. `skipped` lists inputs left out and why, `notes` what a reader
/// must know (they head the report), `ranking` the structures by their BVSE barrier.
pub fn write_outputs(
    dir: &Path,
    m: &Materials,
    s: &Screening,
    known: &[Known],
    skipped: &[(String, String)],
    notes: &[String],
    ranking: Option<&[Ranked]>,
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
    if !notes.is_empty() {
        let _ = writeln!(r);
        for n in notes {
            let mut c = n.chars();
            let first: String = c
                .next()
                .map(|f| f.to_uppercase().collect())
                .unwrap_or_default();
            let _ = writeln!(r, "> **Note.** {first}{}\n", c.as_str());
        }
    }
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
    // Known rows and the names not found, in full in known.csv.
    let mut krows: Vec<Vec<String>> = s
        .known_rows
        .iter()
        .map(|(i, k)| {
            vec![
                k.clone(),
                m.ids[*i].clone(),
                m.formulas[*i].clone(),
                chosen.labels[*i].to_string(),
            ]
        })
        .collect();
    krows.extend(
        s.known_missing
            .iter()
            .map(|k| vec![k.clone(), String::new(), String::new(), String::new()]),
    );
    write_csv(
        &dir.join("known.csv"),
        &["known", "id", "formula", "cluster"].map(String::from),
        &krows,
    )?;
    if known.len() > LIST_IN_REPORT {
        let _ = writeln!(
            r,
            "{} names looked for (ids and compositions), {} of them not among the inputs; every one in `known.csv`.\n",
            known.len(),
            s.known_missing.len()
        );
    } else {
        let _ = writeln!(
            r,
            "Looked for: {}.\n",
            known
                .iter()
                .map(|k| k.text.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if s.known_rows.is_empty() {
        let _ = writeln!(
            r,
            "None of them is among the inputs, so there is no cluster to rank candidates in."
        );
    } else {
        if s.known_rows.len() > LIST_IN_REPORT {
            // Too many to list: how they fall into the clusters.
            let mut per: std::collections::BTreeMap<u32, (usize, usize)> = Default::default();
            for &l in &chosen.labels {
                per.entry(l).or_default().0 += 1;
            }
            for (i, _) in &s.known_rows {
                per.entry(chosen.labels[*i]).or_default().1 += 1;
            }
            let _ = writeln!(
                r,
                "{} inputs are known conductors (listed in `known.csv`); by cluster:\n\n| cluster | members | known conductors |\n|---|---|---|",
                s.known_rows.len()
            );
            for (l, (n, k)) in &per {
                let _ = writeln!(r, "| {l} | {n} | {k} |");
            }
        } else {
            let _ = writeln!(r, "| id | formula | cluster |\n|---|---|---|");
            for (i, _) in &s.known_rows {
                let _ = writeln!(
                    r,
                    "| {} | {} | {} |",
                    m.ids[*i], m.formulas[*i], chosen.labels[*i]
                );
            }
            if !s.known_missing.is_empty() && known.len() <= LIST_IN_REPORT {
                let _ = writeln!(r, "\nNot among the inputs: {}.", s.known_missing.join(", "));
            }
        }
        let _ = writeln!(
            r,
            "\n## Candidates\n\nMembers of the clusters that hold known conductors, nearest first (distance in the standardised feature space). `unstable`: imaginary modes in the phonon DOS.\n"
        );
        if s.every_cluster_holds_known().is_some() {
            let _ = writeln!(
                r,
                "Every cluster holds a known conductor, so this list is every material that is not a known one, ordered by its distance to the nearest: it singles nothing out.{}\n",
                if ranking.is_some() {
                    " Rank by the BVSE barrier instead (below)."
                } else {
                    ""
                }
            );
        }
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
    if let Some(ranked) = ranking {
        let _ = writeln!(
            r,
            "\n## Ranking by the BVSE barrier\n\nThe {} structures with a barrier, lowest Li+ percolation barrier E_3D first (`structure/ranking.csv`): the ranking `validate --train --test` supports on OBELiX's official test split (README). Known conductors are ranked with the rest.\n\n| rank | id | formula | E_3D (eV) | known conductor |\n|---|---|---|---|---|",
            ranked.len()
        );
        let known_ids: std::collections::BTreeSet<&str> = s
            .known_rows
            .iter()
            .map(|(i, _)| m.ids[*i].as_str())
            .collect();
        for (i, (id, formula, e)) in ranked.iter().take(20).enumerate() {
            let _ = writeln!(
                r,
                "| {} | {id} | {formula} | {e:.3} | {} |",
                i + 1,
                if known_ids.contains(id.as_str()) {
                    "yes"
                } else {
                    ""
                }
            );
        }
        if ranked.len() > 20 {
            let _ = writeln!(
                r,
                "\n... {} more in `structure/ranking.csv`.",
                ranked.len() - 20
            );
        }
    }
    let _ = writeln!(
        r,
        "\nFiles: `features.csv`, `labels.csv`, `scores.csv`, `candidates.csv`, `known.csv`{}, and the SVG figures above.",
        if ranking.is_some() {
            ", `structure/ranking.csv`"
        } else {
            ""
        }
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

/// The structure files among `inputs` when screening structures: any `.cif` (or a
/// folder holding one), POSCAR or `.vasp`; None for phonon inputs and feature tables.
fn structure_inputs(inputs: &[PathBuf]) -> Result<Option<Vec<PathBuf>>> {
    let is_structure = |p: &Path| {
        let n = p
            .file_name()
            .map(|n| n.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        n.contains(".cif") || n.starts_with("poscar") || n.ends_with(".vasp")
    };
    let any = inputs.iter().any(|p| {
        is_structure(p)
            || (p.is_dir()
                && std::fs::read_dir(p)
                    .map(|d| d.flatten().any(|e| is_structure(&e.path())))
                    .unwrap_or(false))
    });
    if !any {
        return Ok(None);
    }
    Ok(Some(crate::crystal::discover(inputs)?))
}

/// Structure descriptors and BVSE barriers of `paths` into `dir` (features.csv,
/// bvse.csv, failures.csv, and ranking.csv: lowest E_3D first); the features table's path.
fn structure_table(
    engine: &crate::compute::Engine,
    paths: &[PathBuf],
    dir: &Path,
    notes: &mut Vec<String>,
) -> Result<(PathBuf, Vec<Ranked>)> {
    use crate::crystal::features;
    let o = features::FeatureOptions {
        bvse: Some(crate::crystal::bvse::BvseOptions::default()),
        keep_landscapes: false,
    };
    let (rows, failures) = features::compute(engine, paths, &o);
    let (h, body) = features::table(&rows);
    let table = dir.join("features.csv");
    crate::io::write_csv(&table, &h, &body)?;
    let (h, body) = features::bvse_table(&rows);
    crate::io::write_csv(&dir.join("bvse.csv"), &h, &body)?;
    let fails: Vec<Vec<String>> = failures
        .iter()
        .map(|f| vec![f.source.display().to_string(), f.reason.clone()])
        .collect();
    crate::io::write_csv(
        &dir.join("failures.csv"),
        &["source".into(), "reason".into()],
        &fails,
    )?;
    let mut ranked: Vec<(&features::StructureRow, f64)> = rows
        .iter()
        .filter_map(|r| {
            r.bvse
                .as_ref()
                .ok()
                .and_then(|l| l.barriers.e_kd[2])
                .map(|e| (r, e))
        })
        .collect();
    ranked.sort_by(|a, b| {
        a.1.total_cmp(&b.1)
            .then(a.0.descriptors.id.cmp(&b.0.descriptors.id))
    });
    let body: Vec<Vec<String>> = ranked
        .iter()
        .enumerate()
        .map(|(i, (r, e))| {
            vec![
                (i + 1).to_string(),
                r.descriptors.id.clone(),
                r.descriptors.formula.clone(),
                format!("{e:.5}"),
            ]
        })
        .collect();
    crate::io::write_csv(
        &dir.join("ranking.csv"),
        &["rank", "id", "formula", "bvse_e3d_ev"].map(String::from),
        &body,
    )?;
    notes.push(format!(
        "{} structures: descriptors and BVSE barriers in {}/ ({} with E_3D, ranked in ranking.csv; {} unreadable, see failures.csv)",
        paths.len(),
        dir.display(),
        ranked.len(),
        failures.len()
    ));
    let ranked = ranked
        .iter()
        .map(|(r, e)| (r.descriptors.id.clone(), r.descriptors.formula.clone(), *e))
        .collect();
    Ok((table, ranked))
}

/// A copy of the table `path` (beside it, `screened.csv`) with only the rows that have
/// every one of `columns`; the rows left out as (id, reason).
fn complete_rows(path: &Path, columns: &[String]) -> Result<(PathBuf, Vec<(String, String)>)> {
    let (header, records) = crate::io::table::read_csv(path, false)?;
    let idx: Vec<(usize, &String)> = columns
        .iter()
        .map(|c| {
            header
                .iter()
                .position(|h| h == c)
                .map(|i| (i, c))
                .ok_or_else(|| {
                    crate::invalid!(
                        "no column {c:?} in the structure features (columns: {})",
                        header.join(", ")
                    )
                })
        })
        .collect::<Result<_>>()?;
    let mut rows = Vec::new();
    let mut dropped = Vec::new();
    for rec in records {
        match idx.iter().find(|(i, _)| {
            rec.get(*i)
                .is_none_or(|v| v.trim().parse::<f64>().map_or(true, |x| !x.is_finite()))
        }) {
            Some((_, c)) => dropped.push((
                rec.get(0).unwrap_or("").to_string(),
                format!("no {c} (see bvse.csv)"),
            )),
            None => rows.push(rec.iter().map(String::from).collect()),
        }
    }
    let out = path.with_file_name("screened.csv");
    crate::io::write_csv(&out, &header, &rows)?;
    Ok((out, dropped))
}

/// Read the materials, screen them and write the outputs into `out`.
pub fn run(engine: &crate::compute::Engine, r: &ScreenRequest, out: &Path) -> Result<ScreenRun> {
    use crate::invalid;
    let mut notes = Vec::new();
    // Crystal structures (CIF folders, POSCARs): their descriptors and BVSE barriers
    // first, as a feature table in OUT/structure/, which is then screened.
    let structures = structure_inputs(&r.inputs)?;
    let mut ranking = None;
    let (inputs, defaults) = match &structures {
        Some(paths) => {
            let (table, ranked) =
                structure_table(engine, paths, &out.join("structure"), &mut notes)?;
            ranking = Some(ranked);
            (vec![table], crate::screen::STRUCTURE_COLUMNS)
        }
        None => (r.inputs.clone(), crate::screen::DEFAULT_COLUMNS),
    };
    let columns = r
        .columns
        .clone()
        .unwrap_or_else(|| defaults.iter().map(|s| s.to_string()).collect());
    let mut inputs = inputs;
    let mut dropped = Vec::new();
    if structures.is_some() {
        // Structures without a value in a chosen column (no BVSE barrier, no Li site)
        // are left out of the clustering, each with its reason.
        let (kept, d) = complete_rows(&inputs[0], &columns)?;
        inputs = vec![kept];
        dropped = d;
    }
    let (m, mut skipped) =
        crate::screen::load_materials(&inputs, &r.dos, &columns, r.id.as_deref())?;
    skipped.extend(dropped);
    let n = m.ids.len();
    if n < 3 {
        return Err(invalid!(
            "{n} materials with all the descriptor columns: screening needs at least 3"
        ));
    }
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
    // Clusters that all hold a known conductor single nothing out: say so, and point to
    // the ranking.
    if let Some(clusters) = s.every_cluster_holds_known() {
        notes.push(format!(
            "every one of the {} clusters holds a known conductor, so cluster membership marks no material as a candidate ({} of {} are 'candidates'); {}",
            clusters,
            s.candidates.len(),
            m.ids.len(),
            if structures.is_some() {
                "use the ranking by the BVSE barrier instead (structure/ranking.csv, lowest E_3D first; see `validate --train --test` for how it performs)"
            } else {
                "rank by a validated descriptor instead (`validate`)"
            }
        ));
    }
    let report = write_outputs(out, &m, &s, &r.known, &skipped, &notes, ranking.as_deref())?;
    Ok(ScreenRun {
        materials: m,
        screening: s,
        report,
        skipped,
        notes,
    })
}
