//! Trajectories: readers, MSD and diffusion. Parity with the peers on the shipped
//! Li6PS5Cl trajectory, known answers on generated ones, every kind of bad input.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::gpu;
use superion::Engine;
use superion::io::traj_input::{TrajReadOptions, read_trajectory};
use superion::io::xdatcar;
use superion::traj::msd::{LagGrid, MsdOptions, msd};
use superion::traj::{TimeStep, Trajectory, diffusion};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn li6ps5cl() -> Trajectory {
    let opts = TrajReadOptions {
        time: TimeStep {
            timestep_fs: Some(2.0),
            stride: Some(50),
        },
        ..Default::default()
    };
    read_trajectory(&root().join("data/Li6PS5Cl.XDATCAR.gz"), &opts).unwrap()
}

fn li_msd(engine: &Engine, traj: &Trajectory, drift: bool) -> superion::traj::msd::Msd {
    msd(
        engine,
        traj,
        &MsdOptions {
            species: "Li".into(),
            drift_correction: drift,
            lags: LagGrid::All,
            long_step_a: None,
            axes: Default::default(),
        },
    )
    .unwrap()
}

fn at(m: &superion::traj::msd::Msd, t_ps: f64) -> f64 {
    let i = m
        .times_ps()
        .iter()
        .position(|t| (t - t_ps).abs() < 1e-6)
        .unwrap();
    m.msd_a2[i]
}

#[test]
fn li6ps5cl_is_read_with_species_from_the_species_line() {
    let t = li6ps5cl();
    assert_eq!((t.n_frames(), t.n_atoms()), (140, 416));
    // The comment says "Li192 P32 S160 Cl32" but the species line is "Li Cl S P".
    assert_eq!(t.species_list(), ["Li", "Cl", "S", "P"]);
    assert_eq!(t.indices_of("Cl").unwrap(), (192..224).collect::<Vec<_>>());
    assert!((t.dt_ps.unwrap() - 0.1).abs() < 1e-12);
    assert!((t.volume_a3(0) - 20.3123f64.powi(3)).abs() < 5.0);
}

#[test]
fn li6ps5cl_msd_and_d_match_the_peers() {
    let traj = li6ps5cl();
    let m = li_msd(&Engine::cpu(), &traj, true);
    for (t, want) in [
        (1.0, 1.60282),
        (2.0, 2.46998),
        (5.0, 5.11538),
        (10.0, 8.94185),
        (13.9, 11.81371),
    ] {
        let got = at(&m, t);
        assert!(
            (got / want - 1.0).abs() < 1e-3,
            "MSD at {t} ps: {got} vs {want}"
        );
    }
    let fit = diffusion::fit(&m, Some(2.0)).unwrap();
    // kinisi 2.1.0 on this file from 2 ps: (1.358 ± 0.076) × 10⁻⁵ cm²/s
    // (../shared/data/README.md; data/README.md). D within 1 %, σ within ±25 %
    // (superion's covariance comes from the per-atom spread, kinisi's from its model).
    assert!(
        (fit.d_cm2_s / 1.358e-5 - 1.0).abs() < 0.01,
        "D = {} vs kinisi 1.358e-5",
        fit.d_cm2_s
    );
    assert!(
        (fit.d_err_cm2_s / 0.076e-5 - 1.0).abs() < 0.25,
        "σ(D) = {} vs kinisi 0.076e-5",
        fit.d_err_cm2_s
    );
    let raw = li_msd(&Engine::cpu(), &traj, false);
    for (t, want) in [(1.0, 1.60030), (10.0, 8.93385)] {
        assert!(
            (at(&raw, t) / want - 1.0).abs() < 1e-3,
            "no drift correction, {t} ps"
        );
    }
}

#[test]
fn li6ps5cl_gpu_and_cpu_paths_agree() {
    let Some(g) = gpu() else { return };
    let traj = li6ps5cl();
    let cpu = li_msd(&Engine::cpu(), &traj, true);
    let gpu_m = li_msd(&g, &traj, true);
    for (a, b) in gpu_m.msd_a2.iter().zip(&cpu.msd_a2) {
        assert!((a / b - 1.0).abs() < 1e-4, "{a} vs {b}");
    }
    let (fc, fg) = (
        diffusion::fit(&cpu, Some(2.0)).unwrap(),
        diffusion::fit(&gpu_m, Some(2.0)).unwrap(),
    );
    assert!((fc.d_cm2_s / fg.d_cm2_s - 1.0).abs() < 1e-4);
    assert!((fc.d_err_cm2_s / fg.d_err_cm2_s - 1.0).abs() < 1e-3);
}

// ---------- generated trajectories with known answers ----------

