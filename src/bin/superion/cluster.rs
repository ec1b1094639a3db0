//! `superion cluster`: a feature table clustered over a range of k, every k scored.

use superion::{BackendChoice, Engine, report};

use crate::args::ClusterArgs;

pub fn cluster(backend: BackendChoice, a: ClusterArgs) -> anyhow::Result<()> {
    use superion::cluster::{kmeans::KMeansParams, select};
    let ks = select::parse_k_range(&a.k)?;
    let method: select::Method = a.method.into();
    let bundle = crate::open_out(a.out.as_deref())?;
    let engine = Engine::new(backend)?;
    let t = superion::io::table::read_features(
        &a.table,
        &superion::io::table::FeatureTableOptions {
            id: a.id.clone(),
            columns: a.columns.clone(),
            missing: a.missing.into(),
            bookkeeping: a.all_columns,
        },
    )?;
    report_input(&t);
    let x = if a.no_scale {
        t.values.mapv(|v| v as f32)
    } else {
        select::standardise(t.values.view())
    };
    // The extras by default where they are cheap; said when left out.
    let large = t.ids.len() > select::EXTRAS_MAX_POINTS;
    let defaults = select::SelectOptions::for_points(t.ids.len());
    let gap_refs = a.gap_refs.unwrap_or(defaults.gap_refs);
    let stability_runs = a.stability_runs.unwrap_or(defaults.stability_runs);
    let compare = a.compare || (!a.no_compare && !large);
    if large {
        let skipped: Vec<&str> = [
            (a.gap_refs.is_none(), "the gap statistic (--gap-refs 10)"),
            (
                a.stability_runs.is_none(),
                "the stability score (--stability-runs 4)",
            ),
            (
                !a.compare && !a.no_compare,
                "the method comparison (--compare)",
            ),
        ]
        .iter()
        .filter(|(off, _)| *off)
        .map(|(_, what)| *what)
        .collect();
        if !skipped.is_empty() {
            eprintln!(
                "superion: {} materials (more than {}): left out by default, each costing as much as the clustering or more: {}",
                t.ids.len(),
                select::EXTRAS_MAX_POINTS,
                skipped.join(", ")
            );
        }
    }
    let opts = select::SelectOptions {
        seed: a.seed,
        kmeans: KMeansParams {
            n_init: a.n_init,
            init: a.init.into(),
            tol: a.tol,
            max_iter: a.max_iter,
        },
        gap_refs,
        stability_runs,
        bandwidth: a.bandwidth,
        min_cluster_size: a.min_cluster_size,
    };
    let select::Analysis {
        selection: sel,
        agreement,
    } = select::analyse(
        &engine,
        x.view(),
        method,
        &ks,
        &opts,
        compare,
        &mut extras_progress(),
    )?;
    // Files (and their manifest) before anything goes to stdout.
    if let Some(b) = bundle {
        let dir = b.dir().to_path_buf();
        report::cluster::write_tables(&dir, &t.ids, &sel)?;
        report::cluster::write_input(&t, &dir.join("input.json"))?;
        superion::plot::cluster::write_figures(
            &dir,
            &t.ids,
            &t.columns,
            t.values.view(),
            x.view(),
            &sel,
            &[],
        )?;
        superion::io::remove_stale(&dir, &["agreement.csv", "agreement.svg"], None)?;
        if let Some(ag) = &agreement {
            report::cluster::write_agreement_csv(ag, &dir.join("agreement.csv"))?;
            superion::plot::cluster::agreement_svg(ag, &dir.join("agreement.svg"))?;
        }
        eprintln!(
            "superion: labels.csv, scores.csv{} and plots -> {}",
            if agreement.is_some() {
                ", agreement.csv"
            } else {
                ""
            },
            dir.display()
        );
        b.commit("cluster")?;
    }
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "table": a.table.display().to_string(), "rows": t.ids.len(), "columns": t.columns,
                "scaled": !a.no_scale, "input": t, "options": opts, "selection": sel, "agreement": agreement,
            }))?
        );
    } else {
        let opt =
            |v: Option<f64>, w: usize| v.map_or(format!("{:>w$}", "-"), |v| format!("{v:>w$.4}"));
        println!(
            "{:>3} {:>14} {:>11} {:>18} {:>15} {:>8} {:>7} {:>10}",
            "k",
            "inertia",
            "silhouette",
            "calinski_harabasz",
            "davies_bouldin",
            "gap",
            "gap_s",
            "stability"
        );
        for r in &sel.results {
            println!(
                "{:>3} {:>14.6} {:>11.4} {:>18.4} {:>15.4} {} {} {}",
                r.k,
                r.inertia,
                r.silhouette,
                r.calinski_harabasz,
                r.davies_bouldin,
                opt(r.gap, 8),
                opt(r.gap_s, 7),
                opt(r.stability, 10)
            );
        }
        if let Some(c) = sel.cophenetic_correlation {
            println!("cophenetic correlation {c:.4}");
        }
        if let Some(b) = sel.bandwidth {
            println!("spectral bandwidth σ = {b:.4}");
        }
        println!("chosen k = {}: {}", sel.chosen_k, sel.why);
        if let Some(ag) = &agreement {
            println!("\nadjusted Rand index between methods at k = {}:", ag.k);
            print!("{:>9}", "");
            for m in &ag.methods {
                print!(" {:>9}", m.name());
            }
            println!();
            for (i, m) in ag.methods.iter().enumerate() {
                print!("{:>9}", m.name());
                for v in &ag.ari[i] {
                    print!(" {v:>9.3}");
                }
                println!();
            }
            for (m, why) in &ag.skipped {
                println!("({} left out: {why})", m.name());
            }
        }
    }
    Ok(())
}

