//! `cargo bench --bench traj`: superion end to end (parse + unwrap + MSD + fit) on
//! generated trajectories the size of the peers' benchmarks, with reader throughput:
//! - a 4000-frame XDATCAR, 200 Li random-walking among 200 framework atoms
//!   (kinisi's MSD alone on 4000 frames x 200 ions: 254 s, growing as T²);
//! - a 200-frame x 2688-atom extended XYZ with velocities (kinisi: 34.5 s).
//! The files are written to the temp folder once and reused; `benches/peers/traj.sh`
//! runs the peers on the same files.

use std::path::{Path, PathBuf};
use std::time::Instant;

use superion::Engine;
use superion::io::traj_input::{TrajReadOptions, read_trajectory};
use superion::traj::msd::{LagGrid, MsdOptions, msd};
use superion::traj::{TimeStep, diffusion};

fn rng(seed: u64) -> impl FnMut() -> f64 {
    let mut s = seed | 1;
    move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f64 / (1u64 << 53) as f64 - 0.5
    }
}

fn write_xdatcar(path: &Path, frames: usize, n_li: usize, n_fw: usize) {
    use std::fmt::Write;
    let a = 15.0;
    let mut r = rng(1);
    let n = n_li + n_fw;
    let mut pos: Vec<[f64; 3]> = (0..n).map(|_| [r() + 0.5, r() + 0.5, r() + 0.5]).collect();
    let home = pos.clone();
    let mut t = format!("generated walk\n1.0\n{a} 0 0\n0 {a} 0\n0 0 {a}\nLi O\n{n_li} {n_fw}\n");
    for f in 0..frames {
        writeln!(t, "Direct configuration= {:>6}", f + 1).unwrap();
        for (i, p) in pos.iter_mut().enumerate() {
            for c in 0..3 {
                if i < n_li {
                    p[c] += 0.012 * r();
                } else {
                    p[c] = home[i][c] + 0.004 * r();
                }
            }
            writeln!(
                t,
                "  {:.8}  {:.8}  {:.8}",
                p[0].rem_euclid(1.0),
                p[1].rem_euclid(1.0),
                p[2].rem_euclid(1.0)
            )
            .unwrap();
        }
    }
    std::fs::write(path, t).unwrap();
}

fn write_xyz(path: &Path, frames: usize, n: usize) {
    use std::fmt::Write;
    let a = 30.0;
    let mut r = rng(2);
    let mut pos: Vec<[f64; 3]> = (0..n)
        .map(|_| [a * (r() + 0.5), a * (r() + 0.5), a * (r() + 0.5)])
        .collect();
    let mut t = String::with_capacity(frames * n * 110);
    for _ in 0..frames {
        writeln!(t, "{n}\nLattice=\"{a} 0.0 0.0 0.0 {a} 0.0 0.0 0.0 {a}\" Properties=species:S:1:pos:R:3:vel:R:3 pbc=\"T T T\"").unwrap();
        for (i, p) in pos.iter_mut().enumerate() {
            let sp = if i % 4 == 0 {
                "Li"
            } else if i % 4 == 1 {
                "P"
            } else {
                "S"
            };
            let v = [r() * 0.01, r() * 0.01, r() * 0.01];
            for c in 0..3 {
                p[c] = (p[c] + 0.3 * r()).rem_euclid(a);
            }
            writeln!(
                t,
                "{sp:<2} {:16.8} {:16.8} {:16.8} {:16.8} {:16.8} {:16.8}",
                p[0], p[1], p[2], v[0], v[1], v[2]
            )
            .unwrap();
        }
    }
    std::fs::write(path, t).unwrap();
}

fn run(label: &str, path: &Path, time: TimeStep) {
    let bytes = std::fs::metadata(path).unwrap().len() as f64;
    let t0 = Instant::now();
    let traj = read_trajectory(
        path,
        &TrajReadOptions {
            time,
            ..Default::default()
        },
    )
    .unwrap();
    let t_read = t0.elapsed().as_secs_f64();
    let m = msd(
        &Engine::cpu(),
        &traj,
        &MsdOptions {
            species: "Li".into(),
            drift_correction: true,
            lags: LagGrid::All,
            long_step_a: None,
            axes: Default::default(),
        },
    )
    .unwrap();
    let fit = diffusion::fit(&m, None).unwrap();
    let total = t0.elapsed().as_secs_f64();
    println!(
        "{label}: {} frames x {} atoms, {:.1} MB: read {t_read:.3} s ({:.0} MB/s), MSD + fit {:.3} s, total {total:.3} s; D(Li) = {:.3e} ± {:.1e} cm²/s",
        traj.n_frames(),
        traj.n_atoms(),
        bytes / 1e6,
        bytes / 1e6 / t_read,
        total - t_read,
        fit.d_cm2_s,
        fit.d_err_cm2_s
    );
}

fn main() {
    let dir = std::env::temp_dir().join("superion-bench-traj");
    std::fs::create_dir_all(&dir).unwrap();
    let xdatcar: PathBuf = dir.join("walk4000_XDATCAR");
    if !xdatcar.is_file() {
        write_xdatcar(&xdatcar, 4000, 200, 200);
    }
    let xyz = dir.join("big.extxyz");
    if !xyz.is_file() {
        write_xyz(&xyz, 200, 2688);
    }
    println!("files in {}", dir.display());
    let shipped = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/Li6PS5Cl.XDATCAR.gz");
    let time = |fs: f64, stride: usize| TimeStep {
        timestep_fs: Some(fs),
        stride: Some(stride),
    };
    run("Li6PS5Cl (shipped, gzipped)", &shipped, time(2.0, 50));
    run("generated XDATCAR", &xdatcar, time(2.0, 50));
    run("generated extended XYZ", &xyz, time(2.0, 50));
}
