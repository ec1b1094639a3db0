//! VASP XDATCAR (VASP 5 header) and INCAR.
//!
//! Header: comment, scale (one number, three per-axis numbers, or a negative number
//! meaning the cell volume in Å³), three lattice vectors, species names, counts. Then
//! frames, each opened by `Direct configuration=  N` (fractional coordinates) or
//! `Cartesian configuration=  N` (Å, times the scale). A variable-cell run (NPT)
//! repeats the whole header before every frame. Frames are located first, then
//! parsed in parallel.

use std::path::Path;

use rayon::prelude::*;

use super::frames::{Collect, FrameRange};
use super::lines::{ChunkLines, LineStream};
use super::{parse_err, read_text};
use crate::error::Result;
use crate::geom::{det, inverse};
use crate::traj::Trajectory;
use crate::traj::stream::FrameSink;

/// Parse options.
#[derive(Debug, Clone, Copy)]
pub struct XdatcarOptions {
    /// Drop an incomplete last frame (with a note) instead of failing.
    pub allow_truncated: bool,
    /// The frames to parse.
    pub frames: FrameRange,
    /// Lines of text held at once (memory against the parallel parse's granularity).
    pub chunk_lines: usize,
}

impl Default for XdatcarOptions {
    fn default() -> Self {
        XdatcarOptions {
            allow_truncated: false,
            frames: FrameRange::default(),
            chunk_lines: CHUNK_LINES,
        }
    }
}

struct Header {
    cell: [[f64; 3]; 3],
    species: Vec<String>,
    counts: Vec<usize>,
}

fn numbers(path: &Path, line_no: usize, line: &str, what: &str) -> Result<Vec<f64>> {
    line.split_ascii_whitespace()
        .map(|t| match t.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(v),
            Ok(_) => Err(parse_err(
                path,
                line_no,
                format!("{what}: {t:?} is not a finite number"),
            )),
            Err(_) => Err(parse_err(
                path,
                line_no,
                format!("{what}: expected numbers, found {t:?}"),
            )),
        })
        .collect()
}

/// Parse the 7 header lines `lines`, the first of which is line `at` (0-based) of
/// the file.
fn header(path: &Path, lines: &[&str], at: usize) -> Result<Header> {
    let line = |k: usize| {
        lines
            .get(k)
            .copied()
            .ok_or_else(|| parse_err(path, at + k + 1, "the header is cut short".into()))
    };
    let scale = numbers(path, at + 2, line(1)?, "scale line")?;
    let mut cell = [[0.0; 3]; 3];
    for (r, row) in cell.iter_mut().enumerate() {
        let v = numbers(path, at + 3 + r, line(2 + r)?, "lattice vector")?;
        if v.len() != 3 {
            return Err(parse_err(
                path,
                at + 3 + r,
                format!("lattice vector: expected 3 numbers, found {}", v.len()),
            ));
        }
        row.copy_from_slice(&v);
    }
    match scale.as_slice() {
        [s] if *s > 0.0 => cell.iter_mut().flatten().for_each(|v| *v *= s),
        [s] if *s < 0.0 => {
            // A negative scale is the target volume.
            let f = (-s / det(&cell).abs()).cbrt();
            cell.iter_mut().flatten().for_each(|v| *v *= f);
        }
        [a, b, c] if *a > 0.0 && *b > 0.0 && *c > 0.0 => {
            for row in cell.iter_mut() {
                row[0] *= a;
                row[1] *= b;
                row[2] *= c;
            }
        }
        _ => {
            return Err(parse_err(
                path,
                at + 2,
                format!(
                    "scale line: expected one non-zero number (negative = volume) or three positive ones, found {:?}",
                    line(1)?.trim()
                ),
            ));
        }
    }
    if det(&cell).abs() < 1e-6 {
        return Err(parse_err(
            path,
            at + 3,
            "lattice vectors: the cell has zero volume".into(),
        ));
    }
    let species: Vec<String> = line(5)?
        .split_ascii_whitespace()
        .map(str::to_string)
        .collect();
    if species.is_empty() || species.iter().any(|s| s.parse::<f64>().is_ok()) {
        return Err(parse_err(
            path,
            at + 6,
            "expected the VASP 5 species line (element symbols, e.g. \"Li P S Cl\")".into(),
        ));
    }
    let counts: Vec<usize> = line(6)?
        .split_ascii_whitespace()
        .map(|t| {
            t.parse::<usize>().map_err(|_| {
                parse_err(
                    path,
                    at + 7,
                    format!("counts: expected whole numbers, found {t:?}"),
                )
            })
        })
        .collect::<Result<_>>()?;
    if counts.len() != species.len() {
        return Err(parse_err(
            path,
            at + 7,
            format!(
                "{} counts for {} species ({})",
                counts.len(),
                species.len(),
                species.join(" ")
            ),
        ));
    }
    if counts.iter().sum::<usize>() == 0 {
        return Err(parse_err(path, at + 7, "counts: no atoms".into()));
    }
    Ok(Header {
        cell,
        species,
        counts,
    })
}

