//! Clustering a feature table over k: parity with the original study's Ward labels,
//! known answers on generated blobs, both backends, the command line and bad input.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{blobs, gpu};
use superion::Engine;
use superion::cluster::scores::adjusted_rand_index;
use superion::cluster::select::{
    Method, NOISE, SelectOptions, cluster_over_k, method_agreement, parse_k_range,
};
use superion::io::table::read_table;

fn urop() -> Option<PathBuf> {
    common::shared_data("urop", "parity with the original study's clusters")
}

#[test]
fn ward_reproduces_the_original_study_labels_and_cophenetic_correlations() {
    let Some(dir) = urop() else { return };
    for (file, id, coph) in [
        // Cophenetic correlations from scipy 1.17.1 on the same columns:
        // cophenet(ward(pdist(x)), pdist(x)) over the 140 rows.
        (
            "clustering_small.csv",
            "task_id",
            Some((0.6638775751658679, 0.6337040209885303)),
        ),
        ("clustering_big.csv", "material_id", None),
    ] {
        for (col, k, study, c) in [
            ("fav", 3, "res_fav", coph.map(|c| c.0)),
            ("298", 2, "res_favRT", coph.map(|c| c.1)),
        ] {
            let t = read_table(&dir.join(file), Some(id), Some(&[col.to_string()])).unwrap();
            let want = read_table(&dir.join(file), Some(id), Some(&[study.to_string()])).unwrap();
            let want: Vec<u32> = want.values.column(0).iter().map(|v| *v as u32).collect();
            let x = t.values.mapv(|v| v as f32);
            let sel = cluster_over_k(
                &Engine::cpu(),
                x.view(),
                Method::Ward,
                &[k],
                &SelectOptions::default(),
            )
            .unwrap();
            let ari = adjusted_rand_index(&sel.results[0].labels, &want);
            assert!((ari - 1.0).abs() < 1e-12, "{file} {col}: ARI {ari}");
            if let Some(c) = c {
                let got = sel.cophenetic_correlation.unwrap();
                assert!(
                    (got - c).abs() < 1e-6, // the features are clustered in f32
                    "{file} {col}: cophenetic {got} vs {c}"
                );
            }
        }
    }
}

#[test]
fn every_method_finds_three_separated_blobs_and_backends_agree() {
    let (x, truth) = blobs(240, 4, 3, 1.0, 7);
    let engines: Vec<Engine> = std::iter::once(Engine::cpu()).chain(gpu()).collect();
    let mut kmeans_labels = Vec::new();
    for e in &engines {
        for m in [
            Method::Kmeans,
            Method::Ward,
            Method::Complete,
            Method::Average,
            Method::Single,
            Method::Spectral,
        ] {
            let opts = SelectOptions {
                seed: 11,
                ..Default::default()
            };
            let sel = cluster_over_k(e, x.view(), m, &[2, 3, 4, 5, 6], &opts).unwrap();
            assert_eq!(sel.chosen_k, 3, "{m:?} on {}: {}", e.describe(), sel.why);
            assert_eq!(sel.gap_suggested_k, Some(3), "{m:?}: gap statistic");
            let stab = sel
                .results
                .iter()
                .map(|r| r.stability.unwrap())
                .collect::<Vec<_>>();
            assert!(
                (stab[1] - 1.0).abs() < 1e-12,
                "{m:?}: k = 3 is stable: {stab:?}"
            );
            let r = sel.results.iter().find(|r| r.k == 3).unwrap();
            assert!(
                (adjusted_rand_index(&r.labels, &truth) - 1.0).abs() < 1e-12,
                "{m:?}"
            );
            if m == Method::Kmeans {
                kmeans_labels.push(
                    sel.results
                        .iter()
                        .map(|r| r.labels.clone())
                        .collect::<Vec<_>>(),
                );
            }
        }
    }
    if kmeans_labels.len() == 2 {
        assert_eq!(
            kmeans_labels[0], kmeans_labels[1],
            "same seed, same labels on both backends, every k"
        );
    }
}

