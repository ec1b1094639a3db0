//! Hop detection. The default, [`Mode::Sites`], is site-based (`crate::traj::sites`):
//! it holds in fast conductors, where per-ion clustering misses most jumps. The two
//! per-ion clustering modes below are kept for slow conductors and for parity.
//!
//! Unsupervised per-ion hop detection (IonDiff's idea: López et al., 2024): per ion, cluster
//! the unwrapped positions over time with k-means for k = 2..k_max, keep the k with
//! the best mean silhouette (k = 1 below a threshold), then read hops off the
//! sequence of sites the ion visits.
//!
//! Every (ion, k) problem runs in one engine batch (GPU or CPU twin, same labels), and
//! the silhouettes of all of them in one batched per-cluster-distance-sum call.
//!
//! Two per-ion modes:
//! - [`Mode::Iondiff`] reproduces IonDiff 1.6: all atoms unless species are given,
//!   k-means with random init (10 restarts, 300 iterations, tol 1e-4), silhouette
//!   threshold 0.7, a frame "vibrates" when within 0.4 Å of its cluster centre, and
//!   each change of cluster label becomes an event from the last change of vibration
//!   state before it to the frame before the first one after it (end −1 when there is
//!   none), duplicates dropped. Where IonDiff crashes (a label change at frame 0) the
//!   start is frame 0.
//! - [`Mode::Kmeans`] fixes IonDiff's weaknesses: only the requested species; a
//!   per-ion vibration radius (a multiple of the ion's median distance from its site
//!   centre, capped below half the distance between its sites) instead of a fixed
//!   0.4 Å; hysteresis (an ion leaves a site only beyond a larger radius) and a
//!   minimum residence time, so flickering at a site boundary is not a hop; a hop runs
//!   from the last frame at one site to the first frame at the next, so events never
//!   overlap or repeat; sites are shared between ions (centres of different ions within
//!   a tolerance are one site), so every hop has a from-site and a to-site, and a hop
//!   straight back to the site just left is marked as a back-hop.

use ndarray::{Array2, Array3, Axis};

use crate::cluster::kmeans::{Init, KMeansParams, KMeansProblem, kmeans_batch};
use crate::cluster::silhouette::silhouette_samples_batch;
use crate::engine::Engine;
use crate::error::Result;
use crate::invalid;
use crate::io::xdatcar::inverse;
use crate::traj::Trajectory;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Site-based jumps (the default): sites of the mobile species discovered from its
    /// density or given (CIF/POSCAR/XYZ), per-frame site assignment with hysteresis,
    /// a jump is a change of site (see `crate::traj::sites`).
    Sites,
    /// Per-ion k-means (IonDiff's idea) with per-ion thresholds, hysteresis and shared
    /// sites: sound for slow conductors, undercounts jumps in fast ones.
    Kmeans,
    /// IonDiff 1.6's algorithm and defaults, for parity with the published tool.
    Iondiff,
}

/// IonDiff's order of preference for the diffusing species when none is given.
pub const PREFERRED_SPECIES: [&str; 9] = ["Li", "Na", "Ag", "Cu", "Cl", "I", "Br", "F", "O"];

#[derive(Clone, Debug, serde::Serialize)]
pub struct HopOptions {
    pub mode: Mode,
    /// Species to analyse (IonDiff mode: every atom when empty; default mode: the
    /// first of [`PREFERRED_SPECIES`] present when empty).
    pub species: Vec<String>,
    /// Largest k tried (k = 2..k_max).
    pub k_max: usize,
    /// Below this best mean silhouette the ion has one site (k = 1).
    pub silhouette_threshold: f64,
    /// IonDiff mode: the vibration radius (Å).
    pub distance_threshold_a: f64,
    /// Default mode: the vibration radius as a multiple of the ion's median distance
    /// from its site centre.
    pub vibration_factor: f64,
    /// Default mode: an ion leaves a site only beyond this multiple of the radius.
    pub hysteresis: f64,
    /// Default mode: visits shorter than this many frames do not count (except at the
    /// ends of the trajectory).
    pub min_residence_frames: usize,
    /// Site centres of different ions closer than this (Å) are one site.
    pub site_tolerance_a: f64,
    /// Default mode: at most this many (evenly strided) frames per ion are clustered;
    /// the sites found are then applied to every frame. IonDiff mode clusters all.
    pub max_cluster_frames: usize,
    pub seed: u64,
    pub kmeans: KMeansParams,
    /// The site-based mode's options.
    pub sites: crate::traj::sites::SiteOptions,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Sites => "sites",
            Mode::Kmeans => "kmeans",
            Mode::Iondiff => "iondiff",
        }
    }
}

