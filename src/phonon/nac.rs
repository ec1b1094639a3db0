//! The non-analytical term correction (NAC) for polar crystals from BORN (dielectric
//! tensor and Born effective charges). Two methods, as in phonopy:
//!
//! - **Gonze–Lee** (phonopy's default; Gonze & Lee, PRB 55, 10355 (1997)): the
//!   dipole–dipole interaction is an Ewald sum in reciprocal space over |G| below a
//!   cutoff (300 G-points' worth, Gaussian damping Λ from the cutoff), minus its q = 0
//!   self term; it is subtracted from the supercell force constants at the
//!   commensurate q-points (giving short-range force constants) and added back,
//!   exactly, at every q.
//! - **Wang** (J. Phys.: Condens. Matter 22, 202201 (2010)): the macroscopic-field
//!   term (4π/Ω)(q·Zₖ)(q·Zₖ′)/(q·ε·q) spread evenly over the supercell's force
//!   constants.

use std::f64::consts::PI;

use nalgebra::{DMatrix, Matrix3, Vector3};

use super::harmonic::{Harmonic, Pair};
use super::structure::Born;
use crate::error::{Error, Result};

type C64 = nalgebra::Complex<f64>;

/// e²/(4πε₀) in eV·Å: phonopy's unit conversion factor for VASP.
pub(crate) const NAC_FACTOR: f64 = 14.399652;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NacMethod {
    #[default]
    Gonze,
    Wang,
}

/// phonopy's number of G-points that sets the Ewald cutoff.
const NUM_G_POINTS: f64 = 300.0;

#[derive(Debug, Clone)]
pub struct Nac {
    pub method: NacMethod,
    /// Born effective charges of every primitive atom (Cartesian, Z\[α\]\[β\] = ∂Fβ/∂Eα
    /// in phonopy's convention).
    pub charges: Vec<Matrix3<f64>>,
    pub epsilon: Matrix3<f64>,
    reciprocal: Matrix3<f64>,
    volume: f64,
    masses: Vec<f64>,
    n_cells: f64,
    pairs: Vec<(usize, usize, Vec<Vector3<f64>>)>,
    /// Cartesian positions of the primitive atoms (Å).
    positions: Vec<Vector3<f64>>,
    g_list: Vec<Vector3<f64>>,
    lambda: f64,
    dd_q0: Vec<Matrix3<f64>>,
    /// Gonze–Lee: the dynamical-matrix pairs with the dipole–dipole part removed.
    short_range: Option<Vec<Pair>>,
}

impl Nac {
    /// Expand BORN's charges (one per symmetry-independent primitive atom, in order)
    /// to every primitive atom by the space group: Zₖ = R Zᵢ Rᵀ.
    pub fn new(h: &Harmonic, born: &Born, method: NacMethod) -> Result<Nac> {
        let prim = &h.primitive.cell;
        let np = prim.len();
        // For every primitive atom: the first atom of its orbit and an operation
        // (Cartesian rotation) taking that atom onto it.
        let mut rep: Vec<Option<(usize, Matrix3<f64>)>> = vec![None; np];
        for k in 0..np {
            if rep[k].is_some() {
                continue;
            }
            rep[k] = Some((k, Matrix3::identity()));
            for op in &h.operations {
                let (wp, tp) = h.primitive_operation(op);
                if let Some(j) = h.primitive_atom_at(&(wp * prim.frac[k] + tp), &prim.species[k]) {
                    if rep[j].is_none() {
                        rep[j] = Some((k, op.rot));
                    }
                }
            }
        }
        let mut independent: Vec<usize> = rep.iter().map(|r| r.unwrap().0).collect();
        independent.sort_unstable();
        independent.dedup();
        if born.charges.len() == np {
            // One charge per primitive atom (phonopy_params.yaml): use them as given.
            independent = (0..np).collect();
            for (k, r) in rep.iter_mut().enumerate() {
                *r = Some((k, Matrix3::identity()));
            }
        }
        if independent.len() != born.charges.len() {
            return Err(Error::InvalidInput(format!(
                "BORN: {} Born charges, but the primitive cell has {} symmetry-independent atoms",
                born.charges.len(),
                independent.len()
            )));
        }
        let z_of = |i: usize| {
            let z = born.charges[independent.iter().position(|&x| x == i).unwrap()];
            Matrix3::from_fn(|r, c| z[r][c])
        };
        let mut charges: Vec<Matrix3<f64>> = (0..np)
            .map(|k| {
                let (i, r) = rep[k].unwrap();
                r * z_of(i) * r.transpose()
            })
            .collect();
        // Charge neutrality (acoustic sum rule of the charges), as phonopy does.
        let mean = charges.iter().sum::<Matrix3<f64>>() / np as f64;
        for z in &mut charges {
            *z -= mean;
        }
        let pairs = h
            .pairs
            .iter()
            .map(|pr: &Pair| (pr.p, pr.q, pr.images.clone()))
            .collect();
        let epsilon = Matrix3::from_fn(|r, c| born.epsilon[r][c]);
        if epsilon.determinant() <= 0.0 || (0..3).any(|i| epsilon[(i, i)] <= 0.0) {
            return Err(Error::InvalidInput(format!(
                "BORN: the dielectric tensor {:?} is not positive definite",
                born.epsilon
            )));
        }
        let reciprocal = prim.lattice.try_inverse().expect("lattice").transpose();
        let volume = prim.volume();
        // The Ewald cutoff and damping, as phonopy chooses them.
        let g_cut = (3.0 * NUM_G_POINTS / (4.0 * PI) / volume).cbrt();
        let geg = g_cut * g_cut * epsilon.trace() / 3.0;
        let lambda = (-geg / 4.0 / (1e-10f64).ln()).sqrt();
        let mut g_list = Vec::new();
        let r: Vec<i64> = (0..3)
            .map(|i| (g_cut * prim.lattice.row(i).norm()).ceil() as i64 + 1)
            .collect();
        for a in -r[0]..=r[0] {
            for b in -r[1]..=r[1] {
                for c in -r[2]..=r[2] {
                    let g = reciprocal.transpose() * Vector3::new(a as f64, b as f64, c as f64);
                    if g.norm() < g_cut {
                        g_list.push(g);
                    }
                }
            }
        }
        let mut nac = Nac {
            method,
            charges,
            epsilon,
            reciprocal,
            volume,
            masses: prim.masses.clone(),
            n_cells: (h.supercell.cell.len() / np) as f64,
            pairs,
            positions: prim.frac.iter().map(|f| prim.cart(f)).collect(),
            g_list,
            lambda,
            dd_q0: Vec::new(),
            short_range: None,
        };
        if method == NacMethod::Gonze {
            nac.prepare_gonze(h);
        }
        Ok(nac)
    }

