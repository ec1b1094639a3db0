//! VASP's `vasprun.xml`: the structure of every ionic step (`<calculation>` →
//! `<structure>`: lattice vectors and fractional positions), the species from
//! `<atominfo>`, and POTIM and IBRION from `<parameters>` (else `<incar>`).
//!
//! Read as a stream: the file is cut after a `</calculation>` into chunks of a few MB,
//! one thread reads (and decompresses) the next chunks while the others parse the
//! last ones with an XML pull parser (quick-xml), and the frames are handed over in
//! file order. Memory does not grow with the number of steps. The cell is read with
//! every step, so variable-cell runs (ISIF = 3, NPT) keep theirs. A file that ends
//! inside a step (a run killed, or still writing) keeps its complete steps under
//! option allow_truncated, as pymatgen's `exception_on_bad_xml=False` does.

use std::io::Read;
use std::path::Path;

use quick_xml::events::{BytesStart, Event};
use rayon::prelude::*;

use super::frames::FrameRange;
use super::parse_err;
use crate::error::Result;
use crate::traj::stream::FrameSink;

/// What a read found besides the frames.
#[derive(Debug, Clone, Default)]
pub struct VasprunEnd {
    /// Frames handed over.
    pub frames: usize,
    /// Complete ionic steps read.
    pub steps: usize,
    /// POTIM (fs for molecular dynamics) and IBRION (0: molecular dynamics), from
    /// `<parameters>`, else `<incar>`.
    pub potim: Option<f64>,
    pub ibrion: Option<i64>,
    pub notes: Vec<String>,
}

/// Whether the first bytes of a file are a vasprun.xml.
pub(crate) fn looks_like(head: &[u8]) -> bool {
    let text = String::from_utf8_lossy(head);
    text.trim_start().starts_with("<?xml") && text.contains("<modeling>")
}

/// Bytes per chunk (a chunk ends after a `</calculation>`, so it may be longer).
const CHUNK: usize = 8 << 20;
const END_STEP: &[u8] = b"</calculation>";

/// A piece of the (decompressed) file: where it starts, its bytes, and whether it is
/// the last (then it may end anywhere; otherwise just after a `</calculation>`).
struct Chunk {
    base: u64,
    bytes: Vec<u8>,
    last: bool,
}

/// Cut `src` into chunks, each sent to `tx` in order; stops when the receiver hangs up.
fn cut(
    path: &Path,
    mut src: Box<dyn std::io::BufRead + Send>,
    tx: std::sync::mpsc::SyncSender<Result<Chunk>>,
) {
    let mut carry: Vec<u8> = Vec::new();
    let mut base = 0u64;
    loop {
        let mut bytes = std::mem::take(&mut carry);
        let want = bytes.len() + CHUNK;
        bytes.reserve(CHUNK);
        let mut at_end = false;
        while bytes.len() < want {
            let k = bytes.len();
            bytes.resize(want, 0);
            match src.read(&mut bytes[k..]) {
                Ok(0) => {
                    bytes.truncate(k);
                    at_end = true;
                    break;
                }
                Ok(r) => bytes.truncate(k + r),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => bytes.truncate(k),
                Err(e) => {
                    let _ = tx.send(Err(parse_err(path, 0, format!("cannot read: {e}"))));
                    return;
                }
            }
        }
        let split = if at_end {
            None
        } else {
            memchr::memmem::rfind(&bytes, END_STEP).map(|i| i + END_STEP.len())
        };
        let chunk = match split {
            Some(i) => {
                carry = bytes.split_off(i);
                Chunk {
                    base,
                    bytes,
                    last: false,
                }
            }
            // No step ends here: read on (a step longer than a chunk), unless done.
            None if !at_end => {
                carry = bytes;
                continue;
            }
            None => Chunk {
                base,
                bytes,
                last: true,
            },
        };
        base += chunk.bytes.len() as u64;
        let last = chunk.last;
        if tx.send(Ok(chunk)).is_err() || last {
            return;
        }
    }
}

/// Which list of vectors is being read.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Rows {
    Basis,
    Positions,
    /// A list inside a structure that is not needed (rec_basis, selective, ...).
    Other,
}

