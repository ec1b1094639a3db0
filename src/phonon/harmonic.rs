//! Harmonic lattice dynamics from finite displacements, the way phonopy does it:
//! the supercell (in phonopy's atom order, so FORCE_SETS indices mean the same atoms),
//! crystal symmetry (moyo), force constants from force sets (site-symmetry expansion
//! of every displacement, a least-squares solve per displaced atom, distribution to all
//! atoms by the space group, translational invariance and index-permutation symmetry
//! imposed), and the primitive cell with the shortest periodic images of every pair.

use std::collections::HashMap;

use nalgebra::{Matrix3, Vector3};

use super::structure::{ForceSet, PhononDbEntry, PhonopyParams, Structure};
use crate::error::{Error, Result};
use crate::geom::det as det3i;
use crate::phonon::composition::atomic_mass;

/// Atomic masses (u) for lattice dynamics: the standard atomic weights phonopy uses
/// (so frequencies agree with phonopy's to the last digit); elements without one fall
/// back to superion's composition table.
const PHONON_MASSES: &[(&str, f64)] = &[
    ("H", 1.00794),
    ("He", 4.002602),
    ("Li", 6.941),
    ("Be", 9.012182),
    ("B", 10.811),
    ("C", 12.0107),
    ("N", 14.0067),
    ("O", 15.9994),
    ("F", 18.9984032),
    ("Ne", 20.1797),
    ("Na", 22.98976928),
    ("Mg", 24.305),
    ("Al", 26.9815386),
    ("Si", 28.0855),
    ("P", 30.973762),
    ("S", 32.065),
    ("Cl", 35.453),
    ("Ar", 39.948),
    ("K", 39.0983),
    ("Ca", 40.078),
    ("Sc", 44.955912),
    ("Ti", 47.867),
    ("V", 50.9415),
    ("Cr", 51.9961),
    ("Mn", 54.938045),
    ("Fe", 55.845),
    ("Co", 58.933195),
    ("Ni", 58.6934),
    ("Cu", 63.546),
    ("Zn", 65.38),
    ("Ga", 69.723),
    ("Ge", 72.64),
    ("As", 74.9216),
    ("Se", 78.96),
    ("Br", 79.904),
    ("Kr", 83.798),
    ("Rb", 85.4678),
    ("Sr", 87.62),
    ("Y", 88.90585),
    ("Zr", 91.224),
    ("Nb", 92.90638),
    ("Mo", 95.96),
    ("Tc", 98.0),
    ("Ru", 101.07),
    ("Rh", 102.9055),
    ("Pd", 106.42),
    ("Ag", 107.8682),
    ("Cd", 112.411),
    ("In", 114.818),
    ("Sn", 118.71),
    ("Sb", 121.76),
    ("Te", 127.6),
    ("I", 126.90447),
    ("Xe", 131.293),
    ("Cs", 132.9054519),
    ("Ba", 137.327),
    ("La", 138.90547),
    ("Ce", 140.116),
    ("Pr", 140.90765),
    ("Nd", 144.242),
    ("Pm", 145.0),
    ("Sm", 150.36),
    ("Eu", 151.964),
    ("Gd", 157.25),
    ("Tb", 158.92535),
    ("Dy", 162.5),
    ("Ho", 164.93032),
    ("Er", 167.259),
    ("Tm", 168.93421),
    ("Yb", 173.054),
    ("Lu", 174.9668),
    ("Hf", 178.49),
    ("Ta", 180.94788),
    ("W", 183.84),
    ("Re", 186.207),
    ("Os", 190.23),
    ("Ir", 192.217),
    ("Pt", 195.084),
    ("Au", 196.966569),
    ("Hg", 200.59),
    ("Tl", 204.3833),
    ("Pb", 207.2),
    ("Bi", 208.9804),
    ("Ac", 227.0),
    ("Th", 232.03806),
    ("Pa", 231.03588),
    ("U", 238.02891),
    ("Np", 237.0),
];

/// The mass (u) used for `symbol` in dynamical matrices.
pub(crate) fn phonon_mass(symbol: &str) -> Option<f64> {
    PHONON_MASSES
        .iter()
        .find(|(s, _)| *s == symbol)
        .map(|(_, m)| *m)
        .or_else(|| atomic_mass(symbol))
}

