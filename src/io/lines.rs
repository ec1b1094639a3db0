//! Text read as a stream of lines, and chunks of lines held for parsing: the
//! streaming readers' common ground (XDATCAR, LAMMPS dumps).

use std::path::Path;

use super::parse_err;
use crate::error::Result;

/// Lines of a file read one at a time into one reused buffer (gzip-transparent),
/// numbered from 0.
pub(crate) struct LineStream<'a> {
    path: &'a Path,
    src: Box<dyn std::io::BufRead + Send>,
    /// Index of the next line.
    pub(crate) next: usize,
    /// The next line, once read (`have`), without its line break.
    buf: String,
    have: bool,
    at_end: bool,
}

impl<'a> LineStream<'a> {
    pub(crate) fn open(path: &'a Path) -> Result<Self> {
        Ok(LineStream {
            path,
            src: super::open_stream(path)?,
            next: 0,
            buf: String::new(),
            have: false,
            at_end: false,
        })
    }

    /// The next line without taking it (None at the end).
    pub(crate) fn peek(&mut self) -> Result<Option<&str>> {
        if !self.have && !self.at_end {
            self.buf.clear();
            match self.src.read_line(&mut self.buf) {
                Ok(0) => self.at_end = true,
                Ok(_) => {
                    if self.buf.ends_with('\n') {
                        self.buf.pop();
                        if self.buf.ends_with('\r') {
                            self.buf.pop();
                        }
                    }
                    self.have = true;
                }
                Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                    return Err(parse_err(self.path, self.next + 1, "not UTF-8 text".into()));
                }
                Err(e) => {
                    return Err(parse_err(
                        self.path,
                        self.next + 1,
                        format!("cannot read: {e}"),
                    ));
                }
            }
        }
        Ok(self.have.then_some(self.buf.as_str()))
    }

    /// Skip blank lines: whether the file ends here (nothing but blank lines left),
    /// and the index of the first blank line skipped (a blank line before more text
    /// is reported where the next frame should start).
    pub(crate) fn skip_blank(&mut self) -> Result<(bool, Option<usize>)> {
        let mut first = None;
        while self.peek()?.is_some_and(|l| l.trim().is_empty()) {
            let i = self.take(None)?;
            first = first.or(i);
        }
        Ok((self.peek()?.is_none(), first))
    }

    /// Take the next line, appending it to `keep` when given; its index, or None at
    /// the end.
    pub(crate) fn take(&mut self, keep: Option<&mut ChunkLines>) -> Result<Option<usize>> {
        if self.peek()?.is_none() {
            return Ok(None);
        }
        if let Some(k) = keep {
            k.push(&self.buf);
        }
        self.have = false;
        self.next += 1;
        Ok(Some(self.next - 1))
    }
}

/// Lines held for parsing: one text and where each line ends.
#[derive(Default)]
pub(crate) struct ChunkLines {
    pub(crate) text: String,
    ends: Vec<usize>,
}

impl ChunkLines {
    pub(crate) fn push(&mut self, line: &str) {
        self.text.push_str(line);
        self.ends.push(self.text.len());
    }

    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    pub(crate) fn get(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.text[start..self.ends[i]]
    }

    pub(crate) fn truncate(&mut self, n: usize) {
        self.ends.truncate(n);
        self.text.truncate(self.ends.last().copied().unwrap_or(0));
    }

    pub(crate) fn clear(&mut self) {
        self.text.clear();
        self.ends.clear();
    }
}

/// Frames located in a chunk: where each starts in the chunk and in the file.
pub(crate) type Located = Vec<(usize, usize)>;

/// Read a text trajectory chunk by chunk with the locating of the next chunk (on its
/// own thread) overlapping the handing over of the last (on this one): `fill` appends
/// the next chunk's lines and frames (true: the file is done), `hand` parses a chunk
/// and hands it to the sink, given the atom count `n_of` reads from the state. Chunks
/// are handed over in file order; an error in an earlier chunk is the one returned.
pub(crate) fn overlapped<S: Send>(
    st: &mut S,
    n_of: impl Fn(&S) -> usize,
    fill: impl Fn(&mut S, &mut ChunkLines, &mut Located) -> Result<bool> + Sync,
    mut hand: impl FnMut(&ChunkLines, &[(usize, usize)], usize) -> Result<()>,
) -> Result<()> {
    let (mut cur, mut next) = (
        (ChunkLines::default(), Located::new()),
        (ChunkLines::default(), Located::new()),
    );
    let mut done = fill(st, &mut cur.0, &mut cur.1)?;
    loop {
        let n = n_of(st);
        if done {
            return hand(&cur.0, &cur.1, n);
        }
        next.0.clear();
        next.1.clear();
        done = std::thread::scope(|scope| -> Result<bool> {
            let reader = scope.spawn(|| fill(st, &mut next.0, &mut next.1));
            let handed = hand(&cur.0, &cur.1, n);
            let located = reader
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p));
            handed?;
            located
        })?;
        std::mem::swap(&mut cur, &mut next);
    }
}
