//! Site-based jump analysis, the default hop mode: the physically sound picture for
//! fast ionic conductors, where an ion's sites are shared with its neighbours and
//! back-and-forth jumps between nearby sites are the rule.
//!
//! 1. **Sites.** Either known (a CIF, expanded by its symmetry operations; a POSCAR or
//!    extended XYZ; replicated by a supercell and mapped onto the trajectory's cell by
//!    fractional coordinates), or discovered from the trajectory itself: the density of
//!    the mobile species in the crystal frame (fractional coordinates, so NPT cells
//!    need nothing special) on a periodic grid, smoothed with a Gaussian of the cell's
//!    own metric, sites at its maxima above a minimum enrichment over the mean density,
//!    maxima closer than a tolerance merged, each position refined as the weighted mean
//!    of the density around it. Optionally symmetrised with the framework's space group.
//! 2. **Radius.** One radius rule, GEMDAT's: twice the vibration amplitude of the
//!    mobile species (the spread of its back-and-forth excursions), capped at half the
//!    distance to the nearest other site so that sites never overlap; or given.
//! 3. **Transitions.** Per ion and frame: on a site (inside its radius) or in transit.
//!    An ion stays assigned to its last site until it is inside another one
//!    (hysteresis); a visit shorter than the minimum residence is dropped (flicker).
//!    A jump is a change of site; it runs from the last frame on the old site to the
//!    first frame on the new one, its vector is the site-to-site vector (minimum image).
//! 4. **Consistency.** The jump diffusivity D_jump = Σ|Δr|² / (2·3·N·t) beside the
//!    tracer D from the MSD: their ratio is the correlation factor (≤ 1 for correlated
//!    back-and-forth jumps, ≈ 1 for random ones); a ratio far above 1 means jumps
//!    were missed.
//!
//! The steps' pieces live beside this file: `discovery.rs` (sites from the density),
//! `known.rs` (known sites on the trajectory's cell), `radius.rs` (the vibration
//! amplitude), `track.rs` (nearest-site queries, cells per frame, the fractional drift)
//! and `jump_types.rs` (jump length classes and types); this file resolves the sites,
//! tracks every ion and assembles the analysis.

use ndarray::Array3;
use rayon::prelude::*;

use super::types::{
    Event, HopOptions, Hops, IonSites, JumpAnalysis, LabelOccupancy, Mode, Site, SiteDef,
    SiteOptions, Stats, selected_atoms_of,
};
use crate::compute::Engine;
use crate::error::Result;
use crate::invalid;
use crate::traj::Prepared;

pub(crate) use super::discovery::Density;
pub use super::discovery::discover_sites;
use super::discovery::{Basins, sites_from_density, symmetrise};
use super::frac::{NONE, dot_frac, frac_delta, norm, wrap};

pub use super::jump_types::*;
pub(crate) use super::known::*;
pub use super::radius::*;
pub(crate) use super::track::*;

/// The sites of one analysis, their radii and a locator: what assigns an ion's
/// frames to sites, in memory or from a streamed trajectory's scratch files.
pub(crate) struct SitePlan {
    sites: Vec<SiteDef>,
    source: String,
    cell: [[f64; 3]; 3],
    amp: f64,
    radii: Vec<f64>,
    radius_rule: String,
    r_min: f64,
    r_max: f64,
    loc: Locator,
    /// Half the distance from each site to its nearest other site (Å).
    half_nn: Vec<f64>,
    /// A locator that reaches that far.
    far: Locator,
    /// Discovered sites: the density basin of each voxel (whose site owns a position).
    basins: Option<Basins>,
}

