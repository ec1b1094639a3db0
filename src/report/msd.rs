//! The diffusion analysis of one species as a typed summary and as files: the MSD,
//! the fitted tracer D with its uncertainty, D_sigma and the Haven ratio, the
//! Nernst-Einstein conductivity; `msd.csv`, `summary.json` and `msd.svg`.

use std::path::Path;

use crate::compute::{Engine, LongSteps};
use crate::error::Result;
use crate::io::traj_input::{TrajReadOptions, stream_trajectory};
use crate::io::{fmt_f64, write_atomic};
use crate::traj::diffusion::{self, Fit};
use crate::traj::msd::{self, Msd, MsdOptions};
use crate::traj::stream::{MsdStream, StreamOptions};
use crate::traj::{Prepared, Trajectory};
use crate::{invalid, plot};

pub use super::StreamRun;

/// What to compute besides the MSD.
#[derive(Clone, Debug)]
pub struct DiffusionOptions {
    pub msd: MsdOptions,
    /// Start of the fit window (ps); `None`: where the MSD becomes diffusive.
    pub start_ps: Option<f64>,
    /// Temperature (K) for the Nernst-Einstein conductivity; `None`: none.
    pub temperature_k: Option<f64>,
    /// Ion charge (e); `None`: the usual one for the species.
    pub charge_e: Option<f64>,
}

/// The highest temperature a Nernst-Einstein conductivity is computed for (K).
pub(crate) const MAX_TEMPERATURE_K: f64 = 1e5;
/// The largest ion charge (e) in size.
pub(crate) const MAX_CHARGE_E: f64 = 10.0;

impl DiffusionOptions {
    /// The checks every front end shares: a positive temperature, a fit start of at
    /// least 0 ps, and a charge for a species without a usual one.
    pub fn check(&self) -> Result<()> {
        if let Some(t) = self
            .temperature_k
            .filter(|t| !(*t > 0.0 && *t <= MAX_TEMPERATURE_K))
        {
            return Err(invalid!(
                "option temperature must be positive and at most {MAX_TEMPERATURE_K} K, not {} K",
                crate::traj::fmt_number(t)
            ));
        }
        if let Some(s) = self.start_ps.filter(|s| !(*s >= 0.0 && s.is_finite())) {
            return Err(invalid!(
                "option start_ps must be a time of at least 0 ps, not {s}"
            ));
        }
        if let Some(q) = self
            .charge_e
            .filter(|q| !(q.abs() <= MAX_CHARGE_E) || *q == 0.0)
        {
            return Err(invalid!(
                "option charge must be a non-zero number of e, at most {MAX_CHARGE_E} in size, not {}",
                crate::traj::fmt_number(q)
            ));
        }
        if self.temperature_k.is_some()
            && self.charge_e.is_none()
            && diffusion::default_charge(&self.msd.species).is_none()
        {
            return Err(invalid!(
                "no default charge for {}: give option charge",
                self.msd.species
            ));
        }
        Ok(())
    }
}

/// The Nernst-Einstein conductivity at one temperature.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Conductivity {
    pub charge_e: f64,
    pub sigma_collective_s_cm: f64,
    pub sigma_tracer_err_s_cm: f64,
    pub sigma_tracer_s_cm: f64,
    pub temperature_k: f64,
}

/// One lag of the MSD.
#[derive(Clone, Debug, serde::Serialize)]
pub struct MsdPoint {
    pub dt_ps: f64,
    pub msd_a2: f64,
}

