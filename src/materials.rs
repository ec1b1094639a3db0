//! Materials for the phonon screening, from the inputs a user names: files, phonopy
//! folders, PhononDB entries, or folders that hold many of them. They are discovered,
//! read in parallel (a PhononDB entry's or phonopy parameters file's DOS computed from
//! its force sets), and described; a bad input is reported with its error and skipped
//! (or stops the run under `--strict`), never silently dropped.
//!
//! This is a pipeline over the readers (`crate::io`) and the phonon code
//! (`crate::phonon`): the one place where reading and computing meet.

use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::io;
use crate::phonon::Dos;
use crate::phonon::descriptors::{FeatureOptions, FeatureRow, Value, features};
use crate::phonon::entry_dos::{DosOptions, EntryDos, entry_dos, params_dos};
use crate::phonon::mesh::Resolve;
use crate::progress;

/// One phonon DOS source.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum PhononInput {
    /// A Materials Project JSON document (`.json` or `.json.gz`).
    MpJson(PathBuf),
    /// A phonopy folder with `total_dos.dat`.
    Phonopy(PathBuf),
    /// A PhononDB entry (`.tar.lzma`/`.tar.xz` archive or unpacked folder with
    /// `FORCE_SETS`): its DOS is computed from the force sets.
    PhononDb(PathBuf),
}

impl PhononInput {
    pub fn path(&self) -> &Path {
        match self {
            PhononInput::MpJson(p) | PhononInput::Phonopy(p) | PhononInput::PhononDb(p) => p,
        }
    }

    /// Read (or, for a PhononDB entry, compute with the screening defaults) the DOS.
    pub fn read(&self) -> Result<Dos> {
        self.read_with(&screening_dos_options())
    }

    /// Read the DOS; a PhononDB entry's is computed with `dos`.
    pub(crate) fn read_with(&self, dos: &DosOptions) -> Result<Dos> {
        match self {
            PhononInput::MpJson(p) => io::mp_json::read(p),
            PhononInput::Phonopy(p) => io::phonopy::read(p),
            PhononInput::PhononDb(p) => Ok(compute_dos(p, dos)?.dos),
        }
    }
}

/// How screening computes a PhononDB entry's DOS: phonopy's defaults (20 × 20 × 20
/// mesh, tetrahedron method, NAC when BORN is there), projected per element.
pub fn screening_dos_options() -> DosOptions {
    let mut o = DosOptions::default();
    o.mesh.resolve = Resolve::Elements;
    o
}

/// A PhononDB archive by its name.
pub(crate) fn is_phonondb_archive(p: &Path) -> bool {
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    name.ends_with(".tar.lzma") || name.ends_with(".tar.xz")
}

/// An unpacked PhononDB entry (or any folder with phonopy's finite-displacement inputs).
pub(crate) fn is_phonondb_dir(dir: &Path) -> bool {
    ["FORCE_SETS", "POSCAR-unitcell", "phonopy.conf"]
        .iter()
        .all(|f| dir.join(f).is_file())
}

fn is_json(p: &Path) -> bool {
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    name.ends_with(".json") || name.ends_with(".json.gz")
}

/// Expand paths into inputs: a JSON file is one input; a folder with `total_dos.dat`
/// is one phonopy input; any other folder is searched (recursively, within the bounds of
/// [`io::walk`]) for both.
pub fn discover(paths: &[PathBuf]) -> Result<Vec<PhononInput>> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_file() {
            if is_json(p) {
                out.push(PhononInput::MpJson(p.clone()));
            } else if is_phonondb_archive(p) {
                out.push(PhononInput::PhononDb(p.clone()));
            } else {
                return Err(Error::InvalidInput(format!(
                    "{}: not a phonon input (expected a .json/.json.gz Materials Project document, a PhononDB .tar.lzma entry, or a phonopy or PhononDB folder)",
                    p.display()
                )));
            }
        } else if p.is_dir() {
            let before = out.len();
            walk(&mut io::walk::Walk::new(p), p, 0, &mut out)?;
            if out.len() == before {
                return Err(Error::InvalidInput(format!(
                    "{}: no phonon inputs inside (no .json/.json.gz documents, no PhononDB entries, no folders with total_dos.dat or FORCE_SETS)",
                    p.display()
                )));
            }
        } else if p.exists() {
            return Err(Error::InvalidInput(format!(
                "{}: not a regular file or folder (a device, FIFO or socket is not an input)",
                p.display()
            )));
        } else {
            return Err(Error::Io {
                path: p.clone(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or folder"),
            });
        }
    }
    Ok(out)
}