/// The file's header, read from the first chunk.
#[derive(Default, Clone)]
struct Header {
    species: Vec<String>,
    /// (from `<parameters>`, from `<incar>`).
    potim: (Option<f64>, Option<f64>),
    ibrion: (Option<i64>, Option<i64>),
}

/// What one chunk holds: its complete steps (fractional positions, frame-major, and
/// cells), and how it ends.
#[derive(Default)]
struct Parsed {
    frac: Vec<f32>,
    cells: Vec<[[f64; 3]; 3]>,
    /// `</modeling>` was reached.
    closed: bool,
    /// The chunk ends inside a `<calculation>`, the how-many-th started in the chunk.
    open_step: Option<usize>,
    /// `<calculation>`s started in the chunk.
    started: usize,
}

/// An error in a chunk: the byte (from the chunk's start), the message, and the
/// `<calculation>` of the chunk (from 1) it is in, numbered for the file by the caller.
struct ChunkErr {
    at: u64,
    step: Option<usize>,
    message: String,
}

fn attr(e: &BytesStart, key: &str) -> Option<String> {
    e.try_get_attribute(key)
        .ok()
        .flatten()
        .map(|a| a.value.trim().to_string())
}

/// Parse one chunk. `header` is filled from `<atominfo>`, `<parameters>` and `<incar>`
/// when they are in the chunk; positions are checked against its species.
fn parse(bytes: &[u8], header: &mut Header, last: bool) -> std::result::Result<Parsed, ChunkErr> {
    let mut xml = quick_xml::Reader::from_reader(bytes);
    let cfg = xml.config_mut();
    cfg.trim_text(true);
    // A chunk starts after a </calculation>: the last one closes what it never opened.
    cfg.allow_unmatched_ends = true;
    let mut out = Parsed::default();
    let mut in_atoms = false;
    let mut column = 0usize;
    let mut in_parameters = false;
    let mut in_incar = false;
    let mut scalar: Option<&'static str> = None;
    let mut in_calculation = false;
    let mut in_structure = false;
    let mut rows: Option<Rows> = None;
    let mut text: Vec<u8> = Vec::new();
    let mut capturing = false;
    let mut basis: Vec<[f64; 3]> = Vec::with_capacity(3);
    let mut positions: Vec<f32> = Vec::new();
    let mut n_positions = 0usize;
    let fail = |xml: &quick_xml::Reader<&[u8]>, step: Option<usize>, message: String| ChunkErr {
        at: xml.buffer_position(),
        step,
        message,
    };
    loop {
        let event = match xml.read_event() {
            Ok(e) => e,
            // Cut inside a tag at the end of the file: as if cut between tags.
            Err(_) if last && xml.buffer_position() as usize >= bytes.len() => break,
            Err(e) => {
                return Err(fail(&xml, None, format!("not well-formed XML: {e}")));
            }
        };
        match event {
            Event::Start(e) => match e.local_name().into_inner() {
                "array" if attr(&e, "name").as_deref() == Some("atoms") => {
                    in_atoms = true;
                    header.species.clear();
                }
                "rc" if in_atoms => column = 0,
                "c" if in_atoms => {
                    capturing = column == 0;
                    text.clear();
                }
                "parameters" => in_parameters = true,
                "incar" => in_incar = true,
                "i" if in_parameters || in_incar => {
                    scalar = match attr(&e, "name").as_deref() {
                        Some("POTIM") => Some("POTIM"),
                        Some("IBRION") => Some("IBRION"),
                        _ => None,
                    };
                    capturing = scalar.is_some();
                    text.clear();
                }
                "calculation" => {
                    out.started += 1;
                    in_calculation = true;
                }
                "structure" if in_calculation => {
                    in_structure = true;
                    basis.clear();
                    positions.clear();
                    n_positions = 0;
                }
                "varray" if in_structure => {
                    rows = Some(match attr(&e, "name").as_deref() {
                        Some("basis") => Rows::Basis,
                        Some("positions") => Rows::Positions,
                        _ => Rows::Other,
                    });
                }
                "v" if matches!(rows, Some(Rows::Basis | Rows::Positions)) => {
                    text.clear();
                    capturing = true;
                }
                _ => {}
            },
            Event::Text(t) if capturing => text.extend_from_slice(t.as_bytes()),
            Event::End(e) => match e.local_name().into_inner() {
                "modeling" => out.closed = true,
                "array" if in_atoms => {
                    in_atoms = false;
                    if header.species.is_empty() {
                        return Err(fail(&xml, None, "<atominfo> lists no atoms".into()));
                    }
                }
                "c" if in_atoms => {
                    if column == 0 {
                        let s = String::from_utf8_lossy(&text).trim().to_string();
                        if s.is_empty() {
                            let k = header.species.len() + 1;
                            return Err(fail(&xml, None, format!("atom {k}: no element name")));
                        }
                        header.species.push(s);
                    }
                    column += 1;
                    capturing = false;
                }
                "parameters" => in_parameters = false,
                "incar" => in_incar = false,
                "i" if scalar.is_some() => {
                    let name = scalar.take().unwrap_or_default();
                    capturing = false;
                    let v = String::from_utf8_lossy(&text).trim().to_string();
                    let bad = || fail(&xml, None, format!("{name} = {v:?}: expected a number"));
                    let from_parameters = in_parameters;
                    if name == "POTIM" {
                        let x = v.parse::<f64>().map_err(|_| bad())?;
                        let slot = &mut header.potim;
                        *(if from_parameters {
                            &mut slot.0
                        } else {
                            &mut slot.1
                        }) = Some(x);
                    } else {
                        let x = v.parse::<i64>().map_err(|_| bad())?;
                        let slot = &mut header.ibrion;
                        *(if from_parameters {
                            &mut slot.0
                        } else {
                            &mut slot.1
                        }) = Some(x);
                    }
                }
                "v" if capturing && in_structure => {
                    capturing = false;
                    let step = Some(out.started);
                    match rows {
                        Some(Rows::Basis) => {
                            let v = vector(&text).ok_or_else(|| {
                                fail(&xml, step, bad_vector(&text, "lattice vector"))
                            })?;
                            basis.push(v);
                        }
                        Some(Rows::Positions) => {
                            n_positions += 1;
                            let v = vector(&text)
                                .ok_or_else(|| fail(&xml, step, bad_vector(&text, "position")))?;
                            positions.extend(v.iter().map(|&x| x as f32));
                        }
                        _ => {}
                    }
                }
                "varray" if in_structure => rows = None,
                "structure" if in_structure => {
                    in_structure = false;
                    let step = Some(out.started);
                    let n = header.species.len();
                    if n == 0 {
                        return Err(fail(
                            &xml,
                            step,
                            "a structure comes before <atominfo> names the atoms".into(),
                        ));
                    }
                    if basis.len() != 3 {
                        let m = format!("{} lattice vectors, expected 3", basis.len());
                        return Err(fail(&xml, step, m));
                    }
                    if n_positions != n {
                        let m = format!(
                            "{n_positions} positions, expected {n} (the atoms of <atominfo>)"
                        );
                        return Err(fail(&xml, step, m));
                    }
                    out.frac.extend_from_slice(&positions);
                    out.cells.push([basis[0], basis[1], basis[2]]);
                }
                "calculation" => in_calculation = false,
                _ => {}
            },
            Event::Eof => break,
            _ => {}
        }
    }
    out.open_step = in_calculation.then_some(out.started);
    Ok(out)
}

