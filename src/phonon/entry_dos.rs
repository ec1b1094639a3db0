//! A PhononDB entry's phonon DOS, end to end: force sets → force constants →
//! dynamical matrices on a mesh (with the non-analytical correction when BORN is
//! there) → total and projected DOS, as a [`Dos`] and in phonopy's file formats.

use std::path::Path;
use std::time::Instant;

use super::harmonic::Harmonic;
use super::mesh::{DosMethod, MeshDos, MeshOptions, Resolve, mesh_dos};
use super::nac::{Nac, NacMethod};
use super::structure::{Born, PhononDbEntry, PhonopyParams};
use super::{Dos, Projection};
use crate::error::{Error, Result};

/// Whether to apply the non-analytical correction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NacChoice {
    /// When the entry has BORN (the default).
    #[default]
    Auto,
    On,
    Off,
}

#[derive(Debug, Clone, Default)]
pub struct DosOptions {
    pub mesh: MeshOptions,
    pub nac: NacChoice,
    pub nac_method: NacMethod,
}

/// What was computed, for the user and for the record.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DosReport {
    pub id: String,
    pub formula: String,
    pub unit_cell_atoms: usize,
    pub supercell_atoms: usize,
    pub primitive_atoms: usize,
    pub space_group_operations: usize,
    pub displacements: usize,
    /// Largest |Σⱼ Φ(i, j)| before the acoustic sum rule was imposed (eV/Å²).
    pub asr_drift: f64,
    pub nac: bool,
    pub nac_method: Option<NacMethod>,
    pub mesh: [usize; 3],
    pub gamma_center: bool,
    pub method: DosMethod,
    pub qpoints: usize,
    pub irreducible_qpoints: usize,
    pub min_frequency_thz: f64,
    pub max_frequency_thz: f64,
    pub imaginary_mode_fraction: f64,
    /// ∫ g(ω) dω (trapezoid on the output grid); 3 × primitive atoms when complete.
    pub dos_integral: f64,
    pub seconds: f64,
}

pub struct EntryDos {
    pub dos: Dos,
    pub mesh: MeshDos,
    pub report: DosReport,
}

/// Compute the DOS of a PhononDB entry.
pub fn entry_dos(e: &PhononDbEntry, opts: &DosOptions) -> Result<EntryDos> {
    let start = Instant::now();
    let h = Harmonic::from_entry(e)?;
    harmonic_dos(
        &h,
        &e.id,
        &e.source,
        e.force_sets.len(),
        e.born.as_ref(),
        opts,
        start,
    )
}

/// Compute the DOS from phonopy's parameters file (force constants or force sets).
pub(crate) fn params_dos(p: &PhonopyParams, opts: &DosOptions) -> Result<EntryDos> {
    let start = Instant::now();
    let h = Harmonic::from_params(p)?;
    harmonic_dos(
        &h,
        &p.id,
        &p.source,
        p.force_sets.len(),
        p.born.as_ref(),
        opts,
        start,
    )
}

#[allow(clippy::too_many_arguments)]
fn harmonic_dos(
    h: &Harmonic,
    id: &str,
    source: &Path,
    displacements: usize,
    born: Option<&Born>,
    opts: &DosOptions,
    start: Instant,
) -> Result<EntryDos> {
    let nac = match (opts.nac, born) {
        (NacChoice::Off, _) | (NacChoice::Auto, None) => None,
        (_, Some(b)) => Some(Nac::new(h, b, opts.nac_method).map_err(|err| match err {
            Error::InvalidInput(m) => Error::InvalidInput(format!("{}: {m}", source.display())),
            other => other,
        })?),
        (NacChoice::On, None) => {
            return Err(Error::InvalidInput(format!(
                "{}: option nac asked for, but there is no BORN (or nac section)",
                source.display()
            )));
        }
    };
    let m = mesh_dos(h, nac.as_ref(), &opts.mesh)?;
    let prim = &h.primitive.cell;
    let projections = match opts.mesh.resolve {
        Resolve::Atoms => m
            .projected
            .iter()
            .enumerate()
            .map(|(p, d)| Projection {
                sites: vec![p],
                element: Some(prim.species[p].clone()),
                density: d.clone(),
            })
            .collect(),
        Resolve::Elements => m
            .labels
            .iter()
            .zip(&m.projected)
            .map(|(el, d)| Projection {
                sites: (0..prim.len())
                    .filter(|&p| &prim.species[p] == el)
                    .collect(),
                element: Some(el.clone()),
                density: d.clone(),
            })
            .collect(),
    };
    let mut dos = Dos {
        id: id.to_string(),
        source: source.to_path_buf(),
        freqs_thz: m.freqs_thz.clone(),
        total: m.total.clone(),
        projections,
        species: prim.species.clone(),
        warnings: Vec::new(),
    };
    if m.imaginary_fraction > 0.0 {
        dos.warnings.push(format!(
            "imaginary modes: {:.2} % of the modes on the mesh (down to {:.3} THz)",
            100.0 * m.imaginary_fraction,
            m.min_frequency
        ));
    }
    dos.validate()?;
    let report = DosReport {
        id: id.to_string(),
        formula: dos.formula(),
        unit_cell_atoms: h.unit.len(),
        supercell_atoms: h.supercell.cell.len(),
        primitive_atoms: prim.len(),
        space_group_operations: h.operations.len(),
        displacements,
        asr_drift: h.drift,
        nac: nac.is_some(),
        nac_method: nac.as_ref().map(|n| n.method),
        mesh: opts.mesh.mesh,
        gamma_center: opts.mesh.gamma_center,
        method: opts.mesh.method,
        qpoints: m.n_qpoints,
        irreducible_qpoints: m.n_irreducible,
        min_frequency_thz: m.min_frequency,
        max_frequency_thz: m.max_frequency,
        imaginary_mode_fraction: m.imaginary_fraction,
        dos_integral: super::descriptors::trapezoid(&m.freqs_thz, &m.total),
        seconds: start.elapsed().as_secs_f64(),
    };
    if !(report.dos_integral > 0.0) {
        return Err(Error::InvalidInput(format!(
            "{id}: the DOS on a {}×{}×{} mesh is zero everywhere ({} q-points): the {:?} method has nothing to integrate; use a finer mesh (option mesh, at least 2 per axis{})",
            opts.mesh.mesh[0],
            opts.mesh.mesh[1],
            opts.mesh.mesh[2],
            m.n_qpoints,
            opts.mesh.method,
            if opts.mesh.method == DosMethod::Tetrahedron {
                ", or the Gaussian method"
            } else {
                ""
            }
        )));
    }
    Ok(EntryDos {
        dos,
        mesh: m,
        report,
    })
}

/// The Gaussian width the mesh DOS used (explicit, or phonopy's default).
pub(crate) fn sigma_used(m: &MeshDos, opts: &MeshOptions) -> f64 {
    opts.sigma
        .unwrap_or((m.max_frequency - m.min_frequency) / 100.0)
}
