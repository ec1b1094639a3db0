//! One material's phonon DOS computed from its force sets, as files: phonopy's
//! `total_dos.dat` and `projected_dos.dat`, `dos.json` (report, descriptors,
//! warnings), `dos.svg`, and optionally a comparison with phonopy's own DOS.

use std::path::Path;

use crate::error::Result;
use crate::io::write_atomic;
use crate::materials::{compute_dos, row_json};
use crate::phonon::descriptors::{FeatureOptions, FeatureRow, features};
use crate::phonon::entry_dos::{DosOptions, EntryDos, sigma_used};
use crate::{invalid, plot};

/// A computed DOS and its descriptors.
pub struct DosRun {
    pub entry: EntryDos,
    pub descriptors: FeatureRow,
}

/// Compute the DOS of a PhononDB entry or phonopy parameters file and describe it.
pub fn dos(path: &Path, dos: &DosOptions, features_opts: &FeatureOptions) -> Result<DosRun> {
    let entry = compute_dos(path, dos)?;
    let descriptors = features(&entry.dos, features_opts)?;
    Ok(DosRun { entry, descriptors })
}

/// `total_dos.dat`, `projected_dos.dat`, `dos.json` and `dos.svg` into `dir`.
pub fn write_outputs(r: &DosRun, dos: &DosOptions, dir: &Path) -> Result<Vec<String>> {
    let m = &r.entry.mesh;
    crate::io::phonopy::write_dos_files(dir, m, dos.mesh.method, sigma_used(m, &dos.mesh))?;
    let doc = serde_json::json!({
        "report": r.entry.report,
        "descriptors": row_json(&r.descriptors),
        "warnings": r.entry.dos.warnings,
    });
    let json = serde_json::to_string_pretty(&doc).map_err(|e| invalid!("dos.json: {e}"))?;
    write_atomic(&dir.join("dos.json"), json.as_bytes())?;
    plot::dos_svg(&r.entry.dos, &dir.join("dos.svg"))?;
    Ok(vec![
        "total_dos.dat".into(),
        "projected_dos.dat".into(),
        "dos.json".into(),
        "dos.svg".into(),
    ])
}

/// How far a computed DOS is from phonopy's.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct Comparison {
    /// The largest |Δg| on our frequency grid (states/THz), the reference linearly
    /// interpolated onto it.
    pub max_abs_diff: f64,
    /// The reference's peak (states/THz).
    pub reference_peak: f64,
}

impl Comparison {
    pub fn percent_of_peak(&self) -> f64 {
        100.0 * self.max_abs_diff / self.reference_peak.max(1e-30)
    }
}

/// Compare with phonopy's `total_dos.dat` in `reference_dir`; `compare.svg` into `dir`.
pub fn compare(r: &DosRun, reference_dir: &Path, dir: &Path) -> Result<Comparison> {
    let reference = crate::io::phonopy::read(reference_dir)?;
    let peak = reference.total.iter().fold(0.0f64, |m, v| m.max(*v));
    let interp = |w: f64| {
        let f = &reference.freqs_thz;
        match f.iter().position(|&x| x >= w) {
            Some(0) | None => 0.0,
            Some(i) => {
                let t = (w - f[i - 1]) / (f[i] - f[i - 1]);
                reference.total[i - 1] * (1.0 - t) + reference.total[i] * t
            }
        }
    };
    let dos = &r.entry.dos;
    let worst = dos
        .freqs_thz
        .iter()
        .zip(&dos.total)
        .map(|(&w, &g)| (g - interp(w)).abs())
        .fold(0.0, f64::max);
    let rep = &r.entry.report;
    plot::dos_compare_svg(
        &format!("{} {}: superion vs phonopy", rep.id, rep.formula),
        ("superion", &dos.freqs_thz, &dos.total),
        (
            "phonopy total_dos.dat",
            &reference.freqs_thz,
            &reference.total,
        ),
        &dir.join("compare.svg"),
    )?;
    Ok(Comparison {
        max_abs_diff: worst,
        reference_peak: peak,
    })
}