fn is_marker(line: &str) -> Option<bool> {
    let first = line.split_ascii_whitespace().next()?.to_ascii_lowercase();
    if first.starts_with("direct") {
        Some(false)
    } else if first.starts_with("cartesian") {
        Some(true)
    } else {
        None
    }
}

/// One located frame of a chunk: where its lines start in the chunk, the global index
/// of its marker line, and whether it has its own header (variable cell).
struct Located {
    local: usize,
    marker: usize,
    own_header: bool,
}

/// What the locator found by the end of the file: frames located, whether the cell
/// varies, and a cut-short last frame (frame, line, coordinate lines present).
struct LocatedEnd {
    complete: usize,
    variable: bool,
    truncated: Option<(usize, usize, usize)>,
}

/// Lines kept per chunk before it is parsed (about 40 MB of text): the file is never
/// held whole.
const CHUNK_LINES: usize = 1 << 20;

/// Read an XDATCAR (gzip-transparent). The time step is not in the file: the caller
/// sets it from an INCAR ([`incar_timestep`]) or from the command line. The file is
/// read as a stream, in chunks of frames parsed in parallel, so that only the
/// positions (and a chunk of text) are held; frames left out by the range are
/// checked for shape but not parsed.
pub fn read(path: &Path, opts: XdatcarOptions) -> Result<Trajectory> {
    let mut all = Collect::default();
    let end = stream(path, opts, &mut all)?;
    all.into_trajectory(path, end.notes, end.variable_cell)
}

/// How a streamed file ended.
pub struct StreamEnd {
    /// Frames handed to the sink.
    pub frames: usize,
    /// Whether the cell changes from frame to frame (its own header per frame).
    pub variable_cell: bool,
    /// How the reader interpreted the file (frames left out, a cut-short last frame).
    pub notes: Vec<String>,
}

