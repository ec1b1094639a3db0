//! The `superion` command line: a thin layer that parses arguments, calls the library
//! and formats its errors.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod batch;

use std::process::ExitCode;

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use superion::io::inputs::{Failure, discover, read_all};
use superion::phonon::descriptors::{FeatureOptions, FeatureRow, Value, features};
use superion::phonon::similarity::{Metric, similarity};
use superion::{BackendChoice, Engine, bench, gpu, io, plot};

#[derive(Parser)]
#[command(
    name = "superion",
    version,
    about = "GPU-accelerated discovery of superionic solid electrolytes"
)]
struct Cli {
    /// Where kernels run: a hardware GPU when present (auto), any wgpu adapter
    /// including software ones (gpu), or the multi-threaded CPU path (cpu).
    #[arg(long, global = true, env = "SUPERION_BACKEND", value_enum, default_value_t = BackendChoice::Auto)]
    backend: BackendChoice,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Phonon DOS: readers, descriptors, plots, similarity.
    #[command(subcommand)]
    Phonon(PhononCommand),
    /// Molecular-dynamics trajectories: MSD, diffusion coefficients, conductivity.
    #[command(subcommand)]
    Traj(TrajCommand),
    /// Screen materials: descriptors, clustering over k, the clusters of known fast
    /// conductors and a ranked candidate list, with a Markdown report and figures.
    Screen {
        /// Phonon inputs (Materials Project JSON, phonopy folders, folders of them) or
        /// one feature table (CSV).
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
        /// Known fast conductors: a file (one formula or id per line) or a list
        /// (default: Li10GeP2S12, Li7La3Zr2O12, Li3PS4, Li6PS5Cl, Li7P3S11, Li3N,
        /// LiTi2(PO4)3, Li3OCl, Li3InCl6).
        #[arg(long)]
        known: Option<String>,
        #[arg(long, value_enum, default_value = "ward")]
        method: superion::cluster::select::Method,
        /// k range (cut to n − 1 for small sets).
        #[arg(long, default_value = "2..10")]
        k: String,
        /// Descriptor columns (default: li_centre_thz, li_centre_300k_thz,
        /// li_spread_thz, li_weight, total_centre_thz).
        #[arg(long, value_delimiter = ',')]
        columns: Option<Vec<String>>,
        /// The id column of a feature table (default: the first).
        #[arg(long)]
        id: Option<String>,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[arg(long, default_value = "screening")]
        out: PathBuf,
        /// How PhononDB entries' DOS are computed.
        #[command(flatten)]
        dos: ScreenDosArgs,
        /// Measured conductivities (OBELiX's CSV, or a table as for `validate`): the
        /// descriptors, clusters and ranking are validated against them (report
        /// section, `validation/`); without --known, its conductors (σ ≥ --threshold)
        /// are the known conductors.
        #[arg(long)]
        conductivities: Option<PathBuf>,
        /// With --conductivities: a conductor has σ ≥ this (S/cm).
        #[arg(long, default_value_t = 1e-4)]
        threshold: f64,
    },
    /// Descriptors (and clusters, rankings) against measured ionic conductivities:
    /// rank correlations with bootstrap intervals, ROC AUC, enrichment.
    Validate(ValidateArgs),
    /// The main job on the bundled data: screening of the phonopy examples and the
    /// diffusion analysis of the Li6PS5Cl trajectory, as a report folder.
    Demo {
        #[arg(long, default_value = "superion-demo")]
        out: PathBuf,
    },
    /// Cluster a feature table (CSV) over a range of k and score every k.
    Cluster(ClusterArgs),
    /// Shard a command over many inputs (Slurm job arrays), resume, merge.
    #[command(subcommand)]
    Batch(batch::BatchCommand),
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
enum PhononCommand {
    /// One row of descriptors per material (Materials Project JSON, phonopy folders,
    /// or folders of them) as CSV (or JSON).
    Features {
        /// Files or folders (searched recursively).
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
        #[command(flatten)]
        opts: FeatureArgs,
        /// Write the table here (CSV) instead of standard output.
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
    },
    /// Read a PhononDB entry (.tar.lzma archive or unpacked folder) and summarise it:
    /// unit cell, supercell, primitive axes, force sets, BORN.
    Entry {
        entry: PathBuf,
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
        input: PathBuf,
        #[command(flatten)]
        opts: FeatureArgs,
        /// Folder for the plot (default: the current folder).
        #[arg(long, default_value = ".")]
        out: PathBuf,
    },
    /// Pairwise DOS similarity matrix (CSV, ids in the first column and the header).
    Similarity {
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
        #[arg(long, value_enum, default_value_t = Metric::Wasserstein)]
        metric: Metric,
        /// Quantile points (wasserstein) or DOS bins (cosine, tanimoto).
        #[arg(long, default_value_t = 300)]
        bins: usize,
        /// Upper end of the DOS-vector range (THz).
        #[arg(long, default_value_t = 30.0)]
        max_thz: f64,
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(clap::Args, Clone)]
struct DosArgs {
    /// q-point mesh (phonopy's MESH).
    #[arg(long, num_args = 3, value_names = ["A", "B", "C"], default_values_t = [20, 20, 20])]
    mesh: Vec<usize>,
    /// Include Γ in even meshes (phonopy's default, which these follow, shifts them by
    /// half a step).
    #[arg(long)]
    gamma_center: bool,
    #[arg(long, value_enum, default_value_t = DosMethodArg::Tetrahedron)]
    method: DosMethodArg,
    /// Gaussian width (THz); default (max - min frequency) / 100.
    #[arg(long)]
    sigma: Option<f64>,
    /// Apply the non-analytical correction (default: when the entry has BORN).
    #[arg(long, overrides_with = "no_nac")]
    nac: bool,
    /// Never apply the non-analytical correction.
    #[arg(long)]
    no_nac: bool,
    /// NAC method: gonze (Gonze-Lee dipole-dipole Ewald sum, phonopy's default) or wang.
    #[arg(long, value_enum, default_value_t = NacMethodArg::Gonze)]
    nac_method: NacMethodArg,
    /// Solve every q-point of the mesh (no point-group reduction).
    #[arg(long)]
    no_symmetry: bool,
}

/// The DOS options of `screen` for PhononDB entries (`--method` there is the
/// clustering method, so the DOS method is `--dos-method`).
#[derive(clap::Args, Clone)]
struct ScreenDosArgs {
    /// q-point mesh for PhononDB entries.
    #[arg(long, num_args = 3, value_names = ["A", "B", "C"], default_values_t = [20, 20, 20])]
    mesh: Vec<usize>,
    #[arg(long)]
    gamma_center: bool,
    #[arg(long, value_enum, default_value_t = DosMethodArg::Tetrahedron)]
    dos_method: DosMethodArg,
    /// Never apply the non-analytical correction.
    #[arg(long)]
    no_nac: bool,
    #[arg(long, value_enum, default_value_t = NacMethodArg::Gonze)]
    nac_method: NacMethodArg,
}

impl ScreenDosArgs {
    fn dos_args(&self) -> DosArgs {
        DosArgs {
            mesh: self.mesh.clone(),
            gamma_center: self.gamma_center,
            method: self.dos_method,
            sigma: None,
            nac: false,
            no_nac: self.no_nac,
            nac_method: self.nac_method,
            no_symmetry: false,
        }
    }
}

#[derive(clap::ValueEnum, Clone, Copy)]
enum NacMethodArg {
    Gonze,
    Wang,
}

#[derive(clap::ValueEnum, Clone, Copy)]
enum DosMethodArg {
    Tetrahedron,
    Gaussian,
}

impl DosArgs {
    fn options(
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
                method: match self.method {
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
struct FeatureArgs {
    /// Element projections to describe (repeatable; the first is also the legacy one).
    #[arg(long = "element", default_value = "Li")]
    elements: Vec<String>,
    /// Temperatures (K) for Bose-Einstein weighted band centres.
    #[arg(long, value_delimiter = ',', default_value = "300,600,900")]
    temperatures: Vec<f64>,
    /// Add the original study's columns (legacy_fav, legacy_<T>, ...) beside the corrected ones.
    #[arg(long)]
    legacy: bool,
    /// Add an area-normalised DOS vector with this many bins over [0, --dos-max-thz).
    #[arg(long)]
    dos_vector: Option<usize>,
    #[arg(long, default_value_t = 30.0)]
    dos_max_thz: f64,
    /// Flag `unstable` when more than this fraction of the DOS is at imaginary frequencies.
    #[arg(long, default_value_t = 1e-3)]
    unstable_threshold: f64,
}

impl FeatureArgs {
    fn options(&self) -> anyhow::Result<FeatureOptions> {
        if let Some(bad) = self
            .temperatures
            .iter()
            .find(|t| !(**t > 0.0 && t.is_finite()))
        {
            anyhow::bail!("--temperatures: {bad} is not a positive temperature in K");
        }
        if self.dos_vector == Some(0) || !(self.dos_max_thz > 0.0) {
            anyhow::bail!("--dos-vector needs at least 1 bin and --dos-max-thz a positive range");
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

/// Mesa's Vulkan and GL drivers print a warning on every start when XDG_RUNTIME_DIR
/// is unset (as in containers and CI): give this process a private one.
fn ensure_runtime_dir() {
    if std::env::var_os("XDG_RUNTIME_DIR").is_some() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("superion-runtime-{}", std::process::id()));
    if std::fs::create_dir_all(&dir).is_ok() {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700));
        }
        // SAFETY: called first thing in main, before any other thread exists.
        unsafe { std::env::set_var("XDG_RUNTIME_DIR", &dir) };
    }
}

fn main() -> ExitCode {
    ensure_runtime_dir();
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("superion: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Devices { json } => devices(json),
        Command::Bench { quick, json, only } => {
            bench_cmd(cli.backend, quick, json, only.as_deref())
        }
        Command::Phonon(cmd) => phonon(cli.backend, cmd),
        Command::Traj(cmd) => traj_cmd(cli.backend, cmd),
        Command::Screen {
            inputs,
            known,
            method,
            k,
            columns,
            id,
            seed,
            out,
            dos,
            conductivities,
            threshold,
        } => {
            let dos = dos
                .dos_args()
                .options(superion::phonon::mesh::Resolve::Elements, false)?;
            if !(threshold > 0.0) {
                anyhow::bail!("--threshold {threshold}: must be a positive conductivity in S/cm");
            }
            // Read the table before the expensive work, so a bad one fails at once.
            let table = conductivities
                .as_deref()
                .map(|p| superion::validate::read_conductivities(p, &Default::default()))
                .transpose()?;
            let known = match (&known, &table) {
                (None, Some(t)) => {
                    let k = superion::validate::conductor_formulas(t, threshold);
                    eprintln!(
                        "superion: known conductors from {}: {} compositions with σ ≥ {threshold:e} S/cm",
                        t.path.display(),
                        k.len()
                    );
                    Some(k.join(","))
                }
                _ => known,
            };
            let report = screen_cmd(
                &Engine::new(cli.backend)?,
                &inputs,
                &dos,
                known.as_deref(),
                method,
                &k,
                columns,
                id.as_deref(),
                seed,
                &out,
            )?;
            if let Some(table) = table {
                let o = superion::validate::ValidateOptions {
                    threshold_s_cm: threshold,
                    seed,
                    ..Default::default()
                };
                match superion::validate::validate_screening(&out, &table, &o) {
                    Ok(v) => {
                        let mut text = std::fs::read_to_string(&report)?;
                        text.push('\n');
                        text.push_str(&v.markdown_in("validation/"));
                        text.push_str("\n![descriptor vs conductivity](validation/scatter.svg)\n\n![ROC](validation/roc.svg)\n");
                        if !v.clusters.is_empty() {
                            text.push_str("\n![by cluster](validation/clusters.svg)\n");
                        }
                        superion::io::write_atomic(&report, text.as_bytes())?;
                        eprintln!(
                            "superion: validation: {} entries matched to measured conductivities -> {}",
                            v.matched_entries,
                            out.join("validation").display()
                        );
                    }
                    Err(e) => eprintln!("superion: validation not done: {e}"),
                }
            }
            println!("report: {}", report.display());
            Ok(())
        }
        Command::Demo { out } => demo_cmd(cli.backend, &out),
        Command::Validate(a) => validate_cmd(a),
        Command::Cluster(args) => cluster_cmd(cli.backend, args),
        Command::Batch(cmd) => batch::batch_cmd(cli.backend, cmd),
    }
}

/// Per-material warnings on stderr, at most 10 of each kind (the rest counted).
fn report_warnings(rows: &[FeatureRow]) {
    let mut seen: std::collections::BTreeMap<String, usize> = Default::default();
    for r in rows {
        let id = match r.get("id") {
            Some(Value::Text(t)) => t.clone(),
            _ => String::new(),
        };
        for w in &r.warnings {
            // Group by the text before the first ':' ("Li columns left empty", ...).
            let kind = w.split(':').next().unwrap_or(w).to_string();
            let n = seen.entry(kind).or_insert(0);
            *n += 1;
            if *n <= 10 {
                eprintln!("superion: warning: {id}: {w}");
            }
        }
    }
    for (kind, n) in seen.into_iter().filter(|(_, n)| *n > 10) {
        eprintln!("superion: warning: {} more like \"{kind}\"", n - 10);
    }
}

fn report_failures(failures: &[Failure]) {
    if failures.is_empty() {
        return;
    }
    eprintln!("superion: skipped {} input(s):", failures.len());
    for f in failures {
        eprintln!("  {}: {}", f.input.display(), f.error);
    }
}

/// Descriptors for every readable input; inputs that fail to read or describe are
/// returned as failures.
fn feature_rows(
    inputs: &[PathBuf],
    opts: &FeatureOptions,
    dos_opts: &superion::phonon::entry_dos::DosOptions,
) -> anyhow::Result<(Vec<FeatureRow>, Vec<Failure>)> {
    use rayon::prelude::*;
    let found = discover(inputs)?;
    let (dos, mut failures) = superion::io::inputs::read_all_with(&found, dos_opts);
    let described: Vec<_> = dos
        .par_iter()
        .map(|d| (d.source.clone(), features(d, opts)))
        .collect();
    let mut rows = Vec::new();
    for (source, r) in described {
        match r {
            Ok(row) => rows.push(row),
            Err(e) => failures.push(Failure {
                input: source,
                error: e.to_string(),
            }),
        }
    }
    Ok((rows, failures))
}

/// A header (union of columns, first-seen order) and formatted rows.
fn table(rows: &[FeatureRow]) -> (Vec<String>, Vec<Vec<String>>) {
    let mut header: Vec<String> = Vec::new();
    for r in rows {
        for (k, _) in &r.columns {
            if !header.contains(k) {
                header.push(k.clone());
            }
        }
    }
    let body = rows
        .iter()
        .map(|r| {
            header
                .iter()
                .map(|h| match r.get(h) {
                    Some(Value::Num(v)) => io::fmt_f64(*v),
                    Some(Value::Bool(b)) => b.to_string(),
                    Some(Value::Text(t)) => t.clone(),
                    None => String::new(),
                })
                .collect()
        })
        .collect();
    (header, body)
}

fn row_json(r: &FeatureRow) -> serde_json::Value {
    let map: serde_json::Map<String, serde_json::Value> = r
        .columns
        .iter()
        .map(|(k, v)| {
            let v = match v {
                Value::Num(x) if x.is_nan() => serde_json::Value::Null,
                other => serde_json::to_value(other).unwrap_or_default(),
            };
            (k.clone(), v)
        })
        .collect();
    serde_json::Value::Object(map)
}

fn phonon(backend: BackendChoice, cmd: PhononCommand) -> anyhow::Result<()> {
    match cmd {
        PhononCommand::Features {
            inputs,
            opts,
            out,
            json,
            strict,
            dos,
        } => {
            let opts = opts.options()?;
            let dos = dos.options(superion::phonon::mesh::Resolve::Elements, false)?;
            let (rows, failures) = feature_rows(&inputs, &opts, &dos)?;
            if strict && !failures.is_empty() {
                report_failures(&failures);
                let first: Vec<String> = failures
                    .iter()
                    .take(5)
                    .map(|f| format!("{}: {}", f.input.display(), f.error))
                    .collect();
                anyhow::bail!(
                    "--strict: {} input(s) failed, nothing written: {}",
                    failures.len(),
                    first.join("; ")
                );
            }
            report_warnings(&rows);
            report_failures(&failures);
            let (header, body) = table(&rows);
            if json {
                let doc = serde_json::json!({
                    "rows": rows.iter().map(row_json).collect::<Vec<_>>(),
                    "failures": failures,
                });
                println!("{}", serde_json::to_string_pretty(&doc)?);
            }
            match out {
                Some(path) => {
                    io::write_csv(&path, &header, &body)?;
                    eprintln!("superion: {} materials -> {}", rows.len(), path.display());
                }
                None if !json => print!("{}", String::from_utf8(io::csv_bytes(&header, &body)?)?),
                None => {}
            }
            Ok(())
        }
        PhononCommand::Entry { entry, json } => {
            let e = io::phonondb::read_entry(&entry)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&e)?);
            } else {
                let mut counts = std::collections::BTreeMap::<String, f64>::new();
                for sp in &e.unitcell.species {
                    *counts.entry(sp.clone()).or_default() += 1.0;
                }
                let formula = superion::phonon::composition::reduced_formula(&counts);
                println!(
                    "{} ({formula}): {} atoms in the unit cell",
                    e.id,
                    e.unitcell.species.len()
                );
                println!(
                    "supercell DIM {:?}: {} atoms",
                    e.supercell_matrix, e.n_supercell_atoms
                );
                match e.primitive_axis {
                    Some(p) => println!("primitive axes {p:?}"),
                    None => println!("primitive axes: the unit cell"),
                }
                println!("{} displacements (force sets)", e.force_sets.len());
                match &e.born {
                    Some(b) => println!(
                        "BORN: dielectric tensor diagonal {:.3} {:.3} {:.3}, {} Born charges",
                        b.epsilon[0][0],
                        b.epsilon[1][1],
                        b.epsilon[2][2],
                        b.charges.len()
                    ),
                    None => println!("no BORN (no non-analytical correction)"),
                }
                println!("(superion phonon dos computes its DOS)");
            }
            Ok(())
        }
        PhononCommand::Dos {
            entry,
            dos,
            opts,
            out,
            compare,
        } => {
            use superion::phonon::entry_dos::{compute_dos, sigma_used, write_phonopy_files};
            let fopts = opts.options()?;
            let dopts = dos.options(superion::phonon::mesh::Resolve::Atoms, true)?;
            let r = compute_dos(&entry, &dopts)?;
            write_phonopy_files(
                &out,
                &r.mesh,
                dopts.mesh.method,
                sigma_used(&r.mesh, &dopts.mesh),
            )?;
            let row = features(&r.dos, &fopts)?;
            let doc = serde_json::json!({
                "report": r.report,
                "descriptors": row_json(&row),
                "warnings": r.dos.warnings,
            });
            io::write_atomic(
                &out.join("dos.json"),
                serde_json::to_string_pretty(&doc)?.as_bytes(),
            )?;
            let rep = &r.report;
            println!(
                "{} ({}): {} primitive atoms, {} symmetry operations, supercell {} atoms, {} displacements",
                rep.id,
                rep.formula,
                rep.primitive_atoms,
                rep.space_group_operations,
                rep.supercell_atoms,
                rep.displacements
            );
            println!(
                "mesh {:?}{} ({} q-points, {} irreducible), {:?}, NAC {}",
                rep.mesh,
                if rep.gamma_center { " Γ-centred" } else { "" },
                rep.qpoints,
                rep.irreducible_qpoints,
                rep.method,
                if rep.nac { "on" } else { "off" }
            );
            println!(
                "frequencies {:.3} .. {:.3} THz; ∫g = {:.3} (3N = {}); {:.1} s",
                rep.min_frequency_thz,
                rep.max_frequency_thz,
                rep.dos_integral,
                3 * rep.primitive_atoms,
                rep.seconds
            );
            for w in &r.dos.warnings {
                println!("warning: {w}");
            }
            for (k, v) in &row.columns {
                if let Value::Num(x) = v {
                    println!("{k:<28} {x:.6}");
                }
            }
            superion::plot::dos_svg(&r.dos, &out.join("dos.svg"))?;
            if let Some(dir) = compare {
                let reference = superion::io::phonopy::read(&dir)?;
                let peak = reference.total.iter().fold(0.0f64, |m, v| m.max(*v));
                // the reference interpolated onto our grid
                let interp = |w: f64| {
                    let f = &reference.freqs_thz;
                    match f.iter().position(|&x| x >= w) {
                        Some(0) | None => 0.0,
                        Some(i) => {
                            let t = (w - f[i - 1]) / (f[i] - f[i - 1]);
                            reference.total[i - 1] * (1.0 - t) + reference.total[i] * t
                        }
                    }
                };
                let worst = r
                    .dos
                    .freqs_thz
                    .iter()
                    .zip(&r.dos.total)
                    .map(|(&w, &g)| (g - interp(w)).abs())
                    .fold(0.0, f64::max);
                println!(
                    "vs {}: largest |Δg| = {:.4} states/THz = {:.2} % of its peak",
                    dir.display(),
                    worst,
                    100.0 * worst / peak.max(1e-30)
                );
                superion::plot::dos_compare_svg(
                    &format!("{} {}: superion vs phonopy", r.report.id, r.report.formula),
                    ("superion", &r.dos.freqs_thz, &r.dos.total),
                    (
                        "phonopy total_dos.dat",
                        &reference.freqs_thz,
                        &reference.total,
                    ),
                    &out.join("compare.svg"),
                )?;
            }
            eprintln!(
                "superion: total_dos.dat, projected_dos.dat, dos.json, dos.svg -> {}",
                out.display()
            );
            Ok(())
        }
        PhononCommand::Show { input, opts, out } => {
            let opts = opts.options()?;
            let found = discover(std::slice::from_ref(&input))?;
            let dos = found.first().context("no input")?.read()?;
            let row = features(&dos, &opts)?;
            for (k, v) in &row.columns {
                let shown = match v {
                    Value::Num(x) => format!("{x:.6}"),
                    Value::Bool(b) => b.to_string(),
                    Value::Text(t) => t.clone(),
                };
                println!("{k:<28} {shown}");
            }
            for w in &row.warnings {
                eprintln!("superion: warning: {w}");
            }
            let path = out.join(format!("{}_dos.svg", dos.id));
            plot::dos_svg(&dos, &path)?;
            eprintln!("superion: DOS plot -> {}", path.display());
            Ok(())
        }
        PhononCommand::Similarity {
            inputs,
            metric,
            bins,
            max_thz,
            out,
        } => {
            if bins == 0 || !(max_thz > 0.0) {
                anyhow::bail!("--bins must be at least 1 and --max-thz positive");
            }
            let engine = Engine::new(backend)?;
            let found = discover(&inputs)?;
            let (dos, failures) = read_all(&found);
            report_failures(&failures);
            let m = similarity(&engine, &dos, metric, bins, max_thz)?;
            let mut header = vec!["id".to_string()];
            header.extend(dos.iter().map(|d| d.id.clone()));
            let body: Vec<Vec<String>> = dos
                .iter()
                .enumerate()
                .map(|(i, d)| {
                    std::iter::once(d.id.clone())
                        .chain(m.row(i).iter().map(|v| io::fmt_f64(*v)))
                        .collect()
                })
                .collect();
            match out {
                Some(path) => io::write_csv(&path, &header, &body)?,
                None => print!("{}", String::from_utf8(io::csv_bytes(&header, &body)?)?),
            }
            Ok(())
        }
    }
}

fn devices(json: bool) -> anyhow::Result<()> {
    let adapters = gpu::enumerate();
    let auto = Engine::new(BackendChoice::Auto)?;
    let forced = gpu::pick(&adapters, false);
    if json {
        let doc = serde_json::json!({
            "adapters": adapters,
            "auto": auto.describe(),
            "auto_reason": auto.reason,
            "gpu_backend_uses": forced.map(|i| &adapters[i].name),
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(());
    }
    if adapters.is_empty() {
        println!(
            "no GPU adapters found (for the software Vulkan driver: apt-get install mesa-vulkan-drivers)"
        );
    }
    for (i, a) in adapters.iter().enumerate() {
        let mark = if Some(i) == forced { "*" } else { " " };
        println!(
            "{mark} [{i}] {} — {} / {} ({})",
            a.name, a.backend, a.device_type, a.driver
        );
        println!(
            "      max storage binding {} MiB, max buffer {} MiB, {} workgroups/dim, {} invocations/workgroup, {} KiB workgroup memory",
            a.max_storage_buffer_binding_size >> 20,
            a.max_buffer_size >> 20,
            a.max_compute_workgroups_per_dimension,
            a.max_compute_invocations_per_workgroup,
            a.max_compute_workgroup_storage_size >> 10
        );
        let feats: Vec<&str> = [
            (a.shader_f16, "f16"),
            (a.shader_f64, "f64"),
            (a.subgroup, "subgroups"),
            (a.timestamp_query, "timestamps"),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, n)| *n)
        .collect();
        println!(
            "      features: {}",
            if feats.is_empty() {
                "none of f16/f64/subgroups/timestamps".into()
            } else {
                feats.join(", ")
            }
        );
    }
    if let Some(i) = forced {
        println!("* --backend gpu uses [{i}] {}", adapters[i].name);
    }
    println!("--backend auto: {}", auto.reason);
    Ok(())
}

fn bench_cmd(
    choice: BackendChoice,
    quick: bool,
    json: bool,
    only: Option<&str>,
) -> anyhow::Result<()> {
    // The CPU path is always measured; the GPU one on whatever adapter `gpu` would use
    // unless the user asked for the CPU only.
    let gpu = match choice {
        BackendChoice::Cpu => None,
        _ => match Engine::new(BackendChoice::Gpu) {
            Ok(e) => Some(e),
            Err(err) => {
                eprintln!("superion: no GPU adapter, measuring the CPU path only ({err})");
                None
            }
        },
    };
    if !json {
        println!(
            "CPU: {} threads; memory copy {:.1} GB/s",
            rayon::current_num_threads(),
            bench::memcpy_gbytes()
        );
        if let Some(g) = &gpu {
            println!("GPU: {}", g.describe());
        }
        println!(
            "{:<18} {:<60} {:>4} {:>10} {:>10} {:>9}  {}",
            "kernel", "size", "on", "seconds", "GFLOP/s", "GB/s", "GPU traffic per call"
        );
    }
    let mut last_cpu = 0.0;
    let all = bench::run(quick, only, gpu.as_ref(), |m| {
        if json {
            return;
        }
        let ratio = if m.backend == "gpu" {
            format!("  gpu/cpu speed {:.2}x", last_cpu / m.seconds)
        } else {
            String::new()
        };
        if m.backend == "cpu" {
            last_cpu = m.seconds;
        }
        let traffic = match (m.submits, m.bytes_up, m.bytes_down) {
            (Some(s), Some(u), Some(d)) => format!(
                "  {s} submits, {:.1} MB up, {:.1} MB down ({:.1}× the result)",
                u as f64 / 1e6,
                d as f64 / 1e6,
                d as f64 / m.result_bytes.max(1) as f64
            ),
            _ => String::new(),
        };
        println!(
            "{:<18} {:<60} {:>4} {:>10.4} {:>10} {:>9}{}{}",
            m.kernel,
            m.size,
            m.backend,
            m.seconds,
            m.gflops.map(|v| format!("{v:.2}")).unwrap_or_default(),
            m.gbytes.map(|v| format!("{v:.2}")).unwrap_or_default(),
            ratio,
            traffic
        );
    })?;
    if json {
        println!("{}", serde_json::to_string_pretty(&all)?);
    }
    Ok(())
}

#[derive(Subcommand)]
enum TrajCommand {
    /// Mean squared displacement, diffusion coefficient (with uncertainty), Haven ratio
    /// and Nernst-Einstein conductivity of one species.
    Msd {
        file: PathBuf,
        #[command(flatten)]
        read: TrajReadArgs,
        /// The diffusing species.
        #[arg(long, default_value = "Li")]
        species: String,
        /// Start of the fit window (ps); default: where the MSD becomes diffusive.
        #[arg(long)]
        start_ps: Option<f64>,
        /// Temperature (K), for the Nernst-Einstein conductivity.
        #[arg(long)]
        temperature: Option<f64>,
        /// Ion charge (e) for the conductivity (default: the usual one for the species).
        #[arg(long)]
        charge: Option<f64>,
        /// Do not subtract the framework's drift (on by default, as the peers do).
        #[arg(long)]
        no_drift: bool,
        /// Lags to report: "all" or "log:N".
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
    },
    /// Unsupervised hop detection per ion (IonDiff's method, or superion's default),
    /// with sites, descriptors, correlations and plots.
    Hops(HopsArgs),
    /// Hop correlations across several trajectories: a list file with one
    /// `PATH MATERIAL TEMPERATURE` line per trajectory (IonDiff's DIFFUSION_paths).
    Correlations(CorrelationsArgs),
    /// Vibrational DOS per species from the velocity autocorrelation, with the same
    /// band-centre descriptors as the phonon screening.
    Vdos {
        file: PathBuf,
        #[command(flatten)]
        read: TrajReadArgs,
        /// The species to describe (the DOS of every species is computed).
        #[arg(long, default_value = "Li")]
        species: String,
        /// Write vdos.csv, descriptors.json and vdos.svg here.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Print the descriptors as JSON on standard output.
        #[arg(long)]
        json: bool,
    },
}

#[derive(clap::Args, Clone)]
struct HopArgs {
    /// Species to analyse, comma-separated (default: the usual mobile ion present, Li
    /// first; IonDiff mode: every atom, as IonDiff does).
    #[arg(long, value_delimiter = ',')]
    species: Vec<String>,
    /// `sites` (default): site-based jumps (sites discovered from the density, or
    /// --sites); `kmeans`: per-ion k-means with per-ion radius, hysteresis, shared
    /// sites; `iondiff`: IonDiff 1.6's algorithm and defaults.
    #[arg(long, value_enum, default_value = "sites")]
    mode: superion::traj::hops::Mode,
    /// Sites mode: known sites from a CIF (symmetry expanded), POSCAR or extended XYZ
    /// (default: discovered from the mobile species' density).
    #[arg(long)]
    sites: Option<PathBuf>,
    /// Sites mode: replicate the --sites cell A B C times to match the trajectory's.
    #[arg(long, num_args = 3, value_names = ["A", "B", "C"], default_values_t = [1, 1, 1])]
    supercell: Vec<usize>,
    /// Sites mode: one site radius (Å) (default: twice the vibration amplitude, as
    /// GEMDAT, capped at half the distance to the nearest site).
    #[arg(long)]
    site_radius: Option<f64>,
    /// Sites mode: radius of the sites of one label, LABEL=R (Å); repeatable.
    #[arg(long, value_name = "LABEL=R")]
    label_radius: Vec<String>,
    /// Sites mode: discovered sites symmetrised with the framework's space group.
    #[arg(long)]
    symmetrise: bool,
    /// Sites mode (discovery): density maxima closer than this (Å) are one site.
    #[arg(long, default_value_t = 1.0)]
    merge_a: f64,
    /// Sites mode (discovery): a density maximum is a site when at least this many
    /// times the species' mean density.
    #[arg(long, default_value_t = 4.0)]
    min_enrichment: f64,
    /// Largest number of sites per ion tried (k = 2..k_max).
    #[arg(long, default_value_t = 10)]
    k_max: usize,
    /// Below this best mean silhouette an ion has one site.
    #[arg(long, default_value_t = 0.7)]
    silhouette: f64,
    /// IonDiff mode: vibration radius (Å).
    #[arg(long, default_value_t = 0.4)]
    distance_a: f64,
    /// Default mode: vibration radius as a multiple of the ion's median distance from
    /// its site centre.
    #[arg(long, default_value_t = 2.5)]
    vibration_factor: f64,
    /// Default mode: an ion leaves a site beyond this multiple of its radius.
    #[arg(long, default_value_t = 1.5)]
    hysteresis: f64,
    /// Shorter visits (frames on a site) are flickers, not residences (default: 1 in
    /// sites mode, every visit counts as in GEMDAT; 3 in kmeans mode).
    #[arg(long)]
    min_residence: Option<usize>,
    /// Site centres of different ions closer than this (Å) are one site.
    #[arg(long, default_value_t = 1.0)]
    site_tolerance_a: f64,
    /// Default mode: at most this many frames per ion are clustered (evenly strided;
    /// the sites found are applied to every frame).
    #[arg(long, default_value_t = 2000)]
    max_cluster_frames: usize,
    /// Seed of the k-means initialisation and of the correlation null model.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Collective hops: events closer than this in time (ps) ...
    #[arg(long, default_value_t = 0.5)]
    collective_dt_ps: f64,
    /// ... and than this in space (Å, between hop midpoints).
    #[arg(long, default_value_t = 5.0)]
    collective_dr_a: f64,
}

impl HopArgs {
    fn options(&self) -> anyhow::Result<superion::traj::hops::HopOptions> {
        let mut o = superion::traj::hops::HopOptions::new(self.mode);
        o.sites.file = self.sites.clone();
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
        o.sites.merge_a = self.merge_a;
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
        Ok(o)
    }
}

#[derive(clap::Args)]
struct HopsArgs {
    file: PathBuf,
    #[command(flatten)]
    read: TrajReadArgs,
    #[command(flatten)]
    hop: HopArgs,
    /// Write events.csv, DIFFUSION, sites.csv, descriptors.json and plots here.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print the events and descriptors as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct CorrelationsArgs {
    /// Lines `PATH MATERIAL TEMPERATURE` (PATH: a trajectory file, or a folder with an
    /// XDATCAR and INCAR); `#` starts a comment.
    list: PathBuf,
    #[command(flatten)]
    read: TrajReadArgs,
    #[command(flatten)]
    hop: HopArgs,
    /// Largest number of bodies shown and fitted.
    #[arg(long, default_value_t = 20)]
    max_bodies: usize,
    /// Write correlations.csv, fit.json and the histogram here.
    #[arg(long)]
    out: Option<PathBuf>,
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args, Clone)]
struct TrajReadArgs {
    /// File format (default: from the name or content).
    #[arg(long, value_enum)]
    format: Option<superion::io::traj_input::TrajFormat>,
    /// MD time step (fs); with --stride, the time between frames.
    #[arg(long)]
    timestep_fs: Option<f64>,
    /// Every how many MD steps a frame was written.
    #[arg(long)]
    stride: Option<usize>,
    /// Analyse the complete frames of a file whose last frame is cut short.
    #[arg(long)]
    allow_truncated: bool,
    /// LAMMPS atom types to elements, e.g. 1=Li,2=P,3=S.
    #[arg(long)]
    type_map: Option<String>,
}

impl TrajReadArgs {
    fn read(&self, file: &std::path::Path) -> anyhow::Result<superion::traj::Trajectory> {
        let opts = superion::io::traj_input::TrajReadOptions {
            format: self.format,
            time: superion::traj::TimeStep {
                timestep_fs: self.timestep_fs,
                stride: self.stride,
            },
            allow_truncated: self.allow_truncated,
            type_map: match &self.type_map {
                Some(m) => superion::io::lammps::parse_type_map(m)?,
                None => Default::default(),
            },
        };
        Ok(superion::io::traj_input::read_trajectory(file, &opts)?)
    }
}

fn traj_cmd(backend: BackendChoice, cmd: TrajCommand) -> anyhow::Result<()> {
    use superion::traj::{diffusion, msd, vdos};
    match cmd {
        TrajCommand::Hops(a) => hops_cmd(backend, a),
        TrajCommand::Correlations(a) => correlations_cmd(backend, a),
        TrajCommand::Vdos {
            file,
            read,
            species,
            out,
            json,
        } => {
            let engine = Engine::new(backend)?;
            let traj = read.read(&file)?;
            traj.indices_of(&species)?;
            let (dos, notes) = vdos::vdos(&engine, &traj)?;
            for n in traj.notes.iter().chain(&notes) {
                eprintln!("superion: {n}");
            }
            let opts = FeatureOptions {
                elements: vec![species.clone()],
                ..Default::default()
            };
            let row = features(&dos, &opts)?;
            let doc = serde_json::json!({"file": file.display().to_string(), "species": species, "notes": notes, "descriptors": row_json(&row)});
            if json {
                println!("{}", serde_json::to_string_pretty(&doc)?);
            } else {
                for (k, v) in &row.columns {
                    if let Value::Num(x) = v {
                        println!("{k:<28} {x:.6}");
                    }
                }
            }
            if let Some(dir) = out {
                let species_list = traj.species_list();
                let mut header = vec!["freq_thz".to_string(), "total".to_string()];
                header.extend(species_list.iter().cloned());
                let per: Vec<Vec<f64>> = species_list
                    .iter()
                    .map(|s| dos.element_dos(s))
                    .collect::<Result<_, _>>()?;
                let rows: Vec<Vec<String>> = (0..dos.freqs_thz.len())
                    .map(|i| {
                        std::iter::once(io::fmt_f64(dos.freqs_thz[i]))
                            .chain(std::iter::once(io::fmt_f64(dos.total[i])))
                            .chain(per.iter().map(|g| io::fmt_f64(g[i])))
                            .collect()
                    })
                    .collect();
                io::write_csv(&dir.join("vdos.csv"), &header, &rows)?;
                io::write_atomic(
                    &dir.join("descriptors.json"),
                    serde_json::to_string_pretty(&doc)?.as_bytes(),
                )?;
                plot::dos_svg(&dos, &dir.join("vdos.svg"))?;
                eprintln!(
                    "superion: vdos.csv, descriptors.json, vdos.svg -> {}",
                    dir.display()
                );
            }
            Ok(())
        }
        TrajCommand::Msd {
            file,
            read,
            species,
            start_ps,
            temperature,
            charge,
            no_drift,
            lags,
            axes,
            out,
            json,
        } => {
            let engine = Engine::new(backend)?;
            let traj = read.read(&file)?;
            for n in &traj.notes {
                eprintln!("superion: {n}");
            }
            let opts = msd::MsdOptions {
                species: species.clone(),
                drift_correction: !no_drift,
                lags: lags.parse()?,
                long_step_a: None,
                axes: axes.parse()?,
            };
            let m = msd::msd(&engine, &traj, &opts)?;
            if m.long_steps.count > 0 {
                eprintln!(
                    "superion: warning: {} frame-to-frame steps longer than {:.2} Å (worst {:.2} Å, atom {}, frame {}): unwrapping may be ambiguous there",
                    m.long_steps.count,
                    m.long_step_a,
                    m.long_steps.worst_a,
                    m.long_steps.worst_atom,
                    m.long_steps.worst_frame
                );
            }
            let fit = diffusion::fit(&m, start_ps)?;
            let d_sigma = diffusion::collective_d(&m, &fit);
            let haven = if d_sigma > 0.0 {
                fit.d_cm2_s / d_sigma
            } else {
                f64::NAN
            };
            let mean_volume: f64 = (0..traj.n_frames()).map(|t| traj.volume_a3(t)).sum::<f64>()
                / traj.n_frames() as f64;
            let conductivity = match temperature {
                Some(t) if t > 0.0 => {
                    let q = charge
                        .or_else(|| diffusion::default_charge(&species))
                        .ok_or_else(|| {
                            anyhow::anyhow!("no default charge for {species}: give --charge")
                        })?;
                    Some(serde_json::json!({
                        "temperature_k": t,
                        "charge_e": q,
                        "sigma_tracer_s_cm": diffusion::nernst_einstein_s_cm(m.n_atoms, q, fit.d_cm2_s, mean_volume, t),
                        "sigma_tracer_err_s_cm": diffusion::nernst_einstein_s_cm(m.n_atoms, q, fit.d_err_cm2_s, mean_volume, t),
                        "sigma_collective_s_cm": diffusion::nernst_einstein_s_cm(m.n_atoms, q, d_sigma, mean_volume, t),
                    }))
                }
                Some(t) => anyhow::bail!("--temperature must be positive, not {t}"),
                None => None,
            };
            let times = m.times_ps();
            let summary = serde_json::json!({
                "file": file.display().to_string(),
                "species": species,
                "n_atoms": m.n_atoms,
                "n_frames": m.n_frames,
                "dt_ps": m.dt_ps,
                "backend": engine.describe(),
                "drift_correction": m.drift,
                "axes": axes,
                "d_cm2_s": fit.d_cm2_s,
                "d_err_cm2_s": fit.d_err_cm2_s,
                "fit_start_ps": fit.fit_start_ps,
                "fit_end_ps": fit.fit_end_ps,
                "fit_start_automatic": fit.start_chosen_automatically,
                "fit_method": fit.method,
                "fit_points": fit.n_points,
                "d_sigma_cm2_s": d_sigma,
                "haven_ratio": haven,
                "conductivity": conductivity,
                "mean_volume_a3": mean_volume,
                "long_steps": m.long_steps,
                "notes": traj.notes,
                "msd": times.iter().zip(&m.msd_a2).map(|(t, v)| serde_json::json!({"dt_ps": t, "msd_a2": v})).collect::<Vec<_>>(),
            });
            if json {
                println!("{}", serde_json::to_string_pretty(&summary)?);
            } else {
                println!(
                    "{species}: D = {:.4e} ± {:.2e} cm²/s (fit {:.2}-{:.2} ps{}), {} atoms, {} frames of {} ps",
                    fit.d_cm2_s,
                    fit.d_err_cm2_s,
                    fit.fit_start_ps,
                    fit.fit_end_ps,
                    if fit.start_chosen_automatically {
                        ", start automatic"
                    } else {
                        ""
                    },
                    m.n_atoms,
                    m.n_frames,
                    m.dt_ps
                );
                println!(
                    "Haven ratio {haven:.3} (D_sigma {d_sigma:.4e} cm²/s; indicative only: the collective MSD is one noisy series)"
                );
            }
            if let Some(dir) = out {
                msd::write_csv(&m, &dir.join("msd.csv"))?;
                io::write_atomic(
                    &dir.join("summary.json"),
                    serde_json::to_string_pretty(&summary)?.as_bytes(),
                )?;
                plot::msd_svg(&m, &fit, &dir.join("msd.svg"))?;
                eprintln!(
                    "superion: msd.csv, summary.json, msd.svg -> {}",
                    dir.display()
                );
            }
            Ok(())
        }
    }
}

#[derive(clap::Args)]
struct ClusterArgs {
    table: PathBuf,
    #[arg(long, value_enum, default_value = "kmeans")]
    method: superion::cluster::select::Method,
    /// k: a number (3), a range (2..10) or a list (2,3,5). HDBSCAN finds its own k.
    #[arg(long, default_value = "2..10")]
    k: String,
    /// The id column (default: the first).
    #[arg(long)]
    id: Option<String>,
    /// Feature columns, comma-separated (default: every numeric column).
    #[arg(long, value_delimiter = ',')]
    columns: Option<Vec<String>>,
    /// Use the features as they are (default: standardise each column).
    #[arg(long)]
    no_scale: bool,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// k-means (and spectral) restarts.
    #[arg(long, default_value_t = 10)]
    n_init: u32,
    /// k-means initialisation.
    #[arg(long, value_enum, default_value = "k-means++")]
    init: superion::cluster::kmeans::Init,
    /// k-means relative tolerance (scikit-learn's: the centre shift against the mean
    /// feature variance); 0 iterates until no label changes.
    #[arg(long, default_value_t = 1e-4)]
    tol: f64,
    /// k-means iteration cap per restart.
    #[arg(long, default_value_t = 300)]
    max_iter: u32,
    /// Reference sets for the gap statistic (0 turns it off).
    #[arg(long, default_value_t = 10)]
    gap_refs: usize,
    /// Re-runs for the stability score (other seeds, or 80 % subsamples for the
    /// deterministic methods; 0 turns it off).
    #[arg(long, default_value_t = 4)]
    stability_runs: usize,
    /// Spectral: the Gaussian kernel's bandwidth σ in (scaled) feature units
    /// (default: the median pairwise distance).
    #[arg(long)]
    bandwidth: Option<f64>,
    /// HDBSCAN: the smallest cluster.
    #[arg(long, default_value_t = 5)]
    min_cluster_size: usize,
    /// Skip the method comparison (adjusted Rand index between all methods).
    #[arg(long)]
    no_compare: bool,
    /// Write labels.csv, scores.csv, agreement.csv and the plots here.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print the scores and the chosen k as JSON.
    #[arg(long)]
    json: bool,
}

fn cluster_cmd(backend: BackendChoice, a: ClusterArgs) -> anyhow::Result<()> {
    use superion::cluster::{kmeans::KMeansParams, select};
    let engine = Engine::new(backend)?;
    let t = superion::io::table::read_table(&a.table, a.id.as_deref(), a.columns.as_deref())?;
    let x = if a.no_scale {
        t.values.mapv(|v| v as f32)
    } else {
        t.standardised()
    };
    let ks = select::parse_k_range(&a.k)?;
    let opts = select::SelectOptions {
        seed: a.seed,
        kmeans: KMeansParams {
            n_init: a.n_init,
            init: a.init,
            tol: a.tol,
            max_iter: a.max_iter,
        },
        gap_refs: a.gap_refs,
        stability_runs: a.stability_runs,
        bandwidth: a.bandwidth,
        min_cluster_size: a.min_cluster_size,
    };
    let sel = select::cluster_over_k(&engine, x.view(), a.method, &ks, &opts)?;
    let agreement = if a.no_compare || sel.chosen_k < 2 {
        None
    } else {
        Some(select::method_agreement(
            &engine,
            x.view(),
            sel.chosen_k,
            &opts,
        )?)
    };
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "table": a.table.display().to_string(), "rows": t.ids.len(), "columns": t.columns,
                "scaled": !a.no_scale, "options": opts, "selection": sel, "agreement": agreement,
            }))?
        );
    } else {
        let opt =
            |v: Option<f64>, w: usize| v.map_or(format!("{:>w$}", "-"), |v| format!("{v:>w$.4}"));
        println!(
            "{:>3} {:>14} {:>11} {:>18} {:>15} {:>8} {:>7} {:>10}",
            "k",
            "inertia",
            "silhouette",
            "calinski_harabasz",
            "davies_bouldin",
            "gap",
            "gap_s",
            "stability"
        );
        for r in &sel.results {
            println!(
                "{:>3} {:>14.6} {:>11.4} {:>18.4} {:>15.4} {} {} {}",
                r.k,
                r.inertia,
                r.silhouette,
                r.calinski_harabasz,
                r.davies_bouldin,
                opt(r.gap, 8),
                opt(r.gap_s, 7),
                opt(r.stability, 10)
            );
        }
        if let Some(c) = sel.cophenetic_correlation {
            println!("cophenetic correlation {c:.4}");
        }
        if let Some(b) = sel.bandwidth {
            println!("spectral bandwidth σ = {b:.4}");
        }
        println!("chosen k = {}: {}", sel.chosen_k, sel.why);
        if let Some(ag) = &agreement {
            println!("\nadjusted Rand index between methods at k = {}:", ag.k);
            print!("{:>9}", "");
            for m in &ag.methods {
                print!(" {:>9}", m.name());
            }
            println!();
            for (i, m) in ag.methods.iter().enumerate() {
                print!("{:>9}", m.name());
                for v in &ag.ari[i] {
                    print!(" {v:>9.3}");
                }
                println!();
            }
            for (m, why) in &ag.skipped {
                println!("({} left out: {why})", m.name());
            }
        }
    }
    if let Some(dir) = a.out {
        select::write_tables(&dir, &t.ids, &sel)?;
        superion::plot::cluster::write_figures(
            &dir,
            &t.ids,
            &t.columns,
            t.values.view(),
            x.view(),
            &sel,
            &[],
        )?;
        if let Some(ag) = &agreement {
            ag.write_csv(&dir.join("agreement.csv"))?;
            superion::plot::cluster::agreement_svg(ag, &dir.join("agreement.svg"))?;
        }
        eprintln!(
            "superion: labels.csv, scores.csv{} and plots -> {}",
            if agreement.is_some() {
                ", agreement.csv"
            } else {
                ""
            },
            dir.display()
        );
    }
    Ok(())
}

