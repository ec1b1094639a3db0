//! Phonon DOS readers and descriptors: shipped fixtures, synthetic documents with
//! known answers, every kind of bad input, and (when `../shared/data` is present)
//! the real Materials Project / phonopy data with the reference figures.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use superion::Engine;
use superion::io::{mp_json, phonopy};
use superion::materials::{PhononInput, discover, read_all};
use superion::phonon::Dos;
use superion::phonon::descriptors::{FeatureOptions, FeatureRow, Value, features};
use superion::phonon::similarity::{Metric, similarity};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn shared() -> Option<PathBuf> {
    common::shared_data("", "the checks on the real reference DOS")
}

fn num(row: &FeatureRow, col: &str) -> f64 {
    row.get(col)
        .and_then(Value::num)
        .unwrap_or_else(|| panic!("no numeric column {col}"))
}

fn row_for(dos: &Dos) -> FeatureRow {
    features(dos, &FeatureOptions::default()).unwrap()
}

/// (folder, total centre, Li centre, Li weight, unstable): the table in data/README.md.
const PHONOPY_REF: &[(&str, f64, f64, f64, bool)] = &[
    ("Li2ZnGeO4", 11.775, 12.617, 0.255, false),
    ("Li3NbS4", 7.611, 9.018, 0.402, false),
    ("LiAl5O8", 14.308, 12.852, 0.072, false),
    ("LiCdBO3", 13.952, 12.478, 0.161, true),
    ("LiF", 9.248, 10.696, 0.499, false),
];

#[test]
fn shipped_phonopy_fixtures_match_the_reference_table() {
    for &(name, total, li, weight, unstable) in PHONOPY_REF {
        let dos = phonopy::read(&root().join("data/phonopy").join(name)).unwrap();
        let row = row_for(&dos);
        assert!(
            (num(&row, "total_centre_thz") - total).abs() < 0.01,
            "{name} total {}",
            num(&row, "total_centre_thz")
        );
        assert!(
            (num(&row, "li_centre_thz") - li).abs() < 0.01,
            "{name} Li {}",
            num(&row, "li_centre_thz")
        );
        assert!(
            (num(&row, "li_weight") - weight).abs() < 0.002,
            "{name} weight {}",
            num(&row, "li_weight")
        );
        assert_eq!(row.get("unstable"), Some(&Value::Bool(unstable)), "{name}");
        assert_eq!(row.get("formula"), Some(&Value::Text(name.to_string())));
    }
}

#[test]
fn a_material_without_li_keeps_its_row_with_empty_li_columns() {
    let dos = phonopy::read(&root().join("data/phonopy/NaCl")).unwrap();
    let row = row_for(&dos);
    assert!((num(&row, "total_centre_thz") - 4.075).abs() < 0.01);
    assert!(num(&row, "li_centre_thz").is_nan());
    assert!(
        row.warnings.iter().any(|w| w.contains("no Li sites")),
        "{:?}",
        row.warnings
    );
    assert!(
        dos.element_dos("Li")
            .unwrap_err()
            .to_string()
            .contains("no Li sites")
    );
}

// ---------- synthetic Materials Project documents ----------

/// A pymatgen CompletePhononDos document: two Li sites and one O site with Gaussian
/// bands at 12 and 15 THz, on a grid from -0.5 THz.
fn mp_doc(wrapped: bool, with_pdos: bool) -> String {
    let f: Vec<f64> = (0..=400).map(|i| -0.5 + i as f64 * 0.05).collect();
    let gauss = |c: f64| -> Vec<f64> {
        f.iter()
            .map(|x| 3.0 * (-(x - c).powi(2) / 0.5).exp() / (0.5 * std::f64::consts::PI).sqrt())
            .collect()
    };
    let (li, o) = (gauss(12.0), gauss(15.0));
    let total: Vec<f64> = li.iter().zip(&o).map(|(a, b)| 2.0 * a + b).collect();
    let site = |el: &str| serde_json::json!({"species": [{"element": el, "occu": 1}], "abc": [0, 0, 0], "label": el});
    let mut dos = serde_json::json!({
        "@module": "pymatgen.phonon.dos", "@class": "CompletePhononDos",
        "frequencies": f, "densities": total,
        "structure": {"sites": [site("Li"), site("O"), site("Li")]},
    });
    if with_pdos {
        dos["pdos"] = serde_json::json!([li, o, li]);
    }
    let doc = if wrapped {
        serde_json::json!({"phonon_dos": dos})
    } else {
        dos
    };
    serde_json::to_string(&doc).unwrap()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn gzip(text: &str) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(text.as_bytes()).unwrap();
    e.finish().unwrap()
}

