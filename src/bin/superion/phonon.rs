//! `superion phonon ...`: descriptors, PhononDB entries, DOS from force sets, one
//! material's plot, DOS similarity.

use anyhow::Context;
use superion::materials::{Failure, discover, feature_rows, feature_table, read_all, row_json};
use superion::phonon::descriptors::{FeatureRow, Value, features};
use superion::phonon::similarity::similarity;
use superion::{BackendChoice, Engine, io, plot, report};

use crate::args::PhononCommand;

pub fn run(backend: BackendChoice, cmd: PhononCommand) -> anyhow::Result<()> {
    match cmd {
        PhononCommand::Features {
            inputs,
            opts,
            out,
            json,
            strict,
            dos,
            method,
        } => {
            let opts = opts.options()?;
            let dos = dos
                .with_method(method)
                .options(superion::phonon::mesh::Resolve::Elements, false)?;
            let table = out
                .as_deref()
                .map(|o| crate::args::table_path(o, "features.csv"));
            if let Some(t) = &table {
                io::check_writable(t)?;
            }
            let (rows, failures) = feature_rows(&inputs, &opts, &dos)?;
            if strict && !failures.is_empty() {
                report_failures(&failures);
                let first: Vec<String> = failures
                    .iter()
                    .take(5)
                    .map(|f| format!("{}: {}", f.input.display(), f.error))
                    .collect();
                anyhow::bail!(
                    "--strict: {} input(s) failed, nothing written: {}",
                    failures.len(),
                    first.join("; ")
                );
            }
            report_warnings(&rows);
            report_failures(&failures);
            if rows.is_empty() {
                anyhow::bail!(
                    "none of the {} input(s) could be read; nothing written",
                    failures.len()
                );
            }
            let (header, body) = feature_table(&rows);
            // The file before stdout: a closed pipe there must not lose it.
            if let Some(path) = &table {
                io::write_csv(path, &header, &body)?;
                eprintln!("superion: {} materials -> {}", rows.len(), path.display());
            }
            if json {
                let doc = serde_json::json!({
                    "rows": rows.iter().map(row_json).collect::<Vec<_>>(),
                    "failures": failures,
                });
                println!("{}", serde_json::to_string_pretty(&doc)?);
            } else if table.is_none() {
                print!("{}", String::from_utf8(io::csv_bytes(&header, &body)?)?);
            }
            Ok(())
        }
        PhononCommand::Entry { entry, json } => {
            let e = io::phonondb::read_entry(&entry)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&e)?);
            } else {
                let mut counts = std::collections::BTreeMap::<String, f64>::new();
                for sp in &e.unitcell.species {
                    *counts.entry(sp.clone()).or_default() += 1.0;
                }
                let formula = superion::phonon::composition::reduced_formula(&counts);
                println!(
                    "{} ({formula}): {} atoms in the unit cell",
                    e.id,
                    e.unitcell.species.len()
                );
                println!(
                    "supercell DIM {:?}: {} atoms",
                    e.supercell_matrix, e.n_supercell_atoms
                );
                match e.primitive_axis {
                    Some(p) => println!("primitive axes {p:?}"),
                    None => println!("primitive axes: the unit cell"),
                }
                println!("{} displacements (force sets)", e.force_sets.len());
                match &e.born {
                    Some(b) => println!(
                        "BORN: dielectric tensor diagonal {:.3} {:.3} {:.3}, {} Born charges",
                        b.epsilon[0][0],
                        b.epsilon[1][1],
                        b.epsilon[2][2],
                        b.charges.len()
                    ),
                    None => println!("no BORN (no non-analytical correction)"),
                }
                println!("(superion phonon dos computes its DOS)");
            }
            Ok(())
        }
        PhononCommand::Dos {
            entry,
            dos,
            method,
            opts,
            out,
            compare,
        } => {
            let fopts = opts.options()?;
            let dopts = dos
                .with_method(method)
                .options(superion::phonon::mesh::Resolve::Atoms, true)?;
            let bundle = superion::io::bundle::Bundle::open(&out)?;
            let r = report::phonon::dos(&entry, &dopts, &fopts)?;
            report::phonon::write_outputs(&r, &dopts, &out)?;
            if compare.is_none() {
                io::remove_stale(&out, &["compare.svg"], None)?;
            }
            let compared = match &compare {
                Some(dir) => Some((dir, report::phonon::compare(&r, dir, &out)?)),
                None => None,
            };
            bundle.commit("phonon dos")?;
            let rep = &r.entry.report;
            println!(
                "{} ({}): {} primitive atoms, {} symmetry operations, supercell {} atoms, {} displacements",
                rep.id,
                rep.formula,
                rep.primitive_atoms,
                rep.space_group_operations,
                rep.supercell_atoms,
                rep.displacements
            );
            println!(
                "mesh {:?}{} ({} q-points, {} irreducible), {:?}, NAC {}",
                rep.mesh,
                if rep.gamma_center { " Γ-centred" } else { "" },
                rep.qpoints,
                rep.irreducible_qpoints,
                rep.method,
                if rep.nac { "on" } else { "off" }
            );
            println!(
                "frequencies {:.3} .. {:.3} THz; ∫g = {:.3} (3N = {}); {:.1} s",
                rep.min_frequency_thz,
                rep.max_frequency_thz,
                rep.dos_integral,
                3 * rep.primitive_atoms,
                rep.seconds
            );
            for w in &r.entry.dos.warnings {
                println!("warning: {w}");
            }
            for (k, v) in &r.descriptors.columns {
                if let Value::Num(x) = v {
                    println!("{k:<28} {}", shown(*x));
                }
            }
            if let Some((dir, c)) = compared {
                println!(
                    "vs {}: largest |Δg| = {:.4} states/THz = {:.2} % of its peak",
                    dir.display(),
                    c.max_abs_diff,
                    c.percent_of_peak()
                );
            }
            eprintln!(
                "superion: total_dos.dat, projected_dos.dat, dos.json, dos.svg -> {}",
                out.display()
            );
            Ok(())
        }
        PhononCommand::Show { input, opts, out } => {
            let opts = opts.options()?;
            let found = discover(std::slice::from_ref(&input))?;
            let dos = found.first().context("no input")?.read()?;
            let row = features(&dos, &opts)?;
            for (k, v) in &row.columns {
                let shown = match v {
                    Value::Num(x) => shown(*x),
                    Value::Bool(b) => b.to_string(),
                    Value::Text(t) => t.clone(),
                };
                println!("{k:<28} {shown}");
            }
            for w in &row.warnings {
                eprintln!("superion: warning: {w}");
            }
            let path = out.join(format!("{}_dos.svg", dos.id));
            plot::dos_svg(&dos, &path)?;
            eprintln!("superion: DOS plot -> {}", path.display());
            Ok(())
        }
        PhononCommand::Similarity {
            inputs,
            metric,
            bins,
            max_thz,
            out,
        } => {
            let max_bins = superion::phonon::descriptors::MAX_DOS_BINS;
            if bins == 0 || bins > max_bins || !(max_thz > 0.0 && max_thz.is_finite()) {
                anyhow::bail!(
                    "--bins takes 1 to {max_bins} and --max-thz a positive finite frequency (THz)"
                );
            }
            let metric = metric.into();
            if let Some(o) = &out {
                io::check_writable(&crate::args::table_path(o, "similarity.csv"))?;
            }
            let engine = Engine::new(backend)?;
            let found = discover(&inputs)?;
            let (dos, failures) = read_all(&found);
            report_failures(&failures);
            let m = similarity(&engine, &dos, metric, bins, max_thz)?;
            let mut header = vec!["id".to_string()];
            header.extend(dos.iter().map(|d| d.id.clone()));
            let body: Vec<Vec<String>> = dos
                .iter()
                .enumerate()
                .map(|(i, d)| {
                    std::iter::once(d.id.clone())
                        .chain(m.row(i).iter().map(|v| io::fmt_f64(*v)))
                        .collect()
                })
                .collect();
            match out {
                Some(out) => {
                    let path = crate::args::table_path(&out, "similarity.csv");
                    io::write_csv(&path, &header, &body)?;
                    eprintln!("superion: {} materials -> {}", dos.len(), path.display());
                }
                None => print!("{}", String::from_utf8(io::csv_bytes(&header, &body)?)?),
            }
            Ok(())
        }
    }
}

