//! The hop analysis' data: its options, the events, the sites each ion visits, and
//! the result ([`Hops`]) every mode fills.

use ndarray::Array3;

use crate::cluster::kmeans::{Init, KMeansParams};
use crate::error::Result;
use crate::invalid;
use crate::traj::Trajectory;

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Site-based jumps (the default): sites of the mobile species discovered from its
    /// density or given (CIF/POSCAR/XYZ), per-frame site assignment with hysteresis,
    /// a jump is a change of site (see `crate::traj::hops::sites`).
    Sites,
    /// Per-ion k-means (IonDiff's idea) with per-ion thresholds, hysteresis and shared
    /// sites: sound for slow conductors, undercounts jumps in fast ones.
    Kmeans,
    /// IonDiff 1.6's algorithm and defaults, for parity with the published tool.
    Iondiff,
}

/// IonDiff's order of preference for the diffusing species when none is given.
pub(crate) const PREFERRED_SPECIES: [&str; 9] = ["Li", "Na", "Ag", "Cu", "Cl", "I", "Br", "F", "O"];

#[derive(Clone, Debug, serde::Serialize)]
pub struct HopOptions {
    pub mode: Mode,
    /// Species to analyse (IonDiff mode: every atom when empty; default mode: the
    /// first of `PREFERRED_SPECIES` present when empty).
    pub species: Vec<String>,
    /// Largest k tried (k = 2..k_max).
    pub k_max: usize,
    /// Below this best mean silhouette the ion has one site (k = 1).
    pub silhouette_threshold: f64,
    /// IonDiff mode: the vibration radius (Å).
    pub distance_threshold_a: f64,
    /// Default mode: the vibration radius as a multiple of the ion's median distance
    /// from its site centre.
    pub vibration_factor: f64,
    /// Default mode: an ion leaves a site only beyond this multiple of the radius.
    pub hysteresis: f64,
    /// Default mode: visits shorter than this many frames do not count (except at the
    /// ends of the trajectory).
    pub min_residence_frames: usize,
    /// Site centres of different ions closer than this (Å) are one site.
    pub site_tolerance_a: f64,
    /// Default mode: at most this many (evenly strided) frames per ion are clustered;
    /// the sites found are then applied to every frame. IonDiff mode clusters all.
    pub max_cluster_frames: usize,
    pub seed: u64,
    pub kmeans: KMeansParams,
    /// The site-based mode's options.
    pub sites: SiteOptions,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Sites => "sites",
            Mode::Kmeans => "kmeans",
            Mode::Iondiff => "iondiff",
        }
    }
}

impl HopOptions {
    pub fn new(mode: Mode) -> HopOptions {
        HopOptions {
            mode,
            species: Vec::new(),
            k_max: 10,
            silhouette_threshold: 0.7,
            distance_threshold_a: 0.4,
            vibration_factor: 2.5,
            hysteresis: 1.5,
            min_residence_frames: 3,
            site_tolerance_a: 1.0,
            max_cluster_frames: 2000,
            seed: 0,
            kmeans: KMeansParams {
                init: Init::Random,
                n_init: 10,
                max_iter: 300,
                tol: 1e-4,
            },
            sites: Default::default(),
        }
    }
}

/// `name = v` must be a finite number in `lo..=hi` (an option's range, stated in the
/// error).
fn in_range(name: &str, v: f64, lo: f64, hi: f64, unit: &str) -> Result<()> {
    if v.is_finite() && (lo..=hi).contains(&v) {
        Ok(())
    } else {
        Err(invalid!(
            "option {name} {}: expected a number from {lo} to {hi}{unit}",
            crate::traj::fmt_number(v)
        ))
    }
}

