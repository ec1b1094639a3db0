//! The inputs of a harmonic phonon calculation as data: a crystal structure, the
//! force sets (or force constants) of displaced supercells and the Born charges. The
//! readers in `crate::io` (`phonondb`, `phonopy_params`) fill these; the harmonic
//! code in this module's siblings uses them and never reads a file.

use std::path::PathBuf;

/// A crystal structure: lattice vectors as rows (Å), species and fractional positions.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Structure {
    pub lattice: [[f64; 3]; 3],
    pub species: Vec<String>,
    pub frac: Vec<[f64; 3]>,
}

/// One displacement of FORCE_SETS.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ForceSet {
    /// 0-based index of the displaced supercell atom.
    pub atom: usize,
    /// Cartesian displacement (Å).
    pub displacement: [f64; 3],
    /// Forces on every supercell atom (eV/Å).
    #[serde(skip)]
    pub forces: Vec<[f64; 3]>,
}

/// BORN: the dielectric tensor and the Born effective charges of the symmetry-
/// independent atoms, in file order.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Born {
    pub epsilon: [[f64; 3]; 3],
    pub charges: Vec<[[f64; 3]; 3]>,
    /// The header line (unit factor or comment), as written.
    pub header: String,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct PhononDbEntry {
    /// `mp-ID` from the folder name (or the archive's name).
    pub id: String,
    pub source: PathBuf,
    pub unitcell: Structure,
    /// DIM as a 3 x 3 integer matrix (rows).
    pub supercell_matrix: [[i64; 3]; 3],
    /// PRIMITIVE_AXIS as a 3 x 3 matrix; `None` when absent (the unit cell is primitive).
    pub primitive_axis: Option<[[f64; 3]; 3]>,
    pub n_supercell_atoms: usize,
    pub force_sets: Vec<ForceSet>,
    pub born: Option<Born>,
}

/// Force constants as written: `rows` supercell-atom rows (all of them for "full",
/// one per primitive atom for "compact") by every supercell atom.
#[derive(Debug, Clone)]
pub struct FcBlock {
    pub compact: bool,
    pub rows: usize,
    pub cols: usize,
    /// Row-major 3 × 3 blocks.
    pub data: Vec<[[f64; 3]; 3]>,
}

/// Everything superion uses from a phonopy parameters file.
#[derive(Debug, Clone)]
pub struct PhonopyParams {
    pub id: String,
    pub source: PathBuf,
    pub unitcell: Structure,
    pub masses: Vec<f64>,
    pub supercell_matrix: [[i64; 3]; 3],
    pub primitive_matrix: Option<[[f64; 3]; 3]>,
    pub force_sets: Vec<ForceSet>,
    pub force_constants: Option<FcBlock>,
    pub born: Option<Born>,
}