/// The materials to screen, from phonon inputs or a feature table, with the inputs
/// left out and why.
fn screen_materials(
    inputs: &[PathBuf],
    dos: &superion::phonon::entry_dos::DosOptions,
    columns: &[String],
    id: Option<&str>,
) -> anyhow::Result<(superion::screen::Materials, Vec<(String, String)>)> {
    use superion::screen::Materials;
    let mut skipped = Vec::new();
    if inputs.len() == 1
        && inputs[0]
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
    {
        let path = &inputs[0];
        let text_columns = [
            "formula",
            "pretty_formula",
            "formula_pretty_reduced",
            "unstable",
        ];
        let mut t =
            superion::io::table::read_table_with_text(path, id, Some(columns), &text_columns)?;
        let formulas = text_columns[..3].iter().find_map(|c| t.text.remove(*c));
        let unstable = t
            .text
            .remove("unstable")
            .map(|v| v.iter().map(|s| s.eq_ignore_ascii_case("true")).collect())
            .unwrap_or_else(|| vec![false; t.ids.len()]);
        // Shown as reduced formulas ("Li6 Ti12 P18 O72" -> "LiTi2P3O12") where they parse.
        let formulas = formulas
            .unwrap_or_else(|| vec![String::new(); t.ids.len()])
            .into_iter()
            .map(|f| {
                superion::phonon::composition::parse_formula(&f)
                    .map_or(f, |c| superion::phonon::composition::reduced_formula(&c))
            })
            .collect();
        return Ok((
            Materials {
                ids: t.ids,
                formulas,
                unstable,
                columns: t.columns,
                values: t.values,
            },
            skipped,
        ));
    }
    let (rows, failures) = feature_rows(inputs, &FeatureOptions::default(), dos)?;
    for f in failures {
        skipped.push((f.input.display().to_string(), f.error));
    }
    let mut ids = Vec::new();
    let mut formulas = Vec::new();
    let mut unstable = Vec::new();
    let mut values = Vec::new();
    for r in &rows {
        let text = |k: &str| match r.get(k) {
            Some(Value::Text(t)) => t.clone(),
            _ => String::new(),
        };
        let vals: Vec<Option<f64>> = columns
            .iter()
            .map(|c| r.get(c).and_then(Value::num).filter(|v| v.is_finite()))
            .collect();
        if let Some(j) = vals.iter().position(Option::is_none) {
            skipped.push((
                text("id"),
                format!("no value for {} (e.g. no Li projection)", columns[j]),
            ));
            continue;
        }
        ids.push(text("id"));
        formulas.push(text("formula"));
        unstable.push(r.get("unstable") == Some(&Value::Bool(true)));
        values.extend(vals.into_iter().flatten());
    }
    let n = ids.len();
    let values = ndarray::Array2::from_shape_vec((n, columns.len()), values)?;
    Ok((
        Materials {
            ids,
            formulas,
            unstable,
            columns: columns.to_vec(),
            values,
        },
        skipped,
    ))
}

