//! Validation against measured conductivities on generated tables with known answers:
//! perfect and absent rank correlation, censored values, composition parsing and
//! matching, a table of another layout through the column options, and the CLI.

mod common;

use std::path::{Path, PathBuf};

use superion::validate::{
    ColumnNames, ValidateOptions, match_tables, read_conductivities, read_features, validate,
};

fn tempdir(name: &str) -> common::TestDir {
    common::tempdir(&format!("validate-{name}"))
}

const FORMULAS: [&str; 8] = ["Li2O", "LiF", "Li3N", "LiCl", "Li2S", "LiBr", "LiI", "Li3P"];

/// Features: `up` rises with the conductivity's rank, `none` has ρ = 0 by construction,
/// `down` falls; one unstable row; one row without a measurement.
fn features(dir: &Path) -> PathBuf {
    // Ranks of `none` against the σ order: Σd² = n(n²−1)/6 gives ρ = 0 (n = 8: 84).
    let none = [2.0, 8.0, 5.0, 4.0, 1.0, 7.0, 6.0, 3.0];
    let mut s = String::from("id,formula,unstable,up,none,down,n_sites\n");
    for (i, f) in FORMULAS.iter().enumerate() {
        s.push_str(&format!(
            "mp-{i},{f},{},{},{},{},{}\n",
            i == 2,
            i as f64 * 1.5,
            none[i],
            10.0 - i as f64,
            4
        ));
    }
    s.push_str("mp-99,Li2Se,false,1,1,1,4\n");
    let p = dir.join("features.csv");
    std::fs::write(&p, s).unwrap();
    p
}

/// OBELiX's layout: conductivities rising with the row, one upper limit, one duplicate
/// composition (the higher value is kept), a fractional and a hydrate composition.
fn obelix_like(dir: &Path) -> PathBuf {
    let mut s = String::from(
        "ID,Reduced Composition,Z,True Composition,Ionic conductivity (S cm-1),Family\n",
    );
    for (i, f) in FORMULAS.iter().enumerate() {
        let sigma = if i == 0 {
            "<1E-10".to_string()
        } else {
            format!("{:e}", 10f64.powf(-10.0 + i as f64))
        };
        // OBELiX writes amounts with decimals.
        let written = superion::phonon::composition::parse_formula(f)
            .unwrap()
            .iter()
            .map(|(e, n)| format!("{e}{n:.1}"))
            .collect::<String>();
        s.push_str(&format!("x{i},{written},1,{written},{sigma},halide\n"));
    }
    s.push_str("dup,LiF,1,LiF,1e-12,halide\n");
    s.push_str("frac,Li6.4La3Zr1.4Ta0.6O12,1,x,1e-3,garnet\n");
    s.push_str("hyd,LiOH·H2O,1,x,1e-9,hydrate\n");
    s.push_str("bad,LiAlO2,1,x,n/a,oxide\n");
    let p = dir.join("obelix.csv");
    std::fs::write(&p, s).unwrap();
    p
}

