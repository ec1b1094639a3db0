//! Every command once through the command line: what it prints, the files it writes,
//! the figures parsed and checked, and the GPU backend's files against the CPU's.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn superion(backend: &str, args: &[&str]) -> Output {
    common::no_panic(
        Command::new(env!("CARGO_BIN_EXE_superion"))
            .args(["--backend", backend])
            .args(args)
            .env("XDG_RUNTIME_DIR", std::env::temp_dir())
            .output()
            .unwrap(),
    )
}

fn ok(o: Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).to_string()
}

fn has(texts: &[String], want: &str) -> bool {
    texts.iter().any(|t| t.contains(want))
}

const TRAJ: [&str; 5] = [
    "data/Li6PS5Cl.XDATCAR.gz",
    "--timestep-fs",
    "2",
    "--stride",
    "50",
];

fn traj_args<'a>(cmd: &'a str, out: &'a Path, extra: &[&'a str]) -> Vec<String> {
    let mut v = vec!["traj".to_string(), cmd.to_string()];
    v.push(root().join(TRAJ[0]).display().to_string());
    v.extend(TRAJ[1..].iter().map(|s| s.to_string()));
    v.extend(extra.iter().map(|s| s.to_string()));
    v.push("--out".into());
    v.push(out.display().to_string());
    v
}

fn run(backend: &str, args: &[String]) -> String {
    let a: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    ok(superion(backend, &a))
}

#[test]
fn devices_says_which_adapter_each_backend_uses() {
    let out = ok(superion("auto", &["devices"]));
    assert!(out.contains("--backend auto:"), "{out}");
    if common::gpu().is_some() {
        assert!(out.contains("--backend gpu uses"), "{out}");
        assert!(out.contains("Vulkan"), "{out}");
    }
}

