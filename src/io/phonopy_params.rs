//! phonopy's `phonopy_params.yaml` / `phonopy.yaml` (also gzipped): the unit cell
//! with masses, supercell and primitive matrices, and either force constants (full or
//! compact) or type-1 displacements with forces, plus NAC parameters when present.

use std::path::Path;

use serde::Deserialize;

use crate::error::{Error, Result};
pub use crate::phonon::structure::{Born, FcBlock, ForceSet, PhonopyParams, Structure};

#[derive(Deserialize)]
struct Point {
    symbol: String,
    coordinates: [f64; 3],
    mass: Option<f64>,
}

#[derive(Deserialize)]
struct CellYaml {
    lattice: Vec<[f64; 3]>,
    points: Vec<Point>,
}

#[derive(Deserialize)]
struct NacYaml {
    born_effective_charge: Vec<Vec<[f64; 3]>>,
    dielectric_constant: Vec<[f64; 3]>,
}

#[derive(Deserialize)]
struct DispYaml {
    atom: usize,
    displacement: [f64; 3],
    forces: Option<Vec<[f64; 3]>>,
}

#[derive(Deserialize)]
struct FcYaml {
    format: Option<String>,
    shape: [usize; 2],
    elements: Vec<Vec<[f64; 3]>>,
}

#[derive(Deserialize)]
struct ParamsYaml {
    primitive_matrix: Option<Vec<[f64; 3]>>,
    supercell_matrix: Option<Vec<[i64; 3]>>,
    unit_cell: Option<CellYaml>,
    nac: Option<NacYaml>,
    displacements: Option<Vec<DispYaml>>,
    force_constants: Option<FcYaml>,
}

fn field(path: &Path, msg: impl Into<String>) -> Error {
    Error::Parse {
        path: path.to_path_buf(),
        line: 0,
        message: msg.into(),
    }
}

/// Read `phonopy_params.yaml` (or `.yaml.gz`).
pub fn read(path: &Path) -> Result<PhonopyParams> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let text = if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut s)
            .map_err(|e| field(path, format!("not a gzip file: {e}")))?;
        s
    } else {
        String::from_utf8(bytes).map_err(|_| field(path, "not UTF-8 text"))?
    };
    let doc: ParamsYaml = serde_yaml_ng::from_str(&text).map_err(|e| Error::Parse {
        path: path.to_path_buf(),
        line: e.location().map_or(0, |l| l.line()),
        message: format!("not a phonopy parameters file: {e}"),
    })?;
    let uc = doc
        .unit_cell
        .ok_or_else(|| field(path, "unit_cell: missing"))?;
    if uc.lattice.len() != 3 {
        return Err(field(path, "unit_cell.lattice: expected three vectors"));
    }
    let n = uc.points.len();
    if n == 0 {
        return Err(field(path, "unit_cell.points: no atoms"));
    }
    let masses = uc
        .points
        .iter()
        .map(|p| {
            p.mass
                .or_else(|| crate::phonon::composition::atomic_mass(&p.symbol))
                .ok_or_else(|| field(path, format!("unit_cell: no mass for '{}'", p.symbol)))
        })
        .collect::<Result<Vec<_>>>()?;
    let unitcell = Structure {
        lattice: [uc.lattice[0], uc.lattice[1], uc.lattice[2]],
        species: uc.points.iter().map(|p| p.symbol.clone()).collect(),
        frac: uc.points.iter().map(|p| p.coordinates).collect(),
    };
    let sm = doc
        .supercell_matrix
        .ok_or_else(|| field(path, "supercell_matrix: missing"))?;
    if sm.len() != 3 {
        return Err(field(path, "supercell_matrix: expected 3 rows"));
    }
    let supercell_matrix = [sm[0], sm[1], sm[2]];
    let primitive_matrix = match doc.primitive_matrix {
        Some(p) if p.len() == 3 => Some([p[0], p[1], p[2]]),
        Some(_) => return Err(field(path, "primitive_matrix: expected 3 rows")),
        None => None,
    };
    let det = crate::geom::det(&supercell_matrix);
    if det <= 0 {
        return Err(field(
            path,
            format!("supercell_matrix has determinant {det}"),
        ));
    }
    let ns = n * det as usize;
    let mut force_sets = Vec::new();
    for (k, d) in doc
        .displacements
        .unwrap_or_default()
        .into_iter()
        .enumerate()
    {
        let Some(forces) = d.forces else { continue };
        if d.atom == 0 || d.atom > ns || forces.len() != ns {
            return Err(field(
                path,
                format!(
                    "displacements[{k}]: atom {} with {} forces, for a {ns}-atom supercell",
                    d.atom,
                    forces.len()
                ),
            ));
        }
        force_sets.push(ForceSet {
            atom: d.atom - 1,
            displacement: d.displacement,
            forces,
        });
    }
    let force_constants = match doc.force_constants {
        None => None,
        Some(fc) => {
            let compact = fc.format.as_deref() == Some("compact") || fc.shape[0] != fc.shape[1];
            if fc.shape[1] != ns || fc.elements.len() != fc.shape[0] * fc.shape[1] {
                return Err(field(
                    path,
                    format!(
                        "force_constants: shape {:?} with {} blocks, for a {ns}-atom supercell",
                        fc.shape,
                        fc.elements.len()
                    ),
                ));
            }
            let data = fc
                .elements
                .iter()
                .enumerate()
                .map(|(k, b)| {
                    if b.len() == 3 {
                        Ok([b[0], b[1], b[2]])
                    } else {
                        Err(field(
                            path,
                            format!("force_constants: block {k} is not 3 x 3"),
                        ))
                    }
                })
                .collect::<Result<Vec<_>>>()?;
            Some(FcBlock {
                compact,
                rows: fc.shape[0],
                cols: fc.shape[1],
                data,
            })
        }
    };
    if force_constants.is_none() && force_sets.is_empty() {
        return Err(field(
            path,
            "neither force_constants nor displacements with forces: nothing to compute phonons from",
        ));
    }
    let born = match doc.nac {
        None => None,
        Some(nac) => {
            if nac.dielectric_constant.len() != 3
                || nac.born_effective_charge.iter().any(|z| z.len() != 3)
            {
                return Err(field(path, "nac: expected 3 x 3 tensors"));
            }
            Some(Born {
                epsilon: [
                    nac.dielectric_constant[0],
                    nac.dielectric_constant[1],
                    nac.dielectric_constant[2],
                ],
                charges: nac
                    .born_effective_charge
                    .iter()
                    .map(|z| [z[0], z[1], z[2]])
                    .collect(),
                header: "phonopy_params.yaml nac".into(),
            })
        }
    };
    let id = path.parent().and_then(|p| p.file_name()).map_or_else(
        || "phonopy".to_string(),
        |n| n.to_string_lossy().to_string(),
    );
    Ok(PhonopyParams {
        id,
        source: path.to_path_buf(),
        unitcell,
        masses,
        supercell_matrix,
        primitive_matrix,
        force_sets,
        force_constants,
        born,
    })
}
