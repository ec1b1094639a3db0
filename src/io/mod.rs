//! Readers and writers. Every reader names the file, line (or field) and what was
//! expected when input is malformed; every writer writes to a temporary name beside
//! the target and renames it, so a failed run never leaves a half-written file that
//! looks complete.

pub mod ase_traj;
pub mod bundle;
pub mod cif;
pub mod cube;
pub mod dcd;
mod frames;
pub mod h5md;
pub mod hops;
pub mod iondiff;
pub mod lammps;
mod lines;
pub mod mp_json;
pub mod phonondb;
pub mod phonopy;
pub mod phonopy_params;
pub mod reader;
pub mod sites;
pub mod structure_json;
pub mod table;
pub mod topology;
#[cfg(feature = "toy-format")]
pub mod toy;
pub mod traj_input;
pub mod vasprun;
pub mod walk;
pub mod xdatcar;
pub mod xtc;
pub mod xyz;

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

fn io_err(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// How a file is compressed, told by its first bytes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Packed {
    Plain,
    Gzip,
    Zstd,
    Xz,
}

impl Packed {
    fn of(head: &[u8]) -> Packed {
        if head.starts_with(&[0x1f, 0x8b]) {
            Packed::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Packed::Zstd
        } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
            Packed::Xz
        } else {
            Packed::Plain
        }
    }

    fn name(self) -> &'static str {
        match self {
            Packed::Plain => "plain",
            Packed::Gzip => "gzip",
            Packed::Zstd => "zstd",
            Packed::Xz => "xz",
        }
    }
}

/// Zstandard frames one after another (as `zstd` and `pzstd` write them), decoded as
/// one stream.
struct ZstdFrames<R: Read> {
    decoder: Option<
        ruzstd::decoding::StreamingDecoder<std::io::BufReader<R>, ruzstd::decoding::FrameDecoder>,
    >,
}

impl<R: Read> Read for ZstdFrames<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            let Some(d) = self.decoder.as_mut() else {
                return Ok(0);
            };
            let k = d.read(buf)?;
            if k > 0 || buf.is_empty() {
                return Ok(k);
            }
            // This frame is done: another follows unless the input is.
            let mut src = self.decoder.take().expect("checked above").into_inner();
            if std::io::BufRead::fill_buf(&mut src)?.is_empty() {
                return Ok(0);
            }
            self.decoder = Some(
                ruzstd::decoding::StreamingDecoder::new(src)
                    .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?,
            );
        }
    }
}

/// `source` decompressed as `packed` says.
fn unpacked(
    path: &Path,
    source: Box<dyn Read + Send>,
    packed: Packed,
) -> Result<Box<dyn Read + Send>> {
    Ok(match packed {
        Packed::Plain => source,
        Packed::Gzip => Box::new(flate2::read::MultiGzDecoder::new(std::io::BufReader::new(
            source,
        ))),
        Packed::Zstd => Box::new(ZstdFrames {
            decoder: Some(
                ruzstd::decoding::StreamingDecoder::new(std::io::BufReader::new(source))
                    .map_err(|e| parse_err(path, 0, format!("not valid zstd: {e}")))?,
            ),
        }),
        Packed::Xz => Box::new(xz2::read::XzDecoder::new_multi_decoder(source)),
    })
}

/// `path` opened for reading: its raw bytes (behind a byte progress bar on a terminal
/// for files of 64 MB or more, cleared when the reader is dropped), how they are
/// compressed (gzip, zstd, xz: by content, not by name), and the file's size.
fn open_raw(path: &Path) -> Result<(Box<dyn Read + Send>, Packed, u64)> {
    let (raw, gz, len) = sniff(path)?;
    let source: Box<dyn Read + Send> = if len >= 64 << 20 {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let bar = crate::progress::bytes_bar(len, &format!("reading {name}"));
        Box::new(ClearOnDrop(bar.clone(), bar.wrap_read(raw)))
    } else {
        Box::new(raw)
    };
    Ok((source, gz, len))
}

/// The bytes of `path`, decompressed when they are gzip, zstd or xz (by content, not
/// by name). Read as a stream (a compressed file is never held twice), with a
/// progress bar in bytes, rate and time left on a terminal for files of 64 MB or more.
pub(crate) fn read_bytes(path: &Path) -> Result<Vec<u8>> {
    read_bytes_at_most(path, u64::MAX)
}

