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
    /// What the reader noted (time step, frames chosen), where the analysis does not
    /// report it itself.
    pub notes: Vec<String>,
}

impl StreamRun {
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
