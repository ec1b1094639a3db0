//! Structure descriptors for screening, from the Li sublattice, the site disorder and
//! the anion framework.
//!
//! Li-Li distances are between Li sites (any Li occupancy), periodic images included;
//! in a disordered structure two partially occupied Li sites can be closer than two Li
//! ions ever are, which is itself a mark of a disordered, often fast, Li sublattice.
//! The anion-framework pattern follows Zhang et al., "Unsupervised discovery of
//! solid-state lithium ion conductors", Nat. Commun. 10, 5260 (2019): the diffraction
//! pattern of the anion sublattice alone (every anion the same scatterer), with the
//! cell scaled to a fixed volume per anion so that frameworks of one topology match
//! whatever their anion's size. Here it is the powder-averaged structure factor
//! S(q) = Σ_G |Σ_j exp(i G·r_j)|² / N over the reciprocal vectors G with |G| in each of
//! 16 bins from 1 to 5 Å⁻¹ (20 Å³ per anion), normalised to sum 1 (Zhang et al. used
//! the X-ray pattern over 2θ; the binned S(q) is the same information without
//! wavelength or form factors).

use super::Crystal;
use super::oxidation::Assignment;

/// Volume per anion (Å³) the framework is scaled to before its pattern is taken.
pub(crate) const ANION_VOLUME_A3: f64 = 20.0;
/// Bins of the anion pattern, from `Q_MIN` to `Q_MAX` (Å⁻¹).
pub(crate) const PATTERN_BINS: usize = 16;
const Q_MIN: f64 = 1.0;
const Q_MAX: f64 = 5.0;
/// Li-Li pairs closer than this (Å) enter the mean Li-Li distance.
pub(crate) const LI_LI_SHELL_A: f64 = 4.0;

#[derive(Debug, Clone, serde::Serialize)]
pub struct StructureDescriptors {
    pub id: String,
    pub formula: String,
    /// The anion class: the negative elements, most electronegative first
    /// (`O`, `S`, `O+F`, ...).
    pub anion: String,
    pub n_sites: usize,
    /// Li atoms (occupancy-weighted) over all atoms.
    pub li_fraction: f64,
    pub volume_per_atom_a3: f64,
    pub volume_per_li_a3: f64,
    /// Shortest Li-Li site distance, and the mean over Li sites of each one's nearest.
    pub li_li_min_a: f64,
    pub li_li_nearest_mean_a: f64,
    /// Mean Li-Li distance over pairs within 4 Å (NaN when none).
    pub li_li_shell_mean_a: f64,
    /// Mean number of anions around a Li site within 1.25 × its shortest Li-anion distance.
    pub li_coordination: f64,
    /// Fraction of Li sites that are partially occupied or shared.
    pub li_site_disorder: f64,
    /// Fraction of all sites that are partially occupied or shared.
    pub site_disorder: f64,
    pub anion_pattern: [f64; PATTERN_BINS],
}

/// Distances (Å) from `a` to every periodic image of `b` within `r_max` (fractional
/// coordinates in `lattice`), the zero distance of an atom to itself left out.
fn image_distances(
    lattice: &crate::geom::Mat3,
    a: [f64; 3],
    b: [f64; 3],
    r_max: f64,
    out: &mut Vec<f64>,
) {
    let w = crate::geom::cell_widths(lattice);
    let span: [i64; 3] = std::array::from_fn(|k| (r_max / w[k]).ceil() as i64 + 1);
    let d0: [f64; 3] = std::array::from_fn(|k| {
        let x = b[k] - a[k];
        x - x.round()
    });
    for i in -span[0]..=span[0] {
        for j in -span[1]..=span[1] {
            for k in -span[2]..=span[2] {
                let f = [d0[0] + i as f64, d0[1] + j as f64, d0[2] + k as f64];
                let c = crate::geom::cart_of(f, lattice);
                let d = (c[0] * c[0] + c[1] * c[1] + c[2] * c[2]).sqrt();
                if d <= r_max && d > 1e-6 {
                    out.push(d);
                }
            }
        }
    }
}

