//! CPU twin of `shaders/bvse.wgsl`: the energy of a probe ion at every point of a
//! periodic grid, as a sum of pair terms over the atoms near the point's block.
//!
//! Per block, the candidates are split by kind into structure-of-arrays buffers so the
//! inner loops run eight atoms at a time without branches (AVX2 when the CPU has it,
//! checked at run time): a term beyond the cutoff is computed and multiplied by zero.
//! exp is evaluated by `exp_fast` (Cody-Waite reduction and a degree-6 polynomial,
//! within 4e-7 relative of f32::exp), so the loops vectorise; the shader uses the GPU's exp.
//! The sums therefore differ from the shader's in the last bits, well inside the
//! tolerance the tests compare with (1e-5 relative).

use rayon::prelude::*;

use crate::compute::batch::{EnergyGrid, GRID_BLOCK};

/// exp(x) for f32 in plain arithmetic (vectorisable): x = k ln 2 + r, |r| <= ln2/2,
/// exp(r) by its Taylor polynomial to r^6, 2^k by the exponent bits. Inputs are
/// clamped to [-87, 88] (no infinities or denormals).
#[inline(always)]
pub(crate) fn exp_fast(x: f32) -> f32 {
    let x = if x < -87.0 {
        -87.0
    } else if x > 88.0 {
        88.0
    } else {
        x
    };
    // x / ln 2 rounded to the nearest integer k by adding 1.5 * 2^23: k sits in the low
    // mantissa bits of t, read as an integer without a float-to-int conversion (which
    // Rust saturates, a branch that keeps the loop from vectorising).
    const SHIFTER: f32 = 12_582_912.0;
    let t = x * std::f32::consts::LOG2_E + SHIFTER;
    let k = t - SHIFTER;
    let r = (x - k * 0.693_145_75) - k * 1.428_606_8e-6;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (0.166_666_67
                    + r * (0.041_666_668 + r * (0.008_333_334 + r * 0.001_388_889)))));
    let ki = (t.to_bits() as i32).wrapping_sub(0x4B40_0000);
    p * f32::from_bits((ki.wrapping_add(127) as u32) << 23)
}

/// Candidates of one block, by kind, as arrays padded to a multiple of 8 with atoms
/// placed far away (whose terms the cutoff mask zeroes).
#[derive(Default)]
struct BlockAtoms {
    mx: Vec<f32>,
    my: Vec<f32>,
    mz: Vec<f32>,
    rmin: Vec<f32>,
    alpha: Vec<f32>,
    d0: Vec<f32>,
    cx: Vec<f32>,
    cy: Vec<f32>,
    cz: Vec<f32>,
    pref: Vec<f32>,
    inv_s: Vec<f32>,
}

const FAR: f32 = 1.0e6;

impl BlockAtoms {
    fn fill(&mut self, g: &EnergyGrid, cands: &[u32]) {
        for v in [
            &mut self.mx,
            &mut self.my,
            &mut self.mz,
            &mut self.rmin,
            &mut self.alpha,
            &mut self.d0,
            &mut self.cx,
            &mut self.cy,
            &mut self.cz,
            &mut self.pref,
            &mut self.inv_s,
        ] {
            v.clear();
        }
        for &c in cands {
            let a = &g.atoms[c as usize];
            if a.kind == 0 {
                self.mx.push(a.pos[0]);
                self.my.push(a.pos[1]);
                self.mz.push(a.pos[2]);
                self.rmin.push(a.a);
                self.alpha.push(a.b);
                self.d0.push(a.c);
            } else {
                self.cx.push(a.pos[0]);
                self.cy.push(a.pos[1]);
                self.cz.push(a.pos[2]);
                self.pref.push(a.a);
                self.inv_s.push(a.b);
            }
        }
        while self.mx.len() % 8 != 0 {
            self.mx.push(FAR);
            self.my.push(FAR);
            self.mz.push(FAR);
            self.rmin.push(0.0);
            self.alpha.push(0.0);
            self.d0.push(0.0);
        }
        while self.cx.len() % 8 != 0 {
            self.cx.push(FAR);
            self.cy.push(FAR);
            self.cz.push(FAR);
            self.pref.push(0.0);
            self.inv_s.push(0.0);
        }
    }
}

