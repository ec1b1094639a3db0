//! Kernel throughput on the CPU path and on the GPU adapter at hand, with ratios.
//! Used by `superion bench` and by `cargo bench --bench kernels`. Timings are the median
//! of a few runs after one warm-up; inputs are seeded, so runs are comparable.

use std::time::Instant;

use ndarray::{Array2, Array3, Axis};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::cluster::kmeans::{Init, KMeansParams, KMeansProblem, kmeans_batch};
use crate::cluster::silhouette::silhouette_samples_batch;
use crate::compute::{Engine, FracTrajectory};
use crate::error::Result;

/// One measured case on one backend.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Measurement {
    pub kernel: String,
    pub size: String,
    pub backend: String,
    pub seconds: f64,
    /// Useful arithmetic per second (GFLOP/s), where the kernel is compute-bound.
    pub gflops: Option<f64>,
    /// Bytes moved to and from memory per second (GB/s), where it is memory-bound.
    pub gbytes: Option<f64>,
    /// GPU rows: per call, queue submissions (each a host wait), compute dispatches,
    /// bytes uploaded and bytes read back.
    pub submits: Option<u64>,
    pub dispatches: Option<u64>,
    pub bytes_up: Option<u64>,
    pub bytes_down: Option<u64>,
    /// The size of the result the caller needs (bytes), to compare with `bytes_down`.
    pub result_bytes: u64,
}

/// A case: a name, a size label, its work (flops, bytes) and the closure that runs it.
struct Case<'a> {
    kernel: &'static str,
    size: String,
    flops: f64,
    bytes: f64,
    /// Bytes of the result the caller needs.
    result_bytes: u64,
    run: Box<dyn Fn(&Engine) -> Result<()> + 'a>,
}

fn uniform(rng: &mut ChaCha8Rng, shape: (usize, usize)) -> Array2<f32> {
    Array2::from_shape_simple_fn(shape, || rng.random::<f32>())
}

