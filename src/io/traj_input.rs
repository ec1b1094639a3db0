//! Opening a trajectory: the format from the file name (or its content), the time
//! between frames from the command line or from an INCAR beside an XDATCAR.

use std::path::{Path, PathBuf};

pub use super::frames::FrameRange;
use super::xdatcar::{self, XdatcarOptions};
use crate::error::{Error, Result};
use crate::traj::stream::FrameSink;
use crate::traj::{TimeStep, Trajectory};

/// Trajectory file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrajFormat {
    /// VASP XDATCAR (time step from an INCAR beside it, or the command line).
    Xdatcar,
    /// Extended XYZ as ASE writes it.
    Xyz,
    /// LAMMPS text dump.
    Lammps,
    /// ASE's binary trajectory (.traj).
    AseTraj,
    /// DCD (CHARMM, NAMD, LAMMPS `dump dcd`); its atoms are named by a topology.
    Dcd,
    /// XTC (GROMACS, MDAnalysis, MDTraj, OpenMM); its atoms are named by a topology.
    Xtc,
    /// H5MD (HDF5: LAMMPS `dump h5md`, MDAnalysis); atoms from its species and a type
    /// map, or a topology.
    H5md,
    /// VASP vasprun.xml (every ionic step; the time step from its POTIM when IBRION = 0).
    Vasprun,
}

/// Everything needed to read a trajectory.
#[derive(Debug, Clone, Default)]
pub struct TrajReadOptions {
    pub format: Option<TrajFormat>,
    pub time: TimeStep,
    pub allow_truncated: bool,
    /// LAMMPS type -> element ("1" -> "Li").
    pub type_map: std::collections::HashMap<String, String>,
    /// The frames to analyse (all by default).
    pub frames: FrameRange,
    /// The file that names the atoms of a format that carries no species (DCD, XTC):
    /// a LAMMPS data file, a GROMACS .gro or PDB file, or any trajectory superion
    /// reads (its first frame).
    pub topology: Option<PathBuf>,
}

fn detect(path: &Path) -> Result<TrajFormat> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_uppercase())
        .unwrap_or_default();
    let stem = name.trim_end_matches(".GZ");
    if stem.contains("XDATCAR") {
        return Ok(TrajFormat::Xdatcar);
    }
    if stem.ends_with(".XYZ") || stem.ends_with(".EXTXYZ") {
        return Ok(TrajFormat::Xyz);
    }
    if stem.ends_with(".DUMP") || stem.ends_with(".LAMMPSTRJ") || stem.contains("DUMP.") {
        return Ok(TrajFormat::Lammps);
    }
    if stem.ends_with(".DCD") {
        return Ok(TrajFormat::Dcd);
    }
    if stem.ends_with(".XTC") {
        return Ok(TrajFormat::Xtc);
    }
    if stem.ends_with(".H5MD") || stem.ends_with(".H5") {
        return Ok(TrajFormat::H5md);
    }
    if stem.contains("VASPRUN") {
        return Ok(TrajFormat::Vasprun);
    }
    let text = super::read_head(path, 4096)?;
    if super::dcd::looks_like(&text) {
        return Ok(TrajFormat::Dcd);
    }
    if super::xtc::looks_like(&text) {
        return Ok(TrajFormat::Xtc);
    }
    if super::h5md::looks_like(&text) {
        return Ok(TrajFormat::H5md);
    }
    if super::ase_traj::looks_like(&text) {
        return Ok(TrajFormat::AseTraj);
    }
    if super::vasprun::looks_like(&text) {
        return Ok(TrajFormat::Vasprun);
    }
    let head = String::from_utf8_lossy(&text);
    if xdatcar::looks_like(&head) {
        return Ok(TrajFormat::Xdatcar);
    }
    if head.trim_start().starts_with("ITEM: TIMESTEP") {
        return Ok(TrajFormat::Lammps);
    }
    let mut it = head.lines();
    if it.next().is_some_and(|l| l.trim().parse::<usize>().is_ok())
        && it.next().is_some_and(|l| l.contains("Lattice="))
    {
        return Ok(TrajFormat::Xyz);
    }
    Err(Error::InvalidInput(format!(
        "{}: cannot tell the trajectory format from the name or content; give option format",
        path.display()
    )))
}

/// An error naming `path` when it is not a file.
fn must_exist(path: &Path) -> Result<()> {
    if path.is_dir() {
        return Err(Error::InvalidInput(format!(
            "{}: a folder, not a trajectory file: give the file itself (XDATCAR, .xyz, dump, .dcd, ...)",
            path.display()
        )));
    }
    if !path.is_file() {
        return Err(Error::Io {
            path: path.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or folder"),
        });
    }
    Ok(())
}

