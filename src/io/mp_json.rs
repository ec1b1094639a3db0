//! Materials Project phonon documents: a pymatgen `CompletePhononDos` (frequencies in
//! THz, `densities` for the cell, one `pdos` array per site, and the `structure` whose
//! sites carry the species) or a bare `PhononDos` (total only), either at the top
//! level or wrapped as `{"phonon_dos": ...}`, plain or gzipped.

use std::path::Path;

use serde::Deserialize;

use super::{parse_err, read_bytes};
use crate::error::Result;
use crate::phonon::{Dos, Projection};

#[derive(Deserialize)]
struct RawDos {
    frequencies: Vec<f64>,
    densities: Vec<f64>,
    #[serde(default)]
    pdos: Option<Vec<Vec<f64>>>,
    #[serde(default)]
    structure: Option<RawStructure>,
}

#[derive(Deserialize)]
struct RawStructure {
    sites: Vec<RawSite>,
}

#[derive(Deserialize)]
struct RawSite {
    species: Vec<RawSpecie>,
}

#[derive(Deserialize)]
struct RawSpecie {
    element: String,
    #[serde(default = "one")]
    occu: f64,
}

fn one() -> f64 {
    1.0
}

/// A document wrapped as `{"phonon_dos": ..., "material_id": ...}`.
#[derive(Deserialize)]
struct Wrapped {
    phonon_dos: RawDos,
    #[serde(default, alias = "task_id", alias = "mp_id")]
    material_id: Option<String>,
}

/// The material id: the document's own `material_id`/`task_id`, else the leading
/// `mp-NNN` of the file name, else the file name without its extensions.
fn material_id(own: Option<String>, path: &Path) -> String {
    if let Some(id) = own {
        return id;
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = name.split('.').next().unwrap_or(&name).to_string();
    let mut parts = stem.splitn(3, '-');
    match (parts.next(), parts.next()) {
        (Some(prefix), Some(num))
            if prefix.chars().all(|c| c.is_ascii_alphabetic())
                && num.chars().all(|c| c.is_ascii_digit())
                && !num.is_empty() =>
        {
            format!("{prefix}-{num}")
        }
        _ => stem,
    }
}

/// Read one Materials Project phonon DOS document.
pub fn read(path: &Path) -> Result<Dos> {
    let bytes = read_bytes(path)?;
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(parse_err(path, 1, "the file is empty".into()));
    }
    // Typed parsing straight from the bytes: the wrapped form first, then the bare one.
    let (raw, own_id) = match serde_json::from_slice::<Wrapped>(&bytes) {
        Ok(w) => (w.phonon_dos, w.material_id),
        Err(wrapped_err) => {
            let value: serde_json::Value = serde_json::from_slice(&bytes)
                .map_err(|e| parse_err(path, e.line(), format!("not valid JSON: {e}")))?;
            if value.get("phonon_dos").is_some() {
                return Err(parse_err(
                    path,
                    wrapped_err.line(),
                    format!(
                        "phonon_dos: expected a pymatgen PhononDos or CompletePhononDos ({wrapped_err})"
                    ),
                ));
            }
            let raw = RawDos::deserialize(&value).map_err(|e| {
                parse_err(
                    path,
                    0,
                    format!("document: expected a pymatgen PhononDos or CompletePhononDos ({e})"),
                )
            })?;
            (raw, None)
        }
    };
    let mut species = Vec::new();
    if let Some(st) = &raw.structure {
        for (i, site) in st.sites.iter().enumerate() {
            match site.species.as_slice() {
                [one] if (one.occu - 1.0).abs() < 1e-6 => species.push(one.element.clone()),
                [] => {
                    return Err(parse_err(
                        path,
                        0,
                        format!("structure.sites[{i}]: no species"),
                    ));
                }
                _ => {
                    return Err(parse_err(
                        path,
                        0,
                        format!(
                            "structure.sites[{i}]: a partially occupied site cannot be projected on one element"
                        ),
                    ));
                }
            }
        }
    }
    let mut projections = Vec::new();
    if let Some(pdos) = raw.pdos {
        if raw.structure.is_none() {
            return Err(parse_err(
                path,
                0,
                "pdos: per-site DOS without a structure to name the sites".into(),
            ));
        }
        if pdos.len() != species.len() {
            return Err(parse_err(
                path,
                0,
                format!("pdos: {} arrays for {} sites", pdos.len(), species.len()),
            ));
        }
        for (i, density) in pdos.into_iter().enumerate() {
            projections.push(Projection {
                sites: vec![i],
                element: Some(species[i].clone()),
                density,
            });
        }
    }
    let mut dos = Dos {
        id: material_id(own_id, path),
        source: path.to_path_buf(),
        freqs_thz: raw.frequencies,
        total: raw.densities,
        projections,
        species,
        warnings: Vec::new(),
    };
    dos.validate()?;
    Ok(dos)
}