/// The most bytes [`read_text`] reads (decompressed): the small text inputs it serves
/// (structures, INCAR, phonopy tables, lists, sites) are far smaller, and a compressed
/// file that expands past this is refused instead of filling memory. Topologies, which
/// grow with the atoms, use [`read_text_at_most`] with a larger bound.
pub(crate) const MAX_TEXT_BYTES: u64 = 16 << 20;

/// [`read_bytes`], refusing a file whose (decompressed) content exceeds `max` bytes
/// once that many have been read.
pub(crate) fn read_bytes_at_most(path: &Path, max: u64) -> Result<Vec<u8>> {
    let (source, packed, len) = open_raw(path)?;
    if packed == Packed::Plain && len > max {
        return Err(parse_err(
            path,
            0,
            format!(
                "{len} bytes: more than the {} MiB a file of this kind may hold",
                max >> 20
            ),
        ));
    }
    // Room for a typical 4x text expansion, without reserving absurd sizes up front.
    let mut out = Vec::with_capacity(
        if packed != Packed::Plain {
            len.saturating_mul(4).min(1 << 32)
        } else {
            len
        }
        .min(max.saturating_add(1)) as usize,
    );
    unpacked(path, source, packed)?
        .take(max.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| match packed {
            Packed::Plain => io_err(path, e),
            p => parse_err(path, 0, format!("not valid {}: {e}", p.name())),
        })?;
    if out.len() as u64 > max {
        return Err(parse_err(
            path,
            0,
            format!(
                "expands to more than the {} MiB a file of this kind may hold (a corrupt or hostile compressed file?)",
                max >> 20
            ),
        ));
    }
    Ok(out)
}

/// `path` as a buffered stream of bytes, decompressed when gzip, zstd or xz (by
/// content), with the progress bar of [`read_bytes`] for large files.
pub(crate) fn open_stream(path: &Path) -> Result<Box<dyn std::io::BufRead + Send>> {
    let (source, packed, _) = open_raw(path)?;
    Ok(Box::new(std::io::BufReader::with_capacity(
        1 << 16,
        unpacked(path, source, packed)?,
    )))
}

/// A reader that clears its progress bar when dropped.
struct ClearOnDrop<R>(indicatif::ProgressBar, R);

impl<R: Read> Read for ClearOnDrop<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.1.read(buf)
    }
}

impl<R> Drop for ClearOnDrop<R> {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

/// At most the first `n` bytes of `path` (decompressed when gzip, zstd or xz), for
/// sniffing a format without reading the whole file.
pub(crate) fn read_head(path: &Path, n: usize) -> Result<Vec<u8>> {
    let (source, packed) = open_plain(path)?;
    let mut out = Vec::with_capacity(n);
    unpacked(path, source, packed)?
        .take(n as u64)
        .read_to_end(&mut out)
        .map_err(|e| parse_err(path, 0, format!("cannot read the start of the file: {e}")))?;
    Ok(out)
}

/// Whether `path` is stored compressed (gzip, zstd or xz), by its first bytes.
pub(crate) fn stored_compressed(path: &Path) -> Result<bool> {
    Ok(open_plain(path)?.1 != Packed::Plain)
}

/// `path`'s raw bytes (no progress bar) and how they are compressed.
fn open_plain(path: &Path) -> Result<(Box<dyn Read + Send>, Packed)> {
    let (raw, packed, _) = sniff(path)?;
    Ok((Box::new(raw), packed))
}

/// `path` opened, buffered, with how it is compressed (its first bytes) and its size.
fn sniff(path: &Path) -> Result<(std::io::BufReader<std::fs::File>, Packed, u64)> {
    let file = std::fs::File::open(path).map_err(|e| io_err(path, e))?;
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut raw = std::io::BufReader::with_capacity(1 << 16, file);
    let packed = Packed::of(std::io::BufRead::fill_buf(&mut raw).map_err(|e| io_err(path, e))?);
    Ok((raw, packed, len))
}

/// The text of `path` (gzip-transparent), which must be UTF-8 and not empty.
pub(crate) fn read_text(path: &Path) -> Result<String> {
    read_text_at_most(path, MAX_TEXT_BYTES)
}

/// [`read_text`] with a bound of `max` bytes (decompressed).
pub(crate) fn read_text_at_most(path: &Path, max: u64) -> Result<String> {
    let bytes = read_bytes_at_most(path, max)?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let upto = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = upto.iter().filter(|&&b| b == b'\n').count() + 1;
        parse_err(path, line, "not UTF-8 text".into())
    })?;
    if text.trim().is_empty() {
        return Err(parse_err(path, 1, "the file is empty".into()));
    }
    Ok(text)
}