/// phonopy's symmetry tolerance (Å).
pub(crate) const SYMPREC: f64 = 1e-5;

/// A periodic cell: lattice vectors as rows (Å), fractional positions, species, masses.
#[derive(Debug, Clone)]
pub struct Cell {
    pub lattice: Matrix3<f64>,
    pub frac: Vec<Vector3<f64>>,
    pub species: Vec<String>,
    pub masses: Vec<f64>,
}

impl Cell {
    pub(crate) fn from_structure(s: &Structure, source: &str) -> Result<Cell> {
        let masses = s
            .species
            .iter()
            .map(|e| {
                phonon_mass(e).ok_or_else(|| {
                    Error::InvalidInput(format!("{source}: no atomic mass known for '{e}'"))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Cell {
            lattice: Matrix3::from_fn(|r, c| s.lattice[r][c]),
            frac: s.frac.iter().map(|f| Vector3::from(*f)).collect(),
            species: s.species.clone(),
            masses,
        })
    }

    pub fn len(&self) -> usize {
        self.frac.len()
    }

    pub fn is_empty(&self) -> bool {
        self.frac.is_empty()
    }

    /// Cartesian coordinates (Å) of a fractional vector.
    pub fn cart(&self, f: &Vector3<f64>) -> Vector3<f64> {
        self.lattice.transpose() * f
    }

    pub fn volume(&self) -> f64 {
        self.lattice.determinant().abs()
    }

    /// Length (Å) of the shortest lattice translate of a fractional difference.
    fn wrapped_distance(&self, d: &Vector3<f64>) -> f64 {
        let w = d.map(|x| x - x.round());
        self.cart(&w).norm()
    }
}

/// The adjugate of an integer matrix (so M⁻¹ = adj / det).
fn adj3i(m: &[[i64; 3]; 3]) -> [[i64; 3]; 3] {
    let mut a = [[0i64; 3]; 3];
    for (i, row) in a.iter_mut().enumerate() {
        for (j, v) in row.iter_mut().enumerate() {
            // cofactor C_ji
            let (r0, r1) = ((j + 1) % 3, (j + 2) % 3);
            let (c0, c1) = ((i + 1) % 3, (i + 2) % 3);
            *v = m[r0][c0] * m[r1][c1] - m[r0][c1] * m[r1][c0];
        }
    }
    a
}

fn mul3i(m: &[[i64; 3]; 3], v: &[i64; 3]) -> [i64; 3] {
    std::array::from_fn(|i| (0..3).map(|j| m[i][j] * v[j]).sum())
}

/// A supercell built from a unit cell and a supercell matrix M (rows as written in
/// `DIM`; supercell vector k = Σᵢ M\[i\]\[k\] aᵢ), with its atoms in phonopy's order.
#[derive(Debug, Clone)]
pub struct Supercell {
    pub cell: Cell,
    /// For every supercell atom, its unit-cell atom and unit-cell lattice point.
    pub unit_atom: Vec<usize>,
    pub point: Vec<[i64; 3]>,
    m: [[i64; 3]; 3],
    adj: [[i64; 3]; 3],
    det: i64,
    /// (unit atom, canonical lattice point) -> supercell atom.
    index: HashMap<(usize, [i64; 3]), usize>,
}

impl Supercell {
    /// phonopy's construction: the unit cell repeated over a box that surrounds the
    /// supercell (x fastest, atoms outermost), then trimmed to the supercell, first
    /// occurrence kept. For a diagonal M this is the plain repetition.
    pub fn build(unit: &Cell, m: &[[i64; 3]; 3]) -> Result<Supercell> {
        let det = det3i(m);
        if det <= 0 {
            return Err(Error::InvalidInput(format!(
                "supercell matrix {m:?} has determinant {det}: not a right-handed supercell"
            )));
        }
        let adj = adj3i(m);
        let col = |k: usize| [m[0][k], m[1][k], m[2][k]];
        let (c0, c1, c2) = (col(0), col(1), col(2));
        let add = |a: [i64; 3], b: [i64; 3]| [a[0] + b[0], a[1] + b[1], a[2] + b[2]];
        let corners = [
            [0, 0, 0],
            c0,
            c1,
            c2,
            add(c1, c2),
            add(c2, c0),
            add(c0, c1),
            add(add(c0, c1), c2),
        ];
        let frame: [i64; 3] = std::array::from_fn(|i| {
            corners.iter().map(|c| c[i]).max().unwrap()
                - corners.iter().map(|c| c[i]).min().unwrap()
        });
        let mut sc = Supercell {
            cell: Cell {
                lattice: Matrix3::zeros(),
                frac: Vec::new(),
                species: Vec::new(),
                masses: Vec::new(),
            },
            unit_atom: Vec::new(),
            point: Vec::new(),
            m: *m,
            adj,
            det,
            index: HashMap::new(),
        };
        let mf = Matrix3::from_fn(|r, c| m[r][c] as f64);
        sc.cell.lattice = mf.transpose() * unit.lattice;
        let minv = mf.try_inverse().expect("det > 0");
        for u in 0..unit.len() {
            for z in 0..frame[2] {
                for y in 0..frame[1] {
                    for x in 0..frame[0] {
                        let l = sc.canonical(&[x, y, z]);
                        if sc.index.contains_key(&(u, l)) {
                            continue;
                        }
                        let s = minv
                            * (unit.frac[u] + Vector3::new(l[0] as f64, l[1] as f64, l[2] as f64));
                        sc.index.insert((u, l), sc.unit_atom.len());
                        sc.unit_atom.push(u);
                        sc.point.push(l);
                        sc.cell.frac.push(s);
                        sc.cell.species.push(unit.species[u].clone());
                        sc.cell.masses.push(unit.masses[u]);
                    }
                }
            }
        }
        let want = unit.len() * det as usize;
        if sc.unit_atom.len() != want {
            return Err(Error::InvalidInput(format!(
                "supercell matrix {m:?}: built {} atoms, expected {want}",
                sc.unit_atom.len()
            )));
        }
        Ok(sc)
    }

    /// The representative of unit-cell lattice point `l` modulo the supercell lattice:
    /// M·frac(M⁻¹ l), in exact integer arithmetic.
    fn canonical(&self, l: &[i64; 3]) -> [i64; 3] {
        let s = mul3i(&self.adj, l); // det · M⁻¹ l
        let f = s.map(|x| x.rem_euclid(self.det));
        mul3i(&self.m, &f).map(|x| x / self.det)
    }

    fn atom(&self, u: usize, l: &[i64; 3]) -> usize {
        self.index[&(u, self.canonical(l))]
    }
}

/// A space-group operation of the unit cell, x' = W x + w (fractional), with its
/// Cartesian rotation and how it maps the unit cell's atoms (atom u goes to atom
/// `to[u].0` shifted by the lattice vector `to[u].1`).
#[derive(Debug, Clone)]
pub struct Operation {
    pub w: [[i64; 3]; 3],
    pub t: Vector3<f64>,
    pub rot: Matrix3<f64>,
    pub to: Vec<(usize, [i64; 3])>,
}

/// The unit cell's space group (moyo), with each operation's atom mapping.
pub fn symmetry(unit: &Cell, symprec: f64) -> Result<Vec<Operation>> {
    let mut kinds: Vec<&str> = Vec::new();
    let numbers: Vec<i32> = unit
        .species
        .iter()
        .map(|s| match kinds.iter().position(|k| k == s) {
            Some(i) => i as i32,
            None => {
                kinds.push(s);
                kinds.len() as i32 - 1
            }
        })
        .collect();
    let cell = moyo::base::Cell::new(
        moyo::base::Lattice::new(unit.lattice),
        unit.frac.clone(),
        numbers.clone(),
    );
    let ds = moyo::MoyoDataset::with_default(&cell, symprec)
        .map_err(|e| Error::InvalidInput(format!("symmetry search failed: {e:?}")))?;
    let at = unit.lattice.transpose();
    let at_inv = at
        .try_inverse()
        .ok_or_else(|| Error::InvalidInput("the lattice vectors are linearly dependent".into()))?;
    let tol = (10.0 * symprec).max(1e-4);
    let mut ops = Vec::with_capacity(ds.operations.len());
    for op in &ds.operations {
        let wf = op.rotation.map(|x| x as f64);
        let w: [[i64; 3]; 3] =
            std::array::from_fn(|r| std::array::from_fn(|c| op.rotation[(r, c)] as i64));
        let mut to = Vec::with_capacity(unit.len());
        for u in 0..unit.len() {
            let x = wf * unit.frac[u] + op.translation;
            let hit = (0..unit.len()).find(|&v| {
                numbers[v] == numbers[u] && unit.wrapped_distance(&(x - unit.frac[v])) < tol
            });
            let Some(v) = hit else {
                return Err(Error::InvalidInput(format!(
                    "a symmetry operation maps atom {} onto no atom (tolerance {tol} Å)",
                    u + 1
                )));
            };
            let n = (x - unit.frac[v]).map(|d| d.round() as i64);
            to.push((v, [n[0], n[1], n[2]]));
        }
        ops.push(Operation {
            w,
            t: op.translation,
            rot: at * wf * at_inv,
            to,
        });
    }
    Ok(ops)
}

/// Force constants Φ(i, j) (eV/Å²) of every supercell pair, row-major (i, j).
#[derive(Debug, Clone)]
pub struct ForceConstants {
    pub n: usize,
    pub data: Vec<Matrix3<f64>>,
}

impl ForceConstants {
    pub fn get(&self, i: usize, j: usize) -> &Matrix3<f64> {
        &self.data[i * self.n + j]
    }

    /// Translational invariance on both indices, then index-permutation symmetry
    /// Φ(i, j) = Φ(j, i)ᵀ: phonopy's default symmetrisation (level 1).
    pub(crate) fn symmetrize(&mut self) {
        let n = self.n;
        for i in 0..n {
            let s: Matrix3<f64> =
                (0..n).map(|j| self.data[i * n + j]).sum::<Matrix3<f64>>() / n as f64;
            for j in 0..n {
                self.data[i * n + j] -= s;
            }
        }
        for j in 0..n {
            let s: Matrix3<f64> =
                (0..n).map(|i| self.data[i * n + j]).sum::<Matrix3<f64>>() / n as f64;
            for i in 0..n {
                self.data[i * n + j] -= s;
            }
        }
        for i in 0..n {
            for j in i..n {
                let a = (self.data[i * n + j] + self.data[j * n + i].transpose()) * 0.5;
                self.data[i * n + j] = a;
                self.data[j * n + i] = a.transpose();
            }
        }
    }

    /// The largest |Σⱼ Φ(i, j)| element: the acoustic-sum-rule drift (eV/Å²).
    pub fn drift(&self) -> f64 {
        let n = self.n;
        (0..n)
            .map(|i| {
                (0..n)
                    .map(|j| self.data[i * n + j])
                    .sum::<Matrix3<f64>>()
                    .amax()
            })
            .fold(0.0, f64::max)
    }
}

/// Force constants from type-1 force sets, as phonopy's traditional method.
pub fn force_constants(
    sc: &Supercell,
    ops: &[Operation],
    sets: &[ForceSet],
) -> Result<ForceConstants> {
    let n = sc.cell.len();
    let mut fc = ForceConstants {
        n,
        data: vec![Matrix3::zeros(); n * n],
    };
    // Apply operation `g` followed by the lattice translation `tr`: the image of
    // every supercell atom.
    let permutation = |g: &Operation, tr: &[i64; 3]| -> Vec<usize> {
        (0..n)
            .map(|j| {
                let (u2, shift) = g.to[sc.unit_atom[j]];
                let l = mul3i(&g.w, &sc.point[j]);
                sc.atom(
                    u2,
                    &[
                        l[0] + shift[0] + tr[0],
                        l[1] + shift[1] + tr[1],
                        l[2] + shift[2] + tr[2],
                    ],
                )
            })
            .collect()
    };
    // The translation that makes `g` take atom a to atom b (same unit atom).
    let translation = |g: &Operation, a: usize, b: usize| -> [i64; 3] {
        let (_, shift) = g.to[sc.unit_atom[a]];
        let l = mul3i(&g.w, &sc.point[a]);
        let pb = sc.point[b];
        [
            pb[0] - l[0] - shift[0],
            pb[1] - l[1] - shift[1],
            pb[2] - l[2] - shift[2],
        ]
    };
    let mut displaced: Vec<usize> = Vec::new();
    for s in sets {
        if s.atom >= n {
            return Err(Error::InvalidInput(format!(
                "FORCE_SETS: displaced atom {} is not in the {n}-atom supercell",
                s.atom + 1
            )));
        }
        if s.forces.len() != n {
            return Err(Error::InvalidInput(format!(
                "FORCE_SETS: {} forces for a {n}-atom supercell",
                s.forces.len()
            )));
        }
        if !displaced.contains(&s.atom) {
            displaced.push(s.atom);
        }
    }
    let mut done = vec![false; n];
    for &i in &displaced {
        let mut utu = Matrix3::<f64>::zeros();
        let mut utf = vec![Matrix3::<f64>::zeros(); n];
        let ui = sc.unit_atom[i];
        for g in ops.iter().filter(|g| g.to[ui].0 == ui) {
            let perm = permutation(g, &translation(g, i, i));
            debug_assert_eq!(perm[i], i);
            for s in sets.iter().filter(|s| s.atom == i) {
                let u = g.rot * Vector3::from(s.displacement);
                utu += u * u.transpose();
                for (j, f) in s.forces.iter().enumerate() {
                    let f = g.rot * Vector3::from(*f);
                    utf[perm[j]] += u * f.transpose();
                }
            }
        }
        let scale = utu.amax().max(1e-300);
        let inv = if utu.determinant() / scale.powi(3) > 1e-10 {
            utu.try_inverse()
        } else {
            None
        };
        let Some(inv) = inv else {
            return Err(Error::InvalidInput(format!(
                "FORCE_SETS: the displacements of atom {} do not span three directions, even with its site symmetry",
                i + 1
            )));
        };
        for j in 0..n {
            fc.data[i * n + j] = -(inv * utf[j]);
        }
        done[i] = true;
    }
    // Distribute to every other atom: Φ(g i, g j) = R Φ(i, j) Rᵀ.
    for k in 0..n {
        if done[k] {
            continue;
        }
        let uk = sc.unit_atom[k];
        let found = displaced.iter().find_map(|&i| {
            ops.iter()
                .find(|g| g.to[sc.unit_atom[i]].0 == uk)
                .map(|g| (i, g))
        });
        let Some((i, g)) = found else {
            return Err(Error::InvalidInput(format!(
                "FORCE_SETS: no displaced atom is equivalent to supercell atom {} ({}): the force sets do not cover the structure",
                k + 1,
                sc.cell.species[k]
            )));
        };
        let perm = permutation(g, &translation(g, i, k));
        debug_assert_eq!(perm[i], k);
        let r = g.rot;
        for j in 0..n {
            fc.data[k * n + perm[j]] = r * fc.data[i * n + j] * r.transpose();
        }
        done[k] = true;
    }
    Ok(fc)
}

/// The primitive cell and how the supercell's atoms map onto it.
#[derive(Debug, Clone)]
pub struct Primitive {
    pub cell: Cell,
    /// For every supercell atom, its primitive atom.
    pub s2p: Vec<usize>,
    /// For every primitive atom, its representative supercell atom.
    pub p2s: Vec<usize>,
    /// For every primitive atom, the unit-cell atom it came from.
    pub p2u: Vec<usize>,
    /// For every unit-cell atom, its primitive atom.
    pub u2p: Vec<usize>,
}

/// The primitive cell from PRIMITIVE_AXIS P (rows as written; primitive vector k =
/// Σᵢ P\[i\]\[k\] aᵢ), or the unit cell itself when `axis` is None.
pub fn primitive(unit: &Cell, sc: &Supercell, axis: Option<&[[f64; 3]; 3]>) -> Result<Primitive> {
    let p = axis.map_or(Matrix3::identity(), |a| Matrix3::from_fn(|r, c| a[r][c]));
    let det = p.determinant();
    if det <= 1e-8 {
        return Err(Error::InvalidInput(format!(
            "PRIMITIVE_AXIS has determinant {det}: not a right-handed cell"
        )));
    }
    let pinv = p.try_inverse().expect("det > 0");
    let lattice = p.transpose() * unit.lattice;
    let pcell_probe = Cell {
        lattice,
        frac: vec![],
        species: vec![],
        masses: vec![],
    };
    let tol = 1e-3;
    let mut cell = Cell {
        lattice,
        frac: Vec::new(),
        species: Vec::new(),
        masses: Vec::new(),
    };
    let mut p2u = Vec::new();
    let mut u2p = Vec::with_capacity(unit.len());
    for u in 0..unit.len() {
        let f = pinv * unit.frac[u];
        let hit = (0..cell.len()).find(|&q| {
            cell.species[q] == unit.species[u]
                && pcell_probe.wrapped_distance(&(f - cell.frac[q])) < tol
        });
        match hit {
            Some(q) => u2p.push(q),
            None => {
                u2p.push(cell.len());
                p2u.push(u);
                cell.frac.push(f.map(|x| x - x.floor()));
                cell.species.push(unit.species[u].clone());
                cell.masses.push(unit.masses[u]);
            }
        }
    }
    let want = unit.len() as f64 * det;
    if (want - cell.len() as f64).abs() > 1e-6 {
        return Err(Error::InvalidInput(format!(
            "PRIMITIVE_AXIS: the unit cell's {} atoms fold into {} primitive atoms, but the axis (determinant {det:.4}) implies {want:.3}",
            unit.len(),
            cell.len()
        )));
    }
    let s2p = sc.unit_atom.iter().map(|&u| u2p[u]).collect();
    let p2s = p2u.iter().map(|&u| sc.atom(u, &[0, 0, 0])).collect();
    Ok(Primitive {
        cell,
        s2p,
        p2s,
        p2u,
        u2p,
    })
}

/// One block of the dynamical matrix: primitive atoms (p, q), the force constant
/// divided by √(mₚ m_q), and the shortest images of the pair (primitive fractional).
#[derive(Debug, Clone)]
pub struct Pair {
    pub p: usize,
    pub q: usize,
    pub fc: Matrix3<f64>,
    pub images: Vec<Vector3<f64>>,
}

/// The pairs of the dynamical matrix with the shortest periodic images of each,
/// phonopy's rule: every image within tolerance of the shortest, weighted equally.
pub fn pairs(
    sc: &Supercell,
    prim: &Primitive,
    fc: &dyn Fn(usize, usize) -> Matrix3<f64>,
) -> Vec<Pair> {
    let s = &sc.cell;
    let to_prim = (prim.cell.lattice.transpose())
        .try_inverse()
        .expect("primitive lattice")
        * s.lattice.transpose();
    let mut out = Vec::with_capacity(prim.p2s.len() * s.len());
    for (p, &i) in prim.p2s.iter().enumerate() {
        for j in 0..s.len() {
            let d0 = (s.frac[j] - s.frac[i]).map(|x| x - x.round());
            let mut cands: Vec<(f64, Vector3<f64>)> = Vec::with_capacity(125);
            for a in -2..=2 {
                for b in -2..=2 {
                    for c in -2..=2 {
                        let d = d0 + Vector3::new(a as f64, b as f64, c as f64);
                        cands.push((s.cart(&d).norm(), d));
                    }
                }
            }
            let min = cands.iter().map(|c| c.0).fold(f64::INFINITY, f64::min);
            let images = cands
                .iter()
                .filter(|c| c.0 - min < SYMPREC.max(1e-5 * min))
                .map(|c| to_prim * c.1)
                .collect();
            let q = prim.s2p[j];
            let m = (prim.cell.masses[p] * prim.cell.masses[q]).sqrt();
            out.push(Pair {
                p,
                q,
                fc: fc(p, j) / m,
                images,
            });
        }
    }
    out
}

/// Everything needed to build dynamical matrices, from a PhononDB entry.
#[derive(Debug, Clone)]
pub struct Harmonic {
    pub unit: Cell,
    pub supercell: Supercell,
    pub primitive: Primitive,
    pub operations: Vec<Operation>,
    /// Full force constants when computed from force sets (None when read compact).
    pub force_constants: Option<ForceConstants>,
    pub pairs: Vec<Pair>,
    /// The acoustic-sum-rule drift before symmetrisation (eV/Å²).
    pub drift: f64,
}

impl Harmonic {
    /// An operation of the unit cell in the primitive basis: (W, t) acting on
    /// primitive fractional coordinates (x_unit = P x_prim, P from the two lattices).
    pub(crate) fn primitive_operation(&self, op: &Operation) -> (Matrix3<f64>, Vector3<f64>) {
        let p = self
            .unit
            .lattice
            .transpose()
            .try_inverse()
            .expect("unit lattice")
            * self.primitive.cell.lattice.transpose();
        let p_inv = p.try_inverse().expect("primitive lattice");
        let w = Matrix3::from_fn(|r, c| op.w[r][c] as f64);
        (p_inv * w * p, p_inv * op.t)
    }

    /// The primitive atom of `species` at fractional position `x` (modulo the
    /// lattice, within 1e-3 Å), if there is one.
    pub(crate) fn primitive_atom_at(&self, x: &Vector3<f64>, species: &str) -> Option<usize> {
        let prim = &self.primitive.cell;
        (0..prim.len()).find(|&j| {
            prim.species[j] == species && prim.wrapped_distance(&(x - prim.frac[j])) < 1e-3
        })
    }

    pub fn from_entry(e: &PhononDbEntry) -> Result<Harmonic> {
        let src = e.source.display().to_string();
        let ctx = |err: Error| match err {
            Error::InvalidInput(m) => Error::InvalidInput(format!("{src}: {m}")),
            other => other,
        };
        let unit = Cell::from_structure(&e.unitcell, &src)?;
        let supercell = Supercell::build(&unit, &e.supercell_matrix).map_err(ctx)?;
        let operations = symmetry(&unit, SYMPREC).map_err(ctx)?;
        let mut force_constants =
            force_constants(&supercell, &operations, &e.force_sets).map_err(ctx)?;
        let drift = force_constants.drift();
        force_constants.symmetrize();
        let primitive = primitive(&unit, &supercell, e.primitive_axis.as_ref()).map_err(ctx)?;
        let pairs = pairs(&supercell, &primitive, &|p, j| {
            *force_constants.get(primitive.p2s[p], j)
        });
        Ok(Harmonic {
            unit,
            supercell,
            primitive,
            operations,
            force_constants: Some(force_constants),
            pairs,
            drift,
        })
    }

    /// From phonopy's parameters file: its force constants (full or compact) when
    /// present, otherwise its displacements and forces.
    pub(crate) fn from_params(pp: &PhonopyParams) -> Result<Harmonic> {
        let src = pp.source.display().to_string();
        let ctx = |err: Error| match err {
            Error::InvalidInput(m) => Error::InvalidInput(format!("{src}: {m}")),
            other => other,
        };
        let mut unit = Cell::from_structure(&pp.unitcell, &src).or_else(|_| {
            // Unknown elements are fine when the file gives masses.
            Ok::<_, Error>(Cell {
                lattice: Matrix3::from_fn(|r, c| pp.unitcell.lattice[r][c]),
                frac: pp.unitcell.frac.iter().map(|f| Vector3::from(*f)).collect(),
                species: pp.unitcell.species.clone(),
                masses: pp.masses.clone(),
            })
        })?;
        unit.masses = pp.masses.clone();
        let supercell = Supercell::build(&unit, &pp.supercell_matrix).map_err(ctx)?;
        let operations = symmetry(&unit, SYMPREC).map_err(ctx)?;
        let primitive = primitive(&unit, &supercell, pp.primitive_matrix.as_ref()).map_err(ctx)?;
        let n = supercell.cell.len();
        let (fc_full, pairs, drift) = match &pp.force_constants {
            Some(b) => {
                let m = |k: usize| Matrix3::from_fn(|r, c| b.data[k][r][c]);
                if b.compact {
                    if b.rows != primitive.cell.len() {
                        return Err(ctx(Error::InvalidInput(format!(
                            "compact force constants have {} rows, the primitive cell {} atoms",
                            b.rows,
                            primitive.cell.len()
                        ))));
                    }
                    (
                        None,
                        pairs(&supercell, &primitive, &|p, j| m(p * n + j)),
                        0.0,
                    )
                } else {
                    let fc = ForceConstants {
                        n,
                        data: (0..n * n).map(m).collect(),
                    };
                    let drift = fc.drift();
                    let pairs = pairs(&supercell, &primitive, &|p, j| *fc.get(primitive.p2s[p], j));
                    (Some(fc), pairs, drift)
                }
            }
            None => {
                let mut fc =
                    force_constants(&supercell, &operations, &pp.force_sets).map_err(ctx)?;
                let drift = fc.drift();
                fc.symmetrize();
                let pairs = pairs(&supercell, &primitive, &|p, j| *fc.get(primitive.p2s[p], j));
                (Some(fc), pairs, drift)
            }
        };
        Ok(Harmonic {
            unit,
            supercell,
            primitive,
            operations,
            force_constants: fc_full,
            pairs,
            drift,
        })
    }
}