    /// The pairs to build dynamical matrices from: short-range ones for Gonze–Lee.
    pub fn pairs<'a>(&'a self, full: &'a [Pair]) -> &'a [Pair] {
        self.short_range.as_deref().unwrap_or(full)
    }

    /// The reciprocal-space dipole–dipole sum at Cartesian q (1/Å, no 2π), in eV/Å²,
    /// row-major over (atom, direction) pairs; the G = 0 term is left out at q = 0.
    fn recip_dd(&self, qc: &Vector3<f64>) -> Vec<C64> {
        let np = self.charges.len();
        let n = 3 * np;
        let mut c = vec![C64::new(0.0, 0.0); n * n];
        let four_l2 = 4.0 * self.lambda * self.lambda;
        let mut v = vec![Vector3::zeros(); np];
        let mut ph = vec![C64::new(0.0, 0.0); np];
        for g in &self.g_list {
            let k = g + qc;
            if k.norm() < 1e-12 {
                continue;
            }
            let kek = (k.transpose() * self.epsilon * k)[0];
            let coef = (-kek / four_l2).exp() / kek;
            for a in 0..np {
                v[a] = self.charges[a].transpose() * k;
                let t = 2.0 * PI * g.dot(&self.positions[a]);
                ph[a] = C64::new(t.cos(), t.sin());
            }
            for a in 0..np {
                for b in 0..np {
                    let p = ph[a] * ph[b].conj() * coef;
                    for x in 0..3 {
                        for y in 0..3 {
                            c[(3 * a + x) * n + 3 * b + y] += p * (v[a][x] * v[b][y]);
                        }
                    }
                }
            }
        }
        let f = 4.0 * PI * NAC_FACTOR / self.volume;
        c.iter_mut().for_each(|x| *x *= f);
        c
    }

    /// The Gonze–Lee dipole–dipole matrix at q (Cartesian), self term removed.
    fn gonze_dd(&self, qc: &Vector3<f64>) -> Vec<C64> {
        let np = self.charges.len();
        let n = 3 * np;
        let mut c = self.recip_dd(qc);
        for a in 0..np {
            for x in 0..3 {
                for y in 0..3 {
                    c[(3 * a + x) * n + 3 * a + y] -= C64::new(self.dd_q0[a][(x, y)], 0.0);
                }
            }
        }
        c
    }