/// What is clustered and what was left out, on stderr.
fn report_input(t: &superion::io::table::FeatureTable) {
    eprintln!(
        "superion: clustering {} materials on {} columns: {}",
        t.ids.len(),
        t.columns.len(),
        superion::io::table::list_names(&t.columns)
    );
    for (c, why) in &t.dropped_columns {
        eprintln!("superion: column {c} left out: {why}");
    }
    for (id, why) in &t.dropped_rows {
        eprintln!("superion: material {id} left out: {why} (--missing impute-mean keeps it)");
    }
    for (c, n) in &t.imputed {
        eprintln!("superion: column {c}: {n} empty cell(s) filled with the column mean");
    }
}

/// On stderr: what the extras are expected to cost once the clustering has been timed
/// (when more than a second), a progress bar through them, and what they took.
fn extras_progress() -> impl FnMut(superion::cluster::select::ClusterEvent) {
    use superion::cluster::select::ClusterEvent;
    let mut bar: Option<indicatif::ProgressBar> = None;
    let mut estimate = 0.0;
    move |e| match e {
        ClusterEvent::Clustered { seconds, extras } => {
            estimate = extras.iter().map(|(_, s)| s).sum::<f64>();
            if estimate >= 1.0 {
                let parts: Vec<String> = extras
                    .iter()
                    .map(|(what, s)| format!("{what} ~{s:.0} s"))
                    .collect();
                eprintln!(
                    "superion: clustered over k in {seconds:.1} s; the extras will take about {estimate:.0} s ({}; --gap-refs 0, --stability-runs 0, --no-compare leave them out)",
                    parts.join(", ")
                );
            }
        }
        ClusterEvent::Step { what, done, total } => {
            let b = bar.get_or_insert_with(|| superion::progress::bar(total as u64, what));
            if done == 0 {
                b.set_length(total as u64);
                b.set_message(what.to_string());
            }
            b.set_position(done as u64);
        }
        ClusterEvent::Finished { what, seconds } => {
            if let Some(b) = bar.take() {
                b.finish_and_clear();
            }
            if estimate >= 1.0 {
                eprintln!("superion: {what} took {seconds:.1} s");
            }
        }
    }
}
