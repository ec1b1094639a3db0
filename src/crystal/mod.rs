//! Crystal structures for screening: one type, [`Crystal`], that every structure input
//! becomes (a CIF with its symmetry expanded and partial occupancies kept, a POSCAR, a
//! pymatgen/Materials Project structure JSON, the unit cell of a PhononDB entry), and
//! what screening computes from it: oxidation states ([`oxidation`]), the ordered
//! framework ([`Crystal::ordered`]), structure descriptors ([`descriptors`]) and the
//! Li+ bond-valence site-energy landscape with its percolation barriers ([`bvse`],
//! [`percolation`]).

pub mod bvse;
pub mod descriptors;
pub mod features;
pub mod oxidation;
pub mod percolation;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::geom::Mat3;

/// One crystallographic position of the full cell and what occupies it: one element
/// with occupancy 1 for an ordered site, several (or less than 1 in all) for a
/// disordered one.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Site {
    pub frac: [f64; 3],
    /// (element, occupancy), highest occupancy first.
    pub species: Vec<(String, f64)>,
}

impl Site {
    /// The species with the highest occupancy (ties: the first listed).
    pub fn majority(&self) -> &str {
        &self.species[0].0
    }

    pub(crate) fn is_ordered(&self) -> bool {
        self.species.len() == 1 && (self.species[0].1 - 1.0).abs() < 1e-6
    }

    pub fn occupancy(&self, element: &str) -> f64 {
        self.species
            .iter()
            .filter(|(e, _)| e == element)
            .map(|(_, o)| o)
            .sum()
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Crystal {
    /// The file's stem (an OBELiX or Materials Project id, a PhononDB entry's mp-id).
    pub id: String,
    pub source: PathBuf,
    /// Lattice vectors as rows (Å).
    pub lattice: Mat3,
    pub sites: Vec<Site>,
    /// Oxidation states the file gives by element (a decorated pymatgen structure);
    /// empty when they are to be assigned ([`oxidation::assign`]).
    pub given_oxidation: BTreeMap<String, i32>,
}

/// How the ordered framework was made from a disordered structure.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Ordering {
    /// Sites holding more than one species.
    pub mixed_sites: usize,
    /// Sites whose occupancies add up to less than 1 (vacancies).
    pub partial_sites: usize,
    /// Of those (mixed or partial), the ones with a Li species.
    pub disordered_li_sites: usize,
}

/// Positions closer than this (Å) are one site (CIF rows of a mixed site, symmetry images).
const SAME_SITE_A: f64 = 0.01;

impl Crystal {
    pub fn volume_a3(&self) -> f64 {
        crate::geom::det(&self.lattice).abs()
    }

    /// The oxidation states: the file's where it gives them, else by charge balance
    /// ([`oxidation::assign`]).
    pub fn oxidation_states(&self) -> Result<oxidation::Assignment> {
        if self.given_oxidation.is_empty() {
            oxidation::assign(&self.composition())
        } else {
            Ok(oxidation::Assignment {
                states: self.given_oxidation.clone(),
                net_charge: 0.0,
                balanced: true,
                source: "file".into(),
            })
        }
    }

    /// Occupancy-weighted amounts of each element in the cell.
    pub fn composition(&self) -> BTreeMap<String, f64> {
        let mut c = BTreeMap::new();
        for s in &self.sites {
            for (e, o) in &s.species {
                *c.entry(e.clone()).or_insert(0.0) += o;
            }
        }
        c
    }

    /// The reduced formula of the occupancy-weighted composition (amounts to two
    /// decimals when fractional: `Li6.4La3Zr1.4Ta0.6O12`).
    pub fn formula(&self) -> String {
        let c = self.composition();
        let min = c.values().copied().fold(f64::INFINITY, f64::min);
        let integral = c.values().all(|v| (v - v.round()).abs() < 1e-3);
        let g = if integral {
            c.values()
                .fold(0u64, |g, &v| gcd(g, v.round() as u64))
                .max(1) as f64
        } else {
            1.0
        };
        let _ = min;
        let mut by: Vec<(&String, &f64)> = c.iter().collect();
        // Electronegativity order, as formulas are written (Li first, anions last).
        by.sort_by(|a, b| {
            let x = |e: &str| crate::phonon::composition::electronegativity(e).unwrap_or(0.0);
            x(a.0).total_cmp(&x(b.0)).then(a.0.cmp(b.0))
        });
        by.iter()
            .map(|(e, v)| {
                let n = **v / g;
                if (n - 1.0).abs() < 1e-3 {
                    e.to_string()
                } else if (n - n.round()).abs() < 1e-3 {
                    format!("{e}{}", n.round() as i64)
                } else {
                    format!("{e}{}", crate::io::fmt_f64((n * 100.0).round() / 100.0))
                }
            })
            .collect()
    }

