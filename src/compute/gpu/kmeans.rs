//! Host side of `shaders/kmeans.wgsl` (CPU twin: `crate::compute::cpu::kmeans`).

use ndarray::{Array2, Array3, s};

use super::{GpuContext, chunks};
use crate::compute::batch::{
    CHUNK, LloydBatch, LloydResult, best_of_groups, inertia_of_chunks, pack_sets, select_best,
};
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
    one: f32,
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct GatherParams {
    n_groups: u32,
    words: u32,
    per_word: u32,
    width: u32,
}

/// `params` at binding 0, then `rest`.
fn with_params<'a>(
    params: &'a wgpu::Buffer,
    rest: &[(u32, &'a wgpu::Buffer)],
) -> Vec<(u32, &'a wgpu::Buffer)> {
    std::iter::once((0, params))
        .chain(rest.iter().copied())
        .collect()
}

/// Lloyd iterations for every problem of `batch`, in groups of `restarts` consecutive
/// problems of which only the best (lowest inertia, the earliest on ties) is returned:
/// one row of the result per group. What crosses the bus: the points, initial centres
/// and tolerances up; per few iterations 4 bytes (how many problems still run); at the
/// end each problem's inertia (a float per 256 points) and each group's best labels
/// (packed 4, 2 or 1 to a 32-bit word as k allows), centres and iteration count.
pub fn lloyd(ctx: &GpuContext, batch: &LloydBatch, restarts: usize) -> Result<LloydResult> {
    let (_, n, d) = batch.points.dim();
    let b_total = batch.k.len();
    let r = restarts.max(1);
    let g_total = b_total / r;
    let kmax = batch.kmax();
    let n_chunks = n.div_ceil(CHUNK).max(1);
    let mut result = LloydResult {
        labels: Array2::zeros((g_total, n)),
        centres: Array3::zeros((g_total, kmax, d)),
        inertia: vec![0.0; g_total],
        n_iter: vec![0; g_total],
    };
    if b_total == 0 {
        return Ok(result);
    }
    let entries = [
        "assign",
        "partial_sums",
        "update",
        "check",
        "fill_labels",
        "inertia_chunks",
        "gather",
        "lloyd_small",
    ];
    let pipes: Vec<_> = entries
        .iter()
        .map(|e| ctx.pipeline("kmeans", SHADER, e))
        .collect::<Result<_>>()?;

    // The largest per-group binding decides how many groups share one submission.
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
    if per_problem * r as u64 > max_bind {
        // A group's restarts do not fit one submission: each problem's result comes
        // back and the host chooses.
        return Ok(select_best(lloyd(ctx, batch, 1)?, r));
    }
    // Labels per 32-bit word when read back.
    let per_word = match kmax {
        0..=256 => 4,
        257..=65536 => 2,
        _ => 1,
    };
    let words = n.div_ceil(per_word);
    // Hop detection's shape: each problem's whole Lloyd loop in one workgroup.
    let small = n <= CHUNK && n * d <= 2048 && kmax * d <= 512 && kmax <= 64;
    let width = words.max(kmax * d + 1);
    for groups in chunks(g_total, per_problem * r as u64, max_bind) {
        let ng = groups.len();
        let problems = groups.start * r..groups.end * r;
        let nb = problems.len();
        let (sets, set_of) = pack_sets(batch.points, &batch.set_of[problems.clone()]);
        let prob: Vec<[u32; 2]> = set_of
            .iter()
            .zip(&batch.k[problems.clone()])
            .map(|(&s, &k)| [s, k])
            .collect();
        let init = batch
            .init
            .slice(s![problems.clone(), .., ..])
            .as_standard_layout()
            .to_owned();

        let points = ctx.upload("points", &sets);
        let prob_buf = ctx.upload("prob", &prob);
        let centres = ctx.upload("centres", init.as_slice().unwrap());
        // Written whole by the kernels (fill_labels or lloyd_small; inertia_chunks or
        // lloyd_small) before anything reads them.
        let labels = ctx.output("labels", 4 * (nb * n) as u64);
        let inertia = ctx.output("inertia", 4 * (nb * n_chunks) as u64);
        let state = ctx.zeros("state", 16 * nb as u64);
        let tol = ctx.upload("tol", &batch.tol[problems.clone()]);

        let params = |final_pass| Params {
            n: n as u32,
            d: d as u32,
            kmax: kmax as u32,
            n_problems: nb as u32,
            n_chunks: n_chunks as u32,
            max_iter: batch.max_iter,
            final_pass,
            one: 1.0,
        };
        let iter_params = ctx.uniform(&params(0));

        if small {
            // The whole Lloyd loop, the final assignment and the inertia of each
            // problem in one workgroup: one dispatch, one wait.
            let whole = ctx.bind(
                &pipes[7],
                &[
                    (0, &iter_params),
                    (1, &points),
                    (2, &prob_buf),
                    (3, &centres),
                    (4, &labels),
                    (7, &state),
                    (9, &tol),
                    (17, &inertia),
                ],
            );
            let mut enc = ctx.encoder();
            ctx.dispatch(&mut enc, &pipes[7], &whole, (nb * 64) as u64)?;
            ctx.submit(enc)?;
        } else {
            let mindist = ctx.output("mindist", 4 * (nb * n) as u64);
            let partial = ctx.zeros("partial", 4 * (nb * n_chunks * kmax * (d + 1)) as u64);
            let changed = ctx.zeros("changed", 4 * nb as u64);
            let shift = ctx.zeros("shift", 4 * (nb * kmax) as u64);
            let pending = ctx.zeros("pending", 4);
            let final_params = ctx.uniform(&params(1));
            let assign_rest: [(u32, &wgpu::Buffer); 7] = [
                (1, &points),
                (2, &prob_buf),
                (3, &centres),
                (4, &labels),
                (5, &mindist),
                (7, &state),
                (8, &changed),
            ];
            let groups_of = [
                ctx.bind(&pipes[0], &with_params(&iter_params, &assign_rest)),
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
                        (11, &pending),
                    ],
                ),
            ];
            let threads = [nb * n, nb * n_chunks * kmax, nb * kmax * 64, nb].map(|t| t as u64);
            // Labels start as "none" on the device; then iterations, ITERS_PER_SYNC per
            // submission, until no problem is still running.
            let fill = ctx.bind(&pipes[4], &[(0, &iter_params), (4, &labels)]);
            let mut first = true;
            let mut iterations = 0;
            loop {
                let mut enc = ctx.encoder();
                if first {
                    ctx.dispatch(&mut enc, &pipes[4], &fill, (nb * n) as u64)?;
                    first = false;
                }
                for it in 0..ITERS_PER_SYNC {
                    for step in 0..4 {
                        if step == 3 && it == ITERS_PER_SYNC - 1 {
                            // Only the last check of the submission counts what still runs.
                            enc.clear_buffer(&pending, 0, None);
                        }
                        ctx.dispatch(&mut enc, &pipes[step], &groups_of[step], threads[step])?;
                    }
                }
                ctx.submit(enc)?;
                iterations += ITERS_PER_SYNC;
                let running: Vec<u32> = ctx.read(&pending, 1)?;
                if running[0] == 0 || iterations >= batch.max_iter {
                    break;
                }
            }
            // One last assignment so labels match the final centres (scikit-learn does the
            // same when it stops on the tolerance rather than on unchanged labels), then
            // each problem's inertia in chunks.
            let final_group = ctx.bind(&pipes[0], &with_params(&final_params, &assign_rest));
            let inertia_group = ctx.bind(
                &pipes[5],
                &[(0, &final_params), (5, &mindist), (17, &inertia)],
            );
            let mut enc = ctx.encoder();
            ctx.dispatch(&mut enc, &pipes[0], &final_group, (nb * n) as u64)?;
            ctx.dispatch(&mut enc, &pipes[5], &inertia_group, (nb * n_chunks) as u64)?;
            ctx.submit(enc)?;
        }
        let chunk_sums: Vec<f32> = ctx.read(&inertia, nb * n_chunks)?;
        let per_problem_inertia: Vec<f64> =
            chunk_sums.chunks(n_chunks).map(inertia_of_chunks).collect();
        let best = best_of_groups(&per_problem_inertia, r);

        // The best problem of each group: labels packed, centres, iterations.
        let best_buf = ctx.upload(
            "best",
            &best.iter().map(|&b| b as u32).collect::<Vec<u32>>(),
        );
        let gparams = ctx.uniform(&GatherParams {
            n_groups: ng as u32,
            words: words as u32,
            per_word: per_word as u32,
            width: width as u32,
        });
        let packed = ctx.output("packed", 4 * (ng * words) as u64);
        let out_centres = ctx.output("best centres", 4 * (ng * kmax * d) as u64);
        let out_iter = ctx.output("best iterations", 4 * ng as u64);
        let gather = ctx.bind(
            &pipes[6],
            &[
                (0, &iter_params),
                (3, &centres),
                (4, &labels),
                (7, &state),
                (12, &gparams),
                (13, &best_buf),
                (14, &packed),
                (15, &out_centres),
                (16, &out_iter),
            ],
        );
        let mut enc = ctx.encoder();
        ctx.dispatch(&mut enc, &pipes[6], &gather, (ng * width) as u64)?;
        ctx.submit(enc)?;
        let got = ctx.read_many(&[
            (&packed, 4 * (ng * words) as u64),
            (&out_centres, 4 * (ng * kmax * d) as u64),
            (&out_iter, 4 * ng as u64),
        ])?;
        let packed: Vec<u32> = bytemuck::pod_collect_to_vec(&got[0]);
        let cen: Vec<f32> = bytemuck::pod_collect_to_vec(&got[1]);
        let iters: Vec<u32> = bytemuck::pod_collect_to_vec(&got[2]);
        let bits = 32 / per_word;
        let mask = if bits == 32 {
            u32::MAX
        } else {
            (1u32 << bits) - 1
        };
        for (j, g) in groups.clone().enumerate() {
            let row = &packed[j * words..(j + 1) * words];
            for (i, l) in result.labels.row_mut(g).iter_mut().enumerate() {
                *l = (row[i / per_word] >> ((i % per_word) * bits)) & mask;
            }
            result.inertia[g] = per_problem_inertia[best[j]];
            result.n_iter[g] = iters[j];
        }
        result
            .centres
            .slice_mut(s![groups.clone(), .., ..])
            .assign(&Array3::from_shape_vec((ng, kmax, d), cen).expect("centres shape"));
    }
    Ok(result)
}