/// The sites of `species`: the known ones (mapped onto `cell`), or those at the
/// maxima of `density` (symmetrised with `framework`, frame 0's other atoms, when
/// asked); with where they came from.
pub(crate) fn resolve_sites(
    so: &SiteOptions,
    species: &str,
    cell: &[[f64; 3]; 3],
    density: Option<&Density>,
    framework: &[(String, [f32; 3])],
    source: &std::path::Path,
    notes: &mut Vec<String>,
) -> Result<(Vec<SiteDef>, String, Option<Basins>)> {
    match (&so.known, density) {
        (Some(known), _) => {
            let (s, lat, n) = select_sites(known, species, so.supercell)?;
            notes.extend(n);
            check_lattice(&lat, cell, &known.source, so.supercell, notes)?;
            Ok((s, known.source.clone(), None))
        }
        (None, Some(density)) => {
            let (s, joined, basins) = sites_from_density(density, species, so, source)?;
            if joined > 0 {
                notes.push(format!(
                    "{joined} lower density maxima joined to a higher one within {} Å: the density between them stays above {} of the lower peak (one site with several humps, not sites a ripple apart)",
                    so.join_a,
                    so.saddle_fraction
                ));
            }
            // Symmetrised sites are new sites: the basins no longer name them.
            let (s, basins) = if so.symmetrise {
                (symmetrise(*cell, framework, s, so, notes)?, None)
            } else {
                (s, Some(basins))
            };
            Ok((
                s,
                format!(
                    "discovered from the {species} density (grid {} Å, smoothing σ {} Å, humps within {} Å joined above a saddle of {}, merge {} Å, enrichment ≥ {}{})",
                    so.grid_a,
                    so.smoothing_a,
                    so.join_a,
                    so.saddle_fraction,
                    so.merge_a,
                    so.min_enrichment,
                    if so.symmetrise { ", symmetrised" } else { "" }
                ),
                basins,
            ))
        }
        (None, None) => Err(invalid!("site discovery needs the density of the species")),
    }
}

/// What one ion's frames give: its jumps, visits and the frames kept for figures.
pub(crate) struct IonTrack {
    events: Vec<Event>,
    midpoints: Vec<[f64; 3]>,
    residence: Vec<f64>,
    transit: Vec<f64>,
    /// (site, frames on it) of every site the ion visited, by site.
    occupied: Vec<(u32, usize)>,
    on_site: usize,
    ion: IonSites,
    /// Positions at every `stride`-th frame.
    kept: Vec<[f32; 3]>,
    /// The ion's net displacement over the run (unwrapped, drift not removed; Å).
    net: [f64; 3],
    /// The sum of its jump vectors (Å).
    jumped: [f64; 3],
}

