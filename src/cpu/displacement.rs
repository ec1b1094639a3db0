//! CPU twin of `shaders/displacement.wgsl`: the same arithmetic in the same order.

use ndarray::{Array2, Array3, ArrayView2, ArrayView3, Axis, Zip};
use rayon::prelude::*;

use crate::engine::{FracTrajectory, LongSteps, Unwrapped};

/// Determinant of a 3x3 matrix.
pub fn det3(m: ArrayView2<f32>) -> f64 {
    let a = |i: usize, j: usize| m[[i, j]] as f64;
    a(0, 0) * (a(1, 1) * a(2, 2) - a(1, 2) * a(2, 1)) - a(0, 1) * (a(1, 0) * a(2, 2) - a(1, 2) * a(2, 0))
        + a(0, 2) * (a(1, 0) * a(2, 1) - a(1, 1) * a(2, 0))
}

/// Inverses of each cell, computed in f64 and stored as f32 (both backends use these).
pub(crate) fn inverse_cells(cells: ArrayView3<f32>) -> Array3<f32> {
    let mut inv = Array3::<f32>::zeros(cells.raw_dim());
    for (m, mut out) in cells.outer_iter().zip(inv.outer_iter_mut()) {
        let det = det3(m);
        let a = |i: usize, j: usize| m[[i, j]] as f64;
        for i in 0..3 {
            for j in 0..3 {
                // adjugate: cofactor of (j, i)
                let (r0, r1) = ((j + 1) % 3, (j + 2) % 3);
                let (c0, c1) = ((i + 1) % 3, (i + 2) % 3);
                out[[i, j]] = ((a(r0, c0) * a(r1, c1) - a(r0, c1) * a(r1, c0)) / det) as f32;
            }
        }
    }
    inv
}

/// v · M in the shader's order: for each output j, ((0 + v0 m0j) + v1 m1j) + v2 m2j.
#[inline]
fn row_times(v: [f32; 3], m: &[f32; 9]) -> [f32; 3] {
    let mut out = [0.0f32; 3];
    for (j, o) in out.iter_mut().enumerate() {
        let mut acc = 0.0f32;
        for i in 0..3 {
            acc += v[i] * m[i * 3 + j];
        }
        *o = acc;
    }
    out
}

