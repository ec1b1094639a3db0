//! `superion devices` (the GPU adapters wgpu sees) and `superion bench` (kernel
//! throughput on the CPU path and the GPU at hand).

use superion::compute::gpu;
use superion::{BackendChoice, Engine, bench as kernels};

pub fn devices(json: bool) -> anyhow::Result<()> {
    let adapters = gpu::enumerate();
    let auto = Engine::new(BackendChoice::Auto)?;
    let forced = gpu::pick(&adapters, false);
    if json {
        let doc = serde_json::json!({
            "adapters": adapters,
            "auto": auto.describe(),
            "auto_reason": auto.reason,
            "gpu_backend_uses": forced.map(|i| &adapters[i].name),
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(());
    }
    if adapters.is_empty() {
        println!(
            "no GPU adapters found (for the software Vulkan driver: apt-get install mesa-vulkan-drivers)"
        );
    }
    for (i, a) in adapters.iter().enumerate() {
        let mark = if Some(i) == forced { "*" } else { " " };
        println!(
            "{mark} [{i}] {} — {} / {} ({})",
            a.name, a.backend, a.device_type, a.driver
        );
        println!(
            "      max storage binding {} MiB, max buffer {} MiB, {} workgroups/dim, {} invocations/workgroup, {} KiB workgroup memory",
            a.max_storage_buffer_binding_size >> 20,
            a.max_buffer_size >> 20,
            a.max_compute_workgroups_per_dimension,
            a.max_compute_invocations_per_workgroup,
            a.max_compute_workgroup_storage_size >> 10
        );
        let feats: Vec<&str> = [
            (a.shader_f16, "f16"),
            (a.shader_f64, "f64"),
            (a.subgroup, "subgroups"),
            (a.timestamp_query, "timestamps"),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, n)| *n)
        .collect();
        println!(
            "      features: {}",
            if feats.is_empty() {
                "none of f16/f64/subgroups/timestamps".into()
            } else {
                feats.join(", ")
            }
        );
    }
    if let Some(i) = forced {
        println!("* --backend gpu uses [{i}] {}", adapters[i].name);
    }
    println!("--backend auto: {}", auto.reason);
    Ok(())
}

pub fn bench(
    choice: BackendChoice,
    quick: bool,
    json: bool,
    only: Option<String>,
) -> anyhow::Result<()> {
    let only = only.as_deref();
    // The CPU path is always measured; the GPU one on whatever adapter `gpu` would use
    // unless the user asked for the CPU only.
    let gpu = match choice {
        BackendChoice::Cpu => None,
        _ => match Engine::new(BackendChoice::Gpu) {
            Ok(e) => Some(e),
            Err(err) => {
                eprintln!("superion: no GPU adapter, measuring the CPU path only ({err})");
                None
            }
        },
    };
    if !json {
        println!(
            "CPU: {} threads; memory copy {:.1} GB/s",
            rayon::current_num_threads(),
            kernels::memcpy_gbytes()
        );
        if let Some(g) = &gpu {
            println!("GPU: {}", g.describe());
        }
        println!(
            "{:<18} {:<60} {:>4} {:>10} {:>10} {:>9}  {}",
            "kernel", "size", "on", "seconds", "GFLOP/s", "GB/s", "GPU traffic per call"
        );
    }
    let mut last_cpu = 0.0;
    let all = kernels::run(quick, only, gpu.as_ref(), |m| {
        if json {
            return;
        }
        let ratio = if m.backend == "gpu" {
            format!("  gpu/cpu speed {:.2}x", last_cpu / m.seconds)
        } else {
            String::new()
        };
        if m.backend == "cpu" {
            last_cpu = m.seconds;
        }
        let traffic = match (m.submits, m.bytes_up, m.bytes_down) {
            (Some(s), Some(u), Some(d)) => format!(
                "  {s} submits, {:.1} MB up, {:.1} MB down ({:.1}× the result)",
                u as f64 / 1e6,
                d as f64 / 1e6,
                d as f64 / m.result_bytes.max(1) as f64
            ),
            _ => String::new(),
        };
        println!(
            "{:<18} {:<60} {:>4} {:>10.4} {:>10} {:>9}{}{}",
            m.kernel,
            m.size,
            m.backend,
            m.seconds,
            m.gflops.map(|v| format!("{v:.2}")).unwrap_or_default(),
            m.gbytes.map(|v| format!("{v:.2}")).unwrap_or_default(),
            ratio,
            traffic
        );
    })?;
    if json {
        println!("{}", serde_json::to_string_pretty(&all)?);
    }
    Ok(())
}
