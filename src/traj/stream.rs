//! Trajectories longer than memory: analyses fed frames block by block.
//!
//! A streamed reader (`crate::io::traj_input::stream_trajectory`) calls a
//! [`FrameSink`] with consecutive blocks of frames and never holds the whole file.
//! [`MsdStream`] is the MSD's sink. The all-origin MSD by FFT needs each atom's whole
//! series, so it works in two passes:
//! 1. **as the frames arrive**: every atom is unwrapped by the same scan as in memory
//!    (the engine's [`UnwrapScan`], on the CPU or the GPU as [`MsdStream::on`] says,
//!    its state carried from block to block, on the GPU in device buffers); per frame, the framework's mean displacement (the drift) and the
//!    summed displacement of the selected atoms are kept (48 bytes a frame); the
//!    displacements of the selected species only are stored, atom-major within each
//!    block (12 bytes per selected atom and frame): in memory while they fit in half
//!    the budget, else in a scratch file (`Spill`);
//! 2. **by windows of atoms**: as many atoms as the memory budget allows are read back
//!    (one contiguous read per block), drift-corrected and handed to the engine's
//!    self MSD (FFT on the CPU, each series gathered where it lies; windowed sums on
//!    the GPU). The per-atom curves go to a second store (in memory within a quarter
//!    of the budget); once the mean MSD sets the fit's points, only those columns are
//!    read back for the fit's covariance.
//!
//! The in-memory MSD (`crate::traj::msd::msd`) is this sink fed from memory, so a
//! file read whole and the same file streamed give the same numbers (tested bit for
//! bit, whatever the blocks and the budget).
//! Memory: the reader's chunk, one block of unwrapped frames, the stores' shares and
//! the window (together bounded by the budget) and 48 bytes a frame; not the
//! trajectory.

use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use ndarray::{Array2, Array3, ArrayView3};
use rayon::prelude::*;
use realfft::RealFftPlanner;

use super::diffusion;
use super::msd_core::{Msd, MsdOptions, collective_msd};
use crate::compute::cpu::displacement::frame_drift;
use crate::compute::{Engine, FracTrajectory, LongSteps, UnwrapScan};
use crate::error::{Error, Result};
use crate::invalid;

/// A consumer of frames read block by block.
pub trait FrameSink {
    /// The species of every atom, in file order, before the first frames.
    fn begin(&mut self, species: &[String]) -> Result<()>;
    /// The next frames: fractional positions (frames × atoms × 3, flat, frame-major),
    /// each frame's lattice vectors as rows (Å), and the velocities (Å/ps, laid out as
    /// the positions) when the file has them.
    fn frames(
        &mut self,
        frac: &[f32],
        cells: &[[[f64; 3]; 3]],
        velocities: Option<&[f32]>,
    ) -> Result<()>;
}

/// How a streamed analysis may use memory and disk.
#[derive(Debug, Clone)]
pub struct StreamOptions {
    /// Memory for the atom windows of the second pass (bytes). The reader's chunk and
    /// one block of frames come on top (tens of MB).
    pub memory_bytes: u64,
    /// Where the scratch files go (the system's temporary folder by default); they are
    /// deleted when the analysis ends, also on an error.
    pub scratch_dir: Option<PathBuf>,
}

/// The memory available to a new process (bytes), where the system says (Linux's
/// /proc/meminfo MemAvailable).
pub fn available_memory_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kb.checked_mul(1024)
}

impl Default for StreamOptions {
    fn default() -> Self {
        StreamOptions {
            memory_bytes: 256 << 20,
            scratch_dir: None,
        }
    }
}

/// The MSD's frame sink (see the module documentation).
pub struct MsdStream {
    opts: MsdOptions,
    stream: StreamOptions,
    source: PathBuf,
    n: usize,
    sel: Vec<usize>,
    /// The atoms whose mean displacement is the drift (None: no correction).
    reference: Option<Vec<usize>>,
    drift: String,
    engine: Engine,
    scan: Option<UnwrapScan>,
    long_step_a: f32,
    disp: Vec<f32>,
    /// Per frame: the drift removed and the summed displacement of the selected atoms.
    shift: Vec<[f64; 3]>,
    summed: Vec<[f64; 3]>,
    volume_sum: f64,
    /// The selected atoms' displacements.
    scratch: Option<SeriesScratch>,
    /// How much of them may stay in memory (bytes; half the budget by default;
    /// `u64::MAX`: all, with no scratch file at all).
    keep_bytes: u64,
    /// The long steps of frames handed over already unwrapped.
    given_long_steps: Option<LongSteps>,
}

/// A streamed MSD and what the run kept.
pub struct StreamedMsd {
    pub msd: Msd,
    pub mean_volume_a3: f64,
    /// The scratch written (bytes): the selected atoms' displacements and the per-atom
    /// curves.
    pub scratch_bytes: u64,
    /// Atoms per window of the second pass, and the number of windows.
    pub window_atoms: usize,
    pub windows: usize,
}

