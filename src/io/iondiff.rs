//! IonDiff's list of trajectories (`DIFFUSION_paths`): one `PATH MATERIAL TEMPERATURE`
//! line per trajectory, `#` starting a comment. PATH is a trajectory file or a folder
//! with an XDATCAR, relative to the list's folder.

use std::path::{Path, PathBuf};

use super::{parse_err, read_text};
use crate::error::{Error, Result};

/// One listed trajectory.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Listed {
    /// The trajectory file (a folder's XDATCAR or XDATCAR.gz).
    pub path: PathBuf,
    pub material: String,
    /// The temperature as written.
    pub temperature: String,
}

/// Read a trajectory list; an error names the line.
pub fn read_paths(list: &Path) -> Result<Vec<Listed>> {
    let text = read_text(list)?;
    let base = list.parent().unwrap_or(Path::new("."));
    let mut entries = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() != 3 {
            return Err(parse_err(
                list,
                i + 1,
                format!(
                    "expected three fields, PATH MATERIAL TEMPERATURE, found {}",
                    f.len()
                ),
            ));
        }
        let mut p = PathBuf::from(f[0]);
        if p.is_relative() {
            p = base.join(p);
        }
        if p.is_dir() {
            p = ["XDATCAR", "XDATCAR.gz"]
                .iter()
                .map(|n| p.join(n))
                .find(|q| q.is_file())
                .ok_or_else(|| {
                    parse_err(list, i + 1, format!("{}: no XDATCAR in this folder", f[0]))
                })?;
        }
        entries.push(Listed {
            path: p,
            material: f[1].to_string(),
            temperature: f[2].to_string(),
        });
    }
    if entries.is_empty() {
        return Err(Error::InvalidInput(format!(
            "{}: no trajectories listed",
            list.display()
        )));
    }
    Ok(entries)
}
