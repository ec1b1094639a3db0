//! Step 1 with known sites: a CIF/POSCAR/XYZ's sites of one species, replicated by a
//! supercell and checked against the trajectory's cell.

use super::types::{KnownSites, SiteDef};
use crate::error::Result;
use crate::invalid;

use super::frac::{norm, wrap};

/// The known sites of `species`, replicated by `supercell`, as fractional positions of
/// the replicated cell; with the replicated lattice (rows, Å).
pub(crate) fn select_sites(
    known: &KnownSites,
    species: &str,
    supercell: [usize; 3],
) -> Result<(Vec<SiteDef>, [[f64; 3]; 3], Vec<String>)> {
    let mut notes = known.notes.clone();
    let lattice = known.lattice;
    let mut raw: Vec<(String, String, [f64; 3], f64)> = known
        .sites
        .iter()
        .map(|s| (s.label.clone(), s.element.clone(), s.frac, s.occupancy))
        .collect();
    let present: Vec<String> = {
        let mut v: Vec<String> = raw.iter().map(|r| r.1.clone()).collect();
        v.sort();
        v.dedup();
        v
    };
    raw.retain(|r| r.1 == species);
    if raw.is_empty() {
        return Err(invalid!(
            "{}: no {species} sites (elements here: {})",
            known.source,
            present.join(", ")
        ));
    }
    let partial = raw.iter().filter(|r| r.3 < 1.0).count();
    if partial > 0 {
        notes.push(format!(
            "{}: {partial} {species} sites are partially occupied; each is kept as a site",
            known.source
        ));
    }
    if supercell.iter().any(|&f| f == 0 || f > 100)
        || supercell.iter().product::<usize>() * raw.len().max(1) > 1_000_000
    {
        return Err(invalid!(
            "option supercell {supercell:?}: every factor must be 1 to 100, and the replicated sites at most 1000000 ({} sites in the cell)",
            raw.len()
        ));
    }
    let mut sites = Vec::new();
    for i in 0..supercell[0] {
        for j in 0..supercell[1] {
            for k in 0..supercell[2] {
                for r in &raw {
                    let f = [
                        (r.2[0] - r.2[0].floor() + i as f64) / supercell[0] as f64,
                        (r.2[1] - r.2[1].floor() + j as f64) / supercell[1] as f64,
                        (r.2[2] - r.2[2].floor() + k as f64) / supercell[2] as f64,
                    ];
                    sites.push(SiteDef {
                        label: r.0.clone(),
                        frac: wrap(f),
                        enrichment: None,
                    });
                }
            }
        }
    }
    let lat: [[f64; 3]; 3] =
        std::array::from_fn(|i| std::array::from_fn(|x| lattice[i][x] * supercell[i] as f64));
    Ok((sites, lat, notes))
}

/// Compare the known sites' lattice with the trajectory's: lengths within 10 % (a
/// database structure vs a relaxed or thermally expanded MD cell), else an error that
/// suggests the supercell.
pub(crate) fn check_lattice(
    sites_lat: &[[f64; 3]; 3],
    cell: &[[f64; 3]; 3],
    source: &str,
    supercell: [usize; 3],
    notes: &mut Vec<String>,
) -> Result<()> {
    let l = |m: &[[f64; 3]; 3], i: usize| norm(m[i]);
    let mut worst: f64 = 0.0;
    for i in 0..3 {
        let r = l(cell, i) / l(sites_lat, i);
        if !(0.9..=1.1).contains(&r) {
            let hint: Vec<String> = (0..3)
                .map(|k| {
                    let base = l(sites_lat, k) / supercell[k] as f64;
                    format!("{}", (l(cell, k) / base).round().max(1.0))
                })
                .collect();
            return Err(invalid!(
                "{}: the sites' cell ({:.3} {:.3} {:.3} Å with option supercell {} {} {}) does not match the trajectory's ({:.3} {:.3} {:.3} Å); try option supercell {}",
                source,
                l(sites_lat, 0),
                l(sites_lat, 1),
                l(sites_lat, 2),
                supercell[0],
                supercell[1],
                supercell[2],
                l(cell, 0),
                l(cell, 1),
                l(cell, 2),
                hint.join(" ")
            ));
        }
        worst = worst.max((r - 1.0).abs());
    }
    notes.push(format!(
        "sites mapped onto the trajectory's cell by fractional coordinates (cell lengths differ by up to {:.1} %)",
        100.0 * worst
    ));
    Ok(())
}
