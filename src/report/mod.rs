//! Output bundles: what one analysis writes into its `--out` folder (tables, JSON
//! summaries, figures), typed and callable from the library. This layer sits above
//! the analyses, the readers and writers (`crate::io`) and the figures (`crate::plot`).

pub mod cluster;
pub mod correlations;
pub mod demo;
pub mod hops;
pub mod msd;
pub mod phonon;
pub mod screen;
pub mod validation;
pub mod vdos;

use std::path::PathBuf;

use crate::io::traj_input::TrajReadOptions;
use crate::traj::stream::StreamOptions;

/// A trajectory file to analyse, how to read it, and what the streaming policy
/// ([`StreamOptions::choose`]) decides by: the one way in of `traj msd`, `traj hops`,
/// `traj vdos` and `traj correlations`, from the CLI and from Python alike. The front
/// ends pass these options only; the library reads the file into memory or streams it.
#[derive(Clone, Debug)]
pub struct TrajFile {
    pub path: PathBuf,
    pub read: TrajReadOptions,
    /// A memory budget for the streamed path's atom windows (bytes): asks for streaming.
    pub memory: Option<u64>,
    /// A folder for the streamed path's scratch files: asks for streaming.
    pub scratch: Option<PathBuf>,
}

impl TrajFile {
    /// `path` read with `read`, the policy automatic.
    pub fn new(path: impl Into<PathBuf>, read: TrajReadOptions) -> Self {
        TrajFile {
            path: path.into(),
            read,
            memory: None,
            scratch: None,
        }
    }

    /// How this file is streamed, or None: read into memory.
    pub fn policy(&self) -> Option<StreamOptions> {
        StreamOptions::choose(&[&self.path], self.memory, self.scratch.clone())
    }
}

/// How an analysis read its trajectory.
#[derive(Clone, Debug)]
pub struct Ran {
    /// What the reader noted (time between frames, frames chosen).
    pub read_notes: Vec<String>,
    /// How it was streamed; None: read into memory, then analysed.
    pub stream: Option<StreamRun>,
    /// Reading alone (s) when read into memory; 0 when streamed (the two overlap).
    pub read_secs: f64,
    /// The analysis (s) when read into memory; reading and analysis when streamed.
    pub secs: f64,
    /// Frames read (after the reading options' selection).
    pub frames: usize,
}

impl Ran {
    /// Run one analysis of `src` as the policy decides: `streamed` (given the streaming
    /// options; it returns the result, the reader's notes, the frames read and how it
    /// streamed) or `in_memory` on the trajectory read whole. The one place where an
    /// analysis of a file is timed and its path chosen.
    pub(crate) fn run<T>(
        src: &TrajFile,
        streamed: impl FnOnce(&StreamOptions) -> crate::Result<(T, Vec<String>, usize, StreamRun)>,
        in_memory: impl FnOnce(&crate::traj::Trajectory) -> crate::Result<T>,
    ) -> crate::Result<(T, Ran)> {
        let t0 = std::time::Instant::now();
        match src.policy() {
            Some(so) => {
                let (r, read_notes, frames, run) = streamed(&so)?;
                let ran = Ran {
                    read_notes,
                    stream: Some(run),
                    read_secs: 0.0,
                    secs: t0.elapsed().as_secs_f64(),
                    frames,
                };
                Ok((r, ran))
            }
            None => {
                let traj = crate::io::traj_input::read_trajectory(&src.path, &src.read)?;
                let read_secs = t0.elapsed().as_secs_f64();
                let t1 = std::time::Instant::now();
                let r = in_memory(&traj)?;
                let ran = Ran {
                    frames: traj.n_frames(),
                    read_notes: traj.notes,
                    stream: None,
                    read_secs,
                    secs: t1.elapsed().as_secs_f64(),
                };
                Ok((r, ran))
            }
        }
    }
}

/// How a streamed analysis ran.
#[derive(Clone, Debug, serde::Serialize)]
pub struct StreamRun {
    /// Whether the file was read as a stream (false: read whole, then streamed).
    pub read_as_stream: bool,
    /// Scratch written (bytes).
    pub scratch_bytes: u64,
    pub window_atoms: usize,
    pub windows: usize,
    pub memory_budget_bytes: u64,
}

impl StreamRun {
    /// How a run streamed: the reader's end (`got`), the sink's windows (`info`) and the
    /// budget (`stream`).
    pub(crate) fn new(
        got: &crate::io::traj_input::Streamed,
        info: &crate::traj::stream::StreamRunInfo,
        stream: &StreamOptions,
    ) -> Self {
        StreamRun {
            read_as_stream: got.streamed,
            scratch_bytes: info.scratch_bytes,
            window_atoms: info.window_atoms,
            windows: info.windows,
            memory_budget_bytes: stream.memory_bytes,
        }
    }

    /// The run in one line, for `frames` frames.
    pub fn describe(&self, frames: usize) -> String {
        format!(
            "streamed{}: {frames} frames, {} windows of up to {} atoms within {} MB, {} MB of scratch",
            if self.read_as_stream {
                ""
            } else {
                " (after reading the file whole)"
            },
            self.windows,
            self.window_atoms,
            self.memory_budget_bytes >> 20,
            self.scratch_bytes >> 20
        )
    }
}