/// Powers of ten exactly representable as f64.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// Read up to `buf.len()` bytes of `src` (fewer only at its end); how many. A read
/// error names `path`.
pub(crate) fn read_up_to(path: &Path, src: &mut dyn Read, buf: &mut [u8]) -> Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match src.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(k) => got += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(source) => return Err(io_err(path, source)),
        }
    }
    Ok(got)
}

/// Append the whitespace-separated tokens of `line` to `out` ([`ascii_tokens`]).
#[inline]
pub(crate) fn tokens<'a>(line: &'a str, out: &mut Vec<&'a str>) {
    out.extend(ascii_tokens(line));
}

/// The tokens of `line` between runs of ASCII whitespace: what
/// `str::split_ascii_whitespace` gives, by a byte loop the compiler inlines (the
/// standard one called its predicate per byte: a tenth of a streamed `traj msd`).
#[inline]
pub(crate) fn ascii_tokens(line: &str) -> AsciiTokens<'_> {
    AsciiTokens { line, pos: 0 }
}

pub(crate) struct AsciiTokens<'a> {
    line: &'a str,
    pos: usize,
}

impl<'a> Iterator for AsciiTokens<'a> {
    type Item = &'a str;

    #[inline]
    fn next(&mut self) -> Option<&'a str> {
        let b = self.line.as_bytes();
        let mut i = self.pos;
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if i == b.len() {
            self.pos = i;
            return None;
        }
        let start = i;
        while i < b.len() && !b[i].is_ascii_whitespace() {
            i += 1;
        }
        self.pos = i;
        // Both ends sit beside ASCII bytes (or the ends of the line): char boundaries.
        self.line.get(start..i)
    }
}

/// A number as `str::parse::<f64>` reads it, bit for bit, with a fast path for the
/// plain decimals trajectories are written in ("-0.12345678"): digits that fit in 53
/// bits over at most 22 decimals is one correctly rounded division (Clinger's fast
/// path), the same value the standard parser gives. Anything else (exponents, long
/// mantissas, inf, nan) goes to the standard parser.
#[inline]
pub(crate) fn parse_f64(tok: &str) -> Option<f64> {
    let b = tok.as_bytes();
    let (neg, mut i) = match b.first() {
        Some(b'-') => (true, 1),
        Some(b'+') => (false, 1),
        _ => (false, 0),
    };
    // Digits accumulate in a u64 while they cannot overflow it (then: the standard
    // parser); the value is exact only below 2^53, checked at the end.
    let (mut mant, mut decimals, mut any) = (0u64, 0usize, false);
    while i < b.len() && b[i].is_ascii_digit() {
        if mant >= 1 << 59 {
            return tok.parse().ok();
        }
        mant = mant * 10 + (b[i] - b'0') as u64;
        any = true;
        i += 1;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        // Eight decimals at a time where they are all digits.
        while let Some(x) = b.get(i..i + 8).and_then(eight_digits) {
            if mant >= 100_000_000_000 {
                return tok.parse().ok();
            }
            mant = mant * 100_000_000 + x;
            decimals += 8;
            any = true;
            i += 8;
        }
        while i < b.len() && b[i].is_ascii_digit() {
            if mant >= 1 << 59 {
                return tok.parse().ok();
            }
            mant = mant * 10 + (b[i] - b'0') as u64;
            decimals += 1;
            any = true;
            i += 1;
        }
    }
    if i != b.len() || !any || mant >= 1 << 53 || decimals >= POW10.len() {
        return tok.parse().ok();
    }
    let v = mant as f64 / POW10[decimals];
    Some(if neg { -v } else { v })
}

/// The value of eight ASCII digits (None if any byte is not a digit), by the SWAR
/// steps of fast_float: pairs, then fours, then the eight, in three multiplies.
#[inline]
fn eight_digits(b: &[u8]) -> Option<u64> {
    let v = u64::from_le_bytes(b.try_into().ok()?);
    let digits = (v & 0xF0F0_F0F0_F0F0_F0F0)
        | (((v.wrapping_add(0x0606_0606_0606_0606)) & 0xF0F0_F0F0_F0F0_F0F0) >> 4);
    if digits != 0x3333_3333_3333_3333 {
        return None;
    }
    let mut x = v & 0x0F0F_0F0F_0F0F_0F0F;
    x = (x.wrapping_mul(2561)) >> 8;
    x = ((x & 0x00FF_00FF_00FF_00FF).wrapping_mul(6_553_601)) >> 16;
    x = ((x & 0x0000_FFFF_0000_FFFF).wrapping_mul(42_949_672_960_001)) >> 32;
    Some(x)
}

