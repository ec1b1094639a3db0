//! The Li+ bond-valence site energy (BVSE) landscape and its migration barriers.
//!
//! The energy of a Li+ probe at a point r of the framework (every Li removed) is
//!
//!   E(r) = Σ_anions  D0/2 [(exp(α (R_min − |r − r_j|)) − 1)² − 1]
//!        + Σ_cations 14.4 q_j / sqrt(n_Li n_j) · erfc(|r − r_j| / (f (rc_Li + rc_j))) / |r − r_j|
//!
//! (eV, Å): Morse-type bond-valence terms to the anions with the softBV parameters of
//! Chen & Adams (Acta Cryst. B 73, 2017; Chen, Wong & Adams, Acta Cryst. B 75, 2019),
//! and screened Coulomb repulsion from the cations with principal quantum numbers n,
//! covalent radii rc (ASE's table) and screening factor f = 0.74, summed over every
//! atom within the cutoff (10 Å). These are bvlain 0.25.1's formulas and defaults
//! (`data/bvse/`, taken from its package data, MIT); bvlain keeps only the 100 nearest
//! atoms within the cutoff, which changes no barrier at its 0.01 eV resolution on the
//! structures tried (see BENCHMARKS.md). The grid is evaluated by the engine
//! (`shaders/bvse.wgsl` and its CPU twin); percolation barriers come from
//! [`super::percolation`].

use std::collections::BTreeMap;
use std::sync::OnceLock;

use super::Crystal;
use super::oxidation::{self, Assignment};
use super::percolation::{self, Barriers};
use crate::compute::Engine;
use crate::compute::batch::{EnergyGrid, GRID_BLOCK, GridAtom};
use crate::error::{Error, Result};

const ANIONS_CSV: &str = include_str!("../../data/bvse/li1+_anions.csv");

/// softBV Morse parameters of Li+ with one anion.
#[derive(Debug, Clone, Copy)]
pub struct MorseParams {
    pub r_min_a: f64,
    pub alpha_per_a: f64,
    pub d0_ev: f64,
}

/// Li+ with each anion (element, charge) softBV knows.
pub(crate) fn li_anion_params() -> &'static BTreeMap<(String, i32), MorseParams> {
    static T: OnceLock<BTreeMap<(String, i32), MorseParams>> = OnceLock::new();
    T.get_or_init(|| {
        ANIONS_CSV
            .lines()
            .skip(1)
            .map(|l| {
                let f: Vec<&str> = l.split(',').collect();
                let num = |i: usize| f[i].parse::<f64>().expect("li1+_anions.csv");
                (
                    (f[0].to_string(), f[2].parse().expect("li1+_anions.csv")),
                    MorseParams {
                        r_min_a: num(3),
                        alpha_per_a: num(4),
                        d0_ev: num(5),
                    },
                )
            })
            .collect()
    })
}

/// How the grid is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GridRule {
    /// ceil(L / spacing) points along a lattice vector of length L: spacing at most the
    /// one asked for.
    Fine,
    /// bvlain's: floor(L / spacing) points from 0 to 1 inclusive, i.e. floor(L /
    /// spacing) − 1 distinct periodic points (spacing slightly above the one asked
    /// for). For parity with bvlain.
    Bvlain,
}

/// Which framework a disordered structure's landscape is computed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Framework {
    /// Every site takes its majority species at full weight (bvlain's input, which
    /// needs an ordered structure). A site's vacancy is not a species here: an In 0.07
    /// site (Li3InCl6, OBELiX `de5`) becomes a full In3+ that blocks the Li paths
    /// around it. For parity with bvlain.
    Majority,
    /// Every species of every framework site contributes its terms weighted by its
    /// occupancy (a mean-field, virtual-crystal framework): an A site of La 0.56 in a
    /// perovskite repels Li+ with 56 % of a La3+, not 100 %. Sites whose majority is Li
    /// are Li sites and, as under the majority rule, add nothing (a Ga 0.1 dopant on a
    /// garnet's Li site is not smeared over every Li site). Ordered structures are the
    /// same under both rules. The default: OBELiX's training entries cannot tell the
    /// two apart (E_3D's training AUC 0.710 against 0.711), the Laskowski table
    /// prefers it (0.806 against 0.787), and it does not invent blockers.
    Weighted,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct BvseOptions {
    pub framework: Framework,
    /// Target grid spacing (Å).
    pub spacing_a: f64,
    pub grid: GridRule,
    pub cutoff_a: f64,
    /// Coulomb screening factor f.
    pub screening: f64,
    /// Barriers above this energy (eV above the minimum) are "no percolation".
    pub encut_ev: f64,
}

