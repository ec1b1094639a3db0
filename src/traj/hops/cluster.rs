//! Per-ion clustering: IonDiff's method ([`Mode::Iondiff`]) and superion's repaired
//! version of it ([`Mode::Kmeans`]). See the module above for what each does.
//!
//! Each ion is clustered and its hops read off on its own (`ClusterPlan::ions`,
//! given the ion's displacements), so the same code serves a trajectory in memory and
//! one streamed by windows of atoms (`super::stream`); only the shared sites
//! (`assemble`) need every ion's centres.

use std::path::Path;

use ndarray::{Array2, Array3, Axis};

use super::types::{Event, HopOptions, Hops, IonSites, Mode, Site, selected_atoms};
use crate::cluster::kmeans::{KMeansProblem, kmeans_batch};
use crate::cluster::silhouette::silhouette_samples_batch;
use crate::compute::Engine;
use crate::error::Result;
use crate::geom::{cart_of, frac_of, inverse, minimum_image, minimum_image_inv};
use crate::invalid;
use crate::traj::Prepared;

fn dist(a: [f64; 3], b: [f64; 3]) -> f64 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt()
}

/// The clustering's settings for a trajectory of `t` frames: the k range, the frames
/// clustered.
pub(crate) struct ClusterPlan {
    t: usize,
    k_max: usize,
    ks: Vec<usize>,
    stride: usize,
    sampled: Vec<usize>,
}

/// One hop of an ion before the shared sites exist: (start frame, end frame, from
/// centre, to centre, back-hop).
type Proto = (usize, Option<usize>, usize, usize, bool);

/// What one ion gives: its sites (labels kept at every `keep`-th frame), its hops by
/// centre, the frames on each centre, the hop midpoints, its kept positions.
pub(crate) struct IonWork {
    ion: IonSites,
    proto: Vec<Proto>,
    occupied: Vec<usize>,
    midpoints: Vec<[f64; 3]>,
    kept: Vec<[f32; 3]>,
}

impl ClusterPlan {
    /// The plan for `t` frames of the file `source`, with what it notes.
    pub(crate) fn new(
        t: usize,
        opts: &HopOptions,
        source: &Path,
        notes: &mut Vec<String>,
    ) -> Result<ClusterPlan> {
        if opts.k_max < 2 {
            return Err(invalid!(
                "option k_max must be at least 2, not {}",
                opts.k_max
            ));
        }
        if t < 3 {
            return Err(invalid!(
                "{}: {t} frame(s): hop detection needs at least 3 frames (k = 2 clusters and a silhouette)",
                source.display()
            ));
        }
        // The silhouette needs k < T.
        let k_max = if opts.k_max + 1 > t {
            notes.push(format!(
                "{t} frames: the k range is cut to 2..{} (it needs k < number of frames; IonDiff crashes here)",
                t - 1
            ));
            t - 1
        } else {
            opts.k_max
        };
        // The frames clustered: all of them in IonDiff mode; in the default mode at
        // most `max_cluster_frames`, evenly strided (the centres are then used on
        // every frame).
        let stride = match opts.mode {
            Mode::Iondiff => 1,
            Mode::Sites | Mode::Kmeans => t.div_ceil(opts.max_cluster_frames.max(k_max + 1)),
        };
        let sampled: Vec<usize> = (0..t).step_by(stride).collect();
        if stride > 1 {
            notes.push(format!(
                "sites found from {} ({} of {t}); hops read from every frame",
                super::types::every_nth_frame(stride),
                sampled.len()
            ));
        }
        let ks: Vec<usize> = (2..=k_max.min(sampled.len() - 1)).collect();
        Ok(ClusterPlan {
            t,
            k_max,
            ks,
            stride,
            sampled,
        })
    }