/// Read an XDATCAR as [`read`] does, handing the frames to `sink` chunk by chunk
/// (about a million lines of text at a time) instead of keeping them.
pub fn stream(path: &Path, opts: XdatcarOptions, sink: &mut dyn FrameSink) -> Result<StreamEnd> {
    let mut src = LineStream::open(path)?;
    let mut head = ChunkLines::default();
    while head.len() < 7 {
        if src.take(Some(&mut head))?.is_none() {
            if head.text.trim().is_empty() {
                return Err(parse_err(path, 1, "the file is empty".into()));
            }
            break;
        }
    }
    let refs: Vec<&str> = (0..head.len()).map(|i| head.get(i)).collect();
    let first = header(path, &refs, 0)?;
    let n: usize = first.counts.iter().sum();
    // The per-atom species list is built once a complete frame has been found, so a
    // counts line claiming 10^12 atoms costs nothing before it is found false.
    let begin = |sink: &mut dyn FrameSink| -> Result<()> {
        let species: Vec<String> = first
            .species
            .iter()
            .zip(&first.counts)
            .flat_map(|(s, &c)| std::iter::repeat_n(s.clone(), c))
            .collect();
        sink.begin(&species)
    };
    if src.peek()?.and_then(is_marker).is_none() {
        return Err(parse_err(
            path,
            8,
            "expected \"Direct configuration=\" or \"Cartesian configuration=\"".into(),
        ));
    }
    let mut begun = false;
    let range = opts.frames;
    let chunk_lines = opts.chunk_lines.max(1);
    let mut kept = 0usize;
    let mut frac: Vec<f32> = Vec::new();
    let mut cells: Vec<[[f64; 3]; 3]> = Vec::new();
    // A thread locates the frames and hands over chunks of lines (one filled while one
    // is parsed); this one parses them and feeds the sink, so reading and parsing
    // overlap. Chunks
    // come back to be reused.
    let (out, chunks) = std::sync::mpsc::sync_channel::<(ChunkLines, Vec<Located>)>(0);
    let (recycle, back) = std::sync::mpsc::channel::<(ChunkLines, Vec<Located>)>();
    let _ = recycle.send((ChunkLines::for_chunks(), Vec::new()));
    let (located_end, consumed) = std::thread::scope(|scope| {
        let locator = scope.spawn(move || -> Result<LocatedEnd> {
            let mut src = src;
            let mut variable = false;
            let mut chunk = ChunkLines::for_chunks();
            let mut located: Vec<Located> = Vec::new();
            let mut complete = 0usize; // frames located so far
            let mut sent = 0usize; // chunks handed over
            let mut truncated = None;
            let blank = |l: &str| l.trim().is_empty();
            loop {
                let (at_end, first_blank) = src.skip_blank()?;
                if at_end {
                    break;
                }
                let keep = range.contains(complete);
                let local = chunk.len();
                let own_header = variable && complete > 0;
                if own_header {
                    if let Some(i) = first_blank {
                        return Err(parse_err(
                            path,
                            i + 1,
                            format!(
                                "expected the header of frame {}, found a blank line",
                                complete + 1
                            ),
                        ));
                    }
                    for _ in 0..7 {
                        if src.take(keep.then_some(&mut chunk))?.is_none() {
                            break;
                        }
                    }
                }
                if let (Some(i), false) = (first_blank, own_header) {
                    return Err(parse_err(
                        path,
                        i + 1,
                        format!(
                            "expected \"Direct configuration=\" for frame {}, found \"\"",
                            complete + 1
                        ),
                    ));
                }
                let line_no = src.next + 1;
                let Some(line) = src.peek()? else {
                    truncated = Some((complete + 1, line_no - 1, 0));
                    break;
                };
                if is_marker(line).is_none() {
                    return Err(parse_err(
                        path,
                        line_no,
                        format!(
                            "expected \"Direct configuration=\" for frame {}, found {:?}",
                            complete + 1,
                            line.trim()
                        ),
                    ));
                }
                let marker = src.take(keep.then_some(&mut chunk))?.expect("peeked");
                let mut have = 0;
                while have < n && src.peek()?.is_some_and(|l| !blank(l)) {
                    src.take(keep.then_some(&mut chunk))?;
                    have += 1;
                }
                if have < n {
                    chunk.truncate(local);
                    truncated = Some((complete + 1, marker + 1 + have, have));
                    break;
                }
                if complete == 0 {
                    // A fixed cell: the next marker follows; a variable cell: a header does.
                    variable = src
                        .peek()?
                        .is_some_and(|l| is_marker(l).is_none() && !blank(l));
                }
                if keep {
                    located.push(Located {
                        local,
                        marker,
                        own_header,
                    });
                }
                complete += 1;
                // The first chunk is a small one, so that parsing starts early (a full
                // chunk takes a tenth of a second to locate with the other core idle).
                let limit = if sent == 0 {
                    (chunk_lines / 16).max(1)
                } else {
                    chunk_lines
                };
                if chunk.full(limit) {
                    sent += 1;
                    // Two buffers take turns: the one parsed last comes back once the
                    // consumer has taken this one. When the consumer stopped on an error
                    // of its own (which it reports), so does this side.
                    let stopped = LocatedEnd {
                        complete,
                        variable,
                        truncated,
                    };
                    if out
                        .send((std::mem::take(&mut chunk), std::mem::take(&mut located)))
                        .is_err()
                    {
                        return Ok(stopped);
                    }
                    let Ok((mut c, mut l)) = back.recv() else {
                        return Ok(stopped);
                    };
                    c.clear();
                    l.clear();
                    (chunk, located) = (c, l);
                }
            }
            let _ = out.send((chunk, located));
            Ok(LocatedEnd {
                complete,
                variable,
                truncated,
            })
        });
        let mut consumed: Result<()> = Ok(());
        for (chunk, located) in chunks.iter() {
            if !begun && !located.is_empty() {
                if let Err(e) = begin(&mut *sink) {
                    consumed = Err(e);
                    break;
                }
                begun = true;
            }
            match hand_over(
                path, &first, n, &chunk, &located, &mut frac, &mut cells, sink,
            ) {
                Ok(k) => kept += k,
                Err(e) => {
                    consumed = Err(e);
                    break;
                }
            }
            let _ = recycle.send((chunk, located));
        }
        drop(chunks);
        drop(recycle);
        let end = locator
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        (end, consumed)
    });
    // An error in a chunk comes before anything the locator found after it.
    consumed?;
    let LocatedEnd {
        complete,
        variable,
        truncated,
    } = located_end?;
    let mut notes = Vec::new();
    if let Some((frame, at, have)) = truncated {
        super::frames::truncated(
            path,
            at,
            frame,
            "coordinate lines",
            n,
            have,
            opts.allow_truncated,
            &mut notes,
        )?;
    }
    if complete == 0 {
        return Err(parse_err(path, 8, "no complete frame".into()));
    }
    if !begun {
        begin(&mut *sink)?;
    }
    if !range.is_all() {
        // The same checks (and messages) as for the other formats.
        let all: Vec<usize> = (0..complete).collect();
        range.pick(path, &all)?;
        notes.push(range.note(complete, kept));
    }
    Ok(StreamEnd {
        frames: kept,
        variable_cell: variable,
        notes,
    })
}

