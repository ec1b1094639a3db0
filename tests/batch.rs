//! `superion batch`: shards run by hand and as a real Slurm job array with a dependent
//! merge, compared with a single-process run; a malformed input in the failure list;
//! a shard killed midway and resumed.
//!
//! Inputs: 48 phonopy folders made from the bundled examples (frequencies scaled, so
//! every one is distinct) plus one malformed folder. The Slurm test starts a
//! single-node cluster with `tests/slurm/cluster.sh` (installing Slurm from Debian's
//! packages when it is missing and this is root, as in CI); elsewhere it is skipped
//! with a message, or on purpose with SUPERION_SKIP_SLURM_TESTS=1.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn tempdir(tag: &str) -> common::TestDir {
    common::tempdir(&format!("batch-{tag}"))
}

fn superion(args: &[&str]) -> Output {
    common::no_panic(
        Command::new(env!("CARGO_BIN_EXE_superion"))
            .args(args)
            .env("SUPERION_BACKEND", "cpu")
            .env_remove("SLURM_ARRAY_TASK_ID")
            .output()
            .unwrap(),
    )
}

/// Plan a batch of `manifest` in `shards` shards into `run`.
fn plan(manifest: &Path, shards: usize, run: &Path) -> String {
    ok(superion(&[
        "batch",
        "plan",
        manifest.to_str().unwrap(),
        "--shards",
        &shards.to_string(),
        "--out",
        run.to_str().unwrap(),
    ]))
}

fn ok(o: Output) -> String {
    assert!(
        o.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).to_string()
}