impl MsdStream {
    /// A sink for the MSD of `opts.species` in the file `source`.
    pub fn new(opts: &MsdOptions, stream: &StreamOptions, source: &Path) -> Self {
        MsdStream {
            opts: opts.clone(),
            stream: stream.clone(),
            source: source.to_path_buf(),
            n: 0,
            sel: Vec::new(),
            reference: None,
            drift: String::new(),
            engine: Engine::cpu(),
            scan: None,
            long_step_a: 0.0,
            disp: Vec::new(),
            shift: Vec::new(),
            summed: Vec::new(),
            volume_sum: 0.0,
            scratch: None,
            keep_bytes: stream.memory_bytes / 2,
            given_long_steps: None,
        }
    }

    /// A sink that holds everything in memory (no scratch file, one window): the
    /// in-memory MSD (`crate::traj::msd::msd`) is this sink fed from memory.
    pub(crate) fn in_memory(opts: &MsdOptions, source: &Path) -> Self {
        let all = StreamOptions {
            memory_bytes: u64::MAX,
            scratch_dir: None,
        };
        MsdStream::new(opts, &all, source).keep_in_memory(u64::MAX)
    }

    /// Keep at most `bytes` of the displacements in memory (the rest of the budget is
    /// someone else's: the hops' sink runs this one beside its own stores).
    pub(crate) fn keep_in_memory(mut self, bytes: u64) -> Self {
        self.keep_bytes = bytes;
        self
    }

    /// Unwrap the frames on `engine`'s backend as they arrive (the CPU by default).
    pub fn on(mut self, engine: &Engine) -> Self {
        self.engine = engine.clone();
        self
    }

    /// Frames seen so far.
    pub fn n_frames(&self) -> usize {
        self.shift.len()
    }

    /// The drift removed at the last frame so far (the reference atoms' mean displacement
    /// from frame 0, Å; zero with no correction or no frames).
    pub(crate) fn net_drift_a(&self) -> [f64; 3] {
        self.shift.last().copied().unwrap_or([0.0; 3])
    }
}

impl FrameSink for MsdStream {
    fn begin(&mut self, species: &[String]) -> Result<()> {
        let name = &self.opts.species;
        self.n = species.len();
        self.sel = (0..self.n).filter(|&i| species[i] == *name).collect();
        if self.sel.is_empty() {
            return Err(invalid!(
                "{}: no {name} atoms (species here: {})",
                self.source.display(),
                super::distinct_species(species).join(", ")
            ));
        }
        (self.reference, self.drift) =
            super::msd_core::drift_reference(species, name, self.opts.drift_correction);
        self.scratch = Some(SeriesScratch::new(
            &self.stream,
            self.sel.len(),
            self.keep_bytes,
        )?);
        Ok(())
    }

    fn frames(&mut self, frac: &[f32], cells: &[[[f64; 3]; 3]], _: Option<&[f32]>) -> Result<()> {
        let (n, tb) = (self.n, cells.len());
        if tb == 0 {
            return Ok(());
        }
        if frac.len() != tb * n * 3 {
            return Err(invalid!(
                "{}: a block of {tb} frames holds {} coordinates, not {}",
                self.source.display(),
                frac.len(),
                tb * n * 3
            ));
        }
        let cells32 = Array3::from_shape_fn((tb, 3, 3), |(f, i, j)| cells[f][i][j] as f32);
        if self.scan.is_none() {
            let first: [[f64; 3]; 3] =
                std::array::from_fn(|i| std::array::from_fn(|j| cells32[[0, i, j]] as f64));
            let width = crate::geom::cell_widths(&first)
                .into_iter()
                .fold(f64::INFINITY, f64::min);
            self.long_step_a = self.opts.long_step_a.unwrap_or((width / 4.0) as f32);
            self.scan = Some(self.engine.unwrap_scan(n, self.long_step_a)?);
        }
        let scan = self.scan.as_mut().expect("made above");
        unwrap_block(scan, &self.source, frac, &cells32, &mut self.disp)?;
        let disp = std::mem::take(&mut self.disp);
        let absorbed = self.absorb(&disp, &cells32);
        self.disp = disp;
        absorbed
    }
}

impl MsdStream {
    /// Take frames already unwrapped (by `Trajectory::prepare`, for the hops) through
    /// [`MsdStream::unwrapped`], with that unwrap's long-step threshold and count.
    pub(crate) fn unwrapped_by(mut self, long_step_a: f32, long_steps: &LongSteps) -> Self {
        self.long_step_a = long_step_a;
        self.given_long_steps = Some(long_steps.clone());
        self
    }