#[test]
fn bench_reports_each_kernel_it_ran() {
    let out = ok(superion(
        "cpu",
        &["bench", "--quick", "--only", "unwrap", "--json"],
    ));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let rows = v.as_array().unwrap();
    assert!(!rows.is_empty());
    for r in rows {
        assert!(r["kernel"].as_str().unwrap().contains("unwrap"), "{r}");
        assert_eq!(r["backend"], "cpu");
        let s = r["seconds"].as_f64().unwrap();
        assert!(s.is_finite() && s > 0.0, "{r}");
    }
    let o = superion("cpu", &["bench", "--only", "no-such-kernel"]);
    assert!(common::failed_cleanly(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("no-such-kernel"), "{err}");
}

#[test]
fn similarity_is_a_symmetric_distance_table_with_named_rows() {
    let dir = common::tempdir("similarity");
    let out = dir.join("sim.csv");
    ok(superion(
        "cpu",
        &[
            "phonon",
            "similarity",
            root().join("data/phonopy").to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
    ));
    let text = std::fs::read_to_string(&out).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(header[0], "id");
    let ids = &header[1..];
    assert_eq!(
        ids,
        ["Li2ZnGeO4", "Li3NbS4", "LiAl5O8", "LiCdBO3", "LiF", "NaCl"]
    );
    let m: Vec<Vec<f64>> = lines
        .enumerate()
        .map(|(i, l)| {
            let f: Vec<&str> = l.split(',').collect();
            assert_eq!(f[0], ids[i]);
            f[1..].iter().map(|x| x.parse().unwrap()).collect()
        })
        .collect();
    for i in 0..ids.len() {
        assert_eq!(m[i][i], 0.0);
        for j in 0..ids.len() {
            assert_eq!(m[i][j], m[j][i]);
            assert!(m[i][j] >= 0.0 && m[i][j].is_finite());
            for k in 0..ids.len() {
                assert!(m[i][k] <= m[i][j] + m[j][k] + 1e-9, "a metric");
            }
        }
    }
    // NaCl (no Li; its DOS lies below 6 THz) is the farthest from every Li compound
    // but Li3NbS4, whose sulfide DOS is also soft.
    let nacl = 5;
    for (i, id) in ids.iter().enumerate().take(5) {
        if *id != "Li3NbS4" {
            let nearest_other = (0..6)
                .filter(|&j| j != i && j != nacl)
                .map(|j| m[i][j])
                .fold(f64::INFINITY, f64::min);
            assert!(m[i][nacl] > nearest_other, "{id}");
        }
    }
}

#[test]
fn msd_hops_and_screen_write_the_same_files_on_the_gpu_backend() {
    if common::gpu().is_none() {
        return;
    }
    let dir = common::tempdir("backends");
    for b in ["cpu", "gpu"] {
        run(b, &traj_args("msd", &dir.join(b).join("msd"), &[]));
        run(b, &traj_args("hops", &dir.join(b).join("hops"), &[]));
        run(
            b,
            &[
                "screen".into(),
                root().join("data/phonopy").display().to_string(),
                "--out".into(),
                dir.join(b).join("screen").display().to_string(),
            ],
        );
    }
    // Sums in f32 on the GPU differ in the last digits; everything else is the same.
    common::same_outputs(&dir.join("cpu"), &dir.join("gpu"), 1e-5, &["\"backend\""]);
}

#[test]
fn figures_are_well_formed_and_labelled() {
    let dir = common::tempdir("figures");
    run("cpu", &traj_args("msd", &dir.join("msd"), &[]));
    run("cpu", &traj_args("hops", &dir.join("hops"), &[]));
    run(
        "cpu",
        &[
            "screen".into(),
            root().join("data/phonopy").display().to_string(),
            "--out".into(),
            dir.join("screen").display().to_string(),
        ],
    );
    let n = common::check_all_svgs(&dir);
    assert!(n >= 12, "{n} figures");
    let t = common::svg_texts(&dir.join("msd/msd.svg"));
    for want in [
        "MSD (Å²)",
        "Time lag (ps)",
        "cm²/s",
        "GLS fit",
        "MSD (self)",
    ] {
        assert!(has(&t, want), "msd.svg lacks {want:?}: {t:?}");
    }
    let t = common::svg_texts(&dir.join("hops/hops.svg"));
    for want in ["Time (ps)", "Ion", "Hop events"] {
        assert!(has(&t, want), "hops.svg lacks {want:?}: {t:?}");
    }
    let t = common::svg_texts(&dir.join("hops/sitemap.svg"));
    assert!(has(&t, "x (Å)") && has(&t, "y (Å)"), "{t:?}");
    let t = common::svg_texts(&dir.join("hops/jump_types.svg"));
    assert!(has(&t, "cm²/s") && has(&t, "per ps"), "{t:?}");
    assert!(has(&t, "of net displacement"), "{t:?}");
    // The pair test against independent ions, not a histogram of percolated groups.
    let t = common::svg_texts(&dir.join("hops/correlations.svg"));
    assert!(
        has(&t, "Draws of independent ions") && has(&t, "this run") && has(&t, "p = "),
        "{t:?}"
    );
    let t = common::svg_texts(&dir.join("screen/silhouette.svg"));
    assert!(has(&t, "Silhouette coefficient"), "{t:?}");
    // Every material named on the silhouette bars.
    for m in ["Li2ZnGeO4", "Li3NbS4", "LiAl5O8", "LiCdBO3", "LiF"] {
        assert!(t.iter().any(|x| x == m), "silhouette.svg lacks {m}: {t:?}");
    }
    let t = common::svg_texts(&dir.join("screen/scatter.svg"));
    assert!(has(&t, "% of the variance"), "{t:?}");
    let t = common::svg_texts(&dir.join("screen/scores.svg"));
    assert!(
        has(&t, "Number of clusters k") && has(&t, "Mean silhouette"),
        "{t:?}"
    );
    // Each panel's quantity on its y axis; no "-0.0" tick.
    assert!(t.iter().any(|x| x == "Inertia"), "{t:?}");
    assert!(!t.iter().any(|x| x.starts_with("-0.0")), "{t:?}");
}

#[test]
fn phonon_show_and_dos_figures_name_their_axes_and_series() {
    let dir = common::tempdir("show");
    ok(superion(
        "cpu",
        &[
            "phonon",
            "show",
            root().join("data/phonopy/LiF").to_str().unwrap(),
            "--out",
            dir.to_str().unwrap(),
        ],
    ));
    let t = common::only_svg_texts(&dir);
    for want in ["Frequency (THz)", "DOS (states/THz", "total", "Li", "F"] {
        assert!(t.iter().any(|x| x.contains(want)), "lacks {want:?}: {t:?}");
    }
    // One title naming LiF once ("LiF LiF" was a bug).
    assert!(!has(&t, "LiF LiF"), "{t:?}");
}

/// `--out` that is a symbolic link is written through (the link stays, its target gets
/// the content); a FIFO, a device or a folder named as an output file is refused and
/// left as it was.
#[cfg(unix)]
#[test]
fn out_links_are_followed_and_special_files_refused() {
    let dir = common::tempdir("out-links");
    let xdatcar = root().join("data/Li6PS5Cl.XDATCAR.gz");
    let x = xdatcar.to_str().unwrap();
    let convert = |out: &Path| {
        superion(
            "cpu",
            &[
                "traj",
                "convert",
                x,
                "--timestep-fs",
                "2",
                "--stride",
                "50",
                "--stop",
                "3",
                "--out",
                out.to_str().unwrap(),
            ],
        )
    };
    let target = dir.join("real.extxyz");
    let link = dir.join("link.extxyz");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    ok(convert(&link));
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink(),
        "the link was replaced"
    );
    assert!(
        std::fs::read_to_string(&target)
            .unwrap()
            .starts_with("416\n")
    );
    // A FIFO: refused at once (never opened, so nothing blocks), and still a FIFO.
    let fifo = dir.join("pipe.extxyz");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let o = convert(&fifo);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("not a regular file"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    use std::os::unix::fs::FileTypeExt;
    assert!(
        std::fs::symlink_metadata(&fifo)
            .unwrap()
            .file_type()
            .is_fifo()
    );
    // A link to a device (as /dev/stdout is) is refused and the link kept.
    let dev = dir.join("dev.extxyz");
    std::os::unix::fs::symlink("/dev/null", &dev).unwrap();
    let o = convert(&dev);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("a link to /dev/null"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        std::fs::symlink_metadata(&dev)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    // No temporary file is left beside any of them.
    let left: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// Options that size work are refused before anything is allocated, with the limit
/// in the message (issue 31: a 10^15-point mesh spun, k = 2..10^9 built a 10^9-long
/// list, 10^12 DOS bins and 10^9 gap reference sets aborted on allocation).
#[test]
fn options_that_size_work_have_stated_limits() {
    let dir = common::tempdir("limits");
    let features = dir.join("f.csv");
    let o = superion(
        "cpu",
        &[
            "phonon",
            "features",
            root().join("data/phonopy").to_str().unwrap(),
            "--out",
            features.to_str().unwrap(),
        ],
    );
    assert!(o.status.success());
    let nacl = root().join("data/forces/NaCl");
    let xdatcar = root().join("data/Li6PS5Cl.XDATCAR.gz");
    let sites = root().join("data/sites/argyrodite.cif");
    let f = features.to_str().unwrap();
    for (args, want) in [
        (
            vec![
                "phonon",
                "dos",
                nacl.to_str().unwrap(),
                "--mesh",
                "100000",
                "100000",
                "100000",
            ],
            "at most 1000000 q-points",
        ),
        (
            vec![
                "phonon",
                "features",
                root().join("data/phonopy").to_str().unwrap(),
                "--dos-vector",
                "1000000000000",
            ],
            "1 to 100000 bins",
        ),
        (vec!["cluster", f, "--k", "2..1000000000"], "at most 10000"),
        (
            vec![
                "traj",
                "msd",
                xdatcar.to_str().unwrap(),
                "--timestep-fs",
                "2",
                "--stride",
                "50",
                "--lags",
                "log:1000000000000",
            ],
            "from 2 to 1000000",
        ),
        (
            vec![
                "traj",
                "hops",
                xdatcar.to_str().unwrap(),
                "--timestep-fs",
                "2",
                "--stride",
                "50",
                "--sites",
                sites.to_str().unwrap(),
                "--supercell",
                "100000",
                "100000",
                "100000",
            ],
            "every factor must be 1 to 100",
        ),
        (
            vec!["cluster", f, "--k", "2..3", "--gap-refs", "1000000000"],
            "at most 1000 reference sets",
        ),
    ] {
        let out = dir.join("x");
        let mut a = args.clone();
        a.extend(["--out", out.to_str().unwrap()]);
        let o = superion("cpu", &a);
        assert!(common::failed_cleanly(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(want), "{args:?}: {err}");
    }
}

/// `traj convert` writes the format its --out name says, and refuses any other name
/// before reading (issue 30: `--out li.pdb` wrote extended XYZ into a .pdb).
#[test]
fn convert_refuses_names_of_formats_it_does_not_write() {
    let dir = common::tempdir("convert-ext");
    let x = root().join("data/Li6PS5Cl.XDATCAR.gz");
    for name in ["li.pdb", "li.gro", "li"] {
        let out = dir.join(name);
        let o = superion(
            "cpu",
            &[
                "traj",
                "convert",
                x.to_str().unwrap(),
                "--timestep-fs",
                "2",
                "--stride",
                "50",
                "--out",
                out.to_str().unwrap(),
            ],
        );
        assert!(common::failed_cleanly(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("convert writes extended XYZ"), "{name}: {err}");
        assert!(!out.exists(), "{name} written");
    }
}

/// A framework species has no jumps: the terminal says so instead of "D_jump =
/// -0.0000e0" and "threshold NaN" (issue 30), and its tracer MSD is not diffusive.
#[test]
fn a_species_without_jumps_says_so() {
    let x = root().join("data/Li6PS5Cl.XDATCAR.gz");
    let o = superion(
        "cpu",
        &[
            "traj",
            "hops",
            x.to_str().unwrap(),
            "--timestep-fs",
            "2",
            "--stride",
            "50",
            "--species",
            "P",
        ],
    );
    let out = ok(o);
    assert!(out.contains("D_jump = none (no jumps)"), "{out}");
    assert!(
        out.contains("correlations: none (no jumps to correlate)"),
        "{out}"
    );
    assert!(!out.contains("NaN") && !out.contains("-0.0000"), "{out}");
}

/// A folder given as a trajectory is named as a folder, not "no such file" (issue 31).
#[test]
fn a_folder_given_as_a_trajectory_is_named_as_one() {
    let dir = common::tempdir("folder-traj");
    let o = superion(
        "cpu",
        &[
            "traj",
            "msd",
            dir.to_str().unwrap(),
            "--timestep-fs",
            "2",
            "--stride",
            "1",
        ],
    );
    assert!(common::failed_cleanly(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("a folder, not a trajectory file"), "{err}");
}

/// Every argument and option of every command has a description in `--help` (issue
/// 30: FILE arguments, `demo --out`, several `--json` and batch options had none).
#[test]
fn every_option_and_argument_is_described_in_help() {
    let commands = [
        "traj msd",
        "traj hops",
        "traj vdos",
        "traj convert",
        "traj correlations",
        "phonon features",
        "phonon show",
        "phonon similarity",
        "phonon entry",
        "phonon dos",
        "batch plan",
        "batch run",
        "batch merge",
        "batch slurm",
        "batch status",
        "cluster",
        "demo",
        "validate",
        "screen",
        "structure features",
        "devices",
        "bench",
    ];
    let mut missing = Vec::new();
    for c in commands {
        let mut args: Vec<&str> = c.split(' ').collect();
        args.push("--help");
        let text = ok(superion("cpu", &args));
        let lines: Vec<&str> = text.lines().collect();
        for (i, l) in lines.iter().enumerate() {
            let item = (l.starts_with("  ") && !l.starts_with("   ")) || l.starts_with("      --");
            let t = l.trim_start();
            if item && (t.starts_with('-') || t.starts_with('<')) {
                let next = lines.get(i + 1).map_or("", |n| n.trim());
                if next.is_empty() {
                    missing.push(format!("{c}: {t}"));
                }
            }
        }
    }
    assert!(missing.is_empty(), "undescribed: {missing:#?}");
}
