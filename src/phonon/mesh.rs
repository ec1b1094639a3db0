//! Phonons on a q-point mesh: dynamical matrices (all q-points in parallel),
//! Hermitian eigen-solves, symmetry reduction of the mesh, and the density of states
//! by the linear tetrahedron method (phonopy's default) or Gaussian smearing, total
//! and projected on every primitive atom (or every element).

use std::f64::consts::PI;

use nalgebra::{DMatrix, Matrix3, Vector3};
use rayon::prelude::*;

use super::harmonic::{Cell, Harmonic, Pair};
use super::nac::Nac;
use crate::error::{Error, Result};

/// √(eV/Å²/amu) in THz: phonopy's VASP-to-THz factor.
pub(crate) const TO_THZ: f64 = 15.633302;

type C64 = nalgebra::Complex<f64>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DosMethod {
    Tetrahedron,
    Gaussian,
}

/// What the projected DOS resolves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolve {
    /// One column per primitive atom (phonopy's projected_dos.dat).
    Atoms,
    /// One column per element (enough for screening; needs no atom permutations).
    Elements,
}

#[derive(Debug, Clone)]
pub struct MeshOptions {
    pub mesh: [usize; 3],
    /// Include Γ for even meshes; phonopy's default (false) shifts even meshes by half
    /// a step, Monkhorst-Pack style.
    pub gamma_center: bool,
    pub method: DosMethod,
    /// Gaussian width (THz); default (max − min frequency) / 100 as phonopy.
    pub sigma: Option<f64>,
    pub resolve: Resolve,
    /// Reduce the mesh by the point group and time reversal.
    pub symmetry: bool,
    /// Number of DOS points (phonopy: 201).
    pub points: usize,
    /// Show a progress bar over the q-points (on a terminal).
    pub progress: bool,
}

impl Default for MeshOptions {
    fn default() -> Self {
        MeshOptions {
            mesh: [20, 20, 20],
            gamma_center: false,
            method: DosMethod::Tetrahedron,
            sigma: None,
            resolve: Resolve::Atoms,
            symmetry: true,
            points: 201,
            progress: false,
        }
    }
}

/// The DOS computed on a mesh.
#[derive(Debug, Clone)]
pub struct MeshDos {
    pub freqs_thz: Vec<f64>,
    pub total: Vec<f64>,
    /// Per primitive atom or per element (see `labels`).
    pub projected: Vec<Vec<f64>>,
    pub labels: Vec<String>,
    pub n_qpoints: usize,
    pub n_irreducible: usize,
    pub min_frequency: f64,
    pub max_frequency: f64,
    /// Fraction of all modes on the mesh with imaginary frequency (below −0.01 THz).
    pub imaginary_fraction: f64,
}

/// Dynamical matrix at q (primitive reciprocal fractional coordinates), Hermitian.
pub fn dynamical_matrix(pairs: &[Pair], n_prim: usize, q: &Vector3<f64>) -> DMatrix<C64> {
    let n = 3 * n_prim;
    let mut d = DMatrix::<C64>::zeros(n, n);
    for pr in pairs {
        let mut ph = C64::new(0.0, 0.0);
        for v in &pr.images {
            let a = 2.0 * PI * q.dot(v);
            ph += C64::new(a.cos(), a.sin());
        }
        ph /= pr.images.len() as f64;
        for a in 0..3 {
            for b in 0..3 {
                d[(3 * pr.p + a, 3 * pr.q + b)] += ph * pr.fc[(a, b)];
            }
        }
    }
    let dh = d.adjoint();
    (d + dh) * C64::new(0.5, 0.0)
}

