//! A pymatgen `Structure` as JSON (`Structure.as_dict()`, what pymatgen, the Materials
//! Project API and superion's peer scripts write), bare or inside a document under
//! `structure` (or `phonon_dos.structure`): the lattice matrix (rows, Å), each site's
//! fractional position (`abc`) and species with occupancies and, when decorated,
//! oxidation states.

use std::path::Path;

use serde::Deserialize;

use crate::error::Result;
use crate::io::parse_err;

#[derive(Deserialize)]
struct Lattice {
    matrix: [[f64; 3]; 3],
}

#[derive(Deserialize)]
struct Specie {
    element: String,
    #[serde(default = "one")]
    occu: f64,
    #[serde(default)]
    oxidation_state: Option<f64>,
}

fn one() -> f64 {
    1.0
}

#[derive(Deserialize)]
struct Site {
    abc: [f64; 3],
    species: Vec<Specie>,
}

#[derive(Deserialize)]
struct RawStructure {
    lattice: Lattice,
    sites: Vec<Site>,
}

/// One site as read: fractional position and (element, occupancy, oxidation state).
pub struct JsonSite {
    pub frac: [f64; 3],
    pub species: Vec<(String, f64, Option<f64>)>,
}

pub struct JsonStructure {
    pub lattice: [[f64; 3]; 3],
    pub sites: Vec<JsonSite>,
}

pub fn read(path: &Path) -> Result<JsonStructure> {
    let bytes = crate::io::read_bytes(path)?;
    let v: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| parse_err(path, e.line(), format!("not JSON: {e}")))?;
    let node = if v.get("lattice").is_some() {
        &v
    } else if let Some(s) = v.get("structure") {
        s
    } else if let Some(s) = v.get("phonon_dos").and_then(|d| d.get("structure")) {
        s
    } else {
        return Err(parse_err(
            path,
            0,
            "no structure: expected a pymatgen Structure (lattice and sites), or a document with one under \"structure\"".into(),
        ));
    };
    let raw: RawStructure = serde_json::from_value(node.clone())
        .map_err(|e| parse_err(path, 0, format!("not a pymatgen Structure: {e}")))?;
    if raw.lattice.matrix.iter().flatten().any(|x| !x.is_finite()) {
        return Err(parse_err(path, 0, "lattice.matrix: not finite".into()));
    }
    let mut sites = Vec::with_capacity(raw.sites.len());
    for (i, s) in raw.sites.into_iter().enumerate() {
        if s.abc.iter().any(|x| !x.is_finite()) || s.species.is_empty() {
            return Err(parse_err(
                path,
                0,
                format!("sites[{i}]: expected finite abc and at least one species"),
            ));
        }
        let mut species = Vec::new();
        for sp in s.species {
            let el = crate::phonon::composition::element_symbol(&sp.element).ok_or_else(|| {
                parse_err(
                    path,
                    0,
                    format!("sites[{i}]: {:?} is not an element", sp.element),
                )
            })?;
            if !(sp.occu.is_finite() && sp.occu > 0.0 && sp.occu <= 1.0 + 1e-6) {
                return Err(parse_err(
                    path,
                    0,
                    format!("sites[{i}]: occupancy {} is not in (0, 1]", sp.occu),
                ));
            }
            species.push((el, sp.occu, sp.oxidation_state.filter(|q| q.is_finite())));
        }
        sites.push(JsonSite {
            frac: s.abc,
            species,
        });
    }
    Ok(JsonStructure {
        lattice: raw.lattice.matrix,
        sites,
    })
}