    /// Frames already unwrapped (`disp`: frames × atoms × 3 displacements from the
    /// first frame, Å, flat; a cell per frame): the same steps as
    /// [`FrameSink::frames`] after its unwrap.
    pub(crate) fn unwrapped(&mut self, disp: &[f32], cells: &[[[f64; 3]; 3]]) -> Result<()> {
        let tb = cells.len();
        if disp.len() != tb * self.n * 3 {
            return Err(invalid!(
                "{}: a block of {tb} frames holds {} displacements, not {}",
                self.source.display(),
                disp.len(),
                tb * self.n * 3
            ));
        }
        let cells32 = Array3::from_shape_fn((tb, 3, 3), |(f, i, j)| cells[f][i][j] as f32);
        self.absorb(disp, &cells32)
    }

    /// An unwrapped block (`disp`, frames × atoms × 3): per frame the drift, the summed
    /// displacement and the volume; the selected atoms' displacements to the store.
    fn absorb(&mut self, disp: &[f32], cells32: &Array3<f32>) -> Result<()> {
        let (n, tb) = (self.n, cells32.shape()[0]);
        // Drift (`frame_drift`, as every CPU path) and summed displacement per frame.
        for f in 0..tb {
            let d = &disp[f * n * 3..(f + 1) * n * 3];
            let shift = frame_drift(self.reference.as_deref(), |a| {
                [d[3 * a], d[3 * a + 1], d[3 * a + 2]]
            });
            let mut summed = [0.0f64; 3];
            for &a in &self.sel {
                for ax in 0..3 {
                    summed[ax] += d[3 * a + ax] as f64 - shift[ax];
                }
            }
            self.shift.push(shift);
            self.summed.push(summed);
            let m: [[f64; 3]; 3] =
                std::array::from_fn(|i| std::array::from_fn(|j| cells32[[f, i, j]] as f64));
            self.volume_sum += crate::geom::det(&m).abs();
        }
        // The selected atoms' displacements, atom-major within the block.
        let sel = &self.sel;
        self.scratch
            .as_mut()
            .expect("opened in begin")
            .push(tb, |f, j| {
                let at = (f * n + sel[j]) * 3;
                [disp[at], disp[at + 1], disp[at + 2]]
            })
    }
}

/// Unwrap the next block of frames (`frac` flat, frames × atoms × 3; a cell per frame)
/// into `disp`, continuing `scan`.
pub(crate) fn unwrap_block(
    scan: &mut UnwrapScan,
    source: &Path,
    frac: &[f32],
    cells: &Array3<f32>,
    disp: &mut Vec<f32>,
) -> Result<()> {
    let tb = cells.shape()[0];
    let n = frac.len() / (3 * tb.max(1));
    let view = FracTrajectory {
        frac: ArrayView3::from_shape((tb, n, 3), frac)
            .map_err(|e| invalid!("{}: {e}", source.display()))?,
        cells: cells.view(),
    };
    view.validate()
        .map_err(|e| invalid!("{}: {e}", source.display()))?;
    disp.resize(tb * n * 3, 0.0);
    let out = ndarray::ArrayViewMut3::from_shape((tb, n, 3), &mut disp[..])
        .map_err(|e| invalid!("{e}"))?;
    scan.advance(&view, out).map_err(|e| match e {
        Error::InvalidInput(m) => invalid!("{}: {m}", source.display()),
        device => device,
    })
}

fn scratch_err(s: &StreamOptions, e: std::io::Error) -> Error {
    Error::Io {
        path: s.scratch_dir.clone().unwrap_or_else(std::env::temp_dir),
        source: std::io::Error::new(e.kind(), format!("scratch file: {e}")),
    }
}

/// Values written in order, a part at a time, and read back by position: held in
/// memory (the parts as they were written, never copied) while they fit in `keep`
/// values, else all of them in a scratch file. The file is made at once (a scratch
/// folder that cannot take one is named before any work), and written only once the
/// values outgrow memory.
pub(crate) struct Spill<T: bytemuck::Pod> {
    stream: StreamOptions,
    keep: usize,
    /// None only while it changes place (and after a failed write).
    place: Option<Place<T>>,
    len: usize,
}

/// How many values of `size` bytes fit in `bytes` (`u64::MAX`: no limit).
fn values(bytes: u64, size: u64) -> usize {
    if bytes == u64::MAX {
        usize::MAX
    } else {
        usize::try_from(bytes / size).unwrap_or(usize::MAX)
    }
}

enum Place<T> {
    /// The parts, where each starts, and the scratch file they would spill to (none
    /// for a store that never spills).
    Memory(Vec<Vec<T>>, Vec<usize>, Option<File>),
    Writing(BufWriter<File>),
    Reading(File),
}

impl<T: bytemuck::Pod> Spill<T> {
    pub(crate) fn new(stream: &StreamOptions, keep: usize) -> Result<Self> {
        Ok(Spill {
            stream: stream.clone(),
            keep,
            place: Some(Place::Memory(
                Vec::new(),
                Vec::new(),
                if keep == usize::MAX {
                    None
                } else {
                    Some(scratch_file(stream)?)
                },
            )),
            len: 0,
        })
    }

