//! The hop analysis of a trajectory longer than memory, in every mode.
//!
//! [`HopStream`] is fed frames block by block (a [`FrameSink`]) and never holds the
//! trajectory. The per-ion clustering modes keep the selected atoms' displacements in
//! a scratch file and cluster them by windows of atoms with the in-memory code
//! (`super::cluster`); the site-based mode works in two passes:
//! 1. **as the frames arrive**: the density of the mobile species is counted (site
//!    discovery needs nothing else), the mobile atoms are unwrapped by the same scan
//!    as in memory, and their fractional positions and displacements go to two
//!    scratch files, atom-major within each block (24 bytes per mobile atom and
//!    frame); the tracer MSD's sink ([`MsdStream`]) is fed the same frames;
//! 2. **by windows of atoms**, within the memory budget: the vibration amplitude from
//!    the displacements, then, with the sites and radii set, each ion's frames are
//!    assigned to sites and its jumps read off, exactly as in memory
//!    (`super::sites::detect`, which runs the same per-ion code).
//!
//! Only the figures need whole paths: a streamed analysis keeps every
//! `frame_stride`-th frame of each ion (at most `KEPT_FRAMES` frames, and at most a
//! quarter of the budget) for them. Everything else (events, sites, jump types,
//! rates, residence times, D_jump, the tracer D and the hop correlations) equals the
//! in-memory analysis (tested).

use std::path::{Path, PathBuf};

use ndarray::{Array3, ArrayView3};
use rayon::prelude::*;

use super::cluster::{ClusterPlan, assemble};
use super::sites::{
    CellRuns, Density, FracDrift, IonTrack, SitePlan, check_selection, drift_for_sites, excursions,
    framework_of, resolve_sites, spread,
};
use super::types::{HopOptions, Hops, Mode, selected_atoms_of};
use crate::compute::{Engine, FracTrajectory, UnwrapScan};
use crate::error::Result;
use crate::invalid;
use crate::traj::msd::{LagGrid, MsdOptions};
use crate::traj::stream::{
    FrameSink, MsdStream, SeriesScratch, StreamOptions, StreamRunInfo, unwrap_block,
};

/// At most this many frames of each ion are kept for the path figures.
pub(crate) const KEPT_FRAMES: usize = 5000;

/// The site-based hop analysis' frame sink (see the module documentation).
pub struct HopStream {
    opts: HopOptions,
    stream: StreamOptions,
    source: PathBuf,
    species: Vec<String>,
    atoms: Vec<usize>,
    name: String,
    density: Option<Density>,
    framework: Vec<(String, [f32; 3])>,
    cell0: [[f64; 3]; 3],
    cells: CellRuns,
    frames: usize,
    engine: Engine,
    scan: Option<UnwrapScan>,
    origin: Vec<[f32; 3]>,
    compact: Vec<f32>,
    /// The density of the drift-corrected positions, and each frame's drift
    /// (fractional): used when the framework moves more than `SITE_DRIFT_MIN_A`.
    placed_density: Option<Density>,
    frac_shift: Vec<[f64; 3]>,
    drift: FracDrift,
    disp: Vec<f32>,
    frac_store: Option<SeriesScratch>,
    disp_store: Option<SeriesScratch>,
    msd: Option<MsdStream>,
}

impl HopStream {
    /// A sink for the site-based hops of `opts` in the file `source`.
    pub fn new(opts: &HopOptions, stream: &StreamOptions, source: &Path) -> Self {
        HopStream {
            opts: opts.clone(),
            stream: stream.clone(),
            source: source.to_path_buf(),
            species: Vec::new(),
            atoms: Vec::new(),
            name: String::new(),
            density: None,
            framework: Vec::new(),
            cell0: [[0.0; 3]; 3],
            cells: CellRuns::default(),
            frames: 0,
            engine: Engine::cpu(),
            scan: None,
            origin: Vec::new(),
            compact: Vec::new(),
            placed_density: None,
            frac_shift: Vec::new(),
            drift: FracDrift::new(Vec::new()),
            disp: Vec::new(),
            frac_store: None,
            disp_store: None,
            msd: None,
        }
    }

    /// Unwrap the frames on `engine`'s backend as they arrive (the CPU by default).
    pub fn on(mut self, engine: &Engine) -> Self {
        self.engine = engine.clone();
        self
    }

    /// Frames seen so far.
    pub fn n_frames(&self) -> usize {
        self.frames
    }
}