/// The sum at one point over a block's atoms (eight lanes of partial sums, folded at
/// the end in a fixed order).
#[inline(always)]
fn point_energy(b: &BlockAtoms, p: [f32; 3], rc2: f32) -> f32 {
    let mut acc = [0.0f32; 8];
    for c in (0..b.mx.len()).step_by(8) {
        for l in 0..8 {
            let i = c + l;
            let dx = p[0] - b.mx[i];
            let dy = p[1] - b.my[i];
            let dz = p[2] - b.mz[i];
            let d2 = dx * dx + dy * dy + dz * dz;
            let r = d2.sqrt();
            let r = if r < 1e-4 { 1e-4 } else { r };
            let e = exp_fast(b.alpha[i] * (b.rmin[i] - r)) - 1.0;
            let t = 0.5 * b.d0[i] * (e * e - 1.0);
            acc[l] += if d2 < rc2 { t } else { 0.0 };
        }
    }
    for c in (0..b.cx.len()).step_by(8) {
        for l in 0..8 {
            let i = c + l;
            let dx = p[0] - b.cx[i];
            let dy = p[1] - b.cy[i];
            let dz = p[2] - b.cz[i];
            let d2 = dx * dx + dy * dy + dz * dz;
            let r = d2.sqrt();
            let r = if r < 1e-4 { 1e-4 } else { r };
            let x = b.inv_s[i] * r;
            let t = 1.0 / (1.0 + 0.327_591_1 * x);
            let poly = t
                * (0.254_829_6
                    + t * (-0.284_496_74
                        + t * (1.421_413_8 + t * (-1.453_152_1 + t * 1.061_405_4))));
            let term = b.pref[i] / r * poly * exp_fast(-x * x);
            acc[l] += if d2 < rc2 { term } else { 0.0 };
        }
    }
    ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]))
}

/// One block of planes along a (GRID_BLOCK of them) into `rows`.
fn slab(g: &EnergyGrid, bi: usize, rows: &mut [f32], simd: bool) {
    let [na, nb, nc] = g.n;
    let [_, bb, bc] = g.blocks();
    let rc2 = g.cutoff_a * g.cutoff_a;
    let mut atoms = BlockAtoms::default();
    for bj in 0..bb {
        for bk in 0..bc {
            let block = (bi * bb + bj) * bc + bk;
            atoms.fill(
                g,
                &g.candidates[g.starts[block] as usize..g.starts[block + 1] as usize],
            );
            for di in 0..GRID_BLOCK {
                let i = bi * GRID_BLOCK + di;
                if i >= na {
                    break;
                }
                for j in bj * GRID_BLOCK..((bj + 1) * GRID_BLOCK).min(nb) {
                    for k in bk * GRID_BLOCK..((bk + 1) * GRID_BLOCK).min(nc) {
                        let p = g.point([i, j, k]);
                        #[cfg(target_arch = "x86_64")]
                        if simd {
                            // SAFETY: `simd` is set only where the CPU has AVX2.
                            rows[(di * nb + j) * nc + k] =
                                unsafe { point_energy_avx2(&atoms, p, rc2) };
                            continue;
                        }
                        let _ = simd;
                        rows[(di * nb + j) * nc + k] = point_energy(&atoms, p, rc2);
                    }
                }
            }
        }
    }
}

/// [`point_energy`] in AVX2 registers: the same operations lane for lane (no fused
/// multiply-adds), so the same sums bit for bit.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn point_energy_avx2(b: &BlockAtoms, p: [f32; 3], rc2: f32) -> f32 {
    use std::arch::x86_64::*;
    let set = |x: f32| _mm256_set1_ps(x);
    let (px, py, pz) = (set(p[0]), set(p[1]), set(p[2]));
    let rc2v = set(rc2);
    let tiny = set(1e-4);
    let one = set(1.0);
    // SAFETY (all loads): `c + 8 <= len` for every array of the block (padded to 8).
    let load = |v: &[f32], c: usize| unsafe { _mm256_loadu_ps(v.as_ptr().add(c)) };
    let exp8 = |x: __m256| -> __m256 {
        let x = _mm256_min_ps(_mm256_max_ps(x, set(-87.0)), set(88.0));
        let shifter = set(12_582_912.0);
        let t = _mm256_add_ps(_mm256_mul_ps(x, set(std::f32::consts::LOG2_E)), shifter);
        let k = _mm256_sub_ps(t, shifter);
        let r = _mm256_sub_ps(
            _mm256_sub_ps(x, _mm256_mul_ps(k, set(0.693_145_75))),
            _mm256_mul_ps(k, set(1.428_606_8e-6)),
        );
        let mut q = set(0.001_388_889);
        for c in [0.008_333_334, 0.041_666_668, 0.166_666_67, 0.5, 1.0, 1.0] {
            q = _mm256_add_ps(set(c), _mm256_mul_ps(r, q));
        }
        let ki = _mm256_sub_epi32(_mm256_castps_si256(t), _mm256_set1_epi32(0x4B40_0000));
        let bits = _mm256_slli_epi32::<23>(_mm256_add_epi32(ki, _mm256_set1_epi32(127)));
        _mm256_mul_ps(q, _mm256_castsi256_ps(bits))
    };
    let dist = |x: __m256, y: __m256, z: __m256| {
        let (dx, dy, dz) = (
            _mm256_sub_ps(px, x),
            _mm256_sub_ps(py, y),
            _mm256_sub_ps(pz, z),
        );
        _mm256_add_ps(
            _mm256_add_ps(_mm256_mul_ps(dx, dx), _mm256_mul_ps(dy, dy)),
            _mm256_mul_ps(dz, dz),
        )
    };
    let mut acc = _mm256_setzero_ps();
    for c in (0..b.mx.len()).step_by(8) {
        let d2 = dist(load(&b.mx, c), load(&b.my, c), load(&b.mz, c));
        let r = _mm256_sqrt_ps(d2);
        let r = _mm256_blendv_ps(r, tiny, _mm256_cmp_ps::<_CMP_LT_OQ>(r, tiny));
        let e = _mm256_sub_ps(
            exp8(_mm256_mul_ps(
                load(&b.alpha, c),
                _mm256_sub_ps(load(&b.rmin, c), r),
            )),
            one,
        );
        let t = _mm256_mul_ps(
            _mm256_mul_ps(set(0.5), load(&b.d0, c)),
            _mm256_sub_ps(_mm256_mul_ps(e, e), one),
        );
        let inside = _mm256_cmp_ps::<_CMP_LT_OQ>(d2, rc2v);
        acc = _mm256_add_ps(acc, _mm256_and_ps(t, inside));
    }
    for c in (0..b.cx.len()).step_by(8) {
        let d2 = dist(load(&b.cx, c), load(&b.cy, c), load(&b.cz, c));
        let r = _mm256_sqrt_ps(d2);
        let r = _mm256_blendv_ps(r, tiny, _mm256_cmp_ps::<_CMP_LT_OQ>(r, tiny));
        let x = _mm256_mul_ps(load(&b.inv_s, c), r);
        let t = _mm256_div_ps(one, _mm256_add_ps(one, _mm256_mul_ps(set(0.327_591_1), x)));
        let mut poly = set(1.061_405_4);
        for k in [-1.453_152_1, 1.421_413_8, -0.284_496_74, 0.254_829_6] {
            poly = _mm256_add_ps(set(k), _mm256_mul_ps(t, poly));
        }
        let poly = _mm256_mul_ps(t, poly);
        let ex = exp8(_mm256_sub_ps(_mm256_setzero_ps(), _mm256_mul_ps(x, x)));
        let term = _mm256_mul_ps(_mm256_mul_ps(_mm256_div_ps(load(&b.pref, c), r), poly), ex);
        let inside = _mm256_cmp_ps::<_CMP_LT_OQ>(d2, rc2v);
        acc = _mm256_add_ps(acc, _mm256_and_ps(term, inside));
    }
    let mut lanes = [0.0f32; 8];
    // SAFETY: `lanes` holds eight floats.
    unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), acc) };
    ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3]))
        + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]))
}

