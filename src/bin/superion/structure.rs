//! `superion structure features`: descriptors of crystal structures and their Li+ BVSE
//! migration barriers, as a feature table for `validate`, `cluster` and `screen`.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use superion::crystal::bvse::BvseOptions;

use crate::args::finite;
use superion::crystal::features::{self, FeatureOptions};
use superion::{BackendChoice, Engine, io};

#[derive(Subcommand, Debug)]
pub enum StructureCommand {
    /// One row per structure (CIF, POSCAR, pymatgen JSON, PhononDB entry; folders are
    /// searched): Li sublattice geometry, site disorder, anion class, the anion
    /// framework's pattern and the Li+ BVSE percolation barriers E_1D, E_2D, E_3D.
    /// Writes features.csv, bvse.csv, failures.csv (and landscapes as .cube files with
    /// --cube) into --out.
    Features(FeaturesArgs),
}

#[derive(Args, Debug)]
pub struct FeaturesArgs {
    /// Structure files or folders of them.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Output folder.
    #[arg(long, default_value = "structure-features")]
    pub out: PathBuf,
    /// Skip the BVSE landscape (structure descriptors only).
    #[arg(long)]
    pub no_bvse: bool,
    /// BVSE grid spacing in Å (0.02 or more; grids over 2^24 points are refused).
    #[arg(long, default_value_t = 0.2, value_parser = finite)]
    pub spacing: f64,
    /// Grid layout: `fine` (ceil(L/spacing) points per lattice vector) or `bvlain`
    /// (bvlain 0.25.1's floor(L/spacing) - 1 periodic points, for parity).
    #[arg(long, default_value = "fine", value_parser = ["fine", "bvlain"])]
    pub grid: String,
    /// The framework of a disordered structure: `weighted` (every species of every
    /// non-Li site weighted by its occupancy; the default) or `majority` (every site its
    /// majority species at full weight, bvlain's input: use it for parity with bvlain).
    #[arg(long, default_value = "weighted", value_parser = ["weighted", "majority"])]
    pub framework: String,
    /// Neighbour cutoff of the BVSE sums in Å (1 to 30).
    #[arg(long, default_value_t = 10.0, value_parser = finite)]
    pub cutoff: f64,
    /// Write each landscape as OUT/landscapes/ID.cube (eV; for VESTA, VMD, OVITO).
    #[arg(long)]
    pub cube: bool,
}

pub fn run(backend: BackendChoice, cmd: StructureCommand) -> anyhow::Result<()> {
    match cmd {
        StructureCommand::Features(a) => features_cmd(backend, a),
    }
}

fn features_cmd(backend: BackendChoice, a: FeaturesArgs) -> anyhow::Result<()> {
    let bvse = if a.no_bvse {
        None
    } else {
        let b = BvseOptions {
            spacing_a: a.spacing,
            grid: a.grid.parse()?,
            cutoff_a: a.cutoff,
            framework: a.framework.parse()?,
            ..BvseOptions::default()
        };
        b.check()
            .map_err(|e| anyhow::anyhow!("--spacing/--cutoff: {e}"))?;
        Some(b)
    };
    let opts = FeatureOptions {
        bvse,
        keep_landscapes: a.cube,
    };
    let paths = superion::crystal::discover(&a.inputs)?;
    let bundle = superion::io::bundle::Bundle::open(&a.out)?;
    let engine = Engine::new(backend)?;
    let t0 = std::time::Instant::now();
    let (rows, failures) = features::compute(&engine, &paths, &opts);
    let secs = t0.elapsed().as_secs_f64();
    let (h, r) = features::table(&rows);
    io::write_csv(&a.out.join("features.csv"), &h, &r)?;
    let (h, r) = features::bvse_table(&rows);
    io::write_csv(&a.out.join("bvse.csv"), &h, &r)?;
    let fails: Vec<Vec<String>> = failures
        .iter()
        .map(|f| vec![f.source.display().to_string(), f.reason.clone()])
        .collect();
    io::write_csv(
        &a.out.join("failures.csv"),
        &["source".into(), "reason".into()],
        &fails,
    )?;
    if a.cube {
        for row in &rows {
            if let Ok(l) = &row.bvse {
                io::cube::write(
                    &a.out.join("landscapes").join(format!("{}.cube", l.id)),
                    &format!(
                        "superion Li+ BVSE landscape of {} ({})",
                        l.id, row.descriptors.formula
                    ),
                    &l.lattice,
                    l.n,
                    &l.atoms
                        .iter()
                        .map(|(e, f)| {
                            (
                                superion::crystal::oxidation::elements()
                                    .get(e)
                                    .map_or(0, |d| d.z),
                                *f,
                            )
                        })
                        .collect::<Vec<_>>(),
                    &l.energies_ev,
                )?;
            }
        }
    }
    bundle.commit("structure features")?;
    let with_bvse = rows.iter().filter(|r| r.bvse.is_ok()).count();
    let unbalanced = rows.iter().filter(|r| !r.oxidation.balanced).count();
    println!(
        "{} structures in {:.1} s ({}): {} with BVSE barriers, {} without (see bvse.csv), {} unreadable (failures.csv); {} with oxidation states that do not balance within 5 %",
        rows.len(),
        secs,
        engine.describe(),
        with_bvse,
        rows.len() - with_bvse,
        failures.len(),
        unbalanced
    );
    println!(
        "wrote {}/features.csv, bvse.csv, failures.csv{}",
        a.out.display(),
        if a.cube { ", landscapes/*.cube" } else { "" }
    );
    Ok(())
}