    /// Append the part `vals`; its buffer comes back to be reused when the values are
    /// on disk.
    pub(crate) fn write(&mut self, vals: Vec<T>) -> Result<Option<Vec<T>>> {
        let start = self.len;
        self.len += vals.len();
        let err = |e| scratch_err(&self.stream, e);
        let (place, back) = match self.place.take() {
            Some(Place::Memory(mut parts, mut starts, file)) if self.len <= self.keep => {
                parts.push(vals);
                starts.push(start);
                (Place::Memory(parts, starts, file), None)
            }
            Some(Place::Memory(parts, _, file)) => {
                let file = match file {
                    Some(f) => f,
                    None => scratch_file(&self.stream)?,
                };
                let mut w = BufWriter::with_capacity(1 << 20, file);
                for p in parts {
                    w.write_all(bytemuck::cast_slice(&p)).map_err(err)?;
                }
                w.write_all(bytemuck::cast_slice(&vals)).map_err(err)?;
                (Place::Writing(w), Some(vals))
            }
            Some(Place::Writing(mut w)) => {
                w.write_all(bytemuck::cast_slice(&vals)).map_err(err)?;
                (Place::Writing(w), Some(vals))
            }
            _ => {
                return Err(invalid!(
                    "internal: a scratch store written after it was read"
                ));
            }
        };
        self.place = Some(place);
        Ok(back)
    }

    /// The parts as written, when they are held in memory.
    pub(crate) fn parts(&self) -> Option<&[Vec<T>]> {
        match &self.place {
            Some(Place::Memory(p, ..)) => Some(p),
            _ => None,
        }
    }

    /// Values `at..at + out.len()`.
    pub(crate) fn read_at(&mut self, at: usize, out: &mut [T]) -> Result<()> {
        if let Some(Place::Memory(parts, starts, _)) = &self.place {
            let (mut pos, mut done) = (at, 0);
            while done < out.len() {
                let i = starts.partition_point(|&s| s <= pos) - 1;
                let from = &parts[i][pos - starts[i]..];
                let k = from.len().min(out.len() - done);
                out[done..done + k].copy_from_slice(&from[..k]);
                (pos, done) = (pos + k, done + k);
            }
            return Ok(());
        }
        let err = |e| scratch_err(&self.stream, e);
        self.place = match self.place.take() {
            Some(Place::Writing(w)) => Some(Place::Reading(
                w.into_inner().map_err(|e| err(e.into_error()))?,
            )),
            other => other,
        };
        let Some(Place::Reading(file)) = &mut self.place else {
            return Err(invalid!(
                "internal: a scratch store read after a failed write"
            ));
        };
        let size = std::mem::size_of::<T>() as u64;
        file.seek(SeekFrom::Start(at as u64 * size))
            .and_then(|_| file.read_exact(bytemuck::cast_slice_mut(out)))
            .map_err(err)
    }

    /// Bytes held in memory.
    pub(crate) fn memory_bytes(&self) -> usize {
        self.parts()
            .map_or(0, |p| p.iter().map(|v| std::mem::size_of_val(&v[..])).sum())
    }

    /// Bytes written to the scratch file.
    pub(crate) fn disk_bytes(&self) -> u64 {
        match self.place {
            Some(Place::Memory(..)) => 0,
            _ => (self.len * std::mem::size_of::<T>()) as u64,
        }
    }
}

/// Per-atom series of three floats a frame: written a block of frames at a time
/// (atom-major within the block), read back by windows of atoms; in memory while they
/// fit in the store's share of the budget, else in a scratch file (one contiguous read
/// per block and window).
pub(crate) struct SeriesScratch {
    n_atoms: usize,
    data: Spill<f32>,
    /// Frames in each block, in order.
    blocks: Vec<usize>,
    row: Vec<f32>,
    /// A window read back from the file.
    win: Vec<f32>,
}

/// The series of a window of atoms: in each block of `tb` frames, atom `jj`'s values
/// are `part[jj * tb * 3..(jj + 1) * tb * 3]`, three floats a frame.
pub(crate) struct Window<'a> {
    /// Per block: the window's part, and the frames in the block.
    parts: Vec<(&'a [f32], usize)>,
}

impl Window<'_> {
    /// Atom `jj`'s values, frame by frame in order.
    pub(crate) fn for_each(&self, jj: usize, mut f: impl FnMut(usize, [f32; 3])) {
        let mut frame = 0;
        for &(part, tb) in &self.parts {
            for v in part[jj * tb * 3..(jj + 1) * tb * 3].chunks_exact(3) {
                f(frame, [v[0], v[1], v[2]]);
                frame += 1;
            }
        }
    }
}

