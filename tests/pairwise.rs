//! Pairwise kernels: GPU (software adapter in CI) vs CPU twin vs a naive f64 reference.

mod common;

use common::{close, gpu, matrix, naive_sq};
use ndarray::{Array2, Array3};
use proptest::prelude::*;
use superion::Engine;
use superion::cluster::silhouette::silhouette_samples_batch;
use superion::compute::LabelledBatch;

#[test]
fn adapter_is_vulkan_not_a_silent_gl_fallback() {
    let Some(g) = gpu() else { return };
    let ctx = g.gpu().unwrap();
    if cfg!(target_os = "linux") {
        assert_eq!(
            ctx.summary.backend, "Vulkan",
            "wgpu fell back to {}",
            ctx.summary.backend
        );
    } else {
        assert_ne!(ctx.summary.backend, "Gl");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn sq_dists_agree(n in 1usize..70, m in 1usize..70, d in 1usize..20, seed in any::<u64>()) {
        let x = matrix(n, d, seed);
        let y = matrix(m, d, seed ^ 1);
        let want = naive_sq(&x, &y);
        let cpu = Engine::cpu().pairwise_sq_dists(x.view(), y.view()).unwrap();
        for ((i, j), w) in want.indexed_iter() {
            prop_assert!(close(cpu[[i, j]] as f64, *w, 1e-5, 1e-5), "cpu {} vs {w}", cpu[[i, j]]);
        }
        if let Some(g) = gpu() {
            let got = g.pairwise_sq_dists(x.view(), y.view()).unwrap();
            for ((i, j), w) in want.indexed_iter() {
                prop_assert!(close(got[[i, j]] as f64, *w, 1e-5, 1e-5), "gpu {} vs {w}", got[[i, j]]);
            }
        }
    }
}

#[test]
fn sq_dists_tiles_cover_the_matrix_once() {
    let x = matrix(130, 7, 3);
    let y = matrix(97, 7, 4);
    let want = naive_sq(&x, &y);
    let engines: Vec<Engine> = std::iter::once(Engine::cpu()).chain(gpu()).collect();
    for e in engines {
        let mut seen = Array2::<u32>::zeros((130, 97));
        let mut tiles = 0;
        // 4 KiB tiles: many row and column tiles on the GPU, many row tiles on the CPU.
        e.pairwise_sq_dists_tiles(x.view(), y.view(), 4096, |r0, c0, tile| {
            tiles += 1;
            for ((i, j), v) in tile.indexed_iter() {
                seen[[r0 + i, c0 + j]] += 1;
                assert!(close(*v as f64, want[[r0 + i, c0 + j]], 1e-5, 1e-5));
            }
            Ok(())
        })
        .unwrap();
        assert!(seen.iter().all(|&c| c == 1), "every entry exactly once");
        assert!(tiles > 4, "{} made only {tiles} tiles", e.describe());
    }
}

/// Naive silhouette from the full f64 distance matrix (scikit-learn's definition).
fn naive_silhouette(x: &Array2<f32>, labels: &[u32], k: usize) -> Vec<f64> {
    let d = naive_sq(x, x).mapv(f64::sqrt);
    let n = labels.len();
    let size = |c: u32| labels.iter().filter(|&&l| l == c).count();
    (0..n)
        .map(|i| {
            let own = labels[i];
            if size(own) <= 1 {
                return 0.0;
            }
            let mean = |c: u32| {
                (0..n)
                    .filter(|&j| labels[j] == c)
                    .map(|j| d[[i, j]])
                    .sum::<f64>()
            };
            let a = mean(own) / (size(own) - 1) as f64;
            let b = (0..k as u32)
                .filter(|&c| c != own && size(c) > 0)
                .map(|c| mean(c) / size(c) as f64)
                .fold(f64::INFINITY, f64::min);
            if !b.is_finite() {
                0.0
            } else {
                (b - a) / a.max(b)
            }
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    /// Batches of problems over shared point sets, with k = 1, empty and singleton
    /// clusters, sizes that are not multiples of the workgroup.
    #[test]
    fn silhouette_agrees(sets in 1usize..4, n in 1usize..90, d in 1usize..6, b in 1usize..6, seed in any::<u64>()) {
        let points = Array3::from_shape_vec((sets, n, d), matrix(sets * n, d, seed).into_raw_vec_and_offset().0).unwrap();
        let set_of: Vec<u32> = (0..b).map(|i| (i % sets) as u32).collect();
        let k: Vec<u32> = (0..b).map(|i| 1 + ((seed >> (i * 3)) % 7) as u32).collect();
        let labels = Array2::from_shape_fn((b, n), |(p, i)| ((i as u64 * 2654435761 + seed + p as u64) % k[p] as u64) as u32);
        let cpu = silhouette_samples_batch(&Engine::cpu(), points.view(), &set_of, labels.view(), &k).unwrap();
        let gpu_s = gpu().map(|g| silhouette_samples_batch(&g, points.view(), &set_of, labels.view(), &k).unwrap());
        for p in 0..b {
            let x = points.index_axis(ndarray::Axis(0), set_of[p] as usize).to_owned();
            let want = naive_silhouette(&x, labels.row(p).as_slice().unwrap(), k[p] as usize);
            for i in 0..n {
                prop_assert!(close(cpu[[p, i]], want[i], 1e-4, 1e-5), "cpu {} vs {}", cpu[[p, i]], want[i]);
                if let Some(g) = &gpu_s {
                    prop_assert!(close(g[[p, i]], want[i], 1e-4, 1e-5), "gpu {} vs {}", g[[p, i]], want[i]);
                }
            }
        }
    }
}

#[test]
fn mismatched_shapes_are_errors_not_panics() {
    let x = matrix(3, 2, 1);
    let y = matrix(3, 4, 1);
    assert!(Engine::cpu().pairwise_sq_dists(x.view(), y.view()).is_err());
    let points = Array3::<f32>::zeros((1, 4, 2));
    let labels = Array2::from_elem((1, 4), 3u32);
    assert!(
        LabelledBatch::new(points.view(), &[0], labels.view(), &[2]).is_err(),
        "label 3 with k = 2"
    );
    assert!(
        LabelledBatch::new(points.view(), &[1], labels.view(), &[4]).is_err(),
        "missing point set"
    );
}

/// The tiled cluster sums where a tile holds a few members only (d = 100: 40 members
/// per 16 KB tile), points that are not a multiple of the 64-lane block, clusters that
/// start and end inside tiles, and an empty cluster; silhouettes as the naive f64
/// definition. Called twice on the same engine: the same sums. Points of more than
/// 4096 dimensions do not fit a tile: an error, not a wrong answer.
#[test]
fn tiled_cluster_sums_with_wide_points() {
    let (n, d, k) = (333usize, 100usize, 5u32);
    let x = matrix(n, d, 21);
    let points = x.clone().insert_axis(ndarray::Axis(0));
    // Cluster 3 is empty; the rest uneven.
    let labels = Array2::from_shape_fn((1, n), |(_, i)| [0u32, 1, 1, 2, 4, 4, 4][i % 7]);
    let cpu =
        silhouette_samples_batch(&Engine::cpu(), points.view(), &[0], labels.view(), &[k]).unwrap();
    let want = naive_silhouette(&x, labels.row(0).as_slice().unwrap(), k as usize);
    for i in 0..n {
        assert!(close(cpu[[0, i]], want[i], 1e-4, 1e-5));
    }
    let Some(g) = gpu() else { return };
    let ks = [k];
    let batch = LabelledBatch::new(points.view(), &[0], labels.view(), &ks).unwrap();
    let sums_cpu = Engine::cpu().cluster_dist_sums(&batch).unwrap();
    let first = g.cluster_dist_sums(&batch).unwrap();
    let second = g.cluster_dist_sums(&batch).unwrap();
    assert_eq!(first, second);
    for (a, w) in first.iter().zip(sums_cpu.iter()) {
        assert!(close(*a as f64, *w as f64, 1e-5, 1e-4), "{a} vs {w}");
    }
    let s = silhouette_samples_batch(&g, points.view(), &[0], labels.view(), &[k]).unwrap();
    for i in 0..n {
        assert!(
            close(s[[0, i]], want[i], 1e-4, 1e-5),
            "gpu {} vs {}",
            s[[0, i]],
            want[i]
        );
    }
    let wide = Array3::<f32>::zeros((1, 4, 5000));
    let two = Array2::from_shape_fn((1, 4), |(_, i)| (i % 2) as u32);
    let batch = LabelledBatch::new(wide.view(), &[0], two.view(), &[2]).unwrap();
    let e = g.cluster_dist_sums(&batch).unwrap_err();
    assert!(matches!(e, superion::Error::TooLarge(_)), "{e}");
}

/// The GPU's Kahan compensation is still there after the driver's compiler: point 0's
/// summed distance to a member 10^4 away and then 10 000 members about 0.3 away (small
/// terms added to a large sum, where a plain f32 sum loses ~1e-4 relative) matches the
/// f64 sum to 1e-6. A driver that reassociated `(t - s) - y` away would fail here
/// rather than pass silently.
#[test]
fn compensated_sums_survive_the_shader_compiler() {
    let n = 10_002usize;
    let coord = |i: usize| match i {
        0 => 0.0f32,
        1 => 1.0e4,
        _ => 0.3 + (i % 7) as f32 * 1e-4,
    };
    let x = Array2::from_shape_fn((n, 1), |(i, _)| coord(i));
    let want: f64 = (0..n).map(|i| coord(i) as f64).sum();
    let plain = (0..n).fold(0.0f32, |s, i| s + coord(i)) as f64;
    assert!(
        ((plain - want) / want).abs() > 1e-5,
        "the case must defeat a plain f32 sum ({plain} vs {want})"
    );
    let points = x.insert_axis(ndarray::Axis(0));
    let labels = Array2::<u32>::zeros((1, n));
    let batch = LabelledBatch::new(points.view(), &[0], labels.view(), &[1]).unwrap();
    let engines: Vec<Engine> = std::iter::once(Engine::cpu()).chain(gpu()).collect();
    for e in engines {
        let sums = e.cluster_dist_sums(&batch).unwrap();
        let got = sums[[0, 0, 0]] as f64;
        assert!(
            ((got - want) / want).abs() < 1e-6,
            "{}: {got} vs {want}",
            e.describe()
        );
    }
}

/// The register-tiled distances (64 x 64 blocks per workgroup, coordinates in slices of
/// 16) across several blocks, ragged edges and partial slices (d = 37, 100): every
/// entry as the naive f64 distance and the CPU twin's (which sums in 8 SIMD lanes with
/// fused multiply-adds, so not bit for bit).
#[test]
fn register_tiled_distances_cross_blocks_and_slices() {
    let Some(g) = gpu() else { return };
    for (n, m, d) in [(200, 131, 37), (65, 129, 100), (64, 64, 16), (3, 300, 1)] {
        let x = matrix(n, d, n as u64);
        let y = matrix(m, d, m as u64 + 7);
        let cpu = Engine::cpu().pairwise_sq_dists(x.view(), y.view()).unwrap();
        let got = g.pairwise_sq_dists(x.view(), y.view()).unwrap();
        let want = naive_sq(&x, &y);
        for ((i, j), w) in want.indexed_iter() {
            let (a, c) = (got[[i, j]] as f64, cpu[[i, j]] as f64);
            assert!(
                close(a, *w, 1e-5, 1e-5),
                "{n} x {m}, d = {d}: {i},{j}: {a} vs {w}"
            );
            assert!(
                close(a, c, 1e-5, 1e-5),
                "{n} x {m}, d = {d}: {i},{j}: {a} vs cpu {c}"
            );
        }
    }
}
