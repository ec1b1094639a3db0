//! Host side of `shaders/pairwise.wgsl` (CPU twin: `crate::compute::cpu::pairwise`).

use ndarray::{Array2, Array3, ArrayView2, s};

use super::{GpuContext, chunks};
use crate::compute::batch::LabelledBatch;
use crate::error::{Error, Result};

/// Floats of member coordinates per workgroup tile (`TILE_FLOATS` in the shader).
const TILE_FLOATS: usize = 4096;
const SHADER: &str = include_str!("../../../shaders/pairwise.wgsl");
/// Output rows and columns per `sq_dists` workgroup (`BLOCK` in the shader).
const BLOCK: usize = 64;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct TileParams {
    n: u32,
    m: u32,
    d: u32,
    _pad: u32,
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct SumParams {
    n: u32,
    d: u32,
    kmax: u32,
    n_problems: u32,
    seg_start: u32,
    seg_end: u32,
    one: f32,
    _pad1: u32,
}

/// Tile sizes (rows of X, rows of Y) such that no binding exceeds the adapter's limit,
/// the dispatch of 64 x 64 blocks fits the workgroup-count limit, and an output tile stays below
/// `out_cap` bytes (so results stream back in pieces the host can consume).
fn tile_shape(ctx: &GpuContext, n: usize, m: usize, d: usize, out_cap: u64) -> (usize, usize) {
    let max_bind = ctx.max_binding();
    let max_dim = ctx.limits.max_compute_workgroups_per_dimension as usize * BLOCK;
    let row_bytes = 4 * d.max(1) as u64;
    // Columns are capped too (at least 16 output rows per tile), so `out_cap` bounds
    // both tile dimensions and small caps exercise 2-D tiling.
    let mt = m
        .min((max_bind / row_bytes) as usize)
        .min(max_dim)
        .min((out_cap / 64).max(1) as usize)
        .max(1);
    let out_rows = (max_bind.min(out_cap) / (4 * mt as u64)).max(1) as usize;
    let nt = n
        .min(out_rows)
        .min((max_bind / row_bytes) as usize)
        .min(max_dim)
        .max(1);
    (nt, mt)
}

/// Squared Euclidean distances between the rows of `x` and `y`, delivered tile by tile
/// to `sink(row0, col0, tile)`; the full matrix exists only if the sink builds it.
pub(crate) fn sq_dists_tiles(
    ctx: &GpuContext,
    x: ArrayView2<f32>,
    y: ArrayView2<f32>,
    out_cap: u64,
    mut sink: impl FnMut(usize, usize, ArrayView2<f32>) -> Result<()>,
) -> Result<()> {
    let (n, d) = x.dim();
    let m = y.nrows();
    if n == 0 || m == 0 {
        return Ok(());
    }
    let pipeline = ctx.pipeline("pairwise", SHADER, "sq_dists")?;
    let (nt, mt) = tile_shape(ctx, n, m, d, out_cap);
    for c0 in (0..m).step_by(mt) {
        let c1 = (c0 + mt).min(m);
        let yb = ctx.upload(
            "y",
            y.slice(s![c0..c1, ..])
                .as_standard_layout()
                .as_slice()
                .unwrap(),
        );
        for r0 in (0..n).step_by(nt) {
            let r1 = (r0 + nt).min(n);
            let xb = ctx.upload(
                "x",
                x.slice(s![r0..r1, ..])
                    .as_standard_layout()
                    .as_slice()
                    .unwrap(),
            );
            let len = (r1 - r0) * (c1 - c0);
            let out = ctx.output("dists", 4 * len as u64);
            let params = ctx.uniform(&TileParams {
                n: (r1 - r0) as u32,
                m: (c1 - c0) as u32,
                d: d as u32,
                _pad: 0,
            });
            let group = ctx.bind(&pipeline, &[(0, &params), (1, &xb), (2, &yb), (3, &out)]);
            let mut enc = ctx.encoder();
            {
                let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor::default());
                pass.set_pipeline(&pipeline);
                pass.set_bind_group(0, &group, &[]);
                ctx.count_dispatch();
                pass.dispatch_workgroups(
                    (c1 - c0).div_ceil(BLOCK) as u32,
                    (r1 - r0).div_ceil(BLOCK) as u32,
                    1,
                );
            }
            ctx.submit(enc)?;
            let tile: Vec<f32> = ctx.read(&out, len)?;
            let tile = ArrayView2::from_shape((r1 - r0, c1 - c0), &tile).expect("tile shape");
            sink(r0, c0, tile)?;
        }
    }
    Ok(())
}