/// The descriptors of `c` (anions: the elements with a negative state in `oxi`).
pub fn describe(c: &Crystal, oxi: &Assignment) -> StructureDescriptors {
    let comp = c.composition();
    let n_atoms: f64 = comp.values().sum();
    let n_li = comp.get("Li").copied().unwrap_or(0.0);
    let v = c.volume_a3();
    let is_anion = |e: &str| oxi.states.get(e).is_some_and(|&q| q < 0);
    let mut anions: Vec<&String> = comp.keys().filter(|e| is_anion(e)).collect();
    let en = |e: &str| crate::phonon::composition::electronegativity(e).unwrap_or(0.0);
    anions.sort_by(|a, b| en(b).total_cmp(&en(a)));
    let li_sites: Vec<&super::Site> = c.sites.iter().filter(|s| s.occupancy("Li") > 0.0).collect();
    let anion_sites: Vec<[f64; 3]> = c
        .sites
        .iter()
        .filter(|s| is_anion(s.majority()))
        .map(|s| s.frac)
        .collect();
    // Li-Li distances.
    let mut nearest = Vec::with_capacity(li_sites.len());
    let mut shell = Vec::new();
    let mut buf = Vec::new();
    for a in &li_sites {
        let mut best = f64::INFINITY;
        for b in &li_sites {
            buf.clear();
            image_distances(&c.lattice, a.frac, b.frac, LI_LI_SHELL_A.max(8.0), &mut buf);
            for &d in &buf {
                best = best.min(d);
                if d <= LI_LI_SHELL_A {
                    shell.push(d);
                }
            }
        }
        if best.is_finite() {
            nearest.push(best);
        }
    }
    let mean = |v: &[f64]| {
        if v.is_empty() {
            f64::NAN
        } else {
            v.iter().sum::<f64>() / v.len() as f64
        }
    };
    // Li coordination by anions.
    let mut coordination = Vec::new();
    for a in &li_sites {
        let mut ds = Vec::new();
        for b in &anion_sites {
            image_distances(&c.lattice, a.frac, *b, 4.0, &mut ds);
        }
        if let Some(min) = ds.iter().copied().reduce(f64::min) {
            coordination.push(ds.iter().filter(|&&d| d <= 1.25 * min).count() as f64);
        }
    }
    StructureDescriptors {
        id: c.id.clone(),
        formula: c.formula(),
        anion: anions
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("+"),
        n_sites: c.sites.len(),
        li_fraction: n_li / n_atoms,
        volume_per_atom_a3: v / n_atoms,
        volume_per_li_a3: if n_li > 0.0 { v / n_li } else { f64::NAN },
        li_li_min_a: nearest.iter().copied().reduce(f64::min).unwrap_or(f64::NAN),
        li_li_nearest_mean_a: mean(&nearest),
        li_li_shell_mean_a: mean(&shell),
        li_coordination: mean(&coordination),
        li_site_disorder: if li_sites.is_empty() {
            f64::NAN
        } else {
            li_sites.iter().filter(|s| !s.is_ordered()).count() as f64 / li_sites.len() as f64
        },
        site_disorder: c.sites.iter().filter(|s| !s.is_ordered()).count() as f64
            / c.sites.len() as f64,
        anion_pattern: anion_pattern(&c.lattice, &anion_sites),
    }
}

/// The binned, normalised S(q) of the anion sites (see the module documentation).
pub(crate) fn anion_pattern(
    lattice: &crate::geom::Mat3,
    sites: &[[f64; 3]],
) -> [f64; PATTERN_BINS] {
    let mut out = [0.0; PATTERN_BINS];
    if sites.is_empty() {
        return [f64::NAN; PATTERN_BINS];
    }
    let v = crate::geom::det(lattice).abs();
    let scale = (ANION_VOLUME_A3 * sites.len() as f64 / v).cbrt();
    let l: crate::geom::Mat3 = lattice.map(|r| r.map(|x| x * scale));
    // Reciprocal rows b_i with a_i · b_j = 2π δ_ij.
    let inv = crate::geom::inverse(&l);
    let recip: crate::geom::Mat3 =
        std::array::from_fn(|i| std::array::from_fn(|k| 2.0 * std::f64::consts::PI * inv[k][i]));
    let widths = crate::geom::cell_widths(&recip);
    let h_max: [i64; 3] = std::array::from_fn(|a| (Q_MAX / widths[a]).ceil() as i64);
    let bin = (Q_MAX - Q_MIN) / PATTERN_BINS as f64;
    for h in -h_max[0]..=h_max[0] {
        for k in -h_max[1]..=h_max[1] {
            for m in -h_max[2]..=h_max[2] {
                let g: [f64; 3] = std::array::from_fn(|x| {
                    h as f64 * recip[0][x] + k as f64 * recip[1][x] + m as f64 * recip[2][x]
                });
                let q = (g[0] * g[0] + g[1] * g[1] + g[2] * g[2]).sqrt();
                if !(Q_MIN..Q_MAX).contains(&q) {
                    continue;
                }
                let (mut re, mut im) = (0.0, 0.0);
                for f in sites {
                    let phase = 2.0
                        * std::f64::consts::PI
                        * (h as f64 * f[0] + k as f64 * f[1] + m as f64 * f[2]);
                    re += phase.cos();
                    im += phase.sin();
                }
                out[((q - Q_MIN) / bin) as usize] += (re * re + im * im) / sites.len() as f64;
            }
        }
    }
    let total: f64 = out.iter().sum();
    if total > 0.0 {
        for x in &mut out {
            *x /= total;
        }
    }
    out
}
