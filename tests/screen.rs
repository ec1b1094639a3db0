//! Screening and the demo, end to end through the command line.

mod common;

use std::process::Command;

fn tempdir(tag: &str) -> common::TestDir {
    common::tempdir(&format!("screen-{tag}"))
}

fn superion(cwd: &std::path::Path, args: &[&str]) -> std::process::Output {
    common::no_panic(
        Command::new(env!("CARGO_BIN_EXE_superion"))
            .current_dir(cwd)
            .args(args)
            .env("SUPERION_BACKEND", "cpu")
            .output()
            .unwrap(),
    )
}

#[test]
fn demo_writes_the_whole_report() {
    let dir = tempdir("demo");
    let o = superion(&dir, &["demo", "--out", "report"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("D(Li) in Li6PS5Cl = 1.35"), "{stdout}");
    for f in [
        "README.md",
        "diffusion/msd.svg",
        "diffusion/msd.csv",
        "screening/report.md",
        "screening/features.csv",
        "screening/labels.csv",
        "screening/scores.csv",
        "screening/candidates.csv",
        "screening/silhouette.svg",
        "screening/dendrogram.svg",
        "screening/scores.svg",
        "screening/scatter.svg",
        "screening/agreement.svg",
        "screening/agreement.csv",
        "hops/sites/events.csv",
        "hops/sites/DIFFUSION",
        "hops/sites/sites.csv",
        "hops/sites/sites.vasp",
        "hops/sites/sitemap.svg",
        "hops/sites/jump_types.svg",
        "hops/sites/descriptors.json",
        "hops/kmeans/events.csv",
        "hops/kmeans/hops.svg",
        "hops/kmeans/correlations.svg",
        "hops/iondiff/DIFFUSION",
    ] {
        let p = dir.join("report").join(f);
        assert!(
            p.is_file() && std::fs::metadata(&p).unwrap().len() > 100,
            "missing or empty {f}"
        );
    }
    let report = std::fs::read_to_string(dir.join("report/screening/report.md")).unwrap();
    assert!(
        report.contains("NaCl") && report.contains("no value for li_centre_thz"),
        "NaCl is reported as left out"
    );
    assert!(report.contains("Chosen k"));
    let index = std::fs::read_to_string(dir.join("report/README.md")).unwrap();
    assert!(
        index.contains("kmeans mode**: 10 hops on 9 of 192 Li ions"),
        "{index}"
    );
    // The default, site-based mode: most Li jump, and the jumps account for the MSD.
    assert!(index.contains("- **sites mode**: "), "{index}");
    assert!(
        index.contains("the jumps account for the diffusion"),
        "{index}"
    );
    assert!(
        index.contains("iondiff mode**: 10 hops on 9 of 192 Li ions"),
        "{index}"
    );
}

#[test]
fn screen_finds_known_conductors_by_formula_or_id_and_ranks_candidates() {
    let dir = tempdir("table");
    // Two groups in feature space; the known conductor (by formula) and an id-listed
    // material sit in group A.
    let mut csv = String::from("id,formula,unstable,a,b\n");
    for i in 0..12 {
        let (a, b) = if i < 6 {
            (1.0 + 0.01 * i as f64, 2.0)
        } else {
            (9.0 + 0.01 * i as f64, -3.0)
        };
        let formula = match i {
            0 => "Li12 P4 S16",
            _ => "Li2O",
        };
        csv.push_str(&format!("m{i},{formula},{},{a},{b}\n", i == 3));
    }
    std::fs::write(dir.join("t.csv"), &csv).unwrap();
    let o = superion(
        &dir,
        &[
            "screen",
            "t.csv",
            "--columns",
            "a,b",
            "--k",
            "2..4",
            "--known",
            "Li3PS4,m1",
            "--out",
            "out",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let cands = std::fs::read_to_string(dir.join("out/candidates.csv")).unwrap();
    let lines: Vec<&str> = cands.lines().collect();
    assert_eq!(
        lines[0],
        "rank,id,formula,cluster,distance,nearest_known,unstable"
    );
    assert_eq!(
        lines.len(),
        1 + 4,
        "the other 4 members of group A: {cands}"
    );
    assert!(lines.iter().skip(1).all(|l| {
        ["m2", "m3", "m4", "m5"]
            .iter()
            .any(|id| l.contains(&format!(",{id},")))
    }));
    assert!(
        cands.contains(",m3,Li2O,")
            && cands
                .lines()
                .any(|l| l.contains(",m3,") && l.ends_with(",true")),
        "unstable flag carried"
    );
    let report = std::fs::read_to_string(dir.join("out/report.md")).unwrap();
    assert!(
        report.contains("| m0 | Li3PS4 |"),
        "matched by reduced composition: {report}"
    );
    // Nothing known among the inputs: said plainly, no candidates.
    let o = superion(
        &dir,
        &[
            "screen",
            "t.csv",
            "--columns",
            "a,b",
            "--k",
            "2",
            "--known",
            "Li7La3Zr2O12",
            "--out",
            "none",
        ],
    );
    assert!(o.status.success());
    assert!(
        std::fs::read_to_string(dir.join("none/report.md"))
            .unwrap()
            .contains("None of them is among the inputs")
    );
    // Bad input.
    let o = superion(&dir, &["screen", "t.csv", "--columns", "a,zz"]);
    assert!(
        common::failed_cleanly(&o)
            && String::from_utf8_lossy(&o.stderr).contains("no column \"zz\"")
    );
    let o = superion(&dir, &["screen", "t.csv", "--columns", "a,b", "--k", "20"]);
    assert!(
        common::failed_cleanly(&o)
            && String::from_utf8_lossy(&o.stderr).contains("at least the number of materials")
    );
}

#[test]
fn screen_on_the_study_table_finds_the_known_conductors() {
    let Some(urop) = common::shared_data("urop", "the screening of the study's 873 materials")
    else {
        return;
    };
    let table = urop.join("data_big.csv");
    let dir = tempdir("big");
    let o = superion(
        &dir,
        &[
            "screen",
            table.to_str().unwrap(),
            "--id",
            "material_id",
            "--columns",
            "fav,298",
            "--out",
            "out",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let report = std::fs::read_to_string(dir.join("out/report.md")).unwrap();
    for id in ["mp-985583", "mp-2341", "mp-696128"] {
        assert!(
            report.contains(&format!("| {id} |")),
            "{id} (Li3PS4, Li3N, Li10GeP2S12) among the known: {report}"
        );
    }
    assert!(report.contains("Not among the inputs: Li7La3Zr2O12"));
}

/// A screening whose answer is known: three far-apart groups in two features, two
/// known conductors in one of them. The candidates must be exactly the other members of
/// that group, ranked by the distance (computed here, naively) to the nearest known
/// conductor, which is named; the other groups contribute none.
#[test]
fn the_ranking_follows_the_distance_to_the_nearest_known_conductor() {
    use ndarray::Array2;
    use superion::Engine;
    use superion::cluster::select::Method;
    use superion::screen::{Materials, parse_known, screen};
    // Group A around (0, 0) holds the known conductors Li3N at (0, 0) and Li2S at (1, 0).
    let group_a: [(&str, f64, f64); 7] = [
        ("Li3N", 0.0, 0.0),
        ("Li2S", 1.0, 0.0),
        ("Li3P", 0.1, 0.3),  // 0.316 from Li3N
        ("LiBr", 1.2, 0.1),  // 0.224 from Li2S
        ("LiCl", 0.5, 0.9),  // 1.030 from Li3N, 1.030 from Li2S: the id breaks the tie
        ("LiI", -0.6, -0.2), // 0.632 from Li3N
        ("Li2Se", 1.9, 0.4), // 0.985 from Li2S
    ];
    let mut rows: Vec<(String, f64, f64)> = group_a
        .iter()
        .map(|(f, a, b)| (f.to_string(), *a, *b))
        .collect();
    for (g, (cx, cy)) in [(40.0, 0.0), (0.0, 40.0)].iter().enumerate() {
        for i in 0..6 {
            let f = [
                "NaCl", "KCl", "MgO", "CaO", "ZnS", "SrO", "BaO", "CsI", "RbF", "AgI", "CuBr",
                "TlCl",
            ][g * 6 + i];
            rows.push((f.into(), cx + 0.3 * i as f64, cy - 0.2 * i as f64));
        }
    }
    let m = Materials {
        ids: rows.iter().map(|r| format!("id-{}", r.0)).collect(),
        formulas: rows.iter().map(|r| r.0.clone()).collect(),
        unstable: vec![false; rows.len()],
        columns: vec!["a".into(), "b".into()],
        values: Array2::from_shape_fn(
            (rows.len(), 2),
            |(i, j)| if j == 0 { rows[i].1 } else { rows[i].2 },
        ),
    };
    let known = parse_known(Some("Li3N,Li2S")).unwrap();
    let s = screen(
        &Engine::cpu(),
        &m,
        &known,
        Method::Kmeans,
        &[2, 3, 4, 5],
        0,
        false,
    )
    .unwrap();
    assert_eq!(s.selection.chosen_k, 3, "{}", s.selection.why);
    assert_eq!(s.known_rows.len(), 2);
    // The expected ranking, computed directly.
    let knowns = [(0.0f64, 0.0f64, "Li3N"), (1.0, 0.0, "Li2S")];
    let mut want: Vec<(f64, String, &str)> = group_a[2..]
        .iter()
        .map(|(f, a, b)| {
            let (d, k) = knowns
                .iter()
                .map(|(x, y, k)| (((a - x).powi(2) + (b - y).powi(2)).sqrt(), *k))
                .min_by(|p, q| p.0.total_cmp(&q.0))
                .unwrap();
            (d, format!("id-{f}"), k)
        })
        .collect();
    want.sort_by(|p, q| p.0.total_cmp(&q.0).then(p.1.cmp(&q.1)));
    let got: Vec<&str> = s.candidates.iter().map(|c| c.id.as_str()).collect();
    let want_ids: Vec<&str> = want.iter().map(|w| w.1.as_str()).collect();
    assert_eq!(got, want_ids, "candidates in order of distance");
    for (c, (d, _, k)) in s.candidates.iter().zip(&want) {
        assert!(
            (c.distance - d).abs() < 1e-5,
            "{}: {} vs {d}",
            c.id,
            c.distance
        );
        // At a tie either known is the nearest; elsewhere the one computed here.
        if c.id != "id-LiCl" {
            assert!(
                c.nearest_known.starts_with(k),
                "{}: {} vs {k}",
                c.id,
                c.nearest_known
            );
        }
    }
    assert_eq!(
        s.candidates.iter().map(|c| c.rank).collect::<Vec<_>>(),
        (1..=5).collect::<Vec<_>>()
    );
}
