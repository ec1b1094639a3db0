//! Li jumps in the bundled Li6PS5Cl trajectory through the library alone: the
//! trajectory is unwrapped once, sites are discovered from the Li density, each Li is
//! assigned to a site per frame, and the jumps are checked against the tracer D.
//!
//!     cargo run --release --example hops [-- OUT_FOLDER]
//!
//! With OUT_FOLDER, the events, IonDiff-format DIFFUSION file, sites and figures are
//! written there (as `superion traj hops --out`).

use std::path::{Path, PathBuf};

use superion::Engine;
use superion::io::traj_input::{TrajReadOptions, read_trajectory};
use superion::traj::TimeStep;
use superion::traj::hops::{HopOptions, Mode, detect_prepared};

fn main() -> superion::Result<()> {
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/Li6PS5Cl.XDATCAR.gz");
    let read = TrajReadOptions {
        time: TimeStep {
            timestep_fs: Some(2.0),
            stride: Some(50),
        },
        ..Default::default()
    };
    let engine = Engine::from_env()?;
    let traj = read_trajectory(&file, &read)?;
    // One unwrapping, shared by every analysis below.
    let prepared = traj.prepare(&engine, None)?;
    let hops = detect_prepared(&engine, &prepared, &HopOptions::new(Mode::Sites))?;
    let jumps = hops.jumps.as_ref().expect("the sites mode reports jumps");
    println!(
        "{} sites ({}), {} jumps by {} Li",
        jumps.n_sites,
        jumps.site_source,
        hops.events.len(),
        hops.ions.len()
    );
    for t in &jumps.types {
        println!(
            "  {:<22} {:>5} jumps, {:.4} ± {:.4} /ion/ps",
            t.name, t.count, t.rate_per_ion_ps, t.rate_err_per_ion_ps
        );
    }
    println!(
        "D_jump = {:.3e} cm²/s: {}",
        jumps.d_jump_cm2_s, jumps.consistency
    );
    // The per-ion k-means mode on the same unwrapped trajectory, for comparison.
    let kmeans = detect_prepared(&engine, &prepared, &HopOptions::new(Mode::Kmeans))?;
    println!(
        "per-ion k-means on the same trajectory: {} hops",
        kmeans.events.len()
    );
    if let Some(out) = std::env::args().nth(1) {
        let summary = superion::report::hops::summary(&hops, &file, 0.5, 5.0);
        let written = superion::report::hops::write_outputs(&hops, Path::new(&out), &summary)?;
        println!("{} -> {out}", written.join(", "));
    }
    Ok(())
}
