//! Host side of `shaders/kmeans.wgsl` (CPU twin: `crate::compute::cpu::kmeans`).

use ndarray::{Array2, Array3, s};

use super::{GpuContext, Scratch, chunks};
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
    let packing = Packing {
        words,
        per_word,
        width,
    };
    for groups in chunks(g_total, per_problem * r as u64, max_bind) {
        let problems = groups.start * r..groups.end * r;
        let dev = OnDevice::upload(ctx, batch, problems, n_chunks);
        if small {
            dev.whole_loops(ctx, &pipes[7])?;
        } else {
            dev.iterate(ctx, &pipes, batch.max_iter)?;
        }
        let chunk_sums: Vec<f32> = ctx.read(&dev.inertia, dev.nb * n_chunks)?;
        let per_problem_inertia: Vec<f64> =
            chunk_sums.chunks(n_chunks).map(inertia_of_chunks).collect();
        let best = best_of_groups(&per_problem_inertia, r);
        dev.gather_best(
            ctx,
            &pipes[6],
            &packing,
            groups,
            &best,
            &per_problem_inertia,
            &mut result,
        )?;
    }
    Ok(result)
}

/// How each group's best labels are packed for the readback.
struct Packing {
    /// 32-bit words per problem's labels, labels per word, and the gather's threads per
    /// group (enough for the labels and for the centres).
    words: usize,
    per_word: usize,
    width: usize,
}

/// One submission's problems on the device: their shape and buffers.
struct OnDevice {
    nb: usize,
    base: Params,
    iter_params: Scratch,
    points: Scratch,
    prob: Scratch,
    centres: Scratch,
    labels: Scratch,
    inertia: Scratch,
    state: Scratch,
    tol: Scratch,
}

impl OnDevice {
    /// The points, k, initial centres and tolerances of `problems` uploaded, and the
    /// buffers the kernels write.
    fn upload(
        ctx: &GpuContext,
        batch: &LloydBatch,
        problems: std::ops::Range<usize>,
        n_chunks: usize,
    ) -> OnDevice {
        let (_, n, d) = batch.points.dim();
        let kmax = batch.kmax();
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
        let base = Params {
            n: n as u32,
            d: d as u32,
            kmax: kmax as u32,
            n_problems: nb as u32,
            n_chunks: n_chunks as u32,
            max_iter: batch.max_iter,
            final_pass: 0,
            one: 1.0,
        };
        OnDevice {
            nb,
            base,
            iter_params: ctx.uniform(&base),
            points: ctx.upload("points", &sets),
            prob: ctx.upload("prob", &prob),
            centres: ctx.upload("centres", init.as_slice().expect("standard layout")),
            // Written whole by the kernels (fill_labels or lloyd_small; inertia_chunks
            // or lloyd_small) before anything reads them.
            labels: ctx.output("labels", 4 * (nb * n) as u64),
            inertia: ctx.output("inertia", 4 * (nb * n_chunks) as u64),
            state: ctx.zeros("state", 16 * nb as u64),
            tol: ctx.upload("tol", &batch.tol[problems]),
        }
    }

    /// Small problems (hop detection's shape): the whole Lloyd loop, the final
    /// assignment and the inertia of each problem in one workgroup; one dispatch, one
    /// wait.
    fn whole_loops(&self, ctx: &GpuContext, pipe: &wgpu::ComputePipeline) -> Result<()> {
        let whole = ctx.bind(
            pipe,
            &[
                (0, &self.iter_params),
                (1, &self.points),
                (2, &self.prob),
                (3, &self.centres),
                (4, &self.labels),
                (7, &self.state),
                (9, &self.tol),
                (17, &self.inertia),
            ],
        );
        let mut enc = ctx.encoder();
        ctx.dispatch(&mut enc, pipe, &whole, (self.nb * 64) as u64)?;
        ctx.submit(enc)
    }