    /// Cluster the ions `atoms` (of species `species`, one per ion) and read their
    /// hops: ion j's unwrapped positions are `origin[j]` plus its displacements
    /// `disp[j * t..(j + 1) * t]`. Positions and labels are kept at every `keep`-th
    /// frame.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn ions(
        &self,
        engine: &Engine,
        atoms: &[usize],
        species: &[String],
        origin: &[[f32; 3]],
        disp: &[[f32; 3]],
        opts: &HopOptions,
        keep: usize,
    ) -> Result<Vec<IonWork>> {
        let (t, p) = (self.t, atoms.len());
        let (ks, sampled, stride) = (&self.ks, &self.sampled, self.stride);
        let (nk, ts) = (ks.len(), sampled.len());
        // Unwrapped Cartesian positions; each ion's points centred on its mean
        // (k-means and distances do not care, and f32 keeps its precision near zero).
        let mut positions: Vec<[f32; 3]> = Vec::with_capacity(p * t);
        let mut means = vec![[0.0f64; 3]; p];
        for j in 0..p {
            for f in 0..t {
                let d = disp[j * t + f];
                let mut q = [0.0f32; 3];
                for x in 0..3 {
                    let v = origin[j][x] as f64 + d[x] as f64;
                    q[x] = v as f32;
                    means[j][x] += v / t as f64;
                }
                positions.push(q);
            }
        }
        let pos_of = |j: usize, f: usize| -> [f64; 3] {
            std::array::from_fn(|x| positions[j * t + f][x] as f64)
        };
        // Ions in batches small enough for the engine's label arrays (restarts x
        // frames).
        let per_ion_bytes = (nk * opts.kmeans.n_init as usize * ts * 16).max(1);
        let batch = ((256usize << 20) / per_ion_bytes).clamp(1, p.max(1));
        let mut out: Vec<IonWork> = Vec::with_capacity(p);
        for b0 in (0..p).step_by(batch) {
            let b1 = (b0 + batch).min(p);
            let mut points = Array3::<f32>::zeros((b1 - b0, ts, 3));
            for j in b0..b1 {
                for (q, &f) in sampled.iter().enumerate() {
                    for x in 0..3 {
                        points[[j - b0, q, x]] =
                            (positions[j * t + f][x] as f64 - means[j][x]) as f32;
                    }
                }
            }
            // Every (ion, k) of the batch in one k-means call, then every silhouette
            // in one.
            let problems: Vec<KMeansProblem> = (0..b1 - b0)
                .flat_map(|j| {
                    ks.iter().map(move |&k| KMeansProblem {
                        set: j as u32,
                        k: k as u32,
                        seed: opts.seed,
                    })
                })
                .collect();
            let fits = kmeans_batch(engine, points.view(), &problems, &opts.kmeans)?;
            let labels = Array2::from_shape_fn((problems.len(), ts), |(b, f)| fits[b].labels[f]);
            let set_of: Vec<u32> = problems.iter().map(|q| q.set).collect();
            let kk: Vec<u32> = problems.iter().map(|q| q.k).collect();
            let sil = silhouette_samples_batch(engine, points.view(), &set_of, labels.view(), &kk)?;
            for jb in 0..b1 - b0 {
                let j = b0 + jb;
                let means_k: Vec<f64> = (0..nk)
                    .map(|i| sil.row(jb * nk + i).mean().unwrap_or(0.0))
                    .collect();
                // np.argmax: the first best.
                let (best_i, best) =
                    means_k
                        .iter()
                        .enumerate()
                        .fold(
                            (0, f64::NEG_INFINITY),
                            |acc, (i, &v)| {
                                if v > acc.1 { (i, v) } else { acc }
                            },
                        );
                let (k, lab) = if best < opts.silhouette_threshold {
                    (1, vec![0u32; ts])
                } else {
                    (ks[best_i], fits[jb * nk + best_i].labels.clone())
                };
                // Centres: the mean of each cluster's (sampled) frames, as IonDiff.
                let pts = points.index_axis(Axis(0), jb);
                let mut centres = vec![[0.0f64; 3]; k];
                let mut count = vec![0usize; k];
                for q in 0..ts {
                    let c = lab[q] as usize;
                    count[c] += 1;
                    for x in 0..3 {
                        centres[c][x] += pts[[q, x]] as f64;
                    }
                }
                for (c, n) in centres.iter_mut().zip(&count) {
                    for x in 0..3 {
                        c[x] = c[x] / (*n).max(1) as f64 + means[j][x];
                    }
                }
                // Every frame's cluster: k-means' own labels when every frame was
                // clustered, else the nearest centre.
                let lab = if stride == 1 {
                    lab
                } else {
                    (0..t)
                        .map(|f| {
                            let r = pos_of(j, f);
                            (0..k)
                                .min_by(|&a, &b| {
                                    dist(r, centres[a]).total_cmp(&dist(r, centres[b]))
                                })
                                .unwrap_or(0) as u32
                        })
                        .collect()
                };
                let mut ion = IonSites {
                    ion: atoms[j],
                    species: species[j].clone(),
                    k,
                    silhouettes: means_k,
                    centres,
                    sites: Vec::new(),
                    labels: lab,
                    radius_a: opts.distance_threshold_a,
                };
                let (proto, occupied) = hops_of(&mut ion, &|f| pos_of(j, f), t, opts);
                let midpoints = proto
                    .iter()
                    .map(|e| pos_of(j, (e.0 + e.1.unwrap_or(t.saturating_sub(1))) / 2))
                    .collect();
                ion.labels = ion.labels.iter().step_by(keep).copied().collect();
                out.push(IonWork {
                    ion,
                    proto,
                    occupied,
                    midpoints,
                    kept: positions[j * t..(j + 1) * t]
                        .iter()
                        .step_by(keep)
                        .copied()
                        .collect(),
                });
            }
        }
        Ok(out)
    }
}