#[allow(clippy::too_many_arguments)]
fn screen_cmd(
    engine: &Engine,
    inputs: &[PathBuf],
    dos: &superion::phonon::entry_dos::DosOptions,
    known: Option<&str>,
    method: superion::cluster::select::Method,
    k: &str,
    columns: Option<Vec<String>>,
    id: Option<&str>,
    seed: u64,
    out: &std::path::Path,
) -> anyhow::Result<PathBuf> {
    use superion::screen;
    let known = screen::parse_known(known)?;
    let columns = columns.unwrap_or_else(|| {
        screen::DEFAULT_COLUMNS
            .iter()
            .map(|s| s.to_string())
            .collect()
    });
    let (m, skipped) = screen_materials(inputs, dos, &columns, id)?;
    let n = m.ids.len();
    if n < 3 {
        anyhow::bail!("{n} materials with all the descriptor columns: screening needs at least 3");
    }
    let mut ks = superion::cluster::select::parse_k_range(k)?;
    let before = ks.len();
    ks.retain(|&k| k < n);
    if ks.is_empty() {
        anyhow::bail!("--k {k}: every k is at least the number of materials ({n})");
    }
    if ks.len() < before {
        eprintln!(
            "superion: {n} materials: k range cut to {}..{}",
            ks[0],
            ks[ks.len() - 1]
        );
    }
    for (what, why) in &skipped {
        eprintln!("superion: left out {what}: {why}");
    }
    let s = screen::screen(engine, &m, &known, method, &ks, seed, true)?;
    let report = screen::write_outputs(out, &m, &s, &known, &skipped)?;
    eprintln!(
        "superion: {n} materials, k = {} ({}); {} known conductors found, {} candidates",
        s.selection.chosen_k,
        s.selection.why,
        s.known_rows.len(),
        s.candidates.len()
    );
    Ok(report)
}