/// Per-material warnings on stderr, at most 10 of each kind (the rest counted).
pub fn report_warnings(rows: &[FeatureRow]) {
    let mut seen: std::collections::BTreeMap<String, usize> = Default::default();
    for r in rows {
        let id = match r.get("id") {
            Some(Value::Text(t)) => t.clone(),
            _ => String::new(),
        };
        for w in &r.warnings {
            // Group by the text before the first ':' ("Li columns left empty", ...).
            let kind = w.split(':').next().unwrap_or(w).to_string();
            let n = seen.entry(kind).or_insert(0);
            *n += 1;
            if *n <= 10 {
                eprintln!("superion: warning: {id}: {w}");
            }
        }
    }
    for (kind, n) in seen.into_iter().filter(|(_, n)| *n > 10) {
        eprintln!("superion: warning: {} more like \"{kind}\"", n - 10);
    }
}

pub fn report_failures(failures: &[Failure]) {
    if failures.is_empty() {
        return;
    }
    eprintln!("superion: skipped {} input(s):", failures.len());
    for f in failures {
        eprintln!("  {}: {}", f.input.display(), f.error);
    }
}

/// A descriptor for the terminal: "undefined" where it has no value (e.g. no Li
/// projection), never NaN.
pub fn shown(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.6}")
    } else {
        "undefined".into()
    }
}
