//! Host side of `shaders/displacement.wgsl` (CPU twin: `crate::compute::cpu::displacement`).

use ndarray::{Array2, Array3, ArrayView3, ArrayViewMut3, s};

use super::{GpuContext, chunks};
use crate::compute::batch::{FracTrajectory, LongSteps, MsdSelection, SelfMsd, inverse_cells};
use crate::error::{Error, Result};

const SHADER: &str = include_str!("../../../shaders/displacement.wgsl");
/// Frames per unwrap chunk are also capped so a chunk's buffers stay modest.
const CHUNK_BYTES: u64 = 64 << 20;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct UnwrapParams {
    n_atoms: u32,
    n_frames: u32,
    cell_per_frame: u32,
    orthogonal: u32,
    first_frame: u32,
    n_segs: u32,
    long2: f32,
    one: f32,
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct DispParams {
    n_atoms: u32,
    n_frames: u32,
    n_lags: u32,
    one: f32,
    n_blocks: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

/// Frames per block of the unwrap's sums (`SEG` in the shader).
const SEG: usize = 64;

/// Time origins per block of the first pass (`ORIGINS` in the shader).
const ORIGINS: usize = 256;

/// One recorded chunk of the unwrap: its displacements (chunk x N x 3, on the device)
/// and its inputs, kept from the pool until the work is submitted.
struct UnwrapChunk {
    disp: super::Scratch,
    _inputs: [super::Scratch; 6],
}

/// The unwrap scan on the device, fed consecutive blocks of frames (a streamed
/// trajectory): the running state (previous position, block sums and offsets with
/// their compensations, long-step statistics) stays in device buffers between blocks,
/// so only each block's frames go up and its displacements come back. The CPU twin is
/// [`crate::compute::cpu::displacement::UnwrapScan`].
pub struct UnwrapStream {
    ctx: std::sync::Arc<GpuContext>,
    n: usize,
    long2: f32,
    frames: usize,
    carry: super::Scratch,
    stats: super::Scratch,
}

impl UnwrapStream {
    /// A scan of `n` atoms; steps longer than `long_step_a` (Å) are counted.
    pub fn new(ctx: std::sync::Arc<GpuContext>, n: usize, long_step_a: f32) -> Result<Self> {
        let max_bind = ctx.max_binding();
        if 60 * n as u64 > max_bind {
            return Err(Error::TooLarge(format!(
                "{n} atoms exceed the {max_bind}-byte binding limit"
            )));
        }
        let carry = ctx.zeros("carry", 60 * n as u64);
        let stats = ctx.zeros("stats", 16 * n as u64);
        Ok(UnwrapStream {
            ctx,
            n,
            long2: long_step_a * long_step_a,
            frames: 0,
            carry,
            stats,
        })
    }

    /// Frames scanned so far.
    pub fn frames(&self) -> usize {
        self.frames
    }

    /// Unwrap the next frames `traj` into `disp` (the same shape): displacements from
    /// the scan's first frame.
    pub fn advance(&mut self, traj: &FracTrajectory, mut disp: ArrayViewMut3<f32>) -> Result<()> {
        let ctx = &*self.ctx;
        let (t_total, n, _) = traj.frac.dim();
        traj.check_output(disp.dim(), self.n)?;
        if t_total == 0 || n == 0 {
            self.frames += t_total;
            return Ok(());
        }
        let inv = inverse_cells(traj.cells);
        for frames in self.frame_chunks(t_total) {
            let tc = frames.len();
            let mut enc = ctx.encoder();
            let chunk = self.record(&mut enc, traj, &inv, frames.clone())?;
            ctx.submit(enc)?;
            let host: Vec<f32> = ctx.read(&chunk.disp, tc * n * 3)?;
            disp.slice_mut(s![frames, .., ..])
                .assign(&ArrayView3::from_shape((tc, n, 3), &host).expect("chunk shape"));
        }
        self.frames += t_total;
        Ok(())
    }

    /// The frames of a block of `t` in chunks whose buffers stay modest.
    fn frame_chunks(&self, t: usize) -> Vec<std::ops::Range<usize>> {
        chunks(
            t,
            12 * self.n as u64,
            self.ctx.max_binding().min(CHUNK_BYTES),
        )
    }

    /// Record into `enc` the unwrap's four passes over `frames` of `traj` (a block that
    /// starts at the scan's frame `self.frames`; `inv` holds its cells' inverses). The
    /// displacements stay on the device, in the returned chunk.
    fn record(
        &self,
        enc: &mut wgpu::CommandEncoder,
        traj: &FracTrajectory,
        inv: &ndarray::Array3<f32>,
        frames: std::ops::Range<usize>,
    ) -> Result<UnwrapChunk> {
        let ctx = &*self.ctx;
        let n = self.n;
        let tc = frames.len();
        let steps = ctx.pipeline("displacement", SHADER, "unwrap_steps")?;
        let segments = ctx.pipeline("displacement", SHADER, "unwrap_segments")?;
        let offsets = ctx.pipeline("displacement", SHADER, "unwrap_offsets")?;
        let write = ctx.pipeline("displacement", SHADER, "unwrap_write")?;
        let per_frame = traj.cells.shape()[0] > 1;
        let first = self.frames + frames.start;
        // The chunk's frames cut at multiples of SEG (global frame index).
        let n_segs = (first + tc - 1) / SEG - first / SEG + 1;
        let seg_bytes = 36 * (n * n_segs) as u64;
        if seg_bytes > ctx.max_binding() {
            return Err(Error::TooLarge(format!(
                "the unwrap state of {n} atoms over {n_segs} blocks of frames exceeds the \
                 binding limit"
            )));
        }
        let frac = traj.frac.slice(s![frames.clone(), .., ..]);
        let frac = ctx.upload("frac", frac.as_standard_layout().as_slice().unwrap());
        let cell_rows = if per_frame { frames.clone() } else { 0..1 };
        let rows = |m: ArrayView3<f32>| {
            m.slice(s![cell_rows.clone(), .., ..])
                .as_standard_layout()
                .into_owned()
        };
        let cells = ctx.upload("cells", rows(traj.cells).as_slice().unwrap());
        let inv_cells = ctx.upload("inv_cells", rows(inv.view()).as_slice().unwrap());
        let disp = ctx.output("disp", 12 * (tc * n) as u64);
        // Written whole by the segment pass (sums, statistics) and the offset pass.
        let seg_state = ctx.output("seg_state", seg_bytes);
        let seg_stats = ctx.output("seg_stats", 16 * (n * n_segs) as u64);
        let params = ctx.uniform(&UnwrapParams {
            n_atoms: n as u32,
            n_frames: tc as u32,
            cell_per_frame: per_frame as u32,
            orthogonal: traj.orthogonal() as u32,
            first_frame: first as u32,
            n_segs: n_segs as u32,
            long2: self.long2,
            one: 1.0,
        });
        let (carry, stats) = (&*self.carry, &*self.stats);
        let bound = |pipeline: &wgpu::ComputePipeline, at: &[u32]| {
            let all: [(u32, &wgpu::Buffer); 9] = [
                (0, &params),
                (1, &frac),
                (2, &cells),
                (3, &inv_cells),
                (4, carry),
                (5, &disp),
                (6, stats),
                (10, &seg_state),
                (11, &seg_stats),
            ];
            let used: Vec<_> = all.into_iter().filter(|(b, _)| at.contains(b)).collect();
            ctx.bind(pipeline, &used)
        };
        let per_segment = (n * n_segs) as u64;
        ctx.dispatch(
            enc,
            &steps,
            &bound(&steps, &[0, 1, 2, 3, 4, 5]),
            (tc * n) as u64,
        )?;
        ctx.dispatch(
            enc,
            &segments,
            &bound(&segments, &[0, 4, 5, 10, 11]),
            per_segment,
        )?;
        let offsets_group = bound(&offsets, &[0, 1, 2, 3, 4, 6, 10, 11]);
        ctx.dispatch(enc, &offsets, &offsets_group, n as u64)?;
        ctx.dispatch(enc, &write, &bound(&write, &[0, 5, 10]), (tc * n) as u64)?;
        Ok(UnwrapChunk {
            disp,
            _inputs: [params, frac, cells, inv_cells, seg_state, seg_stats],
        })
    }

    /// The long steps seen so far (read back from the device).
    pub fn long_steps(&self) -> Result<LongSteps> {
        let st: Vec<[u32; 4]> = self.ctx.read(&self.stats, self.n)?;
        Ok(LongSteps::from_stats(&st))
    }
}

pub(crate) fn unwrap_into(
    ctx: &std::sync::Arc<GpuContext>,
    traj: &FracTrajectory,
    long_step_a: f32,
    disp: ArrayViewMut3<f32>,
) -> Result<LongSteps> {
    let (t_total, n, _) = traj.frac.dim();
    if t_total == 0 || n == 0 {
        return Ok(LongSteps::default());
    }
    let mut scan = UnwrapStream::new(ctx.clone(), n, long_step_a)?;
    scan.advance(traj, disp)?;
    scan.long_steps()
}

pub fn windowed_sq_disp(
    ctx: &GpuContext,
    disp: ArrayView3<f32>,
    lags: &[usize],
) -> Result<Array3<f64>> {
    let (t, n, _) = disp.dim();
    let mut out = Array3::<f64>::zeros((lags.len(), n, 3));
    if t == 0 || n == 0 || lags.is_empty() {
        return Ok(out);
    }
    check_frames_fit(ctx, t)?;
    // Atoms in groups whose T x Na x 3 block fits one binding.
    for atoms in chunks(n, 12 * t as u64, ctx.max_binding()) {
        let block = disp.slice(s![.., atoms.clone(), ..]);
        let ub = ctx.upload("u", block.as_standard_layout().as_slice().unwrap());
        let sums = sq_disp_sums(ctx, &ub, t, atoms.len(), lags)?;
        out.slice_mut(s![.., atoms, ..]).assign(&sums);
    }
    Ok(out)
}

/// One atom's frames must fit a binding (the windowed sums read all of them).
fn check_frames_fit(ctx: &GpuContext, t: usize) -> Result<()> {
    let max_bind = ctx.max_binding();
    if 12 * t as u64 > max_bind || 12 * t.div_ceil(ORIGINS) as u64 > max_bind {
        return Err(Error::TooLarge(format!(
            "{t} frames of one atom exceed the binding limit"
        )));
    }
    Ok(())
}

/// The windowed sums (L x Na x 3) of the T x Na x 3 displacements in `ub`, on the
/// device: lags in groups whose L x Na x blocks x 3 partial sums fit one binding.
fn sq_disp_sums(
    ctx: &GpuContext,
    ub: &wgpu::Buffer,
    t: usize,
    na: usize,
    lags: &[usize],
) -> Result<Array3<f64>> {
    let max_bind = ctx.max_binding();
    let n_blocks = t.div_ceil(ORIGINS);
    let blocks = ctx.pipeline("displacement", SHADER, "sq_disp_blocks")?;
    let fold = ctx.pipeline("displacement", SHADER, "sq_disp")?;
    let mut out = Array3::<f64>::zeros((lags.len(), na, 3));
    for lag_range in chunks(lags.len(), 12 * (na * n_blocks) as u64, max_bind) {
        let nl = lag_range.len();
        let lag_u32: Vec<u32> = lags[lag_range.clone()].iter().map(|&l| l as u32).collect();
        let lag_buf = ctx.upload("lags", &lag_u32);
        let sums = ctx.output("sums", 12 * (nl * na) as u64);
        let parts = ctx.output("parts", 12 * (nl * na * n_blocks) as u64);
        let params = ctx.uniform(&DispParams {
            n_atoms: na as u32,
            n_frames: t as u32,
            n_lags: nl as u32,
            one: 1.0,
            n_blocks: n_blocks as u32,
            _pad0: 0,
            _pad1: 0,
            _pad2: 0,
        });
        let first = ctx.bind(
            &blocks,
            &[(0, &params), (1, ub), (2, &lag_buf), (4, &parts)],
        );
        let second = ctx.bind(&fold, &[(0, &params), (3, &sums), (4, &parts)]);
        let mut enc = ctx.encoder();
        ctx.dispatch(&mut enc, &blocks, &first, (nl * na * n_blocks) as u64)?;
        ctx.dispatch(&mut enc, &fold, &second, (nl * na) as u64)?;
        ctx.submit(enc)?;
        let host: Vec<f32> = ctx.read(&sums, nl * na * 3)?;
        let host = ArrayView3::from_shape((nl, na, 3), &host).expect("sums shape");
        out.slice_mut(s![lag_range, .., ..])
            .assign(&host.mapv(|v| v as f64));
    }
    Ok(out)
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct ChainParams {
    n_atoms: u32,
    n_frames: u32,
    first_frame: u32,
    n_ref: u32,
    n_sel: u32,
    group_start: u32,
    group_len: u32,
    one: f32,
    inv_ref: f32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

/// Unwrap, remove the drift and sum the selected atoms' squared displacements over
/// time origins, with the displacements never leaving the device: per frame chunk the
/// unwrap, the per-frame totals of the reference and the selection (`frame_sums`) and
/// the gathering of the selected atoms less the drift (`gather`) run in one
/// submission; then the windowed sums run on the gathered atoms. Only the sums, the
/// per-frame totals (T x 2 x 3) and the long-step statistics come back. The CPU side
/// is [`crate::compute::cpu::displacement::unwrapped_self_msd`].
pub fn unwrapped_self_msd(
    ctx: &std::sync::Arc<GpuContext>,
    traj: &FracTrajectory,
    long_step_a: f32,
    sel: &MsdSelection,
    lags: &[usize],
) -> Result<SelfMsd> {
    let (t, n, _) = traj.frac.dim();
    let ns = sel.atoms.len();
    let reference = sel.reference.unwrap_or(&[]);
    check_frames_fit(ctx, t)?;
    let max_bind = ctx.max_binding();
    if 24 * t as u64 > max_bind || 4 * (ns + reference.len()) as u64 > max_bind {
        return Err(Error::TooLarge(format!(
            "{t} frames' totals or {ns} selected atoms exceed the binding limit"
        )));
    }
    let frame_sums = ctx.pipeline("displacement", SHADER, "frame_sums")?;
    let gather = ctx.pipeline("displacement", SHADER, "gather")?;
    let list: Vec<u32> = reference
        .iter()
        .chain(sel.atoms)
        .map(|&a| a as u32)
        .collect();
    let lists = ctx.upload("lists", &list);
    let totals = ctx.output("totals", 24 * t as u64);
    // The selected atoms in groups whose T x Na x 3 displacements fit one binding.
    let groups = chunks(ns, 12 * t as u64, max_bind);
    let gathered: Vec<super::Scratch> = groups
        .iter()
        .map(|g| ctx.output("gathered", 12 * (t * g.len()) as u64))
        .collect();
    let inv_ref = if reference.is_empty() {
        0.0
    } else {
        1.0 / reference.len() as f32
    };
    let scan = UnwrapStream::new(ctx.clone(), n, long_step_a)?;
    let inv = inverse_cells(traj.cells);
    for frames in scan.frame_chunks(t) {
        let tc = frames.len();
        let mut enc = ctx.encoder();
        let chunk = scan.record(&mut enc, traj, &inv, frames.clone())?;
        let mut keep = Vec::with_capacity(groups.len());
        for (g, (range, out)) in groups.iter().zip(&gathered).enumerate() {
            let params = ctx.uniform(&ChainParams {
                n_atoms: n as u32,
                n_frames: tc as u32,
                first_frame: frames.start as u32,
                n_ref: reference.len() as u32,
                n_sel: ns as u32,
                group_start: range.start as u32,
                group_len: range.len() as u32,
                one: 1.0,
                inv_ref,
                _pad0: 0,
                _pad1: 0,
                _pad2: 0,
            });
            let bound: [(u32, &wgpu::Buffer); 4] =
                [(0, &params), (5, &chunk.disp), (7, &lists), (8, &totals)];
            if g == 0 {
                // One workgroup per (frame, list).
                let group = ctx.bind(&frame_sums, &bound);
                ctx.dispatch(&mut enc, &frame_sums, &group, (tc * 2 * 64) as u64)?;
            }
            let group = ctx.bind(&gather, &[&bound[..], &[(9, &**out)]].concat());
            ctx.dispatch(&mut enc, &gather, &group, (tc * range.len()) as u64)?;
            keep.push(params);
        }
        ctx.submit(enc)?;
    }
    let mut per_atom = Array3::<f64>::zeros((ns, lags.len(), 3));
    for (range, out) in groups.iter().zip(&gathered) {
        let sums = sq_disp_sums(ctx, out, t, range.len(), lags)?; // L x Na x 3
        for (l, &lag) in lags.iter().enumerate() {
            let origins = (t - lag) as f64;
            for (j, a) in range.clone().enumerate() {
                for ax in 0..3 {
                    per_atom[[a, l, ax]] = sums[[l, j, ax]] / origins;
                }
            }
        }
    }
    let back = ctx.read_many(&[(&totals, 24 * t as u64), (&scan.stats, 16 * n as u64)])?;
    let tot: &[f32] = bytemuck::cast_slice(&back[0]);
    let stats: Vec<[u32; 4]> = bytemuck::pod_collect_to_vec(&back[1]);
    // The selection's total less Ns times the drift the shader removed (same f32 drift).
    let summed = Array2::from_shape_fn((t, 3), |(f, ax)| {
        let drift = tot[f * 6 + ax] * inv_ref;
        tot[f * 6 + 3 + ax] as f64 - ns as f64 * drift as f64
    });
    Ok(SelfMsd {
        per_atom,
        summed,
        long_steps: LongSteps::from_stats(&stats),
    })
}
