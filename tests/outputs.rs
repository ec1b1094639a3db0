//! Output folders are written as one result (issue 31): a manifest written last, a lock
//! that refuses a second run, what killed runs left removed, writability checked before
//! the work, and files written before a closed stdout can lose them.
#![cfg(unix)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use superion::io::bundle;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn cmd(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_superion"));
    c.args(["--backend", "cpu"])
        .args(args)
        .env("XDG_RUNTIME_DIR", std::env::temp_dir());
    c
}

fn superion(args: &[&str]) -> Output {
    common::no_panic(cmd(args).output().unwrap())
}

fn msd_args(out: &Path, stride: &str) -> Vec<String> {
    [
        "traj",
        "msd",
        root().join("data/Li6PS5Cl.XDATCAR.gz").to_str().unwrap(),
        "--timestep-fs",
        "2",
        "--stride",
        stride,
        "--out",
        out.to_str().unwrap(),
    ]
    .map(String::from)
    .to_vec()
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The id of a process that has exited (its id is free again).
fn dead_pid() -> u32 {
    let mut c = Command::new("true").spawn().unwrap();
    let pid = c.id();
    c.wait().unwrap();
    pid
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_string()
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// A finished run leaves its files and a manifest listing exactly them with their
/// digests; a second run replaces them and the manifest still verifies.
#[test]
fn a_finished_bundle_carries_a_manifest_of_its_files() {
    let dir = common::tempdir("bundle-manifest");
    let out = dir.join("o");
    let o = superion(&strs(&msd_args(&out, "50")));
    assert!(o.status.success(), "{}", stderr(&o));
    let m = bundle::verify(&out).unwrap();
    assert_eq!(m.command, "traj msd");
    let listed: Vec<&str> = m.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(listed, ["msd.csv", "msd.svg", "summary.json"]);
    assert_eq!(
        names(&out),
        ["manifest.json", "msd.csv", "msd.svg", "summary.json"],
        "no lock or temporary left"
    );
    // Tampering is seen.
    std::fs::write(out.join("msd.csv"), "t,msd\n").unwrap();
    let e = bundle::verify(&out).unwrap_err().to_string();
    assert!(e.contains("msd.csv") && e.contains("differs"), "{e}");
    // A rerun makes it whole again.
    let o = superion(&strs(&msd_args(&out, "50")));
    assert!(o.status.success(), "{}", stderr(&o));
    bundle::verify(&out).unwrap();
}

/// A second run into a folder a live run holds is refused before it reads anything;
/// a lock left by a dead process is taken over, and the temporaries dead runs left are
/// removed.
#[test]
fn a_live_lock_refuses_a_second_run_and_a_dead_one_is_taken_over() {
    let dir = common::tempdir("bundle-lock");
    let out = dir.join("o");
    std::fs::create_dir_all(out.join("paths")).unwrap();
    // A live holder: a sleeping process of ours.
    let mut holder = Command::new("sleep").arg("60").spawn().unwrap();
    let lock = out.join(bundle::LOCK);
    std::fs::write(&lock, format!("pid={} host={}\n", holder.id(), hostname())).unwrap();
    let o = superion(&strs(&msd_args(&out, "50")));
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(
        e.contains("another superion run") && e.contains(&holder.id().to_string()),
        "{e}"
    );
    assert!(
        !e.contains("time between frames"),
        "refused before reading: {e}"
    );
    assert!(lock.exists(), "the holder's lock stays");
    assert!(!out.join("msd.csv").exists());
    holder.kill().unwrap();
    holder.wait().unwrap();
    // Now the holder is dead: its lock is taken over, and litter of dead runs goes
    // (here and in a subfolder), while a live process's temporary and the user's own
    // files stay.
    let dead = dead_pid();
    let stale = [
        out.join(format!(".msd.csv.tmp-{dead}-0")),
        out.join(format!(".old.svg.tmp-{dead}-3")),
        out.join("paths").join(format!(".ion_1.svg.tmp-{dead}-7")),
    ];
    for s in &stale {
        std::fs::write(s, "half").unwrap();
    }
    let mut live = Command::new("sleep").arg("60").spawn().unwrap();
    let live_tmp = out.join(format!(".msd.svg.tmp-{}-0", live.id()));
    std::fs::write(&live_tmp, "writing").unwrap();
    std::fs::write(out.join("notes.txt"), "mine").unwrap();
    let o = superion(&strs(&msd_args(&out, "50")));
    assert!(o.status.success(), "{}", stderr(&o));
    bundle::verify(&out).unwrap();
    for s in &stale {
        assert!(!s.exists(), "{} left", s.display());
    }
    assert!(live_tmp.exists() && out.join("notes.txt").exists());
    assert!(!lock.exists());
    live.kill().unwrap();
    live.wait().unwrap();
}

/// Two runs started together into one folder: never both exit 0 with mixed files; what
/// is there at the end is one run's, whole, and says so.
#[test]
fn concurrent_runs_into_one_folder_do_not_mix() {
    let dir = common::tempdir("bundle-concurrent");
    let out = dir.join("o");
    for _ in 0..3 {
        let a = cmd(&strs(&msd_args(&out, "50")))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let b = cmd(&strs(&msd_args(&out, "100")))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
        let ok = [&a, &b].iter().filter(|o| o.status.success()).count();
        assert!(ok >= 1, "{}\n{}", stderr(&a), stderr(&b));
        for o in [&a, &b] {
            if !o.status.success() {
                assert!(stderr(o).contains("another superion run"), "{}", stderr(o));
            }
        }
        let m = bundle::verify(&out).unwrap();
        assert_eq!(m.files.len(), 3);
    }
}

/// A run killed mid-way leaves no manifest (the folder says it is incomplete), and the
/// next run completes it; a killed `traj convert`'s temporary goes with the next one.
#[test]
fn a_killed_run_leaves_an_unmarked_folder_that_the_next_run_completes() {
    let dir = common::tempdir("bundle-killed");
    let out = dir.join("o");
    let o = superion(&strs(&msd_args(&out, "50")));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(out.join(bundle::MANIFEST).exists());
    // A run that dies with its files written and its manifest not (as a kill between
    // the two would): the old manifest is gone, so the mixed folder is not a result.
    let o = common::no_panic(
        cmd(&strs(&msd_args(&out, "100")))
            .env("SUPERION_TEST_ABORT_BEFORE_MANIFEST", "1")
            .output()
            .unwrap(),
    );
    assert!(!o.status.success());
    let lock = out.join(bundle::LOCK);
    assert!(lock.exists(), "the dead run's lock is left");
    assert!(out.join("msd.csv").exists());
    assert!(
        !out.join(bundle::MANIFEST).exists(),
        "a killed run's folder carries no manifest"
    );
    assert!(bundle::verify(&out).is_err());
    let o = superion(&strs(&msd_args(&out, "50")));
    assert!(o.status.success(), "{}", stderr(&o));
    bundle::verify(&out).unwrap();
    assert!(!lock.exists());

    // traj convert: a dead run's temporary of the same name is removed.
    let target = dir.join("li.extxyz");
    let tmp = dir.join(format!(".li.extxyz.tmp-{}-0", dead_pid()));
    std::fs::write(&tmp, "30 MB of a killed run").unwrap();
    let x = root().join("data/Li6PS5Cl.XDATCAR.gz");
    let o = superion(&[
        "traj",
        "convert",
        x.to_str().unwrap(),
        "--timestep-fs",
        "2",
        "--stride",
        "50",
        "--stop",
        "3",
        "--out",
        target.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(target.exists() && !tmp.exists());
}

/// An output that cannot be written is an error before any input is read, naming the
/// output (not a hidden temporary), and leaves nothing behind; a run that fails on its
/// input removes the folder it created.
#[test]
fn unwritable_outputs_fail_before_the_work() {
    let dir = common::tempdir("bundle-unwritable");
    let file = dir.join("a-file");
    std::fs::write(&file, "x").unwrap();
    let out = file.join("sub");
    let o = superion(&strs(&msd_args(&out, "50")));
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(e.contains("a-file/sub") && !e.contains(".tmp-"), "{e}");
    assert!(
        !e.contains("time between frames"),
        "refused before reading: {e}"
    );
    let x = root().join("data/Li6PS5Cl.XDATCAR.gz");
    let phonopy = root().join("data/phonopy");
    let target = file.join("t.extxyz");
    let csv = file.join("t.csv");
    for args in [
        [
            "traj",
            "convert",
            x.to_str().unwrap(),
            "--timestep-fs",
            "2",
            "--stride",
            "50",
            "--out",
            target.to_str().unwrap(),
        ]
        .as_slice(),
        &[
            "phonon",
            "features",
            phonopy.to_str().unwrap(),
            "--out",
            csv.to_str().unwrap(),
        ],
    ] {
        let o = superion(args);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        let e = stderr(&o);
        assert!(e.contains("a-file/t.") && !e.contains(".tmp-"), "{e}");
        assert!(!e.contains("time between frames"), "{e}");
    }
    // A failure on the input: the folder this run created is removed again.
    let fresh = dir.join("never");
    let o = superion(&[
        "traj",
        "msd",
        root().join("data/Li6PS5Cl.XDATCAR.gz").to_str().unwrap(),
        "--out",
        fresh.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(!fresh.exists());
}

/// `--json` into a pipe that closes early (`| head -c 100`) still writes the folder.
#[test]
fn a_closed_stdout_does_not_lose_the_files() {
    let dir = common::tempdir("bundle-pipe");
    let out = dir.join("h");
    let line = format!(
        "'{}' --backend cpu traj hops '{}' --timestep-fs 2 --stride 50 --json --out '{}' | head -c 100 >/dev/null",
        env!("CARGO_BIN_EXE_superion"),
        root().join("data/Li6PS5Cl.XDATCAR.gz").display(),
        out.display()
    );
    let s = Command::new("sh")
        .arg("-c")
        .arg(&line)
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .status()
        .unwrap();
    assert!(s.success());
    let m = bundle::verify(&out).unwrap();
    assert!(m.files.iter().any(|f| f.path == "events.csv"));
    assert!(m.files.iter().any(|f| f.path.starts_with("paths/ion_")));
}