fn time_median(reps: usize, f: &dyn Fn() -> Result<()>) -> Result<f64> {
    f()?; // warm-up: pipelines, page faults, rayon pool
    let mut times = Vec::with_capacity(reps);
    for _ in 0..reps {
        let t = Instant::now();
        f()?;
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

/// The hop-detection shape of k-means: `ions` point sets of `frames` points in 3-D
/// (each ion vibrating at one site, then hopping 1.5 Å to another half-way), and for
/// each ion the problems k = 2..10.
pub fn hop_shaped_batch(ions: usize, frames: usize) -> (Array3<f32>, Vec<KMeansProblem>) {
    let pts = Array3::from_shape_fn((ions, frames, 3), |(a, t, x)| {
        (a as f32 * 0.37 + x as f32)
            + if t > frames / 2 { 1.5 } else { 0.0 }
            + 0.1 * ((t * 7919 + x * 31) % 97) as f32 / 97.0
    });
    let problems = (0..ions as u32)
        .flat_map(|a| {
            (2..=10).map(move |k| KMeansProblem {
                set: a,
                k,
                seed: a as u64,
            })
        })
        .collect();
    (pts, problems)
}

/// This machine's memory-copy bandwidth (GB/s, read + write), the yardstick for the
/// memory-bound displacement scan.
pub fn memcpy_gbytes() -> f64 {
    let n = 64 << 20; // 256 MiB of f32
    let src = vec![1.0f32; n];
    let mut dst = vec![0.0f32; n];
    let mut best = f64::INFINITY;
    for _ in 0..3 {
        let t = Instant::now();
        dst.copy_from_slice(&src);
        best = best.min(t.elapsed().as_secs_f64());
    }
    std::hint::black_box(&dst);
    2.0 * 4.0 * n as f64 / best / 1e9
}

/// T frames of `na` atoms drifting at different speeds in a fixed 20 Å cubic cell
/// (fractional, wrapped, and the cell): the unwrap cases' input.
fn drifting_frames(t: usize, na: usize) -> (Array3<f32>, Array3<f32>) {
    let frac = Array3::from_shape_fn((t, na, 3), |(f, a, x)| {
        let v = 0.5
            + 0.01 * f as f32 * ((a * 3 + x) % 5) as f32 / 5.0
            + 0.003 * (((f * 31 + a * 17 + x) % 11) as f32);
        v - v.floor()
    });
    let cell = Array3::from_shape_fn((1, 3, 3), |(_, i, j)| if i == j { 20.0 } else { 0.0 });
    (frac, cell)
}

/// 32 log-spaced lags below `t` frames (repeats dropped), and their time origins in all.
fn log_lags(t: usize) -> (Vec<usize>, usize) {
    let mut lags: Vec<usize> = (0..32)
        .map(|i| ((t as f64 - 1.0).powf(i as f64 / 31.0)) as usize)
        .collect();
    lags.dedup();
    let origins = lags.iter().map(|&l| t - l).sum();
    (lags, origins)
}

/// The kernels measured, by name.
pub(crate) const KERNELS: [&str; 7] = [
    "pairwise_sq_dists",
    "silhouette",
    "kmeans_batched",
    "kmeans_large",
    "unwrap",
    "windowed_sq_disp",
    "unwrap_msd",
];

/// The cases whose kernel `want` accepts (only those build their inputs; each has
/// its own seeded generator, so the selection does not change the data).
fn cases(quick: bool, want: &dyn Fn(&str) -> bool) -> Vec<Case<'static>> {
    let mut out = Vec::new();

    if want("pairwise_sq_dists") {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        // Pairwise squared distances.
        let sizes: &[(usize, usize)] = if quick {
            &[(2048, 16)]
        } else {
            &[(2048, 16), (4096, 16), (2000, 100)]
        };
        for &(n, d) in sizes {
            let x = uniform(&mut rng, (n, d));
            out.push(Case {
                kernel: "pairwise_sq_dists",
                size: format!("{n}x{n}, d={d}"),
                flops: 3.0 * (n * n * d) as f64,
                bytes: 4.0 * (n * n) as f64,
                result_bytes: 4 * (n * n) as u64,
                run: Box::new(move |e| e.pairwise_sq_dists(x.view(), x.view()).map(|_| ())),
            });
        }
    }

    if want("silhouette") {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        // Silhouette from per-cluster distance sums (one problem, k = 8).
        let sizes: &[(usize, usize)] = if quick {
            &[(2000, 16)]
        } else {
            &[(4000, 16), (4000, 100)]
        };
        for &(n, d) in sizes {
            let x = uniform(&mut rng, (n, d)).insert_axis(Axis(0));
            let labels = Array2::from_shape_fn((1, n), |(_, i)| (i % 8) as u32);
            out.push(Case {
                kernel: "silhouette",
                size: format!("n={n}, d={d}, k=8"),
                flops: 3.0 * (n * n * d) as f64,
                bytes: 0.0,
                result_bytes: 8 * n as u64,
                run: Box::new(move |e| {
                    silhouette_samples_batch(e, x.view(), &[0], labels.view(), &[8]).map(|_| ())
                }),
            });
        }
    }

    if want("kmeans_batched") {
        // k-means, hop-detection shape: one point set per ion, k = 2..10, 10 random restarts.
        let (ions, frames) = if quick { (64, 140) } else { (416, 140) };
        let (pts, problems) = hop_shaped_batch(ions, frames);
        let n_problems = problems.len() * 10;
        out.push(Case {
            kernel: "kmeans_batched",
            size: format!(
                "{ions} ions x {frames} frames x 3, k=2..10, n_init=10 ({n_problems} problems)"
            ),
            flops: 0.0,
            bytes: 0.0,
            // Labels of each (ion, k) problem's best restart, and its centres.
            result_bytes: (ions * 9 * frames * 4 + ions * (2..=10).sum::<usize>() * 3 * 4) as u64,
            run: Box::new(move |e| {
                let params = KMeansParams {
                    init: Init::Random,
                    n_init: 10,
                    max_iter: 300,
                    tol: 1e-4,
                };
                kmeans_batch(e, pts.view(), &problems, &params).map(|_| ())
            }),
        });
    }

    if want("kmeans_large") {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        // k-means, one large problem: a fixed 10 iterations (tol = 0 on structureless data).
        let (n, d, k) = if quick {
            (200_000, 16, 16)
        } else {
            (1_000_000, 16, 16)
        };
        let x = uniform(&mut rng, (n, d)).insert_axis(Axis(0));
        out.push(Case {
            kernel: "kmeans_large",
            size: format!("n={n}, d={d}, k={k}, 10 iterations"),
            flops: 10.0 * 3.0 * (n * d * k) as f64,
            bytes: 0.0,
            result_bytes: (4 * n + 4 * k * d) as u64,
            run: Box::new(move |e| {
                let params = KMeansParams {
                    init: Init::Random,
                    n_init: 1,
                    max_iter: 10,
                    tol: 0.0,
                };
                kmeans_batch(
                    e,
                    x.view(),
                    &[KMeansProblem {
                        set: 0,
                        k: k as u32,
                        seed: 1,
                    }],
                    &params,
                )
                .map(|_| ())
            }),
        });
    }

    if want("unwrap") {
        // Displacement scan: unwrap (read fractional, write Cartesian displacements).
        let (t, na) = if quick { (1000, 1000) } else { (4000, 2000) };
        let (frac, cell) = drifting_frames(t, na);
        let buffer = std::cell::RefCell::new(Array3::<f32>::zeros((t, na, 3)));
        out.push(Case {
            kernel: "unwrap",
            size: format!("{t} frames x {na} atoms"),
            flops: 0.0,
            bytes: 2.0 * 12.0 * (t * na) as f64,
            result_bytes: 12 * (t * na) as u64,
            // Into a reused buffer (as a streaming reader would), like memcpy's destination.
            run: Box::new(move |e| {
                let mut out = buffer.borrow_mut();
                e.unwrap_into(
                    &FracTrajectory {
                        frac: frac.view(),
                        cells: cell.view(),
                    },
                    5.0,
                    out.view_mut(),
                )
                .map(|_| ())
            }),
        });
    }

    if want("windowed_sq_disp") {
        // Windowed squared displacements for 32 log-spaced lags.
        let (t, na) = if quick { (1000, 200) } else { (4000, 200) };
        let disp = Array3::from_shape_fn((t, na, 3), |(f, a, x)| {
            (f as f32).sqrt() * (((a + x) % 7) as f32 - 3.0) * 0.1
        });
        let (lags, origins) = log_lags(t);
        out.push(Case {
            kernel: "windowed_sq_disp",
            size: format!("{t} frames x {na} atoms, {} lags", lags.len()),
            flops: 0.0,
            bytes: 2.0 * 12.0 * (origins * na) as f64,
            result_bytes: (lags.len() * na * 3 * 8) as u64,
            run: Box::new(move |e| e.windowed_sq_disp(disp.view(), &lags).map(|_| ())),
        });
    }

    if want("unwrap_msd") {
        // Unwrap + self MSD chained (the in-memory `msd`): half the atoms selected, the
        // other half the drift reference, 32 log-spaced lags. The result is the MSD per
        // selected atom, lag and axis and the summed displacement per frame (f64).
        let (t, na) = if quick { (1000, 1000) } else { (4000, 2000) };
        let (frac, cell) = drifting_frames(t, na);
        let atoms: Vec<usize> = (0..na).step_by(2).collect();
        let reference: Vec<usize> = (1..na).step_by(2).collect();
        let (lags, origins) = log_lags(t);
        out.push(Case {
            kernel: "unwrap_msd",
            size: format!(
                "{t} frames x {na} atoms, {} selected, {} lags",
                atoms.len(),
                lags.len()
            ),
            flops: 0.0,
            bytes: 2.0 * 12.0 * (t * na) as f64 + 2.0 * 12.0 * (origins * atoms.len()) as f64,
            result_bytes: (8 * 3 * (atoms.len() * lags.len() + t)) as u64,
            run: Box::new(move |e| {
                let traj = FracTrajectory {
                    frac: frac.view(),
                    cells: cell.view(),
                };
                let sel = crate::compute::MsdSelection {
                    atoms: &atoms,
                    reference: Some(&reference),
                };
                e.unwrapped_self_msd(&traj, 5.0, &sel, &lags).map(|_| ())
            }),
        });
    }
    out
}

/// Run every case on the CPU and (when given) the GPU engine.
/// `only` keeps the cases whose kernel name contains it.
pub fn run(
    quick: bool,
    only: Option<&str>,
    gpu: Option<&Engine>,
    mut report: impl FnMut(&Measurement),
) -> Result<Vec<Measurement>> {
    if let Some(o) = only
        && !KERNELS.iter().any(|k| k.contains(o))
    {
        return Err(crate::invalid!(
            "option only {o:?} matches no kernel; the kernels are {}",
            KERNELS.join(", ")
        ));
    }
    let cpu = Engine::cpu();
    let reps = if quick { 3 } else { 5 };
    let mut all = Vec::new();
    for case in cases(quick, &|k: &str| only.is_none_or(|o| k.contains(o))) {
        let engines: Vec<(&str, &Engine)> = std::iter::once(("cpu", &cpu))
            .chain(gpu.map(|g| ("gpu", g)))
            .collect();
        for (name, engine) in engines {
            let secs = time_median(reps, &|| (case.run)(engine))?;
            // One more call, counted.
            let before = engine.traffic();
            (case.run)(engine)?;
            let t = engine.traffic().zip(before).map(|(a, b)| a - b);
            let m = Measurement {
                kernel: case.kernel.into(),
                size: case.size.clone(),
                backend: name.into(),
                seconds: secs,
                gflops: (case.flops > 0.0).then(|| case.flops / secs / 1e9),
                gbytes: (case.bytes > 0.0).then(|| case.bytes / secs / 1e9),
                submits: t.map(|t| t.submits),
                dispatches: t.map(|t| t.dispatches),
                bytes_up: t.map(|t| t.bytes_up),
                bytes_down: t.map(|t| t.bytes_down),
                result_bytes: case.result_bytes,
            };
            report(&m);
            all.push(m);
        }
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_case_is_a_listed_kernel_and_every_kernel_has_a_case() {
        let names: Vec<&str> = super::cases(true, &|_| true)
            .iter()
            .map(|c| c.kernel)
            .collect();
        for n in &names {
            assert!(super::KERNELS.contains(n), "{n} not in KERNELS");
        }
        for k in super::KERNELS {
            assert!(names.contains(&k), "{k} has no case");
        }
    }
}