/// Frequencies (THz, imaginary as negative) and per-atom weights |e|² of every band,
/// bands in ascending order. faer's Hermitian eigensolver above 32 × 32 (several times
/// faster than nalgebra's from about 100 × 100), nalgebra's below.
pub fn solve(d: DMatrix<C64>, n_prim: usize) -> (Vec<f64>, Vec<f64>) {
    // superion parallelises over q-points; each solve runs on one thread.
    static SEQ: std::sync::Once = std::sync::Once::new();
    SEQ.call_once(|| faer::set_global_parallelism(faer::Par::Seq));
    let n = d.nrows();
    let to_freq = |l: f64| l.signum() * l.abs().sqrt() * TO_THZ;
    let mut w = vec![0.0; n * n_prim];
    if n > 32 {
        let a = faer::Mat::<faer::c64>::from_fn(n, n, |i, j| {
            let z = d[(i, j)];
            faer::c64::new(z.re, z.im)
        });
        if let Ok(e) = a.self_adjoint_eigen(faer::Side::Lower) {
            // faer returns eigenvalues in ascending order.
            let vals = e.S().column_vector();
            let u = e.U();
            let freqs = (0..n).map(|i| to_freq(vals[i].re)).collect();
            for b in 0..n {
                for p in 0..n_prim {
                    w[b * n_prim + p] = (0..3).map(|a| u[(3 * p + a, b)].norm_sqr()).sum();
                }
            }
            return (freqs, w);
        }
    }
    let eig = d.symmetric_eigen();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| eig.eigenvalues[a].total_cmp(&eig.eigenvalues[b]));
    let freqs = order.iter().map(|&i| to_freq(eig.eigenvalues[i])).collect();
    for (b, &i) in order.iter().enumerate() {
        let col = eig.eigenvectors.column(i);
        for p in 0..n_prim {
            w[b * n_prim + p] = (0..3).map(|a| col[3 * p + a].norm_sqr()).sum();
        }
    }
    (freqs, w)
}

/// A point-group operation in the primitive basis: how it moves q-points (W⁻ᵀ,
/// fractional reciprocal) and atoms.
struct PointOp {
    w_inv_t: Matrix3<f64>,
    atom_map: Vec<usize>,
}

fn point_ops(h: &Harmonic) -> Result<Vec<PointOp>> {
    let prim = &h.primitive.cell;
    let mut out: Vec<PointOp> = Vec::new();
    let mut seen: Vec<Matrix3<f64>> = Vec::new();
    for op in &h.operations {
        let (wp, tp) = h.primitive_operation(op);
        if wp.iter().any(|x| (x - x.round()).abs() > 1e-6) {
            continue; // not a symmetry of the primitive lattice (cannot happen for a true primitive cell)
        }
        let wp = wp.map(f64::round);
        if seen.iter().any(|s| s == &wp) {
            continue;
        }
        let mut atom_map = Vec::with_capacity(prim.len());
        for k in 0..prim.len() {
            let x = wp * prim.frac[k] + tp;
            let hit = h.primitive_atom_at(&x, &prim.species[k]);
            match hit {
                Some(j) => atom_map.push(j),
                None => {
                    return Err(Error::InvalidInput(
                        "a symmetry operation does not map the primitive cell onto itself".into(),
                    ));
                }
            }
        }
        seen.push(wp);
        out.push(PointOp {
            w_inv_t: wp.try_inverse().expect("unimodular").transpose(),
            atom_map,
        });
    }
    Ok(out)
}

/// The mesh's irreducible points: for every grid point, its irreducible point and the
/// atom map taking the irreducible point's atoms to this point's.
struct Reduction {
    irreducible: Vec<usize>,
    of: Vec<usize>,
    map: Vec<Option<usize>>, // index into maps (None: identity)
    maps: Vec<Vec<usize>>,
}

fn address(mesh: &[usize; 3], a: &[i64; 3]) -> usize {
    let m = mesh.map(|x| x as i64);
    ((a[2].rem_euclid(m[2]) * m[1] + a[1].rem_euclid(m[1])) * m[0] + a[0].rem_euclid(m[0])) as usize
}

fn grid_point(mesh: &[usize; 3], shift: &[i64; 3], g: usize) -> [i64; 3] {
    let (n0, n1) = (mesh[0], mesh[1]);
    let a = [
        (g % n0) as i64,
        ((g / n0) % n1) as i64,
        (g / (n0 * n1)) as i64,
    ];
    // doubled coordinates 2a + s
    [
        2 * a[0] + shift[0],
        2 * a[1] + shift[1],
        2 * a[2] + shift[2],
    ]
}