/// Read `path`, handing the chosen ionic steps to `sink` in blocks.
pub fn stream(
    path: &Path,
    allow_truncated: bool,
    range: FrameRange,
    sink: &mut dyn FrameSink,
) -> Result<VasprunEnd> {
    if range.every == 0 {
        return Err(crate::error::Error::InvalidInput(format!(
            "{}: option every must be at least 1",
            path.display()
        )));
    }
    let src = super::open_stream(path)?;
    let threads = rayon::current_num_threads().max(1);
    let (tx, rx) = std::sync::mpsc::sync_channel::<Result<Chunk>>(threads);
    let mut header = Header::default();
    let mut begun = false;
    // Complete steps so far (file order), steps handed over, calculations started.
    let (mut steps, mut kept, mut started) = (0usize, 0usize, 0usize);
    let mut closed = false;
    let mut open_step: Option<usize> = None;
    let mut notes = Vec::new();
    let located = |c: &Chunk, e: ChunkErr, before: usize| {
        let message = match e.step {
            Some(s) => format!("ionic step {}: {}", before + s, e.message),
            None => e.message,
        };
        parse_err(path, line_at(path, c.base + e.at), message)
    };
    std::thread::scope(|scope| -> Result<()> {
        scope.spawn(move || cut(path, src, tx));
        let mut first = true;
        'chunks: loop {
            // The first chunk alone (it holds the header), then as many as threads.
            let mut batch: Vec<Chunk> = Vec::new();
            while batch.len() < if first { 1 } else { threads } {
                match rx.recv() {
                    Ok(c) => {
                        let c = c?;
                        let last = c.last;
                        batch.push(c);
                        if last {
                            break;
                        }
                    }
                    Err(_) => break,
                }
            }
            if batch.is_empty() {
                break;
            }
            first = false;
            let parsed: Vec<(std::result::Result<Parsed, ChunkErr>, Header)> = batch
                .par_iter()
                .map(|c| {
                    let mut h = header.clone();
                    (parse(&c.bytes, &mut h, c.last), h)
                })
                .collect();
            for (c, (p, h)) in batch.iter().zip(parsed) {
                let p = p.map_err(|e| located(c, e, started))?;
                header = h;
                if !begun && !header.species.is_empty() {
                    sink.begin(&header.species)?;
                    begun = true;
                }
                let n3 = 3 * header.species.len();
                let mut frac: Vec<f32> = Vec::new();
                let mut cells = Vec::new();
                for (k, cell) in p.cells.iter().enumerate() {
                    if range.contains(steps) {
                        frac.extend_from_slice(&p.frac[k * n3..(k + 1) * n3]);
                        cells.push(*cell);
                        kept += 1;
                    }
                    steps += 1;
                    if range.stop.is_some_and(|s| steps >= s) {
                        // Nothing later is wanted.
                        closed = true;
                        break;
                    }
                }
                if !cells.is_empty() {
                    sink.frames(&frac, &cells, None)?;
                }
                open_step = p.open_step.map(|s| started + s);
                started += p.started;
                closed |= p.closed;
                if closed {
                    break 'chunks;
                }
            }
        }
        // Hang up: the cutting thread stops at its next send.
        drop(rx);
        Ok(())
    })?;
    if !closed {
        // The file ends before </modeling>: a run killed or still writing.
        let within = open_step.map_or(String::new(), |s| format!(" inside ionic step {s}"));
        if !(allow_truncated && steps > 0) {
            return Err(parse_err(
                path,
                line_at(path, u64::MAX),
                format!(
                    "the file ends{within} before </modeling> (a run killed or still writing); the {steps} complete ionic steps can be analysed with option allow_truncated"
                ),
            ));
        }
        notes.push(format!(
            "the file ends{within} before </modeling>: its {steps} complete ionic steps read"
        ));
    }
    if !begun {
        return Err(parse_err(path, 0, "no <atominfo> naming the atoms".into()));
    }
    if steps == 0 {
        return Err(parse_err(
            path,
            0,
            "no ionic step (<calculation> with a <structure>)".into(),
        ));
    }
    if kept == 0 {
        // The range's own error, which says how many steps there are.
        range.pick(path, &vec![(); steps])?;
    }
    if !range.is_all() {
        notes.push(range.note(steps, kept));
    }
    Ok(VasprunEnd {
        frames: kept,
        steps,
        potim: header.potim.0.or(header.potim.1),
        ibrion: header.ibrion.0.or(header.ibrion.1),
        notes,
    })
}

