//! Opening a trajectory: the format from the file name (or its content), the time
//! between frames from the command line or from an INCAR beside an XDATCAR.

use std::path::Path;

use super::reader::every_note;
pub use super::reader::{FrameRange, ReadEnd, TrajFormat, TrajReadOptions, TrajReader};
use super::xdatcar;
use crate::error::{Error, Result};
use crate::traj::stream::FrameSink;
use crate::traj::{TimeStep, Trajectory};

/// Every trajectory format superion reads, in the order file names are matched (and,
/// binary formats first, contents sniffed). A new format: its reader's file, and one
/// line here.
pub static READERS: &[&dyn TrajReader] = &[
    &super::xdatcar::Reader,
    &super::xyz::Reader,
    &super::lammps::Reader,
    &super::dcd::Reader,
    &super::xtc::Reader,
    &super::h5md::Reader,
    &super::vasprun::Reader,
    &super::ase_traj::Reader,
    #[cfg(feature = "toy-format")]
    &super::toy::Reader,
];

/// The reader named `name` (or one of its aliases; any case).
pub fn by_name(name: &str) -> Option<&'static dyn TrajReader> {
    let n = name.trim().to_ascii_lowercase();
    READERS
        .iter()
        .copied()
        .find(|r| r.name() == n || r.aliases().contains(&n.as_str()))
}

impl TrajFormat {
    /// The format of `reader`.
    pub fn of(reader: &'static dyn TrajReader) -> TrajFormat {
        TrajFormat::named(reader.name())
    }
    /// Its reader.
    pub fn reader(self) -> &'static dyn TrajReader {
        by_name(self.name()).expect("a TrajFormat names a registered reader")
    }
}

impl std::str::FromStr for TrajFormat {
    type Err = Error;
    fn from_str(s: &str) -> Result<TrajFormat> {
        by_name(s).map(TrajFormat::of).ok_or_else(|| {
            let names: Vec<&str> = READERS.iter().map(|r| r.name()).collect();
            Error::InvalidInput(format!(
                "option format {s:?}: expected one of {}",
                names.join(", ")
            ))
        })
    }
}