fn reduce(mesh: &[usize; 3], shift: &[i64; 3], ops: &[PointOp], use_symmetry: bool) -> Reduction {
    let nq = mesh.iter().product::<usize>();
    // q' = W⁻ᵀ q in doubled grid units: d'ᵢ = nᵢ Σⱼ Mᵢⱼ dⱼ / nⱼ.
    let map_point = |op: &Matrix3<f64>, sign: f64, d: &[i64; 3]| -> Option<[i64; 3]> {
        let mut out = [0i64; 3];
        for i in 0..3 {
            let x: f64 = (0..3)
                .map(|j| op[(i, j)] * d[j] as f64 / mesh[j] as f64)
                .sum::<f64>()
                * mesh[i] as f64
                * sign;
            let r = x.round();
            if (x - r).abs() > 1e-8 || (r as i64 - shift[i]).rem_euclid(2) != 0 {
                return None;
            }
            out[i] = r as i64;
        }
        Some(out)
    };
    let to_index = |d: &[i64; 3]| address(mesh, &std::array::from_fn(|i| (d[i] - shift[i]) / 2));
    // Operations (with and without time reversal) that keep the mesh.
    let mut valid: Vec<(usize, f64)> = Vec::new();
    if use_symmetry {
        for (k, op) in ops.iter().enumerate() {
            for sign in [1.0, -1.0] {
                if (0..nq)
                    .all(|g| map_point(&op.w_inv_t, sign, &grid_point(mesh, shift, g)).is_some())
                {
                    valid.push((k, sign));
                }
            }
        }
    }
    let mut of = vec![usize::MAX; nq];
    let mut map = vec![None; nq];
    let mut irreducible = Vec::new();
    for g in 0..nq {
        if of[g] != usize::MAX {
            continue;
        }
        let r = irreducible.len();
        irreducible.push(g);
        of[g] = r;
        let d = grid_point(mesh, shift, g);
        for &(k, sign) in &valid {
            let d2 = map_point(&ops[k].w_inv_t, sign, &d).expect("checked");
            let g2 = to_index(&d2);
            if of[g2] == usize::MAX {
                of[g2] = r;
                map[g2] = Some(k);
            }
        }
    }
    Reduction {
        irreducible,
        of,
        map,
        maps: ops.iter().map(|o| o.atom_map.clone()).collect(),
    }
}

/// The 24 tetrahedra around a grid point: corner offsets and which corner it is.
fn tetrahedra(cell: &Cell, mesh: &[usize; 3]) -> Vec<([[i64; 3]; 4], usize)> {
    let rec = cell.lattice.try_inverse().expect("lattice").transpose(); // rows bᵢ (no 2π)
    let edge: Vec<Vector3<f64>> = (0..3)
        .map(|i| rec.row(i).transpose() / mesh[i] as f64)
        .collect();
    let signs = [[1, 1, 1], [-1, 1, 1], [1, -1, 1], [1, 1, -1]];
    let len = |s: &[i64; 3]| {
        (edge[0] * s[0] as f64 + edge[1] * s[1] as f64 + edge[2] * s[2] as f64).norm()
    };
    let s = signs
        .iter()
        .min_by(|a, b| len(a).total_cmp(&len(b)))
        .copied()
        .unwrap();
    let start: [i64; 3] = s.map(|x| if x > 0 { 0 } else { 1 });
    let perms = [
        [0, 1, 2],
        [0, 2, 1],
        [1, 0, 2],
        [1, 2, 0],
        [2, 0, 1],
        [2, 1, 0],
    ];
    let mut cube = Vec::new();
    for p in perms {
        let mut v = [start; 4];
        for step in 0..3 {
            v[step + 1] = v[step];
            v[step + 1][p[step]] += s[p[step]];
        }
        cube.push(v);
    }
    let mut out = Vec::new();
    for ox in [-1i64, 0] {
        for oy in [-1i64, 0] {
            for oz in [-1i64, 0] {
                let o = [ox, oy, oz];
                for t in &cube {
                    let corners = t.map(|v| [v[0] + o[0], v[1] + o[1], v[2] + o[2]]);
                    if let Some(ci) = corners.iter().position(|c| *c == [0, 0, 0]) {
                        out.push((corners, ci));
                    }
                }
            }
        }
    }
    debug_assert_eq!(out.len(), 24);
    out
}