/// Write an XDATCAR: `n_mobile` Li atoms random-walking with per-axis step σ (Å) per
/// frame, `n_frame` framework atoms vibrating in place, all shifted by `drift` Å per
/// frame along x; cubic cell of side `a`.
fn write_walk(
    path: &Path,
    frames: usize,
    n_mobile: usize,
    n_frame: usize,
    sigma: f64,
    drift: f64,
    a: f64,
    seed: u64,
) {
    let mut s = seed | 1;
    let mut gauss = move || {
        // Box-Muller from xorshift.
        let mut u = || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        };
        let (u1, u2) = (u(), u());
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    };
    let n = n_mobile + n_frame;
    let mut pos: Vec<[f64; 3]> = (0..n)
        .map(|i| {
            [
                (i as f64 * 0.618) % 1.0 * a,
                (i as f64 * 0.382) % 1.0 * a,
                (i as f64 * 0.7077) % 1.0 * a,
            ]
        })
        .collect();
    let home = pos.clone();
    let mut text =
        format!("generated\n1.0\n{a} 0 0\n0 {a} 0\n0 0 {a}\nLi O\n{n_mobile} {n_frame}\n");
    for f in 0..frames {
        text.push_str(&format!("Direct configuration= {}\n", f + 1));
        for (i, p) in pos.iter_mut().enumerate() {
            if f > 0 {
                if i < n_mobile {
                    for c in p.iter_mut() {
                        *c += sigma * gauss();
                    }
                } else {
                    for (c, h) in p.iter_mut().zip(&home[i]) {
                        *c = h + 0.05 * gauss();
                    }
                }
            }
            let shown: Vec<f64> = (0..3)
                .map(|c| ((p[c] + if c == 0 { drift * f as f64 } else { 0.0 }) / a).rem_euclid(1.0))
                .collect();
            text.push_str(&format!(
                "{:.8} {:.8} {:.8}\n",
                shown[0], shown[1], shown[2]
            ));
        }
    }
    std::fs::write(path, text).unwrap();
}

fn tempdir(tag: &str) -> common::TestDir {
    common::tempdir(&format!("traj-{tag}"))
}

/// The diffusive-regime check (issue 30): framework atoms vibrating in place give a
/// flat MSD of about 0.015 Å², which no D describes; the walkers beside them are
/// diffusive. The CLI exits 0, says so, and writes null for D.
#[test]
fn a_plateau_is_not_diffusive_and_gets_no_d() {
    let dir = tempdir("plateau");
    let p = dir.join("XDATCAR");
    write_walk(&p, 400, 20, 40, 0.1, 0.0, 12.0, 5);
    std::fs::write(dir.join("INCAR"), "POTIM = 1.0\nNBLOCK = 10\n").unwrap();
    let run = |species: &str, json: bool| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_superion"));
        c.args(["--backend", "cpu", "traj", "msd"])
            .arg(&p)
            .args(["--species", species, "--out"])
            .arg(dir.join(species));
        if json {
            c.arg("--json");
        }
        let o = c.output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let o: serde_json::Value = serde_json::from_str(&run("O", true)).unwrap();
    assert_eq!(o["diffusive"], false, "{o}");
    assert!(o["d_cm2_s"].is_null() && o["d_err_cm2_s"].is_null(), "{o}");
    assert!(o["d_fitted_cm2_s"].is_number());
    let a = o["loglog_exponent"].as_f64().unwrap();
    // (Not quite 0: removing the drift of the whole cell, walkers included, adds a
    // little spread to the framework.)
    assert!(a < 0.75, "plateau exponent {a}");
    let note = o["diffusive_note"].as_str().unwrap();
    assert!(
        note.contains("t^0.75") || note.contains("less than 1 Å"),
        "{note}"
    );
    let text = run("O", false);
    assert!(
        text.contains("O: not diffusive: D not determined"),
        "{text}"
    );
    assert!(!text.contains("0.00-0.00"), "{text}");
    let li: serde_json::Value = serde_json::from_str(&run("Li", true)).unwrap();
    assert_eq!(li["diffusive"], true, "{li}");
    let a = li["loglog_exponent"].as_f64().unwrap();
    assert!((a - 1.0).abs() < 0.1, "walk exponent {a}");
    assert_eq!(li["d_cm2_s"], li["d_fitted_cm2_s"]);
    // The figure says it too.
    let svg = std::fs::read_to_string(dir.join("O/msd.svg")).unwrap();
    assert!(svg.contains("not diffusive"), "msd.svg title");
}

#[test]
fn a_random_walk_gives_its_known_d_despite_drift() {
    // σ = 0.1 Å per axis per 10 fs frame: D = σ² / (2 Δt) = 0.01 / 0.02 Å²/ps = 0.5 Å²/ps
    // = 5e-5 cm²/s. The whole cell drifts 0.05 Å per frame (0.5 Å after 10 frames,
    // crossing the boundary many times): drift correction must remove it.
    let dir = tempdir("walk");
    let p = dir.join("XDATCAR");
    write_walk(&p, 2000, 100, 60, 0.1, 0.05, 12.0, 3);
    std::fs::write(
        dir.join("INCAR"),
        "SYSTEM = walk\nPOTIM = 1.0 ; NBLOCK = 10 # 10 fs per frame\n",
    )
    .unwrap();
    let traj = read_trajectory(&p, &TrajReadOptions::default()).unwrap();
    assert!(
        (traj.dt_ps.unwrap() - 0.01).abs() < 1e-12,
        "POTIM x NBLOCK from the INCAR"
    );
    for e in std::iter::once(Engine::cpu()).chain(gpu()) {
        let m = msd(
            &e,
            &traj,
            &MsdOptions {
                species: "Li".into(),
                drift_correction: true,
                lags: LagGrid::Log(60),
                long_step_a: None,
                axes: Default::default(),
            },
        )
        .unwrap();
        let fit = diffusion::fit(&m, Some(0.5)).unwrap();
        let want = 5e-5;
        assert!(
            (fit.d_cm2_s - want).abs() < 3.0 * fit.d_err_cm2_s + 0.02 * want,
            "{}: D = {} ± {}",
            e.describe(),
            fit.d_cm2_s,
            fit.d_err_cm2_s
        );
        assert!(fit.d_err_cm2_s < 0.1 * want);
        // Independent walkers: the Haven ratio is 1 within its uncertainty, which the
        // blocks give (100 walkers, 2000 frames: determined).
        let c = diffusion::collective(&m, &fit);
        assert_eq!(c.block_d_cm2_s.len(), 5);
        assert!(c.d_err_cm2_s > 0.0 && c.haven_ratio_err > 0.0, "{c:?}");
        assert!(
            (c.haven_ratio - 1.0).abs() < 3.0 * c.haven_ratio_err,
            "H = {} ± {}",
            c.haven_ratio,
            c.haven_ratio_err
        );
        assert!((c.d_cm2_s - want).abs() < 4.0 * c.d_err_cm2_s, "{c:?}");
    }
    // Without drift correction the drift shows up as a huge apparent D.
    let m = msd(
        &Engine::cpu(),
        &traj,
        &MsdOptions {
            species: "Li".into(),
            drift_correction: false,
            lags: LagGrid::Log(60),
            long_step_a: None,
            axes: Default::default(),
        },
    )
    .unwrap();
    let fit = diffusion::fit(&m, Some(0.5)).unwrap();
    assert!(
        fit.d_fitted_cm2_s > 2.0 * 5e-5,
        "drift not removed: {}",
        fit.d_fitted_cm2_s
    );
}