impl HopOptions {
    /// The ranges of every option, checked before a frame is read (the CLI, Python and
    /// batch runs alike): finite numbers, nothing that sizes a loop or a grid beyond
    /// reason. The k-means options are checked where k-means runs.
    pub fn check(&self) -> Result<()> {
        if self.mode != Mode::Sites && !(2..=1000).contains(&self.k_max) {
            return Err(invalid!(
                "option k_max must be at least 2 and at most 1000, not {}",
                self.k_max
            ));
        }
        in_range("silhouette", self.silhouette_threshold, -1.0, 1.0, "")?;
        in_range("distance_a", self.distance_threshold_a, 0.0, 10.0, " Å")?;
        in_range("vibration_factor", self.vibration_factor, 0.0, 100.0, "")?;
        in_range("hysteresis", self.hysteresis, 1.0, 100.0, "")?;
        in_range("site_tolerance_a", self.site_tolerance_a, 0.0, 100.0, " Å")?;
        let s = &self.sites;
        if s.supercell.iter().any(|f| !(1..=100).contains(f)) {
            return Err(invalid!(
                "option supercell {:?}: every factor must be 1 to 100",
                s.supercell
            ));
        }
        if let Some(r) = s.radius_a {
            in_range("site_radius", r, 0.0, 10.0, " Å")?;
        }
        for (label, r) in &s.label_radii {
            in_range(&format!("site radius of {label}"), *r, 0.0, 10.0, " Å")?;
        }
        in_range("grid_a", s.grid_a, 0.02, 2.0, " Å")?;
        in_range("smoothing_a", s.smoothing_a, 0.0, 10.0, " Å")?;
        in_range("merge_a", s.merge_a, 0.0, 100.0, " Å")?;
        in_range("saddle_fraction", s.saddle_fraction, 0.0, 1.0, "")?;
        in_range("join_a", s.join_a, 0.0, 100.0, " Å")?;
        in_range("min_enrichment", s.min_enrichment, 0.0, 1e6, "")?;
        in_range("symprec_a", s.symprec_a, 1e-6, 2.0, " Å")?;
        Ok(())
    }
}

/// One hop.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Event {
    /// 0-based atom index as in the input file.
    pub ion: usize,
    pub species: String,
    pub start_frame: usize,
    /// IonDiff mode: `None` where IonDiff writes −1 (no return to vibration before the
    /// end of the trajectory).
    pub end_frame: Option<usize>,
    pub from_site: usize,
    pub to_site: usize,
    /// Hop vector from the from-site centre to the to-site centre (Å, minimum image).
    pub vector_a: [f64; 3],
    pub length_a: f64,
    /// Default mode: the ion returns to the site it has just left.
    pub back_hop: bool,
}

impl Event {
    /// The end frame, with IonDiff's −1 read as the last frame.
    pub fn end(&self, n_frames: usize) -> usize {
        self.end_frame.unwrap_or(n_frames.saturating_sub(1))
    }
}

/// What the clustering found for one ion.
#[derive(Clone, Debug, serde::Serialize)]
pub struct IonSites {
    pub ion: usize,
    pub species: String,
    pub k: usize,
    /// Mean silhouette of every k tried (k = 2..).
    pub silhouettes: Vec<f64>,
    /// Site centres (Å, unwrapped Cartesian).
    pub centres: Vec<[f64; 3]>,
    /// The global site of each centre.
    pub sites: Vec<usize>,
    /// Cluster label (index into `centres`) of every `Hops::frame_stride`-th frame.
    #[serde(skip)]
    pub labels: Vec<u32>,
    /// The vibration radius used (Å).
    pub radius_a: f64,
}

