//! A toy trajectory format, compiled only with the `toy-format` feature: the worked
//! example of adding a format. This file (its parser and its [`TrajReader`]) and one
//! line in [`super::traj_input::READERS`] are all it takes; `--format toy`, its
//! detection by name and by content, `--help`, every analysis (in memory and
//! streamed) and Python's `format="toy"` follow from the registry. `tests/toy_format.rs`
//! reads one through the CLI.
//!
//! ```text
//! TOYTRAJ 1
//! cell 10 0 0  0 10 0  0 0 10      lattice vectors as rows (Å), the same for every frame
//! frame 0                          the frame's time (fs)
//! Li 1.0 2.0 3.0                   one atom per line: species, Cartesian position (Å)
//! S 5 5 5
//! frame 2
//! ...
//! ```

use std::path::Path;

use super::parse_err;
use super::reader::{ReadEnd, TrajReadOptions, TrajReader};
use crate::error::Result;
use crate::traj::stream::FrameSink;

/// Frames handed to the sink at a time.
const BLOCK: usize = 1024;

/// The toy format's reader.
pub struct Reader;

impl TrajReader for Reader {
    fn name(&self) -> &'static str {
        "toy"
    }
    fn about(&self) -> &'static str {
        "superion's toy format (the worked example of a reader; feature toy-format)"
    }
    fn by_name(&self, name: &str) -> bool {
        name.ends_with(".TOY")
    }
    fn sniff(&self, head: &[u8]) -> bool {
        head.starts_with(b"TOYTRAJ")
    }
    fn stream(
        &self,
        path: &Path,
        opts: &TrajReadOptions,
        _species: Option<&[String]>,
        sink: &mut dyn FrameSink,
    ) -> Result<ReadEnd> {
        let text = super::read_text(path)?;
        let bad = |line: usize, what: &str| parse_err(path, line, what.to_string());
        let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l.trim()));
        if lines.next().map(|(_, l)| l) != Some("TOYTRAJ 1") {
            return Err(bad(1, "expected the header TOYTRAJ 1"));
        }
        let (n, cell_line) = lines
            .next()
            .ok_or_else(|| bad(2, "expected the cell line"))?;
        let cell = numbers(cell_line.strip_prefix("cell "))
            .filter(|v| v.len() == 9)
            .ok_or_else(|| bad(n, "expected `cell` and 9 finite numbers (Å)"))?;
        let cell_rows: [[f64; 3]; 3] =
            std::array::from_fn(|i| std::array::from_fn(|j| cell[3 * i + j]));
        if crate::geom::det(&cell_rows).abs() <= 1e-6 {
            return Err(bad(n, "the cell has no volume"));
        }
        let inv = crate::geom::inverse(&cell_rows);
        // Every frame: its line, time (fs), species and fractional positions.
        let mut frames: Vec<(usize, f64, Vec<String>, Vec<f32>)> = Vec::new();
        for (n, l) in lines.filter(|(_, l)| !l.is_empty()) {
            if let Some(t) = l.strip_prefix("frame ") {
                let t = numbers(Some(t))
                    .filter(|v| v.len() == 1)
                    .ok_or_else(|| bad(n, "expected `frame` and the frame's time (fs)"))?;
                frames.push((n, t[0], Vec::new(), Vec::new()));
                continue;
            }
            let (_, _, names, frac) = frames
                .last_mut()
                .ok_or_else(|| bad(n, "expected `frame` and the frame's time (fs)"))?;
            let mut it = l.splitn(2, char::is_whitespace);
            let name = it.next().unwrap_or_default();
            let r = numbers(it.next())
                .filter(|v| v.len() == 3)
                .ok_or_else(|| bad(n, "expected a species and 3 finite coordinates (Å)"))?;
            let f = crate::geom::frac_of([r[0], r[1], r[2]], &inv);
            names.push(name.to_string());
            frac.extend(f.map(|v| v as f32));
        }
        let Some((first_line, _, first, _)) = frames.first() else {
            return Err(bad(n + 1, "no frames"));
        };
        if first.is_empty() {
            return Err(bad(*first_line, "a frame with no atoms"));
        }
        if let Some((line, ..)) = frames.iter().find(|f| f.2 != *first) {
            return Err(bad(*line, "the atoms differ from the first frame's"));
        }
        // The shared frame-range rule (and its messages).
        let all: Vec<usize> = (0..frames.len()).collect();
        let kept = opts.frames.pick(path, &all)?;
        sink.begin(first)?;
        for block in kept.chunks(BLOCK) {
            let frac: Vec<f32> = block
                .iter()
                .flat_map(|&k| frames[k].3.iter().copied())
                .collect();
            sink.frames(&frac, &vec![cell_rows; block.len()], None)?;
        }
        let notes = (!opts.frames.is_all())
            .then(|| opts.frames.note(frames.len(), kept.len()))
            .into_iter()
            .collect();
        Ok(ReadEnd {
            frames: kept.len(),
            time_fs: Some(kept.iter().map(|&k| frames[k].1).collect()),
            notes,
            ..Default::default()
        })
    }
}

/// The finite numbers of `s`, or None.
fn numbers(s: Option<&str>) -> Option<Vec<f64>> {
    s?.split_whitespace()
        .map(|x| x.parse::<f64>().ok().filter(|v| v.is_finite()))
        .collect()
}