/// The summary (`summary.json`, `traj msd --json`); fields in alphabetical order, as
/// they are written.
#[derive(Clone, Debug, serde::Serialize)]
pub struct DiffusionSummary {
    pub axes: String,
    pub backend: String,
    pub conductivity: Option<Conductivity>,
    /// null when the MSD is not diffusive (`diffusive`, `diffusive_note`).
    pub d_cm2_s: f64,
    pub d_err_cm2_s: f64,
    /// slope / 2d of the fitted line, diffusive or not.
    pub d_fitted_cm2_s: f64,
    pub d_sigma_cm2_s: f64,
    /// Standard error of D_sigma over consecutive blocks (null when not determined).
    pub d_sigma_err_cm2_s: f64,
    pub diffusive: bool,
    pub diffusive_note: String,
    pub drift_correction: String,
    pub dt_ps: f64,
    pub file: String,
    pub fit_end_ps: f64,
    pub fit_method: String,
    pub fit_points: usize,
    pub fit_start_automatic: bool,
    pub fit_start_ps: f64,
    /// D / D_sigma, null when the run does not determine it (see `haven_note`).
    pub haven_ratio: f64,
    pub haven_ratio_err: f64,
    pub haven_note: String,
    /// The MSD's exponent over the fit window (1 when diffusive).
    pub loglog_exponent: f64,
    pub long_steps: LongSteps,
    pub mean_volume_a3: f64,
    pub msd: Vec<MsdPoint>,
    pub n_atoms: usize,
    pub n_frames: usize,
    pub notes: Vec<String>,
    pub species: String,
}

/// The MSD, its fit and the summary.
pub struct Diffusion {
    pub msd: Msd,
    pub fit: Fit,
    pub summary: DiffusionSummary,
}

/// The diffusion analysis of `opts.msd.species` in `traj` (read from `file`).
pub fn diffusion(
    engine: &Engine,
    traj: &Trajectory,
    file: &Path,
    opts: &DiffusionOptions,
) -> Result<Diffusion> {
    let m = msd::msd(engine, traj, &opts.msd)?;
    summarise(engine, mean_volume(traj), traj.notes.clone(), file, m, opts)
}

/// [`diffusion()`] of a trajectory already unwrapped.
pub fn diffusion_prepared(
    engine: &Engine,
    p: &Prepared,
    file: &Path,
    opts: &DiffusionOptions,
) -> Result<Diffusion> {
    let m = msd::msd_prepared(engine, p, &opts.msd)?;
    summarise(
        engine,
        mean_volume(p.traj),
        p.traj.notes.clone(),
        file,
        m,
        opts,
    )
}

/// [`diffusion()`] of the trajectory in `file`, streamed: the file is never held whole
/// (see `crate::traj::stream`); the numbers are those of [`diffusion()`].
pub fn diffusion_streamed(
    engine: &Engine,
    file: &Path,
    read: &TrajReadOptions,
    opts: &DiffusionOptions,
    stream: &StreamOptions,
) -> Result<(Diffusion, StreamRun)> {
    let mut sink = MsdStream::new(&opts.msd, stream, file).on(engine);
    let got = stream_trajectory(file, read, &mut sink)?;
    let s = sink.finish(engine, got.dt_ps, opts.start_ps)?;
    let info = crate::traj::stream::StreamRunInfo {
        scratch_bytes: s.scratch_bytes,
        window_atoms: s.window_atoms,
        windows: s.windows,
    };
    let run = StreamRun::new(&got, &info, stream);
    let d = summarise(engine, s.mean_volume_a3, got.notes, file, s.msd, opts)?;
    Ok((d, run))
}

/// The diffusion analysis of the trajectory in `src`, read into memory or streamed
/// as the library's policy decides ([`super::TrajFile::policy`]): the one entry of
/// every front end. The reader's notes are also in the summary's notes.
pub fn diffusion_of(
    engine: &Engine,
    src: &super::TrajFile,
    opts: &DiffusionOptions,
) -> Result<(Diffusion, super::Ran)> {
    super::Ran::run(
        src,
        |so| {
            let (d, run) = diffusion_streamed(engine, &src.path, &src.read, opts, so)?;
            let (notes, frames) = (d.summary.notes.clone(), d.msd.n_frames);
            Ok((d, notes, frames, run))
        },
        |traj| diffusion(engine, traj, &src.path, opts),
    )
}

/// The mean cell volume over the frames (Å³).
fn mean_volume(traj: &Trajectory) -> f64 {
    (0..traj.n_frames()).map(|t| traj.volume_a3(t)).sum::<f64>() / traj.n_frames() as f64
}