/// A site shared by the ions whose centres lie within the tolerance.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Site {
    pub id: usize,
    /// Centre in the cell (Å), and fractional.
    pub centre_a: [f64; 3],
    pub frac: [f64; 3],
    /// Distinct ions with a centre here.
    pub ions: usize,
    /// Frames spent here, summed over ions (frames within the vibration radius).
    pub occupied_frames: usize,
    /// Site-based mode: the site's label (from the CIF, the species, or its orbit).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub label: String,
    /// Site-based mode: the radius within which an ion is on this site (Å).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub radius_a: Option<f64>,
    /// Discovered sites: smoothed density over the species' mean density.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enrichment: Option<f64>,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct Hops {
    pub mode: Mode,
    pub options: HopOptions,
    pub n_frames: usize,
    pub dt_ps: f64,
    /// The k range used (may be smaller than asked for a short trajectory).
    pub k_range: (usize, usize),
    pub notes: Vec<String>,
    pub ions: Vec<IonSites>,
    pub sites: Vec<Site>,
    pub events: Vec<Event>,
    /// Lattice (rows, Å) of frame 0, used for minimum images and wrapping.
    #[serde(skip)]
    pub cell: [[f64; 3]; 3],
    /// Unwrapped Cartesian positions of the analysed ions (Å) at frames 0,
    /// `frame_stride`, 2·`frame_stride`, … (every frame in memory; a streamed analysis
    /// keeps a bounded number of frames for its figures).
    #[serde(skip)]
    pub positions: Array3<f32>,
    /// The frames `positions` and each ion's `labels` hold: every `frame_stride`-th.
    pub frame_stride: usize,
    /// Each event's midpoint (Å, unwrapped): the ion's position halfway through it
    /// (for the spatial correlation of hops).
    #[serde(skip)]
    pub hop_midpoints_a: Vec<[f64; 3]>,
    /// Site-based mode: jump types, rates, occupancies, residence times and the
    /// consistency of the jumps with the tracer D.
    pub jumps: Option<JumpAnalysis>,
}

/// The atoms to analyse.
pub(crate) fn selected_atoms(traj: &Trajectory, opts: &HopOptions) -> Result<Vec<usize>> {
    selected_atoms_of(&traj.species, &traj.source, opts)
}