impl FrameSink for HopStream {
    fn begin(&mut self, species: &[String]) -> Result<()> {
        self.opts.check()?;
        self.species = species.to_vec();
        if self.opts.mode != Mode::Sites {
            // Per-ion clustering: the displacements are all it needs.
            self.atoms = selected_atoms_of(species, &self.source, &self.opts)?;
            self.disp_store = Some(SeriesScratch::new(&self.stream, self.atoms.len(), 0)?);
            return Ok(());
        }
        let (atoms, name) = check_selection(species, &self.source, &self.opts)?;
        let p = atoms.len();
        let (reference, _) = crate::traj::msd_core::drift_reference(species, &name, true);
        self.drift = FracDrift::new(reference.unwrap_or_default());
        self.frac_store = Some(SeriesScratch::new(&self.stream, p, 0)?);
        self.disp_store = Some(SeriesScratch::new(&self.stream, p, 0)?);
        // The tracer D as `sites::tracer_d` fits it.
        let mut msd = MsdStream::new(
            &MsdOptions {
                species: name.clone(),
                drift_correction: true,
                lags: LagGrid::All,
                long_step_a: None,
                axes: Default::default(),
            },
            &self.stream,
            &self.source,
        )
        .on(&self.engine)
        .keep_in_memory(0);
        msd.begin(species)?;
        self.msd = Some(msd);
        self.atoms = atoms;
        self.name = name;
        Ok(())
    }

    fn frames(
        &mut self,
        frac: &[f32],
        cells: &[[[f64; 3]; 3]],
        velocities: Option<&[f32]>,
    ) -> Result<()> {
        let (n, tb, p) = (self.species.len(), cells.len(), self.atoms.len());
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
        // Cells as the trajectory stores them (f32).
        let cells32 = Array3::from_shape_fn((tb, 3, 3), |(f, i, j)| cells[f][i][j] as f32);
        let cell_rows = |f: usize| -> [[f64; 3]; 3] {
            std::array::from_fn(|i| std::array::from_fn(|j| cells32[[f, i, j]] as f64))
        };
        let at = |f: usize, a: usize| -> [f32; 3] {
            let i = (f * n + a) * 3;
            [frac[i], frac[i + 1], frac[i + 2]]
        };
        if self.scan.is_none() {
            let so = &self.opts.sites;
            self.cell0 = cell_rows(0);
            if so.known.is_none() && self.opts.mode == Mode::Sites {
                self.density = Some(Density::new(&self.cell0, so)?);
                self.placed_density = Some(Density::new(&self.cell0, so)?);
                if so.symmetrise {
                    self.framework = framework_of(&self.species, |a| at(0, a), &self.atoms);
                }
            }
            let width = crate::geom::cell_widths(&self.cell0)
                .into_iter()
                .fold(f64::INFINITY, f64::min);
            self.scan = Some(self.engine.unwrap_scan(p, (width / 4.0) as f32)?);
        }
        // The mobile atoms' rows.
        self.compact.clear();
        for f in 0..tb {
            for &a in &self.atoms {
                self.compact.extend_from_slice(&at(f, a));
            }
        }
        // The framework's drift (fractional) at each frame: taken out of the positions
        // that make the density and that are assigned to sites when it is large (see
        // `drift_for_sites`); the unwrap below keeps the positions as read.
        for (f, block) in self.compact.chunks_exact(3 * p).enumerate() {
            let shift = self.drift.next(|a| at(f, a));
            self.frac_shift.push(shift);
            if let Some(d) = self.placed_density.as_mut() {
                for q in block.chunks_exact(3) {
                    d.add(std::array::from_fn(|x| (q[x] as f64 - shift[x]) as f32));
                }
            }
        }
        if let Some(d) = self.density.as_mut() {
            for q in self.compact.chunks_exact(3) {
                d.add([q[0], q[1], q[2]]);
            }
        }
        for f in 0..tb {
            self.cells.push(self.frames + f, cell_rows(f));
        }
        let scan = self.scan.as_mut().expect("made above");
        unwrap_block(scan, &self.source, &self.compact, &cells32, &mut self.disp)?;
        if self.frames == 0 {
            // Frame 0's Cartesian positions, as the in-memory unwrap gives them.
            let first = FracTrajectory {
                frac: ArrayView3::from_shape((1, p, 3), &self.compact[..3 * p])
                    .map_err(|e| invalid!("{e}"))?,
                cells: cells32.slice(ndarray::s![..1, .., ..]),
            };
            let o = crate::compute::cpu::displacement::origin(&first);
            self.origin = o.outer_iter().map(|r| [r[0], r[1], r[2]]).collect();
        }
        let (compact, disp) = (&self.compact, &self.disp);
        let row = |v: &[f32], f: usize, j: usize| -> [f32; 3] {
            let i = (f * p + j) * 3;
            [v[i], v[i + 1], v[i + 2]]
        };
        if let Some(store) = self.frac_store.as_mut() {
            store.push(tb, |f, j| row(compact, f, j))?;
        }
        self.disp_store
            .as_mut()
            .expect("opened in begin")
            .push(tb, |f, j| row(disp, f, j))?;
        self.frames += tb;
        match self.msd.as_mut() {
            Some(m) => m.frames(frac, cells, velocities),
            None => Ok(()),
        }
    }
}

