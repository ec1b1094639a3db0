//! `cargo bench --bench kernels [-- --quick] [-- --only NAME]`: every kernel on the
//! CPU path and on the wgpu adapter at hand (`SUPERION_BENCH_GPU=0` skips the GPU),
//! at several sizes, with throughput. The same harness backs `superion bench`.

use superion::{BackendChoice, Engine, bench};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let only = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
        .map(String::as_str);
    let gpu = if std::env::var("SUPERION_BENCH_GPU").is_ok_and(|v| v == "0") {
        None
    } else {
        Engine::new(BackendChoice::Gpu)
            .map_err(|e| eprintln!("no GPU adapter: {e}"))
            .ok()
    };
    println!(
        "memory copy: {:.1} GB/s; GPU: {}",
        bench::memcpy_gbytes(),
        gpu.as_ref().map_or("none".into(), |g| g.describe())
    );
    let result = bench::run(quick, only, gpu.as_ref(), |m| {
        println!(
            "{:<18} {:<62} {:>4} {:>9.4} s {:>9} GFLOP/s {:>8} GB/s",
            m.kernel,
            m.size,
            m.backend,
            m.seconds,
            m.gflops.map(|v| format!("{v:.2}")).unwrap_or_default(),
            m.gbytes.map(|v| format!("{v:.2}")).unwrap_or_default()
        );
    });
    if let Err(e) = result {
        eprintln!("bench failed: {e}");
        std::process::exit(1);
    }
}