    /// Larger problems: assign, partial sums, update and check, `ITERS_PER_SYNC`
    /// iterations per submission until no problem still runs (or `max_iter`); then one
    /// last assignment, so that the labels match the final centres (scikit-learn does
    /// the same when it stops on the tolerance rather than on unchanged labels), and
    /// each problem's inertia in chunks.
    fn iterate(
        &self,
        ctx: &GpuContext,
        pipes: &[std::sync::Arc<wgpu::ComputePipeline>],
        max_iter: u32,
    ) -> Result<()> {
        let (nb, n, n_chunks) = (self.nb, self.base.n as usize, self.base.n_chunks as usize);
        let (kmax, d) = (self.base.kmax as usize, self.base.d as usize);
        let mindist = ctx.output("mindist", 4 * (nb * n) as u64);
        let partial = ctx.zeros("partial", 4 * (nb * n_chunks * kmax * (d + 1)) as u64);
        let changed = ctx.zeros("changed", 4 * nb as u64);
        let shift = ctx.zeros("shift", 4 * (nb * kmax) as u64);
        let pending = ctx.zeros("pending", 4);
        let final_params = ctx.uniform(&Params {
            final_pass: 1,
            ..self.base
        });
        let assign_rest: [(u32, &wgpu::Buffer); 7] = [
            (1, &self.points),
            (2, &self.prob),
            (3, &self.centres),
            (4, &self.labels),
            (5, &mindist),
            (7, &self.state),
            (8, &changed),
        ];
        let iter_params = &self.iter_params;
        let groups_of = [
            ctx.bind(&pipes[0], &with_params(iter_params, &assign_rest)),
            ctx.bind(
                &pipes[1],
                &[
                    (0, iter_params),
                    (1, &self.points),
                    (2, &self.prob),
                    (4, &self.labels),
                    (6, &partial),
                    (7, &self.state),
                ],
            ),
            ctx.bind(
                &pipes[2],
                &[
                    (0, iter_params),
                    (2, &self.prob),
                    (3, &self.centres),
                    (6, &partial),
                    (7, &self.state),
                    (10, &shift),
                ],
            ),
            ctx.bind(
                &pipes[3],
                &[
                    (0, iter_params),
                    (2, &self.prob),
                    (7, &self.state),
                    (8, &changed),
                    (9, &self.tol),
                    (10, &shift),
                    (11, &pending),
                ],
            ),
        ];
        let threads = [nb * n, nb * n_chunks * kmax, nb * kmax * 64, nb].map(|t| t as u64);
        // Labels start as "none" on the device; then the iterations.
        let fill = ctx.bind(&pipes[4], &[(0, iter_params), (4, &self.labels)]);
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
            if running[0] == 0 || iterations >= max_iter {
                break;
            }
        }
        let final_group = ctx.bind(&pipes[0], &with_params(&final_params, &assign_rest));
        let inertia_group = ctx.bind(
            &pipes[5],
            &[(0, &final_params), (5, &mindist), (17, &self.inertia)],
        );
        let mut enc = ctx.encoder();
        ctx.dispatch(&mut enc, &pipes[0], &final_group, (nb * n) as u64)?;
        ctx.dispatch(&mut enc, &pipes[5], &inertia_group, (nb * n_chunks) as u64)?;
        ctx.submit(enc)
    }

    /// The best problem of each group (`best`, indices into this submission's
    /// problems) into `result`'s rows `groups`: labels (packed on the device, unpacked
    /// here), centres, inertia and iterations.
    #[allow(clippy::too_many_arguments)]
    fn gather_best(
        &self,
        ctx: &GpuContext,
        pipe: &wgpu::ComputePipeline,
        packing: &Packing,
        groups: std::ops::Range<usize>,
        best: &[usize],
        per_problem_inertia: &[f64],
        result: &mut LloydResult,
    ) -> Result<()> {
        let ng = groups.len();
        let (kmax, d) = (self.base.kmax as usize, self.base.d as usize);
        let Packing {
            words,
            per_word,
            width,
        } = *packing;
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
            pipe,
            &[
                (0, &self.iter_params),
                (3, &self.centres),
                (4, &self.labels),
                (7, &self.state),
                (12, &gparams),
                (13, &best_buf),
                (14, &packed),
                (15, &out_centres),
                (16, &out_iter),
            ],
        );
        let mut enc = ctx.encoder();
        ctx.dispatch(&mut enc, pipe, &gather, (ng * width) as u64)?;
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
            .slice_mut(s![groups, .., ..])
            .assign(&Array3::from_shape_vec((ng, kmax, d), cen).expect("centres shape"));
        Ok(())
    }
}