impl HopStream {
    /// The hops of the frames streamed, `dt_ps` apart; with what the run kept.
    pub fn finish(mut self, engine: &Engine, dt_ps: f64) -> Result<(Hops, StreamRunInfo)> {
        if self.opts.mode != Mode::Sites {
            return self.finish_clustering(engine, dt_ps);
        }
        let t = self.frames;
        let so = self.opts.sites.clone();
        if t < 2 {
            return Err(invalid!(
                "{}: {t} frame(s): jumps need at least 2 frames",
                self.source.display()
            ));
        }
        self.compact = Vec::new();
        self.disp = Vec::new();
        let mut notes = Vec::new();
        // The drift taken out (or not), as in memory.
        let frac_shift = drift_for_sites(
            std::mem::take(&mut self.frac_shift),
            &self.cell0,
            &mut notes,
        );
        let drifting = frac_shift.iter().any(|d| *d != [0.0; 3]);
        if drifting {
            self.density = self.placed_density.take();
        }
        self.placed_density = None;
        let (sites, source, basins) = resolve_sites(
            &so,
            &self.name,
            &self.cell0,
            self.density.as_ref(),
            &self.framework,
            &self.source,
            &mut notes,
        )?;
        self.density = None;
        let p = self.atoms.len();
        let mut fracs = self.frac_store.take().expect("opened in begin");
        let mut disps = self.disp_store.take().expect("opened in begin");
        // Atoms per window: their positions and displacements as read (24 bytes a
        // frame), the distances, excursions and states derived from them (about 32
        // more).
        let per_atom = (56 * t + 24 * fracs.largest_block()) as u64;
        let w = ((self.stream.memory_bytes / per_atom.max(1)) as usize).clamp(1, p);
        let windows = p.div_ceil(w);
        let stride = self.figure_stride(t, p);

        // The vibration amplitude, atom by atom in order: two passes over the
        // displacements (the excursions are never all kept).
        let bar = crate::progress::bar(3 * p as u64, "hops by atom windows");
        let mut series = vec![[0.0f32; 3]; w * t];
        let amp = spread(|put| {
            for j0 in (0..p).step_by(w) {
                let wn = w.min(p - j0);
                disps.read_window(j0, wn, |jj, f, v| series[jj * t + f] = v)?;
                let per: Vec<Vec<f64>> = series[..wn * t]
                    .par_chunks(t)
                    .map(|s| {
                        let d: Vec<f64> = s
                            .iter()
                            .map(|v| {
                                let v: [f64; 3] = std::array::from_fn(|x| v[x] as f64);
                                (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt()
                            })
                            .collect();
                        let mut a = Vec::new();
                        excursions(&d, &mut a);
                        a
                    })
                    .collect();
                per.iter().flatten().for_each(|v| put(*v));
                bar.inc(wn as u64);
            }
            Ok(())
        })?;
        let plan = SitePlan::new(sites, source, basins, self.cell0, amp, &so, &mut notes);

        // Each ion's states, visits and jumps.
        let mut fr = vec![[0.0f32; 3]; w * t];
        let mut tracks: Vec<IonTrack> = Vec::with_capacity(p);
        for j0 in (0..p).step_by(w) {
            let wn = w.min(p - j0);
            fracs.read_window(j0, wn, |jj, f, v| {
                let d = frac_shift[f];
                fr[jj * t + f] = std::array::from_fn(|x| (v[x] as f64 - d[x]) as f32);
            })?;
            let origin = &self.origin;
            disps.read_window(j0, wn, |jj, f, v| {
                let o = origin[j0 + jj];
                series[jj * t + f] = std::array::from_fn(|x| (o[x] as f64 + v[x] as f64) as f32);
            })?;
            let (atoms, name, cells) = (&self.atoms, &self.name, &self.cells);
            let part: Vec<IonTrack> = (0..wn)
                .into_par_iter()
                .map(|jj| {
                    plan.track(
                        atoms[j0 + jj],
                        name,
                        &fr[jj * t..(jj + 1) * t],
                        &series[jj * t..(jj + 1) * t],
                        cells,
                        so.min_residence_frames,
                        dt_ps,
                        stride,
                    )
                })
                .collect();
            tracks.extend(part);
            bar.inc(wn as u64);
        }
        bar.finish_and_clear();
        let scratch_bytes = fracs.bytes() + disps.bytes();
        drop((fr, series, fracs, disps));

        // The tracer D, as `sites::tracer_d`.
        let msd = self.msd.take().expect("made in begin");
        let drift = msd.net_drift_a();
        let mut msd_scratch = 0;
        let tracer = msd.finish(engine, dt_ps, None).and_then(|s| {
            msd_scratch = s.scratch_bytes;
            let f = crate::traj::diffusion::fit(&s.msd, None)?;
            Ok((f.d_cm2_s, f.d_err_cm2_s))
        });
        notes.extend(thinned_note(stride, t));
        let h = plan.assemble(tracks, tracer, drift, t, dt_ps, stride, &self.opts, notes);
        Ok((
            h,
            StreamRunInfo {
                scratch_bytes: scratch_bytes + msd_scratch,
                window_atoms: w,
                windows,
            },
        ))
    }
}

/// What the figures of a run thinned to every `stride`-th frame say of it.
fn thinned_note(stride: usize, t: usize) -> Option<String> {
    (stride > 1).then(|| {
        format!(
            "streamed: the path figures show {} ({} of {t})",
            super::types::every_nth_frame(stride),
            t.div_ceil(stride)
        )
    })
}

impl HopStream {
    /// The frames kept for the figures of `p` ions over `t` frames: every
    /// `stride`-th, at most [`KEPT_FRAMES`] and at most a quarter of the budget (16
    /// bytes per ion and kept frame).
    fn figure_stride(&self, t: usize, p: usize) -> usize {
        let by_budget = ((self.stream.memory_bytes / 4) / (16 * p as u64).max(1)).max(1) as usize;
        t.div_ceil(KEPT_FRAMES.min(by_budget).max(1)).max(1)
    }

