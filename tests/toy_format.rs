//! A format added in one file: `src/io/toy.rs` and one line in the reader registry,
//! compiled with the `toy-format` feature (the README's test command runs this file
//! with it). Nothing else in superion names the toy format, yet the CLI detects it by
//! name and by content, takes `--format toy`, lists it in `--help`, applies the shared
//! frame-range and time rules, and runs `traj msd` on it in memory and streamed.
#![cfg(feature = "toy-format")]

mod common;

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

const N: usize = 12; // 6 Li, 6 S
const T: usize = 120;
const DT_FS: f64 = 2.0;

/// A random walk (common::walk) as a toy trajectory, and the walk's true displacements.
fn write_toy(path: &Path) -> ndarray::Array3<f64> {
    let w = common::walk(T, N, 0.3, true, false, 7);
    let cell: [[f64; 3]; 3] =
        std::array::from_fn(|i| std::array::from_fn(|j| w.cells[[0, i, j]] as f64));
    let mut s = String::from("TOYTRAJ 1\ncell");
    for r in &cell {
        for v in r {
            write!(s, " {v}").unwrap();
        }
    }
    s.push('\n');
    for f in 0..T {
        writeln!(s, "frame {}", f as f64 * DT_FS).unwrap();
        for a in 0..N {
            let fr = [0, 1, 2].map(|ax| w.frac[[f, a, ax]] as f64);
            let x = common::mat_vec(fr, &cell);
            let sp = if a < N / 2 { "Li" } else { "S" };
            writeln!(s, "{sp} {:.9} {:.9} {:.9}", x[0], x[1], x[2]).unwrap();
        }
    }
    std::fs::write(path, s).unwrap();
    w.truth
}

fn superion(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_superion"))
        .arg("--backend")
        .arg("cpu")
        .args(args)
        .output()
        .unwrap()
}

fn msd_json(args: &[&str]) -> serde_json::Value {
    let o = superion(args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn a_format_in_one_file_reaches_every_front_end() {
    let dir = common::tempdir("toy-format");
    let toy = dir.join("walk.toy");
    let truth = write_toy(&toy);
    let p = toy.to_str().unwrap();
    // By name, with the time between frames from the file's frame times.
    let by_name = msd_json(&["traj", "msd", p, "--no-drift", "--json"]);
    assert_eq!(by_name["n_frames"], T);
    assert_eq!(by_name["n_atoms"], N / 2);
    assert_eq!(by_name["dt_ps"], DT_FS / 1000.0);
    // The MSD is the walk's: against the true displacements, every lag and origin.
    for point in by_name["msd"].as_array().unwrap().iter().take(40) {
        let lag = (point["dt_ps"].as_f64().unwrap() * 1000.0 / DT_FS).round() as usize;
        let mut want = 0.0;
        for a in 0..N / 2 {
            for t0 in 0..T - lag {
                for ax in 0..3 {
                    want += (truth[[t0 + lag, a, ax]] - truth[[t0, a, ax]]).powi(2);
                }
            }
        }
        want /= ((N / 2) * (T - lag)) as f64;
        let got = point["msd_a2"].as_f64().unwrap();
        assert!(
            common::close(got, want, 1e-4, 1e-6),
            "lag {lag}: {got} vs {want}"
        );
    }
    // By content (a name that says nothing), and by --format (any case).
    let plain = dir.join("walk.dat");
    std::fs::copy(&toy, &plain).unwrap();
    let by_content = msd_json(&[
        "traj",
        "msd",
        plain.to_str().unwrap(),
        "--no-drift",
        "--json",
    ]);
    let by_option = msd_json(&[
        "traj",
        "msd",
        plain.to_str().unwrap(),
        "--format",
        "TOY",
        "--no-drift",
        "--json",
    ]);
    let strip = |mut v: serde_json::Value| {
        v.as_object_mut().unwrap().remove("file");
        v
    };
    assert_eq!(strip(by_content.clone()), strip(by_name.clone()));
    assert_eq!(strip(by_option), strip(by_content));
    // Streamed: the same numbers, bit for bit.
    let streamed = msd_json(&["traj", "msd", p, "--no-drift", "--memory", "1M", "--json"]);
    assert_eq!(streamed, by_name);
    // The shared frame-range rule: frames 10, 12, ..., 98; their time from the file.
    let range = msd_json(&[
        "traj", "msd", p, "--start", "10", "--stop", "100", "--every", "2", "--json",
    ]);
    assert_eq!(range["n_frames"], 45);
    assert_eq!(range["dt_ps"], 2.0 * DT_FS / 1000.0);
    // Listed in --help, with the registry's other formats.
    let help = String::from_utf8(superion(&["traj", "msd", "--help"]).stdout).unwrap();
    assert!(help.contains("toy") && help.contains("xdatcar"), "{help}");
    // A bad line: the file, the line and what was expected.
    let bad = dir.join("bad.toy");
    let text = std::fs::read_to_string(&toy)
        .unwrap()
        .replacen("Li ", "Li x ", 1);
    std::fs::write(&bad, text).unwrap();
    let o = superion(&["traj", "msd", bad.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(common::failed_cleanly(&o), "{err}");
    assert!(
        err.contains("bad.toy:4:") && err.contains("3 finite coordinates"),
        "{err}"
    );
}
