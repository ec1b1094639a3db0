//! The MSD's data: its options (species, lags, axes, drift correction), the result
//! type, and the two helpers every MSD path shares (the drift reference and the
//! collective MSD). Below both the sink that computes it (`crate::traj::stream`) and the
//! in-memory entry (`crate::traj::msd`), which re-exports the public types.

use ndarray::Array2;
use realfft::RealFftPlanner;

use crate::compute::LongSteps;
use crate::compute::cpu::fft::msd_fft;
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