    /// The ordered structure screening computes on: every site takes its majority
    /// species (highest occupancy; vacancies do not compete), so a site shared by Li
    /// 0.69 and Al 0.08 is Li, and a Li site of occupancy 0.35 is still Li. Li sites
    /// only matter through the framework they leave behind (the BVSE landscape removes
    /// every Li), so the rule is about the framework's mixed sites; the counts say how
    /// many sites it touched.
    pub fn ordered(&self) -> (Vec<(String, [f64; 3])>, Ordering) {
        let mut o = Ordering::default();
        let mut atoms = Vec::with_capacity(self.sites.len());
        for s in &self.sites {
            let total: f64 = s.species.iter().map(|(_, x)| x).sum();
            if s.species.len() > 1 {
                o.mixed_sites += 1;
            }
            if total < 1.0 - 1e-3 {
                o.partial_sites += 1;
            }
            if !s.is_ordered() && s.species.iter().any(|(e, _)| e == "Li") {
                o.disordered_li_sites += 1;
            }
            atoms.push((s.majority().to_string(), s.frac));
        }
        (atoms, o)
    }

    /// Build from (element, occupancy) rows at fractional positions: rows closer than
    /// 0.01 Å (periodically) form one site; positions are wrapped into [0, 1).
    pub(crate) fn from_rows(
        id: String,
        source: PathBuf,
        lattice: Mat3,
        rows: impl IntoIterator<Item = ([f64; 3], String, f64)>,
    ) -> Result<Crystal> {
        if !(crate::geom::det(&lattice).abs() > 1e-6) {
            return Err(Error::InvalidInput(format!(
                "{}: the cell has no volume",
                source.display()
            )));
        }
        let mut sites: Vec<Site> = Vec::new();
        check_size(&source, &lattice, 1)?;
        for (frac, el, occ) in rows {
            if sites.len() >= MAX_SITES {
                return Err(Error::InvalidInput(format!(
                    "{}: more than {MAX_SITES} sites (the limit for one structure)",
                    source.display()
                )));
            }
            if frac.iter().any(|x| !x.is_finite()) || !(occ.is_finite() && occ > 0.0) {
                return Err(Error::InvalidInput(format!(
                    "{}: a site of {el} has a non-finite position or a non-positive occupancy",
                    source.display()
                )));
            }
            let f = frac.map(|x| {
                let w = x - x.floor();
                if w >= 1.0 - 1e-12 { 0.0 } else { w }
            });
            let same = sites.iter_mut().find(|s| {
                let d: [f64; 3] = std::array::from_fn(|a| {
                    let x = s.frac[a] - f[a];
                    x - x.round()
                });
                let c = crate::geom::cart_of(d, &lattice);
                (c[0] * c[0] + c[1] * c[1] + c[2] * c[2]).sqrt() < SAME_SITE_A
            });
            match same {
                Some(s) => match s.species.iter_mut().find(|(e, _)| *e == el) {
                    Some(sp) => sp.1 += occ,
                    None => s.species.push((el, occ)),
                },
                None => sites.push(Site {
                    frac: f,
                    species: vec![(el, occ)],
                }),
            }
        }
        for s in &mut sites {
            // Highest occupancy first; a stable sort keeps the file's order on ties.
            s.species.sort_by(|a, b| b.1.total_cmp(&a.1));
            let total: f64 = s.species.iter().map(|(_, o)| o).sum();
            if total > 1.01 {
                return Err(Error::InvalidInput(format!(
                    "{}: the occupancies at ({:.4}, {:.4}, {:.4}) add up to {total:.3}: atoms closer than {SAME_SITE_A} Å are one site, which holds at most one atom",
                    source.display(),
                    s.frac[0],
                    s.frac[1],
                    s.frac[2]
                )));
            }
        }
        if sites.is_empty() {
            return Err(Error::InvalidInput(format!(
                "{}: no atom sites",
                source.display()
            )));
        }
        check_size(&source, &lattice, sites.len())?;
        Ok(Crystal {
            id,
            source,
            lattice,
            sites,
            given_oxidation: BTreeMap::new(),
        })
    }
}

/// Sites one structure may hold.
pub(crate) const MAX_SITES: usize = 2000;
/// The narrowest cell width accepted (Å): below it, periodic images crowd every sum.
pub(crate) const MIN_CELL_WIDTH_A: f64 = 1.0;
/// The widest (Å): the grid and the reciprocal-space pattern grow with the cell.
pub(crate) const MAX_CELL_WIDTH_A: f64 = 500.0;

/// A cell a screening can compute on: widths within [1, 500] Å, at least 1 Å³ per site,
/// at most [`MAX_SITES`] sites; anything else is refused with the reason, before any
/// sum or grid is sized by it.
fn check_size(source: &Path, lattice: &Mat3, sites: usize) -> Result<()> {
    let w = crate::geom::cell_widths(lattice);
    if w.iter()
        .any(|x| !(x.is_finite() && (MIN_CELL_WIDTH_A..=MAX_CELL_WIDTH_A).contains(x)))
    {
        return Err(Error::InvalidInput(format!(
            "{}: cell widths {:.3} x {:.3} x {:.3} Å: expected each between {MIN_CELL_WIDTH_A} and {MAX_CELL_WIDTH_A} Å",
            source.display(),
            w[0],
            w[1],
            w[2]
        )));
    }
    let v = crate::geom::det(lattice).abs();
    if sites > MAX_SITES || v / (sites as f64) < 1.0 {
        return Err(Error::InvalidInput(format!(
            "{}: {sites} sites in {v:.1} Å³: expected at most {MAX_SITES} sites and at least 1 Å³ per site (overlapping or duplicated atoms?)",
            source.display()
        )));
    }
    Ok(())
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// The id of a structure file: its name without the extension(s) (`abc.cif` → `abc`,
/// `mp-1.json.gz` → `mp-1`).
fn id_of(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut stem = name.as_str();
    for ext in [".gz", ".xz", ".zst", ".cif", ".json", ".vasp", ".poscar"] {
        if stem.to_ascii_lowercase().ends_with(ext) {
            stem = &stem[..stem.len() - ext.len()];
        }
    }
    stem.to_string()
}

/// Is this a structure file superion reads (by name): `.cif`, `.json` (pymatgen), a
/// POSCAR/CONTCAR or `.vasp`, or a PhononDB entry (archive or folder)?
pub(crate) fn is_structure_file(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let name = name
        .trim_end_matches(".gz")
        .trim_end_matches(".xz")
        .trim_end_matches(".zst");
    name.ends_with(".cif")
        || name.ends_with(".json")
        || name.ends_with(".vasp")
        || name.starts_with("poscar")
        || name.starts_with("contcar")
        || crate::materials::is_phonondb_archive(path)
        || crate::materials::is_phonondb_dir(path)
}

/// Read one structure: a CIF (first data block, symmetry expanded, occupancies kept),
/// a pymatgen Structure JSON (with its oxidation states when decorated), a POSCAR, or
/// a PhononDB entry's unit cell.
pub fn read(path: &Path) -> Result<Crystal> {
    let id = id_of(path);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    if crate::materials::is_phonondb_archive(path) || crate::materials::is_phonondb_dir(path) {
        let e = crate::io::phonondb::read_entry(path)?;
        let s = e.unitcell;
        return Crystal::from_rows(
            e.id,
            path.to_path_buf(),
            s.lattice,
            s.frac.into_iter().zip(s.species).map(|(f, e)| (f, e, 1.0)),
        );
    }
    if name.contains(".json") {
        let j = crate::io::structure_json::read(path)?;
        let mut oxi: BTreeMap<String, i32> = BTreeMap::new();
        let mut rows = Vec::new();
        for s in &j.sites {
            for (e, o, q) in &s.species {
                if let Some(q) = q {
                    let qi = q.round() as i32;
                    if (q - q.round()).abs() > 1e-6 || oxi.get(e).is_some_and(|&p| p != qi) {
                        return Err(Error::InvalidInput(format!(
                            "{}: {e} has the oxidation state {q} (superion takes one integer state per element)",
                            path.display()
                        )));
                    }
                    oxi.insert(e.clone(), qi);
                }
                rows.push((s.frac, e.clone(), *o));
            }
        }
        let mut c = Crystal::from_rows(id, path.to_path_buf(), j.lattice, rows)?;
        if !oxi.is_empty() {
            c.given_oxidation = oxi;
        }
        return Ok(c);
    }
    if name.contains(".cif") {
        let cif = crate::io::cif::read(path)?;
        return Crystal::from_rows(
            id,
            path.to_path_buf(),
            cif.lattice,
            cif.sites
                .into_iter()
                .map(|s| (s.frac, s.element, s.occupancy)),
        );
    }
    let text = crate::io::read_text(path)?;
    let s = crate::io::phonondb::parse_poscar(&text, &path.display().to_string(), path)?;
    Crystal::from_rows(
        id,
        path.to_path_buf(),
        s.lattice,
        s.frac.into_iter().zip(s.species).map(|(f, e)| (f, e, 1.0)),
    )
}

/// Every structure under `paths` (files, or folders searched one level deep), sorted
/// by path; a folder with none is an error naming it.
pub fn discover(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() && !crate::materials::is_phonondb_dir(p) {
            let mut found: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|e| Error::Io {
                    path: p.clone(),
                    source: e,
                })?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|q| is_structure_file(q))
                .collect();
            if found.is_empty() {
                return Err(Error::InvalidInput(format!(
                    "{}: no structure files (.cif, .json, POSCAR, .vasp, PhononDB entries)",
                    p.display()
                )));
            }
            found.sort();
            out.extend(found);
        } else if p.exists() {
            out.push(p.clone());
        } else {
            return Err(Error::Io {
                path: p.clone(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or folder"),
            });
        }
    }
    Ok(out)
}
