//! Chunked paths: a small binding cap forces the GPU to split work into tiles,
//! problem groups, frame chunks (with state carried across submissions), atom and lag
//! chunks. Results must not change. The cap is process-wide, so these tests live in
//! their own test binary and run one at a time under a lock.

mod common;

use std::sync::Mutex;

use common::{blobs, close, gpu, matrix, naive_windowed, walk};
use ndarray::{Array2, Array3};
use superion::Engine;
use superion::cluster::kmeans::{Init, KMeansParams, KMeansProblem, kmeans_batch};
use superion::compute::{FracTrajectory, LabelledBatch};

static CAP: Mutex<()> = Mutex::new(());

/// Run `f` with the binding cap set, restoring it afterwards even if `f` fails.
fn with_cap<T>(bytes: u64, f: impl FnOnce() -> T) -> T {
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            superion::compute::gpu::set_binding_cap(None);
        }
    }
    let _lock = CAP.lock().unwrap_or_else(|p| p.into_inner());
    let _reset = Reset;
    superion::compute::gpu::set_binding_cap(Some(bytes));
    f()
}

#[test]
fn cluster_sums_survive_problem_groups_and_segments() {
    // Many problems with a tiny binding cap: several problem groups on the GPU.
    let (sets, n, d, b) = (5, 300, 3, 12);
    let points = Array3::from_shape_vec(
        (sets, n, d),
        matrix(sets * n, d, 9).into_raw_vec_and_offset().0,
    )
    .unwrap();
    let set_of: Vec<u32> = (0..b).map(|i| (i % sets) as u32).collect();
    let k: Vec<u32> = (0..b).map(|i| 2 + (i % 4) as u32).collect();
    let labels = Array2::from_shape_fn((b, n), |(p, i)| ((i * 7 + p) % k[p] as usize) as u32);
    let batch = LabelledBatch::new(points.view(), &set_of, labels.view(), &k).unwrap();
    let cpu = Engine::cpu().cluster_dist_sums(&batch).unwrap();
    let Some(g) = gpu() else { return };
    let got = with_cap(8 * 1024, || g.cluster_dist_sums(&batch));
    let got = got.unwrap();
    for (a, w) in got.iter().zip(cpu.iter()) {
        assert!(close(*a as f64, *w as f64, 1e-5, 1e-4), "{a} vs {w}");
    }
}

#[test]
fn batches_split_into_groups_give_the_same_answer() {
    // Hop-detection shape: one point set per "ion", k = 2..6, with a binding cap small
    // enough that the GPU must split the batch into many submissions.
    let sets: Vec<Array2<f32>> = (0..20)
        .map(|a| blobs(140, 3, 2 + a % 3, 0.5, a as u64).0)
        .collect();
    let points = Array3::from_shape_fn((20, 140, 3), |(s, i, t)| sets[s][[i, t]]);
    let problems: Vec<KMeansProblem> = (0..20u32)
        .flat_map(|a| {
            (2..=6).map(move |k| KMeansProblem {
                set: a,
                k,
                seed: a as u64,
            })
        })
        .collect();
    let params = KMeansParams {
        init: Init::Random,
        n_init: 10,
        ..Default::default()
    };
    let cpu = kmeans_batch(&Engine::cpu(), points.view(), &problems, &params).unwrap();
    let Some(g) = gpu() else { return };
    let got = with_cap(16 * 1024, || {
        kmeans_batch(&g, points.view(), &problems, &params)
    });
    for (a, b) in got.unwrap().iter().zip(&cpu) {
        common::labels_agree(&g, &a.labels, &b.labels).unwrap();
        assert!(close(a.inertia, b.inertia, 1e-5, 1e-4));
    }
}

#[test]
fn unwrap_is_unchanged_by_frame_chunking() {
    let w = walk(400, 30, 1.0, true, true, 11);
    let traj = FracTrajectory {
        frac: w.frac.view(),
        cells: w.cells.view(),
    };
    let cpu = Engine::cpu().unwrap(&traj, 100.0).unwrap();
    let Some(g) = gpu() else { return };
    // 30 atoms x 12 bytes: a 4 KiB cap gives chunks of 11 frames carried across submissions.
    let got = with_cap(4096, || g.unwrap(&traj, 100.0));
    for (a, b) in got.unwrap().disp.iter().zip(cpu.disp.iter()) {
        assert!((a - b).abs() < 1e-4, "{a} vs {b}");
    }
}

