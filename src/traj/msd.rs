//! Mean squared displacements over all time origins.
//!
//! The trajectory is unwrapped on the engine (minimum-image steps in each frame's
//! cell), optionally corrected for drift, and then:
//! - the self MSD of every selected atom and axis, averaged over all T − m origins
//!   for each lag m. On the CPU path by FFT (the S1 − 2 S2 decomposition of Kneller et
//!   al., nMOLDYN), O(N T log T); on the GPU path by the engine's windowed sums,
//!   O(N T L) but massively parallel. Both give the same numbers.
//! - the collective MSD, from the summed displacement of the selected atoms (not from
//!   all pairs), divided by their number: its slope gives D_sigma for the Haven ratio.
//!
//! Drift correction subtracts, at every frame, the mean displacement of the framework
//! (all atoms not of the selected species), as pymatgen-analysis-diffusion and kinisi
//! do. With no framework (a one-species trajectory) it subtracts the mean displacement
//! of all atoms instead, which removes the centre-of-mass drift but also the
//! collective motion: the collective MSD is then zero by construction, and says so.

use ndarray::{Array2, Array3, Axis};
use realfft::RealFftPlanner;

use super::{Prepared, Trajectory};
use crate::compute::cpu::displacement::select_less_drift;
use crate::compute::cpu::fft::msd_fft;
use crate::compute::{Engine, LongSteps, MsdSelection, SelfMsd};
use crate::error::Result;
use crate::invalid;

/// Which lags (in frames) to report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LagGrid {
    /// Every lag 1..T-1.
    All,
    /// About this many lags, log-spaced between 1 and T-1.
    Log(usize),
}

/// The most lags `log:N` may ask for (more than any run has frames).
pub(crate) const MAX_LOG_LAGS: usize = 1_000_000;

impl std::str::FromStr for LagGrid {
    type Err = crate::Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "all" => Ok(LagGrid::All),
            _ => match s.strip_prefix("log:").and_then(|n| n.parse::<usize>().ok()) {
                Some(n) if (2..=MAX_LOG_LAGS).contains(&n) => Ok(LagGrid::Log(n)),
                _ => Err(invalid!(
                    "option lags must be \"all\" or \"log:N\" with N from 2 to {MAX_LOG_LAGS}, not {s:?}"
                )),
            },
        }
    }
}

impl LagGrid {
    pub fn lags(self, n_frames: usize) -> Vec<usize> {
        let last = n_frames.saturating_sub(1);
        match self {
            LagGrid::All => (1..=last).collect(),
            LagGrid::Log(k) => {
                // Deduplicated as they come: at most `last` lags are kept, whatever k.
                let mut v: Vec<usize> = Vec::new();
                for i in 0..k.max(2) {
                    let l = (last as f64).powf(i as f64 / (k.max(2) - 1) as f64).round() as usize;
                    if l >= 1 && v.last() != Some(&l) {
                        v.push(l);
                    }
                }
                v
            }
        }
    }
}

#[derive(Debug, Clone)]
pub struct MsdOptions {
    pub species: String,
    /// Subtract the framework's mean displacement (default on, as the peers do).
    pub drift_correction: bool,
    pub lags: LagGrid,
    /// Steps longer than this (Å) are counted as ambiguous unwrapping.
    pub long_step_a: Option<f32>,
    /// Axes the MSD (and D) is taken along; default all three.
    pub axes: Axes,
}

/// A subset of the Cartesian axes ("xyz", "xy", "z", ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Axes(pub [bool; 3]);

impl Default for Axes {
    fn default() -> Self {
        Axes([true; 3])
    }
}

impl Axes {
    /// The number of dimensions d in D = slope / (2 d).
    pub fn count(self) -> usize {
        self.0.iter().filter(|&&a| a).count()
    }
}

