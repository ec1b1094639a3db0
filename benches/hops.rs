//! `cargo bench --bench hops`: hop detection on the CPU path.
//! - the bundled Li6PS5Cl AIMD trajectory (140 frames x 416 atoms) in IonDiff mode,
//!   every atom analysed as IonDiff does (IonDiff 1.6 with its defaults: 94 s on one
//!   core, `benches/peers/iondiff.sh` measures it side by side), read + detect;
//! - a generated long trajectory, 20 000 frames x 200 Li hopping between sites with
//!   thermal noise, in the default mode (IonDiff's exact silhouettes over 20 000
//!   frames per ion and k would take hours), with the peak memory of the process.
//!
//! `SUPERION_BENCH_FRAMES` changes the long trajectory's length.

use std::path::PathBuf;
use std::time::Instant;

use ndarray::Array3;
use superion::Engine;
use superion::io::traj_input::{TrajReadOptions, read_trajectory};
use superion::traj::hops::{HopOptions, Mode, detect};
use superion::traj::{TimeStep, Trajectory};

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn long_trajectory(frames: usize, n_li: usize) -> (Trajectory, usize, usize) {
    let a = 24.0f64;
    let mut s = 0x9e37_79b9_7f4a_7c15u64;
    let mut uniform = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f64 / (1u64 << 53) as f64
    };
    // Sites on a 6 x 6 x 6 grid (4 Å apart); ion i starts on site i and, with a
    // probability of 1e-3 per frame, hops to a neighbouring free site over 3 frames.
    let grid = 6usize;
    let site = |g: usize| -> [f64; 3] {
        [
            (g % grid) as f64 * 4.0 + 2.0,
            (g / grid % grid) as f64 * 4.0 + 2.0,
            (g / grid / grid) as f64 * 4.0 + 2.0,
        ]
    };
    let mut occupied = vec![false; grid * grid * grid];
    let mut at: Vec<usize> = (0..n_li).map(|i| i * (grid * grid * grid) / n_li).collect();
    for &g in &at {
        occupied[g] = true;
    }
    let mut moving: Vec<Option<(usize, usize, usize)>> = vec![None; n_li]; // (from, to, frame)
    let mut planted = 0;
    let mut hopped = vec![false; n_li];
    let mut frac = Array3::<f32>::zeros((frames, n_li, 3));
    for f in 0..frames {
        for i in 0..n_li {
            if moving[i].is_none() && uniform() < 1e-3 {
                let g = at[i];
                let axis = (uniform() * 3.0) as usize % 3;
                let step = [1, grid, grid * grid][axis];
                let to = if (g / step) % grid + 1 < grid {
                    g + step
                } else {
                    g - step
                };
                if !occupied[to] {
                    occupied[to] = true;
                    moving[i] = Some((g, to, f));
                }
            }
            let p = match moving[i] {
                Some((from, to, f0)) => {
                    let w = ((f - f0) as f64 / 3.0).min(1.0);
                    if w >= 1.0 {
                        planted += 1;
                        hopped[i] = true;
                        occupied[from] = false;
                        at[i] = to;
                        moving[i] = None;
                    }
                    let (a0, b0) = (site(from), site(to));
                    [
                        a0[0] + w * (b0[0] - a0[0]),
                        a0[1] + w * (b0[1] - a0[1]),
                        a0[2] + w * (b0[2] - a0[2]),
                    ]
                }
                None => site(at[i]),
            };
            for x in 0..3 {
                let noise = (uniform() + uniform() + uniform() - 1.5) * 0.4;
                let v = (p[x] + noise) / a;
                frac[[f, i, x]] = (v - v.floor()) as f32;
            }
        }
    }
    let mut cells = Array3::<f32>::zeros((1, 3, 3));
    for x in 0..3 {
        cells[[0, x, x]] = a as f32;
    }
    let ions = hopped.iter().filter(|h| **h).count();
    (
        Trajectory {
            source: PathBuf::from("generated"),
            species: vec!["Li".to_string(); n_li],
            frac,
            cells,
            dt_ps: Some(0.1),
            velocities: None,
            notes: Vec::new(),
        },
        planted,
        ions,
    )
}

fn main() {
    let engine = Engine::cpu();
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/Li6PS5Cl.XDATCAR.gz");
    let opts = TrajReadOptions {
        time: TimeStep {
            timestep_fs: Some(2.0),
            stride: Some(50),
        },
        ..Default::default()
    };
    let mut times = Vec::new();
    let mut events = 0;
    for _ in 0..5 {
        let t = Instant::now();
        let traj = read_trajectory(&file, &opts).unwrap();
        let h = detect(&engine, &traj, &HopOptions::new(Mode::Iondiff)).unwrap();
        times.push(t.elapsed().as_secs_f64());
        events = h.events.len();
    }
    times.sort_by(f64::total_cmp);
    println!(
        "Li6PS5Cl 140 frames x 416 atoms, iondiff mode, read + detect: best {:.3} s, median {:.3} s ({events} events; IonDiff 1.6: 94 s -> {:.0}x)",
        times[0],
        times[2],
        94.0 / times[2]
    );
    let frames: usize = std::env::var("SUPERION_BENCH_FRAMES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let (traj, planted, planted_ions) = long_trajectory(frames, 200);
    let t = Instant::now();
    let h = detect(&engine, &traj, &HopOptions::new(Mode::Kmeans)).unwrap();
    println!(
        "generated {frames} frames x 200 Li ({planted} hops planted on {planted_ions} ions), kmeans mode: {:.2} s, {} events on {} ions, peak memory {:.0} MB (trajectory itself {:.0} MB)",
        t.elapsed().as_secs_f64(),
        h.events.len(),
        h.events
            .iter()
            .map(|e| e.ion)
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
        peak_rss_mb(),
        (frames * 200 * 3 * 4) as f64 / 1e6
    );
}