/// Run third-party decoding code that may panic on corrupt input (the XTC decoder
/// indexes its buffers unchecked): a panic becomes `Err` and prints nothing, so no
/// panic text ever reaches a user; the caller turns it into a located error. Panics
/// elsewhere still print as usual (the quiet hook chains to the previous one).
pub fn contained<T>(f: impl FnOnce() -> T) -> std::thread::Result<T> {
    use std::cell::Cell;
    thread_local! {
        static QUIET: Cell<bool> = const { Cell::new(false) };
    }
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.with(Cell::get) {
                previous(info);
            }
        }));
    });
    let was = QUIET.with(|q| q.replace(true));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    QUIET.with(|q| q.set(was));
    r
}

pub(crate) fn parse_err(path: &Path, line: usize, message: String) -> Error {
    Error::Parse {
        path: path.to_path_buf(),
        line,
        message,
    }
}

/// Write `bytes` to `path` atomically: a temporary file in the same folder (a name
/// unique to this process and call), then a rename over the target. The one atomic
/// writer of the crate.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, |w| w.write_all(bytes))
}

/// [`write_atomic`] for output written piece by piece (a long trajectory): `fill`
/// writes through a buffer into the temporary file, which is renamed over `path` only
/// when it succeeded, and removed when it did not.
pub(crate) fn write_atomic_with(
    path: &Path,
    fill: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
) -> Result<()> {
    let given = path;
    let resolved = output_target(path)?;
    let path = resolved.as_path();
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // Unique per process and call, so concurrent writers never share a temporary.
    static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    // Temporaries of this name that killed runs left behind go first.
    bundle::remove_dead_temporaries_of(dir, Some(&name));
    let tmp: PathBuf = dir.join(format!(".{name}.tmp-{}-{call}", std::process::id()));
    let written = std::fs::File::create(&tmp).and_then(|f| {
        let mut w = std::io::BufWriter::new(f);
        fill(&mut w)?;
        std::io::Write::flush(&mut w)?;
        w.into_inner().map_err(|e| e.into_error())?.sync_all()
    });
    // Errors name the file asked for, not the hidden temporary.
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(io_err(path, e));
    }
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io_err(path, e)
    })?;
    bundle::record(given);
    Ok(())
}

/// Check, before the work, that an output file `path` can be written: it is not a
/// folder, FIFO or device (see `output_target`) and its folder (created if need be)
/// takes a new file. Nothing is left behind.
pub fn check_writable(path: &Path) -> Result<()> {
    let resolved = output_target(path)?;
    let dir = resolved
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| io_err(path, e))?;
    let probe = dir.join(format!(".superion-probe-{}", std::process::id()));
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&probe)
        .map_err(|e| {
            Error::InvalidInput(format!(
                "{}: cannot write into {} ({e}); nothing was computed",
                path.display(),
                dir.display()
            ))
        })?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// Where an output named `path` is written: a symbolic link is followed (the link stays
/// and its target gets the new content; a dangling link gets its target created), and
/// anything that is not a regular file (a FIFO, a device such as `/dev/stdout`, a
/// socket, a folder) is refused: superion replaces only regular files it can rename
/// over, so it never turns a device or a pipe into a file.
pub(crate) fn output_target(path: &Path) -> Result<PathBuf> {
    let mut target = path.to_path_buf();
    // A chain of links, followed a bounded number of times (a loop is an error).
    for _ in 0..40 {
        match std::fs::symlink_metadata(&target) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(target),
            Err(e) => return Err(io_err(&target, e)),
            Ok(m) if m.file_type().is_symlink() => {
                let link = std::fs::read_link(&target).map_err(|e| io_err(&target, e))?;
                target = match target.parent() {
                    Some(dir) if link.is_relative() => dir.join(link),
                    _ => link,
                };
            }
            Ok(m) if m.is_file() => return Ok(target),
            Ok(m) => {
                let kind = if m.is_dir() {
                    "a folder"
                } else {
                    "not a regular file (a FIFO, device or socket)"
                };
                return Err(Error::InvalidInput(format!(
                    "output {}{} is {kind}: superion writes only regular files and never replaces anything else; name a file",
                    path.display(),
                    if target != path {
                        format!(" (a link to {})", target.display())
                    } else {
                        String::new()
                    },
                )));
            }
        }
    }
    Err(Error::InvalidInput(format!(
        "output {}: too many levels of symbolic links",
        path.display()
    )))
}