impl SitePlan {
    /// The radii of `sites` (given, or twice the vibration amplitude `amp`), capped so
    /// that sites do not overlap.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        sites: Vec<SiteDef>,
        source: String,
        basins: Option<Basins>,
        cell: [[f64; 3]; 3],
        amp: f64,
        so: &SiteOptions,
        notes: &mut Vec<String>,
    ) -> SitePlan {
        let ns = sites.len();
        let nn: Vec<f64> = (0..ns)
            .into_par_iter()
            .map(|i| {
                (0..ns)
                    .filter(|&j| j != i)
                    .map(|j| norm(frac_delta(sites[i].frac, sites[j].frac, &cell)))
                    .fold(f64::INFINITY, f64::min)
            })
            .collect();
        let mut capped = 0;
        let shortest = nn.iter().copied().fold(f64::INFINITY, f64::min);
        let radii: Vec<f64> = (0..ns)
            .map(|i| {
                let r = so
                    .label_radii
                    .iter()
                    .find(|(l, _)| *l == sites[i].label)
                    .map(|(_, r)| *r)
                    .or(so.radius_a)
                    .unwrap_or(2.0 * amp);
                // GEMDAT's rule: one cap for every site, from the closest pair; the
                // default: each site's own nearest neighbour.
                let cap = 0.5 * if so.single_radius { shortest } else { nn[i] } - 0.005;
                if r > cap {
                    capped += 1;
                    cap.max(0.01)
                } else {
                    r
                }
            })
            .collect();
        let given = so.radius_a.is_some() || !so.label_radii.is_empty();
        let radius_rule = match (given, so.single_radius) {
            (true, false) => {
                "given, each capped at half the distance to its nearest site".to_string()
            }
            (true, true) => {
                "given, capped at half the shortest site-to-site distance (GEMDAT's single radius)"
                    .to_string()
            }
            (false, false) => format!(
                "2 × vibration amplitude ({:.3} Å), each capped at half the distance to its nearest site",
                amp
            ),
            (false, true) => format!(
                "GEMDAT's single radius: 2 × vibration amplitude ({:.3} Å), capped at half the shortest site-to-site distance",
                amp
            ),
        };
        if capped > 0 {
            notes.push(format!(
                "{capped} of {ns} site radii capped at half the distance to {} (minus 0.005 Å) so that sites do not overlap",
                if so.single_radius { "the closest pair of sites" } else { "the nearest other site" }
            ));
        }
        let r_max = radii.iter().copied().fold(0.0, f64::max);
        let r_min = radii.iter().copied().fold(f64::INFINITY, f64::min);
        let loc = Locator::new(&sites, &cell, r_max * 1.1 + 1e-6);
        let half_nn_max = 0.5
            * nn.iter()
                .copied()
                .filter(|d| d.is_finite())
                .fold(0.0, f64::max);
        let far = Locator::new(&sites, &cell, half_nn_max * 1.01 + 1e-6);
        SitePlan {
            sites,
            source,
            cell,
            amp,
            radii,
            radius_rule,
            r_min,
            r_max,
            loc,
            far,
            basins,
            half_nn: nn.iter().map(|d| 0.5 * d).collect(),
        }
    }

    /// Atom `a`'s visits and jumps from its fractional positions `frac` (as stored,
    /// any image) and unwrapped Cartesian positions `pos` (Å), one of each per frame;
    /// positions and site labels kept at every `stride`-th frame.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn track(
        &self,
        a: usize,
        species: &str,
        frac: &[[f32; 3]],
        pos: &[[f32; 3]],
        cells: &CellRuns,
        min_residence: usize,
        dt_ps: f64,
        stride: usize,
    ) -> IonTrack {
        let (sites, radii) = (&self.sites, &self.radii);
        let t = frac.len();
        // States: the site the ion is on in each frame (NONE: in transit).
        let mut cand = Vec::new();
        let states: Vec<u32> = (0..t)
            .map(|f| {
                let c = cells.at(f);
                let p = wrap(std::array::from_fn(|x| frac[f][x] as f64));
                self.loc.near(p, &mut cand);
                let mut best = (NONE, f64::INFINITY);
                for &s in &cand {
                    let d = norm(frac_delta(sites[s as usize].frac, p, c));
                    if d <= radii[s as usize] && d < best.1 {
                        best = (s, d);
                    }
                }
                best.0
            })
            .collect();
        let position = |f: usize| -> [f64; 3] { std::array::from_fn(|x| pos[f][x] as f64) };
        // Visits (site, first frame, last frame, frames on the site).
        let mut occupied: std::collections::BTreeMap<u32, usize> = Default::default();
        let mut on_site = 0usize;
        let mut visits: Vec<(u32, usize, usize, usize)> = Vec::new();
        for (f, &s) in states.iter().enumerate() {
            if s == NONE {
                continue;
            }
            on_site += 1;
            *occupied.entry(s).or_default() += 1;
            match visits.last_mut() {
                Some(v) if v.0 == s => {
                    v.2 = f;
                    v.3 += 1;
                }
                _ => visits.push((s, f, f, 1)),
            }
        }
        // Flickers: visits shorter than the minimum residence (except those cut by the
        // ends of the trajectory), then consecutive visits to one site are one.
        if min_residence > 1 {
            let last = visits.len().saturating_sub(1);
            let mut i = 0;
            visits.retain(|v| {
                let keep = v.3 >= min_residence || i == 0 || i == last;
                i += 1;
                keep
            });
            let mut merged: Vec<(u32, usize, usize, usize)> = Vec::new();
            for v in visits {
                match merged.last_mut() {
                    Some(m) if m.0 == v.0 => {
                        m.2 = v.2;
                        m.3 += v.3;
                    }
                    _ => merged.push(v),
                }
            }
            visits = merged;
        }
        let mut residence = Vec::new();
        for (i, v) in visits.iter().enumerate() {
            if i > 0 && i + 1 < visits.len() {
                residence.push((v.2 + 1 - v.1) as f64 * dt_ps);
            }
        }
        // The ion's centres: each (site, periodic image) it visits, unwrapped.
        let mut centres: Vec<[f64; 3]> = Vec::new();
        let mut site_of: Vec<usize> = Vec::new();
        let mut visit_centre: Vec<usize> = Vec::new();
        for v in &visits {
            let f = v.1;
            let r = position(f);
            let pf = wrap(std::array::from_fn(|x| frac[f][x] as f64));
            let d = frac_delta(pf, sites[v.0 as usize].frac, cells.at(f));
            let centre = [r[0] + d[0], r[1] + d[1], r[2] + d[2]];
            let k = match (0..centres.len()).find(|&k| {
                site_of[k] == v.0 as usize
                    && norm([
                        centres[k][0] - centre[0],
                        centres[k][1] - centre[1],
                        centres[k][2] - centre[2],
                    ]) < 0.5
            }) {
                Some(k) => k,
                None => {
                    centres.push(centre);
                    site_of.push(v.0 as usize);
                    centres.len() - 1
                }
            };
            visit_centre.push(k);
        }
        let mut events = Vec::new();
        let mut midpoints = Vec::new();
        let mut transit = Vec::new();
        let mut prev_from: Option<u32> = None;
        let mut jumped = [0.0f64; 3];
        // The run's two ends: the ion is placed at the site whose own region (its density
        // basin for discovered sites; within half the distance to its nearest site) holds it; its offset from that site is
        // vibration, not motion the jumps should explain, and a move from that site to
        // the first site visited (or from the last visited to it) is a jump in progress,
        // added to the jumps' sum. An ion in no site's region keeps that motion in its
        // net displacement: motion the sites miss.
        let mut cand_far = Vec::new();
        let mut owner = |f: usize| -> Option<(u32, [f64; 3])> {
            let p = wrap(std::array::from_fn(|x| frac[f][x] as f64));
            // Discovered sites own their density basins.
            if let Some(s) = self.basins.as_ref().and_then(|b| b.site_at(p)) {
                return Some((s, frac_delta(sites[s as usize].frac, p, cells.at(f))));
            }
            self.far.near(p, &mut cand_far);
            cand_far
                .iter()
                .map(|&s| (s, frac_delta(sites[s as usize].frac, p, cells.at(f))))
                .filter(|(s, o)| norm(*o) <= self.half_nn[*s as usize])
                .min_by(|a, b| norm(a.1).total_cmp(&norm(b.1)))
        };
        let (start, end) = (owner(0), owner(t - 1));
        let (o_first, o_last) = (
            start.map_or([0.0; 3], |(_, o)| o),
            end.map_or([0.0; 3], |(_, o)| o),
        );
        let in_progress = |from: u32, to: u32, f: usize| -> [f64; 3] {
            if from == to {
                [0.0; 3]
            } else {
                frac_delta(
                    sites[from as usize].frac,
                    sites[to as usize].frac,
                    cells.at(f),
                )
            }
        };
        if let (Some((s0, _)), Some(v)) = (start, visits.first()) {
            let d = in_progress(s0, v.0, 0);
            (0..3).for_each(|x| jumped[x] += d[x]);
        }
        if let (Some((s1, _)), Some(v)) = (end, visits.last()) {
            let d = in_progress(v.0, s1, t - 1);
            (0..3).for_each(|x| jumped[x] += d[x]);
        }
        for w in 0..visits.len().saturating_sub(1) {
            let (a_site, _, last_a, _) = visits[w];
            let (b_site, first_b, _, _) = visits[w + 1];
            let v = frac_delta(
                sites[a_site as usize].frac,
                sites[b_site as usize].frac,
                cells.at(last_a),
            );
            // Transit: the frames strictly between the last on the old site and the
            // first on the new one (as events.csv's transit_ps).
            transit.push(first_b.saturating_sub(last_a + 1) as f64 * dt_ps);
            for x in 0..3 {
                jumped[x] += v[x];
            }
            events.push(Event {
                ion: a,
                species: species.to_string(),
                start_frame: last_a,
                end_frame: Some(first_b),
                from_site: a_site as usize,
                to_site: b_site as usize,
                vector_a: v,
                length_a: norm(v),
                back_hop: prev_from == Some(b_site),
            });
            midpoints.push(position((last_a + first_b) / 2));
            prev_from = Some(a_site);
        }
        // Labels at the kept frames: the centre of the current (or last) visit;
        // before the first visit, the first.
        let mut labels = Vec::with_capacity(t.div_ceil(stride));
        if !visits.is_empty() {
            let mut vi = 0;
            for f in (0..t).step_by(stride) {
                while vi + 1 < visits.len() && visits[vi + 1].1 <= f {
                    vi += 1;
                }
                labels.push(visit_centre[vi] as u32);
            }
        } else {
            labels.resize(t.div_ceil(stride), 0);
            // Never on a site: one centre at its mean position.
            let mean: [f64; 3] =
                std::array::from_fn(|x| (0..t).map(|f| pos[f][x] as f64).sum::<f64>() / t as f64);
            centres.push(mean);
            site_of.push(usize::MAX);
        }
        IonTrack {
            events,
            midpoints,
            residence,
            transit,
            occupied: occupied.into_iter().collect(),
            on_site,
            ion: IonSites {
                ion: a,
                species: species.to_string(),
                k: centres.len(),
                silhouettes: Vec::new(),
                centres,
                sites: site_of,
                labels,
                radius_a: self.r_max,
            },
            kept: pos.iter().step_by(stride).copied().collect(),
            net: std::array::from_fn(|x| {
                (pos[t - 1][x] as f64 - o_last[x]) - (pos[0][x] as f64 - o_first[x])
            }),
            jumped,
        }
    }

    /// The hop analysis from every analysed ion's track (in atom order), over `t`
    /// frames `dt_ps` apart, with the tracer D of the species (or why there is none).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn assemble(
        self,
        tracks: Vec<IonTrack>,
        tracer: Result<(f64, f64)>,
        drift: [f64; 3],
        t: usize,
        dt_ps: f64,
        stride: usize,
        opts: &HopOptions,
        mut notes: Vec<String>,
    ) -> Hops {
        let so = &opts.sites;
        let (sites, cell) = (&self.sites, self.cell);
        let ns = sites.len();
        let p = tracks.len();
        let kept = t.div_ceil(stride);
        let mut positions = Array3::<f32>::zeros((kept, p, 3));
        let mut occupied = vec![0usize; ns];
        let mut ions_on = vec![0usize; ns];
        let mut on_site = 0usize;
        let (mut events, mut midpoints) = (Vec::new(), Vec::new());
        let (mut residence, mut transit) = (Vec::new(), Vec::new());
        let mut ions = Vec::with_capacity(p);
        // Σ|R|², Σ|J|², Σ|R − J|² over the ions.
        let (mut rr, mut jj, mut res) = (0.0f64, 0.0f64, 0.0f64);
        for (j, tr) in tracks.into_iter().enumerate() {
            let r: [f64; 3] = std::array::from_fn(|x| tr.net[x] - drift[x]);
            rr += r.iter().map(|v| v * v).sum::<f64>();
            jj += tr.jumped.iter().map(|v| v * v).sum::<f64>();
            res += (0..3).map(|x| (r[x] - tr.jumped[x]).powi(2)).sum::<f64>();
            for (k, q) in tr.kept.iter().enumerate() {
                for x in 0..3 {
                    positions[[k, j, x]] = q[x];
                }
            }
            for (s, c) in tr.occupied {
                occupied[s as usize] += c;
                ions_on[s as usize] += 1;
            }
            on_site += tr.on_site;
            events.extend(tr.events);
            midpoints.extend(tr.midpoints);
            residence.extend(tr.residence);
            transit.extend(tr.transit);
            ions.push(tr.ion);
        }
        let mut order: Vec<usize> = (0..events.len()).collect();
        order.sort_by_key(|&i| (events[i].ion, events[i].start_frame));
        let events: Vec<Event> = order.iter().map(|&i| events[i].clone()).collect();
        let midpoints: Vec<[f64; 3]> = order.iter().map(|&i| midpoints[i]).collect();
        let out_sites: Vec<Site> = sites
            .iter()
            .enumerate()
            .map(|(i, s)| Site {
                id: i,
                centre_a: dot_frac(s.frac, &cell),
                frac: s.frac,
                ions: ions_on[i],
                occupied_frames: occupied[i],
                label: s.label.clone(),
                radius_a: Some(self.radii[i]),
                enrichment: s.enrichment,
            })
            .collect();

        // What users read off it.
        let simulated_ps = (t - 1) as f64 * dt_ps;
        let n_ions = p as f64;
        let to_cm2_s = 1e-16 / 1e-12; // Å²/ps -> cm²/s
        let d_of = |sum_sq: f64| sum_sq / (6.0 * n_ions * simulated_ps) * to_cm2_s;
        let d_jump = d_of(events.iter().map(|e| e.length_a * e.length_a).sum());
        let types = jump_types(&events, sites, n_ions, simulated_ps, &d_of);
        let mut occupancy: Vec<LabelOccupancy> = Vec::new();
        for s in &out_sites {
            match occupancy.iter_mut().find(|o| o.label == s.label) {
                Some(o) => {
                    o.sites += 1;
                    o.mean_occupancy += s.occupied_frames as f64 / t as f64;
                }
                None => occupancy.push(LabelOccupancy {
                    label: s.label.clone(),
                    sites: 1,
                    mean_occupancy: s.occupied_frames as f64 / t as f64,
                }),
            }
        }
        for o in &mut occupancy {
            o.mean_occupancy /= o.sites as f64;
        }
        let (d_tracer, d_tracer_err) = match tracer {
            Ok((d, e)) if d.is_finite() => (Some(d), Some(e)),
            Ok(_) => {
                notes.push(
                    "the tracer MSD is not diffusive over its fit window (see traj msd): no tracer D for the consistency check".into(),
                );
                (None, None)
            }
            Err(e) => {
                notes.push(format!(
                    "tracer D not available for the consistency check: {}",
                    e.detail()
                ));
                (None, None)
            }
        };
        let ratio = d_tracer.filter(|_| d_jump > 0.0).map(|d| d / d_jump);
        let ratio_err = d_tracer_err.filter(|_| d_jump > 0.0).map(|e| e / d_jump);
        let (d_net, d_summed) = (d_of(rr), d_of(jj));
        let share = (rr > 0.0).then(|| 1.0 - res / rr);
        let consistency = consistency(ratio, ratio_err, d_tracer, share, events.len());
        let hist = histogram(&residence, 20);
        let jumping = {
            let mut v: Vec<usize> = events.iter().map(|e| e.ion).collect();
            v.sort_unstable();
            v.dedup();
            v.len()
        };
        let analysis = JumpAnalysis {
            site_source: self.source,
            n_sites: ns,
            vibration_amplitude_a: self.amp,
            radius_rule: self.radius_rule,
            radius_min_a: self.r_min,
            radius_max_a: self.r_max,
            min_residence_frames: so.min_residence_frames,
            min_residence_ps: so.min_residence_frames as f64 * dt_ps,
            on_site_fraction: on_site as f64 / (t * p) as f64,
            jumps: events.len(),
            ions: p,
            jumping_ions: jumping,
            simulated_ps,
            types,
            occupancy,
            residence_ps: Stats::of(&residence),
            residence_histogram: hist,
            transit_ps: Stats::of(&transit),
            d_jump_cm2_s: d_jump,
            d_tracer_cm2_s: d_tracer,
            d_tracer_err_cm2_s: d_tracer_err,
            tracer_over_jump: ratio,
            tracer_over_jump_err: ratio_err,
            d_net_cm2_s: d_net,
            d_summed_jumps_cm2_s: d_summed,
            explained_share: share,
            drift_a: drift,
            consistency,
        };
        Hops {
            mode: Mode::Sites,
            options: opts.clone(),
            n_frames: t,
            dt_ps,
            k_range: (0, 0),
            notes,
            ions,
            sites: out_sites,
            events,
            cell,
            positions,
            frame_stride: stride,
            hop_midpoints_a: midpoints,
            jumps: Some(analysis),
        }
    }
}