impl Default for BvseOptions {
    fn default() -> Self {
        BvseOptions {
            framework: Framework::Weighted,
            spacing_a: 0.2,
            grid: GridRule::Fine,
            cutoff_a: 10.0,
            screening: 0.74,
            encut_ev: 10.0,
        }
    }
}

impl std::str::FromStr for GridRule {
    type Err = Error;
    fn from_str(s: &str) -> Result<GridRule> {
        match s {
            "fine" => Ok(GridRule::Fine),
            "bvlain" => Ok(GridRule::Bvlain),
            _ => Err(Error::InvalidInput(format!(
                "grid rule {s:?}: expected \"fine\" or \"bvlain\""
            ))),
        }
    }
}

impl std::str::FromStr for Framework {
    type Err = Error;
    fn from_str(s: &str) -> Result<Framework> {
        match s {
            "majority" => Ok(Framework::Majority),
            "weighted" => Ok(Framework::Weighted),
            _ => Err(Error::InvalidInput(format!(
                "framework {s:?}: expected \"majority\" or \"weighted\""
            ))),
        }
    }
}

impl BvseOptions {
    /// The options' ranges, checked once for every front end: a spacing of at least
    /// 0.02 Å, a cutoff in (1, 30] Å, a screening factor in (0, 1], an energy cutoff
    /// above 0 eV, all finite.
    pub fn check(&self) -> Result<()> {
        let bad = |what: &str, v: f64, want: &str| {
            Err(Error::InvalidInput(format!(
                "{what} {}: expected {want}",
                crate::traj::fmt_number(v)
            )))
        };
        if !(self.spacing_a.is_finite() && (0.02..=1.0).contains(&self.spacing_a)) {
            // Coarser than 1 Å, a grid cannot resolve a Li site or a bottleneck.
            return bad("grid spacing", self.spacing_a, "0.02 to 1 Å");
        }
        if !(self.cutoff_a.is_finite() && self.cutoff_a > 1.0 && self.cutoff_a <= 30.0) {
            return bad("cutoff", self.cutoff_a, "a value in (1, 30] Å");
        }
        if !(self.screening.is_finite() && self.screening > 0.0 && self.screening <= 1.0) {
            return bad("screening factor", self.screening, "a value in (0, 1]");
        }
        if !(self.encut_ev.is_finite() && self.encut_ev > 0.0) {
            return bad("energy cutoff", self.encut_ev, "a positive energy in eV");
        }
        Ok(())
    }
}

/// Grid points per axis: at least 4 each, at most 2^24 in all.
pub(crate) const MAX_GRID_POINTS: usize = 1 << 24;

/// A computed landscape and what was assumed to get it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Landscape {
    pub id: String,
    pub n: [usize; 3],
    #[serde(skip)]
    pub energies_ev: Vec<f32>,
    pub oxidation: Assignment,
    pub ordering: super::Ordering,
    pub framework_atoms: usize,
    pub barriers: Barriers,
    pub notes: Vec<String>,
    /// Lattice rows (Å) and the ordered framework, for the cube file.
    #[serde(skip)]
    pub lattice: crate::geom::Mat3,
    #[serde(skip)]
    pub atoms: Vec<(String, [f64; 3])>,
}

/// Grid points per axis for `lattice` under `o`.
pub(crate) fn grid_shape(lattice: &crate::geom::Mat3, o: &BvseOptions) -> Result<[usize; 3]> {
    o.check()?;
    let n: [usize; 3] = std::array::from_fn(|a| {
        let l = (0..3)
            .map(|k| lattice[a][k] * lattice[a][k])
            .sum::<f64>()
            .sqrt();
        match o.grid {
            GridRule::Fine => (l / o.spacing_a).ceil() as usize,
            GridRule::Bvlain => ((l / o.spacing_a).floor() as usize).saturating_sub(1),
        }
        .max(4)
    });
    let total = n.iter().try_fold(1usize, |a, &x| a.checked_mul(x));
    if total.is_none_or(|t| t > MAX_GRID_POINTS) {
        return Err(Error::InvalidInput(format!(
            "a grid of {}x{}x{} points at {} Å is over the limit of {MAX_GRID_POINTS} points; use a coarser spacing",
            n[0], n[1], n[2], o.spacing_a
        )));
    }
    Ok(n)
}