impl SeriesScratch {
    /// A store for `n_atoms` series that keeps up to `keep_bytes` in memory.
    pub(crate) fn new(stream: &StreamOptions, n_atoms: usize, keep_bytes: u64) -> Result<Self> {
        Ok(SeriesScratch {
            n_atoms,
            data: Spill::new(stream, values(keep_bytes, 4))?,
            blocks: Vec::new(),
            row: Vec::new(),
            win: Vec::new(),
        })
    }

    /// Append a block of `tb` frames: atom `j`'s values at frame `f` are `at(f, j)`.
    pub(crate) fn push(&mut self, tb: usize, at: impl Fn(usize, usize) -> [f32; 3]) -> Result<()> {
        let mut row = std::mem::take(&mut self.row);
        row.clear();
        row.reserve_exact(tb * self.n_atoms * 3);
        for j in 0..self.n_atoms {
            for f in 0..tb {
                row.extend_from_slice(&at(f, j));
            }
        }
        self.row = self.data.write(row)?.unwrap_or_default();
        self.blocks.push(tb);
        Ok(())
    }

    /// Frames written so far, and the largest block.
    pub(crate) fn frames(&self) -> usize {
        self.blocks.iter().sum()
    }

    pub(crate) fn largest_block(&self) -> usize {
        self.blocks.iter().copied().max().unwrap_or(1)
    }

    /// Bytes stored (in memory or on disk).
    pub(crate) fn bytes(&self) -> u64 {
        (self.frames() * self.n_atoms * 12) as u64
    }

    /// Bytes held in memory.
    pub(crate) fn memory_bytes(&self) -> u64 {
        self.data.memory_bytes() as u64
    }

    /// Bytes written to the scratch file.
    pub(crate) fn disk_bytes(&self) -> u64 {
        self.data.disk_bytes()
    }

    /// Atoms `j0..j0 + wn`, every frame: read from the file into one buffer, or
    /// pointed at where they lie in memory.
    pub(crate) fn window(&mut self, j0: usize, wn: usize) -> Result<Window<'_>> {
        if self.data.parts().is_none() {
            self.row = Vec::new();
            self.win.resize(wn * self.frames() * 3, 0.0);
            let (mut base, mut off) = (0usize, 0usize);
            for &tb in &self.blocks {
                let part = &mut self.win[base..base + wn * tb * 3];
                self.data.read_at(off + j0 * tb * 3, part)?;
                base += wn * tb * 3;
                off += self.n_atoms * tb * 3;
            }
            let mut parts = Vec::with_capacity(self.blocks.len());
            let mut rest = &self.win[..];
            for &tb in &self.blocks {
                let (part, after) = rest.split_at(wn * tb * 3);
                parts.push((part, tb));
                rest = after;
            }
            return Ok(Window { parts });
        }
        let stored = self.data.parts().expect("checked above");
        let parts = stored
            .iter()
            .zip(&self.blocks)
            .map(|(v, &tb)| (&v[j0 * tb * 3..(j0 + wn) * tb * 3], tb))
            .collect();
        Ok(Window { parts })
    }

    /// Atoms `j0..j0 + wn`, every frame: `put(jj, frame, values)` for each.
    pub(crate) fn read_window(
        &mut self,
        j0: usize,
        wn: usize,
        mut put: impl FnMut(usize, usize, [f32; 3]),
    ) -> Result<()> {
        let w = self.window(j0, wn)?;
        for jj in 0..wn {
            w.for_each(jj, |f, v| put(jj, f, v));
        }
        Ok(())
    }
}

/// A scratch file in the chosen folder, deleted when dropped.
fn scratch_file(stream: &StreamOptions) -> Result<File> {
    let dir = stream
        .scratch_dir
        .clone()
        .unwrap_or_else(std::env::temp_dir);
    tempfile::tempfile_in(&dir).map_err(|e| Error::Io {
        path: dir.clone(),
        source: std::io::Error::new(e.kind(), format!("cannot make a scratch file: {e}")),
    })
}

impl MsdStream {
    /// The MSD of the frames streamed, with `dt_ps` between frames. The per-atom
    /// curves are kept at the points of a fit from `fit_start_ps` (None: automatic).
    pub fn finish(
        self,
        engine: &Engine,
        dt_ps: f64,
        fit_start_ps: Option<f64>,
    ) -> Result<StreamedMsd> {
        self.conclude(engine, dt_ps, Some(fit_start_ps))
    }

    /// [`MsdStream::finish`] keeping the per-atom curves at every lag (so that any fit
    /// window can be chosen later).
    pub(crate) fn finish_keeping_all(self, engine: &Engine, dt_ps: f64) -> Result<StreamedMsd> {
        self.conclude(engine, dt_ps, None)
    }

