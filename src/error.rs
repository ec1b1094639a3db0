//! The library's one error type. Library code never panics on user input; the binary
//! formats these errors for people.

use std::path::PathBuf;

/// Everything that can go wrong in superion's library layer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No adapter was found or the device could not be created.
    #[error("no usable GPU adapter: {0}")]
    NoAdapter(String),
    /// The GPU reported an error (validation, out of memory, device lost).
    #[error("GPU error: {0}")]
    Gpu(String),
    /// A single piece of work cannot be split small enough for the adapter's limits.
    #[error("too large for this adapter: {0}")]
    TooLarge(String),
    /// The caller passed arguments that do not make sense (shapes, k, lags, ...).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file is malformed: names the file, the line (1-based; 0 when the problem is
    /// a field rather than a line) and what was expected.
    #[error("{}", parse_location(path, *line, message))]
    Parse {
        path: PathBuf,
        line: usize,
        message: String,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

fn parse_location(path: &std::path::Path, line: usize, message: &str) -> String {
    if line == 0 {
        format!("{}: {message}", path.display())
    } else {
        format!("{}:{line}: {message}", path.display())
    }
}

impl Error {
    /// The message without the file name (for notes about a file already named).
    pub(crate) fn detail(&self) -> String {
        match self {
            Error::Parse { message, .. } => message.clone(),
            Error::InvalidInput(m) => m.clone(),
            other => other.to_string(),
        }
    }
}

/// Shorthand for `Error::InvalidInput` with a formatted message.
#[macro_export]
macro_rules! invalid {
    ($($arg:tt)*) => { $crate::error::Error::InvalidInput(format!($($arg)*)) };
}
