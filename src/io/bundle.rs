//! An output folder written as one result.
//!
//! A command that writes several files into `--out DIR` (msd.csv, msd.svg,
//! summary.json, ...) opens a [`Bundle`] before it starts the work and commits it after
//! the last file:
//! - **writability first:** the folder is created and a lock file written in it before
//!   any input is read, so an unwritable `--out` is an error in the first second, not
//!   after an hour of work;
//! - **one run at a time:** the lock file `DIR/.superion.lock` (process id and host)
//!   refuses a second run into the same folder while the first is alive; a lock left by
//!   a dead process on this host is taken over;
//! - **complete or marked incomplete:** `DIR/manifest.json` is removed when a run opens
//!   the folder and written last, listing every file the run wrote with its size and
//!   SHA-256. A folder without a manifest (a killed run, a failed one) is not a result;
//!   one with a manifest holds exactly the files it lists, from one run;
//! - **no litter:** temporary files that dead processes left (`.NAME.tmp-PID-N`, from
//!   [`super::write_atomic`]) are removed from the folder and its subfolders.
//!
//! Each file itself is written atomically (a temporary file renamed over the target),
//! so a reader never sees a half-written file either.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use sha2::{Digest, Sha256};

use super::io_err;
use crate::{Error, Result};

/// The name of the manifest a committed bundle carries.
pub const MANIFEST: &str = "manifest.json";
/// The name of the lock file of a bundle being written.
pub const LOCK: &str = ".superion.lock";

/// The folders of the bundles open in this process, and the files
/// [`super::write_atomic_with`] wrote into them (each bundle takes its own at commit).
static OPEN: Mutex<Registry> = Mutex::new(Registry {
    dirs: Vec::new(),
    written: Vec::new(),
});

struct Registry {
    dirs: Vec<PathBuf>,
    written: Vec<PathBuf>,
}

/// Note a file written (called by the atomic writer after its rename); kept only when
/// it lies in an open bundle, so nothing accumulates otherwise.
pub(super) fn record(path: &Path) {
    if let Ok(mut r) = OPEN.lock()
        && r.dirs.iter().any(|d| path.starts_with(d))
    {
        r.written.push(path.to_path_buf());
    }
}

/// An output folder being written; see the module documentation.
#[derive(Debug)]
pub struct Bundle {
    dir: PathBuf,
    lock: PathBuf,
    token: String,
    /// The folder did not exist before: a run that fails before writing anything
    /// removes it again (an empty folder is not left behind by an error).
    created: bool,
}

/// One file of a committed bundle.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct ManifestFile {
    /// Relative to the bundle's folder, with `/` separators.
    pub path: String,
    pub bytes: u64,
    pub sha256: String,
}

/// The manifest of a committed bundle.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct Manifest {
    pub superion_version: String,
    /// What wrote the bundle (e.g. `traj msd`).
    pub command: String,
    pub files: Vec<ManifestFile>,
}