    /// `fit`: keep the per-atom curves at the points of a fit from this start (None
    /// inside: automatic); None: at every lag.
    fn conclude(
        mut self,
        engine: &Engine,
        dt_ps: f64,
        fit: Option<Option<f64>>,
    ) -> Result<StreamedMsd> {
        let t = self.shift.len();
        // The first pass's buffer is done with.
        self.disp = Vec::new();
        if t < 3 {
            return Err(invalid!(
                "{}: {t} frames; an MSD needs at least 3",
                self.source.display()
            ));
        }
        let ns = self.sel.len();
        let lags = self.opts.lags.lags(t);
        let nl = lags.len();
        let axes = self.opts.axes;
        let chosen = |v: [f64; 3]| -> f64 { (0..3).filter(|&ax| axes.0[ax]).map(|ax| v[ax]).sum() };
        let mut store = self.scratch.take().expect("opened in begin");
        let disp_bytes = store.disk_bytes();
        // Atoms per window: the window read back from disk (T x W x 3 f32) and the
        // engine's output (W x L x 3 f64), within what the store leaves of the budget.
        // The per-atom curves may take their share (a quarter by default) before they
        // spill.
        let curves_keep = if self.keep_bytes == u64::MAX {
            u64::MAX
        } else {
            self.keep_bytes / 2
        };
        let per_atom = (12 * t + 24 * nl) as u64;
        let budget = (self
            .stream
            .memory_bytes
            .saturating_sub(store.memory_bytes().saturating_add(curves_keep)))
        .max(self.stream.memory_bytes / 4);
        let w = ((budget / per_atom.max(1)) as usize).clamp(1, ns);
        let windows = ns.div_ceil(w);
        let mut curves = Spill::<f64>::new(&self.stream, values(curves_keep, 8))?;
        let mut sum_axes = Array2::<f64>::zeros((nl, 3));
        let bar = crate::progress::bar(ns as u64, "MSD by atom windows");
        let mut spare: Option<Vec<f64>> = None;
        for j0 in (0..ns).step_by(w) {
            let wn = w.min(ns - j0);
            let win = store.window(j0, wn)?;
            let shift = &self.shift;
            // Each atom's drift-corrected series, gathered where it lies.
            let per = engine.self_msd_of(
                t,
                wn,
                |jj, ax, out| win.for_each(jj, |f, v| out.push(v[ax] as f64 - shift[f][ax])),
                &lags,
            )?; // W x L x 3
            for a in 0..wn {
                let mut row = spare.take().unwrap_or_else(|| Vec::with_capacity(nl));
                row.clear();
                for l in 0..nl {
                    let v = [per[[a, l, 0]], per[[a, l, 1]], per[[a, l, 2]]];
                    for ax in 0..3 {
                        sum_axes[[l, ax]] += v[ax];
                    }
                    row.push(chosen(v));
                }
                spare = curves.write(row)?;
            }
            bar.inc(wn as u64);
        }
        bar.finish_and_clear();
        let msd_axes = sum_axes / ns as f64;
        let msd_a2: Vec<f64> = msd_axes
            .outer_iter()
            .map(|r| chosen([r[0], r[1], r[2]]))
            .collect();
        // The fit's points: only those columns of the per-atom curves are kept.
        let times: Vec<f64> = lags.iter().map(|&l| l as f64 * dt_ps).collect();
        let picks = match fit {
            Some(start) => diffusion::fit_points(&times, &msd_a2, start)
                .map(|(p, _)| p)
                .unwrap_or_default(),
            None => (0..nl).collect(),
        };
        let mut per_atom_a2 = Array2::<f64>::zeros((ns, picks.len()));
        // Consecutive picks (every lag, when all are kept) in one read per atom.
        let consecutive = picks.windows(2).all(|p| p[1] == p[0] + 1);
        for (a, mut row) in per_atom_a2.outer_iter_mut().enumerate() {
            match (consecutive, picks.first(), row.as_slice_mut()) {
                (true, Some(&first), Some(out)) => curves.read_at(a * nl + first, out)?,
                _ => {
                    let mut one = [0.0f64];
                    for (c, &i) in picks.iter().enumerate() {
                        curves.read_at(a * nl + i, &mut one)?;
                        row[c] = one[0];
                    }
                }
            }
        }
        let summed = Array2::from_shape_fn((t, 3), |(f, ax)| self.summed[f][ax]);
        let mut planner = RealFftPlanner::<f64>::new();
        let whole = collective_msd(summed.view(), 0, t, axes, ns, &mut planner);
        let collective_a2 = lags.iter().map(|&l| whole[l]).collect();
        let long_steps = match (self.given_long_steps.take(), self.scan.take()) {
            (Some(given), _) => given,
            (None, Some(scan)) => scan.long_steps()?,
            (None, None) => unreachable!("frames were streamed"),
        };
        Ok(StreamedMsd {
            msd: Msd {
                species: self.opts.species.clone(),
                n_atoms: ns,
                n_frames: t,
                dt_ps,
                lags,
                msd_a2,
                msd_axes_a2: msd_axes,
                per_atom_a2,
                per_atom_lags: picks,
                collective_a2,
                summed_disp_a: summed,
                drift: std::mem::take(&mut self.drift),
                axes,
                long_steps,
                long_step_a: self.long_step_a,
            },
            mean_volume_a3: self.volume_sum / t as f64,
            scratch_bytes: disp_bytes + curves.disk_bytes(),
            window_atoms: w,
            windows,
        })
    }
}

