//! Clustering a feature table over k: parity with the original study's Ward labels,
//! known answers on generated blobs, both backends, the command line and bad input.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{blobs, gpu};
use superion::Engine;
use superion::cluster::kmeans::KMeansParams;
use superion::cluster::scores::adjusted_rand_index;
use superion::cluster::select::{Method, cluster_over_k, parse_k_range};
use superion::io::table::read_table;

fn urop() -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/urop");
    if p.is_dir() {
        Some(p)
    } else {
        eprintln!("../shared/data is absent: skipping parity with the original study");
        None
    }
}

#[test]
fn ward_reproduces_the_original_study_labels_and_cophenetic_correlations() {
    let Some(dir) = urop() else { return };
    for (file, id, coph) in [
        ("clustering_small.csv", "task_id", Some((0.664, 0.634))),
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
                0,
                &KMeansParams::default(),
            )
            .unwrap();
            let ari = adjusted_rand_index(&sel.results[0].labels, &want);
            assert!((ari - 1.0).abs() < 1e-12, "{file} {col}: ARI {ari}");
            if let Some(c) = c {
                let got = sel.cophenetic_correlation.unwrap();
                assert!(
                    (got - c).abs() < 1e-3,
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
        ] {
            let sel = cluster_over_k(
                e,
                x.view(),
                m,
                &[2, 3, 4, 5, 6],
                11,
                &KMeansParams::default(),
            )
            .unwrap();
            assert_eq!(sel.chosen_k, 3, "{m:?} on {}: {}", e.describe(), sel.why);
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
        0,
        &KMeansParams::default(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("k = 10"), "{e}");
}

fn tempdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("superion-cluster-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn superion(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_superion"))
        .args(args)
        .env("SUPERION_BACKEND", "cpu")
        .output()
        .unwrap()
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
    assert!(scores.starts_with("k,inertia,silhouette,calinski_harabasz,davies_bouldin\n2,"));
    // Bad input: a non-numeric cell in a chosen column, an unknown column, k too large.
    std::fs::write(&table, csv.replacen("m5,", "m5,x", 1)).unwrap();
    let o = superion(&["cluster", table.to_str().unwrap(), "--columns", "a,b"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("t.csv:7") && err.contains("\"a\""),
        "{err}"
    );
    let o = superion(&["cluster", table.to_str().unwrap(), "--columns", "zzz"]);
    assert!(
        !o.status.success() && String::from_utf8_lossy(&o.stderr).contains("no column \"zzz\"")
    );
    std::fs::write(&table, &csv).unwrap();
    let o = superion(&["cluster", table.to_str().unwrap(), "--k", "2..80"]);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("k = 60"));
}