fn walk(
    w: &mut io::walk::Walk,
    dir: &Path,
    depth: usize,
    out: &mut Vec<PhononInput>,
) -> Result<()> {
    if io::phonopy::is_phonopy_dir(dir) {
        out.push(PhononInput::Phonopy(dir.to_path_buf()));
        return Ok(());
    }
    if is_phonondb_dir(dir) {
        out.push(PhononInput::PhononDb(dir.to_path_buf()));
        return Ok(());
    }
    let Some(paths) = w.entries(dir, depth)? else {
        return Ok(());
    };
    let mut found = Vec::new();
    for p in paths {
        if p.is_dir() {
            walk(w, &p, depth + 1, &mut found)?;
        } else if is_json(&p) {
            found.push(PhononInput::MpJson(p));
        } else if is_phonondb_archive(&p) {
            found.push(PhononInput::PhononDb(p));
        }
    }
    out.extend(found);
    Ok(())
}

/// A failed input and why.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Failure {
    pub input: PathBuf,
    pub error: String,
}

/// Read every input in parallel (a progress bar on a terminal); results keep the
/// order of `inputs`.
pub fn read_all(inputs: &[PhononInput]) -> (Vec<Dos>, Vec<Failure>) {
    read_all_with(inputs, &screening_dos_options())
}

/// [`read_all`], computing PhononDB entries' DOS with `dos`.
pub(crate) fn read_all_with(inputs: &[PhononInput], dos: &DosOptions) -> (Vec<Dos>, Vec<Failure>) {
    let bar = progress::bar(inputs.len() as u64, "reading phonon DOS");
    let results: Vec<Result<Dos>> = inputs
        .par_iter()
        .map(|i| {
            let r = i.read_with(dos);
            bar.inc(1);
            r
        })
        .collect();
    bar.finish_and_clear();
    let mut ok = Vec::new();
    let mut failed = Vec::new();
    for (input, r) in inputs.iter().zip(results) {
        match r {
            Ok(d) => ok.push(d),
            Err(e) => failed.push(Failure {
                input: input.path().to_path_buf(),
                error: e.to_string(),
            }),
        }
    }
    (ok, failed)
}

/// A PhononDB entry (archive or folder) or a phonopy parameters file
/// (`phonopy_params.yaml`, `phonopy.yaml`, optionally gzipped; or a folder holding one
/// with force constants or forces).
pub fn compute_dos(path: &Path, opts: &DosOptions) -> Result<EntryDos> {
    if let Some(params) = params_file(path) {
        return params_dos(&io::phonopy_params::read(&params)?, opts);
    }
    entry_dos(&io::phonondb::read_entry(path)?, opts)
}

/// The phonopy parameters file `path` is or holds, if any.
pub(crate) fn params_file(path: &Path) -> Option<std::path::PathBuf> {
    let name = path.file_name()?.to_string_lossy().to_lowercase();
    if path.is_file()
        && (name.ends_with(".yaml") || name.ends_with(".yaml.gz") || name.ends_with(".yml"))
    {
        return Some(path.to_path_buf());
    }
    if path.is_dir() && !is_phonondb_dir(path) {
        for n in ["phonopy_params.yaml", "phonopy_params.yaml.gz"] {
            if path.join(n).is_file() {
                return Some(path.join(n));
            }
        }
    }
    None
}

/// Descriptors for every readable input; inputs that fail to read or describe are
/// returned as failures (in input order).
pub fn feature_rows(
    inputs: &[PathBuf],
    opts: &FeatureOptions,
    dos_opts: &DosOptions,
) -> Result<(Vec<FeatureRow>, Vec<Failure>)> {
    let found = discover(inputs)?;
    let (dos, mut failures) = read_all_with(&found, dos_opts);
    let described: Vec<_> = dos
        .par_iter()
        .map(|d| (d.source.clone(), features(d, opts)))
        .collect();
    let mut rows = Vec::new();
    for (source, r) in described {
        match r {
            Ok(row) => rows.push(row),
            Err(e) => failures.push(Failure {
                input: source,
                error: e.to_string(),
            }),
        }
    }
    Ok((rows, failures))
}

/// Feature rows as a table: a header (the union of columns, first-seen order) and
/// formatted fields (empty where a row has no value).
pub fn feature_table(rows: &[FeatureRow]) -> (Vec<String>, Vec<Vec<String>>) {
    let mut header: Vec<String> = Vec::new();
    for r in rows {
        for (k, _) in &r.columns {
            if !header.contains(k) {
                header.push(k.clone());
            }
        }
    }
    let body = rows
        .iter()
        .map(|r| {
            header
                .iter()
                .map(|h| match r.get(h) {
                    Some(Value::Num(v)) => io::fmt_f64(*v),
                    Some(Value::Bool(b)) => b.to_string(),
                    Some(Value::Text(t)) => t.clone(),
                    None => String::new(),
                })
                .collect()
        })
        .collect();
    (header, body)
}

/// A feature row as a JSON object (NaN as null).
pub fn row_json(r: &FeatureRow) -> serde_json::Value {
    let map: serde_json::Map<String, serde_json::Value> = r
        .columns
        .iter()
        .map(|(k, v)| {
            let v = match v {
                Value::Num(x) if x.is_nan() => serde_json::Value::Null,
                other => serde_json::to_value(other).unwrap_or_default(),
            };
            (k.clone(), v)
        })
        .collect();
    serde_json::Value::Object(map)
}