/// Remove what an earlier run left in an output folder and this run does not write:
/// the files `names` (relative to `dir`) and the files of `dir/sub` whose names start
/// with `prefix` (e.g. `paths/ion_`). Only those: a user's own files stay.
pub fn remove_stale(dir: &Path, names: &[&str], sub_prefix: Option<(&str, &str)>) -> Result<()> {
    for n in names {
        let p = dir.join(n);
        if p.is_file() {
            std::fs::remove_file(&p).map_err(|e| io_err(&p, e))?;
        }
    }
    if let Some((sub, prefix)) = sub_prefix {
        let d = dir.join(sub);
        if let Ok(entries) = std::fs::read_dir(&d) {
            for e in entries.flatten() {
                let p = e.path();
                let ours = p
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(prefix));
                if ours && p.is_file() {
                    std::fs::remove_file(&p).map_err(|e| io_err(&p, e))?;
                }
            }
        }
    }
    Ok(())
}

/// A CSV table as bytes: a header and rows of already formatted fields.
pub fn csv_bytes(header: &[String], rows: &[Vec<String>]) -> Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let to_err = |e: csv::Error| Error::InvalidInput(format!("CSV: {e}"));
    w.write_record(header).map_err(to_err)?;
    for r in rows {
        w.write_record(r).map_err(to_err)?;
    }
    w.into_inner()
        .map_err(|e| Error::InvalidInput(format!("CSV: {e}")))
}

/// Write a CSV table atomically.
pub fn write_csv(path: &Path, header: &[String], rows: &[Vec<String>]) -> Result<()> {
    write_atomic(path, &csv_bytes(header, rows)?)
}

/// A float for a CSV field: shortest round-trip form, empty for NaN.
pub fn fmt_f64(v: f64) -> String {
    if v.is_nan() {
        String::new()
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod parse_tests {
    use super::{parse_f64, tokens};

    #[test]
    fn tokens_are_split_ascii_whitespace() {
        for line in [
            "",
            "   ",
            "Li 1.0 2.0 3.0",
            "  \t Li\t1.5e-3   -2 x\r",
            "a",
            " é 1 ",
            "1  2\x0c3\n",
            "1\x0b2 3",
        ] {
            let mut got = Vec::new();
            tokens(line, &mut got);
            let want: Vec<&str> = line.split_ascii_whitespace().collect();
            assert_eq!(got, want, "{line:?}");
        }
    }

    /// The fast path gives the standard parser's value, bit for bit, on plain decimals
    /// of every length and on the tokens it leaves to the standard parser.
    #[test]
    fn parse_f64_is_the_standard_parse() {
        let mut s = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        let mut toks: Vec<String> = [
            "0",
            "-0",
            "-0.0",
            "1.",
            ".5",
            "+.5",
            "-.25",
            "0.1",
            "0.30000000000000004",
            "123456789012345678",
            "12345678901234567",
            "9007199254740993",
            "1e5",
            "-2.5E-3",
            "inf",
            "-nan",
            "NaN",
            "",
            "-",
            "+",
            ".",
            "1.2.3",
            "1-2",
            "0x10",
            " 1",
            "00000.000001",
            "0.00000000000000000000001",
            "1.0000000000000000000000001",
            "0.12345678",
            "-12.1234567890123",
            "1.12345678e5",
            "1.1234:678",
            "1.12345678.",
            "5.",
            ".12345678",
            "123456789012.12345678",
            "0.000000000000000000001234",
        ]
        .iter()
        .map(|t| t.to_string())
        .collect();
        for _ in 0..200_000 {
            let r = next();
            let digits = 1 + (r % 19) as usize;
            let point = (r >> 8) as usize % (digits + 1);
            let mut t = String::new();
            if r >> 20 & 1 == 1 {
                t.push('-');
            }
            for k in 0..digits {
                if k == point {
                    t.push('.');
                }
                t.push((b'0' + (next() % 10) as u8) as char);
            }
            toks.push(t);
        }
        for t in &toks {
            let (a, b) = (parse_f64(t), t.parse::<f64>().ok());
            assert_eq!(a.map(f64::to_bits), b.map(f64::to_bits), "{t:?}");
        }
    }
}
