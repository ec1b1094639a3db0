//! Li diffusion in the bundled Li6PS5Cl AIMD trajectory through the library alone:
//! read, MSD over all time origins, the tracer D with its uncertainty, the Haven
//! ratio and the Nernst-Einstein conductivity.
//!
//!     cargo run --release --example msd [-- TRAJECTORY [TIMESTEP_FS STRIDE]]
//!
//! `SUPERION_BACKEND=gpu|cpu|auto` picks where the kernels run (default auto).

use std::path::PathBuf;

use superion::Engine;
use superion::io::traj_input::{TrajReadOptions, read_trajectory};
use superion::report::msd::{DiffusionOptions, diffusion};
use superion::traj::TimeStep;
use superion::traj::msd::MsdOptions;

fn main() -> superion::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let file = args.first().map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/Li6PS5Cl.XDATCAR.gz")
    });
    // The bundled run: 2 fs MD steps, every 50th written.
    let number =
        |i: usize, default: f64| args.get(i).and_then(|v| v.parse().ok()).unwrap_or(default);
    let read = TrajReadOptions {
        time: TimeStep {
            timestep_fs: Some(number(1, 2.0)),
            stride: Some(number(2, 50.0) as usize),
        },
        ..Default::default()
    };
    let engine = Engine::from_env()?;
    let traj = read_trajectory(&file, &read)?;
    let opts = DiffusionOptions {
        msd: MsdOptions {
            species: "Li".into(),
            drift_correction: true,
            lags: superion::traj::msd::LagGrid::All,
            long_step_a: None,
            axes: Default::default(),
        },
        start_ps: None,
        temperature_k: Some(500.0),
        charge_e: None,
    };
    let d = diffusion(&engine, &traj, &file, &opts)?;
    let s = &d.summary;
    println!(
        "{}: {} Li, {} frames of {} ps on {}",
        file.display(),
        s.n_atoms,
        s.n_frames,
        s.dt_ps,
        s.backend
    );
    println!(
        "D(Li) = {:.4e} ± {:.2e} cm²/s (GLS fit {:.2}-{:.2} ps)",
        s.d_cm2_s, s.d_err_cm2_s, s.fit_start_ps, s.fit_end_ps
    );
    println!(
        "D_sigma = {:.4e} cm²/s, Haven ratio {:.3} (indicative: the collective MSD is one noisy series)",
        s.d_sigma_cm2_s, s.haven_ratio
    );
    if let Some(c) = &s.conductivity {
        println!(
            "σ(tracer, Nernst-Einstein) at {} K = {:.3} ± {:.3} S/cm",
            c.temperature_k, c.sigma_tracer_s_cm, c.sigma_tracer_err_s_cm
        );
    }
    Ok(())
}