/// Parse the located frames of a chunk and hand them to the sink; the number handed.
#[allow(clippy::too_many_arguments)]
fn hand_over(
    path: &Path,
    first: &Header,
    n: usize,
    chunk: &ChunkLines,
    located: &[Located],
    frac: &mut Vec<f32>,
    cells: &mut Vec<[[f64; 3]; 3]>,
    sink: &mut dyn FrameSink,
) -> Result<usize> {
    frac.clear();
    cells.clear();
    parse_chunk(path, first, n, chunk, located, frac, cells)?;
    if !cells.is_empty() {
        sink.frames(frac, cells, None)?;
    }
    Ok(cells.len())
}

/// Parse the located frames of a chunk in parallel and append their positions (each
/// frame written in place) and cells.
fn parse_chunk(
    path: &Path,
    first: &Header,
    n: usize,
    chunk: &ChunkLines,
    located: &[Located],
    frac: &mut Vec<f32>,
    cells: &mut Vec<[[f64; 3]; 3]>,
) -> Result<()> {
    let start = frac.len();
    frac.resize(start + located.len() * n * 3, 0.0);
    let parsed: Vec<Result<[[f64; 3]; 3]>> = frac[start..]
        .par_chunks_mut((n * 3).max(1))
        .zip(located.par_iter())
        .map(|(out, f)| {
            let (cell, m_local) = if f.own_header {
                let refs: Vec<&str> = (f.local..f.local + 7).map(|i| chunk.get(i)).collect();
                let h = header(path, &refs, f.marker - 7)?;
                if h.species != first.species || h.counts != first.counts {
                    return Err(parse_err(
                        path,
                        f.marker - 1,
                        "species or counts change between frames".into(),
                    ));
                }
                (h.cell, f.local + 7)
            } else {
                (first.cell, f.local)
            };
            let m = f.marker;
            let cartesian = is_marker(chunk.get(m_local)).unwrap_or(false);
            let inv = inverse(&cell);
            for i in 0..n {
                let line = chunk.get(m_local + 1 + i);
                let mut it = super::ascii_tokens(line);
                let mut v = [0.0f64; 3];
                for (c, slot) in v.iter_mut().enumerate() {
                    let tok = it.next().ok_or_else(|| {
                        parse_err(
                            path,
                            m + 2 + i,
                            format!("expected 3 coordinates, found {c}"),
                        )
                    })?;
                    *slot = match super::parse_f64(tok) {
                        Some(x) if x.is_finite() => x,
                        Some(_) => {
                            return Err(parse_err(
                                path,
                                m + 2 + i,
                                format!("coordinate {tok:?} is not a finite number"),
                            ));
                        }
                        None => {
                            return Err(parse_err(
                                path,
                                m + 2 + i,
                                format!("expected a number, found {tok:?}"),
                            ));
                        }
                    };
                }
                if cartesian {
                    // Cartesian coordinates (already in Å, as VASP writes them) -> fractional.
                    let s: [f64; 3] =
                        std::array::from_fn(|j| (0..3).map(|k| v[k] * inv[k][j]).sum());
                    v = s;
                }
                for c in 0..3 {
                    out[i * 3 + c] = v[c] as f32;
                }
            }
            Ok(cell)
        })
        .collect();
    for r in parsed {
        cells.push(r?);
    }
    Ok(())
}