#[test]
fn perfect_absent_and_inverse_rank_correlations() {
    let dir = tempdir("ranks");
    let fs = read_features(&features(&dir)).unwrap();
    assert_eq!(
        fs.descriptors
            .iter()
            .map(|d| d.0.as_str())
            .collect::<Vec<_>>(),
        vec!["up", "none", "down"],
        "bookkeeping columns (n_sites) are not descriptors"
    );
    let t = read_conductivities(&obelix_like(&dir), &ColumnNames::default()).unwrap();
    assert_eq!(t.conductivity_column, "Ionic conductivity (S cm-1)");
    assert_eq!(t.measurements.len(), 11);
    assert_eq!(t.rejected.len(), 1, "the n/a value");
    assert!(t.measurements[0].censored && t.measurements[0].sigma_s_cm == 1e-10);
    let o = ValidateOptions {
        threshold_s_cm: 1e-5,
        bootstrap: 500,
        permutations: 1000,
        ..Default::default()
    };
    let v = validate(&fs, Path::new("features.csv"), &t, None, None, &o).unwrap();
    assert_eq!(v.matched_entries, 8);
    assert_eq!(v.censored, 1);
    // σ ≥ 1e-5: rows 5, 6, 7 (1e-5, 1e-4, 1e-3).
    assert_eq!(v.conductors, 3);
    let get = |d: &str, s: &str| {
        v.stats
            .iter()
            .find(|x| x.descriptor == d && x.subset == s)
            .unwrap()
    };
    let up = get("up", "all");
    assert_eq!(up.spearman, Some(1.0));
    assert_eq!(up.spearman_ci, Some((1.0, 1.0)));
    assert_eq!(up.kendall, Some(1.0));
    assert_eq!(up.roc_auc, Some(1.0));
    let none = get("none", "all");
    assert!(none.spearman.unwrap().abs() < 1e-12, "{:?}", none.spearman);
    let (lo, hi) = none.spearman_ci.unwrap();
    assert!(lo < 0.0 && hi > 0.0, "an interval around 0: {lo} {hi}");
    let down = get("down", "all");
    assert_eq!(down.spearman, Some(-1.0));
    assert_eq!(down.roc_auc, Some(0.0));
    // Without the unstable row.
    assert_eq!(get("up", "stable").n, 7);
    // The duplicate LiF keeps the higher value; the fractional and hydrate rows and the
    // feature row without a measurement are reported with reasons.
    let lif = v.matched.iter().find(|m| m.formula == "LiF").unwrap();
    assert_eq!((lif.sigma_s_cm, lif.measurements), (1e-9, 2));
    let reasons: Vec<(&str, &str)> = v
        .unmatched
        .iter()
        .map(|u| (u.text.as_str(), u.reason.as_str()))
        .collect();
    assert!(
        reasons
            .iter()
            .any(|(t, r)| t.starts_with("Li6.4") && r.contains("fractional")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|(t, r)| t.contains("H2O") && r.contains("hydrate")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|(t, r)| *t == "Li2Se" && r.contains("no measurement")),
        "{reasons:?}"
    );
    // Seeded: the same intervals again.
    let again = validate(&fs, Path::new("features.csv"), &t, None, None, &o).unwrap();
    let none_again = again
        .stats
        .iter()
        .find(|x| x.descriptor == "none" && x.subset == "all")
        .unwrap();
    assert_eq!(none_again.spearman_ci, none.spearman_ci);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn clusters_and_rankings_are_compared_with_random_selection() {
    let dir = tempdir("clusters");
    let fs = read_features(&features(&dir)).unwrap();
    let t = read_conductivities(&obelix_like(&dir), &ColumnNames::default()).unwrap();
    // Cluster "b" holds the three conductors and one more.
    let labels = (0..8)
        .map(|i| {
            (
                format!("mp-{i}"),
                if i >= 4 { "b" } else { "a" }.to_string(),
            )
        })
        .collect();
    let ranking: Vec<String> = (0..8).rev().map(|i| format!("mp-{i}")).collect();
    let o = ValidateOptions {
        threshold_s_cm: 1e-5,
        bootstrap: 200,
        permutations: 2000,
        top_k: 3,
        ..Default::default()
    };
    let v = validate(&fs, Path::new("f"), &t, Some(&labels), Some(&ranking), &o).unwrap();
    let b = v.clusters.iter().find(|c| c.cluster == "b").unwrap();
    assert_eq!((b.n, b.n_conductors), (4, 3));
    let e = v.cluster_enrichment.unwrap();
    assert_eq!((e.n, e.conductors), (4, 3));
    assert!((e.enrichment - 0.75 / (3.0 / 8.0)).abs() < 1e-12);
    let top = v.top_k_enrichment.unwrap();
    assert_eq!((top.n, top.conductors), (3, 3));
    // P(3 of 3 at random) = 1 / C(8, 3) = 1/56.
    assert!((top.p_value - 1.0 / 56.0).abs() < 0.01, "{}", top.p_value);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn another_layout_through_the_column_options() {
    let dir = tempdir("layout");
    let fs = read_features(&features(&dir)).unwrap();
    let p = dir.join("other.csv");
    let mut s = String::from("material;pretty_formula;sigma_rt\n");
    for (i, f) in FORMULAS.iter().enumerate() {
        s.push_str(&format!("m{i};{f};{}\n", 10f64.powf(-9.0 + i as f64)));
    }
    // Semicolons are not this reader's separator: rewrite as commas with odd names.
    let s = s.replace(';', ",");
    std::fs::write(&p, s).unwrap();
    let e = read_conductivities(&p, &ColumnNames::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("option conductivity_column") && e.contains("sigma_rt"),
        "{e}"
    );
    let cols = ColumnNames {
        composition: Some("pretty_formula".into()),
        id: Some("material".into()),
        conductivity: Some("sigma_rt".into()),
    };
    let t = read_conductivities(&p, &cols).unwrap();
    let (m, _) = match_tables(&fs, &t);
    assert_eq!(m.len(), 8);
    let v = validate(
        &fs,
        Path::new("f"),
        &t,
        None,
        None,
        &ValidateOptions::default(),
    )
    .unwrap();
    assert_eq!(
        v.stats
            .iter()
            .find(|x| x.descriptor == "up")
            .unwrap()
            .spearman,
        Some(1.0)
    );
    let wrong = ColumnNames {
        conductivity: Some("sigma".into()),
        ..Default::default()
    };
    let e = read_conductivities(&p, &wrong).unwrap_err().to_string();
    assert!(
        e.contains("no conductivity column \"sigma\"") && e.contains("other.csv:1"),
        "{e}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn cli_writes_the_tables_report_and_figures() {
    let dir = tempdir("cli");
    let f = features(&dir);
    let t = obelix_like(&dir);
    let out = dir.join("out");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_superion"))
        .args([
            "validate",
            f.to_str().unwrap(),
            "--conductivities",
            t.to_str().unwrap(),
        ])
        .args([
            "--threshold",
            "1e-5",
            "--bootstrap",
            "200",
            "--out",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("**8 entries (8 formulas)**"), "{stdout}");
    for name in [
        "validation.csv",
        "matched.csv",
        "unmatched.csv",
        "validation.json",
        "validation.md",
        "scatter.svg",
        "roc.svg",
    ] {
        assert!(out.join(name).is_file(), "{name}");
    }
    let csv = std::fs::read_to_string(out.join("validation.csv")).unwrap();
    assert!(csv.starts_with("descriptor,subset,n,n_conductors,n_censored,spearman,spearman_ci_low,spearman_ci_high,kendall_tau,roc_auc"));
    let matched = std::fs::read_to_string(out.join("matched.csv")).unwrap();
    assert!(matched.starts_with("id,formula,conductivity_s_cm,"));
    // A missing table is an error with exit code 1, not a panic.
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_superion"))
        .args([
            "validate",
            f.to_str().unwrap(),
            "--conductivities",
            "nothere.csv",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("nothere.csv"));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn screen_takes_its_known_conductors_from_the_table_and_validates() {
    let dir = tempdir("screen");
    // A screening table: the descriptor separates the three conductors.
    let mut s = String::from("id,formula,unstable,li_centre_thz,li_spread_thz\n");
    for (i, f) in FORMULAS.iter().enumerate() {
        let x = if i >= 5 {
            2.0 + 0.1 * i as f64
        } else {
            9.0 + 0.1 * i as f64
        };
        s.push_str(&format!("mp-{i},{f},false,{x},{}\n", 1.0 + 0.01 * i as f64));
    }
    let f = dir.join("table.csv");
    std::fs::write(&f, s).unwrap();
    let t = obelix_like(&dir);
    let out = dir.join("screening");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_superion"))
        .args([
            "--backend",
            "cpu",
            "screen",
            f.to_str().unwrap(),
            "--columns",
            "li_centre_thz,li_spread_thz",
        ])
        .args([
            "--conductivities",
            t.to_str().unwrap(),
            "--threshold",
            "1e-5",
            "--k",
            "2..3",
        ])
        .args(["--out", out.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(
        err.contains("known conductors from") && err.contains("3 compositions"),
        "{err}"
    );
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        report.contains("## Validation against measured conductivities"),
        "{report}"
    );
    for name in ["validation.csv", "scatter.svg", "roc.svg", "clusters.svg"] {
        assert!(out.join("validation").join(name).is_file(), "{name}");
    }
    let v: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("validation/validation.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(v["matched_entries"], 8);
    // The cluster of the three conductors holds them all.
    assert_eq!(v["cluster_enrichment"]["conductors"], 3);
    let _ = std::fs::remove_dir_all(dir);
}