fn tempdir(tag: &str) -> common::TestDir {
    common::tempdir(&format!("test-{tag}"))
}

#[test]
fn mp_documents_wrapped_bare_plain_and_gzipped_agree() {
    let dir = tempdir("mp");
    let a = mp_json::read(&write(
        &dir,
        "mp-1-Li2O1-mp.json",
        mp_doc(true, true).as_bytes(),
    ))
    .unwrap();
    let b = mp_json::read(&write(&dir, "mp-2.json.gz", &gzip(&mp_doc(false, true)))).unwrap();
    assert_eq!(a.id, "mp-1");
    assert_eq!(b.id, "mp-2");
    assert_eq!(a.formula(), "Li2O");
    let (ra, rb) = (row_for(&a), row_for(&b));
    // Gaussian bands at 12 THz (Li) and 15 THz (O): the band centres are the Gaussian centres.
    assert!(
        (num(&ra, "li_centre_thz") - 12.0).abs() < 1e-6,
        "{}",
        num(&ra, "li_centre_thz")
    );
    assert_eq!(ra.get("anion"), Some(&Value::Text("O".into())));
    assert!((num(&ra, "anion_centre_thz") - 15.0).abs() < 1e-6);
    assert!((num(&ra, "total_centre_thz") - 13.0).abs() < 1e-6);
    assert!((num(&ra, "li_weight") - 2.0 / 3.0).abs() < 1e-9);
    assert!(
        (num(&ra, "li_spread_thz") - 0.5).abs() < 1e-4,
        "σ² = 0.25 for exp(-x²/0.5)"
    );
    assert_eq!(
        ra.columns[1..],
        rb.columns[1..],
        "same numbers whatever the wrapping and compression"
    );
    // A bare PhononDos (no pdos): the total is described, Li columns stay empty.
    let c = mp_json::read(&write(&dir, "mp-3.json", mp_doc(false, false).as_bytes())).unwrap();
    let rc = row_for(&c);
    assert!((num(&rc, "total_centre_thz") - 13.0).abs() < 1e-6);
    assert!(num(&rc, "li_centre_thz").is_nan());
}

#[test]
fn folders_are_read_in_parallel_and_bad_files_reported_not_dropped() {
    let dir = tempdir("folder");
    for i in 0..20 {
        write(&dir, &format!("mp-{i}.json"), mp_doc(true, true).as_bytes());
    }
    write(
        &dir,
        "mp-99.json",
        b"{\"phonon_dos\": {\"frequencies\": [1, 2]",
    );
    let inputs = discover(&[dir.to_path_buf()]).unwrap();
    assert_eq!(inputs.len(), 21);
    let (ok, failed) = read_all(&inputs);
    assert_eq!(ok.len(), 20);
    assert_eq!(failed.len(), 1);
    assert!(failed[0].input.ends_with("mp-99.json"));
    assert!(
        failed[0].error.contains("mp-99.json:1:"),
        "{}",
        failed[0].error
    );
}

fn read_err(name: &str, text: &str) -> String {
    let dir = tempdir(&format!("bad-{}", name.replace('.', "")));
    mp_json::read(&write(&dir, name, text.as_bytes()))
        .unwrap_err()
        .to_string()
}