/// The framework's terms: every non-Li atom of the ordered structure with its pair
/// potential to a Li+ probe (errors name the element without softBV parameters).
fn framework_terms(
    atoms: &[(String, [f64; 3], f64)],
    oxi: &Assignment,
    o: &BvseOptions,
) -> Result<Vec<([f64; 3], GridAtom)>> {
    let table = oxidation::elements();
    let li = &table["Li"];
    let params = li_anion_params();
    let mut out = Vec::new();
    for (el, frac, weight) in atoms {
        if el == "Li" {
            continue;
        }
        let w = *weight as f32;
        let q = *oxi
            .states
            .get(el)
            .ok_or_else(|| Error::InvalidInput(format!("no oxidation state for {el}")))?;
        let term = if q < 0 {
            let p = params.get(&(el.clone(), q)).ok_or_else(|| {
                Error::InvalidInput(format!(
                    "no softBV parameters for Li+ with {el}{q:+} (known anions: N-3, O-2, F-1, S-2, Cl-1, Se-2, Br-1, Te-2, I-1)"
                ))
            })?;
            GridAtom {
                pos: [0.0; 3],
                kind: 0,
                a: p.r_min_a as f32,
                b: p.alpha_per_a as f32,
                c: w * p.d0_ev as f32,
                _pad: 0.0,
            }
        } else if q > 0 {
            let d = table
                .get(el)
                .ok_or_else(|| Error::InvalidInput(format!("no covalent radius for {el}")))?;
            GridAtom {
                pos: [0.0; 3],
                kind: 1,
                a: w * (14.4 * q as f64 / ((li.principal_n * d.principal_n) as f64).sqrt()) as f32,
                b: (1.0 / (o.screening * (li.covalent_radius_a + d.covalent_radius_a))) as f32,
                c: 0.0,
                _pad: 0.0,
            }
        } else {
            continue;
        };
        out.push((*frac, term));
    }
    Ok(out)
}

/// The engine's input for `atoms` (fractional) in `lattice`: periodic images within the
/// cutoff of the cell, and each block's candidates.
pub fn energy_grid(
    lattice: &crate::geom::Mat3,
    n: [usize; 3],
    terms: &[([f64; 3], GridAtom)],
    cutoff_a: f64,
) -> EnergyGrid {
    let widths = crate::geom::cell_widths(lattice);
    let reach: [f64; 3] = std::array::from_fn(|a| cutoff_a / widths[a]);
    let span: [i64; 3] = std::array::from_fn(|a| reach[a].ceil() as i64 + 1);
    let mut atoms = Vec::new();
    let mut cart = Vec::new();
    for (frac, t) in terms {
        for i in -span[0]..=span[0] {
            for j in -span[1]..=span[1] {
                for k in -span[2]..=span[2] {
                    let f = [frac[0] + i as f64, frac[1] + j as f64, frac[2] + k as f64];
                    if (0..3).all(|a| f[a] >= -reach[a] && f[a] <= 1.0 + reach[a]) {
                        let c = crate::geom::cart_of(f, lattice);
                        let mut g = *t;
                        g.pos = c.map(|x| x as f32);
                        atoms.push(g);
                        cart.push(c);
                    }
                }
            }
        }
    }
    let blocks = n.map(|x| x.div_ceil(GRID_BLOCK));
    let mut starts = Vec::with_capacity(blocks.iter().product::<usize>() + 1);
    let mut candidates = Vec::new();
    starts.push(0u32);
    let pos = |idx: [f64; 3]| {
        crate::geom::cart_of(std::array::from_fn(|a| idx[a] / n[a] as f64), lattice)
    };
    for bi in 0..blocks[0] {
        for bj in 0..blocks[1] {
            for bk in 0..blocks[2] {
                let lo = [bi, bj, bk].map(|b| (b * GRID_BLOCK) as f64);
                let hi: [f64; 3] = std::array::from_fn(|a| {
                    (([bi, bj, bk][a] * GRID_BLOCK + GRID_BLOCK).min(n[a]) - 1) as f64
                });
                let centre = pos(std::array::from_fn(|a| 0.5 * (lo[a] + hi[a])));
                let mut radius: f64 = 0.0;
                for corner in 0..8 {
                    let c = pos(std::array::from_fn(|a| {
                        if corner >> a & 1 == 1 { hi[a] } else { lo[a] }
                    }));
                    let d = (0..3)
                        .map(|k| (c[k] - centre[k]).powi(2))
                        .sum::<f64>()
                        .sqrt();
                    radius = radius.max(d);
                }
                // Slack for the f32 positions the kernels compute with.
                let r = cutoff_a + radius + 1e-3;
                let r2 = r * r;
                for (idx, c) in cart.iter().enumerate() {
                    let d2 = (0..3).map(|k| (c[k] - centre[k]).powi(2)).sum::<f64>();
                    if d2 < r2 {
                        candidates.push(idx as u32);
                    }
                }
                starts.push(candidates.len() as u32);
            }
        }
    }
    EnergyGrid {
        lattice: lattice.map(|r| r.map(|x| x as f32)),
        n,
        cutoff_a: cutoff_a as f32,
        atoms,
        starts,
        candidates,
    }
}