impl HopOptions {
    pub fn new(mode: Mode) -> HopOptions {
        HopOptions {
            mode,
            species: Vec::new(),
            k_max: 10,
            silhouette_threshold: 0.7,
            distance_threshold_a: 0.4,
            vibration_factor: 2.5,
            hysteresis: 1.5,
            min_residence_frames: 3,
            site_tolerance_a: 1.0,
            max_cluster_frames: 2000,
            seed: 0,
            kmeans: KMeansParams {
                init: Init::Random,
                n_init: 10,
                max_iter: 300,
                tol: 1e-4,
            },
            sites: Default::default(),
        }
    }
}

/// One hop.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Event {
    /// 0-based atom index as in the input file.
    pub ion: usize,
    pub species: String,
    pub start_frame: usize,
    /// IonDiff mode: `None` where IonDiff writes −1 (no return to vibration before the
    /// end of the trajectory).
    pub end_frame: Option<usize>,
    pub from_site: usize,
    pub to_site: usize,
    /// Hop vector from the from-site centre to the to-site centre (Å, minimum image).
    pub vector_a: [f64; 3],
    pub length_a: f64,
    /// Default mode: the ion returns to the site it has just left.
    pub back_hop: bool,
}

impl Event {
    /// The end frame, with IonDiff's −1 read as the last frame.
    pub fn end(&self, n_frames: usize) -> usize {
        self.end_frame.unwrap_or(n_frames.saturating_sub(1))
    }
}

/// What the clustering found for one ion.
#[derive(Clone, Debug, serde::Serialize)]
pub struct IonSites {
    pub ion: usize,
    pub species: String,
    pub k: usize,
    /// Mean silhouette of every k tried (k = 2..).
    pub silhouettes: Vec<f64>,
    /// Site centres (Å, unwrapped Cartesian).
    pub centres: Vec<[f64; 3]>,
    /// The global site of each centre.
    pub sites: Vec<usize>,
    /// Cluster label of every frame.
    #[serde(skip)]
    pub labels: Vec<u32>,
    /// The vibration radius used (Å).
    pub radius_a: f64,
}

/// A site shared by the ions whose centres lie within the tolerance.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Site {
    pub id: usize,
    /// Centre in the cell (Å), and fractional.
    pub centre_a: [f64; 3],
    pub frac: [f64; 3],
    /// Distinct ions with a centre here.
    pub ions: usize,
    /// Frames spent here, summed over ions (frames within the vibration radius).
    pub occupied_frames: usize,
    /// Site-based mode: the site's label (from the CIF, the species, or its orbit).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub label: String,
    /// Site-based mode: the radius within which an ion is on this site (Å).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub radius_a: Option<f64>,
    /// Discovered sites: smoothed density over the species' mean density.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enrichment: Option<f64>,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct Hops {
    pub mode: Mode,
    pub options: HopOptions,
    pub n_frames: usize,
    pub dt_ps: f64,
    /// The k range used (may be smaller than asked for a short trajectory).
    pub k_range: (usize, usize),
    pub notes: Vec<String>,
    pub ions: Vec<IonSites>,
    pub sites: Vec<Site>,
    pub events: Vec<Event>,
    /// Lattice (rows, Å) of frame 0, used for minimum images and wrapping.
    #[serde(skip)]
    pub cell: [[f64; 3]; 3],
    /// Unwrapped Cartesian positions of the analysed ions (T x P x 3, Å).
    #[serde(skip)]
    pub positions: Array3<f32>,
    /// Site-based mode: jump types, rates, occupancies, residence times and the
    /// consistency of the jumps with the tracer D.
    pub jumps: Option<crate::traj::sites::JumpAnalysis>,
}