/// The vibrational DOS's frame sink: every atom's velocities (from the file) or
/// unwrapped displacements (for finite differences, as `crate::traj::vdos::vdos`
/// takes them) go to a scratch store as the frames arrive; then each atom's VACF is
/// computed by windows of atoms within the memory budget and summed per species.
/// The numbers are those of the in-memory VDOS up to the order of the sum over atoms.
pub struct VdosStream {
    stream: StreamOptions,
    source: PathBuf,
    species: Vec<String>,
    /// Whether the file has velocities (decided by the first block).
    velocities: Option<bool>,
    engine: Engine,
    scan: Option<UnwrapScan>,
    disp: Vec<f32>,
    store: Option<SeriesScratch>,
}

impl VdosStream {
    pub fn new(stream: &StreamOptions, source: &Path) -> Self {
        VdosStream {
            stream: stream.clone(),
            source: source.to_path_buf(),
            species: Vec::new(),
            velocities: None,
            engine: Engine::cpu(),
            scan: None,
            disp: Vec::new(),
            store: None,
        }
    }

    /// Unwrap the frames on `engine`'s backend as they arrive (the CPU by default).
    pub fn on(mut self, engine: &Engine) -> Self {
        self.engine = engine.clone();
        self
    }

    /// The VDOS of the frames streamed, `dt_ps` apart, and notes on how it was made.
    pub fn finish(
        mut self,
        dt_ps: f64,
    ) -> Result<(crate::phonon::Dos, Vec<String>, StreamRunInfo)> {
        use super::vdos::{atom_vacf, check_samples, dos_from_vacf};
        let mut store = self
            .store
            .take()
            .ok_or_else(|| invalid!("{}: no frames", self.source.display()))?;
        self.disp = Vec::new();
        let frames = store.frames();
        let from_file = self.velocities == Some(true);
        let t = if from_file {
            frames
        } else {
            frames.saturating_sub(1)
        };
        if !from_file && frames < 2 {
            return Err(invalid!(
                "{}: a velocity needs at least 2 frames",
                self.source.display()
            ));
        }
        check_samples(&self.source, t)?;
        let notes = vec![if from_file {
            "velocities read from the file".to_string()
        } else {
            format!(
                "velocities from finite differences of positions {dt_ps} ps apart: frequencies above {:.2} THz alias",
                0.5 / dt_ps
            )
        }];
        let species = super::distinct_species(&self.species);
        let atoms_of: Vec<Vec<usize>> = species
            .iter()
            .map(|s| {
                (0..self.species.len())
                    .filter(|&a| self.species[a] == *s)
                    .collect()
            })
            .collect();
        let kind: Vec<usize> = self
            .species
            .iter()
            .map(|s| species.iter().position(|x| x == s).unwrap_or(0))
            .collect();
        let n = self.species.len();
        // Per atom: the frames read (T x 3 f32), its velocities (T x 3 f64) and its
        // VACF (T f64), with the FFT's buffers on top.
        let per_atom = (12 * frames + 24 * t + 8 * t + 12 * store.largest_block()) as u64;
        let w = ((self.stream.memory_bytes / per_atom.max(1)) as usize).clamp(1, n.max(1));
        let windows = n.div_ceil(w);
        let mut vacf = vec![vec![0.0f64; t]; species.len()];
        let mut raw = ndarray::Array3::<f32>::zeros((w, frames, 3));
        let bar = crate::progress::bar(n as u64, "VACF by atom windows");
        for j0 in (0..n).step_by(w) {
            let wn = w.min(n - j0);
            store.read_window(j0, wn, |jj, f, v| {
                for ax in 0..3 {
                    raw[[jj, f, ax]] = v[ax];
                }
            })?;
            let per: Vec<Vec<f64>> = (0..wn)
                .into_par_iter()
                .map_init(RealFftPlanner::<f64>::new, |planner, jj| {
                    let r = raw.index_axis(ndarray::Axis(0), jj);
                    let vel = if from_file {
                        r.mapv(|x| x as f64)
                    } else {
                        ndarray::Array2::from_shape_fn((t, 3), |(f, ax)| {
                            (r[[f + 1, ax]] - r[[f, ax]]) as f64 / dt_ps
                        })
                    };
                    atom_vacf(vel.view(), planner)
                })
                .collect();
            for (jj, c) in per.iter().enumerate() {
                let sum = &mut vacf[kind[j0 + jj]];
                for (o, x) in sum.iter_mut().zip(c) {
                    *o += x;
                }
            }
            bar.inc(wn as u64);
        }
        bar.finish_and_clear();
        let dos = dos_from_vacf(
            &self.source,
            &self.species,
            &species,
            &atoms_of,
            &vacf,
            dt_ps,
        )?;
        let info = StreamRunInfo {
            scratch_bytes: store.disk_bytes(),
            window_atoms: w,
            windows,
        };
        Ok((dos, notes, info))
    }
}

