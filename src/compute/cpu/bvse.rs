//! CPU twin of `shaders/bvse.wgsl`: the energy of a probe ion at every point of a
//! periodic grid, as a sum of pair terms over the atoms near the point's block.

use rayon::prelude::*;

use crate::compute::batch::{EnergyGrid, GRID_BLOCK, grid_term};

/// Energies (eV) at every grid point, k fastest: `out[(i * nb + j) * nc + k]`.
pub fn site_energies(g: &EnergyGrid) -> Vec<f32> {
    let [na, nb, nc] = g.n;
    let [ba, bb, bc] = g.blocks();
    let rc2 = g.cutoff_a * g.cutoff_a;
    let mut out = vec![0.0f32; g.points()];
    // One task per block of 'a' planes; each writes its own rows of the output.
    let plane = nb * nc;
    out.par_chunks_mut(GRID_BLOCK * plane)
        .enumerate()
        .for_each(|(bi, rows)| {
            for bj in 0..bb {
                for bk in 0..bc {
                    let block = (bi * bb + bj) * bc + bk;
                    let cands =
                        &g.candidates[g.starts[block] as usize..g.starts[block + 1] as usize];
                    for di in 0..GRID_BLOCK {
                        let i = bi * GRID_BLOCK + di;
                        if i >= na {
                            break;
                        }
                        for dj in 0..GRID_BLOCK {
                            let j = bj * GRID_BLOCK + dj;
                            if j >= nb {
                                break;
                            }
                            for dk in 0..GRID_BLOCK {
                                let k = bk * GRID_BLOCK + dk;
                                if k >= nc {
                                    break;
                                }
                                let p = g.point([i, j, k]);
                                let mut e = 0.0f32;
                                for &c in cands {
                                    let atom = &g.atoms[c as usize];
                                    let d = [
                                        p[0] - atom.pos[0],
                                        p[1] - atom.pos[1],
                                        p[2] - atom.pos[2],
                                    ];
                                    let d2 = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
                                    if d2 < rc2 {
                                        e += grid_term(atom, d2.sqrt());
                                    }
                                }
                                rows[(di * nb + j) * nc + k] = e;
                            }
                        }
                    }
                }
            }
        });
    let _ = ba;
    out
}
