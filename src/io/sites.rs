//! Known Li sites for the site-based jump analysis: the atom sites of a CIF, a
//! POSCAR/CONTCAR or an extended XYZ file, as [`KnownSites`].

use std::path::Path;

use crate::error::Result;
use crate::traj::hops::types::{KnownSite, KnownSites};

/// Read the atom sites of a CIF (symmetry expanded, partial occupancies kept),
/// POSCAR/CONTCAR or extended XYZ file, by its name.
pub fn read(path: &Path) -> Result<KnownSites> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let mut notes = Vec::new();
    let (lattice, raw): ([[f64; 3]; 3], Vec<(String, String, [f64; 3], f64)>) =
        if name.ends_with(".cif") || name.ends_with(".cif.gz") {
            let c = super::cif::read(path)?;
            notes.push(format!(
                "{}: {} sites after {} symmetry operations",
                path.display(),
                c.sites.len(),
                c.n_operations
            ));
            (
                c.lattice,
                c.sites
                    .into_iter()
                    .map(|s| (s.label, s.element, s.frac, s.occupancy))
                    .collect(),
            )
        } else if name.ends_with(".xyz") || name.ends_with(".extxyz") || name.ends_with(".exyz") {
            let t = super::xyz::read(path, false)?;
            let cell = t.cell_rows(0);
            (
                cell,
                (0..t.n_atoms())
                    .map(|a| {
                        let f: [f64; 3] = std::array::from_fn(|x| t.frac[[0, a, x]] as f64);
                        (t.species[a].clone(), t.species[a].clone(), f, 1.0)
                    })
                    .collect(),
            )
        } else {
            let text = super::read_text(path)?;
            let s = super::phonondb::parse_poscar(&text, &name, path)?;
            (
                s.lattice,
                s.species
                    .iter()
                    .zip(&s.frac)
                    .map(|(sp, f)| (sp.clone(), sp.clone(), *f, 1.0))
                    .collect(),
            )
        };
    Ok(KnownSites {
        source: path.display().to_string(),
        lattice,
        sites: raw
            .into_iter()
            .map(|(label, element, frac, occupancy)| KnownSite {
                label,
                element,
                frac,
                occupancy,
            })
            .collect(),
        notes,
    })
}