/// Read `path` and settle its time step.
pub fn read_trajectory(path: &Path, opts: &TrajReadOptions) -> Result<Trajectory> {
    must_exist(path)?;
    let format = match opts.format {
        Some(f) => f,
        None => detect(path)?,
    };
    let (mut traj, file_steps, file_time_fs, settled) = read_raw(path, format, opts)?;
    let cells: Vec<[[f64; 3]; 3]> = (0..traj.cells.shape()[0])
        .map(|t| traj.cell_rows(t))
        .collect();
    check_frames(
        path,
        0,
        traj.frac.as_slice().unwrap_or(&[]),
        traj.n_atoms(),
        &cells,
    )?;
    if let Some(v) = &traj.velocities {
        check_velocities(path, 0, v.as_slice().unwrap_or(&[]), traj.n_atoms())?;
    }
    let (dt_ps, note) = match settled {
        Some(s) => s,
        None => settle_time(path, format, opts, file_steps, file_time_fs)?,
    };
    traj.dt_ps = Some(dt_ps);
    traj.notes.push(note);
    Ok(traj)
}

/// Read `path` in `format` without settling its time step: the trajectory, the step
/// numbers or times the file stores with each frame, and the time between frames
/// where the format settles it itself (XTC).
#[allow(clippy::type_complexity)]
fn read_raw(
    path: &Path,
    format: TrajFormat,
    opts: &TrajReadOptions,
) -> Result<(
    Trajectory,
    Option<(Vec<i64>, &'static str)>,
    Option<Vec<f64>>,
    Option<(f64, String)>,
)> {
    let mut settled = None;
    // Step numbers or times the file stores with each frame.
    let mut file_steps: Option<(Vec<i64>, &'static str)> = None;
    let mut file_time_fs: Option<Vec<f64>> = None;
    let traj = match format {
        TrajFormat::Xdatcar => xdatcar::read(
            path,
            XdatcarOptions {
                allow_truncated: opts.allow_truncated,
                frames: opts.frames,
                ..Default::default()
            },
        )?,
        TrajFormat::Xyz => {
            let (t, clock) = super::xyz::read_with_clock(path, opts.allow_truncated, opts.frames)?;
            file_steps = clock.step.map(|s| (s, "step= values"));
            file_time_fs = clock.time_fs;
            t
        }
        TrajFormat::AseTraj => super::ase_traj::read(path, opts.allow_truncated, opts.frames)?,
        TrajFormat::Dcd => {
            let species = topology_species(path, format, opts)?;
            let (mut t, steps, header) =
                super::dcd::read(path, &species.species, opts.allow_truncated, opts.frames)?;
            t.notes.insert(0, species.note);
            let (from_header, warning) = dcd_time(path, opts, &header)?;
            settled = from_header;
            t.notes.extend(warning);
            file_steps = Some((steps, "DCD header's first step and steps between frames"));
            t
        }
        TrajFormat::Lammps => {
            let (t, steps) =
                super::lammps::read(path, &opts.type_map, opts.allow_truncated, opts.frames)?;
            file_steps = Some((steps, "TIMESTEP values"));
            t
        }
        TrajFormat::Xtc => {
            let species = topology_species(path, format, opts)?;
            let (mut t, end) =
                super::xtc::read(path, &species.species, opts.allow_truncated, opts.frames)?;
            t.notes.insert(0, species.note);
            settled = xtc_time(path, opts, &end)?;
            file_steps = Some((end.steps, "XTC frames' steps"));
            t
        }
        TrajFormat::H5md => {
            let species = h5md_species(path, opts)?;
            let (mut t, end) = super::h5md::read(path, &species.species, opts.frames)?;
            t.notes.insert(0, species.note);
            settled = h5md_time(path, opts, &end)?;
            file_steps = end.steps.map(|s| (s, "H5MD position/step values"));
            t
        }
        TrajFormat::Vasprun => {
            let (t, end) = super::vasprun::read(path, opts.allow_truncated, opts.frames)?;
            settled = vasprun_time(path, opts, &end)?;
            t
        }
    };
    Ok((traj, file_steps, file_time_fs, settled))
}

/// An H5MD's atoms: from its `species` and option type_map, else from option topology.
fn h5md_species(path: &Path, opts: &TrajReadOptions) -> Result<super::topology::Topology> {
    match super::h5md::species_from_file(path, &opts.type_map)? {
        Some(species) => Ok(super::topology::Topology {
            note: format!(
                "species from the file's species and option type_map ({})",
                crate::traj::distinct_species(&species).join(", ")
            ),
            species,
        }),
        None => topology_species(path, TrajFormat::H5md, opts),
    }
}

/// An H5MD's time between frames from its frames' times (and steps), when it stores
/// them; see [`file_times`].
fn h5md_time(
    path: &Path,
    opts: &TrajReadOptions,
    end: &super::h5md::H5mdEnd,
) -> Result<Option<(f64, String)>> {
    let Some(times) = &end.times_ps else {
        return Ok(None);
    };
    let steps: Vec<i64> = match &end.steps {
        Some(s) => s.clone(),
        None => (0..times.len() as i64).collect(),
    };
    file_times(path, opts, &steps, times)
}

/// A vasprun.xml's time between frames: POTIM (fs) when IBRION = 0 (molecular
/// dynamics; vasprun.xml holds every ionic step), unless option timestep_fs is given.
/// The ionic steps of a relaxation are not times: then option timestep_fs is needed.
fn vasprun_time(
    path: &Path,
    opts: &TrajReadOptions,
    end: &super::vasprun::VasprunEnd,
) -> Result<Option<(f64, String)>> {
    if opts.time.timestep_fs.is_some() {
        return Ok(None);
    }
    let every = opts.frames.every.max(1);
    match (end.ibrion, end.potim) {
        (Some(0), Some(potim)) if potim > 0.0 && potim.is_finite() => {
            let stride = opts.time.stride.unwrap_or(1) * every;
            Ok(Some((
                potim * stride as f64 / 1000.0,
                format!(
                    "time between frames POTIM {potim} fs x {stride} = {} ps (IBRION = 0 from the file's parameters; vasprun.xml holds every ionic step{})",
                    potim * stride as f64 / 1000.0,
                    every_note(every, "; x")
                ),
            )))
        }
        (Some(0), potim) => Err(Error::InvalidInput(format!(
            "{}: a molecular-dynamics run (IBRION = 0) with POTIM = {}: give option timestep_fs",
            path.display(),
            potim.map_or("none".to_string(), |p| p.to_string())
        ))),
        (ibrion, _) => Err(Error::InvalidInput(format!(
            "{}: not a molecular-dynamics run ({}): its ionic steps are not evenly spaced in time; give option timestep_fs to analyse them as if they were",
            path.display(),
            match ibrion {
                Some(1) | Some(2) | Some(3) =>
                    format!("IBRION = {}, a relaxation", ibrion.unwrap_or_default()),
                Some(5..=8) => format!(
                    "IBRION = {}, finite displacements",
                    ibrion.unwrap_or_default()
                ),
                Some(i) => format!("IBRION = {i}"),
                None => "the file gives no IBRION".to_string(),
            }
        ))),
    }
}

/// An XTC's time between frames from its frames' times; see [`file_times`].
fn xtc_time(
    path: &Path,
    opts: &TrajReadOptions,
    end: &super::xtc::XtcEnd,
) -> Result<Option<(f64, String)>> {
    file_times(path, opts, &end.steps, &end.times_ps)
}

/// The time between a DCD's frames from its header, and a warning when a given time
/// step disagrees with it. The header stores NSAVC (MD steps between frames) and DELTA
/// (the step in the writer's time unit: AKMA for CHARMM, NAMD, MDAnalysis and
/// superion's own writer; LAMMPS writes its own unit there). With no option
/// timestep_fs (and no stride), the time is NSAVC × DELTA read as AKMA, as MDAnalysis
/// and VMD read it, and the note says so; with one, the stride comes from NSAVC (by
/// `settle_time`) and a header that disagrees is reported.
fn dcd_time(
    path: &Path,
    opts: &TrajReadOptions,
    h: &super::dcd::DcdHeader,
) -> Result<(Option<(f64, String)>, Option<String>)> {
    let akma_fs = super::dcd::AKMA_PS * 1000.0;
    let header_fs = h.delta * akma_fs;
    let usable = h.delta.is_finite() && h.delta > 0.0 && h.steps_between_frames >= 1;
    match (opts.time.timestep_fs, opts.time.stride) {
        (None, None) if usable => {
            let every = opts.frames.every.max(1);
            let dt_ps =
                h.steps_between_frames as f64 * h.delta * super::dcd::AKMA_PS * every as f64;
            crate::traj::check_frame_time(dt_ps).map_err(|e| {
                Error::InvalidInput(format!(
                    "{}: the DCD header's NSAVC {} x DELTA {} AKMA: {}",
                    path.display(),
                    h.steps_between_frames,
                    h.delta,
                    e.detail()
                ))
            })?;
            Ok((
                Some((
                    dt_ps,
                    format!(
                        "time between frames {} ps from the DCD header: NSAVC {} x DELTA {} AKMA ({} fs){} (AKMA is the unit of CHARMM, NAMD, MDAnalysis and superion; LAMMPS writes its own time unit there: give option timestep_fs if this is wrong)",
                        short(dt_ps),
                        h.steps_between_frames,
                        short(h.delta),
                        short(header_fs),
                        every_note(every, " x")
                    ),
                )),
                None,
            ))
        }
        (Some(step), stride)
            if usable && {
                let given = step * stride.unwrap_or(h.steps_between_frames as usize) as f64;
                let header = header_fs * h.steps_between_frames as f64;
                (given - header).abs() > 0.01 * header
            } =>
        {
            Ok((
                None,
                Some(format!(
                    "warning: {}: option timestep_fs {} fs x stride {} = {} fs between frames, but the DCD header says NSAVC {} x DELTA {} AKMA = {} fs; the given time is used: check it (a DCD written by superion's traj convert holds the time between frames as one step; without option timestep_fs the header's time is used)",
                    path.display(),
                    short(step),
                    stride.unwrap_or(h.steps_between_frames as usize),
                    short(step * stride.unwrap_or(h.steps_between_frames as usize) as f64),
                    h.steps_between_frames,
                    short(h.delta),
                    short(header_fs * h.steps_between_frames as f64),
                )),
            ))
        }
        _ => Ok((None, None)),
    }
}

/// A number for a note: four decimals where that shows it (2.0455, 100), else four
/// significant digits in exponent form.
fn short(v: f64) -> String {
    if v.abs() >= 1e-3 && v.abs() < 1e12 {
        format!("{}", (v * 1e4).round() / 1e4)
    } else {
        format!("{v:.3e}")
    }
}

/// The time between frames from the frames' own times and steps (XTC, H5MD), unless
/// option timestep_fs is given (then the stride comes from the steps, by
/// `settle_time`); option stride alone contradicts the file.
fn file_times(
    path: &Path,
    opts: &TrajReadOptions,
    steps: &[i64],
    times: &[f64],
) -> Result<Option<(f64, String)>> {
    if opts.time.timestep_fs.is_some() {
        return Ok(None);
    }
    if opts.time.stride.is_some() {
        return Err(Error::InvalidInput(format!(
            "{}: the frames' times give the time between frames; option stride needs option timestep_fs",
            path.display()
        )));
    }
    super::xtc::time_from_steps_and_times(path, steps, times).map(Some)
}

/// The species of `path`'s atoms from option topology: a LAMMPS data file, or the
/// first frame of any trajectory superion reads.
fn topology_species(
    path: &Path,
    format: TrajFormat,
    opts: &TrajReadOptions,
) -> Result<super::topology::Topology> {
    let name = match format {
        TrajFormat::Xtc => "an XTC",
        TrajFormat::H5md => "this H5MD (no species dataset, or no option type_map for it)",
        _ => "a DCD",
    };
    let Some(top) = &opts.topology else {
        return Err(Error::InvalidInput(format!(
            "{}: {name} names no atoms: give option topology (a LAMMPS data file, a GROMACS .gro or PDB file, or any trajectory or structure file superion reads with the same atoms in the same order)",
            path.display()
        )));
    };
    if !top.is_file() {
        return Err(Error::Io {
            path: top.clone(),
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no such file (option topology)",
            ),
        });
    }
    let head = super::read_head(top, 4096)?;
    if super::topology::is_lammps_data(&String::from_utf8_lossy(&head)) {
        return super::topology::read_lammps_data(top, &opts.type_map);
    }
    if let Some(kind) = super::topology::structure_kind(top) {
        return super::topology::read_structure(top, kind, &opts.type_map);
    }
    let format = detect(top)?;
    if matches!(format, TrajFormat::Dcd | TrajFormat::Xtc | TrajFormat::H5md) {
        return Err(Error::InvalidInput(format!(
            "{}: option topology must name the atoms; a DCD, XTC or H5MD does not",
            top.display()
        )));
    }
    // The species are known when the reader begins its sink, before any frame is
    // read: the read stops there (a large trajectory as topology costs its header).
    // The time does not matter here.
    let first = TrajReadOptions {
        frames: FrameRange {
            start: 0,
            stop: Some(1),
            every: 1,
        },
        allow_truncated: true,
        time: TimeStep {
            timestep_fs: Some(1.0),
            stride: Some(1),
        },
        ..opts.clone()
    };
    let mut names = SpeciesOnly(None);
    let read = stream_trajectory(top, &first, &mut names);
    match (names.0, read) {
        (Some(species), _) => Ok(super::topology::Topology {
            note: format!("species from the first frame of {}", top.display()),
            species,
        }),
        (None, Err(e)) => Err(e),
        (None, Ok(_)) => Err(Error::InvalidInput(format!(
            "{}: no atoms to name (option topology)",
            top.display()
        ))),
    }
}

/// A sink that keeps the species and stops the read at once.
struct SpeciesOnly(Option<Vec<String>>);

impl FrameSink for SpeciesOnly {
    fn begin(&mut self, species: &[String]) -> Result<()> {
        self.0 = Some(species.to_vec());
        Err(Error::InvalidInput("species read".into()))
    }

    fn frames(&mut self, _: &[f32], _: &[[[f64; 3]; 3]], _: Option<&[f32]>) -> Result<()> {
        Ok(())
    }
}

/// How a streamed read went.
#[derive(Debug, Clone)]
pub struct Streamed {
    /// Time between the frames handed over (ps).
    pub dt_ps: f64,
    /// Frames handed over.
    pub frames: usize,
    /// Whether the file was read as a stream (false: a gzipped ASE .traj, read whole
    /// first).
    pub streamed: bool,
    /// How the reader interpreted the file, as [`Trajectory::notes`].
    pub notes: Vec<String>,
}

/// The longest lattice vector a trajectory may have (Å): far beyond any simulation
/// cell, far below what makes products of lengths overflow.
pub const MAX_CELL_LENGTH_A: f64 = 1e5;

pub use crate::traj::{MAX_FRACTIONAL, MAX_SPEED_A_PS};

/// Where frames enter, for every reader: fractional positions finite, lattice vectors
/// finite, of length in (0, 1e5] Å and not degenerate. `first` is the number of the
/// first frame given (0-based), for the message.
fn check_frames(
    path: &Path,
    first: usize,
    frac: &[f32],
    n_atoms: usize,
    cells: &[[[f64; 3]; 3]],
) -> Result<()> {
    for (k, c) in cells.iter().enumerate() {
        for (i, row) in c.iter().enumerate() {
            let len = (row[0] * row[0] + row[1] * row[1] + row[2] * row[2]).sqrt();
            if !(len.is_finite() && len > 0.0 && len <= MAX_CELL_LENGTH_A) {
                return Err(Error::InvalidInput(format!(
                    "{}: frame {}: lattice vector {} has length {len} Å; expected a finite length of at most {MAX_CELL_LENGTH_A:e} Å",
                    path.display(),
                    first + k + 1,
                    ["a", "b", "c"][i]
                )));
            }
        }
        let det = crate::geom::det(c);
        let scale: f64 = c
            .iter()
            .map(|r| (r[0] * r[0] + r[1] * r[1] + r[2] * r[2]).sqrt())
            .product();
        if !(det.abs() > 1e-9 * scale) {
            return Err(Error::InvalidInput(format!(
                "{}: frame {}: the cell is degenerate (its vectors are nearly coplanar)",
                path.display(),
                first + k + 1
            )));
        }
    }
    if let Some(i) = frac.iter().position(|v| !v.is_finite()) {
        let per_frame = 3 * n_atoms.max(1);
        return Err(Error::InvalidInput(format!(
            "{}: frame {}, atom {}: a position is not finite (overflowing or missing coordinates)",
            path.display(),
            first + i / per_frame + 1,
            i % per_frame / 3 + 1
        )));
    }
    if let Some(i) = frac.iter().position(|v| v.abs() > MAX_FRACTIONAL) {
        let per_frame = 3 * n_atoms.max(1);
        return Err(Error::InvalidInput(format!(
            "{}: frame {}, atom {}: a position {:e} cells from the origin; expected at most {MAX_FRACTIONAL:e} (a corrupt coordinate or cell?)",
            path.display(),
            first + i / per_frame + 1,
            i % per_frame / 3 + 1,
            frac[i]
        )));
    }
    Ok(())
}

/// Velocities where they enter (both read paths): finite and at most
/// [`MAX_SPEED_A_PS`]; `first` numbers the first frame given (0-based).
fn check_velocities(path: &Path, first: usize, v: &[f32], n_atoms: usize) -> Result<()> {
    if let Some(i) = v
        .iter()
        .position(|x| !(x.is_finite() && x.abs() <= MAX_SPEED_A_PS))
    {
        let per_frame = 3 * n_atoms.max(1);
        return Err(Error::InvalidInput(format!(
            "{}: frame {}, atom {}: a velocity component of {} Å/ps; expected a finite speed of at most {MAX_SPEED_A_PS:e} Å/ps",
            path.display(),
            first + i / per_frame + 1,
            i % per_frame / 3 + 1,
            v[i]
        )));
    }
    Ok(())
}

/// A sink that checks every block of frames (see [`check_frames`]) before passing it on.
struct Checked<'a> {
    inner: &'a mut dyn FrameSink,
    path: &'a Path,
    n_atoms: usize,
    seen: usize,
}