/// DOS weight of one tetrahedron at ω (integrating to 1 over ω) and the share of
/// each (sorted) corner: the iso-frequency cross-section's area-weighted average of
/// the linear interpolation.
fn tetra_weight(e: &[f64; 4], w: f64) -> Option<(f64, [f64; 4])> {
    let [e1, e2, e3, e4] = *e;
    if w <= e1 || w >= e4 {
        return None;
    }
    if w <= e2 {
        let g = 3.0 * (w - e1).powi(2) / ((e2 - e1) * (e3 - e1) * (e4 - e1));
        let t = [
            (w - e1) / (e2 - e1),
            (w - e1) / (e3 - e1),
            (w - e1) / (e4 - e1),
        ];
        let c = [
            (3.0 - t[0] - t[1] - t[2]) / 3.0,
            t[0] / 3.0,
            t[1] / 3.0,
            t[2] / 3.0,
        ];
        Some((g, c))
    } else if w < e3 {
        let g = (3.0 * (e2 - e1) + 6.0 * (w - e2)
            - 3.0 * (e3 - e1 + e4 - e2) * (w - e2).powi(2) / ((e3 - e2) * (e4 - e2)))
            / ((e3 - e1) * (e4 - e1));
        // Quadrilateral on edges 1-3, 1-4, 2-4, 2-3, in barycentric space.
        let v = [
            Vector3::new(0.0, 0.0, 0.0),
            Vector3::new(1.0, 0.0, 0.0),
            Vector3::new(0.0, 1.0, 0.0),
            Vector3::new(0.0, 0.0, 1.0),
        ];
        let on = |a: usize, b: usize| {
            let t = (w - e[a]) / (e[b] - e[a]);
            let mut c = [0.0; 4];
            c[a] = 1.0 - t;
            c[b] = t;
            (v[a] * (1.0 - t) + v[b] * t, c)
        };
        let (p13, c13) = on(0, 2);
        let (p14, c14) = on(0, 3);
        let (p24, c24) = on(1, 3);
        let (p23, c23) = on(1, 2);
        let a1 = (p14 - p13).cross(&(p24 - p13)).norm();
        let a2 = (p24 - p13).cross(&(p23 - p13)).norm();
        let tot = (a1 + a2).max(1e-300);
        let mut c = [0.0; 4];
        for k in 0..4 {
            c[k] =
                (a1 * (c13[k] + c14[k] + c24[k]) + a2 * (c13[k] + c24[k] + c23[k])) / (3.0 * tot);
        }
        Some((g, c))
    } else {
        let g = 3.0 * (e4 - w).powi(2) / ((e4 - e1) * (e4 - e2) * (e4 - e3));
        let t = [
            (w - e4) / (e1 - e4),
            (w - e4) / (e2 - e4),
            (w - e4) / (e3 - e4),
        ];
        let c = [
            t[0] / 3.0,
            t[1] / 3.0,
            t[2] / 3.0,
            (3.0 - t[0] - t[1] - t[2]) / 3.0,
        ];
        Some((g, c))
    }
}

/// Phonons on the mesh and their DOS.
/// The largest q-mesh division along one axis.
pub(crate) const MAX_MESH_DIVISIONS: usize = 1000;
/// The most q-points a mesh may have (100 × 100 × 100: far beyond a converged DOS).
pub(crate) const MAX_MESH_POINTS: usize = 1_000_000;