    fn prepare_gonze(&mut self, h: &Harmonic) {
        let np = self.charges.len();
        let n = 3 * np;
        // Self term: Σ over partner atoms of the q = 0 sum (real by G ↔ −G symmetry).
        let c0 = self.recip_dd(&Vector3::zeros());
        // Made symmetric, as phonopy does: at a site of low symmetry the row sum is not,
        // and an asymmetric self term makes D(q) non-Hermitian, so that the short-range
        // force constants no longer restore D exactly at the commensurate points.
        self.dd_q0 = (0..np)
            .map(|a| {
                let m = Matrix3::from_fn(|x, y| {
                    (0..np)
                        .map(|b| c0[(3 * a + x) * n + 3 * b + y].re)
                        .sum::<f64>()
                });
                (m + m.transpose()) * 0.5
            })
            .collect();
        // Commensurate q-points of the supercell (primitive reciprocal fractional),
        // each moved to its shortest equivalent (the first Brillouin zone).
        let prim = &h.primitive.cell;
        let mp = h.supercell.cell.lattice * prim.lattice.try_inverse().expect("lattice");
        let mp_inv = mp.try_inverse().expect("supercell");
        let nc = (self.n_cells.round() as usize).max(1);
        let mut comm: Vec<Vector3<f64>> = Vec::with_capacity(nc);
        let span = nc as i64;
        'outer: for a in 0..span {
            for b in 0..span {
                for c in 0..span {
                    let q = (mp_inv * Vector3::new(a as f64, b as f64, c as f64))
                        .map(|x| x - x.floor());
                    let q = q.map(|x| if (x - 1.0).abs() < 1e-8 { 0.0 } else { x });
                    if !comm
                        .iter()
                        .any(|p| (p - q).map(|x| x - x.round()).amax() < 1e-6)
                    {
                        comm.push(q);
                        if comm.len() == nc {
                            break 'outer;
                        }
                    }
                }
            }
        }
        let rt = self.reciprocal.transpose();
        let comm: Vec<Vector3<f64>> = comm
            .iter()
            .map(|q| {
                let mut best = *q;
                let mut len = f64::INFINITY;
                for a in -2..=2 {
                    for b in -2..=2 {
                        for c in -2..=2 {
                            let t = q + Vector3::new(a as f64, b as f64, c as f64);
                            let l = (rt * t).norm();
                            if l < len - 1e-10 {
                                len = l;
                                best = t;
                            }
                        }
                    }
                }
                best
            })
            .collect();
        let dds: Vec<Vec<C64>> = comm.iter().map(|q| self.gonze_dd(&(rt * q))).collect();
        let mut sr = h.pairs.clone();
        for pr in &mut sr {
            let v = pr.images[0];
            let m = (self.masses[pr.p] * self.masses[pr.q]).sqrt();
            for (q, dd) in comm.iter().zip(&dds) {
                let t = -2.0 * PI * q.dot(&v);
                let ph = C64::new(t.cos(), t.sin());
                for x in 0..3 {
                    for y in 0..3 {
                        let val = (dd[(3 * pr.p + x) * n + 3 * pr.q + y] * ph).re;
                        pr.fc[(x, y)] -= val / comm.len() as f64 / m;
                    }
                }
            }
        }
        self.short_range = Some(sr);
    }

    /// Add the correction to D(q) (q in primitive reciprocal fractional coordinates).
    /// At Γ itself the direction is undefined and nothing is added, as in phonopy.
    pub fn add(&self, d: &mut DMatrix<C64>, q: &Vector3<f64>) {
        let qc = self.reciprocal.transpose() * q;
        if self.method == NacMethod::Gonze {
            let np = self.charges.len();
            let n = 3 * np;
            let c = self.gonze_dd(&qc);
            for a in 0..np {
                for b in 0..np {
                    let m = (self.masses[a] * self.masses[b]).sqrt();
                    for x in 0..3 {
                        for y in 0..3 {
                            d[(3 * a + x, 3 * b + y)] += c[(3 * a + x) * n + 3 * b + y] / m;
                        }
                    }
                }
            }
            return;
        }
        if qc.norm() < 1e-5 {
            return;
        }
        let denom = (qc.transpose() * self.epsilon * qc)[0];
        let qz: Vec<Vector3<f64>> = self.charges.iter().map(|z| z.transpose() * qc).collect();
        let pre = 4.0 * PI * NAC_FACTOR / self.volume / denom / self.n_cells;
        for (p, q2, images) in &self.pairs {
            let mut ph = C64::new(0.0, 0.0);
            for v in images {
                let a = 2.0 * PI * q.dot(v);
                ph += C64::new(a.cos(), a.sin());
            }
            ph /= images.len() as f64;
            let m = (self.masses[*p] * self.masses[*q2]).sqrt();
            for a in 0..3 {
                for b in 0..3 {
                    d[(3 * p + a, 3 * q2 + b)] += ph * (pre * qz[*p][a] * qz[*q2][b] / m);
                }
            }
        }
    }
}
