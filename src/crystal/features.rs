//! Structure descriptors and BVSE barriers for many structures: one row each, in the
//! feature-table layout `validate`, `cluster` and `screen` read (`id`, `formula`, then
//! numeric columns; bookkeeping columns are named so `validate` skips them).

use std::path::PathBuf;

use rayon::prelude::*;

use super::bvse::{self, BvseOptions, Landscape};
use super::descriptors::{self, PATTERN_BINS, StructureDescriptors};
use super::oxidation::Assignment;
use crate::compute::Engine;
use crate::error::Result;

/// One structure's row.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StructureRow {
    pub source: PathBuf,
    pub descriptors: StructureDescriptors,
    pub oxidation: Assignment,
    /// The BVSE landscape (its energies dropped unless kept), or why there is none.
    pub bvse: std::result::Result<Landscape, String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Failure {
    pub source: PathBuf,
    pub reason: String,
}

/// Options of [`compute`].
#[derive(Debug, Clone)]
pub struct FeatureOptions {
    /// None: structure descriptors only.
    pub bvse: Option<BvseOptions>,
    /// Keep each landscape's energies (for cube files).
    pub keep_landscapes: bool,
}

fn one(engine: &Engine, path: &PathBuf, o: &FeatureOptions) -> Result<StructureRow> {
    let c = super::read(path)?;
    let oxi = c.oxidation_states()?;
    let d = descriptors::describe(&c, &oxi);
    let bvse = match &o.bvse {
        None => Err("not computed (--no-bvse)".to_string()),
        Some(b) => match bvse::landscape(engine, &c, b) {
            Ok(mut l) => {
                if !o.keep_landscapes {
                    l.energies_ev = Vec::new();
                }
                Ok(l)
            }
            Err(e) => Err(e.to_string()),
        },
    };
    Ok(StructureRow {
        source: path.clone(),
        descriptors: d,
        oxidation: oxi,
        bvse,
    })
}

/// Rows for every structure in `paths` (in order), and the files that could not be
/// read. On the CPU the structures run in parallel; on a GPU one at a time.
pub fn compute(
    engine: &Engine,
    paths: &[PathBuf],
    o: &FeatureOptions,
) -> (Vec<StructureRow>, Vec<Failure>) {
    let bar = crate::progress::bar(paths.len() as u64, "structures");
    let run = |p: &PathBuf| {
        let r = one(engine, p, o);
        bar.inc(1);
        r
    };
    let results: Vec<Result<StructureRow>> = if engine.gpu().is_some() {
        paths.iter().map(run).collect()
    } else {
        paths.par_iter().map(run).collect()
    };
    bar.finish_and_clear();
    let mut rows = Vec::new();
    let mut failures = Vec::new();
    for (p, r) in paths.iter().zip(results) {
        match r {
            Ok(row) => rows.push(row),
            Err(e) => failures.push(Failure {
                source: p.clone(),
                reason: e.to_string(),
            }),
        }
    }
    (rows, failures)
}

/// The feature table: header and rows (empty cells where a value is undefined).
pub fn table(rows: &[StructureRow]) -> (Vec<String>, Vec<Vec<String>>) {
    let mut header: Vec<String> = [
        "id",
        "formula",
        "anion",
        "n_sites",
        "li_fraction",
        "volume_per_atom_a3",
        "volume_per_li_a3",
        "li_li_min_a",
        "li_li_nearest_mean_a",
        "li_li_shell_mean_a",
        "li_coordination",
        "li_site_disorder",
        "site_disorder",
        "bvse_e1d_ev",
        "bvse_e2d_ev",
        "bvse_e3d_ev",
    ]
    .map(String::from)
    .to_vec();
    for b in 0..PATTERN_BINS {
        header.push(format!("anion_sq_{:02}", b + 1));
    }
    header.extend(["oxidation_states", "net_charge", "source"].map(String::from));
    let f = |v: f64| {
        if v.is_finite() {
            crate::io::fmt_f64(v)
        } else {
            String::new()
        }
    };
    let table_rows = rows
        .iter()
        .map(|r| {
            let d = &r.descriptors;
            let e = |k: usize| match &r.bvse {
                Ok(l) => l.barriers.e_kd[k]
                    .map(|x| format!("{x:.5}"))
                    .unwrap_or_default(),
                Err(_) => String::new(),
            };
            let mut row = vec![
                d.id.clone(),
                d.formula.clone(),
                d.anion.clone(),
                d.n_sites.to_string(),
                f(d.li_fraction),
                f(d.volume_per_atom_a3),
                f(d.volume_per_li_a3),
                f(d.li_li_min_a),
                f(d.li_li_nearest_mean_a),
                f(d.li_li_shell_mean_a),
                f(d.li_coordination),
                f(d.li_site_disorder),
                f(d.site_disorder),
                e(0),
                e(1),
                e(2),
            ];
            row.extend(d.anion_pattern.iter().map(|&v| f(v)));
            row.push(r.oxidation.label());
            row.push(f(r.oxidation.net_charge));
            row.push(r.source.display().to_string());
            row
        })
        .collect();
    (header, table_rows)
}

/// The BVSE table: every barrier (superion's and bvlain's modulo-2 count), the grid,
/// the ordering and why a structure has none.
pub fn bvse_table(rows: &[StructureRow]) -> (Vec<String>, Vec<Vec<String>>) {
    let header = [
        "id",
        "e1d_ev",
        "e2d_ev",
        "e3d_ev",
        "bvlain_e1d_ev",
        "bvlain_e2d_ev",
        "bvlain_e3d_ev",
        "e_min_ev",
        "grid",
        "framework_atoms",
        "mixed_sites",
        "partial_sites",
        "disordered_li_sites",
        "oxidation_states",
        "oxidation_source",
        "net_charge",
        "balanced",
        "note",
    ]
    .map(String::from)
    .to_vec();
    let f = |v: Option<f64>| v.map(|x| format!("{x:.5}")).unwrap_or_default();
    let body = rows
        .iter()
        .map(|r| match &r.bvse {
            Ok(l) => vec![
                r.descriptors.id.clone(),
                f(l.barriers.e_kd[0]),
                f(l.barriers.e_kd[1]),
                f(l.barriers.e_kd[2]),
                f(l.barriers.bvlain[0]),
                f(l.barriers.bvlain[1]),
                f(l.barriers.bvlain[2]),
                format!("{:.5}", l.barriers.e_min_ev),
                format!("{}x{}x{}", l.n[0], l.n[1], l.n[2]),
                l.framework_atoms.to_string(),
                l.ordering.mixed_sites.to_string(),
                l.ordering.partial_sites.to_string(),
                l.ordering.disordered_li_sites.to_string(),
                l.oxidation.label(),
                l.oxidation.source.clone(),
                crate::io::fmt_f64(l.oxidation.net_charge),
                l.oxidation.balanced.to_string(),
                l.notes.join("; "),
            ],
            Err(why) => {
                let mut v = vec![r.descriptors.id.clone()];
                v.extend(std::iter::repeat_n(String::new(), 12));
                v.push(r.oxidation.label());
                v.push(r.oxidation.source.clone());
                v.push(crate::io::fmt_f64(r.oxidation.net_charge));
                v.push(r.oxidation.balanced.to_string());
                v.push(why.clone());
                v
            }
        })
        .collect();
    (header, body)
}
