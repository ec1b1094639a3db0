//! The hop analysis as files: the summary (`descriptors.json`), the tables and the
//! figures `superion traj hops --out` writes.

use std::path::Path;

use crate::compute::Engine;
use crate::error::{Error, Result};
use crate::io::traj_input::{TrajReadOptions, stream_trajectory};
use crate::traj::correlations;
use crate::traj::hops::HopStream;
use crate::traj::hops::types::JumpAnalysis;
use crate::traj::hops::{Descriptors, HopOptions, Hops, Mode};
use crate::traj::stream::StreamOptions;
use crate::{invalid, io, plot};

/// Everything `superion traj hops --out` writes, as one JSON summary (also written as
/// `descriptors.json`).
#[derive(Clone, Debug, serde::Serialize)]
pub struct Summary {
    pub file: String,
    pub mode: Mode,
    pub options: HopOptions,
    pub n_frames: usize,
    pub dt_ps: f64,
    /// The k range of the per-ion clustering modes (absent in sites mode).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub k_range: Option<(usize, usize)>,
    pub notes: Vec<String>,
    pub ions_analysed: usize,
    pub events: usize,
    pub sites: usize,
    pub species: Vec<Descriptors>,
    pub temporal_correlation: correlations::Temporal,
    pub collective: correlations::Collective,
    /// Site-based mode: jump types, rates, occupancies, residence times, D_jump vs
    /// the tracer D.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jumps: Option<JumpAnalysis>,
}

pub use super::StreamRun;

/// The hops of the trajectory in `file`, streamed: the file is never held
/// whole (see `crate::traj::hops::stream`); the numbers are those of
/// `crate::traj::hops::detect`. Also how it streamed and the reader's notes.
pub(crate) fn detect_streamed(
    engine: &Engine,
    file: &Path,
    read: &TrajReadOptions,
    opts: &HopOptions,
    stream: &StreamOptions,
) -> Result<(Hops, StreamRun, Vec<String>)> {
    let mut sink = HopStream::new(opts, stream, file).on(engine);
    let got = stream_trajectory(file, read, &mut sink)?;
    let (h, info) = sink.finish(engine, got.dt_ps)?;
    let run = StreamRun::new(&got, &info, stream);
    Ok((h, run, got.notes))
}

/// The hops of the trajectory in `src`, read into memory or streamed as the
/// library's policy decides ([`super::TrajFile::policy`]): the one entry of every
/// front end.
pub fn detect_of(
    engine: &Engine,
    src: &super::TrajFile,
    opts: &HopOptions,
) -> Result<(Hops, super::Ran)> {
    opts.check()?;
    super::Ran::run(
        src,
        |so| {
            let (h, run, notes) = detect_streamed(engine, &src.path, &src.read, opts, so)?;
            let frames = h.n_frames;
            Ok((h, notes, frames, run))
        },
        |traj| crate::traj::hops::detect(engine, traj, opts),
    )
}

/// Most path figures written (the hopping ions with the most events first).
pub(crate) const MAX_PATH_FIGURES: usize = 40;

/// The collective-hop window's check, for every front end: a time and a distance of
/// at least 0 (finite).
pub fn check_collective(dt_ps: f64, dr_a: f64) -> crate::error::Result<()> {
    if !(dt_ps >= 0.0 && dr_a >= 0.0 && dt_ps.is_finite() && dr_a.is_finite()) {
        return Err(crate::invalid!(
            "option collective_dt_ps and option collective_dr_a must be at least 0 (ps, Å), not {dt_ps} and {dr_a}"
        ));
    }
    Ok(())
}

/// Descriptors and correlations of `h`, the hops found in `file`.
pub fn summary(h: &Hops, file: &Path, collective_dt_ps: f64, collective_dr_a: f64) -> Summary {
    Summary {
        file: file.display().to_string(),
        mode: h.mode,
        options: h.options.clone(),
        n_frames: h.n_frames,
        dt_ps: h.dt_ps,
        k_range: (h.mode != crate::traj::hops::Mode::Sites).then_some(h.k_range),
        notes: h.notes.clone(),
        ions_analysed: h.ions.len(),
        events: h.events.len(),
        sites: h.sites.len(),
        species: h.descriptors(),
        temporal_correlation: correlations::temporal(&h.events, h.n_frames, h.mode, h.options.seed),
        collective: correlations::collective(h, collective_dt_ps, collective_dr_a),
        jumps: h.jumps.clone(),
    }
}

/// events.csv, DIFFUSION, sites.csv, descriptors.json, hops.svg (raster),
/// correlations.svg and `paths/ion_<i>.svg` into `dir`; the names written.
pub fn write_outputs(h: &Hops, dir: &Path, summary: &Summary) -> Result<Vec<String>> {
    std::fs::create_dir_all(dir).map_err(|source| Error::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    io::hops::write_events_csv(h, &dir.join("events.csv"))?;
    io::hops::write_diffusion(h, &dir.join("DIFFUSION"))?;
    io::hops::write_sites_csv(h, &dir.join("sites.csv"))?;
    let species = h
        .ions
        .first()
        .map(|i| i.species.clone())
        .unwrap_or_else(|| "X".into());
    io::hops::write_sites_xyz(h, &dir.join("sites.xyz"), &species)?;
    io::hops::write_sites_poscar(h, &dir.join("sites.vasp"), &species)?;
    let json =
        serde_json::to_string_pretty(summary).map_err(|e| invalid!("descriptors.json: {e}"))?;
    io::write_atomic(&dir.join("descriptors.json"), json.as_bytes())?;
    plot::hops::raster_svg(h, &dir.join("hops.svg"))?;
    plot::hops::null_model_svg(
        &summary.collective,
        h.events.len(),
        &dir.join("correlations.svg"),
    )?;
    // What an earlier run into this folder wrote and this one does not: another
    // mode's site figures, another trajectory's path figures.
    io::remove_stale(
        dir,
        &["sitemap.svg", "jump_types.svg"],
        Some(("paths", "ion_")),
    )?;
    let mut extra = Vec::new();
    if h.jumps.is_some() {
        plot::hops::sitemap_svg(h, &dir.join("sitemap.svg"))?;
        plot::hops::jump_types_svg(h, &dir.join("jump_types.svg"))?;
        extra = vec!["sitemap.svg".to_string(), "jump_types.svg".to_string()];
    }
    let mut written = vec![
        "events.csv".to_string(),
        "DIFFUSION".into(),
        "sites.csv".into(),
        "sites.xyz".into(),
        "sites.vasp".into(),
        "descriptors.json".into(),
        "hops.svg".into(),
        "correlations.svg".into(),
    ];
    written.extend(extra);
    let mut by_count: Vec<(usize, usize)> = Vec::new();
    for e in &h.events {
        match by_count.iter_mut().find(|(i, _)| *i == e.ion) {
            Some(x) => x.1 += 1,
            None => by_count.push((e.ion, 1)),
        }
    }
    by_count.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    if !by_count.is_empty() {
        let pdir = dir.join("paths");
        std::fs::create_dir_all(&pdir).map_err(|source| Error::Io {
            path: pdir.clone(),
            source,
        })?;
        for (ion, _) in by_count.iter().take(MAX_PATH_FIGURES) {
            plot::hops::path_svg(h, *ion, &pdir.join(format!("ion_{ion}.svg")))?;
        }
        written.push(format!(
            "paths/ion_<i>.svg ({} of {} hopping ions)",
            by_count.len().min(MAX_PATH_FIGURES),
            by_count.len()
        ));
    }
    Ok(written)
}
