//! Phonon-DOS screening through the library alone: descriptors of the bundled phonopy
//! examples, standardised, clustered by k-means and by Ward linkage over k, each k
//! scored (silhouette, Calinski-Harabasz, Davies-Bouldin, gap), the labels printed.
//!
//!     cargo run --release --example cluster [-- PHONON_INPUT...]

use std::path::PathBuf;

use superion::Engine;
use superion::cluster::select::{Method, SelectOptions, cluster_over_k, standardise};
use superion::materials::{feature_rows, screening_dos_options};
use superion::phonon::descriptors::{FeatureOptions, Value};
use superion::screen::DEFAULT_COLUMNS;

fn main() -> superion::Result<()> {
    let mut inputs: Vec<PathBuf> = std::env::args().skip(1).map(PathBuf::from).collect();
    if inputs.is_empty() {
        inputs.push(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/phonopy"));
    }
    let (rows, failures) = feature_rows(
        &inputs,
        &FeatureOptions::default(),
        &screening_dos_options(),
    )?;
    for f in &failures {
        eprintln!("left out {}: {}", f.input.display(), f.error);
    }
    // The materials with every screening descriptor (NaCl has no Li projection).
    let mut ids = Vec::new();
    let mut values = Vec::new();
    for r in &rows {
        let v: Option<Vec<f64>> = DEFAULT_COLUMNS
            .iter()
            .map(|c| r.get(c).and_then(|v| v.num()).filter(|x| x.is_finite()))
            .collect();
        if let Some(v) = v {
            ids.push(match r.get("id") {
                Some(Value::Text(t)) => t.clone(),
                _ => String::new(),
            });
            values.extend(v);
        }
    }
    let x = ndarray::Array2::from_shape_vec((ids.len(), DEFAULT_COLUMNS.len()), values)
        .expect("rows of equal length");
    let x = standardise(x.view());
    let ks: Vec<usize> = (2..ids.len()).collect();
    let engine = Engine::from_env()?;
    for method in [Method::Kmeans, Method::Ward] {
        let sel = cluster_over_k(&engine, x.view(), method, &ks, &SelectOptions::default())?;
        println!(
            "{}: chosen k = {} ({})",
            method.name(),
            sel.chosen_k,
            sel.why
        );
        for r in &sel.results {
            println!(
                "  k = {}: silhouette {:.3}, Calinski-Harabasz {:.2}, Davies-Bouldin {:.3}",
                r.k, r.silhouette, r.calinski_harabasz, r.davies_bouldin
            );
        }
        let chosen = sel
            .results
            .iter()
            .find(|r| r.k == sel.chosen_k)
            .expect("chosen k");
        for (id, label) in ids.iter().zip(&chosen.labels) {
            println!("  {id:<12} cluster {label}");
        }
    }
    Ok(())
}