/// One ion's hops by centre and the frames spent on each centre (its labels for every
/// frame; its positions by frame).
fn hops_of(
    ion: &mut IonSites,
    pos: &dyn Fn(usize) -> [f64; 3],
    t: usize,
    opts: &HopOptions,
) -> (Vec<Proto>, Vec<usize>) {
    let d_own: Vec<f64> = (0..t)
        .map(|f| dist(pos(f), ion.centres[ion.labels[f] as usize]))
        .collect();
    let mut proto: Vec<Proto> = Vec::new();
    let mut occupied = vec![0usize; ion.k];
    match opts.mode {
        Mode::Iondiff => {
            let vib: Vec<bool> = d_own
                .iter()
                .map(|&d| d < opts.distance_threshold_a)
                .collect();
            for f in 0..t {
                if vib[f] {
                    occupied[ion.labels[f] as usize] += 1;
                }
            }
            for change in (0..t - 1).filter(|&f| ion.labels[f + 1] != ion.labels[f]) {
                let start = (1..change)
                    .rev()
                    .find(|&i| vib[i] != vib[i - 1])
                    .unwrap_or(0);
                let end = (change..t - 1).find(|&i| vib[i + 1] != vib[i]);
                let (a, b) = (ion.labels[change] as usize, ion.labels[change + 1] as usize);
                if !proto.iter().any(|o| o.0 == start && o.1 == end) {
                    proto.push((start, end, a, b, false));
                }
            }
        }
        Mode::Sites | Mode::Kmeans => {
            let centres = ion.centres.clone();
            let (radius, visits) =
                residences(ion, &d_own, &|f, c| dist(pos(f), centres[c]), t, opts);
            ion.radius_a = radius;
            for v in &visits {
                occupied[v.0] += v.3;
            }
            let mut prev: Option<(usize, usize)> = None; // (from, to) centres of the last hop
            for w in visits.windows(2) {
                let (a, _, last_a, _) = w[0];
                let (b, first_b, _, _) = w[1];
                let back = prev.is_some_and(|(pa, pb)| pa == b && pb == a);
                proto.push((last_a, Some(first_b), a, b, back));
                prev = Some((a, b));
            }
        }
    }
    (proto, occupied)
}

/// The hops of every analysed ion (in atom order) over `t` frames `dt_ps` apart: the
/// shared sites from every ion's centres, the events by site.
#[allow(clippy::too_many_arguments)]
pub(crate) fn assemble(
    works: Vec<IonWork>,
    plan: &ClusterPlan,
    cell: [[f64; 3]; 3],
    dt_ps: f64,
    keep: usize,
    opts: &HopOptions,
    notes: Vec<String>,
) -> Hops {
    let t = plan.t;
    let p = works.len();
    let mut positions = Array3::<f32>::zeros((t.div_ceil(keep), p, 3));
    let mut ions = Vec::with_capacity(p);
    let mut rest = Vec::with_capacity(p);
    for (j, w) in works.into_iter().enumerate() {
        for (k, q) in w.kept.iter().enumerate() {
            for x in 0..3 {
                positions[[k, j, x]] = q[x];
            }
        }
        ions.push(w.ion);
        rest.push((w.proto, w.occupied, w.midpoints));
    }
    let sites = assign_sites(&mut ions, &cell, opts.site_tolerance_a);
    let mut occupied = vec![0usize; sites.len()];
    let (mut events, mut midpoints) = (Vec::new(), Vec::new());
    for (ion, (proto, occ, mids)) in ions.iter().zip(rest) {
        for (c, n) in occ.into_iter().enumerate() {
            occupied[ion.sites[c]] += n;
        }
        for (e, m) in proto.into_iter().zip(mids) {
            events.push(make_event(ion, e.0, e.1, e.2, e.3, &cell, e.4));
            midpoints.push(m);
        }
    }
    let sites = sites
        .into_iter()
        .zip(occupied)
        .map(|(mut s, o)| {
            s.occupied_frames = o;
            s
        })
        .collect();
    let mut order: Vec<usize> = (0..events.len()).collect();
    order.sort_by_key(|&i| (events[i].ion, events[i].start_frame));
    let events: Vec<Event> = order.iter().map(|&i| events[i].clone()).collect();
    let hop_midpoints_a = order.iter().map(|&i| midpoints[i]).collect();
    Hops {
        mode: opts.mode,
        options: opts.clone(),
        n_frames: t,
        dt_ps,
        k_range: (2, plan.k_max),
        notes,
        ions,
        sites,
        events,
        cell,
        positions,
        frame_stride: keep,
        hop_midpoints_a,
        jumps: None,
    }
}

