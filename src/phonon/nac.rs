//! The non-analytical term correction (NAC) for polar crystals from BORN (dielectric
//! tensor and Born effective charges), by Wang et al.'s method (J. Phys.: Condens.
//! Matter 22, 202201 (2010)): the macroscopic-field term
//! (4π/Ω)(q·Zₖ)(q·Zₖ′)/(q·ε·q) spread over the supercell's force constants, which
//! splits LO and TO modes near Γ and leaves the rest of the zone almost untouched.

use std::f64::consts::PI;

use nalgebra::{DMatrix, Matrix3, Vector3};

use super::harmonic::{Harmonic, Pair};
use crate::error::{Error, Result};
use crate::io::phonondb::Born;

type C64 = nalgebra::Complex<f64>;

/// e²/(4πε₀) in eV·Å: phonopy's unit conversion factor for VASP.
pub const NAC_FACTOR: f64 = 14.399652;

#[derive(Debug, Clone)]
pub struct Nac {
    /// Born effective charges of every primitive atom (Cartesian, Z[α][β] = ∂Fβ/∂Eα
    /// in phonopy's convention).
    pub charges: Vec<Matrix3<f64>>,
    pub epsilon: Matrix3<f64>,
    reciprocal: Matrix3<f64>,
    volume: f64,
    masses: Vec<f64>,
    n_cells: f64,
    pairs: Vec<(usize, usize, Vec<Vector3<f64>>)>,
}

impl Nac {
    /// Expand BORN's charges (one per symmetry-independent primitive atom, in order)
    /// to every primitive atom by the space group: Zₖ = R Zᵢ Rᵀ.
    pub fn new(h: &Harmonic, born: &Born) -> Result<Nac> {
        let prim = &h.primitive.cell;
        let np = prim.len();
        let p = (h.unit.lattice.transpose()).try_inverse().expect("unit lattice") * prim.lattice.transpose();
        let p_inv = p.try_inverse().expect("primitive lattice");
        // For every primitive atom: the first atom of its orbit and an operation
        // (Cartesian rotation) taking that atom onto it.
        let mut rep: Vec<Option<(usize, Matrix3<f64>)>> = vec![None; np];
        for k in 0..np {
            if rep[k].is_some() {
                continue;
            }
            rep[k] = Some((k, Matrix3::identity()));
            for op in &h.operations {
                let w = Matrix3::from_fn(|r, c| op.w[r][c] as f64);
                let wp = p_inv * w * p;
                let x = wp * prim.frac[k] + p_inv * op.t;
                for j in 0..np {
                    if rep[j].is_none() && prim.species[j] == prim.species[k] {
                        let d = (x - prim.frac[j]).map(|v| v - v.round());
                        if prim.cart(&d).norm() < 1e-3 {
                            rep[j] = Some((k, op.rot));
                        }
                    }
                }
            }
        }
        let mut independent: Vec<usize> = rep.iter().map(|r| r.unwrap().0).collect();
        independent.sort_unstable();
        independent.dedup();
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
        Ok(Nac {
            charges,
            epsilon: Matrix3::from_fn(|r, c| born.epsilon[r][c]),
            reciprocal: prim.lattice.try_inverse().expect("lattice").transpose(),
            volume: prim.volume(),
            masses: prim.masses.clone(),
            n_cells: (h.supercell.cell.len() / np) as f64,
            pairs,
        })
    }

    /// Add the correction to D(q) (q in primitive reciprocal fractional coordinates).
    /// At Γ itself the direction is undefined and nothing is added, as in phonopy.
    pub fn add(&self, d: &mut DMatrix<C64>, q: &Vector3<f64>) {
        let qc = self.reciprocal.transpose() * q;
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