#[test]
fn malformed_mp_documents_name_the_file_and_field() {
    let doc =
        |f: &str, d: &str| format!(r#"{{"phonon_dos": {{"frequencies": {f}, "densities": {d}}}}}"#);
    let e = read_err("a.json", &doc("[1, 3, 2]", "[0, 1, 0]"));
    assert!(e.contains("a.json") && e.contains("not increasing"), "{e}");
    let e = read_err("b.json", &doc("[1, 2, 3]", "[0, 1]"));
    assert!(
        e.contains("densities") && e.contains("2 values for 3 frequencies"),
        "{e}"
    );
    let e = read_err("c.json", &doc("[1, 2, 3]", "[0, -1, 0]"));
    assert!(e.contains("negative density"), "{e}");
    let e = read_err("d.json", &doc("[1]", "[1]"));
    assert!(e.contains("at least 2"), "{e}");
    let e = read_err("e.json", "  \n");
    assert!(e.contains("empty"), "{e}");
    let e = read_err(
        "f.json",
        "{\n\"phonon_dos\": {\n\"frequencies\": [1, NaN]}}",
    );
    assert!(e.contains("f.json:3"), "the line of the bad token: {e}");
    let e = read_err("g.json", r#"{"phonon_dos": {"frequencies": [1, 2]}}"#);
    assert!(e.contains("phonon_dos") && e.contains("densities"), "{e}");
    let e = read_err(
        "h.json",
        r#"{"frequencies": [1, 2], "densities": [0, 1], "pdos": [[0, 1]], "structure": {"sites": [{"species": [{"element": "Li", "occu": 0.5}, {"element": "Na", "occu": 0.5}]}]}}"#,
    );
    assert!(
        e.contains("sites[0]") && e.contains("partially occupied"),
        "{e}"
    );
    let e = read_err(
        "i.json",
        r#"{"frequencies": [1, 2], "densities": [0, 1], "pdos": [[0, 1], [0, 1]], "structure": {"sites": [{"species": [{"element": "Li", "occu": 1}]}]}}"#,
    );
    assert!(e.contains("2 arrays for 1 sites"), "{e}");
}

#[test]
fn projections_that_do_not_sum_to_the_total_give_a_warning() {
    let dir = tempdir("sum");
    let text = r#"{"frequencies": [1, 2, 3], "densities": [0, 3, 0], "pdos": [[0, 1, 0]], "structure": {"sites": [{"species": [{"element": "Li", "occu": 1}]}]}}"#;
    let dos = mp_json::read(&write(&dir, "x.json", text.as_bytes())).unwrap();
    assert!(
        dos.warnings
            .iter()
            .any(|w| w.contains("differs from the total")),
        "{:?}",
        dos.warnings
    );
}

fn phonopy_dir(tag: &str, total: &str, pdos: Option<&str>, yaml: Option<&str>) -> common::TestDir {
    let dir = tempdir(tag);
    write(&dir, "total_dos.dat", total.as_bytes());
    if let Some(p) = pdos {
        write(&dir, "projected_dos.dat", p.as_bytes());
    }
    if let Some(y) = yaml {
        write(&dir, "phonopy.yaml", y.as_bytes());
    }
    dir
}

const YAML2: &str = "primitive_cell:\n  points:\n  - symbol: Li\n  - symbol: F\n";

#[test]
fn malformed_phonopy_folders_name_the_file_and_line() {
    let d = phonopy_dir("p1", "# comment\n1.0 0.5\n2.0 abc\n", None, None);
    let e = phonopy::read(&d).unwrap_err().to_string();
    assert!(
        e.contains("total_dos.dat:3") && e.contains("column 2") && e.contains("abc"),
        "{e}"
    );
    let d = phonopy_dir("p2", "1.0 0.5\n2.0 0.5 0.7\n", None, None);
    let e = phonopy::read(&d).unwrap_err().to_string();
    assert!(
        e.contains("total_dos.dat:2") && e.contains("expected 2 columns"),
        "{e}"
    );
    let d = phonopy_dir(
        "p3",
        "1 0\n2 1\n3 0\n",
        Some("1 0 0\n2 0.5 0.5\n3 0 0\n"),
        None,
    );
    let e = phonopy::read(&d).unwrap_err().to_string();
    assert!(
        e.contains("projected_dos.dat") && e.contains("phonopy.yaml"),
        "{e}"
    );
    let d = phonopy_dir(
        "p4",
        "1 0\n2 1\n3 0\n",
        Some("1 0 0 0\n2 0.3 0.3 0.4\n3 0 0 0\n"),
        Some(YAML2),
    );
    let e = phonopy::read(&d).unwrap_err().to_string();
    assert!(
        e.contains("3 projection columns") && e.contains("2 atoms"),
        "{e}"
    );
    let d = phonopy_dir(
        "p5",
        "1 0\n2 1\n3 0\n",
        Some("1 0 0\n2 0.5 0.5\n3 0 0\n"),
        Some("primitive_cell: [oops\n"),
    );
    let e = phonopy::read(&d).unwrap_err().to_string();
    assert!(
        e.contains("phonopy.yaml") && e.contains("not a phonopy yaml"),
        "{e}"
    );
}

#[test]
fn phonopy_pdos_groups_from_a_conf_file() {
    // Three atoms (Li, Li, F) projected as two groups: "1 2" (Li) and "3" (F).
    let yaml = "primitive_cell:\n  points:\n  - symbol: Li\n  - symbol: Li\n  - symbol: F\n";
    let d = phonopy_dir(
        "groups",
        "1 0\n2 1\n3 0\n",
        Some("1 0 0\n2 0.6 0.4\n3 0 0\n"),
        Some(yaml),
    );
    write(&d, "pdos.conf", b"MESH = 8 8 8\nPDOS = 1 2, 3\n");
    let dos = phonopy::read(&d).unwrap();
    assert_eq!(dos.projections.len(), 2);
    assert_eq!(dos.element_dos("Li").unwrap(), vec![0.0, 0.6, 0.0]);
    assert_eq!(dos.element_dos("F").unwrap(), vec![0.0, 0.4, 0.0]);
}

#[test]
fn wasserstein_of_a_shifted_dos_is_the_shift() {
    let dir = tempdir("sim");
    let f: Vec<f64> = (0..=600).map(|i| i as f64 * 0.05).collect();
    let band = |c: f64| -> Vec<f64> { f.iter().map(|x| (-(x - c).powi(2)).exp()).collect() };
    let mk = |id: &str, g: Vec<f64>| {
        let doc = serde_json::json!({"frequencies": f, "densities": g});
        mp_json::read(&write(
            &dir,
            &format!("{id}.json"),
            doc.to_string().as_bytes(),
        ))
        .unwrap()
    };
    let dos = vec![
        mk("mp-1", band(8.0)),
        mk("mp-2", band(10.5)),
        mk("mp-3", band(8.0)),
    ];
    let engines: Vec<Engine> = std::iter::once(Engine::cpu())
        .chain(
            (std::env::var("SUPERION_SKIP_GPU_TESTS").as_deref() != Ok("1"))
                .then(|| Engine::new(superion::BackendChoice::Gpu).unwrap()),
        )
        .collect();
    for e in engines {
        let w = similarity(&e, &dos, Metric::Wasserstein, 400, 30.0).unwrap();
        assert!(
            (w[[0, 1]] - 2.5).abs() < 0.01,
            "{}: {}",
            e.describe(),
            w[[0, 1]]
        );
        assert!(w[[0, 2]].abs() < 1e-3);
        let c = similarity(&e, &dos, Metric::Cosine, 300, 30.0).unwrap();
        assert!((c[[0, 2]] - 1.0).abs() < 1e-5 && c[[0, 1]] < 0.1, "{c:?}");
        let t = similarity(&e, &dos, Metric::Tanimoto, 300, 30.0).unwrap();
        assert!((t[[0, 2]] - 1.0).abs() < 1e-4 && t[[0, 1]] < 0.1, "{t:?}");
    }
}

// ---------- the command line ----------

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
fn features_cli_writes_the_documented_columns() {
    let out = tempdir("cli").join("features.csv");
    let o = superion(&[
        "phonon",
        "features",
        root().join("data/phonopy").to_str().unwrap(),
        "--legacy",
        "--dos-vector",
        "30",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(&out).unwrap();
    let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
    for col in [
        "id",
        "formula",
        "total_centre_thz",
        "li_centre_thz",
        "li_centre_300k_thz",
        "li_spread_thz",
        "li_weight",
        "imaginary_fraction",
        "unstable",
        "legacy_fav",
        "legacy_300",
        "cv_300k_kb_per_atom",
        "dos_0.500thz",
    ] {
        assert!(header.contains(&col), "missing column {col} in {header:?}");
    }
    assert_eq!(text.lines().count(), 7, "6 materials + header");
    assert!(String::from_utf8_lossy(&o.stderr).contains("NaCl: Li columns left empty"));
}

#[test]
fn strict_mode_fails_without_writing_and_bad_options_are_clear() {
    let dir = tempdir("strict");
    write(&dir, "mp-1.json", mp_doc(true, true).as_bytes());
    write(&dir, "mp-2.json", b"not json");
    let out = dir.join("out.csv");
    let o = superion(&[
        "phonon",
        "features",
        dir.to_str().unwrap(),
        "--strict",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(common::failed_cleanly(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("mp-2.json:1"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!out.exists(), "nothing written under --strict");
    let o = superion(&[
        "phonon",
        "features",
        dir.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success());
    assert_eq!(std::fs::read_to_string(&out).unwrap().lines().count(), 2);
    let o = superion(&[
        "phonon",
        "features",
        dir.to_str().unwrap(),
        "--element",
        "Xx",
    ]);
    assert!(common::usage_error(&o) && String::from_utf8_lossy(&o.stderr).contains("Xx"));
    let o = superion(&["phonon", "features", dir.join("nope").to_str().unwrap()]);
    assert!(common::failed_cleanly(&o) && String::from_utf8_lossy(&o.stderr).contains("nope"));
}

// ---------- the real data in ../shared/data ----------

#[test]
fn real_phonondb_folders_match_phonopy_reference() {
    let Some(data) = shared() else { return };
    // (folder, total centre, Li centre, Li weight, unstable)
    let refs = [
        ("phonondb-mp-1138", 9.994, 11.713, 0.500, false),
        ("phonondb-mp-1960", 13.196, 14.046, 0.667, false),
        ("phonondb-mp-2341", 12.336, 12.776, 0.750, true),
        ("phonondb-mp-985583", 8.613, 9.550, 0.377, true),
    ];
    for (name, total, li, w, unstable) in refs {
        let row = row_for(&phonopy::read(&data.join("phonopy-ref").join(name)).unwrap());
        assert!(
            (num(&row, "total_centre_thz") - total).abs() < 0.01,
            "{name}: {}",
            num(&row, "total_centre_thz")
        );
        assert!(
            (num(&row, "li_centre_thz") - li).abs() < 0.01,
            "{name}: {}",
            num(&row, "li_centre_thz")
        );
        assert!(
            (num(&row, "li_weight") - w).abs() < 0.002,
            "{name}: {}",
            num(&row, "li_weight")
        );
        assert_eq!(row.get("unstable"), Some(&Value::Bool(unstable)), "{name}");
    }
}

#[test]
fn real_mp_li2o_and_legacy_fav_parity_with_the_study() {
    let Some(data) = shared() else { return };
    let path = data.join("mp-phonon-dos/mp-1960-Li2O1-mp.json.gz");
    let dos = mp_json::read(&path).unwrap();
    let row = row_for(&dos);
    // The total centre computed here from the document itself (its "frequencies" and
    // "densities", trapezoid rule over positive frequencies), not by superion's reader.
    let doc: serde_json::Value = {
        use std::io::Read;
        let mut text = String::new();
        flate2::read::GzDecoder::new(std::fs::File::open(&path).unwrap())
            .read_to_string(&mut text)
            .unwrap();
        serde_json::from_str(&text).unwrap()
    };
    let nums = |k: &str| -> Vec<f64> {
        doc["phonon_dos"][k]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect()
    };
    let (f, g) = (nums("frequencies"), nums("densities"));
    let (mut num_, mut den) = (0.0, 0.0);
    for k in 1..f.len() {
        if f[k - 1] > 0.0 {
            let h = f[k] - f[k - 1];
            num_ += 0.5 * h * (f[k - 1] * g[k - 1] + f[k] * g[k]);
            den += 0.5 * h * (g[k - 1] + g[k]);
        }
    }
    let total = num_ / den;
    assert!(
        (num(&row, "total_centre_thz") - total).abs() < 1e-5,
        "{} vs {total} from the document",
        num(&row, "total_centre_thz")
    );
    assert!((total - 13.015).abs() < 0.001, "{total}");
    // The Li centre: the original study's f_av for Li2O (urop/data_small.csv, column
    // fav: 13.846461956741413).
    assert!(
        (num(&row, "li_centre_thz") - 13.846).abs() < 0.001,
        "{}",
        num(&row, "li_centre_thz")
    );
    // All 69 documents in one call; legacy columns equal the study's for every Li one.
    let inputs = discover(&[data.join("mp-phonon-dos")]).unwrap();
    assert_eq!(inputs.len(), 69);
    assert!(inputs.iter().all(|i| matches!(i, PhononInput::MpJson(_))));
    let (docs, failed) = read_all(&inputs);
    assert!(failed.is_empty(), "{failed:?}");
    let opts = FeatureOptions {
        legacy: true,
        temperatures_k: vec![298.0, 400.0, 900.0],
        ..Default::default()
    };
    let study = std::fs::read_to_string(data.join("urop/data_small.csv")).unwrap();
    let mut checked = 0;
    for d in &docs {
        let row = features(d, &opts).unwrap();
        let Some(line) = study
            .lines()
            .find(|l| l.split(',').nth(1) == Some(d.id.as_str()))
        else {
            continue;
        };
        let cols: Vec<f64> = line
            .split(',')
            .skip(3)
            .take(8)
            .map(|v| v.parse().unwrap())
            .collect();
        // data_small.csv: fav, 298, 400, 500, ..., 900
        for (col, want) in [
            ("legacy_fav", cols[0]),
            ("legacy_298", cols[1]),
            ("legacy_400", cols[2]),
            ("legacy_900", cols[7]),
        ] {
            let got = num(&row, col);
            assert!(
                (got / want - 1.0).abs() < 1e-6,
                "{} {col}: {got} vs {want}",
                d.id
            );
        }
        checked += 1;
    }
    assert_eq!(checked, 10, "the 10 Li documents are all in data_small.csv");
}

#[test]
fn failures_and_undefined_results_exit_non_zero_and_write_nothing() {
    let dir = tempdir("exit");
    // Every input failed: an error, not an empty table with exit 0.
    let bad = dir.join("bad");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(bad.join("x.json"), "junk").unwrap();
    let out = dir.join("features.csv");
    let o = superion(&[
        "phonon",
        "features",
        bad.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("none of the 1 input(s) could be read"),
        "{err}"
    );
    assert!(!out.exists());
    // A 1×1×1 mesh gives no DOS to describe: said, not printed as NaN descriptors.
    let dos_out = dir.join("dos111");
    let o = superion(&[
        "phonon",
        "dos",
        root().join("data/phonopy/NaCl").to_str().unwrap(),
        "--mesh",
        "1",
        "1",
        "1",
        "--out",
        dos_out.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("zero everywhere") && err.contains("--mesh"),
        "{err}"
    );
    assert!(!String::from_utf8_lossy(&o.stdout).contains("NaN"));
    assert!(!dos_out.join("dos.json").exists());
    // Descriptors without a value are "undefined" on the terminal (NaCl has no Li).
    let o = superion(&[
        "phonon",
        "show",
        root().join("data/phonopy/NaCl").to_str().unwrap(),
        "--out",
        dir.to_str().unwrap(),
    ]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success() && !out.contains("NaN") && out.contains("undefined"),
        "{out}"
    );
}

/// The DOS sum rule: a complete DOS of N sites integrates to 3N. The shipped LiF does
/// (24.11 for 8 sites); the same DOS scaled by 1.2 is flagged, with its ratio.
#[test]
fn a_dos_that_does_not_integrate_to_3n_is_flagged() {
    let dos = phonopy::read(&root().join("data/phonopy/LiF")).unwrap();
    let row = row_for(&dos);
    assert!((num(&row, "dos_integral_per_3n") - 24.11 / 24.0).abs() < 2e-3);
    assert!(
        !row.warnings.iter().any(|w| w.contains("not 3N")),
        "{:?}",
        row.warnings
    );
    let mut scaled = dos.clone();
    scaled.total.iter_mut().for_each(|g| *g *= 1.2);
    for p in &mut scaled.projections {
        p.density.iter_mut().for_each(|g| *g *= 1.2);
    }
    let row = row_for(&scaled);
    assert!((num(&row, "dos_integral_per_3n") - 1.2 * 24.11 / 24.0).abs() < 3e-3);
    assert!(
        row.warnings
            .iter()
            .any(|w| w.contains("DOS integral not 3N") && w.contains("8 sites")),
        "{:?}",
        row.warnings
    );
}