    /// The per-ion clustering modes: each window of ions is clustered and its hops
    /// read off as in memory (`super::cluster`); the shared sites come last.
    fn finish_clustering(mut self, engine: &Engine, dt_ps: f64) -> Result<(Hops, StreamRunInfo)> {
        let t = self.frames;
        let mut notes = Vec::new();
        let plan = ClusterPlan::new(t, &self.opts, &self.source, &mut notes)?;
        self.compact = Vec::new();
        self.disp = Vec::new();
        let p = self.atoms.len();
        let mut disps = self.disp_store.take().expect("opened in begin");
        // Atoms per window: the displacements read (12 bytes a frame), the positions
        // made of them (12), labels and distances (about 24 more).
        let per_atom = (48 * t + 12 * disps.largest_block()) as u64;
        let w = ((self.stream.memory_bytes / per_atom.max(1)) as usize).clamp(1, p.max(1));
        let windows = p.div_ceil(w);
        let keep = self.figure_stride(t, p);
        let names: Vec<String> = self
            .atoms
            .iter()
            .map(|&a| self.species[a].clone())
            .collect();
        let bar = crate::progress::bar(p as u64, "clustering ions by windows");
        let mut series = vec![[0.0f32; 3]; w * t];
        let mut works = Vec::with_capacity(p);
        for j0 in (0..p).step_by(w) {
            let wn = w.min(p - j0);
            disps.read_window(j0, wn, |jj, f, v| series[jj * t + f] = v)?;
            works.extend(plan.ions(
                engine,
                &self.atoms[j0..j0 + wn],
                &names[j0..j0 + wn],
                &self.origin[j0..j0 + wn],
                &series[..wn * t],
                &self.opts,
                keep,
            )?);
            bar.inc(wn as u64);
        }
        bar.finish_and_clear();
        let scratch_bytes = disps.bytes();
        notes.extend(thinned_note(keep, t));
        let h = assemble(works, &plan, self.cell0, dt_ps, keep, &self.opts, notes);
        Ok((
            h,
            StreamRunInfo {
                scratch_bytes,
                window_atoms: w,
                windows,
            },
        ))
    }
}