/// The atoms to analyse among atoms of `species` (in file order) read from `source`.
pub(crate) fn selected_atoms_of(
    species: &[String],
    source: &std::path::Path,
    opts: &HopOptions,
) -> Result<Vec<usize>> {
    let present = crate::traj::distinct_species(species);
    let indices_of = |name: &str| -> Result<Vec<usize>> {
        let idx: Vec<usize> = (0..species.len()).filter(|&i| species[i] == name).collect();
        if idx.is_empty() {
            return Err(invalid!(
                "{}: no {name} atoms (species here: {})",
                source.display(),
                present.join(", ")
            ));
        }
        Ok(idx)
    };
    if opts.species.is_empty() {
        return match opts.mode {
            Mode::Iondiff => Ok((0..species.len()).collect()),
            Mode::Kmeans | Mode::Sites => {
                let s = PREFERRED_SPECIES
                    .iter()
                    .find(|s| present.iter().any(|p| p == *s))
                    .ok_or_else(|| {
                        invalid!(
                            "{}: none of the usual mobile species ({}) is present; name one with option species (species here: {})",
                            source.display(),
                            PREFERRED_SPECIES.join(", "),
                            present.join(", ")
                        )
                    })?;
                indices_of(s)
            }
        };
    }
    let mut out = Vec::new();
    for s in &opts.species {
        out.extend(indices_of(s)?);
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// "every 2nd frame", "every 4th frame", "every 21st frame".
pub(crate) fn every_nth_frame(n: usize) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("every {n}{suffix} frame")
}

impl Hops {
    pub fn start_ps(&self, e: &Event) -> f64 {
        e.start_frame as f64 * self.dt_ps
    }

    pub fn end_ps(&self, e: &Event) -> f64 {
        e.end(self.n_frames) as f64 * self.dt_ps
    }
}

/// Options of the site-based mode (inside [`HopOptions`]).
#[derive(Clone, Debug, serde::Serialize)]
pub struct SiteOptions {
    /// Known sites (read by `crate::io::sites::read`); `None`: discovered. Reports
    /// name their file (`"file"`), not every site.
    #[serde(rename = "file", serialize_with = "known_source")]
    pub known: Option<KnownSites>,
    /// Replicate the known sites' cell this many times along a, b, c.
    pub supercell: [usize; 3],
    /// One radius for every site (Å); `None`: twice the vibration amplitude.
    pub radius_a: Option<f64>,
    /// GEMDAT's radius rule: every site gets one radius, capped at half the shortest
    /// site-to-site distance (false: each site capped at half the distance to its own
    /// nearest site, so that sparse sites keep their full radius).
    pub single_radius: bool,
    /// Radii for sites of a given label (Å), before `radius_a`.
    pub label_radii: Vec<(String, f64)>,
    /// Visits with fewer frames on the site do not count (1: every visit counts).
    pub min_residence_frames: usize,
    /// Discovery: edge of the density grid's voxels (Å).
    pub grid_a: f64,
    /// Discovery: σ of the Gaussian smoothing of the density (Å).
    pub smoothing_a: f64,
    /// Discovery: density maxima closer than this (Å) are one site.
    pub merge_a: f64,
    /// Discovery: two density maxima whose saddle is at least this fraction of the lower
    /// maximum are one site (topological persistence; 1: every maximum is a site).
    pub saddle_fraction: f64,
    /// Discovery: maxima are joined across a shallow saddle only when at most this far
    /// apart (Å): closer than two Li ions can sit, they cannot both hold an ion at once.
    pub join_a: f64,
    /// Discovery: a maximum is a site when its smoothed density is at least this many
    /// times the mean density of the species.
    pub min_enrichment: f64,
    /// Discovery: symmetrise the sites with the framework's space group (moyo).
    pub symmetrise: bool,
    /// Tolerance of the space-group search (Å).
    pub symprec_a: f64,
}

impl Default for SiteOptions {
    fn default() -> Self {
        SiteOptions {
            known: None,
            supercell: [1, 1, 1],
            radius_a: None,
            single_radius: false,
            label_radii: Vec::new(),
            min_residence_frames: 1,
            grid_a: 0.2,
            smoothing_a: 0.3,
            merge_a: 1.0,
            saddle_fraction: 0.6,
            join_a: 1.8,
            min_enrichment: 4.0,
            symmetrise: false,
            symprec_a: 0.3,
        }
    }
}

/// A site before the trajectory is assigned to it.
#[derive(Clone, Debug)]
pub struct SiteDef {
    pub label: String,
    /// Fractional position in the trajectory's cell, in [0, 1).
    pub frac: [f64; 3],
    /// Discovered sites: smoothed density over the mean density at the site.
    pub enrichment: Option<f64>,
}

/// One class of jumps: the labels of its two sites and a site-to-site distance.
#[derive(Clone, Debug, serde::Serialize)]
pub struct JumpType {
    pub name: String,
    pub labels: (String, String),
    /// Mean site-to-site distance of the class (Å).
    pub distance_a: f64,
    pub count: usize,
    /// Jumps per ion per ps, with its Poisson standard error.
    pub rate_per_ion_ps: f64,
    pub rate_err_per_ion_ps: f64,
    /// This class's share of the jump diffusivity (cm²/s).
    pub d_jump_cm2_s: f64,
}

/// Mean occupancy of the sites of one label.
#[derive(Clone, Debug, serde::Serialize)]
pub struct LabelOccupancy {
    pub label: String,
    pub sites: usize,
    /// Mean number of ions on one site of this label (0..1 for a site that holds one).
    pub mean_occupancy: f64,
}

/// What the site-based analysis adds to [`Hops`].
#[derive(Clone, Debug, serde::Serialize)]
pub struct JumpAnalysis {
    /// Where the sites came from (a file, or "discovered from the density").
    pub site_source: String,
    pub n_sites: usize,
    /// GEMDAT's vibration amplitude of the mobile species (Å).
    pub vibration_amplitude_a: f64,
    /// How the radius was set, in words.
    pub radius_rule: String,
    pub radius_min_a: f64,
    pub radius_max_a: f64,
    pub min_residence_frames: usize,
    pub min_residence_ps: f64,
    /// Fraction of ion-frames on a site (the rest are in transit).
    pub on_site_fraction: f64,
    pub jumps: usize,
    pub ions: usize,
    pub jumping_ions: usize,
    pub simulated_ps: f64,
    pub types: Vec<JumpType>,
    pub occupancy: Vec<LabelOccupancy>,
    /// Complete visits (not cut by the start or end of the trajectory), ps.
    pub residence_ps: Stats,
    /// (bin start ps, count) of the complete visits, 20 bins.
    pub residence_histogram: Vec<(f64, usize)>,
    /// Time off any site between two visits (ps): the frames strictly between the last
    /// on the old site and the first on the new one (events.csv's `transit_ps`).
    pub transit_ps: Stats,
    /// Σ|Δr|² / (2·3·N·t) over the jumps (cm²/s), t the simulated time.
    pub d_jump_cm2_s: f64,
    /// Tracer D from the MSD of the same species (cm²/s), when it could be fitted.
    pub d_tracer_cm2_s: Option<f64>,
    pub d_tracer_err_cm2_s: Option<f64>,
    /// D_tracer / D_jump: the correlation factor (≤ ~1 when the jumps account for the
    /// diffusion; far above 1 means jumps were missed).
    pub tracer_over_jump: Option<f64>,
    /// Its σ from the tracer D's σ.
    pub tracer_over_jump_err: Option<f64>,
    /// Per ion, its net displacement R over the run (drift removed; at each end of the
    /// run the ion is placed at the site whose region holds it, its density basin for
    /// discovered sites or within half the distance to the next site for known ones, so
    /// that vibration is not counted) against the sum J of its jump vectors (with a jump
    /// in progress at either end completed): D from Σ|R|² and from Σ|J|² (cm²/s, as
    /// D_jump), and the share of the net displacement the jumps explain,
    /// 1 − Σ|R − J|² / Σ|R|² (1: all net motion is counted jumps; what is left is motion
    /// the sites miss: ions that start or end in no site's region, or travel that the
    /// minimum-image site-to-site vectors misrepresent).
    pub d_net_cm2_s: f64,
    pub d_summed_jumps_cm2_s: f64,
    pub explained_share: Option<f64>,
    /// The drift removed from R (the framework's mean displacement over the run, Å).
    pub drift_a: [f64; 3],
    /// The consistency check in words.
    pub consistency: String,
}

/// Known sites as read from a structure file (`crate::io::sites` reads CIF,
/// POSCAR/CONTCAR and extended XYZ): every atom site of every element, with its label,
/// fractional position and occupancy, and the file's lattice (rows, Å).
#[derive(Clone, Debug, serde::Serialize)]
pub struct KnownSites {
    /// Where they came from (shown in reports and errors).
    pub source: String,
    pub lattice: [[f64; 3]; 3],
    pub sites: Vec<KnownSite>,
    /// What the reader noted (e.g. symmetry operations applied).
    pub notes: Vec<String>,
}

/// One atom site of a structure file.
#[derive(Clone, Debug, serde::Serialize)]
pub struct KnownSite {
    pub label: String,
    pub element: String,
    pub frac: [f64; 3],
    pub occupancy: f64,
}

/// Mean, spread and range of a sample (empty: all None).
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Stats {
    pub n: usize,
    pub mean: Option<f64>,
    pub std: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
}

impl Stats {
    pub fn of(v: &[f64]) -> Stats {
        if v.is_empty() {
            return Stats::default();
        }
        let n = v.len() as f64;
        let mean = v.iter().sum::<f64>() / n;
        Stats {
            n: v.len(),
            mean: Some(mean),
            std: Some((v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt()),
            min: Some(v.iter().copied().fold(f64::INFINITY, f64::min)),
            max: Some(v.iter().copied().fold(f64::NEG_INFINITY, f64::max)),
        }
    }
}

fn known_source<S: serde::Serializer>(
    k: &Option<KnownSites>,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    match k {
        Some(k) => s.serialize_some(&k.source),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn ordinals_read_as_english() {
        let got: Vec<String> = [2, 3, 4, 11, 12, 13, 21, 22, 101, 112]
            .iter()
            .map(|&n| super::every_nth_frame(n))
            .collect();
        assert_eq!(
            got.join(", "),
            "every 2nd frame, every 3rd frame, every 4th frame, every 11th frame, every 12th frame, every 13th frame, every 21st frame, every 22nd frame, every 101st frame, every 112th frame"
        );
    }
}
