//! Host side of `shaders/kmeans.wgsl` (CPU twin: `crate::compute::cpu::kmeans`).

use ndarray::{Array2, Array3, s};

use super::{GpuContext, chunks};
use crate::compute::batch::{CHUNK, LloydBatch, LloydResult, pack_sets};
use crate::error::{Error, Result};

const SHADER: &str = include_str!("../../../shaders/kmeans.wgsl");

/// Lloyd iterations queued per submission before the host reads the `done` flags.
const ITERS_PER_SYNC: u32 = 8;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    n: u32,
    d: u32,
    kmax: u32,
    n_problems: u32,
    n_chunks: u32,
    max_iter: u32,
    final_pass: u32,
    _pad: u32,
}

pub fn lloyd(ctx: &GpuContext, batch: &LloydBatch) -> Result<LloydResult> {
    let (_, n, d) = batch.points.dim();
    let b_total = batch.k.len();
    let kmax = batch.kmax();
    let n_chunks = n.div_ceil(CHUNK).max(1);
    let mut result = LloydResult {
        labels: Array2::zeros((b_total, n)),
        centres: Array3::zeros((b_total, kmax, d)),
        inertia: vec![0.0; b_total],
        n_iter: vec![0; b_total],
    };
    if b_total == 0 {
        return Ok(result);
    }
    let entries = ["assign", "partial_sums", "update", "check"];
    let pipes: Vec<_> = entries
        .iter()
        .map(|e| ctx.pipeline("kmeans", SHADER, e))
        .collect::<Result<_>>()?;

    // The largest per-problem binding decides how many problems share one submission.
    let max_bind = ctx.max_binding();
    let per_problem = [n * d, n, n_chunks * kmax * (d + 1), kmax * d]
        .into_iter()
        .max()
        .unwrap() as u64
        * 4;
    if per_problem > max_bind {
        return Err(Error::TooLarge(format!(
            "one k-means problem of {n} points x {d} dims (k <= {kmax}) exceeds the \
             {max_bind}-byte binding limit; use option backend cpu"
        )));
    }
    for group in chunks(b_total, per_problem, max_bind) {
        let nb = group.len();
        let (sets, set_of) = pack_sets(batch.points, &batch.set_of[group.clone()]);
        let prob: Vec<[u32; 2]> = set_of
            .iter()
            .zip(&batch.k[group.clone()])
            .map(|(&s, &k)| [s, k])
            .collect();
        let init = batch
            .init
            .slice(s![group.clone(), .., ..])
            .as_standard_layout()
            .to_owned();

        let points = ctx.upload("points", &sets);
        let prob_buf = ctx.upload("prob", &prob);
        let centres = ctx.upload("centres", init.as_slice().unwrap());
        let labels = ctx.upload("labels", &vec![u32::MAX; nb * n]);
        let mindist = ctx.zeros("mindist", 4 * (nb * n) as u64);
        let partial = ctx.zeros("partial", 4 * (nb * n_chunks * kmax * (d + 1)) as u64);
        let state = ctx.zeros("state", 16 * nb as u64);
        let changed = ctx.zeros("changed", 4 * nb as u64);
        let tol = ctx.upload("tol", &batch.tol[group.clone()]);
        let shift = ctx.zeros("shift", 4 * (nb * kmax) as u64);

        let params = |final_pass| Params {
            n: n as u32,
            d: d as u32,
            kmax: kmax as u32,
            n_problems: nb as u32,
            n_chunks: n_chunks as u32,
            max_iter: batch.max_iter,
            final_pass,
            _pad: 0,
        };
        let iter_params = ctx.uniform(&params(0));
        let final_params = ctx.uniform(&params(1));
        let assign_bindings = |u| {
            vec![
                (0, u),
                (1, &points),
                (2, &prob_buf),
                (3, &centres),
                (4, &labels),
                (5, &mindist),
                (7, &state),
                (8, &changed),
            ]
        };
        let groups = [
            ctx.bind(&pipes[0], &assign_bindings(&iter_params)),
            ctx.bind(
                &pipes[1],
                &[
                    (0, &iter_params),
                    (1, &points),
                    (2, &prob_buf),
                    (4, &labels),
                    (6, &partial),
                    (7, &state),
                ],
            ),
            ctx.bind(
                &pipes[2],
                &[
                    (0, &iter_params),
                    (2, &prob_buf),
                    (3, &centres),
                    (6, &partial),
                    (7, &state),
                    (10, &shift),
                ],
            ),
            ctx.bind(
                &pipes[3],
                &[
                    (0, &iter_params),
                    (2, &prob_buf),
                    (7, &state),
                    (8, &changed),
                    (9, &tol),
                    (10, &shift),
                ],
            ),
        ];
        let threads = [nb * n, nb * n_chunks * kmax, nb * kmax, nb].map(|t| t as u64);

        let mut iterations = 0;
        loop {
            let mut enc = ctx.encoder();
            for _ in 0..ITERS_PER_SYNC {
                for step in 0..4 {
                    ctx.dispatch(&mut enc, &pipes[step], &groups[step], threads[step])?;
                }
            }
            ctx.submit(enc)?;
            iterations += ITERS_PER_SYNC;
            let st: Vec<[u32; 4]> = ctx.read(&state, nb)?;
            if st.iter().all(|s| s[0] != 0) || iterations >= batch.max_iter {
                break;
            }
        }
        // One last assignment so labels match the final centres (scikit-learn does the
        // same when it stops on the tolerance rather than on unchanged labels).
        let final_group = ctx.bind(&pipes[0], &assign_bindings(&final_params));
        let mut enc = ctx.encoder();
        ctx.dispatch(&mut enc, &pipes[0], &final_group, (nb * n) as u64)?;
        ctx.submit(enc)?;

        let l: Vec<u32> = ctx.read(&labels, nb * n)?;
        let md: Vec<f32> = ctx.read(&mindist, nb * n)?;
        let c: Vec<f32> = ctx.read(&centres, nb * kmax * d)?;
        let st: Vec<[u32; 4]> = ctx.read(&state, nb)?;
        result
            .labels
            .slice_mut(s![group.clone(), ..])
            .assign(&Array2::from_shape_vec((nb, n), l).expect("labels shape"));
        result
            .centres
            .slice_mut(s![group.clone(), .., ..])
            .assign(&Array3::from_shape_vec((nb, kmax, d), c).expect("centres shape"));
        for (j, b) in group.enumerate() {
            result.inertia[b] = md[j * n..(j + 1) * n].iter().map(|&v| v as f64).sum();
            result.n_iter[b] = st[j][1];
        }
    }
    Ok(result)
}