impl Bundle {
    /// Open `dir` for writing: create it, take its lock, remove what dead runs left and
    /// the previous manifest. Errors: `dir` exists and is not a folder, cannot be
    /// written, or another live run holds it.
    pub fn open(dir: &Path) -> Result<Bundle> {
        match std::fs::metadata(dir) {
            Ok(m) if !m.is_dir() => {
                return Err(Error::InvalidInput(format!(
                    "--out {}: exists and is not a folder; an output folder is needed here",
                    dir.display()
                )));
            }
            _ => {}
        }
        let created = !dir.exists();
        std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
        let lock = dir.join(LOCK);
        let token = format!("pid={} host={}\n", std::process::id(), host());
        let mut attempts = 0;
        loop {
            attempts += 1;
            let created = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&lock);
            match created {
                Ok(mut f) => {
                    std::io::Write::write_all(&mut f, token.as_bytes())
                        .map_err(|e| io_err(&lock, e))?;
                    break;
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempts < 3 => {
                    let held = std::fs::read_to_string(&lock).unwrap_or_default();
                    match parse_lock(&held) {
                        Some((pid, h)) if h == host() && !alive(pid) => {
                            // A dead run's lock: take it over.
                            let _ = std::fs::remove_file(&lock);
                        }
                        Some((pid, h)) => {
                            return Err(Error::InvalidInput(format!(
                                "--out {}: another superion run (process {pid} on {h}) is writing into this folder; wait for it to finish or choose another --out (if no such run exists, remove {})",
                                dir.display(),
                                lock.display()
                            )));
                        }
                        // Being written this instant, or not ours: look again.
                        None => std::thread::sleep(std::time::Duration::from_millis(50)),
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    return Err(Error::InvalidInput(format!(
                        "--out {}: {} is held and unreadable; if no superion run is writing here, remove it",
                        dir.display(),
                        lock.display()
                    )));
                }
                Err(e) => {
                    return Err(Error::InvalidInput(format!(
                        "--out {}: cannot write into this folder ({e}); nothing was computed",
                        dir.display()
                    )));
                }
            }
        }
        let bundle = Bundle {
            dir: dir.to_path_buf(),
            lock,
            token,
            created,
        };
        remove_dead_temporaries_of(dir, None);
        if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    remove_dead_temporaries_of(&e.path(), None);
                }
            }
        }
        let manifest = dir.join(MANIFEST);
        if std::fs::symlink_metadata(&manifest).is_ok_and(|m| m.is_file()) {
            std::fs::remove_file(&manifest).map_err(|e| io_err(&manifest, e))?;
        }
        if let Ok(mut r) = OPEN.lock() {
            r.dirs.push(dir.to_path_buf());
        }
        Ok(bundle)
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Write the manifest (last: the files it lists are all in place) and release the
    /// lock. Returns the manifest.
    pub fn commit(self, command: &str) -> Result<Manifest> {
        // Test hook: die like a killed run, every file written and the manifest not.
        if std::env::var_os("SUPERION_TEST_ABORT_BEFORE_MANIFEST").is_some() {
            std::process::abort();
        }
        let mut paths = self.take_written();
        paths.sort();
        paths.dedup();
        let mut files = Vec::with_capacity(paths.len());
        for p in &paths {
            let rel = p.strip_prefix(&self.dir).unwrap_or(p);
            if rel == Path::new(MANIFEST) {
                continue;
            }
            // A file written and then removed as stale by the same run is not listed.
            let Ok(bytes) = std::fs::read(p) else {
                continue;
            };
            files.push(ManifestFile {
                path: rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect::<Vec<_>>()
                    .join("/"),
                bytes: bytes.len() as u64,
                sha256: hex_sha256(&bytes),
            });
        }
        let manifest = Manifest {
            superion_version: env!("CARGO_PKG_VERSION").to_string(),
            command: command.to_string(),
            files,
        };
        let text = serde_json::to_string_pretty(&manifest)
            .map_err(|e| Error::InvalidInput(format!("manifest: {e}")))?;
        super::write_atomic(&self.dir.join(MANIFEST), text.as_bytes())?;
        // A committed folder stays, even when it holds only its manifest.
        let mut this = self;
        this.created = false;
        Ok(manifest)
        // The lock goes with `self`.
    }
}

impl Bundle {
    /// The files written into this bundle so far (taken out of the registry).
    fn take_written(&self) -> Vec<PathBuf> {
        match OPEN.lock() {
            Ok(mut r) => {
                let (mine, rest): (Vec<PathBuf>, Vec<PathBuf>) =
                    r.written.drain(..).partition(|p| p.starts_with(&self.dir));
                r.written = rest;
                mine
            }
            Err(_) => Vec::new(),
        }
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        self.take_written();
        if let Ok(mut r) = OPEN.lock()
            && let Some(i) = r.dirs.iter().position(|d| *d == self.dir)
        {
            r.dirs.swap_remove(i);
        }
        // Only our own lock (a folder removed and re-made by someone else is theirs).
        if std::fs::read_to_string(&self.lock).is_ok_and(|t| t == self.token) {
            let _ = std::fs::remove_file(&self.lock);
            if self.created {
                // Only if empty: remove_dir refuses a folder with anything in it.
                let _ = std::fs::remove_dir(&self.dir);
            }
        }
    }
}

