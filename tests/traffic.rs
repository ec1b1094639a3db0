//! The GPU traffic counters (submits, dispatches, bytes up and down) that `superion
//! bench` reports: exact on a call whose transfers are known, additive over calls,
//! absent on the CPU path; and `bench --json` rows carry them.

mod common;

use ndarray::Array2;
use superion::Engine;

/// The engines share one device and its counters: the tests that take differences of
/// the counters run one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

#[test]
fn counters_count_a_known_call_and_add_up() {
    let _one = serial();
    assert!(Engine::cpu().traffic().is_none());
    let Some(gpu) = common::gpu() else {
        return; // SUPERION_SKIP_GPU_TESTS=1, said by common::gpu()
    };
    let x = Array2::from_shape_fn((100, 8), |(i, j)| (i * 8 + j) as f32 * 0.01);
    let y = Array2::from_shape_fn((50, 8), |(i, j)| (i + j) as f32 * 0.02);
    let t0 = gpu.traffic().unwrap();
    gpu.pairwise_sq_dists(x.view(), y.view()).unwrap();
    let t1 = gpu.traffic().unwrap();
    let d = t1 - t0;
    // The 100 x 50 distances come back once, as f32; the inputs go up at least once.
    assert_eq!(d.bytes_down, 100 * 50 * 4);
    assert!(d.bytes_up >= (100 + 50) * 8 * 4, "{d:?}");
    assert!(d.submits >= 1 && d.dispatches >= 1, "{d:?}");
    // The same call again costs the same.
    gpu.pairwise_sq_dists(x.view(), y.view()).unwrap();
    assert_eq!(gpu.traffic().unwrap() - t1, d);
}

#[test]
fn bench_json_rows_carry_the_traffic() {
    if common::gpu().is_none() {
        return;
    }
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_superion"))
        .args([
            "--backend",
            "gpu",
            "bench",
            "--quick",
            "--json",
            "--only",
            "windowed",
        ])
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let rows: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let rows = rows.as_array().unwrap();
    let gpu = rows
        .iter()
        .find(|r| r["backend"] == "gpu")
        .expect("a GPU row");
    let cpu = rows.iter().find(|r| r["backend"] == "cpu").unwrap();
    assert!(cpu["submits"].is_null());
    assert!(gpu["submits"].as_u64().unwrap() >= 1);
    // The windowed sums come back as lags x atoms x 3 f64: a small multiple at most.
    let down = gpu["bytes_down"].as_u64().unwrap() as f64;
    let result = gpu["result_bytes"].as_u64().unwrap() as f64;
    assert!(down > 0.0 && down <= 4.0 * result, "{down} vs {result}");
}

/// The hop-shaped k-means batch (one point set per ion, k = 2..10, 10 restarts each):
/// only each (ion, k)'s best restart comes back, its labels packed a byte each, so the
/// bytes read back stay under the result's size (labels as u32 and centres), and the
/// host waits a handful of times, not once per iteration. Called twice: the same
/// traffic and the same fits, the same as the CPU's.
#[test]
fn hop_shaped_kmeans_reads_back_only_its_result() {
    use superion::cluster::kmeans::{Init, KMeansParams, kmeans_batch};
    let _one = serial();
    let Some(gpu) = common::gpu() else { return };
    let (ions, frames) = (48usize, 140usize);
    let (pts, problems) = superion::bench::hop_shaped_batch(ions, frames);
    let params = KMeansParams {
        init: Init::Random,
        n_init: 10,
        max_iter: 300,
        tol: 1e-4,
    };
    let cpu = kmeans_batch(&Engine::cpu(), pts.view(), &problems, &params).unwrap();
    let t0 = gpu.traffic().unwrap();
    let got = kmeans_batch(&gpu, pts.view(), &problems, &params).unwrap();
    let t = gpu.traffic().unwrap() - t0;
    let again = kmeans_batch(&gpu, pts.view(), &problems, &params).unwrap();
    let t2 = gpu.traffic().unwrap() - t0;
    let iterations = got.iter().map(|f| f.n_iter).max().unwrap() as u64;
    for ((g, a), c) in got.iter().zip(&again).zip(&cpu) {
        common::labels_agree(&gpu, &g.labels, &c.labels).unwrap();
        common::iterations_agree(&gpu, &[g.n_iter], &[c.n_iter]).unwrap();
        // The distances themselves may differ in the last bits between backends.
        assert!((g.inertia - c.inertia).abs() <= 1e-6 * c.inertia.abs().max(1e-12));
        assert_eq!(
            (&g.labels, &g.centres, g.inertia),
            (&a.labels, &a.centres, a.inertia)
        );
    }
    let result = (problems.len() * frames * 4 + ions * (2..=10).sum::<usize>() * 3 * 4) as u64;
    assert!(t.bytes_down <= result, "{t:?}: result {result} bytes");
    // Labels were 4 bytes each and the distances came back too: 2.4x the result.
    assert!(t.bytes_down * 2 < result, "{t:?}: result {result} bytes");
    assert!(
        t.submits <= iterations.div_ceil(8) * 2 + 6,
        "{t:?} for {iterations} iterations"
    );
    // Small problems run their whole Lloyd loop in one workgroup each: one dispatch
    // for all of them, and one to gather the best restarts.
    assert_eq!(t.dispatches, 2, "{t:?}");
    assert_eq!(t2 - t, t, "the second call costs the same");
}