fn demo_cmd(backend: BackendChoice, out: &std::path::Path) -> anyhow::Result<()> {
    use superion::traj::{diffusion, msd};
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let data = if std::path::Path::new("data/phonopy").is_dir() {
        std::path::PathBuf::from("data")
    } else {
        root.join("data")
    };
    let engine = Engine::new(backend)?;
    // 1. Screening of the bundled phonopy examples (no known conductor among them:
    //    Li3NbS4 stands in as the reference, to show the ranking).
    let report = screen_cmd(
        &engine,
        &[data.join("phonopy")],
        &superion::io::inputs::screening_dos_options(),
        Some("Li3NbS4"),
        superion::cluster::select::Method::Ward,
        "2..10",
        None,
        None,
        0,
        &out.join("screening"),
    )?;
    // 2. Diffusion in the bundled Li6PS5Cl trajectory.
    let opts = superion::io::traj_input::TrajReadOptions {
        time: superion::traj::TimeStep {
            timestep_fs: Some(2.0),
            stride: Some(50),
        },
        ..Default::default()
    };
    let traj = superion::io::traj_input::read_trajectory(&data.join("Li6PS5Cl.XDATCAR.gz"), &opts)?;
    let m = msd::msd(
        &engine,
        &traj,
        &msd::MsdOptions {
            species: "Li".into(),
            drift_correction: true,
            lags: msd::LagGrid::All,
            long_step_a: None,
            axes: Default::default(),
        },
    )?;
    let fit = diffusion::fit(&m, None)?;
    let dir = out.join("diffusion");
    msd::write_csv(&m, &dir.join("msd.csv"))?;
    plot::msd_svg(&m, &fit, &dir.join("msd.svg"))?;
    // 3. Hops in the same trajectory: site-based jumps (the default), and the two
    // per-ion clustering modes (k-means, IonDiff's) to show what they miss.
    let hops_dir = out.join("hops");
    let mut hop_lines = String::new();
    for mode in [
        superion::traj::hops::Mode::Sites,
        superion::traj::hops::Mode::Kmeans,
        superion::traj::hops::Mode::Iondiff,
    ] {
        let mut o = superion::traj::hops::HopOptions::new(mode);
        if mode == superion::traj::hops::Mode::Iondiff {
            o.species = vec!["Li".into()];
        }
        let h = superion::traj::hops::detect(&engine, &traj, &o)?;
        let summary = h.summary(&data.join("Li6PS5Cl.XDATCAR.gz"), 0.5, 5.0);
        let d = hops_dir.join(mode.name());
        h.write_outputs(&d, &summary)?;
        let li = &summary.species[0];
        hop_lines.push_str(&format!(
            "- **{} mode**: {} hops on {} of {} Li ions, mean hop length {} Å, mean duration {} ps ([events](hops/{m}/events.csv), [descriptors](hops/{m}/descriptors.json), IonDiff-format [DIFFUSION](hops/{m}/DIFFUSION))\n\n  ![hop raster](hops/{m}/hops.svg)\n\n",
            mode.name(),
            li.events,
            li.hopping_ions,
            li.ions,
            li.hop_length_a.mean.map_or("–".into(), |v| format!("{v:.2}")),
            li.duration_ps.mean.map_or("–".into(), |v| format!("{v:.2}")),
            m = mode.name()
        ));
        if let Some(j) = &h.jumps {
            hop_lines.push_str(&format!(
                "  {} sites discovered from the Li density; jump diffusivity D_jump = {:.3e} cm²/s beside the tracer D: {} ([sites](hops/sites/sites.csv), [sites for VESTA](hops/sites/sites.vasp))\n\n  ![site map](hops/sites/sitemap.svg)\n\n  ![jump types](hops/sites/jump_types.svg)\n\n",
                j.n_sites, j.d_jump_cm2_s, j.consistency
            ));
        }
        if mode == superion::traj::hops::Mode::Kmeans {
            if let Some(e) = h.events.first() {
                hop_lines.push_str(&format!(
                    "  One hopping ion's path, projected (all of them in `hops/kmeans/paths/`):\n\n  ![path](hops/kmeans/paths/ion_{}.svg)\n\n",
                    e.ion
                ));
            }
        }
    }
    let index = format!(
        "# superion demo\n\n## Screening of the bundled phonopy examples\n\nNone of the five bundled Li compounds is a known fast conductor, so Li3NbS4 stands in as the reference to show the ranking (run `superion screen` with the default list on your own data). See [screening/report.md](screening/report.md).\n\n## Li diffusion in Li6PS5Cl (AIMD, 14 ps)\n\nD(Li) = ({:.3} ± {:.3}) × 10⁻⁵ cm²/s, fitted by GLS from {:.2} ps (chosen automatically) to {:.2} ps; {} Li atoms, {} frames of {} ps, framework drift removed.\n\n![MSD](diffusion/msd.svg)\n\nData: `diffusion/msd.csv`.\n\n## Li jumps in Li6PS5Cl\n\nThe default, **sites** mode: Li sites discovered from the Li density in the crystal frame, each Li assigned to a site per frame (radius twice the vibration amplitude, as GEMDAT), a jump is a change of site. For comparison, per-ion clustering of the unwrapped positions (k-means over k = 2..10, silhouette ≥ 0.7) in superion's **kmeans** mode and in IonDiff 1.6's mode: in a fast conductor like this one they find a few per cent of the jumps.\n\n{}",
        fit.d_cm2_s * 1e5,
        fit.d_err_cm2_s * 1e5,
        fit.fit_start_ps,
        fit.fit_end_ps,
        m.n_atoms,
        m.n_frames,
        m.dt_ps,
        hop_lines
    );
    io::write_atomic(&out.join("README.md"), index.as_bytes())?;
    println!("screening report: {}", report.display());
    println!(
        "D(Li) in Li6PS5Cl = {:.4e} ± {:.2e} cm²/s",
        fit.d_cm2_s, fit.d_err_cm2_s
    );
    println!("demo report: {}", out.join("README.md").display());
    Ok(())
}

