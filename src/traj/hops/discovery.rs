//! Site discovery: the density of the mobile species in the crystal frame on a
//! periodic grid, smoothed with a Gaussian of the cell's own metric; sites at its
//! maxima by topological persistence (maxima joined across a saddle that stays above a
//! stated fraction of the lower one, when close enough), positioned at the mean of
//! their core, optionally symmetrised with the framework's space group; and the
//! density basins that own each position.

use super::frac::{NONE, dot_frac, frac_delta, norm, wrap};
use super::types::{SiteDef, SiteOptions};
use crate::error::Result;
use crate::invalid;
use crate::traj::Trajectory;

/// The density of the mobile species in the crystal frame: a histogram of wrapped
/// fractional positions on a periodic grid over the first frame's cell, filled frame
/// by frame (in memory or as a trajectory streams past).
pub(crate) struct Density {
    cell: [[f64; 3]; 3],
    n: [usize; 3],
    hist: Vec<f64>,
    total: f64,
}

impl Density {
    /// An empty histogram over `cell` with the grid of `opts`.
    pub(crate) fn new(cell: &[[f64; 3]; 3], opts: &SiteOptions) -> Result<Density> {
        if !(opts.grid_a > 0.0 && opts.smoothing_a > 0.0 && opts.merge_a >= 0.0) {
            return Err(invalid!(
                "site discovery: the density grid and its smoothing must be positive and the merge distance not negative"
            ));
        }
        if !(opts.join_a >= 0.0 && opts.join_a <= 10.0) {
            return Err(invalid!(
                "option join_a {}: expected a distance from 0 to 10 Å",
                opts.join_a
            ));
        }
        if !(0.0..=1.0).contains(&opts.saddle_fraction) {
            return Err(invalid!(
                "option saddle_fraction {}: expected a fraction from 0 to 1",
                opts.saddle_fraction
            ));
        }
        let lens = [norm(cell[0]), norm(cell[1]), norm(cell[2])];
        let n: [usize; 3] =
            std::array::from_fn(|i| ((lens[i] / opts.grid_a).round() as usize).clamp(8, 400));
        Ok(Density {
            cell: *cell,
            n,
            hist: vec![0.0; n[0] * n[1] * n[2]],
            total: 0.0,
        })
    }

    /// Count one fractional position (any image).
    #[inline]
    pub(crate) fn add(&mut self, frac: [f32; 3]) {
        let n = self.n;
        let p: [usize; 3] = std::array::from_fn(|x| {
            let v = frac[x] as f64;
            let v = v - v.floor();
            ((v * n[x] as f64) as usize).min(n[x] - 1)
        });
        self.hist[(p[0] * n[1] + p[1]) * n[2] + p[2]] += 1.0;
        self.total += 1.0;
    }
}

/// Discover the sites of the atoms `atoms` from their density in the crystal frame
/// (every frame counted).
pub fn discover_sites(
    traj: &Trajectory,
    atoms: &[usize],
    species: &str,
    opts: &SiteOptions,
) -> Result<Vec<SiteDef>> {
    let mut density = Density::new(&traj.cell_rows(0), opts)?;
    for f in 0..traj.n_frames() {
        for &a in atoms {
            density.add(std::array::from_fn(|x| traj.frac[[f, a, x]]));
        }
    }
    Ok(sites_from_density(&density, species, opts, &traj.source)?.0)
}