/// POTIM (fs) and NBLOCK from an INCAR: the time between XDATCAR frames is
/// POTIM × NBLOCK. Both must be present (IonDiff reads them the same way).
pub fn incar_timestep(path: &Path) -> Result<(f64, usize)> {
    match incar_tags(path)? {
        (Some(p), Some(b)) => Ok((p, b)),
        (None, _) => Err(parse_err(
            path,
            0,
            "POTIM is missing (give option timestep_fs instead)".into(),
        )),
        (_, None) => Err(parse_err(
            path,
            0,
            "NBLOCK is missing (give option stride instead)".into(),
        )),
    }
}

/// The INCAR's NBLOCK (MD steps between XDATCAR frames).
pub(crate) fn incar_nblock(path: &Path) -> Result<usize> {
    incar_tags(path)?.1.ok_or_else(|| {
        parse_err(
            path,
            0,
            "NBLOCK is missing (give option stride instead)".into(),
        )
    })
}

/// POTIM and NBLOCK of an INCAR, where set.
pub(crate) fn incar_tags(path: &Path) -> Result<(Option<f64>, Option<usize>)> {
    let text = read_text(path)?;
    let mut potim = None;
    let mut nblock = None;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split(['#', '!']).next().unwrap_or("");
        for stmt in line.split(';') {
            let Some((k, v)) = stmt.split_once('=') else {
                continue;
            };
            let value = v.split_ascii_whitespace().next().unwrap_or("");
            match k.trim().to_ascii_uppercase().as_str() {
                "POTIM" => {
                    potim = Some(value.parse::<f64>().ok().filter(|p| *p > 0.0).ok_or_else(
                        || {
                            parse_err(
                                path,
                                i + 1,
                                format!(
                                    "POTIM: expected a positive time step in fs, found {value:?}"
                                ),
                            )
                        },
                    )?)
                }
                "NBLOCK" => {
                    nblock = Some(value.parse::<usize>().ok().filter(|n| *n > 0).ok_or_else(
                        || {
                            parse_err(
                                path,
                                i + 1,
                                format!(
                                    "NBLOCK: expected a positive whole number, found {value:?}"
                                ),
                            )
                        },
                    )?)
                }
                _ => {}
            }
        }
    }
    Ok((potim, nblock))
}

/// Whether `text` starts like an XDATCAR (a scale line, then three lattice vectors).
pub(crate) fn looks_like(text_head: &str) -> bool {
    let lines: Vec<&str> = text_head.lines().take(8).collect();
    lines.len() >= 8
        && lines[1..5]
            .iter()
            .all(|l| l.split_ascii_whitespace().all(|t| t.parse::<f64>().is_ok()))
        && is_marker(lines[7]).is_some()
}

/// XDATCAR in the trajectory reader registry.
pub struct Reader;

impl crate::io::reader::TrajReader for Reader {
    fn name(&self) -> &'static str {
        "xdatcar"
    }
    fn about(&self) -> &'static str {
        "VASP XDATCAR (time step from an INCAR beside it, or the command line)"
    }
    fn by_name(&self, name: &str) -> bool {
        name.contains("XDATCAR")
    }
    fn sniff(&self, head: &[u8]) -> bool {
        looks_like(&String::from_utf8_lossy(head))
    }
    fn incar_beside(&self) -> bool {
        true
    }
    fn time_in_frames(&self) -> bool {
        false
    }
    fn stream(
        &self,
        path: &Path,
        opts: &crate::io::reader::TrajReadOptions,
        _species: Option<&[String]>,
        sink: &mut dyn crate::traj::stream::FrameSink,
    ) -> Result<crate::io::reader::ReadEnd> {
        let end = stream(
            path,
            XdatcarOptions {
                allow_truncated: opts.allow_truncated,
                frames: opts.frames,
                ..Default::default()
            },
            sink,
        )?;
        Ok(crate::io::reader::ReadEnd {
            frames: end.frames,
            notes: end.notes,
            per_frame_cells: end.variable_cell,
            ..Default::default()
        })
    }
}
