//! Batched k-means: GPU (software adapter in CI) vs CPU twin vs a naive f64 Lloyd.

mod common;

use common::{blobs, close, gpu};
use ndarray::{Array2, Array3, ArrayView2, Axis};
use proptest::prelude::*;
use superion::Engine;
use superion::cluster::kmeans::{Init, KMeansParams, kmeans};
use superion::compute::LloydBatch;

/// Lloyd in f64 with scikit-learn's stopping rules, from the given initial centres.
fn naive_lloyd(
    x: ArrayView2<f32>,
    init: ArrayView2<f32>,
    tol: f64,
    max_iter: u32,
) -> (Vec<u32>, f64) {
    let (n, d) = x.dim();
    let k = init.nrows();
    let mut c: Vec<Vec<f64>> = init
        .outer_iter()
        .map(|r| r.iter().map(|&v| v as f64).collect())
        .collect();
    let dist = |i: usize, c: &[f64]| {
        (0..d)
            .map(|t| (x[[i, t]] as f64 - c[t]).powi(2))
            .sum::<f64>()
    };
    let assign = |c: &Vec<Vec<f64>>| -> Vec<u32> {
        (0..n)
            .map(|i| {
                (0..k)
                    .min_by(|&a, &b| dist(i, &c[a]).total_cmp(&dist(i, &c[b])))
                    .unwrap() as u32
            })
            .collect()
    };
    let mut labels = vec![u32::MAX; n];
    for _ in 0..max_iter {
        let new = assign(&c);
        let mut shift = 0.0;
        for j in 0..k {
            let members: Vec<usize> = (0..n).filter(|&i| new[i] == j as u32).collect();
            if members.is_empty() {
                continue;
            }
            for t in 0..d {
                let m =
                    members.iter().map(|&i| x[[i, t]] as f64).sum::<f64>() / members.len() as f64;
                shift += (m - c[j][t]).powi(2);
                c[j][t] = m;
            }
        }
        let same = new == labels;
        labels = new;
        if same || shift <= tol {
            break;
        }
    }
    let labels = assign(&c);
    let inertia = (0..n).map(|i| dist(i, &c[labels[i] as usize])).sum();
    (labels, inertia)
}

