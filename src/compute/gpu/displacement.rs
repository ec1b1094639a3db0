//! Host side of `shaders/displacement.wgsl` (CPU twin: `crate::compute::cpu::displacement`).

use ndarray::{Array3, ArrayView3, ArrayViewMut3, s};

use super::{GpuContext, chunks};
use crate::compute::batch::{FracTrajectory, LongSteps, inverse_cells};
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
    _pad0: u32,
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

/// Time origins per block of the first pass (`ORIGINS` in the shader).
const ORIGINS: usize = 256;

/// The unwrap scan on the device, fed consecutive blocks of frames (a streamed
/// trajectory): the running state (previous position, Kahan sum and compensation,
/// long-step statistics) stays in device buffers between blocks, so only each block's
/// frames go up and its displacements come back. The CPU twin is
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
        if 36 * n as u64 > max_bind {
            return Err(Error::TooLarge(format!(
                "{n} atoms exceed the {max_bind}-byte binding limit"
            )));
        }
        let carry = ctx.zeros("carry", 36 * n as u64);
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
        if n != self.n || disp.dim() != traj.frac.dim() {
            return Err(Error::InvalidInput(format!(
                "output buffer {:?} does not match the trajectory {:?} of {} atoms",
                disp.dim(),
                traj.frac.dim(),
                self.n
            )));
        }
        if t_total == 0 || n == 0 {
            self.frames += t_total;
            return Ok(());
        }
        let max_bind = ctx.max_binding();
        let steps = ctx.pipeline("displacement", SHADER, "unwrap_steps")?;
        let scan = ctx.pipeline("displacement", SHADER, "unwrap")?;
        let per_frame = traj.cells.shape()[0] > 1;
        let inv = inverse_cells(traj.cells);
        for frames in chunks(t_total, 12 * n as u64, max_bind.min(CHUNK_BYTES)) {
            let tc = frames.len();
            let frac = traj.frac.slice(s![frames.clone(), .., ..]);
            let frac = ctx.upload("frac", frac.as_standard_layout().as_slice().unwrap());
            let cell_rows = if per_frame { frames.clone() } else { 0..1 };
            let cells = ctx.upload(
                "cells",
                traj.cells
                    .slice(s![cell_rows.clone(), .., ..])
                    .as_standard_layout()
                    .as_slice()
                    .unwrap(),
            );
            let inv_cells = ctx.upload(
                "inv_cells",
                inv.slice(s![cell_rows, .., ..])
                    .as_standard_layout()
                    .as_slice()
                    .unwrap(),
            );
            let out = ctx.output("disp", 12 * (tc * n) as u64);
            let params = ctx.uniform(&UnwrapParams {
                n_atoms: n as u32,
                n_frames: tc as u32,
                cell_per_frame: per_frame as u32,
                orthogonal: traj.orthogonal() as u32,
                first_frame: (self.frames + frames.start) as u32,
                _pad0: 0,
                long2: self.long2,
                one: 1.0,
            });
            // Both passes read the frames and cells and write the displacements; the
            // second also keeps the long-step statistics.
            let both: [(u32, &wgpu::Buffer); 6] = [
                (0, &params),
                (1, &frac),
                (2, &cells),
                (3, &inv_cells),
                (4, &self.carry),
                (5, &out),
            ];
            let first = ctx.bind(&steps, &both);
            let second = ctx.bind(&scan, &[&both[..], &[(6, &*self.stats)]].concat());
            let mut enc = ctx.encoder();
            ctx.dispatch(&mut enc, &steps, &first, (tc * n) as u64)?;
            ctx.dispatch(&mut enc, &scan, &second, n as u64)?;
            ctx.submit(enc)?;
            let host: Vec<f32> = ctx.read(&out, tc * n * 3)?;
            disp.slice_mut(s![frames, .., ..])
                .assign(&ArrayView3::from_shape((tc, n, 3), &host).expect("chunk shape"));
        }
        self.frames += t_total;
        Ok(())
    }

    /// The long steps seen so far (read back from the device).
    pub fn long_steps(&self) -> Result<LongSteps> {
        let st: Vec<[u32; 4]> = self.ctx.read(&self.stats, self.n)?;
        Ok(LongSteps::from_stats(&st))
    }
}

pub fn unwrap_into(
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
    let max_bind = ctx.max_binding();
    let n_blocks = t.div_ceil(ORIGINS);
    if 12 * t as u64 > max_bind || 12 * n_blocks as u64 > max_bind {
        return Err(Error::TooLarge(format!(
            "{t} frames of one atom exceed the binding limit"
        )));
    }
    let blocks = ctx.pipeline("displacement", SHADER, "sq_disp_blocks")?;
    let fold = ctx.pipeline("displacement", SHADER, "sq_disp")?;
    // Atoms in groups whose T x Na x 3 block fits one binding, lags in groups whose
    // L x Na x blocks x 3 partial sums do too.
    for atoms in chunks(n, 12 * t as u64, max_bind) {
        let na = atoms.len();
        let block = disp.slice(s![.., atoms.clone(), ..]);
        let ub = ctx.upload("u", block.as_standard_layout().as_slice().unwrap());
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
                &[(0, &params), (1, &ub), (2, &lag_buf), (4, &parts)],
            );
            let second = ctx.bind(&fold, &[(0, &params), (3, &sums), (4, &parts)]);
            let mut enc = ctx.encoder();
            ctx.dispatch(&mut enc, &blocks, &first, (nl * na * n_blocks) as u64)?;
            ctx.dispatch(&mut enc, &fold, &second, (nl * na) as u64)?;
            ctx.submit(enc)?;
            let host: Vec<f32> = ctx.read(&sums, nl * na * 3)?;
            let host = ArrayView3::from_shape((nl, na, 3), &host).expect("sums shape");
            out.slice_mut(s![lag_range.clone(), atoms.clone(), ..])
                .assign(&host.mapv(|v| v as f64));
        }
    }
    Ok(out)
}