/// Read a committed bundle's manifest and check that every file it lists is there with
/// its size and digest. Errors name the first file that differs.
pub fn verify(dir: &Path) -> Result<Manifest> {
    let path = dir.join(MANIFEST);
    let text = super::read_text(&path)?;
    let m: Manifest = serde_json::from_str(&text)
        .map_err(|e| super::parse_err(&path, e.line(), format!("not a superion manifest: {e}")))?;
    for f in &m.files {
        let p = dir.join(&f.path);
        let bytes = std::fs::read(&p).map_err(|e| io_err(&p, e))?;
        if bytes.len() as u64 != f.bytes || hex_sha256(&bytes) != f.sha256 {
            return Err(Error::InvalidInput(format!(
                "{}: differs from {} (written by another run, or changed since)",
                p.display(),
                path.display()
            )));
        }
    }
    Ok(m)
}

/// SHA-256 of `bytes` as 64 lower-case hexadecimal digits.
pub(crate) fn hex_sha256(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Lower-case hex of a digest.
pub(crate) fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn parse_lock(text: &str) -> Option<(u32, String)> {
    let mut pid = None;
    let mut host = None;
    for w in text.split_whitespace() {
        if let Some(v) = w.strip_prefix("pid=") {
            pid = v.parse().ok();
        } else if let Some(v) = w.strip_prefix("host=") {
            host = Some(v.to_string());
        }
    }
    Some((pid?, host?))
}

/// This machine's name (locks on a shared file system name their host).
fn host() -> String {
    #[cfg(unix)]
    {
        let mut buf = [0u8; 256];
        // SAFETY: the buffer is valid for its length; gethostname writes at most that.
        let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
        if rc == 0 {
            let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
            let name: String = String::from_utf8_lossy(&buf[..end])
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect();
            if !name.is_empty() {
                return name;
            }
        }
    }
    "localhost".to_string()
}

/// Whether process `pid` on this host is alive (a process we may not signal is alive).
pub(super) fn alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    #[cfg(unix)]
    {
        let Ok(p) = libc::pid_t::try_from(pid) else {
            return false;
        };
        if p <= 0 {
            return false;
        }
        // SAFETY: signal 0 checks existence and permission only; nothing is sent.
        let rc = unsafe { libc::kill(p, 0) };
        rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
    }
    #[cfg(not(unix))]
    {
        true
    }
}

/// The process id in a temporary file's name `.NAME.tmp-PID-N`, if it is one.
pub(super) fn temporary_owner(name: &str) -> Option<u32> {
    let rest = name.strip_prefix('.')?;
    let (_, tail) = rest.rsplit_once(".tmp-")?;
    let (pid, call) = tail.split_once('-')?;
    call.parse::<u64>().ok()?;
    pid.parse().ok()
}

/// Remove the regular files in `dir` that are temporaries of dead processes; when
/// `target` is given, only those of that file name.
pub(super) fn remove_dead_temporaries_of(dir: &Path, target: Option<&str>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(t) = target
            && !name.starts_with(&format!(".{t}.tmp-"))
        {
            continue;
        }
        if let Some(pid) = temporary_owner(&name)
            && !alive(pid)
            && e.file_type().is_ok_and(|t| t.is_file())
        {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_names_are_recognised() {
        assert_eq!(temporary_owner(".msd.csv.tmp-123-0"), Some(123));
        assert_eq!(temporary_owner(".a.tmp-b.tmp-77-12"), Some(77));
        assert_eq!(temporary_owner("msd.csv"), None);
        assert_eq!(temporary_owner(".msd.csv.tmp-x-0"), None);
        assert_eq!(temporary_owner(".id.tmp-123"), None);
    }

    #[test]
    fn lock_text_round_trips() {
        assert_eq!(
            parse_lock("pid=42 host=node7\n"),
            Some((42, "node7".to_string()))
        );
        assert_eq!(parse_lock("pid=42"), None);
        assert_eq!(parse_lock(""), None);
    }
}