fn hops_cmd(backend: BackendChoice, a: HopsArgs) -> anyhow::Result<()> {
    use superion::traj::hops;
    let engine = Engine::new(backend)?;
    let t_read = std::time::Instant::now();
    let traj = a.read.read(&a.file)?;
    for n in &traj.notes {
        eprintln!("superion: {n}");
    }
    let read_secs = t_read.elapsed().as_secs_f64();
    let opts = a.hop.options()?;
    let t0 = std::time::Instant::now();
    let h = hops::detect(&engine, &traj, &opts)?;
    let secs = t0.elapsed().as_secs_f64();
    for n in &h.notes {
        eprintln!("superion: {n}");
    }
    let summary = h.summary(&a.file, a.hop.collective_dt_ps, a.hop.collective_dr_a);
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({"summary": summary, "events": h.events})
            )?
        );
    } else {
        println!(
            "{} ions analysed ({} mode), {} hop events, {} sites; read {:.3} s, analysis {:.3} s",
            h.ions.len(),
            opts.mode.name(),
            h.events.len(),
            h.sites.len(),
            read_secs,
            secs
        );
        const MAX_LISTED: usize = 40;
        if h.events.len() > MAX_LISTED {
            println!(
                "(the first {MAX_LISTED} events; all of them with --out (events.csv) or --json)"
            );
        }
        for e in h.events.iter().take(MAX_LISTED) {
            println!(
                "ion {:>4} {:<3} frames {:>4} -> {:>4}  site {:>3} -> {:>3}  {:.2} Å{}",
                e.ion,
                e.species,
                e.start_frame,
                e.end_frame.map_or(-1, |v| v as i64),
                e.from_site,
                e.to_site,
                e.length_a,
                if e.back_hop { "  (back-hop)" } else { "" }
            );
        }
        for d in &summary.species {
            println!(
                "{}: {} of {} ions hop ({:.1} %), {} events, jump rate {:.4} /ion/ps, mean hop {} Å",
                d.species,
                d.hopping_ions,
                d.ions,
                100.0 * d.fraction_hopping,
                d.events,
                d.jump_rate_per_ion_ps,
                d.hop_length_a
                    .mean
                    .map_or("-".into(), |v| format!("{v:.2}"))
            );
        }
        if let Some(j) = &h.jumps {
            println!(
                "sites: {} ({}); radius {} ({:.3}-{:.3} Å); {:.0} % of ion-frames on a site",
                j.n_sites,
                j.site_source,
                j.radius_rule,
                j.radius_min_a,
                j.radius_max_a,
                100.0 * j.on_site_fraction
            );
            for t in &j.types {
                println!(
                    "  jump type {:<22} {:>6} jumps, {:.4} ± {:.4} /ion/ps, D_jump share {:.3e} cm²/s",
                    t.name, t.count, t.rate_per_ion_ps, t.rate_err_per_ion_ps, t.d_jump_cm2_s
                );
            }
            println!(
                "D_jump = {:.4e} cm²/s; tracer D = {}",
                j.d_jump_cm2_s,
                match (j.d_tracer_cm2_s, j.d_tracer_err_cm2_s) {
                    (Some(d), Some(e)) => format!("{d:.4e} ± {e:.2e} cm²/s"),
                    _ => "not determined".into(),
                }
            );
            println!("consistency: {}", j.consistency);
        }
        let multi: usize = summary.collective.counts.iter().skip(1).sum();
        println!(
            "correlations: threshold {:.3}; {} collective event(s) with 2 or more ions (Δt {} ps, Δr {} Å)",
            summary.temporal_correlation.threshold,
            multi,
            a.hop.collective_dt_ps,
            a.hop.collective_dr_a
        );
    }
    if let Some(dir) = a.out {
        let written = h.write_outputs(&dir, &summary)?;
        eprintln!("superion: {} -> {}", written.join(", "), dir.display());
    }
    Ok(())
}