#[test]
fn a_vibrating_crystal_has_a_flat_msd() {
    let dir = tempdir("crystal");
    let p = dir.join("XDATCAR");
    write_walk(&p, 300, 20, 20, 0.0, 0.0, 10.0, 5);
    let opts = TrajReadOptions {
        time: TimeStep {
            timestep_fs: Some(1.0),
            stride: Some(10),
        },
        ..Default::default()
    };
    let traj = read_trajectory(&p, &opts).unwrap();
    let m = msd(
        &Engine::cpu(),
        &traj,
        &MsdOptions {
            species: "O".into(),
            drift_correction: true,
            lags: LagGrid::All,
            long_step_a: None,
            axes: Default::default(),
        },
    )
    .unwrap();
    // Vibration of σ = 0.05 Å per axis about fixed sites: MSD = 2 · 3 · σ² = 0.015 Å².
    let late = m.msd_a2[m.msd_a2.len() / 2];
    assert!((late - 0.015).abs() < 0.002, "{late}");
    let fit = diffusion::fit(&m, Some(0.5)).unwrap();
    assert!(fit.d_fitted_cm2_s.abs() < 1e-7, "{}", fit.d_fitted_cm2_s);
    // A plateau is not diffusion: no D, and the reason stated.
    assert!(!fit.diffusive && fit.d_cm2_s.is_nan(), "{fit:?}");
    assert!(
        fit.diffusive_note.contains("not as t^1") || fit.diffusive_note.contains("less than 1 Å"),
        "{}",
        fit.diffusive_note
    );
}

// ---------- bad input ----------