impl std::fmt::Display for TrajFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The reader of `path`: by its name, else by its first bytes (binary formats first).
fn detect(path: &Path) -> Result<&'static dyn TrajReader> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_uppercase())
        .unwrap_or_default();
    let stem = name.trim_end_matches(".GZ");
    if let Some(r) = READERS.iter().find(|r| r.by_name(stem)) {
        return Ok(*r);
    }
    let head = super::read_head(path, 4096)?;
    for binary in [true, false] {
        if let Some(r) = READERS
            .iter()
            .find(|r| r.binary() == binary && r.sniff(&head))
        {
            return Ok(*r);
        }
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

/// Read `path` and settle its time step: the frames the streamed path hands over,
/// kept in memory (one way in for both).
pub fn read_trajectory(path: &Path, opts: &TrajReadOptions) -> Result<Trajectory> {
    let mut all = super::frames::Collect::default();
    let got = stream_trajectory(path, opts, &mut all)?;
    let mut traj = all.into_trajectory(path, got.notes, got.per_frame_cells)?;
    traj.dt_ps = Some(got.dt_ps);
    Ok(traj)
}

/// The species of `path`'s atoms from option topology: a LAMMPS data file, or the
/// first frame of any trajectory superion reads.
/// The atoms of a file that does not name them (`what`: "a DCD"), from option topology.
pub(crate) fn topology_species(
    path: &Path,
    what: &str,
    opts: &TrajReadOptions,
) -> Result<super::topology::Topology> {
    let name = what;
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
    if !detect(top)?.names_atoms() {
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
    /// The cell changes from frame to frame.
    pub per_frame_cells: bool,
}

/// The longest lattice vector a trajectory may have (Å): far beyond any simulation
/// cell, far below what makes products of lengths overflow.
pub(crate) const MAX_CELL_LENGTH_A: f64 = 1e5;

pub(crate) use crate::traj::{MAX_FRACTIONAL, MAX_SPEED_A_PS};

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
    let reader = match opts.format {
        Some(f) => f.reader(),
        None => detect(path)?,
    };
    // A header's time, or a missing time step said before the frames are read where
    // the frames cannot give it.
    let (before, warnings) = reader.time_before_frames(path, opts)?;
    let early = match before {
        Some(t) => Some(t),
        None if !reader.time_in_frames() && opts.time.timestep_fs.is_none() => {
            Some(settle_time(path, reader, opts, None, None)?)
        }
        None => None,
    };
    // The atoms of a file that does not name them.
    let top = if reader.names_atoms() {
        None
    } else {
        Some(match reader.own_species(path, opts)? {
            Some(t) => t,
            None => topology_species(path, reader.unnamed(), opts)?,
        })
    };
    let end = reader.stream(
        path,
        opts,
        top.as_ref().map(|t| t.species.as_slice()),
        &mut checked,
    )?;
    let mut notes: Vec<String> = top.map(|t| t.note).into_iter().collect();
    notes.extend(end.notes);
    notes.extend(warnings);
    let (dt_ps, note) = match early.or(end.settled) {
        Some(s) => s,
        None => settle_time(path, reader, opts, end.steps, end.time_fs)?,
    };
    notes.push(note);
    Ok(Streamed {
        dt_ps,
        frames: end.frames,
        streamed: !end.read_whole,
        notes,
        per_frame_cells: end.per_frame_cells,
    })
}

/// The time between the kept frames (ps) and how it was found: from the command line,
/// an INCAR beside an XDATCAR, or the step or time values the file stores with each
/// frame (`file_steps`, `file_time_fs`), which must be regular and agree.
/// The time between stored frames (ps) and how it was found, checked once here for
/// every reader: positive, finite and at most [`crate::traj::MAX_FRAME_TIME_PS`].
pub(crate) fn settle_time(
    path: &Path,
    reader: &dyn TrajReader,
    opts: &TrajReadOptions,
    file_steps: Option<(Vec<i64>, &'static str)>,
    file_time_fs: Option<Vec<f64>>,
) -> Result<(f64, String)> {
    let (dt, note) = settle_time_unchecked(path, reader, opts, file_steps, file_time_fs)?;
    crate::traj::check_frame_time(dt)
        .map_err(|e| Error::InvalidInput(format!("{}: {} ({note})", path.display(), e.detail())))?;
    Ok((dt, note))
}

fn settle_time_unchecked(
    path: &Path,
    reader: &dyn TrajReader,
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
        .filter(|p| reader.incar_beside() && p.is_file());
    match (opts.time.timestep_fs, reader.incar_beside()) {
        (Some(step), _) => {
            if !(step > 0.0 && step.is_finite()) {
                return Err(Error::InvalidInput(format!(
                    "option timestep_fs must be positive, not {step}"
                )));
            }
            // The stride: given, or carried by the file (LAMMPS TIMESTEP, the INCAR's
            // NBLOCK beside an XDATCAR); never guessed. The third value: whether it was
            // read off the kept frames' own step or time values.
            let (stride, from, of_kept_frames) = match (
                opts.time.stride,
                file_stride,
                reader.stride_when_silent(),
            ) {
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
                (None, None, Some((s, why))) => (s, why.to_string(), false),
                (None, None, None) if reader.incar_beside() => match &incar {
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
                (None, None, None) => {
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
            if let Some(incar) = &incar
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
        (None, true) => match incar {
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
        (None, false) if file_dt_fs.is_some() => {
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
            reader.time_hint()
        ))),
    }
}

/// The streaming policy lives where files are opened (it looks at them): here.
impl crate::traj::stream::StreamOptions {
    /// How many bytes the in-memory path holds for `path`, estimated from its size:
    /// about 1.2 bytes per byte of text (f32 positions of every atom, the unwrapped
    /// copy of the selected ones, the cells; 0.89 GB for a 0.74 GB XDATCAR), and six
    /// bytes per byte of a compressed file (text compresses four to five times).
    pub fn in_memory_estimate(path: &Path) -> Option<u64> {
        let len = std::fs::metadata(path).ok()?.len();
        let packed = crate::io::stored_compressed(path).unwrap_or(false);
        Some(if packed {
            len.saturating_mul(6)
        } else {
            len.saturating_add(len / 5)
        })
    }

    /// Whether an analysis of `files` streams, and how: the one policy of every front
    /// end. Asked for (a memory limit or a scratch folder given), or automatic: when
    /// the frames, as the in-memory path would hold them ([`Self::in_memory_estimate`]),
    /// take more than the default budget (256 MiB) or more than a quarter of the memory
    /// this machine has available now (Linux's MemAvailable). The streamed path is then
    /// both smaller and faster (a 0.74 GB XDATCAR, `traj msd`: 1.6 s at 0.31 GB
    /// streamed, 1.9-3.6 s at 0.89 GB in memory; BENCHMARKS.md). `None`: read the
    /// trajectory into memory.
    pub fn choose(
        files: &[&Path],
        memory_bytes: Option<u64>,
        scratch_dir: Option<std::path::PathBuf>,
    ) -> Option<crate::traj::stream::StreamOptions> {
        let asked = memory_bytes.is_some() || scratch_dir.is_some();
        let default = crate::traj::stream::StreamOptions::default();
        let available = crate::traj::stream::available_memory_bytes();
        let large = files.iter().any(|f| {
            Self::in_memory_estimate(f).is_some_and(|held| {
                held > default.memory_bytes || available.is_some_and(|a| held > a / 4)
            })
        });
        (asked || large).then(|| crate::traj::stream::StreamOptions {
            memory_bytes: memory_bytes.unwrap_or(default.memory_bytes),
            scratch_dir,
        })
    }
}