impl FrameSink for Checked<'_> {
    fn begin(&mut self, species: &[String]) -> Result<()> {
        self.n_atoms = species.len();
        self.inner.begin(species)
    }
    fn frames(&mut self, frac: &[f32], cells: &[[[f64; 3]; 3]], vel: Option<&[f32]>) -> Result<()> {
        check_frames(self.path, self.seen, frac, self.n_atoms, cells)?;
        if let Some(v) = vel {
            check_velocities(self.path, self.seen, v, self.n_atoms)?;
        }
        self.seen += cells.len();
        self.inner.frames(frac, cells, vel)
    }
}

/// Read `path` into `sink`, block of frames by block, and settle its time step (a
/// missing time step fails before the frames are read, where the file cannot give
/// it). Every format is read as a stream and never held whole (a gzipped ASE .traj is
/// decompressed whole first: `streamed` is then false).
pub fn stream_trajectory(
    path: &Path,
    opts: &TrajReadOptions,
    sink: &mut dyn FrameSink,
) -> Result<Streamed> {
    must_exist(path)?;
    let mut checked = Checked {
        inner: sink,
        path,
        n_atoms: 0,
        seen: 0,
    };
    let sink: &mut dyn FrameSink = &mut checked;
    let format = match opts.format {
        Some(f) => f,
        None => detect(path)?,
    };
    // The time is settled before reading where the file cannot give it (XDATCAR, ASE),
    // after reading where the frames may (LAMMPS TIMESTEP, DCD header, time=/step=).
    type Steps = Option<(Vec<i64>, &'static str)>;
    let early = |format| settle_time(path, format, opts, None, None);
    let (frames, steps, time_fs, mut notes, settled, whole): (
        usize,
        Steps,
        _,
        Vec<String>,
        _,
        bool,
    ) = match format {
        TrajFormat::Xdatcar => {
            let settled = early(format)?;
            let end = xdatcar::stream(
                path,
                XdatcarOptions {
                    allow_truncated: opts.allow_truncated,
                    frames: opts.frames,
                    ..Default::default()
                },
                sink,
            )?;
            (end.frames, None, None, end.notes, Some(settled), false)
        }
        TrajFormat::AseTraj => {
            let settled = early(format)?;
            let end = super::ase_traj::stream(path, opts.allow_truncated, opts.frames, sink)?;
            (
                end.frames,
                None,
                None,
                end.notes,
                Some(settled),
                end.read_whole,
            )
        }
        TrajFormat::Lammps => {
            if opts.time.timestep_fs.is_none() {
                // The step is not in the file: say so before reading it.
                early(format)?;
            }
            let end = super::lammps::stream(
                path,
                &opts.type_map,
                opts.allow_truncated,
                opts.frames,
                super::lammps::CHUNK_LINES,
                sink,
            )?;
            let frames = end.steps.len();
            let steps = Some((end.steps, "TIMESTEP values"));
            (frames, steps, None, end.notes, None, false)
        }
        TrajFormat::H5md => {
            let top = h5md_species(path, opts)?;
            let end = super::h5md::stream(path, &top.species, opts.frames, sink)?;
            let settled = h5md_time(path, opts, &end)?;
            let mut notes = end.notes;
            notes.insert(0, top.note);
            let frames = end.frames;
            let steps = end.steps.map(|s| (s, "H5MD position/step values"));
            (frames, steps, None, notes, settled, false)
        }
        TrajFormat::Xtc => {
            let top = topology_species(path, format, opts)?;
            let end =
                super::xtc::stream(path, &top.species, opts.allow_truncated, opts.frames, sink)?;
            let settled = xtc_time(path, opts, &end)?;
            let mut notes = end.notes;
            notes.insert(0, top.note);
            let frames = end.steps.len();
            let steps = Some((end.steps, "XTC frames' steps"));
            (frames, steps, None, notes, settled, false)
        }
        TrajFormat::Dcd => {
            // The time from the header, or said missing before the frames are read.
            let (from_header, warning) = dcd_time(path, opts, &super::dcd::header(path)?)?;
            if opts.time.timestep_fs.is_none() && from_header.is_none() {
                early(format)?;
            }
            let top = topology_species(path, format, opts)?;
            let (steps, _, mut notes) =
                super::dcd::stream(path, &top.species, opts.allow_truncated, opts.frames, sink)?;
            notes.insert(0, top.note);
            notes.extend(warning);
            let frames = steps.len();
            let steps = Some((steps, "DCD header's first step and steps between frames"));
            (frames, steps, None, notes, from_header, false)
        }
        TrajFormat::Vasprun => {
            let end = super::vasprun::stream(path, opts.allow_truncated, opts.frames, sink)?;
            let settled = vasprun_time(path, opts, &end)?;
            (end.frames, None, None, end.notes, settled, false)
        }
        TrajFormat::Xyz => {
            let end = super::xyz::stream(
                path,
                opts.allow_truncated,
                opts.frames,
                super::xyz::CHUNK_LINES,
                sink,
            )?;
            let steps = end.clock.step.map(|s| (s, "step= values"));
            (end.frames, steps, end.clock.time_fs, end.notes, None, false)
        }
    };
    let (dt_ps, note) = match settled {
        Some(s) => s,
        None => settle_time(path, format, opts, steps, time_fs)?,
    };
    notes.push(note);
    Ok(Streamed {
        dt_ps,
        frames,
        streamed: !whole,
        notes,
    })
}

/// The time between the kept frames (ps) and how it was found: from the command line,
/// an INCAR beside an XDATCAR, or the step or time values the file stores with each
/// frame (`file_steps`, `file_time_fs`), which must be regular and agree.
/// The time between stored frames (ps) and how it was found, checked once here for
/// every reader: positive, finite and at most [`crate::traj::MAX_FRAME_TIME_PS`].
fn settle_time(
    path: &Path,
    format: TrajFormat,
    opts: &TrajReadOptions,
    file_steps: Option<(Vec<i64>, &'static str)>,
    file_time_fs: Option<Vec<f64>>,
) -> Result<(f64, String)> {
    let (dt, note) = settle_time_unchecked(path, format, opts, file_steps, file_time_fs)?;
    crate::traj::check_frame_time(dt)
        .map_err(|e| Error::InvalidInput(format!("{}: {} ({note})", path.display(), e.detail())))?;
    Ok((dt, note))
}

fn settle_time_unchecked(
    path: &Path,
    format: TrajFormat,
    opts: &TrajReadOptions,
    file_steps: Option<(Vec<i64>, &'static str)>,
    file_time_fs: Option<Vec<f64>>,
) -> Result<(f64, String)> {
    // The stride is the step difference, which must be regular.
    let file_stride = match &file_steps {
        Some((steps, what)) if steps.len() > 1 => {
            let d = steps[1] - steps[0];
            if d <= 0 || steps.windows(2).any(|w| w[1] - w[0] != d) {
                return Err(Error::InvalidInput(format!(
                    "{}: the {what} are not evenly spaced",
                    path.display()
                )));
            }
            Some((d as usize, *what))
        }
        _ => None,
    };
    // The time between frames from `time=` (fs), which must be regular.
    let file_dt_fs = match &file_time_fs {
        Some(t) if t.len() > 1 => {
            let d = t[1] - t[0];
            let tol = 1e-6 * d.abs() + 1e-9;
            if d <= 0.0 || t.windows(2).any(|w| ((w[1] - w[0]) - d).abs() > tol) {
                return Err(Error::InvalidInput(format!(
                    "{}: the time= values are not evenly spaced",
                    path.display()
                )));
            }
            Some(d)
        }
        _ => None,
    };
    // The time between stored frames.
    let incar = path
        .parent()
        .map(|d| d.join("INCAR"))
        .filter(|p| p.is_file());
    match (opts.time.timestep_fs, format) {
        (Some(step), _) => {
            if !(step > 0.0 && step.is_finite()) {
                return Err(Error::InvalidInput(format!(
                    "option timestep_fs must be positive, not {step}"
                )));
            }
            // The stride: given, or carried by the file (LAMMPS TIMESTEP, the INCAR's
            // NBLOCK beside an XDATCAR); never guessed. The third value: whether it was
            // read off the kept frames' own step or time values.
            let (stride, from, of_kept_frames) = match (opts.time.stride, file_stride, format) {
                (Some(0), _, _) => {
                    return Err(Error::InvalidInput(
                        "option stride must be at least 1".into(),
                    ));
                }
                (Some(s), _, _) => (s, "given".to_string(), false),
                (None, Some((s, what)), _) => (s, format!("inferred from the {what}"), true),
                (None, None, _) if file_dt_fs.is_some() => {
                    let d = file_dt_fs.unwrap_or_default();
                    let s = (d / step).round();
                    if s < 1.0 || (d - s * step).abs() > 1e-6 * d {
                        return Err(Error::InvalidInput(format!(
                            "{}: the time= values are {d} fs apart, not a whole number of {step} fs steps: check option timestep_fs",
                            path.display()
                        )));
                    }
                    (
                        s as usize,
                        format!("inferred from the time= values ({d} fs apart)"),
                        true,
                    )
                }
                (None, None, TrajFormat::Vasprun) => (
                    1,
                    "1, as vasprun.xml holds every ionic step".to_string(),
                    false,
                ),
                (None, None, TrajFormat::Xdatcar) => match &incar {
                    Some(incar) => {
                        let nblock = xdatcar::incar_nblock(incar)?;
                        (nblock, format!("NBLOCK from {}", incar.display()), false)
                    }
                    None => {
                        return Err(Error::InvalidInput(format!(
                            "{}: XDATCAR frames are NBLOCK MD steps apart and no INCAR beside it says how many: give option stride (NBLOCK) with option timestep_fs",
                            path.display()
                        )));
                    }
                },
                (None, None, _) => {
                    return Err(Error::InvalidInput(format!(
                        "{}: the file does not say how many MD steps lie between its frames: give option stride (1 if every step was written)",
                        path.display()
                    )));
                }
            };
            // The file's own step or time values already span the kept frames; a given
            // stride or NBLOCK counts steps between the file's frames.
            let every = if of_kept_frames { 1 } else { opts.frames.every };
            let stride = stride * every;
            if let Some(d) = file_dt_fs
                && (d - step * stride as f64).abs() > 1e-6 * d
            {
                return Err(Error::InvalidInput(format!(
                    "{}: the time= values are {d} fs apart but option timestep_fs {step} x stride {stride} = {} fs: which is right?",
                    path.display(),
                    step * stride as f64
                )));
            }
            // An INCAR beside an XDATCAR that says otherwise: the given values are
            // used, and the disagreement is said.
            let mut disagree = String::new();
            if format == TrajFormat::Xdatcar
                && let Some(incar) = &incar
                && let Ok((potim, nblock)) = xdatcar::incar_tags(incar)
            {
                let mut what = Vec::new();
                if let Some(p) = potim.filter(|p| (p - step).abs() > 1e-9 * p.abs().max(1.0)) {
                    what.push(format!(
                        "POTIM {} fs (timestep_fs {} given)",
                        crate::traj::fmt_number(p),
                        crate::traj::fmt_number(step)
                    ));
                }
                if let (Some(b), Some(s)) = (nblock, opts.time.stride)
                    && b != s
                {
                    what.push(format!("NBLOCK {b} (stride {s} given)"));
                }
                if !what.is_empty() {
                    disagree = format!(
                        "; warning: {} says {}: the given values are used",
                        incar.display(),
                        what.join(" and ")
                    );
                }
            }
            Ok((
                step * stride as f64 / 1000.0,
                format!(
                    "time between frames {} fs x {stride} = {} ps (time step given, stride {from}{}){disagree}",
                    crate::traj::fmt_number(step),
                    crate::traj::fmt_number(step * stride as f64 / 1000.0),
                    every_note(every, ", x")
                ),
            ))
        }
        (None, TrajFormat::Xdatcar) => match incar {
            Some(incar) => {
                let (potim, nblock) = xdatcar::incar_timestep(&incar)?;
                let stride = opts.time.stride.unwrap_or(nblock);
                let every = opts.frames.every;
                Ok((
                    potim * (stride * every) as f64 / 1000.0,
                    format!(
                        "time between frames POTIM {potim} fs x NBLOCK {stride} from {}{}",
                        incar.display(),
                        every_note(every, " x")
                    ),
                ))
            }
            None => Err(Error::InvalidInput(format!(
                "{}: no INCAR beside the XDATCAR to give POTIM and NBLOCK: give option timestep_fs and option stride",
                path.display()
            ))),
        },
        (None, TrajFormat::Xyz) if file_dt_fs.is_some() => {
            let d = file_dt_fs.unwrap_or_default();
            if opts.time.stride.is_some() {
                return Err(Error::InvalidInput(format!(
                    "{}: the time= values give the time between frames ({d} fs); option stride needs option timestep_fs",
                    path.display()
                )));
            }
            Ok((
                d / 1000.0,
                format!(
                    "time between frames {d} fs = {} ps, inferred from the time= values of the file (read as fs)",
                    d / 1000.0
                ),
            ))
        }
        (None, _) => Err(Error::InvalidInput(format!(
            "{}: the time between frames is not in the file: give option timestep_fs (the MD time step){}",
            path.display(),
            if format == TrajFormat::Lammps {
                "; the stride comes from TIMESTEP"
            } else {
                " and option stride"
            }
        ))),
    }
}

/// `sep` then "N for option every" when option every skips frames (N > 1), else
/// nothing: the end of the time-step notes.
fn every_note(every: usize, sep: &str) -> String {
    if every > 1 {
        format!("{sep} {every} for option every")
    } else {
        String::new()
    }
}
