//! CPU twin of `shaders/displacement.wgsl`: the same arithmetic in the same order.

use ndarray::{Array2, Array3, ArrayView2, ArrayView3, ArrayViewMut3, Axis};
use rayon::prelude::*;

use crate::compute::batch::inverse_cells;
use crate::compute::batch::{FracTrajectory, LongSteps, MsdSelection, SelfMsd, Unwrapped};
use crate::error::Result;
use crate::invalid;

/// Round half to even, as WGSL's `round`. For |f| < 2^22 adding and subtracting
/// 1.5 * 2^23 rounds in the FPU's default mode (nearest, ties to even) with plain SSE2;
/// `f32::round_ties_even` is a libm call on the baseline x86-64 target.
#[inline(always)]
fn rint(f: f32) -> f32 {
    if f.abs() < RINT_LIMIT {
        (f + MAGIC) - MAGIC
    } else {
        f.round_ties_even()
    }
}

const MAGIC: f32 = 12_582_912.0;
const RINT_LIMIT: f32 = 4_194_304.0;

fn fill_axes(v: &mut [f32], axes: [f32; 3]) {
    for (c, x) in v.chunks_exact_mut(3).zip(std::iter::repeat(axes)) {
        c.copy_from_slice(&x);
    }
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
    for (s, mut o) in traj
        .frac
        .index_axis(Axis(0), 0)
        .outer_iter()
        .zip(out.outer_iter_mut())
    {
        let x = row_times([s[0], s[1], s[2]], &cell);
        o.assign(&ndarray::ArrayView1::from(&x));
    }
    out
}

/// The diagonal of every cell when all off-diagonal entries are exactly zero. Then
/// v · L = (v0 L00, v1 L11, v2 L22) exactly (the zero products add exact zeros), so
/// the fast path below gives the shader's general product bit for bit.
fn exact_diagonals(mats: &[[f32; 9]]) -> Option<Vec<[f32; 3]>> {
    mats.iter()
        .map(|m| {
            let off = [1, 2, 3, 5, 6, 7].iter().all(|&i| m[i] == 0.0);
            off.then_some([m[0], m[4], m[8]])
        })
        .collect()
}

/// One frame of the diagonal-cell scan over flat coordinates: minimum-image steps,
/// Kahan-summed into the block's sums, `dst` the offsets plus the sums. Returns whether
/// a step was not finite or too large to round, and the largest |step component| (for
/// the cheap long-step pre-check).
/// Compiled twice (AVX2 and baseline) and picked at run time; both are the same
/// IEEE operations in the same order, so results do not depend on the CPU.
#[allow(clippy::too_many_arguments)]
fn diagonal_steps(
    src: &[f32],
    c3: &[f32],
    i3: &[f32],
    prev: &mut [f32],
    sum: &mut [f32],
    comp: &mut [f32],
    off: &[f32],
    dst: &mut [f32],
    step: &mut [f32],
) -> (bool, f32) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2 (checked just above).
        return unsafe { diagonal_steps_avx2(src, c3, i3, prev, sum, comp, off, dst, step) };
    }
    diagonal_steps_generic(src, c3, i3, prev, sum, comp, off, dst, step)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[allow(clippy::too_many_arguments)]
