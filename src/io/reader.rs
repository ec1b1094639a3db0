//! The trajectory reader interface: what every trajectory format implements
//! ([`TrajReader`]), what a read hands back ([`ReadEnd`]), the options of a read, and the
//! time rules the readers share. The registry of formats ([`super::traj_input::READERS`])
//! lists the readers; a new format is one file (its parser and its `TrajReader`) plus
//! one line there.

use std::path::{Path, PathBuf};

pub use super::frames::FrameRange;
use super::topology::Topology;
use crate::error::{Error, Result};
use crate::traj::TimeStep;
use crate::traj::stream::FrameSink;

/// How a reader's pass over a file ended: what the time between frames is settled
/// from (once, for every reader, by [`super::traj_input`]).
#[derive(Debug, Default)]
pub struct ReadEnd {
    /// Frames handed to the sink.
    pub frames: usize,
    /// The step numbers the file stores with each kept frame, and what they are.
    pub steps: Option<(Vec<i64>, &'static str)>,
    /// The times (fs) the file stores with each kept frame.
    pub time_fs: Option<Vec<f64>>,
    /// How the reader interpreted the file.
    pub notes: Vec<String>,
    /// The time between kept frames (ps) and how it was found, where the file gave it
    /// (an H5MD's or XTC's frame times, a vasprun.xml's POTIM).
    pub settled: Option<(f64, String)>,
    /// The file was decompressed whole before its frames were read (a gzipped ASE
    /// .traj), not streamed.
    pub read_whole: bool,
    /// The cell changes from frame to frame (kept per frame in memory).
    pub per_frame_cells: bool,
}

/// A trajectory format.
pub trait TrajReader: Sync {
    /// The name `--format` and Python's `format=` take (lower case).
    fn name(&self) -> &'static str;
    /// Other names accepted for it.
    fn aliases(&self) -> &'static [&'static str] {
        &[]
    }
    /// One line for `--help`.
    fn about(&self) -> &'static str;
    /// Whether a file name marks this format (`name`: upper-cased, `.GZ` removed).
    fn by_name(&self, name: &str) -> bool;
    /// Whether the format is binary (binary formats are sniffed before text ones).
    fn binary(&self) -> bool {
        false
    }
    /// Whether the first bytes of a file (decompressed) mark this format.
    fn sniff(&self, head: &[u8]) -> bool;
    /// Whether the file names its atoms. When not (DCD, XTC), [`TrajReader::stream`]
    /// is given the species: the file's own ([`TrajReader::own_species`]) or option
    /// topology's.
    fn names_atoms(&self) -> bool {
        true
    }
    /// What the file is, in a message that it names no atoms ("a DCD").
    fn unnamed(&self) -> &'static str {
        "this file"
    }
    /// The species a file that does not name its atoms gives with help (an H5MD's
    /// species with option type_map); `None`: option topology must.
    fn own_species(&self, _path: &Path, _opts: &TrajReadOptions) -> Result<Option<Topology>> {
        Ok(None)
    }
    /// Whether the frames can give the time between them (their steps with a given
    /// time step, their times). When not (XDATCAR, ASE .traj, LAMMPS dumps), a missing
    /// time step is settled, or refused, before the frames are read.
    fn time_in_frames(&self) -> bool {
        true
    }
    /// The time between frames a header gives before the frames (a DCD's NSAVC x
    /// DELTA), and warnings (a given time step that disagrees with it).
    fn time_before_frames(
        &self,
        _path: &Path,
        _opts: &TrajReadOptions,
    ) -> Result<(Option<(f64, String)>, Vec<String>)> {
        Ok((None, Vec::new()))
    }
    /// The MD steps between frames when neither an option nor the file's step values
    /// say (vasprun.xml holds every ionic step: 1), and why.
    fn stride_when_silent(&self) -> Option<(usize, &'static str)> {
        None
    }
    /// Whether a VASP INCAR beside the file gives the time step (POTIM) and the steps
    /// between frames (NBLOCK).
    fn incar_beside(&self) -> bool {
        false
    }
    /// What the message for a missing time step adds after "give option timestep_fs".
    fn time_hint(&self) -> &'static str {
        " and option stride"
    }
    /// Read the frames `opts` choose into `sink`, block by block; `species` names the
    /// atoms of a file that does not ([`TrajReader::names_atoms`]).
    fn stream(
        &self,
        path: &Path,
        opts: &TrajReadOptions,
        species: Option<&[String]>,
        sink: &mut dyn FrameSink,
    ) -> Result<ReadEnd>;
}