/// The site-based analysis' checks on what it is given: at least two frames, a
/// minimum residence of at least one frame, one mobile species. The analysed atoms
/// and their species.
pub(crate) fn check_selection(
    species: &[String],
    source: &std::path::Path,
    opts: &HopOptions,
) -> Result<(Vec<usize>, String)> {
    if opts.sites.min_residence_frames == 0 {
        return Err(invalid!("option min_residence must be at least 1 frame"));
    }
    let atoms = selected_atoms_of(species, source, opts)?;
    let name = species[atoms[0]].clone();
    if atoms.iter().any(|&a| species[a] != name) {
        return Err(invalid!(
            "the site-based mode analyses one mobile species at a time; give one with option species"
        ));
    }
    Ok((atoms, name))
}

/// Frame 0's atoms other than `mobile`: their species and fractional positions (the
/// framework whose space group symmetrises discovered sites).
pub(crate) fn framework_of(
    species: &[String],
    frac0: impl Fn(usize) -> [f32; 3],
    mobile: &[usize],
) -> Vec<(String, [f32; 3])> {
    (0..species.len())
        .filter(|a| mobile.binary_search(a).is_err())
        .map(|a| (species[a].clone(), frac0(a)))
        .collect()
}

/// The share of the net displacement the jumps must explain for the jumps to be said
/// to account for the diffusion.
pub(crate) const EXPLAINED_SHARE_MIN: f64 = 0.8;

