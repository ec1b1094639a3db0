//! The GPU traffic counters (submits, dispatches, bytes up and down) that `superion
//! bench` reports: exact on a call whose transfers are known, additive over calls,
//! absent on the CPU path; and `bench --json` rows carry them.

mod common;

use ndarray::Array2;
use superion::Engine;

#[test]
fn counters_count_a_known_call_and_add_up() {
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
