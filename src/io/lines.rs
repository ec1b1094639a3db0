//! Text read as a stream of lines, and chunks of lines held for parsing: the
//! streaming readers' common ground (XDATCAR, LAMMPS dumps).

use std::io::Read;
use std::path::Path;

use super::parse_err;
use crate::error::Result;

/// Lines of a file (gzip-, zstd- and xz-transparent), numbered from 0. The text is read
/// in blocks of a few MB, checked as UTF-8 once per block, and lines are found in it
/// by a vectorised search for line breaks: no copy or check per line.
pub(crate) struct LineStream<'a> {
    path: &'a Path,
    src: Box<dyn std::io::BufRead + Send>,
    /// Index of the next line.
    pub(crate) next: usize,
    /// Whole lines read and checked (the last may lack its break at the end of the
    /// file), and where the next line starts in it.
    text: String,
    pos: usize,
    /// Where the line breaks of `text` are (found in one vectorised pass per block,
    /// not one search per line), and which of them ends the line at `pos`.
    breaks: Vec<usize>,
    next_break: usize,
    /// Bytes read after the last line break (the start of a line not yet complete).
    tail: Vec<u8>,
    /// The next line, once found: where it ends in `text` (without its break) and
    /// where the line after it starts.
    have: Option<(usize, usize)>,
    at_end: bool,
}

/// Bytes read at a time.
const BLOCK: usize = 4 << 20;

/// The longest line read (a trajectory's lines are tens to thousands of bytes): past
/// it the file is not the text it claims to be, and reading stops there instead of
/// holding a whole multi-GB "line" (a decompression bomb) in memory.
pub(crate) const MAX_LINE: usize = 16 << 20;

impl<'a> LineStream<'a> {
    pub(crate) fn open(path: &'a Path) -> Result<Self> {
        Ok(LineStream {
            path,
            src: super::open_stream(path)?,
            next: 0,
            text: String::new(),
            pos: 0,
            breaks: Vec::new(),
            next_break: 0,
            tail: Vec::new(),
            have: None,
            at_end: false,
        })
    }

    /// Read the next block: `text` becomes the complete lines it ends (with the
    /// incomplete line carried before it); false at the end of the file.
    fn refill(&mut self) -> Result<bool> {
        if self.at_end {
            return Ok(false);
        }
        // The last block's allocation is reused (no fresh pages to fault in).
        let mut raw = std::mem::take(&mut self.text).into_bytes();
        raw.clear();
        raw.append(&mut self.tail);
        loop {
            let k = raw.len();
            raw.resize(k + BLOCK, 0);
            let got = loop {
                match self.src.read(&mut raw[k..]) {
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    r => break r,
                }
            };
            let got = match got {
                Ok(g) => g,
                Err(e) => {
                    return Err(parse_err(
                        self.path,
                        self.next + 1,
                        format!("cannot read: {e}"),
                    ));
                }
            };
            raw.truncate(k + got);
            if got == 0 {
                self.at_end = true;
                if raw.is_empty() {
                    return Ok(false);
                }
                // The last line, without a break.
                break;
            }
            if let Some(last) = memchr::memrchr(b'\n', &raw[k..]) {
                self.tail.extend_from_slice(&raw[k + last + 1..]);
                raw.truncate(k + last + 1);
                break;
            }
            if raw.len() > MAX_LINE {
                return Err(parse_err(
                    self.path,
                    self.next + 1,
                    format!(
                        "a line longer than {} MiB: not a text file of this format (or a corrupt one)",
                        MAX_LINE >> 20
                    ),
                ));
            }
        }
        self.text = String::from_utf8(raw).map_err(|e| {
            let bad = e.utf8_error().valid_up_to();
            let line = self.next + 1 + memchr::memchr_iter(b'\n', &e.as_bytes()[..bad]).count();
            parse_err(self.path, line, "not UTF-8 text".into())
        })?;
        self.pos = 0;
        self.breaks.clear();
        self.breaks
            .extend(memchr::memchr_iter(b'\n', self.text.as_bytes()));
        self.next_break = 0;
        Ok(true)
    }

    /// The next line without taking it (None at the end).
    pub(crate) fn peek(&mut self) -> Result<Option<&str>> {
        if self.have.is_none() {
            if self.pos >= self.text.len() && !self.refill()? {
                return Ok(None);
            }
            let (mut end, after) = match self.breaks.get(self.next_break) {
                Some(&i) => (i, i + 1),
                None => (self.text.len(), self.text.len()),
            };
            if end > self.pos && self.text.as_bytes()[end - 1] == b'\r' {
                end -= 1;
            }
            self.have = Some((end, after));
        }
        Ok(self.have.map(|(end, _)| &self.text[self.pos..end]))
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
        let (end, after) = self.have.take().expect("peeked above");
        if let Some(k) = keep {
            k.push(&self.text[self.pos..end]);
        }
        self.pos = after;
        self.next_break += 1;
        self.next += 1;
        Ok(Some(self.next - 1))
    }
}