/// The line (from 1) of the byte at `offset` of `path`'s (decompressed) text, or of
/// its last byte: read again, only for an error message, so that the parse counts no
/// lines.
fn line_at(path: &Path, offset: u64) -> usize {
    let Ok(src) = super::open_stream(path) else {
        return 0;
    };
    let mut line = 1;
    let mut last = 0u8;
    for b in src
        .bytes()
        .take(offset.min(usize::MAX as u64) as usize)
        .map_while(|b| b.ok())
    {
        line += usize::from(b == b'\n');
        last = b;
    }
    // The end of a line names that line, not the next.
    line - usize::from(last == b'\n' && line > 1)
}

/// Three finite numbers from the text of a `<v>`.
fn vector(text: &[u8]) -> Option<[f64; 3]> {
    let s = std::str::from_utf8(text).ok()?;
    let mut it = s.split_ascii_whitespace().map(super::parse_f64);
    match (it.next(), it.next(), it.next(), it.next()) {
        (Some(Some(a)), Some(Some(b)), Some(Some(c)), None)
            if a.is_finite() && b.is_finite() && c.is_finite() =>
        {
            Some([a, b, c])
        }
        _ => None,
    }
}

fn bad_vector(text: &[u8], what: &str) -> String {
    format!(
        "{what} {:?}: expected three finite numbers",
        String::from_utf8_lossy(text).trim()
    )
}