fn correlations_cmd(backend: BackendChoice, a: CorrelationsArgs) -> anyhow::Result<()> {
    use superion::traj::{correlations, hops};
    let engine = Engine::new(backend)?;
    let text = io::read_text(&a.list)?;
    let base = a.list.parent().unwrap_or(std::path::Path::new("."));
    // (path, material, temperature text)
    let mut entries: Vec<(PathBuf, String, String)> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() != 3 {
            return Err(io::parse_err(
                &a.list,
                i + 1,
                format!(
                    "expected three fields, PATH MATERIAL TEMPERATURE, found {}",
                    f.len()
                ),
            )
            .into());
        }
        let mut p = PathBuf::from(f[0]);
        if p.is_relative() {
            p = base.join(p);
        }
        if p.is_dir() {
            p = ["XDATCAR", "XDATCAR.gz"]
                .iter()
                .map(|n| p.join(n))
                .find(|q| q.is_file())
                .ok_or_else(|| {
                    io::parse_err(
                        &a.list,
                        i + 1,
                        format!("{}: no XDATCAR in this folder", f[0]),
                    )
                })?;
        }
        entries.push((p, f[1].to_string(), f[2].to_string()));
    }
    if entries.is_empty() {
        anyhow::bail!("{}: no trajectories listed", a.list.display());
    }
    let opts = a.hop.options()?;
    let bar = superion::progress::bar(entries.len() as u64, "hops and correlations");
    let mut temporal_counts = Vec::new();
    let mut collective_counts = Vec::new();
    let mut rows = Vec::new();
    let mut per = Vec::new();
    for (path, material, temp) in &entries {
        let traj = a.read.read(path)?;
        let h = hops::detect(&engine, &traj, &opts)?;
        let t = correlations::temporal(&h.events, h.n_frames, h.mode, opts.seed);
        let c = correlations::collective(&h, a.hop.collective_dt_ps, a.hop.collective_dr_a);
        for (kind, counts) in [("temporal", &t.counts), ("collective", &c.counts)] {
            for (n, v) in counts.iter().enumerate() {
                rows.push(vec![
                    path.display().to_string(),
                    material.clone(),
                    temp.clone(),
                    kind.to_string(),
                    (n + 1).to_string(),
                    v.to_string(),
                ]);
            }
        }
        per.push(serde_json::json!({
            "path": path.display().to_string(), "material": material, "temperature": temp,
            "events": h.events.len(), "threshold": t.threshold,
            "temporal_counts": t.counts, "collective_counts": c.counts,
        }));
        temporal_counts.push(t.counts);
        collective_counts.push(c.counts);
        bar.inc(1);
    }
    bar.finish_and_clear();
    let (tp, tfit) = correlations::aggregate(&temporal_counts, a.max_bodies);
    let (cp, cfit) = correlations::aggregate(&collective_counts, a.max_bodies);
    let doc = serde_json::json!({
        "list": a.list.display().to_string(), "mode": opts.mode, "trajectories": per,
        "temporal": {"distribution": tp, "fit": tfit, "model": "A + B*exp(-C*n), n >= 2"},
        "collective": {"distribution": cp, "fit": cfit, "dt_ps": a.hop.collective_dt_ps, "dr_a": a.hop.collective_dr_a},
    });
    if a.json {
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        println!("{} trajectories", entries.len());
        println!("{:>6} {:>10} {:>11}", "bodies", "temporal", "collective");
        let n = tp.len().max(cp.len());
        for i in 0..n {
            let f =
                |v: &Vec<(usize, f64)>| v.get(i).map_or("-".to_string(), |p| format!("{:.4}", p.1));
            println!("{:>6} {:>10} {:>11}", i + 2, f(&tp), f(&cp));
        }
        match tfit {
            Some(f) => println!("fit (temporal): {:.4} + {:.4}·exp(−{:.4} n)", f.a, f.b, f.c),
            None => println!("fit (temporal): fewer than 3 points, no fit"),
        }
    }
    if let Some(dir) = a.out {
        std::fs::create_dir_all(&dir)?;
        let header: Vec<String> = ["path", "material", "temperature", "kind", "bodies", "count"]
            .map(String::from)
            .to_vec();
        io::write_csv(&dir.join("correlations.csv"), &header, &rows)?;
        io::write_atomic(
            &dir.join("fit.json"),
            serde_json::to_string_pretty(&doc)?.as_bytes(),
        )?;
        plot::hops::correlation_svg(
            &tp,
            tfit,
            &cp,
            &format!("Correlated hops over {} trajectories", entries.len()),
            &dir.join("correlations.svg"),
        )?;
        eprintln!(
            "superion: correlations.csv, fit.json, correlations.svg -> {}",
            dir.display()
        );
    }
    Ok(())
}

