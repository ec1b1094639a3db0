//! `cargo bench --bench phonon [-- N]`: time `phonon features` (discover, read in
//! parallel, describe) on N generated Materials Project documents (default 10 000,
//! gzipped CompletePhononDos with 887 grid points and 10 sites, like the real ones),
//! and on the 69 real documents in ../shared/data/mp-phonon-dos when present.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use rayon::prelude::*;
use superion::materials::{discover, read_all};
use superion::phonon::descriptors::{FeatureOptions, features};

fn document(seed: usize) -> String {
    let f: Vec<f64> = (0..887).map(|i| -0.0724 + i as f64 * 0.02998).collect();
    let species = ["Li", "Li", "Li", "P", "S", "S", "S", "S", "Li", "Cl"];
    let pdos: Vec<Vec<f64>> = species
        .iter()
        .enumerate()
        .map(|(s, _)| {
            let c = 4.0 + ((seed * 7 + s * 13) % 17) as f64;
            f.iter()
                .map(|x| {
                    if *x > 0.0 {
                        3.0 * (-(x - c).powi(2) / 2.0).exp() / (2.0 * std::f64::consts::PI).sqrt()
                    } else {
                        0.0
                    }
                })
                .collect()
        })
        .collect();
    let total: Vec<f64> = (0..f.len())
        .map(|i| pdos.iter().map(|p| p[i]).sum())
        .collect();
    let sites: Vec<_> = species
        .iter()
        .map(|e| serde_json::json!({"species": [{"element": e, "occu": 1}], "abc": [0, 0, 0]}))
        .collect();
    serde_json::json!({"phonon_dos": {"@class": "CompletePhononDos", "frequencies": f, "densities": total, "pdos": pdos, "structure": {"sites": sites}}}).to_string()
}

fn generate(dir: &Path, n: usize) -> u64 {
    std::fs::create_dir_all(dir).unwrap();
    (0..n)
        .into_par_iter()
        .map(|i| {
            let path = dir.join(format!("mp-{}.json.gz", 100000 + i));
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            gz.write_all(document(i).as_bytes()).unwrap();
            let bytes = gz.finish().unwrap();
            std::fs::write(&path, &bytes).unwrap();
            bytes.len() as u64
        })
        .sum()
}

fn run(label: &str, dir: &Path) {
    let t = Instant::now();
    let inputs = discover(&[dir.to_path_buf()]).unwrap();
    let (dos, failed) = read_all(&inputs);
    let t_read = t.elapsed().as_secs_f64();
    let opts = FeatureOptions {
        legacy: true,
        dos_bins: Some(60),
        ..Default::default()
    };
    let rows: Vec<_> = dos.par_iter().map(|d| features(d, &opts)).collect();
    let secs = t.elapsed().as_secs_f64();
    println!(
        "{label}: {} inputs ({} failed) in {secs:.3} s (read {t_read:.3} s, describe {:.3} s): {:.0} materials/s",
        inputs.len(),
        failed.len(),
        secs - t_read,
        rows.len() as f64 / secs
    );
}

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(10_000);
    let real = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/mp-phonon-dos");
    if real.is_dir() {
        run("69 real Materials Project documents", &real);
    } else {
        println!("../shared/data absent: skipping the real documents");
    }
    let dir = std::env::temp_dir().join(format!("superion-bench-phonon-{n}"));
    if !dir.is_dir() {
        let bytes = generate(&dir, n);
        println!(
            "generated {n} documents ({:.1} MB gzipped) in {}",
            bytes as f64 / 1e6,
            dir.display()
        );
    }
    run(&format!("{n} generated documents"), &dir);
}