fn engines() -> Vec<Engine> {
    std::iter::once(Engine::cpu()).chain(gpu()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    /// The Lloyd kernel from the same initial centres: both backends give identical
    /// labels and iteration counts and match the f64 reference on separated data.
    /// Sizes cross the 256-point chunk and the 64-lane workgroup; k = 1 and k = n occur.
    #[test]
    fn lloyd_matches_reference(n in 1usize..600, d in 1usize..5, k in 1usize..6, b in 1usize..4, seed in any::<u64>()) {
        let k = k.min(n);
        let sets: Vec<(Array2<f32>, Vec<u32>)> = (0..b).map(|i| blobs(n, d, k, 1.0, seed + i as u64)).collect();
        let points = Array3::from_shape_fn((b, n, d), |(s, i, t)| sets[s].0[[i, t]]);
        // Initial centres: the first point of each true cluster, perturbed.
        let init = Array3::from_shape_fn((b, k, d), |(s, c, t)| sets[s].0[[c, t]] + 0.3);
        let set_of: Vec<u32> = (0..b as u32).collect();
        let kk = vec![k as u32; b];
        let tol = vec![1e-6f32; b];
        let batch = LloydBatch { points: points.view(), set_of: &set_of, k: &kk, init: init.view(), tol: &tol, max_iter: 100 };
        let cpu = Engine::cpu().lloyd(&batch).unwrap();
        for s in 0..b {
            let (want, inertia) = naive_lloyd(points.index_axis(Axis(0), s), init.index_axis(Axis(0), s), 1e-6, 100);
            prop_assert_eq!(cpu.labels.row(s).to_vec(), want);
            prop_assert!(close(cpu.inertia[s], inertia, 1e-4, 1e-3), "{} vs {inertia}", cpu.inertia[s]);
        }
        if let Some(g) = gpu() {
            let got = g.lloyd(&batch).unwrap();
            for s in 0..b {
                let r = common::labels_agree(&g, got.labels.row(s).as_slice().unwrap(), cpu.labels.row(s).as_slice().unwrap());
                prop_assert!(r.is_ok(), "{:?}", r);
            }
            let r = common::iterations_agree(&g, &got.n_iter, &cpu.n_iter);
            prop_assert!(r.is_ok(), "{:?}", r);
            for s in 0..b {
                prop_assert!(close(got.inertia[s], cpu.inertia[s], 1e-5, 1e-4));
            }
        }
    }

    /// Full k-means (host initialisation + restarts): the same seed gives the same
    /// labels on both backends, for both initialisations.
    #[test]
    fn same_seed_same_labels_on_both_backends(n in 2usize..300, k in 1usize..8, seed in any::<u64>(), pp in any::<bool>()) {
        let k = k.min(n) as u32;
        let (x, _) = blobs(n, 3, 4, 6.0, seed);
        let params = KMeansParams { init: if pp { Init::KMeansPlusPlus } else { Init::Random }, n_init: 3, max_iter: 300, tol: 1e-4 };
        let cpu = kmeans(&Engine::cpu(), x.view(), k, seed, &params).unwrap();
        let again = kmeans(&Engine::cpu(), x.view(), k, seed, &params).unwrap();
        prop_assert_eq!(&cpu.labels, &again.labels);
        if let Some(g) = gpu() {
            let got = kmeans(&g, x.view(), k, seed, &params).unwrap();
            let r = common::labels_agree(&g, &got.labels, &cpu.labels);
            prop_assert!(r.is_ok(), "{:?}", r);
            prop_assert!(close(got.inertia, cpu.inertia, 1e-5, 1e-4));
        }
    }
}

#[test]
fn recovers_separated_blobs() {
    let (x, truth) = blobs(500, 4, 5, 1.0, 42);
    for e in engines() {
        let fit = kmeans(&e, x.view(), 5, 0, &KMeansParams::default()).unwrap();
        // Same partition up to renaming.
        let mut map = std::collections::HashMap::new();
        for (l, t) in fit.labels.iter().zip(&truth) {
            assert_eq!(*map.entry(*l).or_insert(*t), *t, "{}", e.describe());
        }
        assert_eq!(map.len(), 5);
    }
}

#[test]
fn bad_parameters_are_errors() {
    let x = Array2::<f32>::zeros((5, 2));
    let e = Engine::cpu();
    assert!(
        kmeans(&e, x.view(), 6, 0, &KMeansParams::default()).is_err(),
        "k > n"
    );
    assert!(
        kmeans(&e, x.view(), 0, 0, &KMeansParams::default()).is_err(),
        "k = 0"
    );
    let bad = KMeansParams {
        n_init: 0,
        ..Default::default()
    };
    assert!(kmeans(&e, x.view(), 2, 0, &bad).is_err(), "n_init = 0");
    let mut nan = x.clone();
    nan[[1, 1]] = f32::NAN;
    assert!(
        kmeans(&e, nan.view(), 2, 0, &KMeansParams::default()).is_err(),
        "NaN input"
    );
}

/// A problem of 70 000 points (274 chunks of 256: every lane of the GPU's `update`
/// folds several chunks, then all six pairwise levels): both backends give the same
/// labels, iterations and centres bit for bit (the CPU twin folds in the shader's
/// order), the centres are the f64 means of their members, and a second GPU call on
/// the same engine gives the same again.
#[test]
fn a_large_problem_folds_its_chunks_the_same_on_both_backends() {
    let n = 70_000;
    let (x, _) = blobs(n, 3, 4, 1.5, 77);
    let points = x.view().insert_axis(Axis(0));
    let init = Array3::from_shape_fn((1, 4, 3), |(_, c, t)| x[[c * 17, t]] + 0.2);
    let batch = LloydBatch {
        points,
        set_of: &[0],
        k: &[4],
        init: init.view(),
        tol: &[0.0],
        max_iter: 6,
    };
    let cpu = Engine::cpu().lloyd(&batch).unwrap();
    for c in 0..4 {
        let members: Vec<usize> = (0..n).filter(|&i| cpu.labels[[0, i]] == c as u32).collect();
        assert!(!members.is_empty());
        for t in 0..3 {
            let mean =
                members.iter().map(|&i| x[[i, t]] as f64).sum::<f64>() / members.len() as f64;
            let got = cpu.centres[[0, c, t]] as f64;
            // The centres are those of the last update; the labels one assignment later.
            assert!((got - mean).abs() < 0.05, "centre {c}.{t}: {got} vs {mean}");
        }
    }
    let Some(g) = gpu() else { return };
    for _ in 0..2 {
        let got = g.lloyd(&batch).unwrap();
        common::labels_agree(
            &g,
            got.labels.as_slice().unwrap(),
            cpu.labels.as_slice().unwrap(),
        )
        .unwrap();
        common::iterations_agree(&g, &got.n_iter, &cpu.n_iter).unwrap();
        if common::exact_on(&g) {
            assert_eq!(got.centres, cpu.centres);
        }
        for (a, b) in got.centres.iter().zip(cpu.centres.iter()) {
            assert!(close(*a as f64, *b as f64, 1e-5, 1e-5), "{a} vs {b}");
        }
        assert!(close(got.inertia[0], cpu.inertia[0], 1e-6, 1e-6));
    }
}
