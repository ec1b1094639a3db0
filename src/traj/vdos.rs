//! Vibrational density of states from molecular dynamics.
//!
//! The velocity autocorrelation function C(τ) = ⟨v(t) · v(t + τ)⟩ of each species is
//! averaged over atoms and all time origins (FFT), tapered with a Hann window over
//! lags up to half the run, and cosine-transformed: g(f) = 2 ∫₀^τmax C(τ) w(τ)
//! cos(2π f τ) dτ, on f_k = k / (2 τmax) THz (τ in ps). Each species' DOS is scaled to
//! 3 modes per atom (window ringing can dip below zero; those points are clipped
//! first). Velocities come from the file when it has them, else from finite
//! differences of the unwrapped positions (then frames must be close: everything above
//! 1 / (2 Δt) aliases). The result is a [`Dos`], so the phonon descriptors (band
//! centre, spread, ...) apply to MD unchanged.

use ndarray::Array3;
use rayon::prelude::*;
use realfft::RealFftPlanner;

use super::Trajectory;
use crate::compute::Engine;
use crate::compute::cpu::fft::autocorrelation;
use crate::error::Result;
use crate::invalid;
use crate::phonon::descriptors::{positive_part, trapezoid};
use crate::phonon::{Dos, Projection};

/// The vibrational DOS of every species of `traj`, and notes on how it was made.
pub fn vdos(engine: &Engine, traj: &Trajectory) -> Result<(Dos, Vec<String>)> {
    let dt = traj.dt_ps()?;
    let mut notes = Vec::new();
    let vel: Array3<f64> = match &traj.velocities {
        Some(v) => {
            notes.push("velocities read from the file".into());
            v.mapv(|x| x as f64)
        }
        None => {
            let u = engine.unwrap(&traj.frac_view(), f32::INFINITY)?;
            let t = u.disp.shape()[0];
            if t < 2 {
                return Err(invalid!(
                    "{}: a velocity needs at least 2 frames",
                    traj.source.display()
                ));
            }
            notes.push(format!(
                "velocities from finite differences of positions {dt} ps apart: frequencies above {:.2} THz alias",
                0.5 / dt
            ));
            let d = &u.disp;
            Array3::from_shape_fn((t - 1, d.shape()[1], 3), |(f, a, x)| {
                (d[[f + 1, a, x]] - d[[f, a, x]]) as f64 / dt
            })
        }
    };
    let t = vel.shape()[0];
    check_samples(&traj.source, t)?;
    let species = traj.species_list();
    let atoms_of: Vec<Vec<usize>> = species
        .iter()
        .map(|s| traj.indices_of(s))
        .collect::<Result<_>>()?;
    // VACF summed over the atoms of each species: per-atom FFTs in parallel, summed in
    // atom order (whatever the threads: the same bits on every run, and the streamed
    // path's, which adds its atoms in the same order).
    const WINDOW: usize = 256;
    let vacf: Vec<Vec<f64>> = atoms_of
        .iter()
        .map(|atoms| {
            let mut sum = vec![0.0; t];
            for window in atoms.chunks(WINDOW) {
                let per: Vec<Vec<f64>> = window
                    .par_iter()
                    .map_init(RealFftPlanner::<f64>::new, |planner, &a| {
                        atom_vacf(vel.slice(ndarray::s![.., a, ..]), planner)
                    })
                    .collect();
                for c in &per {
                    for (o, x) in sum.iter_mut().zip(c) {
                        *o += x;
                    }
                }
            }
            sum
        })
        .collect();
    let dos = dos_from_vacf(&traj.source, &traj.species, &species, &atoms_of, &vacf, dt)?;
    Ok((dos, notes))
}

/// A vibrational DOS needs at least 8 velocity samples.
pub(crate) fn check_samples(source: &std::path::Path, t: usize) -> Result<()> {
    if t < 8 {
        return Err(invalid!(
            "{}: {t} velocity samples; a vibrational DOS needs at least 8",
            source.display()
        ));
    }
    Ok(())
}

/// One atom's VACF summed over the axes, all lags, from its velocities (T x 3).
pub(crate) fn atom_vacf(
    v: ndarray::ArrayView2<f64>,
    planner: &mut RealFftPlanner<f64>,
) -> Vec<f64> {
    let t = v.nrows();
    let mut c = vec![0.0; t];
    for ax in 0..3 {
        let x = v.column(ax).to_vec();
        for (o, y) in c.iter_mut().zip(autocorrelation(&x, &x, planner)) {
            *o += y;
        }
    }
    c
}

/// The DOS from the VACF summed over the atoms of each species (`vacf[s]`, lags
/// 0..T), `dt` ps apart: tapered, cosine-transformed, 3 modes per atom each.
pub(crate) fn dos_from_vacf(
    source: &std::path::Path,
    all_species: &[String],
    species: &[String],
    atoms_of: &[Vec<usize>],
    vacf: &[Vec<f64>],
    dt: f64,
) -> Result<Dos> {
    let t = vacf.first().map_or(0, Vec::len);
    let max_lag = t / 2;
    let n_freq = max_lag + 1;
    let tau_max = max_lag as f64 * dt;
    let freqs: Vec<f64> = (0..n_freq).map(|k| k as f64 / (2.0 * tau_max)).collect();
    let mut projections = Vec::new();
    let mut total = vec![0.0; n_freq];
    for ((sp, atoms), c) in species.iter().zip(atoms_of).zip(vacf) {
        let g: Vec<f64> = freqs
            .par_iter()
            .map(|&f| {
                let mut s = 0.0;
                for m in 0..=max_lag {
                    let w = 0.5 * (1.0 + (std::f64::consts::PI * m as f64 / max_lag as f64).cos());
                    let edge = if m == 0 || m == max_lag { 0.5 } else { 1.0 };
                    s += edge * w * c[m] * (2.0 * std::f64::consts::PI * f * m as f64 * dt).cos();
                }
                (2.0 * s * dt).max(0.0)
            })
            .collect();
        let (fp, gp) = positive_part(&freqs, &g);
        let area = trapezoid(&fp, &gp);
        let scale = if area > 0.0 {
            3.0 * atoms.len() as f64 / area
        } else {
            0.0
        };
        let density: Vec<f64> = g.iter().map(|v| v * scale).collect();
        for (o, v) in total.iter_mut().zip(&density) {
            *o += v;
        }
        projections.push(Projection {
            sites: atoms.clone(),
            element: Some(sp.clone()),
            density,
        });
    }
    let id = source
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut dos = Dos {
        id,
        source: source.to_path_buf(),
        freqs_thz: freqs,
        total,
        projections,
        species: all_species.to_vec(),
        warnings: Vec::new(),
    };
    dos.validate()?;
    Ok(dos)
}