/// Every kernel called twice with the same shapes: the second call creates no buffer
/// (all come from the pool, cleared on the device where kernels accumulate) and gives
/// the same results bit for bit.
#[test]
fn a_second_call_reuses_every_buffer() {
    use superion::compute::{FracTrajectory, LabelledBatch, LloydBatch};
    let _one = serial();
    let Some(gpu) = common::gpu() else { return };
    let ctx = gpu.gpu().unwrap();
    let (x, _) = common::blobs(300, 4, 3, 1.0, 5);
    let points = x.view().insert_axis(ndarray::Axis(0));
    let labels = Array2::from_shape_fn((2, 300), |(p, i)| ((i + p) % 3) as u32);
    let init = ndarray::Array3::from_shape_fn((2, 3, 4), |(p, c, t)| x[[c * 50 + p, t]]);
    let w = common::walk(60, 20, 1.0, true, true, 3);
    let traj = FracTrajectory {
        frac: w.frac.view(),
        cells: w.cells.view(),
    };
    let lags: Vec<usize> = (0..60).step_by(5).collect();
    let run = || {
        let d = gpu.pairwise_sq_dists(x.view(), x.view()).unwrap();
        let batch = LabelledBatch::new(points, &[0, 0], labels.view(), &[3, 3]).unwrap();
        let sums = gpu.cluster_dist_sums(&batch).unwrap();
        let fit = gpu
            .lloyd(&LloydBatch {
                points,
                set_of: &[0, 0],
                k: &[3, 3],
                init: init.view(),
                tol: &[1e-6, 1e-6],
                max_iter: 50,
            })
            .unwrap();
        let u = gpu.unwrap(&traj, 100.0).unwrap();
        let s = gpu.windowed_sq_disp(u.disp.view(), &lags).unwrap();
        let sel = superion::compute::MsdSelection {
            atoms: &[3, 1, 4, 15, 9],
            reference: Some(&[0, 2, 5, 6]),
        };
        let m = gpu.unwrapped_self_msd(&traj, 1.0, &sel, &lags).unwrap();
        let msd = (m.per_atom, m.summed, m.long_steps);
        (d, sums, fit.labels, fit.centres, u.disp, s, msd)
    };
    let first = run();
    let (created, reused) = ctx.pool_counts();
    let t = gpu.traffic().unwrap();
    let second = run();
    let (created2, reused2) = ctx.pool_counts();
    assert_eq!(created2, created, "no new buffer on the second call");
    assert!(reused2 > reused + 20, "{reused} -> {reused2} reused");
    assert_eq!(first, second);
    // The same traffic as the first call (a pooled buffer is written, not created).
    let t2 = gpu.traffic().unwrap();
    let third = run();
    assert_eq!(first, third);
    assert_eq!(gpu.traffic().unwrap() - t2, t2 - t);
}

/// Unwrap + MSD chained on the device: the frames go up once, and what comes back is
/// the MSD's own size (sums per selected atom and lag, totals per frame, long-step
/// statistics per atom), not the displacements; a handful of submissions.
#[test]
fn chained_unwrap_and_msd_read_back_only_the_msd() {
    let _one = serial();
    let Some(gpu) = common::gpu() else { return };
    let (t, n) = (400usize, 200usize);
    let w = common::walk(t, n, 0.6, true, false, 4);
    let traj = superion::compute::FracTrajectory {
        frac: w.frac.view(),
        cells: w.cells.view(),
    };
    let atoms: Vec<usize> = (0..n).step_by(2).collect();
    let reference: Vec<usize> = (1..n).step_by(2).collect();
    let sel = superion::compute::MsdSelection {
        atoms: &atoms,
        reference: Some(&reference),
    };
    let lags: Vec<usize> = (0..16).map(|i| i * 25).collect();
    let t0 = gpu.traffic().unwrap();
    gpu.unwrapped_self_msd(&traj, 2.0, &sel, &lags).unwrap();
    let d = gpu.traffic().unwrap() - t0;
    // The result in f64: MSD per selected atom, lag and axis; summed displacement per frame.
    let result = (8 * 3 * (atoms.len() * lags.len() + t)) as u64;
    let displacements = (12 * t * n) as u64;
    assert!(d.bytes_down <= result, "{d:?}: result {result} bytes");
    assert!(d.bytes_down * 20 < displacements, "{d:?}");
    // The frames go up once; the rest (cells, lists, lags, parameters) is small.
    assert!(
        d.bytes_up >= displacements && d.bytes_up < displacements + 8192,
        "{d:?}"
    );
    assert!(d.submits <= 5, "{d:?}");
}
