//! Validation against measured conductivities as files: `validation.csv`,
//! `matched.csv`, `unmatched.csv`, `validation.json`, `validation.md` and the figures.

use std::path::Path;

use crate::error::Result;
use crate::io::{fmt_f64, write_atomic, write_csv};
use crate::validate::{
    self, ConductivityTable, DescriptorStats, FeatureSet, Points, Validation, opt, points,
};
use crate::{invalid, plot};

/// validation.csv, matched.csv, unmatched.csv, validation.json, validation.md and the
/// figures into `dir`; returns the names written.
pub fn write_outputs(
    v: &Validation,
    dir: &Path,
    fs: &FeatureSet,
    table: &ConductivityTable,
) -> Result<Vec<String>> {
    let h = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<String>>();
    write_csv(
        &dir.join("validation.csv"),
        &h(&[
            "descriptor",
            "subset",
            "n",
            "n_conductors",
            "n_censored",
            "spearman",
            "spearman_ci_low",
            "spearman_ci_high",
            "kendall_tau",
            "roc_auc",
            "roc_auc_ci_low",
            "roc_auc_ci_high",
        ]),
        &v.stats
            .iter()
            .map(|s| {
                vec![
                    s.descriptor.clone(),
                    s.subset.clone(),
                    s.n.to_string(),
                    s.n_conductors.to_string(),
                    s.n_censored.to_string(),
                    opt(s.spearman),
                    opt(s.spearman_ci.map(|c| c.0)),
                    opt(s.spearman_ci.map(|c| c.1)),
                    opt(s.kendall),
                    opt(s.roc_auc),
                    opt(s.roc_auc_ci.map(|c| c.0)),
                    opt(s.roc_auc_ci.map(|c| c.1)),
                ]
            })
            .collect::<Vec<_>>(),
    )?;
    let mut mh = h(&[
        "id",
        "formula",
        "conductivity_s_cm",
        "censored",
        "matched_by",
        "measurements",
        "unstable",
    ]);
    mh.extend(fs.descriptors.iter().map(|d| d.0.clone()));
    write_csv(
        &dir.join("matched.csv"),
        &mh,
        &v.matched
            .iter()
            .map(|m| {
                let mut r = vec![
                    m.id.clone(),
                    m.formula.clone(),
                    fmt_f64(m.sigma_s_cm),
                    m.censored.to_string(),
                    m.by.clone(),
                    m.measurements.to_string(),
                    m.unstable.map(|u| u.to_string()).unwrap_or_default(),
                ];
                r.extend(fs.descriptors.iter().map(|d| fmt_f64(d.1[m.row])));
                r
            })
            .collect::<Vec<_>>(),
    )?;
    let mut un: Vec<Vec<String>> = v
        .unmatched
        .iter()
        .map(|u| {
            vec![
                u.table.clone(),
                u.at.clone(),
                u.text.clone(),
                u.reason.clone(),
            ]
        })
        .collect();
    un.extend(table.rejected.iter().map(|(l, t, r)| {
        vec![
            "conductivities".into(),
            format!("line {l}"),
            t.clone(),
            r.clone(),
        ]
    }));
    write_csv(
        &dir.join("unmatched.csv"),
        &h(&["table", "at", "text", "reason"]),
        &un,
    )?;
    let json = serde_json::to_string_pretty(v).map_err(|e| invalid!("validation.json: {e}"))?;
    write_atomic(&dir.join("validation.json"), json.as_bytes())?;
    write_atomic(&dir.join("validation.md"), v.markdown().as_bytes())?;
    // Figures: the descriptors with the strongest |ρ| (and li_centre_thz when present).
    let mut shown: Vec<usize> = Vec::new();
    if let Some(i) = fs.descriptors.iter().position(|d| d.0 == "li_centre_thz") {
        shown.push(i);
    }
    let mut by_rho: Vec<&DescriptorStats> = v
        .stats
        .iter()
        .filter(|s| s.subset == "all" && s.spearman.is_some())
        .collect();
    by_rho.sort_by(|a, b| {
        b.spearman
            .unwrap()
            .abs()
            .total_cmp(&a.spearman.unwrap().abs())
    });
    for s in by_rho {
        if shown.len() >= 4 {
            break;
        }
        if let Some(i) = fs.descriptors.iter().position(|d| d.0 == s.descriptor)
            && !shown.contains(&i)
        {
            shown.push(i);
        }
    }
    let all: Vec<usize> = (0..v.matched.len()).collect();
    let panels: Vec<(String, Points, Option<&DescriptorStats>)> = shown
        .iter()
        .map(|&d| {
            let name = fs.descriptors[d].0.clone();
            let st = v
                .stats
                .iter()
                .find(|s| s.subset == "all" && s.descriptor == name);
            (name, points(fs, &v.matched, &all, d, v.threshold_s_cm), st)
        })
        .collect();
    plot::validation::scatter_svg(&panels, v.threshold_s_cm, &dir.join("scatter.svg"))?;
    plot::validation::roc_svg(&panels, &dir.join("roc.svg"))?;
    let mut written = h(&[
        "validation.csv",
        "matched.csv",
        "unmatched.csv",
        "validation.json",
        "validation.md",
        "scatter.svg",
        "roc.svg",
    ]);
    if !v.clusters.is_empty() {
        plot::validation::clusters_svg(&v.clusters, v.threshold_s_cm, &dir.join("clusters.svg"))?;
        written.push("clusters.svg".into());
    }
    Ok(written)
}

/// Validate a screening run written in `dir` (its features.csv, labels.csv and
/// candidates.csv) against `table`; the outputs go to `dir/validation/`.
pub(crate) fn validate_screening(
    dir: &Path,
    table: &ConductivityTable,
    o: &validate::ValidateOptions,
) -> Result<Validation> {
    let features = dir.join("features.csv");
    let fs = validate::read_features(&features)?;
    let labels = validate::read_labels(&dir.join("labels.csv"))?;
    // Structures are ranked by their BVSE barrier (every structure, known conductors
    // included); otherwise by the candidates' order (known conductors excluded, so
    // give known ones that are not the table's own conductors to test it).
    let by_barrier = dir.join("structure").join("ranking.csv");
    let (ranking, o) = if by_barrier.is_file() {
        let o = validate::ValidateOptions {
            ranking_name: "structures by the BVSE barrier E_3D".into(),
            ..o.clone()
        };
        (validate::read_ranking(&by_barrier)?, o)
    } else {
        (
            validate::read_ranking(&dir.join("candidates.csv"))?,
            o.clone(),
        )
    };
    let v = validate::validate(&fs, &features, table, Some(&labels), Some(&ranking), &o)?;
    write_outputs(&v, &dir.join("validation"), &fs, table)?;
    Ok(v)
}