/// vasprun.xml in the trajectory reader registry.
pub struct Reader;

impl crate::io::reader::TrajReader for Reader {
    fn name(&self) -> &'static str {
        "vasprun"
    }
    fn about(&self) -> &'static str {
        "VASP vasprun.xml (time step from its POTIM when IBRION = 0)"
    }
    fn by_name(&self, name: &str) -> bool {
        name.contains("VASPRUN")
    }
    fn binary(&self) -> bool {
        // XML, but its head is unambiguous: sniffed with the binary formats, as before.
        true
    }
    fn sniff(&self, head: &[u8]) -> bool {
        looks_like(head)
    }
    fn stride_when_silent(&self) -> Option<(usize, &'static str)> {
        Some((1, "1, as vasprun.xml holds every ionic step"))
    }
    fn stream(
        &self,
        path: &Path,
        opts: &crate::io::reader::TrajReadOptions,
        _species: Option<&[String]>,
        sink: &mut dyn crate::traj::stream::FrameSink,
    ) -> Result<crate::io::reader::ReadEnd> {
        let end = stream(path, opts.allow_truncated, opts.frames, sink)?;
        let settled = vasprun_time(path, opts, &end)?;
        Ok(crate::io::reader::ReadEnd {
            frames: end.frames,
            notes: end.notes,
            settled,
            ..Default::default()
        })
    }
}

/// A vasprun.xml's time between frames: POTIM (fs) when IBRION = 0 (molecular
/// dynamics; vasprun.xml holds every ionic step), unless option timestep_fs is given.
/// The ionic steps of a relaxation are not times: then option timestep_fs is needed.
fn vasprun_time(
    path: &Path,
    opts: &crate::io::reader::TrajReadOptions,
    end: &VasprunEnd,
) -> Result<Option<(f64, String)>> {
    if opts.time.timestep_fs.is_some() {
        return Ok(None);
    }
    let every = opts.frames.every.max(1);
    match (end.ibrion, end.potim) {
        (Some(0), Some(potim)) if potim > 0.0 && potim.is_finite() => {
            let stride = opts.time.stride.unwrap_or(1) * every;
            Ok(Some((
                potim * stride as f64 / 1000.0,
                format!(
                    "time between frames POTIM {potim} fs x {stride} = {} ps (IBRION = 0 from the file's parameters; vasprun.xml holds every ionic step{})",
                    potim * stride as f64 / 1000.0,
                    crate::io::reader::every_note(every, "; x")
                ),
            )))
        }
        (Some(0), potim) => Err(crate::error::Error::InvalidInput(format!(
            "{}: a molecular-dynamics run (IBRION = 0) with POTIM = {}: give option timestep_fs",
            path.display(),
            potim.map_or("none".to_string(), |p| p.to_string())
        ))),
        (ibrion, _) => Err(crate::error::Error::InvalidInput(format!(
            "{}: not a molecular-dynamics run ({}): its ionic steps are not evenly spaced in time; give option timestep_fs to analyse them as if they were",
            path.display(),
            match ibrion {
                Some(1) | Some(2) | Some(3) =>
                    format!("IBRION = {}, a relaxation", ibrion.unwrap_or_default()),
                Some(5..=8) => format!(
                    "IBRION = {}, finite displacements",
                    ibrion.unwrap_or_default()
                ),
                Some(i) => format!("IBRION = {i}"),
                None => "the file gives no IBRION".to_string(),
            }
        ))),
    }
}