/// The consistency verdict, in words, from D_tracer / D_jump (and its σ), the tracer D
/// and the share of the ions' net displacement the jumps explain. Every branch but the
/// first can fail: agreement needs both the share and a ratio not above 1 beyond error.
fn consistency(
    ratio: Option<f64>,
    ratio_err: Option<f64>,
    d_tracer: Option<f64>,
    share: Option<f64>,
    jumps: usize,
) -> String {
    let f = match (ratio, ratio_err) {
        (Some(r), Some(e)) => format!("D_tracer / D_jump = {r:.2} ± {e:.2}"),
        (Some(r), None) => format!("D_tracer / D_jump = {r:.2}"),
        _ => String::new(),
    };
    let explained = share.map(|s| {
        format!(
            "the jumps explain {:.0} % of the ions' net displacement",
            100.0 * s.max(0.0)
        )
    });
    match (ratio, d_tracer, share) {
        _ if jumps == 0 => match d_tracer {
            Some(d) if d > 0.0 => {
                "no jumps, yet the MSD gives a tracer D: jumps are being missed".to_string()
            }
            _ => "not determined (no jumps)".to_string(),
        },
        (r, _, Some(s)) if s < EXPLAINED_SHARE_MIN => format!(
            "{}{}: the jumps miss motion (sites or radii do not capture where the ions go, or diffusion that is not site to site){}",
            explained.unwrap_or_default(),
            if f.is_empty() {
                String::new()
            } else {
                format!("; {f}")
            },
            if r.is_some_and(|r| (0.5..=2.0).contains(&r)) {
                "; a ratio near 1 here is not agreement"
            } else {
                ""
            }
        ),
        (Some(r), Some(_), _) if r - ratio_err.unwrap_or(0.0) > 1.0 => format!(
            "{f}: more net diffusion than the jumps give, beyond the tracer D's error: jumps are being missed (site radii too small, sites missing, or diffusion that is not site to site){}",
            explained.map(|e| format!("; {e}")).unwrap_or_default()
        ),
        (Some(r), Some(_), _) if r < 0.05 => format!(
            "{f}: far more jump displacement than net diffusion; mostly back-and-forth jumps between close sites (check for spurious sites)"
        ),
        (Some(_), Some(_), Some(_)) => format!(
            "{}; {f}: the jumps account for the diffusion (a ratio below 1 is the correlation factor of back-and-forth jumps)",
            explained.unwrap_or_default()
        ),
        (_, None, Some(_)) => format!(
            "{}; no tracer D to compare D_jump with",
            explained.unwrap_or_default()
        ),
        _ => "not determined (no tracer D and no net displacement)".to_string(),
    }
}