#[test]
fn hdbscan_finds_the_blobs_and_leaves_far_points_out_as_noise() {
    let (mut x, truth) = blobs(120, 3, 3, 1.0, 5);
    // Two far outliers.
    let far = ndarray::array![[60.0f32, -60.0, 60.0], [-70.0, 65.0, -60.0]];
    x.append(ndarray::Axis(0), far.view()).unwrap();
    let sel = cluster_over_k(
        &Engine::cpu(),
        x.view(),
        Method::Hdbscan,
        &[],
        &SelectOptions::default(),
    )
    .unwrap();
    assert_eq!(sel.chosen_k, 3, "{}", sel.why);
    let r = &sel.results[0];
    assert_eq!(r.noise, 2);
    assert_eq!(&r.labels[120..], &[NOISE, NOISE]);
    assert!((adjusted_rand_index(&r.labels[..120], &truth) - 1.0).abs() < 1e-12);
    // Scores are computed on the clustered points only.
    assert!(r.silhouette > 0.5 && r.silhouette.is_finite());
}

#[test]
fn methods_agree_on_clean_blobs_and_the_table_is_symmetric() {
    let (x, _) = blobs(150, 4, 3, 1.0, 9);
    let ag = method_agreement(&Engine::cpu(), x.view(), 3, &SelectOptions::default()).unwrap();
    assert_eq!(ag.methods.len(), Method::ALL.len(), "{:?}", ag.skipped);
    for a in 0..ag.methods.len() {
        for b in 0..ag.methods.len() {
            assert_eq!(ag.ari[a][b], ag.ari[b][a]);
            assert!(
                (ag.ari[a][b] - 1.0).abs() < 1e-9,
                "{:?} vs {:?}",
                ag.methods[a],
                ag.methods[b]
            );
        }
    }
}