/// Scale the first column (frequency) of every data line of a phonopy .dat file.
fn scaled(text: &str, f: f64) -> String {
    text.lines()
        .map(|l| {
            let t = l.trim_start();
            if t.starts_with('#') || t.is_empty() {
                return l.to_string();
            }
            let mut it = t.split_whitespace();
            let freq: f64 = it.next().unwrap().parse().unwrap();
            let rest: Vec<&str> = it.collect();
            format!("{:20.10} {}", freq * f, rest.join(" "))
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// 48 distinct phonopy folders and one malformed one; returns the manifest.
fn inputs(dir: &Path) -> PathBuf {
    let src = root().join("data/phonopy");
    let inp = dir.join("inputs");
    let mut names: Vec<String> = std::fs::read_dir(&src)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    names.sort();
    for name in &names {
        for v in 0..8 {
            let d = inp.join(format!("{name}-{v}"));
            std::fs::create_dir_all(&d).unwrap();
            for f in std::fs::read_dir(src.join(name)).unwrap() {
                let f = f.unwrap().path();
                let fname = f.file_name().unwrap();
                if fname.to_string_lossy().ends_with(".dat") {
                    let text = std::fs::read_to_string(&f).unwrap();
                    std::fs::write(d.join(fname), scaled(&text, 1.0 + 0.01 * v as f64)).unwrap();
                } else {
                    std::fs::copy(&f, d.join(fname)).unwrap();
                }
            }
        }
    }
    let bad = inp.join("zz-malformed");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(bad.join("total_dos.dat"), "# Tetrahedron method\n 1.0 x\n").unwrap();
    let manifest = dir.join("manifest.yaml");
    std::fs::write(
        &manifest,
        "command: phonon features\nargs: [\"--legacy\"]\ninputs:\n  - inputs\n",
    )
    .unwrap();
    manifest
}

/// The 48 smallest PhononDB archives of ../shared/data/phonondb-li and one malformed
/// entry, computed on a 4 x 4 x 4 mesh; None when that folder is absent.
fn phonondb_inputs(dir: &Path) -> Option<PathBuf> {
    let db = common::shared_data("phonondb-li", "batches over PhononDB entries")?;
    let inp = dir.join("inputs");
    std::fs::create_dir_all(&inp).unwrap();
    let mut files: Vec<(u64, PathBuf)> = std::fs::read_dir(&db)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| (std::fs::metadata(&p).unwrap().len(), p))
        .collect();
    files.sort();
    for (_, f) in files.iter().take(48) {
        std::fs::copy(f, inp.join(f.file_name().unwrap())).unwrap();
    }
    let bad = inp.join("zz-malformed");
    std::fs::create_dir_all(&bad).unwrap();
    for f in ["FORCE_SETS", "POSCAR-unitcell", "phonopy.conf"] {
        std::fs::write(bad.join(f), "not an entry\n").unwrap();
    }
    let manifest = dir.join("manifest.yaml");
    std::fs::write(
        &manifest,
        "command: phonon features\nargs: [\"--legacy\", \"--mesh\", \"4\", \"4\", \"4\"]\ninputs:\n  - inputs\n",
    )
    .unwrap();
    Some(manifest)
}

fn single_process(dir: &Path) -> String {
    single_process_with(dir, &[])
}

fn single_process_with(dir: &Path, extra: &[&str]) -> String {
    let out = dir.join("single.csv");
    let inputs = dir.join("inputs");
    let mut args = vec!["phonon", "features", inputs.to_str().unwrap(), "--legacy"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--out", out.to_str().unwrap()]);
    ok(superion(&args));
    std::fs::read_to_string(out).unwrap()
}

#[test]
fn shards_merge_into_the_single_process_table_and_list_the_failure() {
    let dir = tempdir("merge");
    let manifest = inputs(&dir);
    let run = dir.join("run");
    let run_s = run.to_str().unwrap();
    let plan = ok(superion(&[
        "batch",
        "plan",
        manifest.to_str().unwrap(),
        "--shards",
        "8",
        "--out",
        run_s,
    ]));
    assert!(
        plan.starts_with("49 inputs (phonon features) in 8 shards"),
        "{plan}"
    );
    let p: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("plan.json")).unwrap()).unwrap();
    assert_eq!(p["superion_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(p["inputs"][0]["sha256"].as_str().unwrap().len(), 64);
    // Balanced by size: no shard holds more than 7 of the 49 inputs.
    assert!(
        p["shards"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s.as_array().unwrap().len() <= 7)
    );
    // Merging before anything ran is refused.
    let o = superion(&["batch", "merge", run_s]);
    assert!(
        common::failed_cleanly(&o)
            && String::from_utf8_lossy(&o.stderr).contains("49 of 49 inputs are not done")
    );
    for s in 0..8 {
        ok(superion(&[
            "batch",
            "run",
            run_s,
            "--shard",
            &s.to_string(),
        ]));
    }
    let st = ok(superion(&["batch", "status", run_s, "--json"]));
    let st: serde_json::Value = serde_json::from_str(&st).unwrap();
    assert_eq!(
        (
            st["done"].as_u64(),
            st["failed"].as_u64(),
            st["pending"].as_u64()
        ),
        (Some(48), Some(1), Some(0))
    );
    ok(superion(&["batch", "merge", run_s]));
    let merged = std::fs::read_to_string(run.join("merged/features.csv")).unwrap();
    assert_eq!(merged.lines().count(), 49, "48 materials and the header");
    assert_eq!(
        merged,
        single_process(&dir),
        "the merged table is the single-process table"
    );
    let failures = std::fs::read_to_string(run.join("merged/failures.csv")).unwrap();
    assert_eq!(failures.lines().count(), 2, "{failures}");
    assert!(
        failures.contains("zz-malformed") && failures.contains("total_dos.dat:2"),
        "{failures}"
    );
    // A bad manifest names the file.
    std::fs::write(
        dir.join("bad.yaml"),
        "command: phonon wobble\ninputs: [inputs]\n",
    )
    .unwrap();
    let o = superion(&[
        "batch",
        "plan",
        dir.join("bad.yaml").to_str().unwrap(),
        "--shards",
        "2",
        "--out",
        dir.join("r2").to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        common::failed_cleanly(&o) && err.contains("bad.yaml") && err.contains("phonon wobble"),
        "{err}"
    );
}

#[test]
fn a_shard_killed_midway_resumes_without_recomputing() {
    let dir = tempdir("resume");
    let manifest = inputs(&dir);
    let run = dir.join("run");
    let run_s = run.to_str().unwrap();
    plan(&manifest, 2, &run);
    // Die (abort, no cleanup) after 5 inputs, like a killed or preempted task.
    let o = Command::new(env!("CARGO_BIN_EXE_superion"))
        .args(["--backend", "cpu", "batch", "run", run_s, "--shard", "0"])
        .env("SUPERION_BATCH_ABORT_AFTER", "5")
        .output()
        .unwrap();
    assert!(!o.status.success(), "the hook aborts the shard");
    let log = std::fs::read_to_string(run.join("logs/shard-0.log")).unwrap();
    let first: Vec<String> = log
        .lines()
        .map(|l| l.split(' ').next().unwrap().to_string())
        .collect();
    assert_eq!(first.len(), 5);
    let before: Vec<String> = first
        .iter()
        .map(|id| std::fs::read_to_string(run.join("results").join(id).join("done.json")).unwrap())
        .collect();
    let st: serde_json::Value =
        serde_json::from_str(&ok(superion(&["batch", "status", run_s, "--json"]))).unwrap();
    assert_eq!(
        st["shards"][0]["done"].as_u64().unwrap() + st["shards"][0]["failed"].as_u64().unwrap(),
        5
    );
    let again = ok(superion(&["batch", "run", run_s, "--shard", "0"]));
    assert!(again.contains("5 already done"), "{again}");
    let log = std::fs::read_to_string(run.join("logs/shard-0.log")).unwrap();
    let all: Vec<&str> = log.lines().map(|l| l.split(' ').next().unwrap()).collect();
    for id in &first {
        assert_eq!(
            all.iter().filter(|x| **x == id.as_str()).count(),
            1,
            "{id} computed once"
        );
    }
    for (id, b) in first.iter().zip(&before) {
        assert_eq!(
            &std::fs::read_to_string(run.join("results").join(id).join("done.json")).unwrap(),
            b
        );
    }
    // No half-written result folders are left behind.
    assert!(
        std::fs::read_dir(run.join("results"))
            .unwrap()
            .all(|e| { !e.unwrap().file_name().to_string_lossy().contains(".tmp-") })
    );
    ok(superion(&["batch", "run", run_s, "--shard", "1"]));
    ok(superion(&["batch", "merge", run_s]));
    assert_eq!(
        std::fs::read_to_string(run.join("merged/features.csv")).unwrap(),
        single_process(&dir)
    );
}

#[test]
fn a_shard_killed_before_moving_a_result_into_place_recomputes_it() {
    let dir = tempdir("rename");
    let manifest = inputs(&dir);
    let run = dir.join("run");
    let run_s = run.to_str().unwrap();
    plan(&manifest, 1, &run);
    // Killed with the third result written but not yet moved into place.
    let o = Command::new(env!("CARGO_BIN_EXE_superion"))
        .args(["--backend", "cpu", "batch", "run", run_s, "--shard", "0"])
        .env("SUPERION_BATCH_ABORT_BEFORE_RENAME", "3")
        .output()
        .unwrap();
    assert!(!o.status.success(), "the hook aborts the shard");
    let names = |d: &Path| -> Vec<String> {
        std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect()
    };
    let left = names(&run.join("results"));
    let half: Vec<&String> = left.iter().filter(|n| n.contains(".tmp-")).collect();
    assert_eq!(half.len(), 1, "one half-written folder: {left:?}");
    assert_eq!(
        left.len(),
        3,
        "two results in place and one half-written: {left:?}"
    );
    let st: serde_json::Value =
        serde_json::from_str(&ok(superion(&["batch", "status", run_s, "--json"]))).unwrap();
    assert_eq!(
        st["shards"][0]["done"].as_u64().unwrap() + st["shards"][0]["failed"].as_u64().unwrap(),
        2,
        "the half-written result is not counted: {st}"
    );
    // The rerun keeps the two, computes the third, and leaves nothing half-written.
    let again = ok(superion(&["batch", "run", run_s, "--shard", "0"]));
    assert!(again.contains("2 already done"), "{again}");
    assert!(
        names(&run.join("results"))
            .iter()
            .all(|n| !n.contains(".tmp-")),
        "{:?}",
        names(&run.join("results"))
    );
    ok(superion(&["batch", "merge", run_s]));
    assert_eq!(
        std::fs::read_to_string(run.join("merged/features.csv")).unwrap(),
        single_process(&dir)
    );
}

#[test]
fn an_input_changed_after_planning_fails_and_is_retried_once_restored() {
    let dir = tempdir("changed");
    let manifest = inputs(&dir);
    let run = dir.join("run");
    let run_s = run.to_str().unwrap();
    plan(&manifest, 1, &run);
    let victim = dir.join("inputs/LiF-3/total_dos.dat");
    let original = std::fs::read_to_string(&victim).unwrap();
    std::fs::write(&victim, scaled(&original, 1.5)).unwrap();
    let out = ok(superion(&["batch", "run", run_s, "--shard", "0"]));
    assert!(
        out.contains("2 failed"),
        "the changed input and the malformed one: {out}"
    );
    let o = superion(&["batch", "merge", run_s]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let failures = std::fs::read_to_string(run.join("merged/failures.csv")).unwrap();
    assert!(
        failures.contains("LiF-3") && failures.contains("changed since the plan was made"),
        "{failures}"
    );
    // Restored: the rerun retries the failures (and only them).
    std::fs::write(&victim, original).unwrap();
    let out = ok(superion(&["batch", "run", run_s, "--shard", "0"]));
    assert!(
        out.contains("1 computed, 1 failed, 47 already done"),
        "the changed input retried, the malformed one still failing: {out}"
    );
    ok(superion(&["batch", "merge", run_s]));
    let failures = std::fs::read_to_string(run.join("merged/failures.csv")).unwrap();
    assert!(!failures.contains("LiF-3"), "{failures}");
    assert_eq!(
        std::fs::read_to_string(run.join("merged/features.csv")).unwrap(),
        single_process(&dir)
    );
}

/// Stops the test cluster even when the test fails.
struct Cluster(PathBuf);

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new(root().join("tests/slurm/cluster.sh"))
            .args(["stop", self.0.to_str().unwrap()])
            .status();
    }
}

#[test]
fn a_slurm_array_and_its_dependent_merge_reproduce_the_single_process_table() {
    if std::env::var("SUPERION_SKIP_SLURM_TESTS").is_ok_and(|v| v == "1") {
        eprintln!("SUPERION_SKIP_SLURM_TESTS=1: skipping the Slurm test");
        return;
    }
    let have_slurm = Command::new("sh")
        .args([
            "-c",
            "command -v slurmctld && command -v sbatch && command -v munged",
        ])
        .output()
        .is_ok_and(|o| o.status.success());
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0"));
    if !have_slurm && !is_root {
        eprintln!("no Slurm here and not root to install it: skipping the Slurm test");
        return;
    }
    let dir = tempdir("slurm");
    let cluster_dir = dir.join("cluster");
    let o = Command::new(root().join("tests/slurm/cluster.sh"))
        .args(["start", cluster_dir.to_str().unwrap()])
        .output()
        .unwrap();
    let _guard = Cluster(cluster_dir.clone());
    assert!(
        o.status.success(),
        "cluster start: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let conf = cluster_dir.join("etc/slurm.conf");
    // Real PhononDB entries (their DOS computed from force sets) when the shared data
    // is there; generated phonopy folders otherwise.
    let (manifest, extra): (PathBuf, &[&str]) = match phonondb_inputs(&dir) {
        Some(m) => (m, &["--mesh", "4", "4", "4"]),
        None => (inputs(&dir), &[]),
    };
    // A hostile run-folder name: a space, a command substitution, a quote and a '%'
    // (sbatch's file-name pattern character) must all reach Slurm and bash as text.
    let run = dir.join("run $(touch PWNED) it's 100%");
    let run_s = run.to_str().unwrap();
    plan(&manifest, 8, &run);
    let sub = Command::new(env!("CARGO_BIN_EXE_superion"))
        .current_dir(&dir)
        .args([
            "batch",
            "slurm",
            run_s,
            "--cpus-per-task",
            "1",
            "--time",
            "00:10:00",
            "--submit",
        ])
        .env("SLURM_CONF", &conf)
        .output()
        .unwrap();
    let sub_out = ok(sub);
    assert!(sub_out.contains("submitted array job"), "{sub_out}");
    let jobs: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("slurm/jobs.json")).unwrap())
            .unwrap();
    let merge_id = jobs["merge"].as_str().unwrap().to_string();
    // Wait for the merge job to leave the queue (at most two minutes).
    let t0 = std::time::Instant::now();
    loop {
        let q = Command::new("squeue")
            .args(["-h", "-j", &merge_id])
            .env("SLURM_CONF", &conf)
            .output()
            .unwrap();
        if q.status.success() && q.stdout.is_empty() && run.join("merged/failures.csv").is_file() {
            break;
        }
        assert!(
            t0.elapsed().as_secs() < 120,
            "the Slurm jobs did not finish; see {}",
            cluster_dir.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let merged = std::fs::read_to_string(run.join("merged/features.csv")).unwrap();
    assert_eq!(
        merged,
        single_process_with(&dir, extra),
        "merged by the Slurm job = single process"
    );
    assert!(
        !dir.join("PWNED").exists() && !root().join("PWNED").exists(),
        "a run-folder name was executed by the job script"
    );
    assert_eq!(merged.lines().count(), 49, "48 materials and the header");
    let failures = std::fs::read_to_string(run.join("merged/failures.csv")).unwrap();
    assert!(failures.contains("zz-malformed"), "{failures}");
    for s in 0..8 {
        assert!(
            run.join(format!("slurm/shard-{s}.out")).is_file(),
            "array task {s} ran"
        );
    }
    let st: serde_json::Value =
        serde_json::from_str(&ok(superion(&["batch", "status", run_s, "--json"]))).unwrap();
    assert_eq!(
        (
            st["done"].as_u64(),
            st["failed"].as_u64(),
            st["merged"].as_bool()
        ),
        (Some(48), Some(1), Some(true))
    );
}

#[test]
fn hop_batches_merge_events_and_summaries() {
    let dir = tempdir("hops");
    for n in ["a", "b"] {
        std::fs::copy(
            root().join("data/Li6PS5Cl.XDATCAR.gz"),
            dir.join(format!("{n}.XDATCAR.gz")),
        )
        .unwrap();
    }
    std::fs::write(
        dir.join("m.yaml"),
        "command: traj hops\nargs: [\"--timestep-fs\", \"2\", \"--stride\", \"50\"]\ninputs: [a.XDATCAR.gz, b.XDATCAR.gz]\n",
    )
    .unwrap();
    let run = dir.join("run");
    let run_s = run.to_str().unwrap();
    ok(superion(&[
        "batch",
        "plan",
        dir.join("m.yaml").to_str().unwrap(),
        "--shards",
        "2",
        "--out",
        run_s,
    ]));
    for s in ["0", "1"] {
        ok(superion(&["batch", "run", run_s, "--shard", s]));
    }
    ok(superion(&["batch", "merge", run_s]));
    let events = std::fs::read_to_string(run.join("merged/events.csv")).unwrap();
    assert!(
        events.starts_with("trajectory,ion,species,start_frame,"),
        "{events}"
    );
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("merged/summaries.json")).unwrap())
            .unwrap();
    assert_eq!(s.as_array().unwrap().len(), 2);
    // The default (site-based) mode; the same jumps in each copy, all merged.
    let n = s[0]["summary"]["events"].as_u64().unwrap() as usize;
    assert_eq!(s[1]["summary"]["events"], s[0]["summary"]["events"]);
    assert!(n > 400, "{n} jumps");
    assert_eq!(
        events.lines().count(),
        1 + 2 * n,
        "every jump of both copies"
    );
    assert!(
        events
            .lines()
            .next()
            .unwrap()
            .ends_with(",jump_type,transit_ps")
    );
}

#[test]
fn phonon_dos_batches_compute_phonondb_entries_and_merge_their_descriptors() {
    let db = common::shared_data("phonondb-li", "phonon dos batches over PhononDB archives");
    let dir = tempdir("dos");
    let inputs = dir.join("entries");
    std::fs::create_dir_all(&inputs).unwrap();
    if let Some(db) = &db {
        for id in ["1138-lif-fm-3m-225", "1960-li2o-fm-3m-225"] {
            let f = format!("materials-id-{id}.tar.lzma");
            std::fs::copy(db.join(&f), inputs.join(&f)).unwrap();
        }
    }
    // Always present: one malformed entry.
    let bad = inputs.join("broken-entry");
    std::fs::create_dir_all(&bad).unwrap();
    for f in ["FORCE_SETS", "POSCAR-unitcell", "phonopy.conf"] {
        std::fs::write(bad.join(f), "garbage\n").unwrap();
    }
    std::fs::write(
        dir.join("m.yaml"),
        "command: phonon dos\nargs: [\"--mesh\", \"6\", \"6\", \"6\"]\ninputs: [entries]\n",
    )
    .unwrap();
    let run = dir.join("run");
    let run_s = run.to_str().unwrap();
    // Without the shared data only the malformed entry is there: one shard.
    let shards: &[&str] = if db.is_some() { &["0", "1"] } else { &["0"] };
    let n_shards = shards.len().to_string();
    ok(superion(&[
        "batch",
        "plan",
        dir.join("m.yaml").to_str().unwrap(),
        "--shards",
        &n_shards,
        "--out",
        run_s,
    ]));
    for s in shards {
        ok(superion(&["batch", "run", run_s, "--shard", s]));
    }
    ok(superion(&["batch", "merge", run_s]));
    let n_good = if db.is_some() { 2 } else { 0 };
    let table = std::fs::read_to_string(run.join("merged/dos_features.csv")).unwrap();
    assert!(table.starts_with("input"), "{table}");
    assert_eq!(table.lines().count(), 1 + n_good, "{table}");
    if n_good > 0 {
        assert!(
            table.contains("mp-1138") && table.contains("li_centre_thz"),
            "{table}"
        );
    }
    let failures = std::fs::read_to_string(run.join("merged/failures.csv")).unwrap();
    assert!(failures.contains("broken-entry"), "{failures}");
}

#[test]
fn a_hand_edited_plan_is_refused_with_a_located_error_before_anything_runs() {
    let dir = tempdir("edited");
    let manifest = dir.join("manifest.yaml");
    std::fs::write(
        &manifest,
        format!(
            "command: phonon features\ninputs:\n  - {}\n  - {}\n  - {}\n",
            root().join("data/phonopy/LiF").display(),
            root().join("data/phonopy/NaCl").display(),
            root().join("data/phonopy/Li3NbS4").display()
        ),
    )
    .unwrap();
    let run = dir.join("run");
    let run_s = run.to_str().unwrap();
    plan(&manifest, 2, &run);
    let original = std::fs::read_to_string(run.join("plan.json")).unwrap();
    let plan: serde_json::Value = serde_json::from_str(&original).unwrap();
    let edit = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut p = plan.clone();
        f(&mut p);
        serde_json::to_string_pretty(&p).unwrap()
    };
    let cases: Vec<(String, &str)> = vec![
        (
            edit(&|p| p["shards"][0][0] = 17.into()),
            "shards[0][0] = 17: there are 3 inputs",
        ),
        (
            edit(&|p| p["shards"][1] = p["shards"][0].clone()),
            "is already in shard 0",
        ),
        (
            edit(&|p| p["shards"] = serde_json::json!([[0, 1]])),
            "inputs[2]",
        ),
        (
            edit(&|p| p["inputs"][1]["id"] = "../../escape".into()),
            "inputs[1].id \"../../escape\"",
        ),
        (
            edit(&|p| p["inputs"][2]["id"] = p["inputs"][0]["id"].clone()),
            "used twice",
        ),
        (
            edit(&|p| p["inputs"][0]["sha256"] = "abc".into()),
            "inputs[0].sha256",
        ),
        (
            edit(&|p| p["kind"] = "traj nonsense".into()),
            "malformed plan",
        ),
        (original[..original.len() / 2].to_string(), "malformed plan"),
        // Extra arguments that would write outside the run folder.
        (
            edit(&|p| p["args"] = serde_json::json!(["--scratch", "/tmp/elsewhere"])),
            "args[0] \"--scratch\"",
        ),
        (
            edit(&|p| p["args"] = serde_json::json!(["--out=/tmp/elsewhere"])),
            "is not allowed in a plan's args",
        ),
    ];
    for (text, expected) in cases {
        std::fs::write(run.join("plan.json"), &text).unwrap();
        for args in [
            vec!["batch", "run", run_s, "--shard", "0"],
            vec!["batch", "status", run_s],
            vec!["batch", "merge", run_s, "--partial"],
        ] {
            let o = superion(&args);
            let err = String::from_utf8_lossy(&o.stderr);
            assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
            assert!(
                err.contains("plan.json") && err.contains(expected),
                "{args:?}: {err}"
            );
        }
        // Nothing ran: no result was written, nothing escaped the run folder.
        assert!(
            std::fs::read_dir(run.join("results"))
                .map(|d| d.count() == 0)
                .unwrap_or(true)
        );
        assert!(!dir.join("escape").exists());
    }
    // A manifest whose args choose an output is refused when the plan is made.
    let bad = dir.join("bad.yaml");
    std::fs::write(
        &bad,
        format!(
            "command: traj msd\nargs: [\"--scratch\", \"{}\"]\ninputs:\n  - {}\n",
            dir.join("elsewhere").display(),
            root().join("data/Li6PS5Cl.XDATCAR.gz").display()
        ),
    )
    .unwrap();
    let o = superion(&[
        "batch",
        "plan",
        bad.to_str().unwrap(),
        "--shards",
        "1",
        "--out",
        dir.join("run2").to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("bad.yaml") && err.contains("--scratch"),
        "{err}"
    );
    assert!(!dir.join("run2").exists() && !dir.join("elsewhere").exists());
    // The plan as written still runs.
    std::fs::write(run.join("plan.json"), &original).unwrap();
    ok(superion(&["batch", "run", run_s, "--shard", "0"]));
    let _ = std::fs::remove_dir_all(&dir);
}

/// The generated job scripts keep hostile run-folder names as text (no Slurm needed:
/// bash runs the scripts as the job would, the #SBATCH lines being comments to it),
/// and options that would inject a line are refused.
#[test]
fn slurm_scripts_quote_hostile_run_folder_names() {
    let dir = tempdir("slurm-quoting");
    let manifest = inputs(&dir);
    let run = dir.join("run $(touch PWNED) `touch PWNED2` it's 100% x");
    let run_s = run.to_str().unwrap();
    plan(&manifest, 2, &run);
    let out = ok(superion(&["batch", "slurm", run_s, "--partition", "debug"]));
    // The printed submit line: bash reads it as one command with the script paths whole.
    let line = out
        .lines()
        .find(|l| l.starts_with("submit with: "))
        .unwrap();
    let cmd = line.trim_start_matches("submit with: ");
    let o = Command::new("bash")
        .args([
            "-c",
            &format!("sbatch() {{ printf '%s\\n' \"$@\" >> sbatch-args.txt; echo 123; }}; {cmd}"),
        ])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(o.status.success());
    let printed = std::fs::read_to_string(dir.join("sbatch-args.txt")).unwrap();
    assert!(printed.contains("--dependency=afterok:123\n"), "{printed}");
    assert!(
        printed.contains(&format!("{run_s}/slurm/merge.sbatch")),
        "{line}\n{printed}"
    );
    assert!(
        printed.contains(&format!("{run_s}/slurm/array.sbatch")),
        "{line}\n{printed}"
    );
    let array = std::fs::read_to_string(run.join("slurm/array.sbatch")).unwrap();
    assert!(array.contains("100%% x/slurm/shard-%a.out\""), "{array}");
    assert!(array.contains("#SBATCH --partition=debug\n"), "{array}");
    // Both array tasks and the merge run under bash exactly as the jobs would.
    for task in ["0", "1"] {
        ok(Command::new("bash")
            .arg(run.join("slurm/array.sbatch"))
            .current_dir(&dir)
            .env("SUPERION_BACKEND", "cpu")
            .env("SLURM_ARRAY_TASK_ID", task)
            .output()
            .unwrap());
    }
    ok(Command::new("bash")
        .arg(run.join("slurm/merge.sbatch"))
        .current_dir(&dir)
        .output()
        .unwrap());
    assert_eq!(
        std::fs::read_to_string(run.join("merged/features.csv")).unwrap(),
        single_process(&dir)
    );
    for f in ["PWNED", "PWNED2"] {
        assert!(
            !dir.join(f).exists() && !root().join(f).exists(),
            "{f}: a name was executed"
        );
    }
    // --then with a quote is one quoted word.
    ok(superion(&[
        "batch",
        "slurm",
        run_s,
        "--then",
        "cluster --name it's",
    ]));
    let merge = std::fs::read_to_string(run.join("slurm/merge.sbatch")).unwrap();
    assert!(
        merge.contains(r#" --then 'cluster --name it'\''s'"#),
        "{merge}"
    );
    // A partition or time that would start a line of its own, or carry shell text.
    for (opt, v) in [
        ("--partition", "debug\ntouch PWNED"),
        ("--time", "1:00 x"),
        ("--partition", "a$(id)"),
    ] {
        let o = superion(&["batch", "slurm", run_s, opt, v]);
        assert_eq!(o.status.code(), Some(1), "{opt} {v:?}");
        assert!(
            String::from_utf8_lossy(&o.stderr).contains(opt),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    // A run folder sbatch cannot name (a double quote) is refused with the reason.
    let bad = dir.join("run \" quote");
    plan(&manifest, 1, &bad);
    let o = superion(&["batch", "slurm", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("double quote"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A shard's log that is a symbolic link is refused, never followed.
#[cfg(unix)]
#[test]
fn a_symlinked_shard_log_is_refused_not_followed() {
    let dir = tempdir("log-link");
    let manifest = inputs(&dir);
    let run = dir.join("run");
    plan(&manifest, 1, &run);
    let outside = dir.join("outside.txt");
    std::fs::write(&outside, "mine\n").unwrap();
    std::os::unix::fs::symlink(&outside, run.join("logs/shard-0.log")).unwrap();
    let o = superion(&["batch", "run", run.to_str().unwrap(), "--shard", "0"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("shard-0.log"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(std::fs::read_to_string(&outside).unwrap(), "mine\n");
}