/// What a streamed analysis kept and how it split the atoms.
#[derive(Debug, Clone)]
pub struct StreamRunInfo {
    pub scratch_bytes: u64,
    pub window_atoms: usize,
    pub windows: usize,
}

impl FrameSink for VdosStream {
    fn begin(&mut self, species: &[String]) -> Result<()> {
        self.species = species.to_vec();
        self.store = Some(SeriesScratch::new(&self.stream, species.len(), 0)?);
        Ok(())
    }

    fn frames(
        &mut self,
        frac: &[f32],
        cells: &[[[f64; 3]; 3]],
        velocities: Option<&[f32]>,
    ) -> Result<()> {
        let (n, tb) = (self.species.len(), cells.len());
        if tb == 0 {
            return Ok(());
        }
        let has = velocities.is_some();
        if *self.velocities.get_or_insert(has) != has {
            return Err(invalid!(
                "{}: velocities in some frames and not in others",
                self.source.display()
            ));
        }
        let store = self.store.as_mut().expect("begun");
        if let Some(v) = velocities {
            return store.push(tb, |f, j| {
                let at = (f * n + j) * 3;
                [v[at], v[at + 1], v[at + 2]]
            });
        }
        // Unwrapped displacements, every step taken as the minimum image (long steps
        // are not counted: the in-memory VDOS does not either).
        let cells32 = Array3::from_shape_fn((tb, 3, 3), |(f, i, j)| cells[f][i][j] as f32);
        if self.scan.is_none() {
            self.scan = Some(self.engine.unwrap_scan(n, f32::INFINITY)?);
        }
        let scan = self.scan.as_mut().expect("made above");
        unwrap_block(scan, &self.source, frac, &cells32, &mut self.disp)?;
        let disp = &self.disp;
        store.push(tb, |f, j| {
            let at = (f * n + j) * 3;
            [disp[at], disp[at + 1], disp[at + 2]]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values read back by position are the ones written, whether they stayed in memory,
    /// spilled to the file part of the way through, or went to the file from the start;
    /// a window of atoms reads the same series from either place.
    #[test]
    fn a_spill_reads_back_what_was_written_from_memory_or_disk() {
        let stream = StreamOptions::default();
        let parts: Vec<Vec<f64>> = (0..7)
            .map(|p| (0..(3 + p * 5)).map(|i| (p * 1000 + i) as f64).collect())
            .collect();
        let all: Vec<f64> = parts.concat();
        for keep in [0, 40, all.len()] {
            let mut s = Spill::<f64>::new(&stream, keep).unwrap();
            for p in &parts {
                s.write(p.clone()).unwrap();
            }
            let in_memory = keep == all.len();
            assert_eq!(s.parts().is_some(), in_memory, "keep {keep}");
            assert_eq!(
                s.disk_bytes(),
                if in_memory { 0 } else { 8 * all.len() as u64 }
            );
            // Reads anywhere, across the parts' ends.
            for (at, len) in [(0, all.len()), (2, 5), (7, 30), (all.len() - 1, 1)] {
                let mut out = vec![0.0; len];
                s.read_at(at, &mut out).unwrap();
                assert_eq!(out, all[at..at + len], "keep {keep} at {at}");
            }
        }

        let (n, blocks) = (5usize, [3usize, 1, 4]);
        let value = |f: usize, j: usize| [f as f32, j as f32, (f * 10 + j) as f32];
        let mut series = Vec::new();
        for keep in [0u64, 1 << 30] {
            let mut sc = SeriesScratch::new(&stream, n, keep).unwrap();
            let mut f0 = 0;
            for tb in blocks {
                sc.push(tb, |f, j| value(f0 + f, j)).unwrap();
                f0 += tb;
            }
            assert_eq!(sc.memory_bytes() > 0, keep > 0);
            let w = sc.window(1, 3).unwrap();
            let mut got = Vec::new();
            for jj in 0..3 {
                w.for_each(jj, |f, v| {
                    assert_eq!(v, value(f, 1 + jj));
                    got.push((jj, f));
                });
            }
            assert_eq!(got.len(), 3 * 8);
            series.push(got);
        }
        assert_eq!(series[0], series[1]);
    }
}
