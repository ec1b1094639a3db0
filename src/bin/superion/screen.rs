//! `superion screen`, `superion validate` and `superion demo`.

use std::path::Path;

use superion::{BackendChoice, Engine, report};

use crate::args::{ScreenArgs, ValidateArgs};

/// Screen materials: every option and the known list checked first, then the
/// descriptors, the clustering, the report; validated against measured
/// conductivities when given.
pub fn screen(backend: BackendChoice, a: ScreenArgs) -> anyhow::Result<()> {
    let dos = a
        .dos
        .options(superion::phonon::mesh::Resolve::Elements, false)?;
    if !(a.threshold > 0.0) {
        anyhow::bail!(
            "--threshold {}: must be a positive conductivity in S/cm",
            a.threshold
        );
    }
    let ks = superion::cluster::select::parse_k_range(&a.k)?;
    // Read the table before the expensive work, so a bad one fails at once.
    let table = a
        .conductivities
        .as_deref()
        .map(|p| superion::validate::read_conductivities(p, &Default::default()))
        .transpose()?;
    let known = match (&a.known, &table) {
        (None, Some(t)) => {
            let mut k = superion::validate::conductor_formulas(t, a.threshold);
            let ids = superion::validate::conductor_ids(t, a.threshold);
            eprintln!(
                "superion: known conductors from {}: {} compositions and {} ids with σ ≥ {:e} S/cm",
                t.path.display(),
                k.len(),
                ids.len(),
                a.threshold
            );
            k.extend(ids);
            Some(k.join(","))
        }
        _ => a.known.clone(),
    };
    let request = report::screen::ScreenRequest {
        inputs: a.inputs.clone(),
        dos,
        known: superion::screen::parse_known(known.as_deref())?,
        method: a.method.into(),
        ks,
        columns: a.columns.clone(),
        id: a.id.clone(),
        seed: a.seed,
    };
    let bundle = superion::io::bundle::Bundle::open(&a.out)?;
    let engine = Engine::new(backend)?;
    let run = report::screen::run(&engine, &request, &a.out)?;
    print_screening(&run);
    if let Some(table) = table {
        let o = superion::validate::ValidateOptions {
            threshold_s_cm: a.threshold,
            seed: a.seed,
            ..Default::default()
        };
        match report::screen::add_validation(&a.out, &table, &o) {
            Ok(v) => eprintln!(
                "superion: validation: {} entries matched to measured conductivities -> {}",
                v.matched_entries,
                a.out.join("validation").display()
            ),
            Err(e) => eprintln!("superion: validation not done: {e}"),
        }
    }
    bundle.commit("screen")?;
    println!("report: {}", run.report.display());
    Ok(())
}

/// What a screening left out and found, on standard error.
fn print_screening(run: &report::screen::ScreenRun) {
    for n in &run.notes {
        eprintln!("superion: {}", crate::flags(n));
    }
    for (what, why) in &run.skipped {
        eprintln!("superion: left out {what}: {why}");
    }
    let s = &run.screening;
    eprintln!(
        "superion: {} materials, k = {} ({}); {} known conductors found, {} candidates",
        run.materials.ids.len(),
        s.selection.chosen_k,
        s.selection.why,
        s.known_rows.len(),
        s.candidates.len()
    );
}

/// The main job on the bundled data.
pub fn demo(backend: BackendChoice, out: &Path) -> anyhow::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let data = if Path::new("data/phonopy").is_dir() {
        std::path::PathBuf::from("data")
    } else {
        root.join("data")
    };
    let bundle = superion::io::bundle::Bundle::open(out)?;
    let engine = Engine::new(backend)?;
    let d = report::demo::run(&engine, &data, out)?;
    bundle.commit("demo")?;
    print_screening(&d.screening);
    println!("screening report: {}", d.screening.report.display());
    println!(
        "D(Li) in Li6PS5Cl = {:.4e} ± {:.2e} cm²/s",
        d.d_cm2_s, d.d_err_cm2_s
    );
    println!("demo report: {}", d.report.display());
    Ok(())
}

pub fn validate(a: ValidateArgs) -> anyhow::Result<()> {
    use superion::validate;
    if !(a.threshold > 0.0) {
        anyhow::bail!(
            "--threshold {}: must be a positive conductivity in S/cm",
            a.threshold
        );
    }
    let cols = validate::ColumnNames {
        composition: a.composition_column.clone(),
        id: a.id_column.clone(),
        conductivity: a.conductivity_column.clone(),
    };
    let bundle = superion::io::bundle::Bundle::open(&a.out)?;
    let fs = validate::read_feature_tables(&a.features)?;
    let table = validate::read_conductivities(&a.conductivities, &cols)?;
    let labels = a.labels.as_deref().map(validate::read_labels).transpose()?;
    let ranking = a
        .ranking
        .as_deref()
        .map(validate::read_ranking)
        .transpose()?;
    let o = validate::ValidateOptions {
        columns: cols,
        threshold_s_cm: a.threshold,
        bootstrap: a.bootstrap,
        seed: a.seed,
        top_k: a.top_k,
        ..Default::default()
    };
    let v = validate::validate(
        &fs,
        &a.features[0],
        &table,
        labels.as_ref(),
        ranking.as_deref(),
        &o,
    )?;
    let written = report::validation::write_outputs(&v, &a.out, &fs, &table)?;
    eprintln!("superion: {} -> {}", written.join(", "), a.out.display());
    let mut split_md = None;
    if let (Some(train), Some(test)) = (&a.train, &a.test) {
        let ids = |p: &Path| -> anyhow::Result<std::collections::BTreeSet<String>> {
            Ok(
                validate::read_ranking_column(p, &["ID", "id", "material_id"])?
                    .into_iter()
                    .collect(),
            )
        };
        let o = superion::ranking::SplitOptions {
            threshold_s_cm: a.threshold,
            bootstrap: a.bootstrap,
            seed: a.seed,
            ..Default::default()
        };
        let split = superion::ranking::evaluate(&fs, &table, &ids(train)?, &ids(test)?, &o)?;
        let md = split.markdown();
        superion::io::write_atomic(&a.out.join("split.md"), md.as_bytes())?;
        superion::io::write_atomic(
            &a.out.join("split.json"),
            serde_json::to_string_pretty(&split)?.as_bytes(),
        )?;
        let rows: Vec<Vec<String>> = split
            .descriptors
            .iter()
            .map(|d| {
                let f = |v: Option<f64>| v.map(superion::io::fmt_f64).unwrap_or_default();
                vec![
                    d.descriptor.clone(),
                    d.direction.clone(),
                    d.n_train.to_string(),
                    f(d.train_auc),
                    d.n_test.to_string(),
                    f(d.test_auc),
                    f(d.test_spearman),
                ]
            })
            .collect();
        superion::io::write_csv(
            &a.out.join("split_descriptors.csv"),
            &[
                "descriptor",
                "conductors_rank",
                "n_train",
                "auc_train",
                "n_test",
                "auc_test",
                "spearman_test",
            ]
            .map(String::from),
            &rows,
        )?;
        eprintln!(
            "superion: split.md, split.json, split_descriptors.csv -> {}",
            a.out.display()
        );
        split_md = Some(md);
    }
    // Every file and the manifest before anything goes to stdout.
    bundle.commit("validate")?;
    println!("{}", v.markdown());
    if let Some(md) = split_md {
        println!("{md}");
    }
    Ok(())
}
