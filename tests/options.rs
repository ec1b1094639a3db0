//! Every value-taking option of every analysis command, given absurd values (issue 31):
//! the option list is read from each command's `--help`, so a new option is tried the
//! day it is added. Each run must finish (20 s), exit 0, 1 or 2 without panic text,
//! and a NaN or an infinity given to a number option must be refused, never used.
//! A table of outcomes by command goes to `target/tmp/options-table.md`.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Options that name files, folders, formats or choices: not numbers, tried elsewhere.
const NOT_NUMBERS: &[&str] = &[
    "--out",
    "--backend",
    "--format",
    "--type-map",
    "--topology",
    "--sites",
    "--conductivities",
    "--known",
    "--labels",
    "--ranking",
    "--train",
    "--test",
    "--then",
    "--scratch",
    "--compare",
    "--species",
    "--element",
    "--id",
    "--method",
    "--mode",
    "--init",
    "--axes",
    "--grid",
    "--framework",
    "--lags",
    "--k",
    "--columns",
    "--id-column",
    "--composition-column",
    "--conductivity-column",
    "--label-radius",
];

const VALUES: &[&str] = &["nan", "inf", "-1", "0", "1e12", "4294967297", "1e308"];

/// `(option, how many values it takes)` for every option of `cmd --help` that takes
/// values.
fn options(cmd: &[&str]) -> Vec<(String, usize)> {
    let out = Command::new(env!("CARGO_BIN_EXE_superion"))
        .args(cmd)
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout).to_string();
    let mut v = Vec::new();
    for line in help.lines() {
        let t = line.trim_start();
        let t = t.strip_prefix("-h, ").unwrap_or(t);
        let t = if t.len() > 4 && t.starts_with('-') && t.as_bytes()[2] == b',' {
            &t[4..]
        } else {
            t
        };
        let Some(rest) = t.strip_prefix("--") else {
            continue;
        };
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        let after = &rest[name.len()..];
        let arity = after
            .split_whitespace()
            .take_while(|w| w.starts_with('<'))
            .count();
        let name = format!("--{name}");
        if arity > 0 && !NOT_NUMBERS.contains(&name.as_str()) {
            v.push((name, arity));
        }
    }
    v
}

fn run(args: &[String], dir: &Path) -> (Option<i32>, String, f64) {
    let t0 = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_superion"))
        .args(args)
        .current_dir(dir)
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let limit = Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            use std::io::Read;
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            return (status.code(), err, t0.elapsed().as_secs_f64());
        }
        if t0.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return (Some(124), "hung".into(), t0.elapsed().as_secs_f64());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn absurd_values_of_every_option_are_refused_or_bounded_never_panic_or_hang() {
    let dir = common::tempdir("options");
    let d = |p: &str| root().join(p).display().to_string();
    let walk = d("data/ase/walk.extxyz");
    let table = dir.join("f.csv");
    let mut csv = String::from("id,a,b,c\n");
    for i in 0..30u32 {
        let x = |s: u32| ((i * 2654435761u32.wrapping_add(s)) % 1000) as f64 / 1000.0;
        csv += &format!("m{i},{},{},{}\n", x(1), x(7), x(13));
    }
    std::fs::write(&table, csv).unwrap();
    let list = dir.join("runs.list");
    std::fs::write(&list, format!("{walk} walk 300\n")).unwrap();
    let traj = vec![
        walk.clone(),
        "--timestep-fs".into(),
        "10".into(),
        "--stride".into(),
        "1".into(),
    ];
    let commands: Vec<(Vec<&str>, Vec<String>)> = vec![
        (vec!["traj", "msd"], traj.clone()),
        (vec!["traj", "hops"], traj.clone()),
        (vec!["traj", "vdos"], traj.clone()),
        (
            vec!["traj", "correlations"],
            vec![
                list.display().to_string(),
                "--timestep-fs".into(),
                "10".into(),
                "--stride".into(),
                "1".into(),
            ],
        ),
        (
            vec!["phonon", "dos"],
            vec![
                d("data/forces/NaCl"),
                "--mesh".into(),
                "2".into(),
                "2".into(),
                "2".into(),
            ],
        ),
        (vec!["phonon", "features"], vec![d("data/phonopy")]),
        (vec!["phonon", "similarity"], vec![d("data/phonopy")]),
        (
            vec!["structure", "features"],
            vec![d("data/sites/argyrodite.cif")],
        ),
        (vec!["cluster"], vec![table.display().to_string()]),
    ];
    let mut outcomes: BTreeMap<String, [usize; 4]> = BTreeMap::new();
    let mut bad = Vec::new();
    let mut n = 0usize;
    for (cmd, base) in &commands {
        // The command as given runs (else every absurd value below is refused for
        // another reason and the test tests nothing).
        let mut args: Vec<String> = vec!["--backend".into(), "cpu".into()];
        args.extend(cmd.iter().map(|s| s.to_string()));
        args.extend(base.iter().cloned());
        args.push("--out".into());
        args.push(dir.join("seed").display().to_string());
        let (code, err, _) = run(&args, &dir);
        assert_eq!(code, Some(0), "{}: {err}", args.join(" "));
        let _ = std::fs::remove_dir_all(dir.join("seed"));
        let opts = options(cmd);
        assert!(!opts.is_empty(), "{cmd:?}: no options found in --help");
        for (opt, arity) in &opts {
            // A base argument of the same name is replaced, not repeated.
            let mut base = base.clone();
            if let Some(i) = base.iter().position(|a| a == opt) {
                base.drain(i..=i + arity);
            }
            for v in VALUES {
                n += 1;
                let out = dir.join(format!("o{n}"));
                let mut args: Vec<String> = vec!["--backend".into(), "cpu".into()];
                args.extend(cmd.iter().map(|s| s.to_string()));
                args.extend(base.iter().cloned());
                args.push(opt.clone());
                args.extend(std::iter::repeat_n(v.to_string(), *arity));
                args.push("--out".into());
                args.push(out.display().to_string());
                let (code, err, secs) = run(&args, &dir);
                let row = outcomes.entry(cmd.join(" ")).or_default();
                match code {
                    Some(0) => row[0] += 1,
                    Some(1) => row[1] += 1,
                    Some(2) => row[2] += 1,
                    _ => row[3] += 1,
                }
                let non_finite = *v == "nan" || *v == "inf";
                if !matches!(code, Some(0..=2)) || err.contains("panicked") || secs > 20.0 {
                    bad.push(format!(
                        "{}: exit {code:?} in {secs:.1} s: {err}",
                        args.join(" ")
                    ));
                } else if non_finite && code == Some(0) {
                    bad.push(format!("{}: {v} was taken", args.join(" ")));
                }
                let _ = std::fs::remove_dir_all(&out);
            }
        }
    }
    let mut md = String::from(
        "| command | runs | ran | refused (1) | usage error (2) | other |\n|---|---:|---:|---:|---:|---:|\n",
    );
    for (c, r) in &outcomes {
        md += &format!(
            "| {c} | {} | {} | {} | {} | {} |\n",
            r.iter().sum::<usize>(),
            r[0],
            r[1],
            r[2],
            r[3]
        );
    }
    let tmp = root().join("target/tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    std::fs::write(tmp.join("options-table.md"), &md).unwrap();
    eprintln!("{md}");
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}