#[inline]
fn sub(a: [f32; 3], b: [f32; 3]) -> [f32; 3] {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

#[inline]
fn dot(a: [f32; 3], b: [f32; 3]) -> f32 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

fn flat9(m: ArrayView2<f32>) -> [f32; 9] {
    let mut out = [0.0; 9];
    for (o, v) in out.iter_mut().zip(m.iter()) {
        *o = *v;
    }
    out
}

/// Cartesian positions of frame 0.
pub(crate) fn origin(traj: &FracTrajectory) -> Array2<f32> {
    let n = traj.frac.shape()[1];
    let mut out = Array2::<f32>::zeros((n, 3));
    if traj.frac.shape()[0] == 0 {
        return out;
    }
    let cell = flat9(traj.cell(0));
    for (s, mut o) in traj.frac.index_axis(Axis(0), 0).outer_iter().zip(out.outer_iter_mut()) {
        let x = row_times([s[0], s[1], s[2]], &cell);
        o.assign(&ndarray::ArrayView1::from(&x));
    }
    out
}

/// Reduce per-atom (count, max len² bits, frame) statistics to the report.
pub(crate) fn long_steps_from_stats(stats: &[[u32; 4]]) -> LongSteps {
    let mut out = LongSteps::default();
    let mut worst2 = 0.0f32;
    for (a, st) in stats.iter().enumerate() {
        out.count += st[0] as u64;
        let l2 = f32::from_bits(st[1]);
        if st[0] > 0 && l2 > worst2 {
            worst2 = l2;
            out.worst_atom = a;
            out.worst_frame = st[2] as usize;
        }
    }
    out.worst_a = worst2.sqrt();
    out
}

/// Unwrap: per atom, minimum-image steps in the current frame's cell (27-image search
/// for triclinic cells), Kahan-summed into displacements from frame 0.
pub fn unwrap(traj: &FracTrajectory, long_step_a: f32) -> Unwrapped {
    let (t_total, n, _) = traj.frac.dim();
    let origin = origin(traj);
    let mut disp = Array3::<f32>::zeros((t_total, n, 3));
    if t_total == 0 || n == 0 {
        return Unwrapped { disp, origin, long_steps: Default::default() };
    }
    let cells: Vec<[f32; 9]> = traj.cells.outer_iter().map(flat9).collect();
    let invs: Vec<[f32; 9]> = inverse_cells(traj.cells).outer_iter().map(flat9).collect();
    let per_frame = cells.len() > 1;
    let orthogonal = traj.orthogonal();
    let long2 = long_step_a * long_step_a;
    let frac = traj.frac;
    // Atoms in blocks (parallel); frames in order within a block.
    const BLOCK: usize = 64;
    let stats: Vec<[u32; 4]> = disp
        .axis_chunks_iter_mut(Axis(1), BLOCK)
        .into_par_iter()
        .enumerate()
        .flat_map_iter(|(blk, mut out)| {
            let a0 = blk * BLOCK;
            let na = out.shape()[1];
            let mut prev = vec![[0.0f32; 3]; na];
            let mut sum = vec![[0.0f32; 3]; na];
            let mut comp = vec![[0.0f32; 3]; na];
            let mut st = vec![[0u32; 4]; na];
            for t in 0..t_total {
                let ci = if per_frame { t } else { 0 };
                let (cell, inv) = (&cells[ci], &invs[ci]);
                for j in 0..na {
                    let s = frac.slice(ndarray::s![t, a0 + j, ..]);
                    let x = row_times([s[0], s[1], s[2]], cell);
                    if t == 0 {
                        prev[j] = x;
                        continue;
                    }
                    let f = row_times(sub(x, prev[j]), inv);
                    let mut g = [0.0f32; 3];
                    for ax in 0..3 {
                        g[ax] = f[ax] - f[ax].round_ties_even();
                    }
                    if !orthogonal {
                        let mut best = g;
                        let v0 = row_times(g, cell);
                        let mut bestl = dot(v0, v0);
                        for e in 0..27u32 {
                            let shift = [(e / 9) as f32 - 1.0, ((e / 3) % 3) as f32 - 1.0, (e % 3) as f32 - 1.0];
                            let h = sub(g, shift);
                            let v = row_times(h, cell);
                            let l = dot(v, v);
                            if l < bestl {
                                bestl = l;
                                best = h;
                            }
                        }
                        g = best;
                    }
                    let step = row_times(g, cell);
                    for ax in 0..3 {
                        let y = step[ax] - comp[j][ax];
                        let tot = sum[j][ax] + y;
                        comp[j][ax] = (tot - sum[j][ax]) - y;
                        sum[j][ax] = tot;
                        out[[t, j, ax]] = tot;
                    }
                    prev[j] = x;
                    let l2 = dot(step, step);
                    if l2 > long2 {
                        st[j][0] += 1;
                        if l2 > f32::from_bits(st[j][1]) {
                            st[j][1] = l2.to_bits();
                            st[j][2] = t as u32;
                        }
                    }
                }
            }
            st
        })
        .collect();
    Unwrapped { disp, origin, long_steps: long_steps_from_stats(&stats) }
}

/// For each lag: sums over origins and atoms of the squared displacement per axis.
pub fn windowed_sq_disp(disp: ArrayView3<f32>, lags: &[usize]) -> Array2<f64> {
    let t = disp.shape()[0];
    let disp = disp.as_standard_layout();
    let rows: Vec<[f64; 3]> = lags
        .par_iter()
        .map(|&lag| {
            let mut acc = [0.0f64; 3];
            for t0 in 0..t.saturating_sub(lag) {
                let a = disp.index_axis(Axis(0), t0);
                let b = disp.index_axis(Axis(0), t0 + lag);
                let (a, b) = (a.as_slice().unwrap(), b.as_slice().unwrap());
                let mut part = [0.0f32; 3];
                for (pa, pb) in a.chunks_exact(3).zip(b.chunks_exact(3)) {
                    for ax in 0..3 {
                        let d = pb[ax] - pa[ax];
                        part[ax] += d * d;
                    }
                }
                for ax in 0..3 {
                    acc[ax] += part[ax] as f64;
                }
            }
            acc
        })
        .collect();
    let mut out = Array2::<f64>::zeros((lags.len(), 3));
    Zip::from(out.rows_mut()).and(&ndarray::Array1::from(rows)).for_each(|mut o, r| {
        o.assign(&ndarray::ArrayView1::from(r));
    });
    out
}
