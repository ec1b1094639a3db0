//! Displacement scans: unwrap and windowed squared displacements, GPU vs CPU twin vs
//! trajectories with a known answer.

mod common;

use common::{close, gpu, naive_windowed, walk};
use ndarray::Array3;
use proptest::prelude::*;
use superion::Engine;
use superion::compute::FracTrajectory;

fn engines() -> Vec<Engine> {
    std::iter::once(Engine::cpu()).chain(gpu()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    /// Atoms cross boundaries many times (steps up to 2.5 Å in a ~9 Å cell); triclinic
    /// and fluctuating cells; both backends recover the true displacement.
    #[test]
    fn unwrap_recovers_the_walk(t in 1usize..300, n in 1usize..80, tri in any::<bool>(), npt in any::<bool>(), seed in any::<u64>()) {
        let w = walk(t, n, 2.5, tri, npt, seed);
        let traj = FracTrajectory { frac: w.frac.view(), cells: w.cells.view() };
        let cpu = Engine::cpu().unwrap(&traj, 100.0).unwrap();
        for (got, want) in cpu.disp.iter().zip(w.truth.iter()) {
            prop_assert!((*got as f64 - want).abs() < 2e-3, "cpu {got} vs {want}");
        }
        prop_assert_eq!(cpu.long_steps.count, 0);
        if let Some(g) = gpu() {
            let got = g.unwrap(&traj, 100.0).unwrap();
            for (a, b) in got.disp.iter().zip(cpu.disp.iter()) {
                prop_assert!((a - b).abs() < 1e-4, "gpu {a} vs cpu {b}");
            }
            // Blocks of 64 frames summed in parallel, with the twin's arithmetic.
            if common::exact_on(&g) {
                prop_assert_eq!(&got.disp, &cpu.disp);
            }
            for (a, b) in got.origin.iter().zip(cpu.origin.iter()) {
                prop_assert!((a - b).abs() < 1e-5);
            }
        }
    }
}

#[test]
fn long_steps_are_counted_with_the_worst_one() {
    let mut w = walk(50, 10, 0.2, true, false, 5);
    // Atom 7 jumps by 3.9 Å along the first lattice vector (|a| = 9 Å) at frame 20
    // and is back at frame 21: two long steps.
    w.frac[[20, 7, 0]] = (w.frac[[20, 7, 0]] + 3.9 / 9.0).rem_euclid(1.0);
    let traj = FracTrajectory {
        frac: w.frac.view(),
        cells: w.cells.view(),
    };
    for e in engines() {
        let u = e.unwrap(&traj, 3.0).unwrap();
        assert_eq!(u.long_steps.count, 2, "{}", e.describe());
        assert_eq!(u.long_steps.worst_atom, 7);
        assert!(u.long_steps.worst_frame == 20 || u.long_steps.worst_frame == 21);
        assert!(
            u.long_steps.worst_a > 3.5 && u.long_steps.worst_a < 4.5,
            "{}",
            u.long_steps.worst_a
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    #[test]
    fn windowed_sums_agree(t in 1usize..200, n in 1usize..70, seed in any::<u64>()) {
        let w = walk(t, n, 0.5, false, false, seed);
        let disp = w.truth.mapv(|v| v as f32);
        let mut lags: Vec<usize> = vec![0, t - 1, t / 2, t / 3, 1.min(t - 1)];
        lags.sort();
        lags.dedup();
        let want = naive_windowed(&disp, &lags);
        let cpu = Engine::cpu().windowed_sq_disp(disp.view(), &lags).unwrap();
        for (a, b) in cpu.iter().zip(want.iter()) {
            prop_assert!(close(*a, *b, 1e-5, 1e-6), "cpu {a} vs {b}");
        }
        if let Some(g) = gpu() {
            let got = g.windowed_sq_disp(disp.view(), &lags).unwrap();
            for (a, b) in got.iter().zip(want.iter()) {
                prop_assert!(close(*a, *b, 1e-5, 1e-6), "gpu {a} vs {b}");
            }
        }
    }
}

#[test]
fn bad_trajectories_are_errors() {
    let frac = Array3::<f32>::zeros((4, 2, 3));
    let singular = Array3::<f32>::zeros((1, 3, 3));
    let e = Engine::cpu();
    assert!(
        e.unwrap(
            &FracTrajectory {
                frac: frac.view(),
                cells: singular.view()
            },
            1.0
        )
        .is_err()
    );
    let wrong = Array3::<f32>::from_elem((3, 3, 3), 1.0);
    assert!(
        e.unwrap(
            &FracTrajectory {
                frac: frac.view(),
                cells: wrong.view()
            },
            1.0
        )
        .is_err(),
        "3 cells for 4 frames"
    );
    assert!(
        e.windowed_sq_disp(frac.view(), &[4]).is_err(),
        "lag beyond the trajectory"
    );
}

#[test]
fn non_finite_coordinates_are_errors_on_both_backends() {
    let mut w = walk(20, 5, 0.2, false, false, 2);
    w.frac[[7, 3, 1]] = f32::NAN;
    let traj = FracTrajectory {
        frac: w.frac.view(),
        cells: w.cells.view(),
    };
    for e in std::iter::once(Engine::cpu()).chain(gpu()) {
        let err = e.unwrap(&traj, 1.0).unwrap_err().to_string();
        assert!(err.contains("not finite"), "{}: {err}", e.describe());
    }
}

/// The engine's unwrap scan fed blocks of 1 to 37 frames (a streamed trajectory) gives
/// the displacements and long steps of one unwrap of all frames, on each backend (on
/// the GPU its state stays in device buffers between blocks); triclinic and NPT cells.
#[test]
fn an_unwrap_scan_fed_in_blocks_is_one_unwrap() {
    let mut w = walk(180, 25, 2.0, true, true, 9);
    w.frac[[90, 3, 1]] = (w.frac[[90, 3, 1]] + 0.45).rem_euclid(1.0);
    let traj = FracTrajectory {
        frac: w.frac.view(),
        cells: w.cells.view(),
    };
    for e in engines() {
        let whole = e.unwrap(&traj, 3.0).unwrap();
        assert!(whole.long_steps.count >= 2, "{}", e.describe());
        for block in [1, 7, 37] {
            let mut scan = e.unwrap_scan(25, 3.0).unwrap();
            let mut disp = Array3::<f32>::zeros(w.frac.raw_dim());
            let mut t0 = 0;
            while t0 < 180 {
                let t1 = (t0 + block).min(180);
                let part = FracTrajectory {
                    frac: w.frac.slice(ndarray::s![t0..t1, .., ..]),
                    cells: w.cells.slice(ndarray::s![t0..t1, .., ..]),
                };
                scan.advance(&part, disp.slice_mut(ndarray::s![t0..t1, .., ..]))
                    .unwrap();
                t0 = t1;
            }
            assert_eq!(scan.frames(), 180);
            assert_eq!(disp, whole.disp, "{}, blocks of {block}", e.describe());
            assert_eq!(scan.long_steps().unwrap(), whole.long_steps);
        }
    }
    // A coordinate the GPU cannot unwrap is an error before it goes up.
    if let Some(g) = gpu() {
        let mut bad = w.frac.clone();
        bad[[5, 2, 0]] = f32::NAN;
        let part = FracTrajectory {
            frac: bad.view(),
            cells: w.cells.view(),
        };
        let mut scan = g.unwrap_scan(25, 3.0).unwrap();
        let mut disp = Array3::<f32>::zeros(bad.raw_dim());
        let e = scan
            .advance(&part, disp.view_mut())
            .unwrap_err()
            .to_string();
        assert!(e.contains("not finite"), "{e}");
    }
}

/// The unwrap's Kahan sum survives the shader compiler: one atom taking 20 000 steps of
/// 0.3 Å in a 10 Å cell ends 5999.7 Å away to within 0.01 Å on both backends, where
/// a plain f32 running sum is off by far more (checked here on the same steps).
#[test]
fn long_unwraps_keep_their_compensation() {
    let t = 20_000usize;
    let frac = Array3::from_shape_fn((t, 1, 3), |(f, _, a)| {
        if a == 0 {
            (f as f64 * 0.03).fract() as f32
        } else {
            0.5
        }
    });
    let cells = Array3::from_shape_fn((1, 3, 3), |(_, i, j)| if i == j { 10.0 } else { 0.0 });
    let truth = 0.3 * (t - 1) as f64;
    let plain = (1..t).fold(0.0f32, |s, f| {
        let d = frac[[f, 0, 0]] - frac[[f - 1, 0, 0]];
        s + (d - d.round()) * 10.0
    }) as f64;
    assert!(
        (plain - truth).abs() > 0.05,
        "the case must defeat a plain sum: {plain}"
    );
    let traj = FracTrajectory {
        frac: frac.view(),
        cells: cells.view(),
    };
    let cpu = Engine::cpu().unwrap(&traj, 100.0).unwrap();
    for e in engines() {
        let u = e.unwrap(&traj, 100.0).unwrap();
        let end = u.disp[[t - 1, 0, 0]] as f64;
        assert!(
            (end - truth).abs() < 0.01,
            "{}: {end} vs {truth}",
            e.describe()
        );
        // The GPU sums blocks of frames in parallel with the CPU twin's arithmetic:
        // the same bits on a software adapter, every frame (a compiler that dropped
        // a compensation anywhere shows here first).
        if common::exact_on(&e) {
            assert_eq!(u.disp, cpu.disp, "{}", e.describe());
        }
    }
}

/// Windowed sums over many blocks of 256 time origins (1300 frames: six blocks for the
/// short lags, one or none for the long ones), lags at the block edges: both backends
/// as the naive f64 sums.
#[test]
fn windowed_sums_over_many_origin_blocks() {
    let w = walk(1300, 7, 0.4, false, false, 17);
    let disp = w.truth.mapv(|v| v as f32);
    let lags = vec![0, 1, 255, 256, 257, 700, 1043, 1044, 1299];
    let want = naive_windowed(&disp, &lags);
    for e in engines() {
        let got = e.windowed_sq_disp(disp.view(), &lags).unwrap();
        for (a, b) in got.iter().zip(want.iter()) {
            assert!(close(*a, *b, 1e-5, 1e-6), "{}: {a} vs {b}", e.describe());
        }
    }
}

/// The naive self MSD of the selected atoms of `truth` less the reference's mean
/// displacement (f64, every origin): Ns x L x 3, and the summed displacement T x 3.
fn naive_self_msd(
    truth: &Array3<f64>,
    atoms: &[usize],
    reference: Option<&[usize]>,
    lags: &[usize],
) -> (Array3<f64>, ndarray::Array2<f64>) {
    let t = truth.shape()[0];
    let drift = ndarray::Array2::from_shape_fn((t, 3), |(f, ax)| match reference {
        Some(r) => r.iter().map(|&a| truth[[f, a, ax]]).sum::<f64>() / r.len() as f64,
        None => 0.0,
    });
    let u = Array3::from_shape_fn((t, atoms.len(), 3), |(f, j, ax)| {
        truth[[f, atoms[j], ax]] - drift[[f, ax]]
    });
    let per = Array3::from_shape_fn((atoms.len(), lags.len(), 3), |(j, l, ax)| {
        let m = lags[l];
        (0..t - m)
            .map(|t0| (u[[t0 + m, j, ax]] - u[[t0, j, ax]]).powi(2))
            .sum::<f64>()
            / (t - m) as f64
    });
    (per, u.sum_axis(ndarray::Axis(1)))
}

/// Unwrap, drift removal and windowed sums chained on the engine (on the GPU without
/// the displacements leaving the device) give the naive f64 MSD of the true walk, and
/// the same long steps as the plain unwrap: triclinic NPT cells, selections in any
/// order, with and without a drift reference.
#[test]
fn chained_self_msd_is_the_naive_msd_of_the_walk() {
    let w = walk(700, 23, 1.2, true, true, 5);
    let traj = FracTrajectory {
        frac: w.frac.view(),
        cells: w.cells.view(),
    };
    let atoms = [4usize, 0, 17, 9, 22, 3, 11];
    let framework: Vec<usize> = (0..23).filter(|a| !atoms.contains(a)).collect();
    let lags = vec![0, 1, 2, 255, 256, 257, 500, 699];
    for reference in [Some(&framework[..]), None] {
        let sel = superion::compute::MsdSelection {
            atoms: &atoms,
            reference,
        };
        let (want, want_sum) = naive_self_msd(&w.truth, &atoms, reference, &lags);
        for e in engines() {
            let got = e.unwrapped_self_msd(&traj, 2.0, &sel, &lags).unwrap();
            assert_eq!(got.per_atom.dim(), want.dim());
            for (a, b) in got.per_atom.iter().zip(want.iter()) {
                assert!(close(*a, *b, 2e-5, 1e-5), "{}: {a} vs {b}", e.describe());
            }
            for (a, b) in got.summed.iter().zip(want_sum.iter()) {
                assert!(
                    close(*a, *b, 1e-5, 1e-3),
                    "{}: summed {a} vs {b}",
                    e.describe()
                );
            }
            let plain = e.unwrap(&traj, 2.0).unwrap();
            assert!(plain.long_steps.count > 0);
            assert_eq!(got.long_steps, plain.long_steps, "{}", e.describe());
        }
    }
}

/// Bad selections and lags are errors on both backends, not panics.
#[test]
fn chained_self_msd_refuses_bad_selections() {
    let w = walk(20, 4, 0.3, false, false, 2);
    let traj = FracTrajectory {
        frac: w.frac.view(),
        cells: w.cells.view(),
    };
    for e in engines() {
        let msd = |atoms: &[usize], reference: Option<&[usize]>, lags: &[usize]| {
            let sel = superion::compute::MsdSelection { atoms, reference };
            e.unwrapped_self_msd(&traj, 2.0, &sel, lags)
                .unwrap_err()
                .to_string()
        };
        assert!(msd(&[0, 4], None, &[1]).contains("atom index 4"));
        assert!(msd(&[0], Some(&[7]), &[1]).contains("atom index 7"));
        assert!(msd(&[], None, &[1]).contains("no atoms"));
        assert!(msd(&[1], Some(&[]), &[1]).contains("reference"));
        assert!(msd(&[1], None, &[20]).contains("lag 20"));
    }
}
