//! Per-species hop descriptors: how many ions hop, how often, how far and for how
//! long, with their spread.

use super::types::{Event, Hops, IonSites, Stats};

/// Atomistic descriptors of one species' hops (times in ps, lengths in Å).
#[derive(Clone, Debug, serde::Serialize)]
pub struct Descriptors {
    pub species: String,
    pub ions: usize,
    pub hopping_ions: usize,
    pub fraction_hopping: f64,
    pub events: usize,
    /// Events per ion per ps of simulated time.
    pub jump_rate_per_ion_ps: f64,
    pub hop_length_a: Stats,
    pub duration_ps: Stats,
    /// Time on a site between arriving and leaving again (complete stays only): the
    /// frames on it × the time between frames, as the jump analysis's `residence_ps`
    /// (so that residence and transit times add up to the run).
    pub residence_ps: Stats,
    /// From the start of the trajectory to each hopping ion's first hop.
    pub time_to_first_hop_ps: Stats,
    /// Distinct sites each ion visits (1 for an ion that never hops).
    pub sites_per_ion: Stats,
    /// Distinct sites visited by this species.
    pub distinct_sites: usize,
    pub back_hops: usize,
    pub simulated_ps: f64,
}

impl Hops {
    /// Descriptors for every analysed species, in order of first appearance.
    pub fn descriptors(&self) -> Vec<Descriptors> {
        let mut species: Vec<String> = Vec::new();
        for i in &self.ions {
            if !species.contains(&i.species) {
                species.push(i.species.clone());
            }
        }
        let total_ps = (self.n_frames.saturating_sub(1)) as f64 * self.dt_ps;
        species
            .into_iter()
            .map(|sp| {
                let ions: Vec<&IonSites> = self.ions.iter().filter(|i| i.species == sp).collect();
                let ev: Vec<&Event> = self.events.iter().filter(|e| e.species == sp).collect();
                let mut residence = Vec::new();
                let mut first = Vec::new();
                let mut sites_per_ion = Vec::new();
                let mut all_sites: Vec<usize> = Vec::new();
                for ion in &ions {
                    let mine: Vec<&&Event> = ev.iter().filter(|e| e.ion == ion.ion).collect();
                    if let Some(e) = mine.first() {
                        first.push(e.start_frame as f64 * self.dt_ps);
                    }
                    for w in mine.windows(2) {
                        let arrive = w[0].end(self.n_frames);
                        if w[1].start_frame >= arrive {
                            residence.push((w[1].start_frame + 1 - arrive) as f64 * self.dt_ps);
                        }
                    }
                    let mut s: Vec<usize> =
                        mine.iter().flat_map(|e| [e.from_site, e.to_site]).collect();
                    if s.is_empty() {
                        s.push(ion.sites[ion.labels[0] as usize]);
                    }
                    s.sort_unstable();
                    s.dedup();
                    sites_per_ion.push(s.len() as f64);
                    all_sites.extend(s);
                }
                all_sites.sort_unstable();
                all_sites.dedup();
                let hopping = ions
                    .iter()
                    .filter(|i| ev.iter().any(|e| e.ion == i.ion))
                    .count();
                Descriptors {
                    ions: ions.len(),
                    hopping_ions: hopping,
                    fraction_hopping: if ions.is_empty() {
                        0.0
                    } else {
                        hopping as f64 / ions.len() as f64
                    },
                    events: ev.len(),
                    jump_rate_per_ion_ps: if ions.is_empty() || total_ps <= 0.0 {
                        0.0
                    } else {
                        ev.len() as f64 / ions.len() as f64 / total_ps
                    },
                    hop_length_a: Stats::of(&ev.iter().map(|e| e.length_a).collect::<Vec<_>>()),
                    duration_ps: Stats::of(
                        &ev.iter()
                            .map(|e| {
                                (e.end(self.n_frames) - e.start_frame.min(e.end(self.n_frames)))
                                    as f64
                                    * self.dt_ps
                            })
                            .collect::<Vec<_>>(),
                    ),
                    residence_ps: Stats::of(&residence),
                    time_to_first_hop_ps: Stats::of(&first),
                    sites_per_ion: Stats::of(&sites_per_ion),
                    distinct_sites: all_sites.len(),
                    back_hops: ev.iter().filter(|e| e.back_hop).count(),
                    simulated_ps: total_ps,
                    species: sp,
                }
            })
            .collect()
    }
}
