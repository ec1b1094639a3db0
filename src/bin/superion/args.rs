//! The command line's grammar: every subcommand, its options and their checks. Option
//! groups shared by several subcommands (`DosArgs`, `FeatureArgs`, `TrajReadArgs`,
//! `HopArgs`) are defined once. The library's enums get command-line twins here
//! (the library does not know clap).

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use superion::phonon::descriptors::FeatureOptions;

/// A command-line twin of a library enum: same variants, same help, converted with
/// `From`.
macro_rules! value_enum {
    ($(#[$m:meta])* $name:ident => $lib:ty { $($(#[$vm:meta])* $v:ident),* $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
        pub enum $name { $($(#[$vm])* $v),* }
        impl From<$name> for $lib {
            fn from(v: $name) -> Self {
                match v { $($name::$v => <$lib>::$v),* }
            }
        }
    };
}

value_enum!(Backend => superion::BackendChoice {
    /// A hardware GPU when one exists, else the CPU path (a software adapter is never
    /// picked).
    Auto,
    /// wgpu on the best adapter there is, software adapters included.
    Gpu,
    /// The multi-threaded CPU twins.
    Cpu,
});

value_enum!(MethodArg => superion::cluster::select::Method {
    Kmeans, Ward, Complete, Average, Single, Spectral, Hdbscan,
});

value_enum!(MetricArg => superion::phonon::similarity::Metric {
    /// 2-Wasserstein distance (THz): 0 for identical DOS.
    Wasserstein,
    /// Cosine similarity of DOS vectors: 1 for identical shapes.
    Cosine,
    /// Tanimoto (extended Jaccard) similarity of DOS vectors: 1 for identical vectors.
    Tanimoto,
});

value_enum!(ModeArg => superion::traj::hops::Mode {
    /// Site-based jumps (the default).
    Sites,
    /// Per-ion k-means with per-ion thresholds, hysteresis and shared sites.
    Kmeans,
    /// IonDiff 1.6's algorithm and defaults.
    Iondiff,
});

/// `--format`'s choices: every reader of the registry, with its description.
fn format_values() -> clap::builder::PossibleValuesParser {
    clap::builder::PossibleValuesParser::new(superion::io::traj_input::READERS.iter().flat_map(
        |r| {
            std::iter::once(clap::builder::PossibleValue::new(r.name()).help(r.about())).chain(
                r.aliases()
                    .iter()
                    .map(|a| clap::builder::PossibleValue::new(*a).hide(true)),
            )
        },
    ))
}

value_enum!(MissingArg => superion::io::table::Missing {
    /// Leave out the materials with an empty cell.
    DropRows,
    /// Fill an empty cell with its column's mean.
    ImputeMean,
    /// Leave out the columns with an empty cell.
    DropColumns,
});

value_enum!(InitArg => superion::cluster::kmeans::Init {
    /// Greedy k-means++ with 2 + ln k local trials per centre (scikit-learn's).
    #[value(name = "k-means++")]
    KMeansPlusPlus,
    /// k distinct points chosen uniformly (scikit-learn's `init='random'`).
    Random,
});

#[derive(Parser)]
#[command(
    name = "superion",
    version,
    about = "GPU-accelerated discovery of superionic solid electrolytes"
)]
pub struct Cli {
    /// Where kernels run: a hardware GPU when present (auto), any wgpu adapter
    /// including software ones (gpu), or the multi-threaded CPU path (cpu).
    #[arg(long, global = true, env = "SUPERION_BACKEND", value_enum, default_value_t = Backend::Auto)]
    pub backend: Backend,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Phonon DOS: readers, descriptors, plots, similarity.
    #[command(subcommand)]
    Phonon(PhononCommand),
    /// Molecular-dynamics trajectories: MSD, diffusion coefficients, conductivity.
    #[command(subcommand)]
    Traj(TrajCommand),
    /// Crystal structures: descriptors and Li+ bond-valence site-energy barriers.
    #[command(subcommand)]
    Structure(crate::structure::StructureCommand),
    /// Screen materials: descriptors, clustering over k, the clusters of known fast
    /// conductors and a ranked candidate list, with a Markdown report and figures.
    Screen(ScreenArgs),
    /// Descriptors (and clusters, rankings) against measured ionic conductivities:
    /// rank correlations with bootstrap intervals, ROC AUC, enrichment.
    Validate(ValidateArgs),
    /// The main job on the bundled data: screening of the phonopy examples and the
    /// diffusion analysis of the Li6PS5Cl trajectory, as a report folder.
    Demo {
        /// The report folder to write.
        #[arg(long, default_value = "superion-demo")]
        out: PathBuf,
    },
    /// Cluster a feature table (CSV) over a range of k and score every k.
    Cluster(ClusterArgs),
    /// Shard a command over many inputs (Slurm job arrays), resume, merge.
    #[command(subcommand)]
    Batch(crate::batch::BatchCommand),
    /// List every GPU adapter wgpu can see and say which one `--backend auto` uses.
    Devices {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Measure kernel throughput on the CPU path and on the GPU adapter at hand.
    Bench {
        /// Smaller inputs (seconds instead of minutes).
        #[arg(long)]
        quick: bool,
        /// Print the measurements as JSON.
        #[arg(long)]
        json: bool,
        /// Only the kernels whose name contains this (e.g. `kmeans`, `unwrap`).
        #[arg(long)]
        only: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum PhononCommand {
    /// One row of descriptors per material (Materials Project JSON, phonopy folders,
    /// or folders of them) as CSV (or JSON).
    Features {
        /// Files or folders (searched recursively).
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
        #[command(flatten)]
        opts: FeatureArgs,
        /// Write the table into this folder (features.csv), or to this file when the
        /// name ends in .csv; default: standard output.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Print rows and failures as JSON on standard output.
        #[arg(long)]
        json: bool,
        /// Fail the whole run if any input cannot be read (default: report and skip).
        #[arg(long)]
        strict: bool,
        /// How PhononDB entries' DOS are computed.
        #[command(flatten)]
        dos: DosArgs,
        /// The DOS method, as --dos-method (kept for older scripts).
        #[arg(long = "method", value_enum, hide = true)]
        method: Option<DosMethodArg>,
    },
    /// Read a PhononDB entry (.tar.lzma archive or unpacked folder) and summarise it:
    /// unit cell, supercell, primitive axes, force sets, BORN.
    Entry {
        /// A PhononDB entry: a .tar.lzma/.tar.xz archive or its unpacked folder.
        entry: PathBuf,
        /// The entry as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Compute a PhononDB entry's phonon DOS from its force sets (force constants,
    /// dynamical matrices on a mesh, tetrahedron or Gaussian DOS) and write phonopy's
    /// total_dos.dat and projected_dos.dat plus the descriptors.
    Dos {
        /// A PhononDB entry (.tar.lzma archive or unpacked folder), or phonopy's
        /// phonopy_params.yaml (force constants or forces; may be gzipped).
        entry: PathBuf,
        #[command(flatten)]
        dos: DosArgs,
        /// The DOS method, as --dos-method (kept for older scripts).
        #[arg(long = "method", value_enum, hide = true)]
        method: Option<DosMethodArg>,
        #[command(flatten)]
        opts: FeatureArgs,
        /// Output folder.
        #[arg(long, default_value = ".")]
        out: PathBuf,
        /// A folder with phonopy's total_dos.dat to compare with: its curve goes on
        /// compare.svg and the largest difference is printed.
        #[arg(long)]
        compare: Option<PathBuf>,
    },
    /// Print one material's descriptors and write its DOS plot (SVG).
    Show {
        /// One phonon input: a phonopy folder, a Materials Project JSON, or a PhononDB
        /// entry.
        input: PathBuf,
        #[command(flatten)]
        opts: FeatureArgs,
        /// Folder for the plot (default: the current folder).
        #[arg(long, default_value = ".")]
        out: PathBuf,
    },
    /// Pairwise DOS similarity matrix (CSV, ids in the first column and the header).
    Similarity {
        /// Phonon inputs (files or folders searched for them), as for `phonon features`.
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
        #[arg(long, value_enum, default_value_t = MetricArg::Wasserstein)]
        metric: MetricArg,
        /// Quantile points (wasserstein) or DOS bins (cosine, tanimoto); 1 to 100000.
        #[arg(long, default_value_t = 300)]
        bins: usize,
        /// Upper end of the DOS-vector range (THz).
        #[arg(long, default_value_t = 30.0, value_parser = finite)]
        max_thz: f64,
        /// Write the matrix into this folder (similarity.csv), or to this file when the
        /// name ends in .csv; default: standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(clap::Args, Clone)]
pub struct DosArgs {
    /// q-point mesh (phonopy's MESH); at most 1000 per axis and 10^6 points.
    #[arg(long, num_args = 3, value_names = ["A", "B", "C"], default_values_t = [20, 20, 20])]
    pub mesh: Vec<usize>,
    /// Include Γ in even meshes (phonopy's default, which these follow, shifts them by
    /// half a step).
    #[arg(long)]
    pub gamma_center: bool,
    /// How the DOS is integrated over the mesh.
    #[arg(long, value_enum, default_value_t = DosMethodArg::Tetrahedron)]
    pub dos_method: DosMethodArg,
    /// Gaussian width (THz); default (max - min frequency) / 100.
    #[arg(long, value_parser = finite)]
    pub sigma: Option<f64>,
    /// Apply the non-analytical correction (default: when the entry has BORN).
    #[arg(long, overrides_with = "no_nac")]
    pub nac: bool,
    /// Never apply the non-analytical correction.
    #[arg(long)]
    pub no_nac: bool,
    /// NAC method: gonze (Gonze-Lee dipole-dipole Ewald sum, phonopy's default) or wang.
    #[arg(long, value_enum, default_value_t = NacMethodArg::Gonze)]
    pub nac_method: NacMethodArg,
    /// Solve every q-point of the mesh (no point-group reduction).
    #[arg(long)]
    pub no_symmetry: bool,
}

#[derive(clap::ValueEnum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum NacMethodArg {
    Gonze,
    Wang,
}

#[derive(clap::ValueEnum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum DosMethodArg {
    Tetrahedron,
    Gaussian,
}

impl DosArgs {
    /// These options with the DOS method of an older script's `--method`, if given.
    pub fn with_method(mut self, method: Option<DosMethodArg>) -> DosArgs {
        if let Some(m) = method {
            self.dos_method = m;
        }
        self
    }

    pub fn options(
        &self,
        resolve: superion::phonon::mesh::Resolve,
        progress: bool,
    ) -> anyhow::Result<superion::phonon::entry_dos::DosOptions> {
        use superion::phonon::entry_dos::{DosOptions, NacChoice};
        use superion::phonon::mesh::{DosMethod, MeshOptions};
        if self.mesh.iter().any(|&m| m == 0) {
            anyhow::bail!("--mesh: every division must be at least 1");
        }
        if let Some(s) = self.sigma {
            anyhow::ensure!(
                s > 0.0 && s.is_finite(),
                "--sigma must be a positive width in THz"
            );
        }
        Ok(DosOptions {
            mesh: MeshOptions {
                mesh: [self.mesh[0], self.mesh[1], self.mesh[2]],
                gamma_center: self.gamma_center,
                method: match self.dos_method {
                    DosMethodArg::Tetrahedron => DosMethod::Tetrahedron,
                    DosMethodArg::Gaussian => DosMethod::Gaussian,
                },
                sigma: self.sigma,
                resolve,
                symmetry: !self.no_symmetry,
                progress,
                ..MeshOptions::default()
            },
            nac_method: match self.nac_method {
                NacMethodArg::Gonze => superion::phonon::nac::NacMethod::Gonze,
                NacMethodArg::Wang => superion::phonon::nac::NacMethod::Wang,
            },
            nac: if self.no_nac {
                NacChoice::Off
            } else if self.nac {
                NacChoice::On
            } else {
                NacChoice::Auto
            },
        })
    }
}

#[derive(clap::Args, Clone)]
pub struct FeatureArgs {
    /// Element projections to describe (repeatable; the first is also the legacy one).
    #[arg(long = "element", default_value = "Li", value_parser = element)]
    pub elements: Vec<String>,
    /// Temperatures (K) for Bose-Einstein weighted band centres.
    #[arg(long, value_delimiter = ',', default_value = "300,600,900", value_parser = finite)]
    pub temperatures: Vec<f64>,
    /// Add the original study's columns (legacy_fav, legacy_<T>, ...) beside the corrected ones.
    #[arg(long)]
    pub legacy: bool,
    /// Add an area-normalised DOS vector with this many bins (1 to 100000) over
    /// [0, --dos-max-thz).
    #[arg(long)]
    pub dos_vector: Option<usize>,
    #[arg(long, default_value_t = 30.0, value_parser = finite)]
    pub dos_max_thz: f64,
    /// Flag `unstable` when more than this fraction of the DOS is at imaginary frequencies.
    #[arg(long, default_value_t = 1e-3, value_parser = finite)]
    pub unstable_threshold: f64,
}

impl FeatureArgs {
    pub fn options(&self) -> anyhow::Result<FeatureOptions> {
        if let Some(bad) = self
            .temperatures
            .iter()
            .find(|t| !(**t > 0.0 && t.is_finite()))
        {
            anyhow::bail!("--temperatures: {bad} is not a positive temperature in K");
        }
        let max_bins = superion::phonon::descriptors::MAX_DOS_BINS;
        if self.dos_vector.is_some_and(|b| b == 0 || b > max_bins)
            || !(self.dos_max_thz.is_finite() && self.dos_max_thz > 0.0)
        {
            anyhow::bail!(
                "--dos-vector takes 1 to {max_bins} bins and --dos-max-thz a positive finite range"
            );
        }
        if let Some(bad) = self
            .elements
            .iter()
            .find(|e| !superion::phonon::composition::is_element(e))
        {
            anyhow::bail!("--element: {bad:?} is not a chemical element symbol");
        }
        Ok(FeatureOptions {
            elements: self.elements.clone(),
            temperatures_k: self.temperatures.clone(),
            legacy: self.legacy,
            dos_bins: self.dos_vector,
            dos_max_thz: self.dos_max_thz,
            unstable_threshold: self.unstable_threshold,
        })
    }
}

#[derive(Subcommand)]
pub enum TrajCommand {
    /// Mean squared displacement, diffusion coefficient (with uncertainty), Haven ratio
    /// and Nernst-Einstein conductivity of one species.
    Msd {
        /// The trajectory file (XDATCAR, extended XYZ, LAMMPS dump, DCD, XTC, H5MD, ASE .traj,
        /// vasprun.xml; gzip, xz or zstd compressed; the format from the name or content).
        file: PathBuf,
        #[command(flatten)]
        read: TrajReadArgs,
        /// The diffusing species (one element; `traj hops` takes a comma-separated list).
        #[arg(long, default_value = "Li", value_parser = one_species)]
        species: String,
        /// Start of the fit window (ps); default: where the MSD becomes diffusive.
        #[arg(long, value_parser = finite)]
        start_ps: Option<f64>,
        /// Temperature (K), for the Nernst-Einstein conductivity.
        #[arg(long, value_parser = finite)]
        temperature: Option<f64>,
        /// Ion charge (e) for the conductivity (default: the usual one for the species).
        #[arg(long, value_parser = finite)]
        charge: Option<f64>,
        /// Do not subtract the framework's drift (on by default, as the peers do).
        #[arg(long)]
        no_drift: bool,
        /// Lags to report: "all" or "log:N" (N log-spaced lags, 2 to 10^6).
        #[arg(long, default_value = "all")]
        lags: String,
        /// Axes for the MSD and D (e.g. xy for diffusion in a plane: D = slope / 4).
        #[arg(long, default_value = "xyz")]
        axes: String,
        /// Write msd.csv, summary.json and msd.svg here.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Print the summary as JSON on standard output.
        #[arg(long)]
        json: bool,
        /// Stream the trajectory instead of holding it, with this much memory for the
        /// per-atom windows (e.g. 512M, 2G); same numbers. Streaming is automatic, with
        /// 256M, when the in-memory path would hold more than that (text files from
        /// about 210 MB, compressed ones from about 45 MB) or more than a quarter of the
        /// memory available: then it is also the faster path.
        #[arg(long, value_parser = byte_size)]
        memory: Option<u64>,
        /// Folder for the scratch files of a streamed run (default: the system's
        /// temporary folder); they are deleted at the end.
        #[arg(long)]
        scratch: Option<PathBuf>,
    },
    /// Site-based jumps (the default: sites discovered from the density, or given), or
    /// per-ion k-means or IonDiff's method, with rates, correlations and plots.
    Hops(HopsArgs),
    /// Hop correlations across several trajectories: a list file with one
    /// `PATH MATERIAL TEMPERATURE` line per trajectory (IonDiff's DIFFUSION_paths).
    Correlations(CorrelationsArgs),
    /// Write the trajectory (or the frames chosen with --start/--stop/--every) as
    /// extended XYZ, with the cell, the species, velocities when present and the time
    /// of each frame, for ASE, OVITO and MLIP tools; or as a DCD or XTC (--out ending
    /// in .dcd or .xtc) for VMD, MDAnalysis, LAMMPS and GROMACS users. The name's
    /// extension (.xyz, .extxyz, .dcd, .xtc) is the format; any other is refused.
    Convert {
        /// The trajectory file (XDATCAR, extended XYZ, LAMMPS dump, DCD, XTC, H5MD, ASE .traj,
        /// vasprun.xml; gzip, xz or zstd compressed; the format from the name or content).
        file: PathBuf,
        #[command(flatten)]
        read: TrajReadArgs,
        /// The file to write: extended XYZ (.xyz, .extxyz), DCD (.dcd) or XTC (.xtc,
        /// positions to 0.01 Å); a DCD or XTC keeps positions and cells, the species
        /// stay in a topology (e.g. the input file).
        #[arg(long)]
        out: PathBuf,
    },
    /// Vibrational DOS per species from the velocity autocorrelation, with the same
    /// band-centre descriptors as the phonon screening.
    Vdos {
        /// The trajectory file (XDATCAR, extended XYZ, LAMMPS dump, DCD, XTC, H5MD, ASE .traj,
        /// vasprun.xml; gzip, xz or zstd compressed; the format from the name or content).
        file: PathBuf,
        #[command(flatten)]
        read: TrajReadArgs,
        /// The species to describe (one element; the DOS of every species is computed).
        #[arg(long, default_value = "Li", value_parser = one_species)]
        species: String,
        /// Write vdos.csv, descriptors.json and vdos.svg here.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Print the descriptors as JSON on standard output.
        #[arg(long)]
        json: bool,
        /// Stream the trajectory instead of holding it, with this much memory for the
        /// per-atom windows (e.g. 512M, 2G). Automatic, with 256M, when the in-memory
        /// path would hold more than that (text files from about 210 MB, compressed ones
        /// from about 45 MB) or more than a quarter of the memory available.
        #[arg(long, value_parser = byte_size)]
        memory: Option<u64>,
        /// Folder for the scratch files of a streamed run (default: the system's
        /// temporary folder); they are deleted at the end.
        #[arg(long)]
        scratch: Option<PathBuf>,
    },
}

#[derive(clap::Args, Clone)]
pub struct HopArgs {
    /// Species to analyse, comma-separated (default: the usual mobile ion present, Li
    /// first; IonDiff mode: every atom, as IonDiff does).
    #[arg(long, value_delimiter = ',', value_parser = element)]
    pub species: Vec<String>,
    /// `sites` (default): site-based jumps (sites discovered from the density, or
    /// --sites); `kmeans`: per-ion k-means with per-ion radius, hysteresis, shared
    /// sites; `iondiff`: IonDiff 1.6's algorithm and defaults.
    #[arg(long, value_enum, default_value = "sites")]
    pub mode: ModeArg,
    /// Sites mode: known sites from a CIF (symmetry expanded), POSCAR or extended XYZ
    /// (default: discovered from the mobile species' density).
    #[arg(long)]
    pub sites: Option<PathBuf>,
    /// Sites mode: replicate the --sites cell A B C times to match the trajectory's
    /// (factors 1 to 100, at most 10^6 sites in all).
    #[arg(long, num_args = 3, value_names = ["A", "B", "C"], default_values_t = [1, 1, 1])]
    pub supercell: Vec<usize>,
    /// Sites mode: one site radius (Å) (default: twice the vibration amplitude, as
    /// GEMDAT, capped at half the distance to the nearest site).
    #[arg(long, value_parser = finite)]
    pub site_radius: Option<f64>,
    /// Sites mode: radius of the sites of one label, LABEL=R (Å); repeatable.
    #[arg(long, value_name = "LABEL=R")]
    pub label_radius: Vec<String>,
    /// Sites mode: GEMDAT's radius rule, one radius for every site capped at half the
    /// shortest site-to-site distance (default: each site capped at half the distance to
    /// its own nearest site).
    #[arg(long)]
    pub single_radius: bool,
    /// Sites mode: discovered sites symmetrised with the framework's space group.
    #[arg(long)]
    pub symmetrise: bool,
    /// Sites mode (discovery): density maxima closer than this (Å) are one site.
    #[arg(long, default_value_t = 1.0, value_parser = finite)]
    pub merge_a: f64,
    /// Sites mode (discovery): two density maxima are one site when the density between
    /// them never falls below this fraction of the lower one (0-1; 1: every maximum a site).
    #[arg(long, default_value_t = 0.6, value_parser = finite)]
    pub saddle_fraction: f64,
    /// Sites mode (discovery): density maxima are joined across a shallow saddle only
    /// when at most this far apart (Å; 0-10).
    #[arg(long, default_value_t = 1.8, value_parser = finite)]
    pub join_a: f64,
    /// Sites mode (discovery): a density maximum is a site when at least this many
    /// times the species' mean density.
    #[arg(long, default_value_t = 4.0, value_parser = finite)]
    pub min_enrichment: f64,
    /// Kmeans mode: largest number of sites per ion tried (k = 2..k_max).
    #[arg(long, default_value_t = 10)]
    pub k_max: usize,
    /// Kmeans mode: below this best mean silhouette an ion has one site.
    #[arg(long, default_value_t = 0.7, value_parser = finite)]
    pub silhouette: f64,
    /// IonDiff mode: vibration radius (Å).
    #[arg(long, default_value_t = 0.4, value_parser = finite)]
    pub distance_a: f64,
    /// Kmeans mode: vibration radius as a multiple of the ion's median distance from
    /// its site centre.
    #[arg(long, default_value_t = 2.5, value_parser = finite)]
    pub vibration_factor: f64,
    /// Kmeans mode: an ion leaves a site beyond this multiple of its radius.
    #[arg(long, default_value_t = 1.5, value_parser = finite)]
    pub hysteresis: f64,
    /// Shorter visits (frames on a site) are flickers, not residences (default: 1 in
    /// sites mode, every visit counts as in GEMDAT; 3 in kmeans mode).
    #[arg(long)]
    pub min_residence: Option<usize>,
    /// Kmeans mode: site centres of different ions closer than this (Å) are one site.
    #[arg(long, default_value_t = 1.0, value_parser = finite)]
    pub site_tolerance_a: f64,
    /// Kmeans mode: at most this many frames per ion are clustered (evenly strided;
    /// the sites found are applied to every frame).
    #[arg(long, default_value_t = 2000)]
    pub max_cluster_frames: usize,
    /// Seed of the k-means initialisation and of the correlation null model.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Collective hops: events closer than this in time (ps) ...
    #[arg(long, default_value_t = 0.5, value_parser = finite)]
    pub collective_dt_ps: f64,
    /// ... and than this in space (Å, between hop midpoints).
    #[arg(long, default_value_t = 5.0, value_parser = finite)]
    pub collective_dr_a: f64,
}

impl HopArgs {
    pub fn options(&self) -> anyhow::Result<superion::traj::hops::HopOptions> {
        let mut o = superion::traj::hops::HopOptions::new(self.mode.into());
        if self.min_residence == Some(0) {
            anyhow::bail!("--min-residence must be at least 1 frame");
        }
        superion::report::hops::check_collective(self.collective_dt_ps, self.collective_dr_a)?;
        o.sites.known = self
            .sites
            .as_deref()
            .map(superion::io::sites::read)
            .transpose()?;
        o.sites.supercell = [self.supercell[0], self.supercell[1], self.supercell[2]];
        o.sites.radius_a = self.site_radius;
        for lr in &self.label_radius {
            let (l, r) = lr
                .split_once('=')
                .and_then(|(l, r)| Some((l.to_string(), r.trim().parse::<f64>().ok()?)))
                .filter(|(_, r)| *r > 0.0)
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "--label-radius {lr:?}: expected LABEL=R with R > 0 in Å, e.g. 48h=0.9"
                    )
                })?;
            o.sites.label_radii.push((l, r));
        }
        if let Some(r) = self.site_radius.filter(|r| !(*r > 0.0)) {
            anyhow::bail!("--site-radius {r}: must be positive (Å)");
        }
        o.sites.symmetrise = self.symmetrise;
        o.sites.single_radius = self.single_radius;
        o.sites.merge_a = self.merge_a;
        o.sites.saddle_fraction = self.saddle_fraction;
        o.sites.join_a = self.join_a;
        o.sites.min_enrichment = self.min_enrichment;
        if let Some(m) = self.min_residence {
            o.min_residence_frames = m;
            o.sites.min_residence_frames = m;
        }
        o.species = self.species.clone();
        o.k_max = self.k_max;
        o.silhouette_threshold = self.silhouette;
        o.distance_threshold_a = self.distance_a;
        o.vibration_factor = self.vibration_factor;
        o.hysteresis = self.hysteresis;
        o.site_tolerance_a = self.site_tolerance_a;
        o.max_cluster_frames = self.max_cluster_frames;
        o.seed = self.seed;
        // Every range (k_max, supercell, radii, ...) as the library states it, before
        // any input is read.
        o.check()?;
        Ok(o)
    }
}

#[derive(clap::Args)]
pub struct HopsArgs {
    /// The trajectory file (XDATCAR, extended XYZ, LAMMPS dump, DCD, XTC, H5MD, ASE .traj,
    /// vasprun.xml; gzip, xz or zstd compressed; the format from the name or content).
    pub file: PathBuf,
    #[command(flatten)]
    pub read: TrajReadArgs,
    #[command(flatten)]
    pub hop: HopArgs,
    /// Write events.csv, DIFFUSION, sites.csv, descriptors.json and plots here.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print the events and descriptors as JSON.
    #[arg(long)]
    pub json: bool,
    /// Stream the trajectory instead of holding it, with this much memory for the
    /// per-atom windows (e.g. 512M, 2G); same events, sites and figures, the path
    /// figures thinned to at most 5000 frames. Automatic, with 256M, when the in-memory
    /// path would hold more than that (text files from about 210 MB, compressed ones
    /// from about 45 MB) or more than a quarter of the memory available.
    #[arg(long, value_parser = byte_size)]
    pub memory: Option<u64>,
    /// Folder for the scratch files of a streamed run (default: the system's
    /// temporary folder); they are deleted at the end.
    #[arg(long)]
    pub scratch: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct CorrelationsArgs {
    /// Lines `PATH MATERIAL TEMPERATURE` (PATH: a trajectory file, or a folder with an
    /// XDATCAR and INCAR); `#` starts a comment.
    pub list: PathBuf,
    #[command(flatten)]
    pub read: TrajReadArgs,
    #[command(flatten)]
    pub hop: HopArgs,
    /// Largest number of bodies shown and fitted.
    #[arg(long, default_value_t = 20)]
    pub max_bodies: usize,
    /// Write correlations.csv, fit.json and the histogram here.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// The counts and fits as JSON on standard output.
    #[arg(long)]
    pub json: bool,
    /// Stream each trajectory instead of holding it, with this much memory for the
    /// per-atom windows (e.g. 512M); the same hops. Automatic, with 256M, when the
    /// in-memory path would hold more than that for a listed file (text files from
    /// about 210 MB, compressed ones from about 45 MB) or more than a quarter of the
    /// memory available.
    #[arg(long, value_parser = byte_size)]
    pub memory: Option<u64>,
    /// Folder for the scratch files of streamed runs (default: the system's temporary
    /// folder); they are deleted at the end.
    #[arg(long)]
    pub scratch: Option<PathBuf>,
}

#[derive(clap::Args, Clone)]
pub struct TrajReadArgs {
    /// File format, any case (default: from the name or content).
    #[arg(long, value_parser = format_values(), ignore_case = true)]
    pub format: Option<String>,
    /// MD time step (fs); with --stride, the time between frames. Not needed for an
    /// XDATCAR with an INCAR beside it or an extended XYZ with time= (fs) per frame;
    /// needed for an ASE .traj (it stores no time).
    #[arg(long, value_parser = finite)]
    pub timestep_fs: Option<f64>,
    /// Every how many MD steps a frame was written (inferred from LAMMPS TIMESTEP,
    /// extended-XYZ step=/time=, or the INCAR's NBLOCK; never assumed).
    #[arg(long)]
    pub stride: Option<usize>,
    /// Analyse the complete frames of a file whose last frame is cut short.
    #[arg(long)]
    pub allow_truncated: bool,
    /// LAMMPS atom types (or the atom names of a .gro/PDB topology) to elements, e.g.
    /// 1=Li,2=P,3=S.
    #[arg(long)]
    pub type_map: Option<String>,
    /// Names the atoms of a DCD or XTC: a LAMMPS data file (types named by --type-map
    /// or by their masses), a GROMACS .gro or PDB file (atom names or PDB elements as
    /// species, --type-map first), or any trajectory superion reads with the same
    /// atoms in order.
    #[arg(long)]
    pub topology: Option<PathBuf>,
    /// The first frame to analyse, counted from 0 (e.g. past equilibration).
    #[arg(long, default_value_t = 0)]
    pub start: usize,
    /// Stop before this frame (default: the end).
    #[arg(long)]
    pub stop: Option<usize>,
    /// Analyse every n-th frame from --start (the time between frames grows n-fold).
    #[arg(long, default_value_t = 1)]
    pub every: usize,
}

impl TrajReadArgs {
    /// The reading options, checked (before any file is read).
    pub fn options(&self) -> anyhow::Result<superion::io::traj_input::TrajReadOptions> {
        if let Some(dt) = self.timestep_fs.filter(|d| !(d.is_finite() && *d > 0.0)) {
            anyhow::bail!("--timestep-fs {dt}: must be a positive time step in fs");
        }
        if self.stride == Some(0) {
            anyhow::bail!("--stride must be at least 1 MD step per frame");
        }
        if self.every == 0 {
            anyhow::bail!("--every must be at least 1 (1 keeps every frame)");
        }
        if let Some(stop) = self.stop.filter(|&s| s <= self.start) {
            anyhow::bail!("--stop {stop} must be after --start {}", self.start);
        }
        Ok(superion::io::traj_input::TrajReadOptions {
            format: self.format.as_deref().map(str::parse).transpose()?,
            time: superion::traj::TimeStep {
                timestep_fs: self.timestep_fs,
                stride: self.stride,
            },
            allow_truncated: self.allow_truncated,
            type_map: match &self.type_map {
                Some(m) => superion::io::lammps::parse_type_map(m)?,
                None => Default::default(),
            },
            frames: superion::io::traj_input::FrameRange {
                start: self.start,
                stop: self.stop,
                every: self.every,
            },
            topology: self.topology.clone(),
        })
    }
}

#[derive(clap::Args)]
pub struct ClusterArgs {
    /// A feature table (CSV: an id column and numeric feature columns), e.g. the
    /// features.csv of `phonon features` or `structure features`.
    pub table: PathBuf,
    #[arg(long, value_enum, default_value = "kmeans")]
    pub method: MethodArg,
    /// k: a number (3), a range (2..10) or a list (2,3,5), k at most 10^4 (and cut to
    /// n − 1). HDBSCAN finds its own k.
    #[arg(long, default_value = "2..10")]
    pub k: String,
    /// The id column (default: the first).
    #[arg(long)]
    pub id: Option<String>,
    /// Feature columns, comma-separated (default: every numeric column except
    /// bookkeeping ones: counts, integrals, indices).
    #[arg(long, value_delimiter = ',')]
    pub columns: Option<Vec<String>>,
    /// Empty cells: leave out those materials (drop-rows), fill with the column mean
    /// (impute-mean), or leave out those columns (drop-columns). What is left out is
    /// listed on stderr and in input.json.
    #[arg(long, value_enum, default_value = "drop-rows")]
    pub missing: MissingArg,
    /// Use bookkeeping columns (counts, integrals, indices) too by default.
    #[arg(long)]
    pub all_columns: bool,
    /// Use the features as they are (default: standardise each column).
    #[arg(long)]
    pub no_scale: bool,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// k-means (and spectral) restarts, 1 to 10 000.
    #[arg(long, default_value_t = 10)]
    pub n_init: u32,
    /// k-means initialisation.
    #[arg(long, value_enum, default_value = "k-means++")]
    pub init: InitArg,
    /// k-means relative tolerance (scikit-learn's: the centre shift against the mean
    /// feature variance); 0 iterates until no label changes.
    #[arg(long, default_value_t = 1e-4, value_parser = finite)]
    pub tol: f64,
    /// k-means iteration cap per restart.
    #[arg(long, default_value_t = 300)]
    pub max_iter: u32,
    /// Reference sets for the gap statistic, at most 1000 (0 turns it off; default 10,
    /// or 0 above 2000 materials, where it costs more than the clustering).
    #[arg(long)]
    pub gap_refs: Option<usize>,
    /// Re-runs for the stability score (other seeds, or 80 % subsamples for the
    /// deterministic methods; at most 1000; 0 turns it off; default 4, or 0 above 2000
    /// materials).
    #[arg(long)]
    pub stability_runs: Option<usize>,
    /// Spectral: the Gaussian kernel's bandwidth σ in (scaled) feature units
    /// (default: the median pairwise distance).
    #[arg(long, value_parser = finite)]
    pub bandwidth: Option<f64>,
    /// HDBSCAN: the smallest cluster.
    #[arg(long, default_value_t = 5)]
    pub min_cluster_size: usize,
    /// Skip the method comparison (adjusted Rand index between all methods; by
    /// default run up to 2000 materials).
    #[arg(long, conflicts_with = "compare")]
    pub no_compare: bool,
    /// Run the method comparison above 2000 materials too.
    #[arg(long)]
    pub compare: bool,
    /// Write labels.csv, scores.csv, agreement.csv and the plots here.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print the scores and the chosen k as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args)]
pub struct ValidateArgs {
    /// Features tables (`structure features`, `phonon features`, or `screen`'s
    /// features.csv): id, formula, unstable and descriptor columns. Several are joined on
    /// their ids (structure and phonon descriptors of the same materials together).
    #[arg(required = true, num_args = 1..)]
    pub features: Vec<PathBuf>,
    /// Measured conductivities: OBELiX's CSV as is, or any CSV with a composition or id
    /// column and a conductivity column in S/cm (`<1E-8`: an upper limit).
    #[arg(long)]
    pub conductivities: PathBuf,
    /// Its composition column (default: "Reduced Composition", "composition", "formula").
    #[arg(long)]
    pub composition_column: Option<String>,
    /// Its id column, matched against the features' ids (default: "ID", "id", "material_id").
    #[arg(long)]
    pub id_column: Option<String>,
    /// Its conductivity column (default: the first whose name contains "conductivity").
    #[arg(long)]
    pub conductivity_column: Option<String>,
    /// A conductor: σ ≥ this (S/cm).
    #[arg(long, default_value_t = 1e-4, value_parser = finite)]
    pub threshold: f64,
    /// Cluster labels (`screen`'s labels.csv: id, label) for conductivity by cluster.
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// A ranking (`screen`'s candidates.csv, best first) for the top-k enrichment.
    #[arg(long)]
    pub ranking: Option<PathBuf>,
    #[arg(long, default_value_t = 10)]
    pub top_k: usize,
    /// Bootstrap resamples for the intervals.
    #[arg(long, default_value_t = 2000)]
    pub bootstrap: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// The training split (a CSV with an ID column, e.g. OBELiX's train.csv): with
    /// --test, a ranking is chosen by cross-validation on these entries only and
    /// reported on the test entries (split.md, split.json, split_descriptors.csv).
    #[arg(long, requires = "test")]
    pub train: Option<PathBuf>,
    /// The test split (ids as for --train).
    #[arg(long, requires = "train")]
    pub test: Option<PathBuf>,
    /// Write validation.csv, matched.csv, unmatched.csv, validation.json/.md and figures.
    #[arg(long, default_value = "validation")]
    pub out: PathBuf,
}

#[derive(clap::Args)]
pub struct ScreenArgs {
    /// Phonon inputs (Materials Project JSON, phonopy folders, folders of them) or
    /// one feature table (CSV).
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Known fast conductors: a file (one formula or id per line) or a list
    /// (default: Li10GeP2S12, Li7La3Zr2O12, Li3PS4, Li6PS5Cl, Li7P3S11, Li3N,
    /// LiTi2(PO4)3, Li3OCl, Li3InCl6).
    #[arg(long)]
    pub known: Option<String>,
    #[arg(long, value_enum, default_value = "ward")]
    pub method: MethodArg,
    /// k range (cut to n − 1 for small sets).
    #[arg(long, default_value = "2..10")]
    pub k: String,
    /// Descriptor columns (default: li_centre_thz, li_centre_300k_thz,
    /// li_spread_thz, li_weight, total_centre_thz).
    #[arg(long, value_delimiter = ',')]
    pub columns: Option<Vec<String>>,
    /// The id column of a feature table (default: the first).
    #[arg(long)]
    pub id: Option<String>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[arg(long, default_value = "screening")]
    pub out: PathBuf,
    /// How PhononDB entries' DOS are computed.
    #[command(flatten)]
    pub dos: DosArgs,
    /// Measured conductivities (OBELiX's CSV, or a table as for `validate`): the
    /// descriptors, clusters and ranking are validated against them (report
    /// section, `validation/`); without --known, its conductors (σ ≥ --threshold)
    /// are the known conductors.
    #[arg(long)]
    pub conductivities: Option<PathBuf>,
    /// With --conductivities: a conductor has σ ≥ this (S/cm).
    #[arg(long, default_value_t = 1e-4, value_parser = finite)]
    pub threshold: f64,
}

/// `--species` of the one-species analyses: one element symbol.
/// A size in bytes: a number with an optional K, M, G or T suffix (powers of 1024),
/// e.g. 512M, 1.5G.
fn byte_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (num, mult) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let m: u64 = match c.to_ascii_uppercase() {
                'K' => 1 << 10,
                'M' => 1 << 20,
                'G' => 1 << 30,
                'T' => 1 << 40,
                'B' => 1,
                _ => return Err(format!("{s:?}: expected a size such as 512M or 2G")),
            };
            (&t[..i], m)
        }
        _ => (t, 1),
    };
    match num.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v * mult as f64 >= (1u64 << 20) as f64 => {
            Ok((v * mult as f64) as u64)
        }
        Ok(_) => Err(format!("{s:?}: give at least 1M")),
        Err(_) => Err(format!("{s:?}: expected a size such as 512M or 2G")),
    }
}

fn one_species(s: &str) -> Result<String, String> {
    let s = s.trim();
    if s.contains(',') {
        return Err(format!(
            "{s:?}: this analysis takes one species per run (traj hops takes a list)"
        ));
    }
    element(s)
}

/// One element symbol, in any case ("li" is Li).
fn element(s: &str) -> Result<String, String> {
    superion::phonon::composition::element_symbol(s)
        .ok_or_else(|| format!("{:?} is not a chemical element symbol", s.trim()))
}

/// Where a table-writing command writes: `--out` is a folder (the table is `name`
/// inside it), or the table file itself when its name ends in .csv.
pub fn table_path(out: &std::path::Path, name: &str) -> PathBuf {
    if out
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
    {
        out.to_path_buf()
    } else {
        out.join(name)
    }
}

/// A number option: any finite value (the command checks its range); NaN and infinity
/// are refused where they enter, with the option named by clap.
pub(crate) fn finite(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        Ok(v) => Err(format!("{v} is not a finite number")),
        Err(_) => Err(format!("{s:?} is not a number")),
    }
}
