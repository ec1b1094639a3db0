//! Walking a folder a user named, within stated bounds.
//!
//! A folder of inputs (`phonon features DIR`, a batch manifest's folder inputs) is walked
//! to a depth of `MAX_DEPTH` and at most `MAX_ENTRIES` files and folders; a folder
//! reached twice through links is walked once. So `/`, `/proc` or a link cycle given by
//! mistake is refused in a moment, not walked for hours.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Deepest folder level walked below the folder named.
pub(crate) const MAX_DEPTH: usize = 12;
/// Most files and folders counted under one folder named.
pub(crate) const MAX_ENTRIES: usize = 100_000;

/// One walk below `root`: counts entries and remembers the folders visited.
pub struct Walk {
    root: PathBuf,
    seen: HashSet<PathBuf>,
    entries: usize,
}

impl Walk {
    pub fn new(root: &Path) -> Self {
        Walk {
            root: root.to_path_buf(),
            seen: HashSet::new(),
            entries: 0,
        }
    }

    /// The entries of `dir` (at `depth` below the root), sorted; `None` when `dir` was
    /// already walked (reached again through a link).
    pub fn entries(&mut self, dir: &Path, depth: usize) -> Result<Option<Vec<PathBuf>>> {
        let io_err = |e| Error::Io {
            path: dir.to_path_buf(),
            source: e,
        };
        if depth > MAX_DEPTH {
            return Err(Error::InvalidInput(format!(
                "{}: folders nested more than {MAX_DEPTH} deep below {} (name the folders that hold the inputs)",
                dir.display(),
                self.root.display()
            )));
        }
        let real = std::fs::canonicalize(dir).map_err(io_err)?;
        if !self.seen.insert(real) {
            return Ok(None);
        }
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).map_err(io_err)? {
            let e = e.map_err(io_err)?;
            self.entries += 1;
            if self.entries > MAX_ENTRIES {
                return Err(Error::InvalidInput(format!(
                    "{}: more than {MAX_ENTRIES} files and folders below it (a folder of inputs is walked to at most {MAX_ENTRIES}; name the folders that hold the inputs)",
                    self.root.display()
                )));
            }
            out.push(e.path());
        }
        out.sort();
        Ok(Some(out))
    }
}

/// SHA-256 of a file, or of a folder's regular files (relative paths and contents, in
/// sorted order), with the bytes hashed. Only regular files are read, each for exactly
/// the length the file system states (so a FIFO, a device or a `/proc` file cannot block
/// or run forever); files read in blocks, never whole.
pub fn digest(path: &Path) -> Result<(String, u64)> {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    let mut bytes = 0u64;
    let meta = std::fs::metadata(path).map_err(|e| Error::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    if meta.is_dir() {
        let mut files = Vec::new();
        let mut w = Walk::new(path);
        let mut stack = vec![(path.to_path_buf(), 0)];
        while let Some((dir, depth)) = stack.pop() {
            let Some(entries) = w.entries(&dir, depth)? else {
                continue;
            };
            for p in entries {
                if p.is_dir() {
                    stack.push((p, depth + 1));
                } else {
                    files.push(p);
                }
            }
        }
        files.sort();
        for f in files {
            let rel = f
                .strip_prefix(path)
                .unwrap_or(&f)
                .to_string_lossy()
                .into_owned();
            h.update(rel.as_bytes());
            h.update([0u8]);
            bytes += hash_regular(&f, &mut h)?;
        }
    } else {
        bytes = hash_regular(path, &mut h)?;
    }
    Ok((super::bundle::hex(&h.finalize()), bytes))
}

fn hash_regular(path: &Path, h: &mut sha2::Sha256) -> Result<u64> {
    use sha2::Digest;
    use std::io::Read;
    let io_err = |e| Error::Io {
        path: path.to_path_buf(),
        source: e,
    };
    let f = std::fs::File::open(path).map_err(io_err)?;
    let meta = f.metadata().map_err(io_err)?;
    if !meta.is_file() {
        return Err(Error::InvalidInput(format!(
            "{}: not a regular file (a device, FIFO or socket is not an input)",
            path.display()
        )));
    }
    let len = meta.len();
    let mut r = f.take(len);
    let mut buf = vec![0u8; 1 << 20];
    let mut read = 0u64;
    loop {
        let n = r.read(&mut buf).map_err(io_err)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        read += n as u64;
    }
    if read != len {
        return Err(Error::InvalidInput(format!(
            "{}: {read} bytes read where the file system states {len} (the file changed while it was read)",
            path.display()
        )));
    }
    Ok(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_cycles_are_walked_once_and_floods_are_refused() {
        let d = std::env::temp_dir().join(format!("superion-walk-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("a")).unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(&d, d.join("a/loop")).unwrap();
        let mut w = Walk::new(&d);
        assert_eq!(w.entries(&d, 0).unwrap().unwrap(), vec![d.join("a")]);
        let a = w.entries(&d.join("a"), 1).unwrap().unwrap();
        #[cfg(unix)]
        assert!(
            w.entries(&a[0], 2).unwrap().is_none(),
            "the link leads back"
        );
        let _ = a;
        let deep = w.entries(&d, MAX_DEPTH + 1).unwrap_err().to_string();
        assert!(deep.contains("nested more than"), "{deep}");
        let _ = std::fs::remove_dir_all(&d);
    }
}