/// The most text a chunk holds before it is parsed (bytes).
pub(crate) const CHUNK_BYTES: usize = 32 << 20;

/// Lines held for parsing: one text and where each line ends.
#[derive(Default)]
pub(crate) struct ChunkLines {
    pub(crate) text: String,
    ends: Vec<usize>,
}

impl ChunkLines {
    /// An empty chunk with room for a full one: growing the text by doubling copied
    /// it into fresh pages twice over (32 MiB, then 64 MiB of capacity for a chunk
    /// that stops just past 32 MiB).
    pub(crate) fn for_chunks() -> Self {
        ChunkLines {
            text: String::with_capacity(CHUNK_BYTES + BLOCK),
            ends: Vec::new(),
        }
    }

    pub(crate) fn push(&mut self, line: &str) {
        self.text.push_str(line);
        self.ends.push(self.text.len());
    }

    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether the chunk holds `lines` lines or [`CHUNK_BYTES`] of text: long lines
    /// (extended XYZ with forces and more) make a chunk full before its line count, so
    /// the two chunks in flight stay tens of MB whatever the line length.
    pub(crate) fn full(&self, lines: usize) -> bool {
        self.ends.len() >= lines.max(1) || self.text.len() >= CHUNK_BYTES
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
        (ChunkLines::for_chunks(), Located::new()),
        (ChunkLines::for_chunks(), Located::new()),
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

#[cfg(test)]
mod tests {
    #[test]
    fn a_chunk_is_full_at_its_line_count_or_its_byte_bound() {
        let mut c = super::ChunkLines::default();
        c.push("a");
        assert!(!c.full(2) && c.full(1));
        // One line as long as the byte bound fills it whatever the line count.
        c.push(&"x".repeat(super::CHUNK_BYTES));
        assert!(c.full(1_000_000));
        c.truncate(1);
        assert!(!c.full(1_000_000));
    }

    use super::*;

    fn all_lines(path: &Path) -> Result<Vec<String>> {
        let mut s = LineStream::open(path)?;
        let mut out = Vec::new();
        let mut keep = ChunkLines::default();
        while let Some(i) = s.take(Some(&mut keep))? {
            assert_eq!(i, out.len());
            out.push(keep.get(i).to_string());
        }
        Ok(out)
    }

    /// The lines of `str::lines` (CRLF, no final break, blank lines), across block
    /// ends and with a line longer than a block; not UTF-8: the line named.
    #[test]
    fn lines_across_blocks_as_str_lines_gives_them() {
        let dir = tempfile::tempdir().unwrap();
        let long = "x".repeat(BLOCK + BLOCK / 2);
        let mut text = String::from("3\r\nfirst line\n\n  spaced  \r\n");
        for k in 0..200_000 {
            text.push_str(&format!("Li {k} 0.{k:08} 1.5\n"));
        }
        text.push_str(&long);
        text.push_str("\nlast without a break");
        let p = dir.path().join("t.txt");
        std::fs::write(&p, &text).unwrap();
        let want: Vec<&str> = text.lines().collect();
        let got = all_lines(&p).unwrap();
        assert_eq!(got.len(), want.len());
        assert!(got.iter().zip(&want).all(|(a, b)| a == b));
        // Blank lines skipped up to the next text, whose line comes next.
        let mut s = LineStream::open(&p).unwrap();
        s.take(None).unwrap();
        s.take(None).unwrap();
        assert_eq!(s.skip_blank().unwrap(), (false, Some(2)));
        assert_eq!(s.peek().unwrap(), Some("  spaced  "));
        // A byte that is not UTF-8 on line 150 001 (past the first block).
        let mut bytes = text.into_bytes();
        let at = bytes
            .iter()
            .enumerate()
            .filter(|(_, b)| **b == b'\n')
            .nth(150_000)
            .unwrap()
            .0
            + 2;
        bytes[at] = 0xff;
        std::fs::write(&p, &bytes).unwrap();
        let e = all_lines(&p).unwrap_err().to_string();
        assert!(e.contains("t.txt:150002") && e.contains("not UTF-8"), "{e}");
    }
}
