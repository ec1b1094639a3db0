//! Every job through the library API alone (what `examples/` and the Python package
//! build on): the demo's trajectory is unwrapped once and shared; an analysis of a
//! shared, already unwrapped trajectory equals the same analysis on its own; the
//! screening and the diffusion report run without the command line.

mod common;

use std::path::PathBuf;

use superion::Engine;
use superion::io::traj_input::{TrajReadOptions, read_trajectory};
use superion::report;
use superion::traj::TimeStep;
use superion::traj::hops::{HopOptions, Mode, detect, detect_prepared};
use superion::traj::msd::{LagGrid, MsdOptions};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn tempdir(tag: &str) -> common::TestDir {
    common::tempdir(&format!("library-{tag}"))
}

fn li6ps5cl() -> superion::traj::Trajectory {
    let opts = TrajReadOptions {
        time: TimeStep {
            timestep_fs: Some(2.0),
            stride: Some(50),
        },
        ..Default::default()
    };
    read_trajectory(&root().join("data/Li6PS5Cl.XDATCAR.gz"), &opts).unwrap()
}

fn diffusion_options() -> report::msd::DiffusionOptions {
    report::msd::DiffusionOptions {
        msd: MsdOptions {
            species: "Li".into(),
            drift_correction: true,
            lags: LagGrid::All,
            long_step_a: None,
            axes: Default::default(),
        },
        start_ps: None,
        temperature_k: Some(500.0),
        charge_e: None,
    }
}

#[test]
fn the_demo_unwraps_its_trajectory_once() {
    let dir = tempdir("demo");
    let engine = Engine::cpu();
    let d = report::demo::run(&engine, &root().join("data"), &dir).unwrap();
    // One trajectory, three hop modes (the sites mode also fits the tracer D) and the
    // MSD: one unwrapping.
    assert_eq!(engine.unwraps(), 1);
    assert!((d.d_cm2_s - 1.3568e-5).abs() < 1e-8, "{}", d.d_cm2_s);
    assert!(d.report.is_file() && d.screening.report.is_file());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn analyses_of_a_shared_trajectory_equal_the_same_analyses_alone() {
    let traj = li6ps5cl();
    let file = root().join("data/Li6PS5Cl.XDATCAR.gz");
    let engine = Engine::cpu();
    let alone = report::msd::diffusion(&engine, &traj, &file, &diffusion_options()).unwrap();
    let hops_alone: Vec<_> = [Mode::Sites, Mode::Kmeans]
        .map(|m| detect(&engine, &traj, &HopOptions::new(m)).unwrap())
        .into_iter()
        .collect();
    let before = engine.unwraps();
    let prepared = traj.prepare(&engine, None).unwrap();
    let shared =
        report::msd::diffusion_prepared(&engine, &prepared, &file, &diffusion_options()).unwrap();
    for (m, h) in [Mode::Sites, Mode::Kmeans].into_iter().zip(&hops_alone) {
        let s = detect_prepared(&engine, &prepared, &HopOptions::new(m)).unwrap();
        let key = |e: &superion::traj::hops::Event| {
            (e.ion, e.start_frame, e.end_frame, e.from_site, e.to_site)
        };
        assert_eq!(
            s.events.iter().map(key).collect::<Vec<_>>(),
            h.events.iter().map(key).collect::<Vec<_>>(),
            "{m:?}"
        );
    }
    assert_eq!(engine.unwraps() - before, 1);
    assert_eq!(
        serde_json::to_string(&shared.summary).unwrap(),
        serde_json::to_string(&alone.summary).unwrap()
    );
    let c = alone.summary.conductivity.as_ref().unwrap();
    assert!(c.sigma_tracer_s_cm > 0.0 && c.temperature_k == 500.0);
}

#[test]
fn screening_runs_through_the_library() {
    let dir = tempdir("screen");
    let request = report::screen::ScreenRequest {
        inputs: vec![root().join("data/phonopy")],
        dos: superion::materials::screening_dos_options(),
        known: superion::screen::parse_known(Some("Li3NbS4")).unwrap(),
        method: superion::cluster::select::Method::Ward,
        ks: (2..=10).collect(),
        columns: None,
        id: None,
        seed: 0,
    };
    let run = report::screen::run(&Engine::cpu(), &request, &dir).unwrap();
    // Six inputs, NaCl left out (no Li), k cut below the five materials.
    assert_eq!(run.materials.ids.len(), 5);
    assert_eq!(run.skipped.len(), 1);
    assert!(
        run.notes.iter().any(|n| n.contains("k range cut to 2..4")),
        "{:?}",
        run.notes
    );
    assert_eq!(run.screening.known_rows.len(), 1);
    assert!(run.report.is_file() && dir.join("candidates.csv").is_file());
    // k beyond the materials is refused in domain words.
    let mut big = request.clone();
    big.ks = vec![9];
    let e = report::screen::run(&Engine::cpu(), &big, &dir)
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("k = 9: every k is at least the number of materials (5)"),
        "{e}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