/// Energies (eV) at every grid point, k fastest: `out[(i * nb + j) * nc + k]`.
pub fn site_energies(g: &EnergyGrid) -> Vec<f32> {
    #[cfg(target_arch = "x86_64")]
    let simd = std::arch::is_x86_feature_detected!("avx2");
    #[cfg(not(target_arch = "x86_64"))]
    let simd = false;
    site_energies_with(g, simd)
}

/// [`site_energies`] with the AVX2 path on or off (the two agree bit for bit).
pub(crate) fn site_energies_with(g: &EnergyGrid, simd: bool) -> Vec<f32> {
    let plane = g.n[1] * g.n[2];
    let mut out = vec![0.0f32; g.points()];
    out.par_chunks_mut(GRID_BLOCK * plane)
        .enumerate()
        .for_each(|(bi, rows)| slab(g, bi, rows, simd));
    out
}

#[cfg(test)]
mod tests {
    use super::exp_fast;
    use crate::compute::batch::{EnergyGrid, GridAtom};

    #[test]
    fn the_avx2_path_gives_the_scalar_sums_bit_for_bit() {
        // Seven atoms of both kinds (not a multiple of 8: padding lanes too).
        let mut atoms = Vec::new();
        for i in 0..7u32 {
            let f = i as f32;
            atoms.push(GridAtom {
                pos: [0.7 * f, 1.3 * (f % 3.0), 2.1 - 0.4 * f],
                kind: i % 2,
                a: if i % 2 == 0 { 2.1 } else { 9.0 + f },
                b: if i % 2 == 0 { 1.9 } else { 0.45 },
                c: 0.9,
                _pad: 0.0,
            });
        }
        let blocks = 2 * 2 * 2;
        let g = EnergyGrid {
            lattice: [[5.0, 0.0, 0.0], [0.8, 5.5, 0.0], [0.3, -0.6, 6.0]],
            n: [7, 6, 5],
            cutoff_a: 4.0,
            atoms,
            starts: (0..=blocks).map(|b| 7 * b as u32).collect(),
            candidates: (0..blocks).flat_map(|_| 0..7u32).collect(),
        };
        let scalar = super::site_energies_with(&g, false);
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            assert_eq!(super::site_energies_with(&g, true), scalar);
        }
        assert!(scalar.iter().all(|e| e.is_finite()) && scalar.iter().any(|&e| e != 0.0));
    }

    #[test]
    fn exp_fast_is_within_4e_7_of_exp() {
        let mut x = -87.0f32;
        while x < 88.0 {
            let (a, b) = (exp_fast(x), x.exp());
            assert!(((a - b) / b).abs() < 4e-7, "exp({x}): {a} vs {b}");
            x += 0.013;
        }
    }
}