#[test]
fn windowed_sums_survive_atom_and_lag_chunks() {
    let w = walk(120, 50, 0.5, false, false, 3);
    let disp = w.truth.mapv(|v| v as f32);
    let lags: Vec<usize> = (0..120).step_by(7).collect();
    let want = naive_windowed(&disp, &lags);
    let Some(g) = gpu() else { return };
    let got = with_cap(2048, || g.windowed_sq_disp(disp.view(), &lags));
    for (a, b) in got.unwrap().iter().zip(want.iter()) {
        assert!(close(*a, *b, 1e-5, 1e-6), "{a} vs {b}");
    }
}

#[test]
fn work_that_cannot_be_split_small_enough_is_an_error_not_a_panic() {
    let Some(g) = gpu() else { return };
    let (x, _) = blobs(300, 4, 3, 1.0, 1);
    let params = KMeansParams::default();
    let points = x.view().insert_axis(ndarray::Axis(0));
    let problems = [KMeansProblem {
        set: 0,
        k: 3,
        seed: 0,
    }];
    // One problem's 300 x 4 points need 4.8 kB; a 1 kB cap cannot hold them.
    let err = with_cap(1024, || kmeans_batch(&g, points, &problems, &params)).unwrap_err();
    assert!(matches!(err, superion::Error::TooLarge(_)), "{err}");
    assert!(
        err.to_string().contains("option backend cpu"),
        "the message says what to do: {err}"
    );
    let w = walk(10, 200, 0.1, false, false, 1);
    let traj = FracTrajectory {
        frac: w.frac.view(),
        cells: w.cells.view(),
    };
    let err = with_cap(1024, || g.unwrap(&traj, 1.0)).unwrap_err();
    assert!(matches!(err, superion::Error::TooLarge(_)), "{err}");
}

/// A device that does not finish within the wait limit gives an error that says so
/// (not a hang, not a panic), and the engine works again afterwards.
#[test]
fn a_device_that_does_not_finish_in_time_is_an_error() {
    use superion::compute::gpu::with_wait_limit;
    let Some(g) = gpu() else { return };
    let (x, _) = blobs(3000, 64, 4, 1.0, 2);
    let got = with_wait_limit(std::time::Duration::from_nanos(1), || {
        g.pairwise_sq_dists(x.view(), x.view())
    });
    let e = got.unwrap_err();
    assert!(matches!(e, superion::Error::Gpu(_)), "{e}");
    assert!(e.to_string().contains("did not finish"), "{e}");
    let d = g.pairwise_sq_dists(x.view(), x.view()).unwrap();
    let cpu = superion::Engine::cpu()
        .pairwise_sq_dists(x.view(), x.view())
        .unwrap();
    for (a, b) in d.iter().zip(cpu.iter()) {
        assert!((a - b).abs() <= 1e-3 * b.abs().max(1.0), "{a} vs {b}");
    }
}

/// The chained unwrap + MSD with a binding cap small enough for several frame chunks
/// (the unwrap state carried between them) and several groups of selected atoms (each
/// gathered into its own buffer): the uncapped result.
#[test]
fn chained_msd_survives_frame_chunks_and_atom_groups() {
    let w = walk(300, 40, 0.8, true, true, 8);
    let traj = FracTrajectory {
        frac: w.frac.view(),
        cells: w.cells.view(),
    };
    let atoms: Vec<usize> = (0..40).filter(|a| a % 3 != 1).collect();
    let reference: Vec<usize> = (0..40).filter(|a| a % 3 == 1).collect();
    let sel = superion::compute::MsdSelection {
        atoms: &atoms,
        reference: Some(&reference),
    };
    let lags = vec![0, 1, 7, 100, 299];
    let Some(g) = gpu() else { return };
    let whole = g.unwrapped_self_msd(&traj, 2.0, &sel, &lags).unwrap();
    // 300 frames x 40 atoms x 12 bytes: 8 KB chunks hold 17 frames, and 2 atoms' frames.
    let got = with_cap(8 * 1024, || g.unwrapped_self_msd(&traj, 2.0, &sel, &lags)).unwrap();
    assert_eq!(got.per_atom, whole.per_atom);
    assert_eq!(got.summed, whole.summed);
    assert_eq!(got.long_steps, whole.long_steps);
    let cpu = Engine::cpu()
        .unwrapped_self_msd(&traj, 2.0, &sel, &lags)
        .unwrap();
    for (a, b) in got.per_atom.iter().zip(cpu.per_atom.iter()) {
        assert!(close(*a, *b, 2e-5, 1e-5), "{a} vs {b}");
    }
}