/// The sites at the maxima of the smoothed density.
pub(crate) fn sites_from_density(
    density: &Density,
    species: &str,
    opts: &SiteOptions,
    source: &std::path::Path,
) -> Result<(Vec<SiteDef>, usize, Basins)> {
    let cell = density.cell;
    let w = crate::geom::cell_widths(&cell);
    let n = density.n;
    let nv = n[0] * n[1] * n[2];
    let idx = |i: usize, j: usize, k: usize| (i * n[1] + j) * n[2] + k;
    let (hist, total) = (&density.hist, density.total);
    // Separable periodic Gaussian smoothing, σ in voxels along each axis (from the
    // perpendicular width, the cell's own metric).
    let mut rho = hist.clone();
    for axis in 0..3 {
        let sigma = opts.smoothing_a / w[axis] * n[axis] as f64;
        let half = (3.0 * sigma).ceil() as isize;
        let kernel: Vec<f64> = (-half..=half)
            .map(|d| (-(d as f64).powi(2) / (2.0 * sigma * sigma)).exp())
            .collect();
        let ksum: f64 = kernel.iter().sum();
        let mut out = vec![0.0; nv];
        let na = n[axis] as isize;
        for i in 0..n[0] {
            for j in 0..n[1] {
                for k in 0..n[2] {
                    let mut acc = 0.0;
                    for (q, kv) in kernel.iter().enumerate() {
                        let d = q as isize - half;
                        let mut c = [i as isize, j as isize, k as isize];
                        c[axis] = (c[axis] + d).rem_euclid(na);
                        acc += kv * rho[idx(c[0] as usize, c[1] as usize, c[2] as usize)];
                    }
                    out[idx(i, j, k)] = acc / ksum;
                }
            }
        }
        rho = out;
    }
    let mean = total / nv as f64;
    let (maxima, joined, roots) = persistent_maxima(
        &rho,
        hist,
        n,
        &cell,
        opts.saddle_fraction,
        opts.join_a,
        opts.min_enrichment * mean,
    );
    let mut sites: Vec<SiteDef> = Vec::new();
    // The site each basin's root belongs to (a maximum merged by distance belongs to
    // the site that took it).
    let mut site_of_root: std::collections::HashMap<u32, u32> = Default::default();
    for (v, f, peak) in maxima {
        if let Some(k) = sites
            .iter()
            .position(|s| norm(frac_delta(s.frac, f, &cell)) < opts.merge_a)
        {
            site_of_root.insert(peak as u32, k as u32);
            continue;
        }
        site_of_root.insert(peak as u32, sites.len() as u32);
        sites.push(SiteDef {
            label: species.to_string(),
            frac: f,
            enrichment: Some(v / mean),
        });
    }
    let basins = Basins {
        n,
        site: roots
            .iter()
            .map(|r| site_of_root.get(r).copied().unwrap_or(NONE))
            .collect(),
    };
    if sites.is_empty() {
        return Err(invalid!(
            "{}: no {species} density maximum reaches {} times the mean density; lower option min_enrichment or give known sites with option sites",
            source.display(),
            opts.min_enrichment
        ));
    }
    Ok((sites, joined, basins))
}

/// Which discovered site's density basin each voxel of the discovery grid lies in
/// (`NONE`: in none, below the lowest saddle considered).
pub(crate) struct Basins {
    n: [usize; 3],
    site: Vec<u32>,
}

impl Basins {
    /// The site whose basin holds the fractional position `p` (any image).
    pub(crate) fn site_at(&self, p: [f64; 3]) -> Option<u32> {
        let n = self.n;
        let c: [usize; 3] = std::array::from_fn(|x| {
            let v = p[x] - p[x].floor();
            ((v * n[x] as f64) as usize).min(n[x] - 1)
        });
        let s = self.site[(c[0] * n[1] + c[1]) * n[2] + c[2]];
        (s != NONE).then_some(s)
    }
}