/// The full n x m matrix of squared distances.
pub(crate) fn sq_dists(
    ctx: &GpuContext,
    x: ArrayView2<f32>,
    y: ArrayView2<f32>,
) -> Result<Array2<f32>> {
    let mut out = Array2::<f32>::zeros((x.nrows(), y.nrows()));
    sq_dists_tiles(ctx, x, y, 256 << 20, |r0, c0, tile| {
        let (h, w) = tile.dim();
        out.slice_mut(s![r0..r0 + h, c0..c0 + w]).assign(&tile);
        Ok(())
    })?;
    Ok(out)
}

/// For each problem b, point i and cluster c: the sum of Euclidean distances from
/// point i to the members of cluster c (B x n x kmax; zero for c >= k_b).
pub fn cluster_dist_sums(ctx: &GpuContext, batch: &LabelledBatch) -> Result<Array3<f32>> {
    let (_, n, d) = batch.points.dim();
    let b_total = batch.labels.nrows();
    let kmax = batch.kmax();
    let mut out = Array3::<f32>::zeros((b_total, n, kmax));
    if n == 0 || b_total == 0 {
        return Ok(out);
    }
    let pipeline = ctx.pipeline("pairwise", SHADER, "cluster_dist_sums")?;
    let max_bind = ctx.max_binding();
    let set_bytes = 4 * (n * d) as u64;
    let storage = ctx.limits.max_compute_workgroup_storage_size as usize;
    if storage < 4 * TILE_FLOATS {
        return Err(Error::TooLarge(format!(
            "the adapter offers {storage} bytes of workgroup memory; the cluster sums' tile \
             needs {}; use option backend cpu",
            4 * TILE_FLOATS
        )));
    }
    if d > TILE_FLOATS {
        return Err(Error::TooLarge(format!(
            "points of {d} dimensions do not fit the GPU's tile of {TILE_FLOATS} floats; \
             use option backend cpu"
        )));
    }
    if set_bytes > max_bind || 4 * (n * kmax) as u64 > max_bind {
        return Err(Error::TooLarge(format!(
            "one problem of {n} points x {d} dims exceeds the {max_bind}-byte binding limit"
        )));
    }
    // Problems go in groups whose point sets and sums fit one binding each.
    let per_problem = set_bytes.max(4 * (n * kmax) as u64);
    for group in chunks(b_total, per_problem, max_bind) {
        let (sets, set_of) = batch.sets_for(group.clone());
        let points = ctx.upload("points", &sets);
        let set_buf = ctx.upload("set_of", &set_of);
        let (order, starts) = batch.sorted_order(group.clone());
        let order_buf = ctx.upload("order", &order);
        let starts_buf = ctx.upload("starts", &starts);
        let nb = group.len();
        let sums = ctx.zeros("sums", 4 * (nb * n * kmax) as u64);
        // Bound each dispatch to ~2^28 distance terms so no dispatch runs for long (a
        // binding cap shrinks the bound too, which is how tests reach several segments).
        let work = (1u64 << 28).min(max_bind * 8);
        let seg = (work / (nb as u64 * n as u64 * d.max(1) as u64))
            .max(64)
            .min(n as u64) as usize;
        for seg_start in (0..n).step_by(seg) {
            let params = ctx.uniform(&SumParams {
                n: n as u32,
                d: d as u32,
                kmax: kmax as u32,
                n_problems: nb as u32,
                seg_start: seg_start as u32,
                seg_end: (seg_start + seg).min(n) as u32,
                one: 1.0,
                _pad1: 0,
            });
            let bg = ctx.bind(
                &pipeline,
                &[
                    (0, &params),
                    (1, &points),
                    (2, &set_buf),
                    (3, &order_buf),
                    (4, &starts_buf),
                    (5, &sums),
                ],
            );
            let mut enc = ctx.encoder();
            // A workgroup of 64 lanes per (problem, block of 64 points).
            ctx.dispatch(&mut enc, &pipeline, &bg, (nb * n.div_ceil(64) * 64) as u64)?;
            ctx.submit(enc)?;
        }
        let host: Vec<f32> = ctx.read(&sums, nb * n * kmax)?;
        out.slice_mut(s![group, .., ..])
            .assign(&ndarray::ArrayView3::from_shape((nb, n, kmax), &host).expect("sums shape"));
    }
    Ok(out)
}