#[test]
fn k_ranges_parse_and_reject_nonsense() {
    assert_eq!(parse_k_range("2..5").unwrap(), vec![2, 3, 4, 5]);
    assert_eq!(parse_k_range("3").unwrap(), vec![3]);
    assert_eq!(parse_k_range("2,4,8").unwrap(), vec![2, 4, 8]);
    assert!(parse_k_range("5..2").is_err() && parse_k_range("a").is_err());
    let (x, _) = blobs(10, 2, 2, 1.0, 1);
    let e = cluster_over_k(
        &Engine::cpu(),
        x.view(),
        Method::Kmeans,
        &[2, 10],
        &SelectOptions::default(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("k = 10"), "{e}");
}

fn tempdir(tag: &str) -> common::TestDir {
    common::tempdir(&format!("cluster-{tag}"))
}

fn superion(args: &[&str]) -> std::process::Output {
    common::no_panic(
        Command::new(env!("CARGO_BIN_EXE_superion"))
            .args(args)
            .env("SUPERION_BACKEND", "cpu")
            .output()
            .unwrap(),
    )
}

#[test]
fn cluster_cli_writes_labels_and_scores() {
    let dir = tempdir("cli");
    let (x, _) = blobs(60, 2, 3, 1.0, 3);
    let mut csv = String::from("name,a,b,comment\n");
    for (i, r) in x.outer_iter().enumerate() {
        csv.push_str(&format!("m{i},{},{},text\n", r[0], r[1]));
    }
    let table = dir.join("t.csv");
    std::fs::write(&table, &csv).unwrap();
    let out = dir.join("out");
    let o = superion(&[
        "cluster",
        table.to_str().unwrap(),
        "--k",
        "2..4",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("chosen k = 3"));
    let labels = std::fs::read_to_string(out.join("labels.csv")).unwrap();
    assert!(
        labels.starts_with("id,label,label_k2,label_k3,label_k4\nm0,"),
        "{labels}"
    );
    assert_eq!(labels.lines().count(), 61);
    let scores = std::fs::read_to_string(out.join("scores.csv")).unwrap();
    assert!(scores.starts_with(
        "k,inertia,silhouette,calinski_harabasz,davies_bouldin,gap,gap_s,stability,noise\n2,"
    ));
    for f in [
        "silhouette.svg",
        "scores.svg",
        "scatter.svg",
        "agreement.svg",
        "agreement.csv",
    ] {
        assert!(out.join(f).is_file(), "{f}");
    }
    let agreement = std::fs::read_to_string(out.join("agreement.csv")).unwrap();
    assert!(
        agreement.starts_with(
            "method,kmeans,ward,complete,average,single,spectral,hdbscan\nkmeans,1.0000,"
        ),
        "{agreement}"
    );
    // HDBSCAN writes -1 for noise and one k.
    let o = superion(&[
        "cluster",
        table.to_str().unwrap(),
        "--method",
        "hdbscan",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("HDBSCAN found 3 cluster(s)"), "{stdout}");
    let labels = std::fs::read_to_string(out.join("labels.csv")).unwrap();
    assert!(labels.starts_with("id,label,label_k3\n"), "{labels}");
    // Every point is in a cluster or marked -1; nothing else.
    assert!(labels.lines().skip(1).all(|l| {
        let v: i64 = l.rsplit(',').next().unwrap().parse().unwrap();
        (-1..3).contains(&v)
    }));
    // Bad input: a non-numeric cell in a chosen column, an unknown column, k too large.
    std::fs::write(&table, csv.replacen("m5,", "m5,x", 1)).unwrap();
    let o = superion(&["cluster", table.to_str().unwrap(), "--columns", "a,b"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        common::failed_cleanly(&o) && err.contains("t.csv:7") && err.contains("\"a\""),
        "{err}"
    );
    let o = superion(&["cluster", table.to_str().unwrap(), "--columns", "zzz"]);
    assert!(
        common::failed_cleanly(&o)
            && String::from_utf8_lossy(&o.stderr).contains("no column \"zzz\"")
    );
    std::fs::write(&table, &csv).unwrap();
    let o = superion(&["cluster", table.to_str().unwrap(), "--k", "2..80"]);
    assert!(common::failed_cleanly(&o) && String::from_utf8_lossy(&o.stderr).contains("k = 60"));
}

#[test]
fn columns_and_rows_left_out_are_said_and_chosen() {
    use superion::io::table::{FeatureTableOptions, Missing, read_features};
    let dir = tempdir("columns");
    let table = dir.join("features.csv");
    let o = superion(&[
        "phonon",
        "features",
        concat!(env!("CARGO_MANIFEST_DIR"), "/data/phonopy"),
        "--legacy",
        "--out",
        table.to_str().unwrap(),
    ]);
    assert!(o.status.success());
    // Default: NaCl (no Li projection) left out as a row, the Li descriptors kept;
    // bookkeeping and text columns left out, each with its reason.
    let t = read_features(&table, &FeatureTableOptions::default()).unwrap();
    assert_eq!(t.ids.len(), 5);
    assert!(t.columns.iter().any(|c| c == "li_centre_thz"));
    assert!(t.columns.iter().any(|c| c == "legacy_fav"));
    assert!(
        !t.columns
            .iter()
            .any(|c| c == "n_sites" || c == "dos_integral")
    );
    let why = |c: &str| {
        t.dropped_columns
            .iter()
            .find(|d| d.0 == c)
            .map(|d| d.1.clone())
    };
    assert!(why("n_sites").unwrap().starts_with("bookkeeping"));
    assert!(why("anion").unwrap().starts_with("not numeric"));
    assert_eq!(t.dropped_rows.len(), 1);
    assert!(t.dropped_rows[0].0 == "NaCl" && t.dropped_rows[0].1.contains("li_centre_thz"));
    // Impute: every material, the gaps filled and counted.
    let imputed = read_features(
        &table,
        &FeatureTableOptions {
            missing: Missing::ImputeMean,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(imputed.ids.len(), 6);
    assert!(
        imputed
            .imputed
            .iter()
            .any(|(c, n)| c == "li_centre_thz" && *n == 1)
    );
    assert!(imputed.values.iter().all(|v| v.is_finite()));
    // Drop columns: every material, the Li columns left out and said so.
    let narrow = read_features(
        &table,
        &FeatureTableOptions {
            missing: Missing::DropColumns,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(narrow.ids.len(), 6);
    assert!(!narrow.columns.iter().any(|c| c.starts_with("li_")));
    assert!(
        narrow
            .dropped_columns
            .iter()
            .any(|(c, w)| c == "li_centre_thz" && w.contains("empty"))
    );
    // Bookkeeping on request.
    let all = read_features(
        &table,
        &FeatureTableOptions {
            bookkeeping: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert!(all.columns.iter().any(|c| c == "n_sites"));
    // The command line says it, and writes it into input.json.
    let out = dir.join("out");
    let o = superion(&[
        "cluster",
        table.to_str().unwrap(),
        "--k",
        "2..3",
        "--no-compare",
        "--gap-refs",
        "0",
        "--stability-runs",
        "0",
        "--out",
        out.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("material NaCl left out") && err.contains("column n_sites left out"),
        "{err}"
    );
    let input: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("input.json")).unwrap()).unwrap();
    assert_eq!(input["dropped_rows"][0][0], "NaCl");
    assert_eq!(input["missing"], "drop-rows");
}

#[test]
fn large_tables_leave_the_costly_extras_out_by_default_and_say_so() {
    let dir = tempdir("large");
    let (x, _) = blobs(2100, 3, 3, 1.0, 5);
    let mut csv = String::from("name,a,b,c\n");
    for (i, r) in x.outer_iter().enumerate() {
        csv.push_str(&format!("m{i},{},{},{}\n", r[0], r[1], r[2]));
    }
    let table = dir.join("t.csv");
    std::fs::write(&table, csv).unwrap();
    let t = table.to_str().unwrap();
    let o = superion(&["cluster", t, "--k", "2..3", "--n-init", "1", "--json"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("2100 materials (more than 2000): left out by default")
            && err.contains("--gap-refs 10")
            && err.contains("--compare"),
        "{err}"
    );
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(j["agreement"].is_null());
    assert!(j["selection"]["results"][0]["gap"].is_null());
    assert_eq!(j["options"]["gap_refs"], 0);
    // Asked for, they run, and nothing is said.
    let o = superion(&[
        "cluster",
        t,
        "--k",
        "2..3",
        "--n-init",
        "1",
        "--gap-refs",
        "2",
        "--stability-runs",
        "0",
        "--json",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(j["selection"]["results"][0]["gap"].is_number(), "{err}");
    assert!(
        err.contains("the method comparison") && !err.contains("gap statistic"),
        "{err}"
    );
}

#[test]
fn analyse_reports_the_extras_with_estimates_and_gives_the_same_answer() {
    use superion::cluster::select::{Analysis, ClusterEvent, analyse};
    let (x, _) = blobs(150, 4, 3, 1.0, 11);
    let opts = SelectOptions {
        gap_refs: 3,
        stability_runs: 2,
        ..Default::default()
    };
    let mut log: Vec<String> = Vec::new();
    let Analysis {
        selection,
        agreement,
    } = analyse(
        &Engine::cpu(),
        x.view(),
        Method::Kmeans,
        &[2, 3, 4],
        &opts,
        true,
        &mut |e| {
            log.push(match e {
                ClusterEvent::Clustered { extras, .. } => {
                    assert!(extras.iter().all(|(_, s)| s.is_finite() && *s >= 0.0));
                    let names: Vec<&str> = extras.iter().map(|(w, _)| w.as_str()).collect();
                    format!("estimate {}", names.join(" | "))
                }
                ClusterEvent::Step { what, done, total } => format!("{what} {done}/{total}"),
                ClusterEvent::Finished { what, .. } => format!("{what} done"),
            })
        },
    )
    .unwrap();
    assert_eq!(
        log[0],
        "estimate the gap statistic (3 reference sets) | the stability score (2 runs) | the method comparison (7 methods at one k)"
    );
    for want in [
        "the gap statistic 0/1",
        "the gap statistic done",
        "the stability score 0/2",
        "the stability score 1/2",
        "the stability score done",
        "the method comparison 0/7",
        "the method comparison 6/7",
        "the method comparison done",
    ] {
        assert!(log.iter().any(|l| l == want), "{want} missing from {log:?}");
    }
    // The same results as the two calls it stands for.
    let plain =
        cluster_over_k(&Engine::cpu(), x.view(), Method::Kmeans, &[2, 3, 4], &opts).unwrap();
    assert_eq!(plain.chosen_k, selection.chosen_k);
    for (a, b) in plain.results.iter().zip(&selection.results) {
        assert_eq!(a.labels, b.labels);
        assert_eq!(a.gap, b.gap);
        assert_eq!(a.stability, b.stability);
    }
    let ag = method_agreement(&Engine::cpu(), x.view(), selection.chosen_k, &opts).unwrap();
    assert_eq!(ag.ari, agreement.unwrap().ari);
}