impl std::fmt::Display for Axes {
    /// The axes as letters ("xyz", "xy", ...).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (on, c) in self.0.iter().zip(['x', 'y', 'z']) {
            if *on {
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

impl std::str::FromStr for Axes {
    type Err = crate::Error;
    fn from_str(s: &str) -> Result<Self> {
        let mut a = [false; 3];
        for c in s.chars() {
            match c.to_ascii_lowercase() {
                'x' => a[0] = true,
                'y' => a[1] = true,
                'z' => a[2] = true,
                _ => {
                    return Err(invalid!(
                        "option axes takes letters from x, y, z (e.g. xyz, xy, z), not {s:?}"
                    ));
                }
            }
        }
        if a == [false; 3] {
            return Err(invalid!("option axes needs at least one of x, y, z"));
        }
        Ok(Axes(a))
    }
}

/// MSD of one species.
#[derive(Debug, Clone)]
pub struct Msd {
    pub species: String,
    pub n_atoms: usize,
    pub n_frames: usize,
    pub dt_ps: f64,
    pub lags: Vec<usize>,
    /// Self MSD (Å²) per lag, averaged over atoms and origins.
    pub msd_a2: Vec<f64>,
    /// The same per axis (x, y, z): lags x 3.
    pub msd_axes_a2: Array2<f64>,
    /// Per-atom self MSD along the chosen axes (atoms x columns): the fit's covariance
    /// input. Its columns are the lags `per_atom_lags` (indices into `lags`): every lag
    /// for an MSD computed in memory, only the fit's points for a streamed one.
    pub per_atom_a2: Array2<f64>,
    pub per_atom_lags: Vec<usize>,
    /// Collective MSD: |Σ_i Δr_i|² / N (Å²) per lag, along the chosen axes.
    pub collective_a2: Vec<f64>,
    /// The summed displacement of the selected atoms, Σ_i Δr_i (T x 3, Å): the
    /// collective MSD of any part of the run comes from it (block averaging of D_sigma
    /// in `crate::traj::diffusion::collective`).
    pub summed_disp_a: Array2<f64>,
    pub drift: String,
    /// The axes MSD and D refer to.
    pub axes: Axes,
    pub long_steps: LongSteps,
    /// The threshold the long-step count used (Å).
    pub long_step_a: f32,
}

impl Msd {
    pub fn times_ps(&self) -> Vec<f64> {
        self.lags.iter().map(|&l| l as f64 * self.dt_ps).collect()
    }

    /// The per-atom MSD at lag index `i` (into `lags`), one value per atom.
    pub fn per_atom_column(&self, i: usize) -> Result<ndarray::ArrayView1<'_, f64>> {
        let c = self.per_atom_lags.binary_search(&i).map_err(|_| {
            invalid!(
                "the per-atom MSD was kept at the fit points of one fit start only (a streamed MSD): lag {} ps is not among them; give the fit start before the run",
                self.lags.get(i).map_or(f64::NAN, |&l| l as f64 * self.dt_ps)
            )
        })?;
        Ok(self.per_atom_a2.column(c))
    }
}

/// The atoms whose mean displacement is the drift removed from the atoms of
/// `species` (None: no correction), and a description of the correction: the
/// framework (every other atom), or all atoms when there is no framework.
pub(crate) fn drift_reference(
    all_species: &[String],
    species: &str,
    drift_correction: bool,
) -> (Option<Vec<usize>>, String) {
    let n = all_species.len();
    let framework: Vec<usize> = (0..n).filter(|&i| all_species[i] != species).collect();
    if !drift_correction {
        (None, "none".to_string())
    } else if framework.is_empty() {
        (
            Some((0..n).collect()),
            format!(
                "mean displacement of all atoms removed (no framework besides {species}: the collective MSD is zero by construction)"
            ),
        )
    } else {
        let k = framework.len();
        (
            Some(framework),
            format!("mean displacement of the {k} framework atoms removed"),
        )
    }
}

/// Unwrapped, drift-corrected displacements of the selected atoms (T x Ns x 3, f64)
/// and a description of the correction.
pub(crate) fn selected_displacements(
    p: &Prepared,
    species: &str,
    drift_correction: bool,
) -> Result<(Array3<f64>, String, LongSteps)> {
    let (atoms, reference, drift) = msd_atoms(p.traj, species, drift_correction)?;
    let sel = MsdSelection {
        atoms: &atoms,
        reference: reference.as_deref(),
    };
    let u = select_less_drift(p.unwrapped.disp.view(), &sel);
    Ok((u, drift, p.unwrapped.long_steps.clone()))
}

/// The atoms of `species`, the drift reference (see [`drift_reference`]) and a
/// description of the correction.
fn msd_atoms(
    traj: &Trajectory,
    species: &str,
    drift_correction: bool,
) -> Result<(Vec<usize>, Option<Vec<usize>>, String)> {
    let atoms = traj.indices_of(species)?;
    let (reference, drift) = drift_reference(&traj.species, species, drift_correction);
    Ok((atoms, reference, drift))
}

/// The collective MSD |Σ_i Δr_i(t + m) − Σ_i Δr_i(t)|² / N along `axes`, over the
/// frames `from..to` of the summed displacement `summed` (T x 3), at every lag
/// 0..to − from, averaged over all origins.
pub(crate) fn collective_msd(
    summed: ndarray::ArrayView2<f64>,
    from: usize,
    to: usize,
    axes: Axes,
    n_atoms: usize,
    planner: &mut RealFftPlanner<f64>,
) -> Vec<f64> {
    let per_axis: Vec<Vec<f64>> = (0..3)
        .filter(|&ax| axes.0[ax])
        .map(|ax| msd_fft(&summed.slice(ndarray::s![from..to, ax]).to_vec(), planner))
        .collect();
    (0..to - from)
        .map(|l| per_axis.iter().map(|c| c[l]).sum::<f64>() / n_atoms as f64)
        .collect()
}

/// Self and collective MSD of one species.
pub fn msd(engine: &Engine, traj: &Trajectory, opts: &MsdOptions) -> Result<Msd> {
    traj.dt_ps()?;
    check_frames(traj)?;
    // Unwrapped, drift-corrected and summed over origins in one call: on the GPU the
    // displacements never leave the device.
    let long = traj.long_step_threshold(opts.long_step_a);
    let (atoms, reference, drift) = msd_atoms(traj, &opts.species, opts.drift_correction)?;
    let sel = MsdSelection {
        atoms: &atoms,
        reference: reference.as_deref(),
    };
    let lags = opts.lags.lags(traj.n_frames());
    let m = engine.unwrapped_self_msd(&traj.frac_view(), long, &sel, &lags)?;
    assemble(traj, opts, lags, m, drift, long)
}

fn check_frames(traj: &Trajectory) -> Result<()> {
    let t = traj.n_frames();
    if t < 3 {
        return Err(invalid!(
            "{}: {t} frames; an MSD needs at least 3",
            traj.source.display()
        ));
    }
    Ok(())
}

/// [`msd`] of a trajectory already unwrapped (its long-step threshold applies, not
/// `opts.long_step_a`).
pub(crate) fn msd_prepared(engine: &Engine, p: &Prepared, opts: &MsdOptions) -> Result<Msd> {
    let traj = p.traj;
    check_frames(traj)?;
    traj.dt_ps()?;
    let (u, drift, long_steps) = selected_displacements(p, &opts.species, opts.drift_correction)?;
    let lags = opts.lags.lags(traj.n_frames());
    // Per atom and axis: MSD at every requested lag.
    let m = SelfMsd {
        per_atom: engine.self_msd(u.view(), &lags)?,
        summed: u.sum_axis(Axis(1)), // T x 3
        long_steps,
    };
    assemble(traj, opts, lags, m, drift, p.long_step_a)
}

/// The [`Msd`] of the selected atoms' self MSD and summed displacement.
fn assemble(
    traj: &Trajectory,
    opts: &MsdOptions,
    lags: Vec<usize>,
    m: SelfMsd,
    drift: String,
    long: f32,
) -> Result<Msd> {
    let dt_ps = traj.dt_ps()?;
    let t = traj.n_frames();
    let SelfMsd {
        per_atom: per,
        summed,
        long_steps,
    } = m;
    let ns = per.shape()[0];
    let msd_axes = per.mean_axis(Axis(0)).expect("at least one atom");
    // Self MSD along the chosen axes only (per atom too, for the fit's covariance).
    let chosen = |v: ndarray::ArrayView1<f64>| -> f64 {
        (0..3).filter(|&ax| opts.axes.0[ax]).map(|ax| v[ax]).sum()
    };
    let per_atom = Array2::from_shape_fn((ns, lags.len()), |(a, l)| {
        chosen(per.slice(ndarray::s![a, l, ..]))
    });
    let msd_a2: Vec<f64> = msd_axes.outer_iter().map(chosen).collect();
    // Collective: the summed displacement, one series per chosen axis.
    let mut planner = RealFftPlanner::<f64>::new();
    let whole = collective_msd(summed.view(), 0, t, opts.axes, ns, &mut planner);
    let collective_a2 = lags.iter().map(|&l| whole[l]).collect();
    Ok(Msd {
        per_atom_lags: (0..lags.len()).collect(),
        species: opts.species.clone(),
        n_atoms: ns,
        n_frames: t,
        dt_ps,
        lags,
        msd_a2,
        msd_axes_a2: msd_axes,
        per_atom_a2: per_atom,
        collective_a2,
        summed_disp_a: summed,
        drift,
        axes: opts.axes,
        long_steps,
        long_step_a: long,
    })
}