#[derive(clap::Args)]
struct ValidateArgs {
    /// A features table (`phonon features`, or `screen`'s features.csv): id, formula,
    /// unstable and descriptor columns.
    features: PathBuf,
    /// Measured conductivities: OBELiX's CSV as is, or any CSV with a composition or id
    /// column and a conductivity column in S/cm (`<1E-8`: an upper limit).
    #[arg(long)]
    conductivities: PathBuf,
    /// Its composition column (default: "Reduced Composition", "composition", "formula").
    #[arg(long)]
    composition_column: Option<String>,
    /// Its id column, matched against the features' ids (default: "ID", "id", "material_id").
    #[arg(long)]
    id_column: Option<String>,
    /// Its conductivity column (default: the first whose name contains "conductivity").
    #[arg(long)]
    conductivity_column: Option<String>,
    /// A conductor: σ ≥ this (S/cm).
    #[arg(long, default_value_t = 1e-4)]
    threshold: f64,
    /// Cluster labels (`screen`'s labels.csv: id, label) for conductivity by cluster.
    #[arg(long)]
    labels: Option<PathBuf>,
    /// A ranking (`screen`'s candidates.csv, best first) for the top-k enrichment.
    #[arg(long)]
    ranking: Option<PathBuf>,
    #[arg(long, default_value_t = 10)]
    top_k: usize,
    /// Bootstrap resamples for the intervals.
    #[arg(long, default_value_t = 2000)]
    bootstrap: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Write validation.csv, matched.csv, unmatched.csv, validation.json/.md and figures.
    #[arg(long, default_value = "validation")]
    out: PathBuf,
}