fn summarise(
    engine: &Engine,
    mean_volume: f64,
    notes: Vec<String>,
    file: &Path,
    m: Msd,
    opts: &DiffusionOptions,
) -> Result<Diffusion> {
    let species = &opts.msd.species;
    let fit = diffusion::fit(&m, opts.start_ps)?;
    let coll = diffusion::collective(&m, &fit);
    let d_sigma = coll.d_cm2_s;
    let conductivity = match opts.temperature_k {
        Some(t) if t > 0.0 => {
            let q = opts
                .charge_e
                .or_else(|| diffusion::default_charge(species))
                .ok_or_else(|| invalid!("no default charge for {species}: give the ion charge"))?;
            let ne = |d| diffusion::nernst_einstein_s_cm(m.n_atoms, q, d, mean_volume, t);
            Some(Conductivity {
                charge_e: q,
                sigma_collective_s_cm: ne(d_sigma),
                sigma_tracer_err_s_cm: if fit.diffusive {
                    ne(fit.d_err_cm2_s)
                } else {
                    f64::NAN
                },
                sigma_tracer_s_cm: ne(fit.d_cm2_s),
                temperature_k: t,
            })
        }
        Some(t) => return Err(invalid!("temperature {t} K: must be positive")),
        None => None,
    };
    let times = m.times_ps();
    let summary = DiffusionSummary {
        axes: opts.msd.axes.to_string(),
        backend: engine.describe(),
        conductivity,
        d_cm2_s: fit.d_cm2_s,
        d_err_cm2_s: if fit.diffusive {
            fit.d_err_cm2_s
        } else {
            f64::NAN
        },
        d_fitted_cm2_s: fit.d_fitted_cm2_s,
        d_sigma_cm2_s: d_sigma,
        d_sigma_err_cm2_s: coll.d_err_cm2_s,
        diffusive: fit.diffusive,
        diffusive_note: fit.diffusive_note.clone(),
        drift_correction: m.drift.clone(),
        dt_ps: m.dt_ps,
        file: file.display().to_string(),
        fit_end_ps: fit.fit_end_ps,
        fit_method: fit.method.clone(),
        fit_points: fit.n_points,
        fit_start_automatic: fit.start_chosen_automatically,
        fit_start_ps: fit.fit_start_ps,
        haven_ratio: coll.haven_ratio,
        haven_ratio_err: coll.haven_ratio_err,
        haven_note: coll.haven_note.clone(),
        loglog_exponent: fit.loglog_exponent,
        long_steps: m.long_steps.clone(),
        mean_volume_a3: mean_volume,
        msd: times
            .iter()
            .zip(&m.msd_a2)
            .map(|(&dt_ps, &msd_a2)| MsdPoint { dt_ps, msd_a2 })
            .collect(),
        n_atoms: m.n_atoms,
        n_frames: m.n_frames,
        notes,
        species: species.clone(),
    };
    Ok(Diffusion {
        msd: m,
        fit,
        summary,
    })
}

/// `msd.csv`, `summary.json` and `msd.svg` into `dir`; the names written.
pub fn write_outputs(d: &Diffusion, dir: &Path) -> Result<Vec<String>> {
    write_csv(&d.msd, &dir.join("msd.csv"))?;
    let json =
        serde_json::to_string_pretty(&d.summary).map_err(|e| invalid!("summary.json: {e}"))?;
    write_atomic(&dir.join("summary.json"), json.as_bytes())?;
    plot::msd_svg(&d.msd, &d.fit, &dir.join("msd.svg"))?;
    Ok(vec![
        "msd.csv".into(),
        "summary.json".into(),
        "msd.svg".into(),
    ])
}

/// Write `msd.csv`: dt_ps, msd_a2, per-axis MSD (x, y, z) and the collective MSD.
pub fn write_csv(m: &Msd, path: &Path) -> Result<()> {
    let times = m.times_ps();
    let header: Vec<String> = [
        "dt_ps",
        "msd_a2",
        "msd_x_a2",
        "msd_y_a2",
        "msd_z_a2",
        "collective_a2",
    ]
    .map(String::from)
    .to_vec();
    let rows: Vec<Vec<String>> = (0..times.len())
        .map(|i| {
            vec![
                fmt_f64(times[i]),
                fmt_f64(m.msd_a2[i]),
                fmt_f64(m.msd_axes_a2[[i, 0]]),
                fmt_f64(m.msd_axes_a2[[i, 1]]),
                fmt_f64(m.msd_axes_a2[[i, 2]]),
                fmt_f64(m.collective_a2[i]),
            ]
        })
        .collect();
    crate::io::write_csv(path, &header, &rows)
}