/// The site-based hop analysis ([`Mode::Sites`]).
pub fn detect(engine: &Engine, prep: &Prepared, opts: &HopOptions) -> Result<Hops> {
    let traj = prep.traj;
    let so = &opts.sites;
    let t = traj.n_frames();
    let dt_ps = traj.dt_ps()?;
    if t < 2 {
        return Err(invalid!(
            "{}: {t} frame(s): jumps need at least 2 frames",
            traj.source.display()
        ));
    }
    let (atoms, species) = check_selection(&traj.species, &traj.source, opts)?;
    let cell = traj.cell_rows(0);

    // The framework's drift at each frame, in fractions of that frame's cell: taken out
    // of the positions that make the density and that are assigned to sites (as `traj
    // msd` takes it out of the MSD), so that a drifting crystal blurs nothing.
    let u = &prep.unwrapped;
    let (reference, _) = crate::traj::msd_core::drift_reference(&traj.species, &species, true);
    let mut drift = FracDrift::new(reference.unwrap_or_default());
    let frac_shift: Vec<[f64; 3]> = (0..t)
        .map(|f| drift.next(|a| std::array::from_fn(|x| traj.frac[[f, a, x]])))
        .collect();
    let mut notes = Vec::new();
    let frac_shift = drift_for_sites(frac_shift, &traj.cell_rows(0), &mut notes);
    let frac_at = |f: usize, a: usize| -> [f32; 3] {
        std::array::from_fn(|x| (traj.frac[[f, a, x]] as f64 - frac_shift[f][x]) as f32)
    };

    // 1. Sites.
    let density = match so.known {
        Some(_) => None,
        None => {
            let mut d = Density::new(&cell, so)?;
            for f in 0..t {
                for &a in &atoms {
                    d.add(frac_at(f, a));
                }
            }
            Some(d)
        }
    };
    let framework = if so.symmetrise && so.known.is_none() {
        framework_of(
            &traj.species,
            |a| std::array::from_fn(|x| traj.frac[[0, a, x]]),
            &atoms,
        )
    } else {
        Vec::new()
    };
    let (sites, source, basins) = resolve_sites(
        so,
        &species,
        &cell,
        density.as_ref(),
        &framework,
        &traj.source,
        &mut notes,
    )?;

    // 2. Radii.
    let amp = vibration_amplitude(&u.disp, &atoms);
    let plan = SitePlan::new(sites, source, basins, cell, amp, so, &mut notes);

    // 3. Each ion's frames: states, visits, jumps.
    let cells = CellRuns::of(traj);
    let tracks: Vec<IonTrack> = atoms
        .par_iter()
        .map(|&a| {
            let frac: Vec<[f32; 3]> = (0..t).map(|f| frac_at(f, a)).collect();
            let pos: Vec<[f32; 3]> = (0..t)
                .map(|f| {
                    std::array::from_fn(|x| {
                        (u.origin[[a, x]] as f64 + u.disp[[f, a, x]] as f64) as f32
                    })
                })
                .collect();
            plan.track(
                a,
                &species,
                &frac,
                &pos,
                &cells,
                so.min_residence_frames,
                dt_ps,
                1,
            )
        })
        .collect();

    // 4. The consistency with the tracer D and with each ion's net displacement
    // (less the framework's drift, as `traj msd` removes it), and what users read off it.
    let tracer = tracer_d(engine, prep, &species);
    let drift = net_drift(&traj.species, &species, &u.disp);
    Ok(plan.assemble(tracks, tracer, drift, t, dt_ps, 1, opts, notes))
}

/// The drift over the run (Å): the mean net displacement of the atoms `traj msd` takes
/// as its drift reference for `species` (see [`crate::traj::msd_core::drift_reference`]).
fn net_drift(all_species: &[String], species: &str, disp: &Array3<f32>) -> [f64; 3] {
    let (reference, _) = crate::traj::msd_core::drift_reference(all_species, species, true);
    let last = disp.shape()[0] - 1;
    crate::compute::cpu::displacement::frame_drift(reference.as_deref(), |a| {
        [disp[[last, a, 0]], disp[[last, a, 1]], disp[[last, a, 2]]]
    })
}

/// The tracer D (and its σ) of `species` from the MSD, fitted as `traj msd` does.
pub(crate) fn tracer_d(engine: &Engine, p: &Prepared, species: &str) -> Result<(f64, f64)> {
    let m = crate::traj::msd::msd_prepared(
        engine,
        p,
        &crate::traj::msd::MsdOptions {
            species: species.to_string(),
            drift_correction: true,
            lags: crate::traj::msd::LagGrid::All,
            long_step_a: None,
            axes: Default::default(),
        },
    )?;
    let f = crate::traj::diffusion::fit(&m, None)?;
    Ok((f.d_cm2_s, f.d_err_cm2_s))
}