fn validate_cmd(a: ValidateArgs) -> anyhow::Result<()> {
    use superion::validate;
    if !(a.threshold > 0.0) {
        anyhow::bail!(
            "--threshold {}: must be a positive conductivity in S/cm",
            a.threshold
        );
    }
    let cols = validate::ColumnNames {
        composition: a.composition_column.clone(),
        id: a.id_column.clone(),
        conductivity: a.conductivity_column.clone(),
    };
    let fs = validate::read_features(&a.features)?;
    let table = validate::read_conductivities(&a.conductivities, &cols)?;
    let labels = a.labels.as_deref().map(validate::read_labels).transpose()?;
    let ranking = a
        .ranking
        .as_deref()
        .map(validate::read_ranking)
        .transpose()?;
    let o = validate::ValidateOptions {
        columns: cols,
        threshold_s_cm: a.threshold,
        bootstrap: a.bootstrap,
        seed: a.seed,
        top_k: a.top_k,
        ..Default::default()
    };
    let v = validate::validate(
        &fs,
        &a.features,
        &table,
        labels.as_ref(),
        ranking.as_deref(),
        &o,
    )?;
    std::fs::create_dir_all(&a.out)?;
    let written = v.write_outputs(&a.out, &fs, &table)?;
    println!("{}", v.markdown());
    eprintln!("superion: {} -> {}", written.join(", "), a.out.display());
    Ok(())
}