fn diagonal_steps_avx2(
    src: &[f32],
    c3: &[f32],
    i3: &[f32],
    prev: &mut [f32],
    sum: &mut [f32],
    comp: &mut [f32],
    off: &[f32],
    dst: &mut [f32],
    step: &mut [f32],
) -> (bool, f32) {
    diagonal_steps_generic(src, c3, i3, prev, sum, comp, off, dst, step)
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn diagonal_steps_generic(
    src: &[f32],
    c3: &[f32],
    i3: &[f32],
    prev: &mut [f32],
    sum: &mut [f32],
    comp: &mut [f32],
    off: &[f32],
    dst: &mut [f32],
    step: &mut [f32],
) -> (bool, f32) {
    let len = src.len();
    let (c3, i3, prev, sum, comp, off, dst, step) = (
        &c3[..len],
        &i3[..len],
        &mut prev[..len],
        &mut sum[..len],
        &mut comp[..len],
        &off[..len],
        &mut dst[..len],
        &mut step[..len],
    );
    let mut bad = false;
    // Bits of non-negative floats are ordered like the floats: an integer max vectorises.
    let mut largest = 0u32;
    for k in 0..len {
        let x = src[k] * c3[k];
        let f = (x - prev[k]) * i3[k];
        bad |= !(f.abs() < RINT_LIMIT);
        let st = (f - ((f + MAGIC) - MAGIC)) * c3[k];
        let y = st - comp[k];
        let tot = sum[k] + y;
        comp[k] = (tot - sum[k]) - y;
        sum[k] = tot;
        dst[k] = off[k] + tot;
        prev[k] = x;
        step[k] = st;
        largest = largest.max(st.abs().to_bits());
    }
    (bad, f32::from_bits(largest))
}

/// Frames per block of the unwrap's sums (`SEG` in the shader): each atom's steps are
/// Kahan-summed within a block of frames (by global index) from zero, and at a block's
/// start the previous block's sum less its compensation is added (Kahan) into an
/// offset; a frame's displacement is the offset plus the block's sum so far.
/// The shader sums the blocks in parallel; here, frame by frame, the same arithmetic.
const SEG: usize = 64;

/// Running state of the unwrap scan for one block of atoms (flat, 3 per atom): the
/// previous Cartesian position, the in-block Kahan sum and its compensation, the
/// offset of the blocks before and its compensation; and per atom the long-step
/// statistics (count, largest len² bits, its frame).
struct BlockState {
    a0: usize,
    na: usize,
    prev: Vec<f32>,
    sum: Vec<f32>,
    comp: Vec<f32>,
    off: Vec<f32>,
    offc: Vec<f32>,
    step: Vec<f32>,
    c3: Vec<f32>,
    i3: Vec<f32>,
    long: Vec<[u32; 4]>,
}

impl BlockState {
    fn new(a0: usize, na: usize) -> Self {
        let z = || vec![0.0f32; 3 * na];
        BlockState {
            a0,
            na,
            prev: z(),
            sum: z(),
            comp: z(),
            off: z(),
            offc: z(),
            step: z(),
            c3: z(),
            i3: z(),
            long: vec![[0; 4]; na],
        }
    }

    /// At a block of frames' start: the previous block's sum less its compensation
    /// into the offset (Kahan); the block's sum starts from zero.
    fn fold(&mut self) {
        let parts = self.off.iter_mut().zip(&mut self.offc);
        for ((o, oc), (s, c)) in parts.zip(self.sum.iter_mut().zip(self.comp.iter_mut())) {
            let y = (*s - *c) - *oc;
            let tot = *o + y;
            *oc = (tot - *o) - y;
            *o = tot;
            *s = 0.0;
            *c = 0.0;
        }
    }

    /// Record a step of squared length `l2` of atom `j` ending on `frame` if long.
    #[inline(always)]
    fn note_long(&mut self, j: usize, l2: f32, long2: f32, frame: usize) {
        if l2 > long2 {
            let st = &mut self.long[j];
            st[0] += 1;
            if l2 > f32::from_bits(st[1]) {
                st[1] = l2.to_bits();
                st[2] = frame as u32;
            }
        }
    }
}

/// The unwrap scan, fed frames in consecutive blocks: per atom, minimum-image steps
/// in the current frame's cell (27-image search for triclinic cells), Kahan-summed
/// into displacements from the first frame. Atoms are split into blocks (one rayon
/// task each); each task walks the frames in order over contiguous rows of its block.
/// [`unwrap`] is one call of [`UnwrapScan::advance`] on the whole trajectory; a
/// streamed trajectory is unwrapped block by block with the same numbers.
pub struct UnwrapScan {
    n: usize,
    long2: f32,
    frames: usize,
    blocks: Vec<BlockState>,
}

impl UnwrapScan {
    /// A scan of `n` atoms; steps longer than `long_step_a` (Å) are counted.
    pub fn new(n: usize, long_step_a: f32) -> Self {
        let block = n.div_ceil(4 * rayon::current_num_threads()).clamp(64, 4096);
        let blocks = (0..n)
            .step_by(block)
            .map(|a0| BlockState::new(a0, block.min(n - a0)))
            .collect();
        UnwrapScan {
            n,
            long2: long_step_a * long_step_a,
            frames: 0,
            blocks,
        }
    }

    /// Frames scanned so far.
    pub fn frames(&self) -> usize {
        self.frames
    }

    /// Unwrap the next frames `traj` (its cells: one fixed cell, or one per frame)
    /// into `disp` (the same shape): displacements from the scan's first frame.
    pub fn advance(&mut self, traj: &FracTrajectory, mut disp: ArrayViewMut3<f32>) -> Result<()> {
        let (t_total, n, _) = traj.frac.dim();
        traj.check_output(disp.dim(), self.n)?;
        if t_total == 0 || n == 0 {
            self.frames += t_total;
            return Ok(());
        }
        let cells: Vec<[f32; 9]> = traj.cells.outer_iter().map(flat9).collect();
        let invs: Vec<[f32; 9]> = inverse_cells(traj.cells).outer_iter().map(flat9).collect();
        let diag = exact_diagonals(&cells).zip(exact_diagonals(&invs));
        let per_frame = cells.len() > 1;
        let orthogonal = traj.orthogonal();
        let long2 = self.long2;
        let start = self.frames;
        let frac = traj.frac.as_standard_layout();
        let fs = frac.as_slice().expect("standard layout");
        let block = self.blocks.first().map_or(1, |b| b.na);
        let bad: Vec<Option<usize>> = disp
            .axis_chunks_iter_mut(Axis(1), block)
            .into_par_iter()
            .zip(self.blocks.par_iter_mut())
            .map(|(mut out, b)| {
                let (a0, na) = (b.a0, b.na);
                let mut bad_frame = None;
                for t in 0..t_total {
                    let global = start + t;
                    if global > 0 && global.is_multiple_of(SEG) {
                        b.fold();
                    }
                    let ci = if per_frame { t } else { 0 };
                    let src = &fs[(t * n + a0) * 3..(t * n + a0 + na) * 3];
                    let mut row = out.index_axis_mut(Axis(0), t);
                    let dst = row.as_slice_mut().expect("rows of a block are contiguous");
                    match &diag {
                        Some((dc, di)) => {
                            if per_frame || t == 0 {
                                fill_axes(&mut b.c3, dc[ci]);
                                fill_axes(&mut b.i3, di[ci]);
                            }
                            if global == 0 {
                                for ((p, &s), &c) in b.prev.iter_mut().zip(src).zip(&b.c3) {
                                    *p = s * c;
                                }
                                dst.fill(0.0);
                                continue;
                            }
                            // One flat loop over the 3·na coordinates (independent for
                            // a diagonal cell), which LLVM vectorises.
                            let (nan, largest) = diagonal_steps(
                                src,
                                &b.c3,
                                &b.i3,
                                &mut b.prev,
                                &mut b.sum,
                                &mut b.comp,
                                &b.off,
                                dst,
                                &mut b.step,
                            );
                            if nan {
                                bad_frame.get_or_insert(global);
                            }
                            // |step|² <= 3 · max component², so usually no atom needs a
                            // look.
                            if 3.0 * largest * largest <= long2 {
                                continue;
                            }
                            for j in 0..na {
                                let s3 = [b.step[3 * j], b.step[3 * j + 1], b.step[3 * j + 2]];
                                b.note_long(j, dot(s3, s3), long2, global);
                            }
                        }
                        None => {
                            let (cell, inv) = (&cells[ci], &invs[ci]);
                            for j in 0..na {
                                let s = &src[3 * j..3 * j + 3];
                                let o = &mut dst[3 * j..3 * j + 3];
                                let x = row_times([s[0], s[1], s[2]], cell);
                                if global == 0 {
                                    b.prev[3 * j..3 * j + 3].copy_from_slice(&x);
                                    o.fill(0.0);
                                    continue;
                                }
                                let p = [b.prev[3 * j], b.prev[3 * j + 1], b.prev[3 * j + 2]];
                                let f = row_times(sub(x, p), inv);
                                let mut g = [0.0f32; 3];
                                for ax in 0..3 {
                                    g[ax] = f[ax] - rint(f[ax]);
                                }
                                if !orthogonal {
                                    g = nearest_image(g, cell);
                                }
                                let step = row_times(g, cell);
                                // Kahan: add the step, write the displacement.
                                for ax in 0..3 {
                                    let k = 3 * j + ax;
                                    let y = step[ax] - b.comp[k];
                                    let tot = b.sum[k] + y;
                                    b.comp[k] = (tot - b.sum[k]) - y;
                                    b.sum[k] = tot;
                                    o[ax] = b.off[k] + tot;
                                }
                                b.prev[3 * j..3 * j + 3].copy_from_slice(&x);
                                b.note_long(j, dot(step, step), long2, global);
                            }
                        }
                    }
                }
                bad_frame
            })
            .collect();
        self.frames += t_total;
        if let Some(t) = bad.into_iter().flatten().min() {
            return Err(invalid!(
                "frame {t}: a fractional coordinate step is not finite or beyond ±2^21 cells"
            ));
        }
        Ok(())
    }

    /// The long steps seen so far.
    pub fn long_steps(&self) -> LongSteps {
        let stats: Vec<[u32; 4]> = self.blocks.iter().flat_map(|b| b.long.clone()).collect();
        LongSteps::from_stats(&stats)
    }
}

/// Unwrap every atom of `traj` (see [`UnwrapScan`]).
pub fn unwrap(traj: &FracTrajectory, long_step_a: f32) -> Result<Unwrapped> {
    let mut disp = Array3::<f32>::zeros(traj.frac.raw_dim());
    let long_steps = unwrap_into(traj, long_step_a, disp.view_mut())?;
    Ok(Unwrapped {
        disp,
        origin: origin(traj),
        long_steps,
    })
}

/// [`unwrap`] into a caller-owned T x N x 3 buffer (reused across calls, it saves the
/// page faults of a fresh allocation, which cost more than the scan itself).
pub(crate) fn unwrap_into(
    traj: &FracTrajectory,
    long_step_a: f32,
    disp: ArrayViewMut3<f32>,
) -> Result<LongSteps> {
    let mut scan = UnwrapScan::new(traj.frac.shape()[1], long_step_a);
    scan.advance(traj, disp)?;
    Ok(scan.long_steps())
}

/// Refine a rounded fractional step over the 27 neighbouring images (triclinic cells),
/// keeping the first shortest in the shader's order.
#[inline]
fn nearest_image(g: [f32; 3], cell: &[f32; 9]) -> [f32; 3] {
    let mut best = g;
    let v0 = row_times(g, cell);
    let mut bestl = dot(v0, v0);
    for e in 0..27u32 {
        let shift = [
            (e / 9) as f32 - 1.0,
            ((e / 3) % 3) as f32 - 1.0,
            (e % 3) as f32 - 1.0,
        ];
        let h = sub(g, shift);
        let v = row_times(h, cell);
        let l = dot(v, v);
        if l < bestl {
            bestl = l;
            best = h;
        }
    }
    best
}

/// For each lag and atom: the sum over origins of the squared displacement per axis
/// (L x N x 3).
pub fn windowed_sq_disp(disp: ArrayView3<f32>, lags: &[usize]) -> Array3<f64> {
    let (t, n, _) = disp.dim();
    let disp = disp.as_standard_layout();
    let mut out = Array3::<f64>::zeros((lags.len(), n, 3));
    out.outer_iter_mut()
        .into_par_iter()
        .zip(lags.par_iter())
        .for_each(|(mut per_atom, &lag)| {
            let acc = per_atom.as_slice_mut().expect("standard layout");
            for t0 in 0..t.saturating_sub(lag) {
                let a = disp.index_axis(Axis(0), t0);
                let b = disp.index_axis(Axis(0), t0 + lag);
                let (a, b) = (a.as_slice().unwrap(), b.as_slice().unwrap());
                for ((o, pa), pb) in acc.iter_mut().zip(a).zip(b) {
                    let d = (pb - pa) as f64;
                    *o += d * d;
                }
            }
        });
    out
}

/// The drift at one frame: the mean displacement (Å) of the `reference` atoms, each
/// given by `disp_of(atom)`, summed in f64 in atom order; zero with no (or an empty)
/// reference. The one drift computation of the CPU paths: the in-memory MSD
/// ([`select_less_drift`]), the streamed MSD (`traj::stream::MsdStream`) and the hops'
/// net drift, which therefore agree bit for bit.
#[inline]
pub(crate) fn frame_drift(
    reference: Option<&[usize]>,
    disp_of: impl Fn(usize) -> [f32; 3],
) -> [f64; 3] {
    let mut shift = [0.0f64; 3];
    let Some(r) = reference.filter(|r| !r.is_empty()) else {
        return shift;
    };
    for &a in r {
        let d = disp_of(a);
        for (s, v) in shift.iter_mut().zip(d) {
            *s += v as f64;
        }
    }
    shift.iter_mut().for_each(|s| *s /= r.len() as f64);
    shift
}

/// The selected atoms' displacements (T x Ns x 3, f64) less, in each frame, the mean
/// displacement of the drift reference ([`frame_drift`]).
pub(crate) fn select_less_drift(disp: ArrayView3<f32>, sel: &MsdSelection) -> Array3<f64> {
    let t = disp.shape()[0];
    let mut out = Array3::<f64>::zeros((t, sel.atoms.len(), 3));
    out.outer_iter_mut()
        .into_par_iter()
        .enumerate()
        .for_each(|(f, mut frame)| {
            let d = disp.index_axis(Axis(0), f);
            let shift = frame_drift(sel.reference, |a| [d[[a, 0]], d[[a, 1]], d[[a, 2]]]);
            for (j, &a) in sel.atoms.iter().enumerate() {
                for ax in 0..3 {
                    frame[[j, ax]] = d[[a, ax]] as f64 - shift[ax];
                }
            }
        });
    out
}

/// Unwrap, remove the drift and take the selected atoms' self MSD (by FFT, in f64):
/// the CPU side of [`crate::compute::Engine::unwrapped_self_msd`].
pub fn unwrapped_self_msd(
    traj: &FracTrajectory,
    long_step_a: f32,
    sel: &MsdSelection,
    lags: &[usize],
) -> Result<SelfMsd> {
    let un = unwrap(traj, long_step_a)?;
    let u = select_less_drift(un.disp.view(), sel);
    Ok(SelfMsd {
        per_atom: super::fft::self_msd(u.view(), lags),
        summed: u.sum_axis(Axis(1)),
        long_steps: un.long_steps,
    })
}