/// The sites of a smoothed density `rho` on a periodic grid `n` over `cell`, by
/// topological persistence: voxels are taken in decreasing density, each joining the
/// basin of its highest neighbouring peak (26 neighbours); where two basins meet at a
/// saddle at least `saddle_fraction` of the lower peak and their peaks are at most
/// `join_a` apart, the lower basin is part of the higher one's site (no real barrier
/// between them, and too close for two ions to hold both at once: one site with two
/// humps, not two sites a ripple apart); otherwise they stay two sites.
/// A site's position is the mean of the positions counted (`counts`, the unsmoothed
/// histogram), by minimum image, in its basin's voxels above `saddle_fraction` of its
/// peak and within [`CORE_REACH_A`] of it.
/// Returns the sites whose peak reaches `floor` (peak density and fractional position,
/// highest first) and how many lower maxima were joined to them.
#[allow(clippy::too_many_arguments)]
fn persistent_maxima(
    rho: &[f64],
    counts: &[f64],
    n: [usize; 3],
    cell: &[[f64; 3]; 3],
    saddle_fraction: f64,
    join_a: f64,
    floor: f64,
) -> (Vec<(f64, [f64; 3], usize)>, usize, Vec<u32>) {
    let nv = rho.len();
    let idx = |c: [usize; 3]| (c[0] * n[1] + c[1]) * n[2] + c[2];
    let coord = |v: usize| [v / (n[1] * n[2]), (v / n[2]) % n[1], v % n[2]];
    // Below `saddle_fraction × floor` no saddle can join two sites that count.
    let level = saddle_fraction * floor;
    let mut order: Vec<usize> = (0..nv).filter(|&v| rho[v] >= level).collect();
    order.sort_by(|&a, &b| rho[b].total_cmp(&rho[a]).then(a.cmp(&b)));
    const UNSEEN: u32 = u32::MAX;
    let mut basins = crate::geom::UnionFind::absent(nv);
    let peak_gap = |a: usize, b: usize| {
        let (ca, cb) = (coord(a), coord(b));
        let d: [f64; 3] = std::array::from_fn(|x| {
            let v = (cb[x] as f64 - ca[x] as f64) / n[x] as f64;
            v - v.round()
        });
        norm(crate::geom::minimum_image(dot_frac(d, cell), cell))
    };
    // A basin's root is its peak voxel (the first voxel of the basin taken).
    let mut maxima = 0usize;
    let mut roots: Vec<usize> = Vec::with_capacity(26);
    for &v in &order {
        let c = coord(v);
        roots.clear();
        for di in -1isize..=1 {
            for dj in -1isize..=1 {
                for dk in -1isize..=1 {
                    if di == 0 && dj == 0 && dk == 0 {
                        continue;
                    }
                    let o = idx([
                        (c[0] as isize + di).rem_euclid(n[0] as isize) as usize,
                        (c[1] as isize + dj).rem_euclid(n[1] as isize) as usize,
                        (c[2] as isize + dk).rem_euclid(n[2] as isize) as usize,
                    ]);
                    if basins.contains(o) {
                        let r = basins.find(o);
                        if !roots.contains(&r) {
                            roots.push(r);
                        }
                    }
                }
            }
        }
        let Some(&top) = roots
            .iter()
            .min_by(|&&a, &&b| rho[b].total_cmp(&rho[a]).then(a.cmp(&b)))
        else {
            basins.insert(v);
            maxima += 1;
            continue;
        };
        basins.attach(v, top);
        for &r in &roots {
            if r != top && rho[v] >= saddle_fraction * rho[r] && peak_gap(r, top) <= join_a {
                basins.attach(r, top);
            }
        }
    }
    let peaks: Vec<usize> = order
        .iter()
        .copied()
        .filter(|&v| basins.is_root(v) && rho[v] >= floor)
        .collect();
    let counted = order.iter().filter(|&&v| basins.is_root(v)).count();
    let joined = maxima - counted;
    // Each site's core: its basin's voxels near the peak and above the saddle level.
    let w = crate::geom::cell_widths(cell);
    let reach: [isize; 3] =
        std::array::from_fn(|x| (CORE_REACH_A / w[x] * n[x] as f64).ceil() as isize);
    let out = peaks
        .into_iter()
        .map(|p| {
            let c = coord(p);
            let f0: [f64; 3] = std::array::from_fn(|x| (c[x] as f64 + 0.5) / n[x] as f64);
            let mut acc = [0.0; 3];
            let mut wsum = 0.0;
            for di in -reach[0]..=reach[0] {
                for dj in -reach[1]..=reach[1] {
                    for dk in -reach[2]..=reach[2] {
                        let g = [c[0] as isize + di, c[1] as isize + dj, c[2] as isize + dk];
                        let dfrac: [f64; 3] =
                            std::array::from_fn(|x| (g[x] - c[x] as isize) as f64 / n[x] as f64);
                        if norm(dot_frac(dfrac, cell)) > CORE_REACH_A {
                            continue;
                        }
                        let o = idx(std::array::from_fn(|x| {
                            g[x].rem_euclid(n[x] as isize) as usize
                        }));
                        if !basins.contains(o)
                            || rho[o] < saddle_fraction * rho[p]
                            || basins.find(o) != p
                        {
                            continue;
                        }
                        for x in 0..3 {
                            acc[x] += counts[o] * dfrac[x];
                        }
                        wsum += counts[o];
                    }
                }
            }
            let f = if wsum > 0.0 {
                wrap(std::array::from_fn(|x| f0[x] + acc[x] / wsum))
            } else {
                f0
            };
            (rho[p], f, p)
        })
        .collect();
    // Every voxel taken, labelled with its basin's root.
    let roots: Vec<u32> = (0..nv)
        .map(|v| {
            if basins.contains(v) {
                basins.find(v) as u32
            } else {
                UNSEEN
            }
        })
        .collect();
    (out, joined, roots)
}