/// Absurd values are refused where the data enter, in memory and streamed alike, so no
/// FFT, fit or plot ever sees them (issue 31: a 1e40 lattice vector panicked the FFT; a
/// 1e308 fs time step hung the plot after msd.csv was written).
#[test]
fn absurd_cells_positions_and_times_are_refused_where_they_enter() {
    let dir = tempdir("absurd");
    let xdatcar = |a: &str| {
        let mut t = format!("absurd\n1.0\n{a} 0 0\n0 10 0\n0 0 10\nLi\n2\n");
        for f in 0..6 {
            t.push_str(&format!(
                "Direct configuration= {}\n0.1 0.1 0.1\n0.5 0.5 0.{f}\n",
                f + 1
            ));
        }
        t
    };
    let huge = dir.join("huge.XDATCAR");
    std::fs::write(&huge, xdatcar("1e40")).unwrap();
    let fine = dir.join("fine.XDATCAR");
    std::fs::write(&fine, xdatcar("10")).unwrap();
    let nan = dir.join("nan.xyz");
    let mut t = String::new();
    for f in 0..6 {
        let x = if f == 3 {
            "nan".to_string()
        } else {
            format!("1.{f}")
        };
        t.push_str(&format!(
            "2\nLattice=\"10 0 0 0 10 0 0 0 10\" Properties=species:S:1:pos:R:3\nLi 0 0 0\nLi {x} 1 1\n"
        ));
    }
    std::fs::write(&nan, t).unwrap();
    let out = dir.join("out");
    let run = |file: &Path, step: &str, stream: bool| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_superion"));
        c.args(["--backend", "cpu", "traj", "msd"])
            .arg(file)
            .args(["--timestep-fs", step, "--stride", "1", "--out"])
            .arg(&out);
        if stream {
            c.args(["--memory", "512M"]);
        }
        c.output().unwrap()
    };
    for stream in [false, true] {
        let o = run(&huge, "1", stream);
        assert!(common::failed_cleanly(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("huge.XDATCAR")
                && err.contains("frame 1")
                && err.contains("lattice vector a"),
            "{err}"
        );
        let o = run(&nan, "1", stream);
        assert!(common::failed_cleanly(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        // The reader itself names the line (frame 4's second atom).
        assert!(
            err.contains("nan.xyz:16") && err.contains("finite"),
            "{err}"
        );
        let o = run(&fine, "1e308", stream);
        assert!(common::failed_cleanly(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("time between frames") && err.contains("at most 1e6 ps"),
            "{err}"
        );
    }
    assert!(
        !out.join("msd.csv").exists(),
        "nothing written for refused input"
    );
    // The library front door (Python's from_arrays) holds the same limit.
    let pos = ndarray::Array3::<f64>::zeros((3, 1, 3));
    let cell =
        ndarray::Array3::from_shape_fn((1, 3, 3), |(_, i, j)| if i == j { 10.0 } else { 0.0 });
    let e = Trajectory::from_cartesian(
        pos.view(),
        cell.view(),
        vec!["Li".into()],
        Some(1e300),
        "x".into(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("at most 1e6 ps"), "{e}");
}

fn xdatcar_err(tag: &str, text: &str) -> String {
    let dir = tempdir(tag);
    let p = dir.join("XDATCAR");
    std::fs::write(&p, text).unwrap();
    let opts = TrajReadOptions {
        time: TimeStep {
            timestep_fs: Some(1.0),
            stride: Some(1),
        },
        ..Default::default()
    };
    read_trajectory(&p, &opts).unwrap_err().to_string()
}

const HEAD: &str = "t\n1.0\n5 0 0\n0 5 0\n0 0 5\nLi O\n1 1\n";

#[test]
fn malformed_xdatcars_name_the_line_and_what_was_expected() {
    let frame = |k: usize| format!("Direct configuration= {k}\n0.1 0.2 0.3\n0.5 0.5 0.5\n");
    let good = format!("{HEAD}{}{}", frame(1), frame(2));
    let e = xdatcar_err("scale", &good.replacen("1.0\n", "abc\n", 1));
    assert!(e.contains("XDATCAR:2") && e.contains("scale"), "{e}");
    let e = xdatcar_err("zero", &good.replacen("1.0\n", "0\n", 1));
    assert!(e.contains("XDATCAR:2") && e.contains("non-zero"), "{e}");
    let e = xdatcar_err("cell", &good.replacen("0 5 0\n", "0 5\n", 1));
    assert!(e.contains("XDATCAR:4") && e.contains("3 numbers"), "{e}");
    let e = xdatcar_err("flat", &good.replacen("0 0 5\n", "0 0 0\n", 1));
    assert!(e.contains("zero volume"), "{e}");
    let e = xdatcar_err("counts", &good.replacen("1 1\n", "1 1 1\n", 1));
    assert!(
        e.contains("XDATCAR:7") && e.contains("3 counts for 2 species"),
        "{e}"
    );
    let e = xdatcar_err("vasp4", &good.replacen("Li O\n", "", 1));
    assert!(e.contains("VASP 5 species line"), "{e}");
    let e = xdatcar_err("nonnum", &good.replacen("0.5 0.5 0.5\n", "0.5 x 0.5\n", 1));
    assert!(e.contains("XDATCAR:10") && e.contains("\"x\""), "{e}");
    let e = xdatcar_err("nan", &good.replacen("0.5 0.5 0.5\n", "0.5 NaN 0.5\n", 1));
    assert!(
        e.contains("XDATCAR:10") && e.contains("not a finite number"),
        "{e}"
    );
    let e = xdatcar_err(
        "short",
        &format!("{good}Direct configuration= 3\n0.1 0.2 0.3\n"),
    );
    assert!(
        e.contains("frame 3 is truncated")
            && e.contains("2 complete frames")
            && e.contains("option allow_truncated"),
        "{e}"
    );
    let e = xdatcar_err("marker", &format!("{good}garbage\n"));
    assert!(
        e.contains("XDATCAR:14") && e.contains("Direct configuration"),
        "{e}"
    );
    let e = xdatcar_err("empty", "\n\n");
    assert!(e.contains("empty"), "{e}");
}

#[test]
fn truncated_files_can_be_analysed_when_asked() {
    let dir = tempdir("trunc");
    let p = dir.join("XDATCAR");
    let frame = |k: usize| format!("Direct configuration= {k}\n0.1 0.2 0.3\n0.5 0.5 0.5\n");
    std::fs::write(
        &p,
        format!(
            "{HEAD}{}{}{}Direct configuration= 4\n0.1 0.2 0.3\n",
            frame(1),
            frame(2),
            frame(3)
        ),
    )
    .unwrap();
    let opts = TrajReadOptions {
        time: TimeStep {
            timestep_fs: Some(1.0),
            stride: Some(1),
        },
        allow_truncated: true,
        ..Default::default()
    };
    let t = read_trajectory(&p, &opts).unwrap();
    assert_eq!(t.n_frames(), 3);
    assert!(t.notes.iter().any(|n| n.contains("frame 4 is incomplete")));
}

#[test]
fn variable_cell_and_cartesian_and_negative_scale() {
    let dir = tempdir("npt");
    let p = dir.join("XDATCAR");
    // Two frames, each with its own header (NPT); the second in Cartesian coordinates;
    // the first header gives the volume (125 Å³) as a negative scale.
    let text = "t\n-125\n1 0 0\n0 1 0\n0 0 1\nLi O\n1 1\nDirect configuration= 1\n0.1 0.2 0.3\n0.5 0.5 0.5\n\
                t\n1.0\n5.5 0 0\n0 5.5 0\n0 0 5.5\nLi O\n1 1\nCartesian configuration= 2\n0.55 1.1 1.65\n2.75 2.75 2.75\n";
    std::fs::write(&p, text).unwrap();
    let opts = TrajReadOptions {
        time: TimeStep {
            timestep_fs: Some(1.0),
            stride: Some(1),
        },
        ..Default::default()
    };
    let t = read_trajectory(&p, &opts).unwrap();
    assert_eq!(t.cells.shape(), &[2, 3, 3]);
    assert!((t.cells[[0, 0, 0]] - 5.0).abs() < 1e-5 && (t.cells[[1, 1, 1]] - 5.5).abs() < 1e-6);
    assert!((t.frac[[1, 0, 0]] - 0.1).abs() < 1e-6 && (t.frac[[1, 1, 2]] - 0.5).abs() < 1e-6);
}

#[test]
fn time_step_problems_are_clear() {
    let dir = tempdir("incar");
    let p = dir.join("XDATCAR");
    std::fs::write(
        &p,
        format!("{HEAD}Direct configuration= 1\n0.1 0.2 0.3\n0.5 0.5 0.5\n"),
    )
    .unwrap();
    let e = read_trajectory(&p, &TrajReadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("no INCAR") && e.contains("option timestep_fs"),
        "{e}"
    );
    std::fs::write(dir.join("INCAR"), "NBLOCK = 5\n").unwrap();
    let e = read_trajectory(&p, &TrajReadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("INCAR") && e.contains("POTIM is missing"), "{e}");
    std::fs::write(dir.join("INCAR"), "POTIM = 2\n").unwrap();
    let e = read_trajectory(&p, &TrajReadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("NBLOCK is missing") && e.contains("option stride"),
        "{e}"
    );
    std::fs::write(dir.join("INCAR"), "POTIM = fast\nNBLOCK = 5\n").unwrap();
    let e = read_trajectory(&p, &TrajReadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("INCAR:1") && e.contains("POTIM"), "{e}");
    assert!(xdatcar::incar_timestep(&dir.join("INCAR")).is_err());
    // A time step without a stride: XDATCAR frames are NBLOCK steps apart, so the
    // stride is never guessed as 1. With an INCAR beside it, NBLOCK is the stride.
    let step_only = TrajReadOptions {
        time: TimeStep {
            timestep_fs: Some(2.0),
            stride: None,
        },
        ..Default::default()
    };
    std::fs::write(dir.join("INCAR"), "POTIM = 1\nNBLOCK = 5\n").unwrap();
    let t = read_trajectory(&p, &step_only).unwrap();
    assert!((t.dt_ps.unwrap() - 0.010).abs() < 1e-12, "2 fs x NBLOCK 5");
    assert!(
        t.notes.iter().any(|n| n.contains("stride NBLOCK from")),
        "{:?}",
        t.notes
    );
    std::fs::remove_file(dir.join("INCAR")).unwrap();
    let e = read_trajectory(&p, &step_only).unwrap_err().to_string();
    assert!(
        e.contains("XDATCAR frames are NBLOCK MD steps apart") && e.contains("option stride"),
        "{e}"
    );
    // On the command line: an error naming the flag, exit code 1, nothing computed.
    let o = Command::new(env!("CARGO_BIN_EXE_superion"))
        .args(["traj", "msd", p.to_str().unwrap(), "--timestep-fs", "2"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("give --stride (NBLOCK)"), "{err}");
    assert!(o.stdout.is_empty());
}

#[test]
fn analysis_problems_are_clear() {
    let traj = li6ps5cl();
    let e = msd(
        &Engine::cpu(),
        &traj,
        &MsdOptions {
            species: "Na".into(),
            drift_correction: true,
            lags: LagGrid::All,
            long_step_a: None,
            axes: Default::default(),
        },
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("no Na atoms") && e.contains("Li, Cl, S, P"),
        "{e}"
    );
    let m = li_msd(&Engine::cpu(), &traj, true);
    let e = diffusion::fit(&m, Some(50.0)).unwrap_err().to_string();
    assert!(e.contains("option start_ps 50"), "{e}");
    let dir = tempdir("short");
    let p = dir.join("XDATCAR");
    std::fs::write(
        &p,
        format!("{HEAD}Direct configuration= 1\n0.1 0.2 0.3\n0.5 0.5 0.5\n"),
    )
    .unwrap();
    let opts = TrajReadOptions {
        time: TimeStep {
            timestep_fs: Some(1.0),
            stride: Some(1),
        },
        ..Default::default()
    };
    let one = read_trajectory(&p, &opts).unwrap();
    let e = msd(
        &Engine::cpu(),
        &one,
        &MsdOptions {
            species: "Li".into(),
            drift_correction: true,
            lags: LagGrid::All,
            long_step_a: None,
            axes: Default::default(),
        },
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("1 frames") && e.contains("at least 3"), "{e}");
}

#[test]
fn msd_cli_writes_csv_json_and_plot() {
    let out = tempdir("cli");
    let o = Command::new(env!("CARGO_BIN_EXE_superion"))
        .args([
            "traj",
            "msd",
            root().join("data/Li6PS5Cl.XDATCAR.gz").to_str().unwrap(),
            "--timestep-fs",
            "2",
            "--stride",
            "50",
            "--start-ps",
            "2",
            "--temperature",
            "600",
            "--out",
            out.to_str().unwrap(),
            "--json",
        ])
        .env("SUPERION_BACKEND", "cpu")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    for key in [
        "species",
        "n_atoms",
        "n_frames",
        "dt_ps",
        "d_cm2_s",
        "d_err_cm2_s",
        "fit_start_ps",
        "msd",
        "haven_ratio",
        "conductivity",
    ] {
        assert!(summary.get(key).is_some(), "summary lacks {key}");
    }
    assert_eq!(summary["n_atoms"], 192);
    // Nernst-Einstein, computed here from its definition: σ = N e² D / (V k_B T), with
    // N = 192 Li, V from the cell (volume_a3, Å³), T = 600 K.
    let d = summary["d_cm2_s"].as_f64().unwrap();
    let v_m3 = li6ps5cl().volume_a3(0) * 1e-30;
    let (e, kb) = (1.602_176_634e-19, 1.380_649e-23);
    let want = 192.0 * e * e * (d * 1e-4) / (v_m3 * kb * 600.0) / 100.0; // S/m -> S/cm
    let got = summary["conductivity"]["sigma_tracer_s_cm"]
        .as_f64()
        .unwrap();
    assert!(
        (got / want - 1.0).abs() < 1e-6,
        "σ_NE = {got} S/cm vs {want} from its definition"
    );
    assert_eq!(summary["msd"].as_array().unwrap().len(), 139);
    // 14 ps of one run do not determine the Haven ratio: said, not printed as a number.
    assert!(summary["haven_ratio"].is_null() && summary["d_sigma_err_cm2_s"].is_null());
    assert!(
        summary["haven_note"]
            .as_str()
            .unwrap()
            .starts_with("not determined: D_sigma needs at least 3 blocks"),
        "{}",
        summary["haven_note"]
    );
    let csv = std::fs::read_to_string(out.join("msd.csv")).unwrap();
    assert!(csv.starts_with("dt_ps,msd_a2,msd_x_a2,msd_y_a2,msd_z_a2,collective_a2"));
    assert!(
        std::fs::read_to_string(out.join("msd.svg"))
            .unwrap()
            .contains("<svg")
    );
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(written["d_cm2_s"], summary["d_cm2_s"]);
}

#[test]
fn planar_and_axial_msd_give_the_same_d_for_an_isotropic_walk() {
    let dir = tempdir("axes");
    let p = dir.join("XDATCAR");
    write_walk(&p, 1500, 100, 20, 0.1, 0.0, 12.0, 9);
    let opts = TrajReadOptions {
        time: TimeStep {
            timestep_fs: Some(1.0),
            stride: Some(10),
        },
        ..Default::default()
    };
    let traj = read_trajectory(&p, &opts).unwrap();
    for (axes, d) in [("xyz", 3), ("xy", 2), ("z", 1)] {
        let o = MsdOptions {
            species: "Li".into(),
            drift_correction: true,
            lags: LagGrid::Log(50),
            long_step_a: None,
            axes: axes.parse().unwrap(),
        };
        let m = msd(&Engine::cpu(), &traj, &o).unwrap();
        assert_eq!(m.axes.count(), d);
        let fit = diffusion::fit(&m, Some(0.5)).unwrap();
        assert!(
            (fit.d_cm2_s - 5e-5).abs() < 3.0 * fit.d_err_cm2_s + 1e-6,
            "{axes}: {} ± {}",
            fit.d_cm2_s,
            fit.d_err_cm2_s
        );
    }
    assert!("xq".parse::<superion::traj::msd::Axes>().is_err());
}

#[test]
fn cli_messages_name_flags_and_bad_options_fail_before_reading() {
    let run = |args: &[&str]| {
        let (code, _, err) = cli(args);
        (code, err)
    };
    let xdatcar = root().join("data/Li6PS5Cl.XDATCAR.gz");
    let x = xdatcar.to_str().unwrap();
    // The library's "option start_ps" is "--start-ps" on the command line.
    let (code, err) = run(&[
        "traj",
        "msd",
        x,
        "--timestep-fs",
        "2",
        "--stride",
        "50",
        "--start-ps",
        "50",
    ]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("--start-ps 50 is outside") && !err.contains("option "),
        "{err}"
    );
    // Bad options are refused before the (missing) file is read.
    for (args, expected) in [
        (
            vec!["traj", "msd", "/no/such/file", "--lags", "log:1"],
            "--lags must be",
        ),
        (
            vec!["traj", "msd", "/no/such/file", "--axes", "q"],
            "--axes takes letters",
        ),
        (
            vec!["traj", "msd", "/no/such/file", "--temperature=-3"],
            "--temperature must be positive",
        ),
        (
            vec!["traj", "msd", "/no/such/file", "--timestep-fs", "0"],
            "--timestep-fs 0: must be a positive time step",
        ),
        (
            vec![
                "traj",
                "hops",
                "/no/such/file",
                "--mode",
                "kmeans",
                "--k-max",
                "1",
            ],
            "--k-max must be at least 2",
        ),
        (
            vec!["screen", "/no/such/dir", "--k", "two"],
            "--k takes a number",
        ),
        (
            vec!["cluster", "/no/such.csv", "--k", "0..x"],
            "--k takes a number",
        ),
    ] {
        let (code, err) = run(&args);
        assert_eq!(code, Some(1), "{args:?}: {err}");
        assert!(
            err.contains(expected) && !err.contains("/no/such"),
            "{args:?}: {err}"
        );
    }
    // One species per run where the analysis takes one.
    let (code, err) = run(&["traj", "msd", x, "--species", "Li,Na"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("one species per run"), "{err}");
}

#[test]
fn a_reader_that_goes_away_stops_the_output_quietly() {
    use std::io::Read;
    // `superion traj hops ... --json | head -c 100`: the JSON is hundreds of kB.
    let mut child = Command::new(env!("CARGO_BIN_EXE_superion"))
        .args([
            "traj",
            "hops",
            root().join("data/Li6PS5Cl.XDATCAR.gz").to_str().unwrap(),
            "--timestep-fs",
            "2",
            "--stride",
            "50",
            "--json",
        ])
        .env("SUPERION_BACKEND", "cpu")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 100];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap();
    // The pipe's reading end is closed here.
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !err.contains("panicked") && !err.contains("Broken pipe"),
        "{err}"
    );
    // Ended by SIGPIPE, or a clean exit; never the panic exit code.
    assert_ne!(o.status.code(), Some(101), "no panic exit: {err}");
}

#[test]
fn mistyped_inputs_get_one_clear_message() {
    let run = cli;
    // A missing file is named once, not "entity not found: entity not found".
    let (code, _, err) = run(&["traj", "msd", "/no/such.xdatcar"]);
    assert_eq!(code, Some(1));
    assert_eq!(err.matches("no such file").count(), 1, "{err}");
    // A mistyped --known file is not taken as a formula.
    let phonopy = root().join("data/phonopy");
    let (code, _, err) = run(&[
        "screen",
        phonopy.to_str().unwrap(),
        "--known",
        "nothere.txt",
    ]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("--known \"nothere.txt\": no such file"),
        "{err}"
    );
    // Element symbols in any case.
    let x = root().join("data/Li6PS5Cl.XDATCAR.gz");
    let (code, out, err) = run(&[
        "traj",
        "msd",
        x.to_str().unwrap(),
        "--timestep-fs",
        "2",
        "--stride",
        "50",
        "--species",
        "li",
    ]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.starts_with("Li: D = 1.3568e-5"), "{out}");
    let (code, out, err) = run(&[
        "phonon",
        "show",
        phonopy.join("LiF").to_str().unwrap(),
        "--element",
        "li",
        "--out",
        std::env::temp_dir().to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("li_centre_thz"), "{out}");
}

#[test]
fn block_averaged_d_sigma_is_unbiased_with_an_honest_error_over_independent_runs() {
    // Independent walkers (D_sigma = D* = 5e-5 cm²/s), eight runs of 15 ps. One run's
    // D_sigma scatters widely (one collective series); the block average over runs
    // is unbiased and the blocks' standard error covers the truth as Student's t
    // with 4 degrees of freedom says (2.78 σ for 95 %), in-plane as in 3D.
    let dir = tempdir("blocks");
    for (axes, want_fraction) in [("xyz", 6), ("xy", 6)] {
        let (mut values, mut covered) = (Vec::new(), 0);
        for seed in 1..9u64 {
            let p = dir.join(format!("XDATCAR{seed}"));
            if !p.is_file() {
                write_walk(&p, 1500, 100, 20, 0.1, 0.0, 12.0, seed * 7 + 1);
            }
            let opts = TrajReadOptions {
                time: TimeStep {
                    timestep_fs: Some(1.0),
                    stride: Some(10),
                },
                ..Default::default()
            };
            let traj = read_trajectory(&p, &opts).unwrap();
            let o = MsdOptions {
                species: "Li".into(),
                drift_correction: true,
                lags: LagGrid::All,
                long_step_a: None,
                axes: axes.parse().unwrap(),
            };
            let m = msd(&Engine::cpu(), &traj, &o).unwrap();
            let fit = diffusion::fit(&m, Some(0.5)).unwrap();
            let c = diffusion::collective(&m, &fit);
            assert_eq!(c.block_d_cm2_s.len(), 5, "{axes}");
            values.push(c.d_cm2_s);
            if (c.d_cm2_s - 5e-5).abs() < 2.78 * c.d_err_cm2_s {
                covered += 1;
            }
        }
        // Unbiased: the mean of the runs within Student's t (7 dof, 99.5 %: 3.5) of
        // the truth, the spread measured over the runs themselves.
        let mean = values.iter().sum::<f64>() / 8.0;
        let sd = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 7.0).sqrt();
        assert!(
            (mean - 5e-5).abs() < 3.5 * sd / 8f64.sqrt(),
            "{axes}: mean D_sigma {mean} (run-to-run σ {sd})"
        );
        assert!(
            covered >= want_fraction,
            "{axes}: {covered} of 8 runs covered"
        );
    }
}

/// Run the CLI on the CPU path: exit code, stdout, stderr.
fn cli(args: &[&str]) -> (Option<i32>, String, String) {
    let o = common::no_panic(
        Command::new(env!("CARGO_BIN_EXE_superion"))
            .args(args)
            .env("SUPERION_BACKEND", "cpu")
            .output()
            .unwrap(),
    );
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).to_string(),
        String::from_utf8_lossy(&o.stderr).to_string(),
    )
}

/// The streaming XDATCAR reader gives the same trajectory whatever its chunk size
/// (chunks of a few lines cut frames at every possible place), for a fixed cell and a
/// variable (NPT) one, with a frame range and with a cut-short last frame.
#[test]
fn xdatcar_chunks_of_any_size_give_the_same_trajectory() {
    use superion::io::traj_input::FrameRange;
    use superion::io::xdatcar::{XdatcarOptions, read};
    let dir = tempdir("chunks");
    // 9 frames of 3 atoms, fixed cell; then the same with a header per frame.
    let mut fixed = String::from("t\n1.0\n6 0 0\n0 6 0\n0 0 6\nLi O\n2 1\n");
    let mut npt = String::new();
    for f in 0..9 {
        let x = 0.05 * f as f64;
        let coords = format!("{x} 0.1 0.2\n0.5 {x} 0.5\n0.9 0.9 {x}\n");
        fixed.push_str(&format!("Direct configuration= {}\n{coords}", f + 1));
        npt.push_str(&format!(
            "t\n1.0\n{} 0 0\n0 6 0\n0 0 6\nLi O\n2 1\nDirect configuration= {}\n{coords}",
            6.0 + 0.01 * f as f64,
            f + 1
        ));
    }
    let cut = format!("{fixed}Direct configuration= 10\n0.1 0.1 0.1\n");
    for (name, text) in [("fixed", &fixed), ("npt", &npt), ("cut", &cut)] {
        let p = dir.join(format!("{name}.XDATCAR"));
        std::fs::write(&p, text).unwrap();
        for frames in [
            FrameRange::default(),
            FrameRange {
                start: 2,
                stop: Some(8),
                every: 2,
            },
        ] {
            let base = XdatcarOptions {
                allow_truncated: true,
                frames,
                ..Default::default()
            };
            let whole = read(&p, base).unwrap();
            assert_eq!(
                whole.n_frames(),
                if frames.is_all() { 9 } else { 3 },
                "{name}"
            );
            for chunk_lines in 1..=13 {
                let t = read(
                    &p,
                    XdatcarOptions {
                        chunk_lines,
                        ..base
                    },
                )
                .unwrap();
                assert_eq!(t.frac, whole.frac, "{name}, chunks of {chunk_lines} lines");
                assert_eq!(
                    t.cells, whole.cells,
                    "{name}, chunks of {chunk_lines} lines"
                );
                assert_eq!(t.notes, whole.notes);
            }
        }
    }
    // The values themselves: frame 4 (x = 0.2) of the NPT file, its own cell.
    let t = read(&dir.join("npt.XDATCAR"), XdatcarOptions::default()).unwrap();
    assert!((t.frac[[4, 0, 0]] - 0.2).abs() < 1e-7);
    assert!((t.cells[[4, 0, 0]] - 6.04).abs() < 1e-6);
    // A malformed coordinate in a later chunk is still named by its line.
    let bad = fixed.replacen("0.5 0.2 0.5", "0.5 x 0.5", 1);
    let p = dir.join("bad.XDATCAR");
    std::fs::write(&p, bad).unwrap();
    let e = read(
        &p,
        XdatcarOptions {
            chunk_lines: 5,
            ..Default::default()
        },
    )
    .unwrap_err()
    .to_string();
    // Frame 5 (x = 0.2): its marker is line 8 + 4 * 4 = 24, its second atom line 26.
    assert!(e.contains("bad.XDATCAR:26") && e.contains("\"x\""), "{e}");
}

/// A time step or stride given against an INCAR that says otherwise: the given values
/// are used and the disagreement is said (issue 30: `--timestep-fs 1` silently
/// overrode POTIM 2).
#[test]
fn a_given_time_step_that_contradicts_the_incar_is_used_and_reported() {
    let dir = tempdir("incar-disagree");
    let p = dir.join("XDATCAR");
    write_walk(&p, 40, 20, 40, 0.1, 0.0, 12.0, 5);
    std::fs::write(dir.join("INCAR"), "POTIM = 2\nNBLOCK = 50\n").unwrap();
    let read = |fs: Option<f64>, stride: Option<usize>| {
        read_trajectory(
            &p,
            &TrajReadOptions {
                time: TimeStep {
                    timestep_fs: fs,
                    stride,
                },
                ..Default::default()
            },
        )
        .unwrap()
    };
    // The INCAR alone, and the same values given: no warning.
    for t in [read(None, None), read(Some(2.0), Some(50))] {
        assert!((t.dt_ps.unwrap() - 0.1).abs() < 1e-12);
        assert!(
            !t.notes.iter().any(|n| n.contains("warning")),
            "{:?}",
            t.notes
        );
    }
    let t = read(Some(1.0), Some(10));
    assert!((t.dt_ps.unwrap() - 0.01).abs() < 1e-12);
    assert!(
        t.notes.iter().any(|n| n.contains("warning")
            && n.contains("POTIM 2 fs (timestep_fs 1 given)")
            && n.contains("NBLOCK 50 (stride 10 given)")
            && n.contains("the given values are used")),
        "{:?}",
        t.notes
    );
}

/// One streaming policy for every front end: asked for (a memory limit or a scratch
/// folder), or automatic when the in-memory path would hold more than the default
/// budget (sparse files here: 300 MB of text, 50 MB gzipped); a small file is read
/// into memory.
#[test]
fn the_library_chooses_when_to_stream() {
    use superion::traj::stream::StreamOptions;
    let dir = common::tempdir("stream-policy");
    let small = dir.join("small.xyz");
    std::fs::write(&small, "1\nLattice=\"1 0 0 0 1 0 0 0 1\"\nLi 0 0 0\n").unwrap();
    assert!(StreamOptions::choose(&[small.as_path()], None, None).is_none());
    let asked = StreamOptions::choose(&[small.as_path()], Some(1 << 20), None).unwrap();
    assert_eq!(asked.memory_bytes, 1 << 20);
    assert!(StreamOptions::choose(&[small.as_path()], None, Some(dir.to_path_buf())).is_some());
    let sparse = |name: &str, head: &[u8], len: u64| {
        let p = dir.join(name);
        let mut f = std::fs::File::create(&p).unwrap();
        std::io::Write::write_all(&mut f, head).unwrap();
        f.set_len(len).unwrap();
        p
    };
    let budget = StreamOptions::default().memory_bytes;
    assert_eq!(budget, 256 << 20);
    let big = sparse("big.xyz", b"1\n", 300 << 20);
    assert_eq!(
        StreamOptions::in_memory_estimate(&big),
        Some((300 << 20) + (60 << 20))
    );
    let auto = StreamOptions::choose(&[small.as_path(), big.as_path()], None, None).unwrap();
    assert_eq!(auto.memory_bytes, budget);
    let packed = sparse("big.xyz.gz", &[0x1f, 0x8b, 8, 0], 50 << 20);
    assert_eq!(StreamOptions::in_memory_estimate(&packed), Some(300 << 20));
    assert!(StreamOptions::choose(&[packed.as_path()], None, None).is_some());
    // 180 MB of text (about 216 MB held) fits the budget: in memory, unless this
    // machine has less than ~0.9 GB available.
    let mid = sparse("mid.xyz", b"1\n", 180 << 20);
    if superion::traj::stream::available_memory_bytes().is_some_and(|a| a > 1 << 30) {
        assert!(StreamOptions::choose(&[mid.as_path()], None, None).is_none());
    }
    assert!(superion::traj::stream::available_memory_bytes().is_some_and(|b| b > 0));
}
