//! Phonon densities of states and the descriptors computed from them.
//!
//! [`Dos`] is the one type every reader (`crate::io::mp_json`, `crate::io::phonopy`)
//! produces and every descriptor consumes: a frequency grid in THz, the total DOS in
//! states/THz for the whole cell (integrating to 3 × sites), and projections, each
//! tied to the sites (and so the elements) it covers.

pub mod composition;
pub mod descriptors;
pub mod entry_dos;
pub mod harmonic;
pub mod mesh;
pub mod nac;
pub mod similarity;
pub mod structure;

use std::path::PathBuf;

use crate::error::{Error, Result};
use composition::{Composition, composition_of, reduced_formula};

/// A projected DOS: the sites it sums over and, when they share one, their element.
#[derive(Debug, Clone)]
pub struct Projection {
    /// Site indices (0-based, into `Dos::species`).
    pub sites: Vec<usize>,
    /// The element of all those sites, or None for a mixed group.
    pub element: Option<String>,
    pub density: Vec<f64>,
}

/// A phonon density of states on its own frequency grid.
#[derive(Debug, Clone)]
pub struct Dos {
    /// The material's id: the Materials Project id, or the folder name for phonopy.
    pub id: String,
    /// The file or folder it was read from (for messages).
    pub source: PathBuf,
    pub freqs_thz: Vec<f64>,
    /// Total DOS (states/THz per cell).
    pub total: Vec<f64>,
    /// Projections (per site, or per phonopy PDOS group), possibly empty.
    pub projections: Vec<Projection>,
    /// Species of every site of the cell (may be empty for a bare total DOS).
    pub species: Vec<String>,
    /// Problems worth telling the user that do not stop the analysis.
    pub warnings: Vec<String>,
}

impl Dos {
    /// The cell's composition (empty when the species are unknown).
    pub fn composition(&self) -> Composition {
        composition_of(&self.species)
    }

    /// Reduced formula ("Li2O"), or "" when the species are unknown.
    pub fn formula(&self) -> String {
        reduced_formula(&self.composition())
    }

    /// Distinct elements in order of first appearance.
    pub fn elements(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for s in &self.species {
            if !out.contains(s) {
                out.push(s.clone());
            }
        }
        out
    }

    /// The DOS projected on `element` (sum over its sites), chosen by the structure's
    /// species, never by the order of a formula string.
    pub fn element_dos(&self, element: &str) -> Result<Vec<f64>> {
        if self.projections.is_empty() {
            return Err(self.field_error(
                "pdos",
                &format!("no projected DOS, so no {element} projection"),
            ));
        }
        let mut out = vec![0.0; self.freqs_thz.len()];
        let mut found = false;
        for p in self
            .projections
            .iter()
            .filter(|p| p.element.as_deref() == Some(element))
        {
            found = true;
            for (o, v) in out.iter_mut().zip(&p.density) {
                *o += v;
            }
        }
        if !found {
            return Err(self.field_error(
                "species",
                &format!(
                    "no {element} sites (elements here: {})",
                    self.elements().join(", ")
                ),
            ));
        }
        Ok(out)
    }

    fn field_error(&self, field: &str, message: &str) -> Error {
        Error::Parse {
            path: self.source.clone(),
            line: 0,
            message: format!("{field}: {message}"),
        }
    }

    /// Check the invariants every reader must deliver: a strictly increasing finite
    /// grid, arrays of one length, finite non-negative densities. A projection sum
    /// that differs from the total by more than 1 % of its integral becomes a warning.
    pub fn validate(&mut self) -> Result<()> {
        let n = self.freqs_thz.len();
        if n < 2 {
            return Err(self.field_error(
                "frequencies",
                &format!("need at least 2 grid points, found {n}"),
            ));
        }
        if let Some(i) = self.freqs_thz.iter().position(|f| !f.is_finite()) {
            return Err(
                self.field_error("frequencies", &format!("point {i} is not a finite number"))
            );
        }
        if let Some(i) = self.freqs_thz.windows(2).position(|w| w[1] <= w[0]) {
            return Err(self.field_error(
                "frequencies",
                &format!(
                    "grid is not increasing at point {} ({} then {} THz)",
                    i + 1,
                    self.freqs_thz[i],
                    self.freqs_thz[i + 1]
                ),
            ));
        }
        let check = |name: &str, d: &[f64]| -> Result<()> {
            if d.len() != n {
                return Err(
                    self.field_error(name, &format!("{} values for {n} frequencies", d.len()))
                );
            }
            let peak = d.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            if let Some(i) = d.iter().position(|v| !v.is_finite()) {
                return Err(self.field_error(name, &format!("value {i} is not a finite number")));
            }
            // Interpolation noise can dip a hair below zero; a real negative density cannot.
            if let Some(i) = d.iter().position(|&v| v < -1e-6 * peak.max(1e-30)) {
                return Err(self.field_error(
                    name,
                    &format!("negative density {} at {} THz", d[i], self.freqs_thz[i]),
                ));
            }
            Ok(())
        };
        check("densities", &self.total)?;
        for (j, p) in self.projections.iter().enumerate() {
            check(&format!("pdos[{j}]"), &p.density)?;
            if let Some(&s) = p.sites.iter().find(|&&s| s >= self.species.len()) {
                return Err(self.field_error(
                    &format!("pdos[{j}]"),
                    &format!("site {s} is not in the structure"),
                ));
            }
        }
        if !self.projections.is_empty() {
            let total: f64 = descriptors::trapezoid(&self.freqs_thz, &self.total);
            let mut sum = vec![0.0; n];
            for p in &self.projections {
                for (s, v) in sum.iter_mut().zip(&p.density) {
                    *s += v;
                }
            }
            let diff: Vec<f64> = sum
                .iter()
                .zip(&self.total)
                .map(|(a, b)| (a - b).abs())
                .collect();
            let off = descriptors::trapezoid(&self.freqs_thz, &diff);
            if off > 0.01 * total.abs() {
                self.warnings.push(format!(
                    "projections sum to a DOS that differs from the total by {:.1} % of its integral",
                    100.0 * off / total.abs().max(1e-30)
                ));
            }
        }
        Ok(())
    }
}