/// How far from its peak a discovered site's position is averaged (Å).
pub(crate) const CORE_REACH_A: f64 = 1.5;

/// Symmetrise discovered sites with the space group of the framework (every atom
/// that is not of the mobile species, frame 0: its species and fractional position):
/// each site's orbit is generated, orbit images closer than the merge tolerance are
/// averaged, and the sites are labelled by orbit (`S1`, `S2`, … in order of
/// occupancy).
pub(crate) fn symmetrise(
    cell: [[f64; 3]; 3],
    framework: &[(String, [f32; 3])],
    sites: Vec<SiteDef>,
    opts: &SiteOptions,
    notes: &mut Vec<String>,
) -> Result<Vec<SiteDef>> {
    if framework.is_empty() {
        return Err(invalid!(
            "option symmetrise needs framework atoms (atoms other than the mobile species)"
        ));
    }
    let mut kinds: Vec<String> = Vec::new();
    let numbers: Vec<i32> = framework
        .iter()
        .map(|(s, _)| match kinds.iter().position(|k| k == s) {
            Some(i) => i as i32,
            None => {
                kinds.push(s.clone());
                kinds.len() as i32 - 1
            }
        })
        .collect();
    let positions: Vec<nalgebra::Vector3<f64>> = framework
        .iter()
        .map(|(_, f)| nalgebra::Vector3::new(f[0] as f64, f[1] as f64, f[2] as f64))
        .collect();
    let lat = nalgebra::Matrix3::from_row_slice(&[
        cell[0][0], cell[0][1], cell[0][2], cell[1][0], cell[1][1], cell[1][2], cell[2][0],
        cell[2][1], cell[2][2],
    ]);
    let mcell = moyo::base::Cell::new(moyo::base::Lattice::new(lat), positions, numbers);
    let ds = moyo::MoyoDataset::with_default(&mcell, opts.symprec_a).map_err(|e| {
        invalid!("option symmetrise: no space group found for the framework ({e:?})")
    })?;
    let ops: Vec<([[f64; 3]; 3], [f64; 3])> = ds
        .operations
        .iter()
        .map(|op| {
            let r = op.rotation;
            (
                std::array::from_fn(|i| std::array::from_fn(|j| r[(i, j)] as f64)),
                [op.translation[0], op.translation[1], op.translation[2]],
            )
        })
        .collect();
    notes.push(format!(
        "framework space group {} ({} operations in the cell, symprec {} Å)",
        ds.number,
        ops.len(),
        opts.symprec_a
    ));
    // Orbits, most enriched sites first.
    let mut order: Vec<usize> = (0..sites.len()).collect();
    order.sort_by(|&a, &b| {
        sites[b]
            .enrichment
            .unwrap_or(0.0)
            .total_cmp(&sites[a].enrichment.unwrap_or(0.0))
    });
    let mut out: Vec<SiteDef> = Vec::new();
    let mut orbit_no = 0;
    for &s in &order {
        let f0 = sites[s].frac;
        if out
            .iter()
            .any(|o| norm(frac_delta(o.frac, f0, &cell)) < opts.merge_a)
        {
            continue;
        }
        orbit_no += 1;
        // Average the representative over the images that map back near itself.
        let images: Vec<[f64; 3]> = ops
            .iter()
            .map(|(r, t)| {
                wrap(std::array::from_fn(|i| {
                    t[i] + (0..3).map(|j| r[i][j] * f0[j]).sum::<f64>()
                }))
            })
            .collect();
        let mut orbit: Vec<[f64; 3]> = Vec::new();
        for g in images {
            if !orbit
                .iter()
                .any(|o| norm(frac_delta(*o, g, &cell)) < opts.merge_a)
                && !out
                    .iter()
                    .any(|o| norm(frac_delta(o.frac, g, &cell)) < opts.merge_a)
            {
                orbit.push(g);
            }
        }
        for g in orbit {
            out.push(SiteDef {
                label: format!("S{orbit_no}"),
                frac: g,
                enrichment: sites[s].enrichment,
            });
        }
    }
    notes.push(format!(
        "symmetrised: {} discovered sites -> {} sites in {} orbits",
        sites.len(),
        out.len(),
        orbit_no
    ));
    Ok(out)
}