/// The engine's input for `crystal`'s Li+ landscape under `o`: the framework's terms
/// (every Li removed; see [`Framework`]) on the grid, with the oxidation states, the
/// ordering, the count of framework terms and notes.
pub fn framework_grid(
    crystal: &Crystal,
    o: &BvseOptions,
) -> Result<(EnergyGrid, Assignment, super::Ordering, usize, Vec<String>)> {
    if !(o.cutoff_a.is_finite() && o.cutoff_a > 1.0 && o.cutoff_a <= 30.0) {
        return Err(Error::InvalidInput(format!(
            "BVSE cutoff {} Å: expected a value in (1, 30]",
            o.cutoff_a
        )));
    }
    if !(o.screening.is_finite() && o.screening > 0.0)
        || !(o.encut_ev.is_finite() && o.encut_ev > 0.0)
    {
        return Err(Error::InvalidInput(
            "BVSE screening factor and energy cut must be positive".into(),
        ));
    }
    let (atoms, ordering) = crystal.ordered();
    let oxi = crystal.oxidation_states()?;
    let mut notes = Vec::new();
    if !atoms.iter().any(|(e, _)| e == "Li") {
        // LLTO-type CIFs list no Li site (Li shares the A site with La); the framework's
        // landscape is still the one Li+ moves in.
        notes.push("no Li site in the ordered structure (Li is a minority on shared sites, or absent): the landscape is the framework's".to_string());
    }
    let weighted: Vec<(String, [f64; 3], f64)> = match o.framework {
        Framework::Majority => atoms.iter().map(|(e, f)| (e.clone(), *f, 1.0)).collect(),
        Framework::Weighted => crystal
            .sites
            .iter()
            .filter(|s| s.majority() != "Li")
            .flat_map(|s| {
                s.species
                    .iter()
                    .map(move |(e, occ)| (e.clone(), s.frac, *occ))
            })
            .collect(),
    };
    let terms = framework_terms(&weighted, &oxi, o)?;
    if !terms.iter().any(|(_, t)| t.kind == 0) {
        return Err(Error::InvalidInput(format!(
            "{}: no anion in the framework ({}): nothing binds Li+",
            crystal.id,
            oxi.label()
        )));
    }
    let n = grid_shape(&crystal.lattice, o)?;
    let grid = energy_grid(&crystal.lattice, n, &terms, o.cutoff_a);
    Ok((grid, oxi, ordering, terms.len(), notes))
}

/// The Li+ BVSE landscape of `crystal` and its percolation barriers.
pub fn landscape(engine: &Engine, crystal: &Crystal, o: &BvseOptions) -> Result<Landscape> {
    let (grid, oxi, ordering, framework_atoms, notes) = framework_grid(crystal, o)?;
    let n = grid.n;
    let (atoms, _) = crystal.ordered();
    let energies = engine.site_energies(&grid)?;
    let barriers = percolation::barriers(n, &energies, o.encut_ev);
    Ok(Landscape {
        id: crystal.id.clone(),
        n,
        energies_ev: energies,
        oxidation: oxi,
        ordering,
        framework_atoms,
        barriers,
        notes,
        lattice: crystal.lattice,
        atoms,
    })
}