pub(crate) fn mesh_dos(h: &Harmonic, nac: Option<&Nac>, opts: &MeshOptions) -> Result<MeshDos> {
    let mesh = opts.mesh;
    if mesh.iter().any(|&m| m == 0 || m > MAX_MESH_DIVISIONS)
        || mesh.iter().map(|&m| m as u128).product::<u128>() > MAX_MESH_POINTS as u128
    {
        return Err(Error::InvalidInput(format!(
            "mesh {mesh:?}: every division must be 1 to {MAX_MESH_DIVISIONS}, and the mesh at most {MAX_MESH_POINTS} q-points (100^3)"
        )));
    }
    let prim = &h.primitive.cell;
    let np = prim.len();
    let nb = 3 * np;
    let shift: [i64; 3] =
        std::array::from_fn(|i| i64::from(!opts.gamma_center && mesh[i] % 2 == 0));
    let ops = point_ops(h)?;
    let red = reduce(&mesh, &shift, &ops, opts.symmetry);
    let nq = mesh.iter().product::<usize>();
    // Channels of the projection.
    let (labels, chan_of_atom): (Vec<String>, Vec<usize>) = match opts.resolve {
        Resolve::Atoms => (
            (0..np)
                .map(|p| format!("{}{}", prim.species[p], p + 1))
                .collect(),
            (0..np).collect(),
        ),
        Resolve::Elements => {
            let mut els: Vec<String> = Vec::new();
            let idx = prim
                .species
                .iter()
                .map(|s| match els.iter().position(|e| e == s) {
                    Some(i) => i,
                    None => {
                        els.push(s.clone());
                        els.len() - 1
                    }
                })
                .collect();
            (els, idx)
        }
    };
    let nc = labels.len();
    // Solve at the irreducible points.
    let bar = opts
        .progress
        .then(|| crate::progress::bar(red.irreducible.len() as u64, "phonons on the mesh"));
    let solved: Vec<(Vec<f64>, Vec<f32>)> = red
        .irreducible
        .par_iter()
        .map(|&g| {
            // q in (−½, ½]: the dipole–dipole sum is not exactly periodic in q.
            let d2: [i64; 3] = std::array::from_fn(|i| {
                let d = grid_point(&mesh, &shift, g)[i];
                let n2 = 2 * mesh[i] as i64;
                if d > mesh[i] as i64 { d - n2 } else { d }
            });
            let q = Vector3::new(
                d2[0] as f64 / (2 * mesh[0]) as f64,
                d2[1] as f64 / (2 * mesh[1]) as f64,
                d2[2] as f64 / (2 * mesh[2]) as f64,
            );
            let pairs = nac.map_or(&h.pairs[..], |n| n.pairs(&h.pairs));
            let mut d = dynamical_matrix(pairs, np, &q);
            if let Some(nac) = nac {
                nac.add(&mut d, &q);
            }
            let (f, w) = solve(d, np);
            let mut pc = vec![0f32; nb * nc];
            for b in 0..nb {
                for p in 0..np {
                    pc[b * nc + chan_of_atom[p]] += w[b * np + p] as f32;
                }
            }
            if let Some(b) = &bar {
                b.inc(1);
            }
            (f, pc)
        })
        .collect();
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let freq = |g: usize, b: usize| solved[red.of[g]].0[b];
    let fmin = solved
        .iter()
        .flat_map(|s| s.0.iter())
        .copied()
        .fold(f64::INFINITY, f64::min);
    let fmax = solved
        .iter()
        .flat_map(|s| s.0.iter())
        .copied()
        .fold(f64::NEG_INFINITY, f64::max);
    let mut imag = 0usize;
    for g in 0..nq {
        imag += (0..nb).filter(|&b| freq(g, b) < -0.01).count();
    }
    // phonopy's frequency points: ±10σ margins, 200 steps.
    let sigma_default = (fmax - fmin) / 100.0;
    let sigma = opts.sigma.unwrap_or(sigma_default);
    let (f0, f1) = (fmin - 10.0 * sigma_default, fmax + 10.0 * sigma_default);
    let npts = opts.points.max(2);
    let df = (f1 - f0) / (npts - 1) as f64;
    let freqs_thz: Vec<f64> = (0..npts).map(|i| f0 + df * i as f64).collect();
    let tets = tetrahedra(prim, &mesh);
    let inv_maps: Vec<Vec<usize>> = red
        .maps
        .iter()
        .map(|m| {
            let mut inv = vec![0; m.len()];
            for (a, &b) in m.iter().enumerate() {
                inv[b] = a;
            }
            inv
        })
        .collect();
    let ngrid = |g: usize, off: &[i64; 3]| {
        let a = [
            (g % mesh[0]) as i64,
            ((g / mesh[0]) % mesh[1]) as i64,
            (g / (mesh[0] * mesh[1])) as i64,
        ];
        address(&mesh, &[a[0] + off[0], a[1] + off[1], a[2] + off[2]])
    };
    let weight = 1.0 / nq as f64;
    // Fixed chunks summed in order: the same DOS, bit for bit, on any number of threads.
    let chunk = 64;
    let partial: Vec<(Vec<f64>, Vec<Vec<f64>>)> = (0..nq)
        .into_par_iter()
        .chunks(chunk)
        .map(|gs| {
            let mut total = vec![0.0; npts];
            let mut proj = vec![vec![0.0; npts]; nc];
            let mut w = vec![0.0; npts];
            for g in gs {
                let (fs, pc) = &solved[red.of[g]];
                // channel c at g reads the irreducible point's channel inv(c)
                let chan: Vec<usize> = match (opts.resolve, red.map[g]) {
                    (Resolve::Atoms, Some(k)) => (0..nc).map(|c| inv_maps[k][c]).collect(),
                    _ => (0..nc).collect(),
                };
                for b in 0..nb {
                    w.iter_mut().for_each(|x| *x = 0.0);
                    let (mut lo, mut hi) = (npts, 0usize);
                    match opts.method {
                        DosMethod::Tetrahedron => {
                            for (corners, ci) in &tets {
                                let mut e = [0.0; 4];
                                for (m, c) in corners.iter().enumerate() {
                                    e[m] = freq(ngrid(g, c), b);
                                }
                                let mut idx = [0usize, 1, 2, 3];
                                idx.sort_by(|&x, &y| e[x].total_cmp(&e[y]));
                                let es = idx.map(|i| e[i]);
                                let me = idx.iter().position(|&i| i == *ci).unwrap();
                                let a = ((es[0] - f0) / df).ceil().max(0.0) as usize;
                                let z = (((es[3] - f0) / df).floor().max(-1.0) + 1.0) as usize;
                                for k in a..z.min(npts) {
                                    if let Some((gv, c)) = tetra_weight(&es, freqs_thz[k]) {
                                        w[k] += gv * c[me];
                                    }
                                }
                                lo = lo.min(a);
                                hi = hi.max(z.min(npts));
                            }
                            // 24 tetrahedra per point, each 1/6 of a sub-cell
                            for x in &mut w[lo.min(hi)..hi] {
                                *x *= weight / 6.0;
                            }
                        }
                        DosMethod::Gaussian => {
                            let f = fs[b];
                            let a = (((f - 6.0 * sigma) - f0) / df).ceil().max(0.0) as usize;
                            let z =
                                ((((f + 6.0 * sigma) - f0) / df).floor().max(-1.0) + 1.0) as usize;
                            let norm = weight / ((2.0 * PI).sqrt() * sigma);
                            for k in a..z.min(npts) {
                                let x = (freqs_thz[k] - f) / sigma;
                                w[k] = norm * (-0.5 * x * x).exp();
                            }
                            lo = a;
                            hi = z.min(npts);
                        }
                    }
                    for k in lo.min(hi)..hi {
                        total[k] += w[k];
                    }
                    for c in 0..nc {
                        let pw = pc[b * nc + chan[c]] as f64;
                        if pw == 0.0 {
                            continue;
                        }
                        let row = &mut proj[c];
                        for k in lo.min(hi)..hi {
                            row[k] += w[k] * pw;
                        }
                    }
                }
            }
            (total, proj)
        })
        .collect();
    let (mut total, mut projected) = (vec![0.0; npts], vec![vec![0.0; npts]; nc]);
    for (t2, p2) in &partial {
        total.iter_mut().zip(t2).for_each(|(a, b)| *a += b);
        for (r, r2) in projected.iter_mut().zip(p2) {
            r.iter_mut().zip(r2).for_each(|(a, b)| *a += b);
        }
    }
    Ok(MeshDos {
        freqs_thz,
        total,
        projected,
        labels,
        n_qpoints: nq,
        n_irreducible: red.irreducible.len(),
        min_frequency: fmin,
        max_frequency: fmax,
        imaginary_fraction: imag as f64 / (nq * nb) as f64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tetrahedron_weight_integrates_to_one_and_corner_shares_sum_to_one() {
        let e = [1.0, 1.7, 2.2, 4.0];
        let n = 200_000;
        let (a, b) = (0.5, 4.5);
        let h = (b - a) / n as f64;
        let mut total = 0.0;
        let mut corner = [0.0; 4];
        for k in 0..n {
            let w = a + (k as f64 + 0.5) * h;
            if let Some((g, c)) = tetra_weight(&e, w) {
                assert!((c.iter().sum::<f64>() - 1.0).abs() < 1e-12, "{c:?}");
                assert!(c.iter().all(|&x| x >= -1e-12));
                total += g * h;
                for i in 0..4 {
                    corner[i] += g * c[i] * h;
                }
            }
        }
        assert!((total - 1.0).abs() < 1e-6, "{total}");
        // Each corner carries a quarter of the states of a linear tetrahedron.
        for c in corner {
            assert!((c - 0.25).abs() < 1e-5, "{corner:?}");
        }
    }
}