/// The atoms to analyse.
pub fn selected_atoms(traj: &Trajectory, opts: &HopOptions) -> Result<Vec<usize>> {
    if opts.species.is_empty() {
        return match opts.mode {
            Mode::Iondiff => Ok((0..traj.n_atoms()).collect()),
            Mode::Kmeans | Mode::Sites => {
                let present = traj.species_list();
                let s = PREFERRED_SPECIES
                    .iter()
                    .find(|s| present.iter().any(|p| p == *s))
                    .ok_or_else(|| {
                        invalid!(
                            "{}: none of the usual mobile species ({}) is present; name one with --species (species here: {})",
                            traj.source.display(),
                            PREFERRED_SPECIES.join(", "),
                            present.join(", ")
                        )
                    })?;
                traj.indices_of(s)
            }
        };
    }
    let mut out = Vec::new();
    for s in &opts.species {
        out.extend(traj.indices_of(s)?);
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

fn frac_of(cart: [f64; 3], inv: &[[f64; 3]; 3]) -> [f64; 3] {
    // r = s · L  =>  s = r · L⁻¹
    let mut s = [0.0; 3];
    for (j, sj) in s.iter_mut().enumerate() {
        *sj = (0..3).map(|i| cart[i] * inv[i][j]).sum();
    }
    s
}

fn cart_of(frac: [f64; 3], cell: &[[f64; 3]; 3]) -> [f64; 3] {
    let mut r = [0.0; 3];
    for (j, rj) in r.iter_mut().enumerate() {
        *rj = (0..3).map(|i| frac[i] * cell[i][j]).sum();
    }
    r
}

/// Minimum-image version of a Cartesian vector (exact for the nearest image within the
/// 27 neighbouring cells).
pub fn minimum_image(v: [f64; 3], cell: &[[f64; 3]; 3]) -> [f64; 3] {
    minimum_image_inv(v, cell, &inverse(cell))
}

/// [`minimum_image`] with the cell's inverse already at hand.
fn minimum_image_inv(v: [f64; 3], cell: &[[f64; 3]; 3], inv: &[[f64; 3]; 3]) -> [f64; 3] {
    let s = frac_of(v, inv);
    let base = [
        s[0] - s[0].round(),
        s[1] - s[1].round(),
        s[2] - s[2].round(),
    ];
    let mut best = cart_of(base, cell);
    let mut best_d = best.iter().map(|x| x * x).sum::<f64>();
    for a in -1..=1 {
        for b in -1..=1 {
            for c in -1..=1 {
                let f = [base[0] + a as f64, base[1] + b as f64, base[2] + c as f64];
                let r = cart_of(f, cell);
                let d = r.iter().map(|x| x * x).sum::<f64>();
                if d < best_d - 1e-12 {
                    best = r;
                    best_d = d;
                }
            }
        }
    }
    best
}

fn dist(a: [f64; 3], b: [f64; 3]) -> f64 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt()
}

/// Detect hops in `traj`.
pub fn detect(engine: &Engine, traj: &Trajectory, opts: &HopOptions) -> Result<Hops> {
    if opts.mode == Mode::Sites {
        return crate::traj::sites::detect(engine, traj, opts);
    }
    let t = traj.n_frames();
    let dt_ps = traj.dt_ps()?;
    let atoms = selected_atoms(traj, opts)?;
    if opts.k_max < 2 {
        return Err(invalid!("--k-max must be at least 2, not {}", opts.k_max));
    }
    if t < 3 {
        return Err(invalid!(
            "{}: {t} frame(s): hop detection needs at least 3 frames (k = 2 clusters and a silhouette)",
            traj.source.display()
        ));
    }
    let mut notes = Vec::new();
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
    let p = atoms.len();
    let cell = traj.cell_rows(0);

    // Unwrapped Cartesian positions; each ion's points centred on its mean (k-means
    // and distances do not care, and f32 keeps its precision near zero).
    let u = engine.unwrap(&traj.frac_view(), f32::INFINITY)?;
    let mut positions = Array3::<f32>::zeros((t, p, 3));
    let mut means = vec![[0.0f64; 3]; p];
    for (j, &a) in atoms.iter().enumerate() {
        for f in 0..t {
            for x in 0..3 {
                let v = u.origin[[a, x]] as f64 + u.disp[[f, a, x]] as f64;
                positions[[f, j, x]] = v as f32;
                means[j][x] += v / t as f64;
            }
        }
    }
    drop(u);
    // The frames clustered: all of them in IonDiff mode; in the default mode at most
    // `max_cluster_frames`, evenly strided (the centres are then used on every frame).
    let stride = match opts.mode {
        Mode::Iondiff => 1,
        Mode::Sites | Mode::Kmeans => t.div_ceil(opts.max_cluster_frames.max(k_max + 1)),
    };
    let sampled: Vec<usize> = (0..t).step_by(stride).collect();
    let ts = sampled.len();
    if stride > 1 {
        notes.push(format!(
            "sites found from every {stride}th frame ({ts} of {t}); hops read from every frame"
        ));
    }
    let ks: Vec<usize> = (2..=k_max.min(ts - 1)).collect();
    let nk = ks.len();
    // Ions in batches small enough for the engine's label arrays (restarts x frames).
    let per_ion_bytes = (nk * opts.kmeans.n_init as usize * ts * 16).max(1);
    let batch = ((256usize << 20) / per_ion_bytes).clamp(1, p.max(1));
    let n_batches = p.div_ceil(batch);
    let bar = crate::progress::bar(n_batches as u64, "clustering ions");
    let mut ions: Vec<IonSites> = Vec::with_capacity(p);
    for b0 in (0..p).step_by(batch) {
        let b1 = (b0 + batch).min(p);
        let mut points = Array3::<f32>::zeros((b1 - b0, ts, 3));
        for j in b0..b1 {
            for (q, &f) in sampled.iter().enumerate() {
                for x in 0..3 {
                    points[[j - b0, q, x]] = (positions[[f, j, x]] as f64 - means[j][x]) as f32;
                }
            }
        }
        // Every (ion, k) of the batch in one k-means call, then every silhouette in one.
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
                        |acc, (i, &v)| if v > acc.1 { (i, v) } else { acc },
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
                        let r: [f64; 3] = std::array::from_fn(|x| positions[[f, j, x]] as f64);
                        (0..k)
                            .min_by(|&a, &b| dist(r, centres[a]).total_cmp(&dist(r, centres[b])))
                            .unwrap_or(0) as u32
                    })
                    .collect()
            };
            ions.push(IonSites {
                ion: atoms[j],
                species: traj.species[atoms[j]].clone(),
                k,
                silhouettes: means_k,
                centres,
                sites: Vec::new(),
                labels: lab,
                radius_a: opts.distance_threshold_a,
            });
        }
        bar.inc(1);
    }
    bar.finish_and_clear();

    let sites = assign_sites(&mut ions, &cell, opts.site_tolerance_a);
    let pos_of =
        |j: usize, f: usize| -> [f64; 3] { std::array::from_fn(|x| positions[[f, j, x]] as f64) };
    let mut events = Vec::new();
    let mut occupied = vec![0usize; sites.len()];
    for (j, ion) in ions.iter_mut().enumerate() {
        let d_own: Vec<f64> = (0..t)
            .map(|f| dist(pos_of(j, f), ion.centres[ion.labels[f] as usize]))
            .collect();
        match opts.mode {
            Mode::Iondiff => {
                let vib: Vec<bool> = d_own
                    .iter()
                    .map(|&d| d < opts.distance_threshold_a)
                    .collect();
                for f in 0..t {
                    if vib[f] {
                        occupied[ion.sites[ion.labels[f] as usize]] += 1;
                    }
                }
                for change in (0..t - 1).filter(|&f| ion.labels[f + 1] != ion.labels[f]) {
                    let start = (1..change)
                        .rev()
                        .find(|&i| vib[i] != vib[i - 1])
                        .unwrap_or(0);
                    let end = (change..t - 1).find(|&i| vib[i + 1] != vib[i]);
                    let (a, b) = (ion.labels[change] as usize, ion.labels[change + 1] as usize);
                    let e = make_event(ion, start, end, a, b, &cell, false);
                    if !events.iter().any(|o: &Event| {
                        o.ion == e.ion
                            && o.start_frame == e.start_frame
                            && o.end_frame == e.end_frame
                    }) {
                        events.push(e);
                    }
                }
            }
            Mode::Sites | Mode::Kmeans => {
                let (radius, visits) = residences(
                    ion,
                    &d_own,
                    &|f, c| dist(pos_of(j, f), ion.centres[c]),
                    t,
                    opts,
                );
                ion.radius_a = radius;
                for v in &visits {
                    occupied[ion.sites[v.0]] += v.3;
                }
                let mut prev: Option<(usize, usize)> = None; // (from, to) centres of the last hop
                for w in visits.windows(2) {
                    let (a, _, last_a, _) = w[0];
                    let (b, first_b, _, _) = w[1];
                    let back = prev.is_some_and(|(pa, pb)| pa == b && pb == a);
                    events.push(make_event(ion, last_a, Some(first_b), a, b, &cell, back));
                    prev = Some((a, b));
                }
            }
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
    events.sort_by_key(|e| (e.ion, e.start_frame));
    Ok(Hops {
        mode: opts.mode,
        options: opts.clone(),
        n_frames: t,
        dt_ps,
        k_range: (2, k_max),
        notes,
        ions,
        sites,
        events,
        cell,
        positions,
        jumps: None,
    })
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

impl Hops {
    pub fn start_ps(&self, e: &Event) -> f64 {
        e.start_frame as f64 * self.dt_ps
    }

    pub fn end_ps(&self, e: &Event) -> f64 {
        e.end(self.n_frames) as f64 * self.dt_ps
    }

    /// `events.csv`.
    pub fn write_events_csv(&self, path: &std::path::Path) -> Result<()> {
        use crate::io::fmt_f64;
        let header: Vec<String> = [
            "ion",
            "species",
            "start_frame",
            "end_frame",
            "start_ps",
            "end_ps",
            "from_site",
            "to_site",
            "dx_a",
            "dy_a",
            "dz_a",
            "length_a",
            "duration_ps",
        ]
        .map(String::from)
        .to_vec();
        let typed = self.jumps.as_ref();
        let mut header = header;
        if typed.is_some() {
            header.extend(["from_label", "to_label", "jump_type", "transit_ps"].map(String::from));
        }
        let rows: Vec<Vec<String>> = self
            .events
            .iter()
            .map(|e| {
                let end = e.end(self.n_frames);
                vec![
                    e.ion.to_string(),
                    e.species.clone(),
                    e.start_frame.to_string(),
                    end.to_string(),
                    fmt_f64(self.start_ps(e)),
                    fmt_f64(self.end_ps(e)),
                    e.from_site.to_string(),
                    e.to_site.to_string(),
                    fmt_f64(e.vector_a[0]),
                    fmt_f64(e.vector_a[1]),
                    fmt_f64(e.vector_a[2]),
                    fmt_f64(e.length_a),
                    fmt_f64((end as f64 - e.start_frame as f64) * self.dt_ps),
                ]
                .into_iter()
                .chain(typed.into_iter().flat_map(|j| {
                    [
                        self.sites[e.from_site].label.clone(),
                        self.sites[e.to_site].label.clone(),
                        crate::traj::sites::type_of(e, &self.sites, &j.types),
                        // Frames strictly between leaving and arriving.
                        fmt_f64((end.saturating_sub(e.start_frame + 1)) as f64 * self.dt_ps),
                    ]
                }))
                .collect()
            })
            .collect();
        crate::io::write_csv(path, &header, &rows)
    }

    /// IonDiff's `DIFFUSION` file: one line per event, particle (0-based atom index),
    /// start and end configuration (−1: no end), under IonDiff's header line.
    pub fn write_diffusion(&self, path: &std::path::Path) -> Result<()> {
        let mut s = String::from(
            "# Particle index         Starting configuration   Ending configuration\n",
        );
        for e in &self.events {
            let end = e.end_frame.map_or(-1, |v| v as i64);
            s.push_str(&format!("{} {} {}\n", e.ion, e.start_frame, end));
        }
        crate::io::write_atomic(path, s.as_bytes())
    }

    /// `sites.csv`: one row per site with its position, label, radius, occupancy (mean
    /// number of ions on it) and the hops out of and into it.
    pub fn write_sites_csv(&self, path: &std::path::Path) -> Result<()> {
        use crate::io::fmt_f64;
        let header: Vec<String> = [
            "site",
            "label",
            "x_a",
            "y_a",
            "z_a",
            "frac_a",
            "frac_b",
            "frac_c",
            "radius_a",
            "occupancy",
            "enrichment",
            "ions",
            "occupied_frames",
            "hops_out",
            "hops_in",
        ]
        .map(String::from)
        .to_vec();
        let mut out = vec![0usize; self.sites.len()];
        let mut inn = vec![0usize; self.sites.len()];
        for e in &self.events {
            out[e.from_site] += 1;
            inn[e.to_site] += 1;
        }
        let rows: Vec<Vec<String>> = self
            .sites
            .iter()
            .map(|s| {
                vec![
                    s.id.to_string(),
                    s.label.clone(),
                    fmt_f64(s.centre_a[0]),
                    fmt_f64(s.centre_a[1]),
                    fmt_f64(s.centre_a[2]),
                    fmt_f64(s.frac[0]),
                    fmt_f64(s.frac[1]),
                    fmt_f64(s.frac[2]),
                    s.radius_a.map(fmt_f64).unwrap_or_default(),
                    fmt_f64(s.occupied_frames as f64 / self.n_frames.max(1) as f64),
                    s.enrichment.map(fmt_f64).unwrap_or_default(),
                    s.ions.to_string(),
                    s.occupied_frames.to_string(),
                    out[s.id].to_string(),
                    inn[s.id].to_string(),
                ]
            })
            .collect();
        crate::io::write_csv(path, &header, &rows)
    }

    /// The sites as an extended XYZ file (one frame: the cell as `Lattice`, the
    /// species as the mobile species' symbol; label, radius and occupancy as extra
    /// columns), which ASE and OVITO read.
    pub fn write_sites_xyz(&self, path: &std::path::Path, species: &str) -> Result<()> {
        let c = &self.cell;
        let mut s = format!(
            "{}\nLattice=\"{} {} {} {} {} {} {} {} {}\" Properties=species:S:1:pos:R:3:site_label:S:1:radius:R:1:occupancy:R:1 pbc=\"T T T\"\n",
            self.sites.len(),
            c[0][0],
            c[0][1],
            c[0][2],
            c[1][0],
            c[1][1],
            c[1][2],
            c[2][0],
            c[2][1],
            c[2][2]
        );
        for site in &self.sites {
            let label = if site.label.is_empty() {
                species
            } else {
                &site.label
            };
            s.push_str(&format!(
                "{} {:.6} {:.6} {:.6} {} {:.4} {:.4}\n",
                species,
                site.centre_a[0],
                site.centre_a[1],
                site.centre_a[2],
                label.replace(char::is_whitespace, "_"),
                site.radius_a.unwrap_or(0.0),
                site.occupied_frames as f64 / self.n_frames.max(1) as f64
            ));
        }
        crate::io::write_atomic(path, s.as_bytes())
    }

    /// The sites as a VASP POSCAR (Direct coordinates), which VESTA opens.
    pub fn write_sites_poscar(&self, path: &std::path::Path, species: &str) -> Result<()> {
        let c = &self.cell;
        let mut s = format!(
            "{} sites found by superion ({} mode)\n1.0\n",
            species,
            self.mode.name()
        );
        for row in c {
            s.push_str(&format!("  {:.10} {:.10} {:.10}\n", row[0], row[1], row[2]));
        }
        s.push_str(&format!("{species}\n{}\nDirect\n", self.sites.len()));
        for site in &self.sites {
            s.push_str(&format!(
                "  {:.8} {:.8} {:.8}\n",
                site.frac[0], site.frac[1], site.frac[2]
            ));
        }
        crate::io::write_atomic(path, s.as_bytes())
    }
}

/// Read IonDiff's `DIFFUSION` file: (particle, start, end) per line, `#` comments,
/// integers or numpy's float format; end −1 is `None`.
pub fn read_diffusion(path: &std::path::Path) -> Result<Vec<(usize, usize, Option<usize>)>> {
    let text = crate::io::read_text(path)?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let v: Vec<f64> = line
            .split_whitespace()
            .map(|w| w.parse::<f64>())
            .collect::<std::result::Result<_, _>>()
            .map_err(|_| {
                crate::io::parse_err(path, i + 1, "three numbers: particle, start, end".into())
            })?;
        if v.len() != 3
            || v.iter().any(|x| x.fract() != 0.0)
            || v[0] < 0.0
            || v[1] < 0.0
            || v[2] < -1.0
        {
            return Err(crate::io::parse_err(
                path,
                i + 1,
                "three integers: particle ≥ 0, start ≥ 0, end ≥ −1".into(),
            ));
        }
        out.push((
            v[0] as usize,
            v[1] as usize,
            if v[2] < 0.0 {
                None
            } else {
                Some(v[2] as usize)
            },
        ));
    }
    Ok(out)
}

/// Mean, spread and range of a sample (empty: all None).
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Stats {
    pub n: usize,
    pub mean: Option<f64>,
    pub std: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
}

impl Stats {
    pub fn of(v: &[f64]) -> Stats {
        if v.is_empty() {
            return Stats::default();
        }
        let n = v.len() as f64;
        let mean = v.iter().sum::<f64>() / n;
        Stats {
            n: v.len(),
            mean: Some(mean),
            std: Some((v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt()),
            min: Some(v.iter().copied().fold(f64::INFINITY, f64::min)),
            max: Some(v.iter().copied().fold(f64::NEG_INFINITY, f64::max)),
        }
    }
}

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
    /// Time between arriving at a site and leaving it again (complete stays only).
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
                            residence.push((w[1].start_frame - arrive) as f64 * self.dt_ps);
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

/// Everything `superion traj hops --out` writes, as one JSON summary (also written as
/// `descriptors.json`).
#[derive(Clone, Debug, serde::Serialize)]
pub struct Summary {
    pub file: String,
    pub mode: Mode,
    pub options: HopOptions,
    pub n_frames: usize,
    pub dt_ps: f64,
    pub k_range: (usize, usize),
    pub notes: Vec<String>,
    pub ions_analysed: usize,
    pub events: usize,
    pub sites: usize,
    pub species: Vec<Descriptors>,
    pub temporal_correlation: super::correlations::Temporal,
    pub collective: super::correlations::Collective,
    /// Site-based mode: jump types, rates, occupancies, residence times, D_jump vs
    /// the tracer D.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jumps: Option<super::sites::JumpAnalysis>,
}

/// Most path figures written (the hopping ions with the most events first).
pub const MAX_PATH_FIGURES: usize = 40;

impl Hops {
    /// Descriptors and correlations.
    pub fn summary(
        &self,
        file: &std::path::Path,
        collective_dt_ps: f64,
        collective_dr_a: f64,
    ) -> Summary {
        use super::correlations::{collective, temporal};
        Summary {
            file: file.display().to_string(),
            mode: self.mode,
            options: self.options.clone(),
            n_frames: self.n_frames,
            dt_ps: self.dt_ps,
            k_range: self.k_range,
            notes: self.notes.clone(),
            ions_analysed: self.ions.len(),
            events: self.events.len(),
            sites: self.sites.len(),
            species: self.descriptors(),
            temporal_correlation: temporal(
                &self.events,
                self.n_frames,
                self.mode,
                self.options.seed,
            ),
            collective: collective(self, collective_dt_ps, collective_dr_a),
            jumps: self.jumps.clone(),
        }
    }

    /// events.csv, DIFFUSION, sites.csv, descriptors.json, hops.svg (raster),
    /// correlations.svg and paths/ion_<i>.svg into `dir`.
    pub fn write_outputs(&self, dir: &std::path::Path, summary: &Summary) -> Result<Vec<String>> {
        std::fs::create_dir_all(dir).map_err(|source| crate::error::Error::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        self.write_events_csv(&dir.join("events.csv"))?;
        self.write_diffusion(&dir.join("DIFFUSION"))?;
        self.write_sites_csv(&dir.join("sites.csv"))?;
        let species = self
            .ions
            .first()
            .map(|i| i.species.clone())
            .unwrap_or_else(|| "X".into());
        self.write_sites_xyz(&dir.join("sites.xyz"), &species)?;
        self.write_sites_poscar(&dir.join("sites.vasp"), &species)?;
        let json =
            serde_json::to_string_pretty(summary).map_err(|e| invalid!("descriptors.json: {e}"))?;
        crate::io::write_atomic(&dir.join("descriptors.json"), json.as_bytes())?;
        crate::plot::hops::raster_svg(self, &dir.join("hops.svg"))?;
        let norm = |c: &[usize]| -> Vec<(usize, f64)> {
            let total: usize = c.iter().skip(1).sum();
            (2..=c.len())
                .map(|n| {
                    (
                        n,
                        if total > 0 {
                            c[n - 1] as f64 / total as f64
                        } else {
                            0.0
                        },
                    )
                })
                .collect()
        };
        let t = norm(&summary.temporal_correlation.counts);
        let x: Vec<f64> = t.iter().map(|p| p.0 as f64).collect();
        let y: Vec<f64> = t.iter().map(|p| p.1).collect();
        crate::plot::hops::correlation_svg(
            &t,
            super::correlations::fit_exponential(&x, &y),
            &norm(&summary.collective.counts),
            &format!(
                "Correlated hops ({} events, threshold {:.3})",
                self.events.len(),
                summary.temporal_correlation.threshold
            ),
            &dir.join("correlations.svg"),
        )?;
        let mut extra = Vec::new();
        if self.jumps.is_some() {
            crate::plot::hops::sitemap_svg(self, &dir.join("sitemap.svg"))?;
            crate::plot::hops::jump_types_svg(self, &dir.join("jump_types.svg"))?;
            extra = vec!["sitemap.svg".to_string(), "jump_types.svg".to_string()];
        }
        let mut written = vec![
            "events.csv".to_string(),
            "DIFFUSION".into(),
            "sites.csv".into(),
            "sites.xyz".into(),
            "sites.vasp".into(),
            "descriptors.json".into(),
            "hops.svg".into(),
            "correlations.svg".into(),
        ];
        written.extend(extra);
        let mut by_count: Vec<(usize, usize)> = Vec::new();
        for e in &self.events {
            match by_count.iter_mut().find(|(i, _)| *i == e.ion) {
                Some(x) => x.1 += 1,
                None => by_count.push((e.ion, 1)),
            }
        }
        by_count.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        if !by_count.is_empty() {
            let pdir = dir.join("paths");
            std::fs::create_dir_all(&pdir).map_err(|source| crate::error::Error::Io {
                path: pdir.clone(),
                source,
            })?;
            for (ion, _) in by_count.iter().take(MAX_PATH_FIGURES) {
                crate::plot::hops::path_svg(self, *ion, &pdir.join(format!("ion_{ion}.svg")))?;
            }
            written.push(format!(
                "paths/ion_<i>.svg ({} of {} hopping ions)",
                by_count.len().min(MAX_PATH_FIGURES),
                by_count.len()
            ));
        }
        Ok(written)
    }
}