/// The species handed to [`TrajReader::stream`] by a format that does not name its
/// atoms.
pub(crate) fn given_species<'a>(
    path: &Path,
    species: Option<&'a [String]>,
) -> Result<&'a [String]> {
    species
        .ok_or_else(|| Error::InvalidInput(format!("{}: no species for its atoms", path.display())))
}

/// A trajectory file format: one reader of the registry ([`super::traj_input::READERS`]), by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrajFormat(&'static str);

/// The formats by their old names (a format added to the registry needs none: parse
/// its name).
#[allow(non_upper_case_globals)]
impl TrajFormat {
    pub const Xdatcar: TrajFormat = TrajFormat("xdatcar");
    pub const Xyz: TrajFormat = TrajFormat("xyz");
    pub const Lammps: TrajFormat = TrajFormat("lammps");
    pub const AseTraj: TrajFormat = TrajFormat("ase-traj");
    pub const Dcd: TrajFormat = TrajFormat("dcd");
    pub const Xtc: TrajFormat = TrajFormat("xtc");
    pub const H5md: TrajFormat = TrajFormat("h5md");
    pub const Vasprun: TrajFormat = TrajFormat("vasprun");
}

impl TrajFormat {
    /// Its name (as `--format` takes it).
    pub fn name(self) -> &'static str {
        self.0
    }
    /// The format a reader's name stands for (unchecked: see `str::parse`).
    pub(crate) const fn named(name: &'static str) -> TrajFormat {
        TrajFormat(name)
    }
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

/// A number for a note: four decimals where that shows it (2.0455, 100), else four
/// significant digits in exponent form.
pub(crate) fn short(v: f64) -> String {
    if v.abs() >= 1e-3 && v.abs() < 1e12 {
        format!("{}", (v * 1e4).round() / 1e4)
    } else {
        format!("{v:.3e}")
    }
}

/// The time between frames from the frames' own times and steps (XTC, H5MD), unless
/// option timestep_fs is given (then the stride comes from the steps, by
/// `settle_time`); option stride alone contradicts the file.
pub(crate) fn file_times(
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
    time_from_steps_and_times(path, steps, times).map(Some)
}

/// The time between frames from their steps (evenly spaced) and times (ps; single
/// precision or better): the elapsed time over the frames, to 7 significant digits.
pub(crate) fn time_from_steps_and_times(
    path: &Path,
    s: &[i64],
    t: &[f64],
) -> Result<(f64, String)> {
    if s.len() < 2 {
        return Err(Error::InvalidInput(format!(
            "{}: one frame: no time between frames",
            path.display()
        )));
    }
    let d = s[1] - s[0];
    if d <= 0 || s.windows(2).any(|w| w[1] - w[0] != d) {
        return Err(Error::InvalidInput(format!(
            "{}: the frames' steps are not evenly spaced: give option timestep_fs and option stride",
            path.display()
        )));
    }
    let k = (s.len() - 1) as f64;
    // Single-precision times hold about 7 significant digits: so does the step.
    let dt = (t[t.len() - 1] - t[0]) / k;
    let dt = format!("{dt:.6e}").parse::<f64>().unwrap_or(dt);
    // Each stored time within single precision of the even grid.
    let tol = |v: f64| 4.0 * f32::EPSILON as f64 * v.abs().max(dt) + 1e-9;
    if !(dt > 0.0)
        || t.iter()
            .enumerate()
            .any(|(i, v)| (v - (t[0] + i as f64 * dt)).abs() > tol(*v))
    {
        return Err(Error::InvalidInput(format!(
            "{}: the frames' times are not evenly spaced: give option timestep_fs",
            path.display()
        )));
    }
    Ok((
        dt,
        format!(
            "time between frames {} ps, from the frames' times (frames {d} step{} apart, {} fs a step)",
            dt,
            if d == 1 { "" } else { "s" },
            fmt_g(1000.0 * dt / d as f64)
        ),
    ))
}

/// A time without the last digits single precision cannot hold.
fn fmt_g(v: f64) -> String {
    let s = format!("{:.6e}", v);
    s.parse::<f64>().map_or(s, |x| x.to_string())
}

/// `sep` then "N for option every" when option every skips frames (N > 1), else
/// nothing: the end of the time-step notes.
pub(crate) fn every_note(every: usize, sep: &str) -> String {
    if every > 1 {
        format!("{sep} {every} for option every")
    } else {
        String::new()
    }
}