/// Detect hops in `traj` by clustering each ion's positions (the kmeans and iondiff
/// modes).
pub fn detect(engine: &Engine, prep: &Prepared, opts: &HopOptions) -> Result<Hops> {
    let traj = prep.traj;
    let t = traj.n_frames();
    let dt_ps = traj.dt_ps()?;
    let atoms = selected_atoms(traj, opts)?;
    let mut notes = Vec::new();
    let plan = ClusterPlan::new(t, opts, &traj.source, &mut notes)?;
    let u = &prep.unwrapped;
    // A few hundred ions at a time (their series copied ion-major).
    let mut works = Vec::with_capacity(atoms.len());
    let bar = crate::progress::bar(atoms.len() as u64, "clustering ions");
    for chunk in atoms.chunks(256) {
        let origin: Vec<[f32; 3]> = chunk
            .iter()
            .map(|&a| std::array::from_fn(|x| u.origin[[a, x]]))
            .collect();
        let species: Vec<String> = chunk.iter().map(|&a| traj.species[a].clone()).collect();
        let mut disp: Vec<[f32; 3]> = Vec::with_capacity(chunk.len() * t);
        for &a in chunk {
            disp.extend((0..t).map(|f| std::array::from_fn(|x| u.disp[[f, a, x]])));
        }
        works.extend(plan.ions(engine, chunk, &species, &origin, &disp, opts, 1)?);
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    Ok(assemble(
        works,
        &plan,
        traj.cell_rows(0),
        dt_ps,
        1,
        opts,
        notes,
    ))
}

fn make_event(
    ion: &IonSites,
    start: usize,
    end: Option<usize>,
    from: usize,
    to: usize,
    cell: &[[f64; 3]; 3],
    back_hop: bool,
) -> Event {
    let (a, b) = (ion.centres[from], ion.centres[to]);
    let v = minimum_image([b[0] - a[0], b[1] - a[1], b[2] - a[2]], cell);
    Event {
        ion: ion.ion,
        species: ion.species.clone(),
        start_frame: start,
        end_frame: end,
        from_site: ion.sites[from],
        to_site: ion.sites[to],
        length_a: (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt(),
        vector_a: v,
        back_hop,
    }
}

/// Default mode: the ion's vibration radius and its visits to its sites as
/// (centre, first frame, last frame, frames within the radius), after hysteresis, the
/// minimum residence and merging of repeated visits.
fn residences(
    ion: &IonSites,
    d_own: &[f64],
    d_to: &dyn Fn(usize, usize) -> f64,
    t: usize,
    opts: &HopOptions,
) -> (f64, Vec<(usize, usize, usize, usize)>) {
    let mut sorted = d_own.to_vec();
    sorted.sort_by(|a, b| a.total_cmp(b));
    let median = sorted[sorted.len() / 2];
    let mut spacing = f64::INFINITY;
    for a in 0..ion.k {
        for b in a + 1..ion.k {
            spacing = spacing.min(dist(ion.centres[a], ion.centres[b]));
        }
    }
    let r_in = (opts.vibration_factor * median)
        .min(0.45 * spacing)
        .max(1e-6);
    let r_out = (opts.hysteresis * r_in).min(0.5 * spacing).max(r_in);
    // Frame-by-frame state with hysteresis.
    let mut state: Option<usize> = None;
    let mut runs: Vec<(usize, usize, usize, usize)> = Vec::new();
    for f in 0..t {
        let stay = state.filter(|&s| d_to(f, s) <= r_out);
        state = stay.or_else(|| {
            (0..ion.k)
                .map(|c| (c, d_to(f, c)))
                .filter(|(_, d)| *d <= r_in)
                .min_by(|a, b| a.1.total_cmp(&b.1))
                .map(|(c, _)| c)
        });
        if let Some(s) = state {
            let inside = (d_to(f, s) <= r_in) as usize;
            match runs.last_mut() {
                Some(r) if r.0 == s && r.2 + 1 == f => {
                    r.2 = f;
                    r.3 += inside;
                }
                _ => runs.push((s, f, f, inside)),
            }
        }
    }
    // Short visits do not count, except where the trajectory cuts them.
    runs.retain(|r| r.2 + 1 - r.1 >= opts.min_residence_frames || r.1 == 0 || r.2 + 1 == t);
    // Consecutive visits to one site are one residence (an excursion, not a hop).
    let mut merged: Vec<(usize, usize, usize, usize)> = Vec::new();
    for r in runs {
        match merged.last_mut() {
            Some(m) if m.0 == r.0 => {
                m.2 = r.2;
                m.3 += r.3;
            }
            _ => merged.push(r),
        }
    }
    (r_in, merged)
}

/// Merge the centres of all ions into shared sites (greedy, in ion order: a centre
/// joins the nearest site within `tol` Å, minimum image, else starts a new one).
fn assign_sites(ions: &mut [IonSites], cell: &[[f64; 3]; 3], tol: f64) -> Vec<Site> {
    let inv = inverse(cell);
    // (sum of member offsets from the first member, first member frac, count, ion set)
    struct Acc {
        first: [f64; 3],
        sum: [f64; 3],
        n: usize,
        ions: Vec<usize>,
    }
    let mut acc: Vec<Acc> = Vec::new();
    for ion in ions.iter_mut() {
        ion.sites = Vec::with_capacity(ion.k);
        for c in 0..ion.k {
            let s = frac_of(ion.centres[c], &inv);
            let wrapped = cart_of(
                [
                    s[0] - s[0].floor(),
                    s[1] - s[1].floor(),
                    s[2] - s[2].floor(),
                ],
                cell,
            );
            let best = acc
                .iter()
                .enumerate()
                .map(|(i, a)| {
                    let mean = [
                        a.first[0] + a.sum[0] / a.n as f64,
                        a.first[1] + a.sum[1] / a.n as f64,
                        a.first[2] + a.sum[2] / a.n as f64,
                    ];
                    let v = minimum_image(
                        [
                            wrapped[0] - mean[0],
                            wrapped[1] - mean[1],
                            wrapped[2] - mean[2],
                        ],
                        cell,
                    );
                    (i, (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt())
                })
                .filter(|(_, d)| *d <= tol)
                .min_by(|a, b| a.1.total_cmp(&b.1));
            let id = match best {
                Some((i, _)) => {
                    let a = &mut acc[i];
                    let off = minimum_image_inv(
                        [
                            wrapped[0] - a.first[0],
                            wrapped[1] - a.first[1],
                            wrapped[2] - a.first[2],
                        ],
                        cell,
                        &inv,
                    );
                    for x in 0..3 {
                        a.sum[x] += off[x];
                    }
                    a.n += 1;
                    if !a.ions.contains(&ion.ion) {
                        a.ions.push(ion.ion);
                    }
                    i
                }
                None => {
                    acc.push(Acc {
                        first: wrapped,
                        sum: [0.0; 3],
                        n: 1,
                        ions: vec![ion.ion],
                    });
                    acc.len() - 1
                }
            };
            ion.sites.push(id);
        }
    }
    acc.into_iter()
        .enumerate()
        .map(|(id, a)| {
            let c = [
                a.first[0] + a.sum[0] / a.n as f64,
                a.first[1] + a.sum[1] / a.n as f64,
                a.first[2] + a.sum[2] / a.n as f64,
            ];
            let s = frac_of(c, &inv);
            let frac = [
                s[0] - s[0].floor(),
                s[1] - s[1].floor(),
                s[2] - s[2].floor(),
            ];
            Site {
                id,
                centre_a: cart_of(frac, cell),
                frac,
                ions: a.ions.len(),
                occupied_frames: 0,
                label: String::new(),
                radius_a: None,
                enrichment: None,
            }
        })
        .collect()
}
