//! Correlations between hop events.
//!
//! - Temporal co-occurrence, IonDiff's definition: each event becomes a 0/1 series
//!   over the frames it spans, smoothed with a Gaussian (σ = duration / 2.355, the
//!   FWHM), and events are correlated when the Pearson coefficient of their smoothed
//!   series exceeds a threshold taken from a null model (the mean off-diagonal
//!   coefficient of randomly placed events of the mean duration, 200 draws). Here the
//!   null model is seeded and each event is smoothed with its own width (IonDiff uses
//!   the first event's width for all, unseeded); in IonDiff mode the event series
//!   keep IonDiff's span (start + 1 ..= end).
//! - Spatio-temporal collective hops: events of different ions whose time windows
//!   overlap within Δt and whose hop midpoints lie within Δr (minimum image) are one
//!   collective event; found by a sweep over events sorted by start time (never all
//!   pairs) and union-find.
//! - The histogram of the number of bodies per correlated event and its fit
//!   A + B·exp(−C·n) (IonDiff's form, A ≥ 0), over one or several trajectories.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::hops::{Event, Hops, Mode};
use crate::geom::minimum_image;

/// Draws of the null model (IonDiff's 200).
pub(crate) const NULL_DRAWS: usize = 200;
/// Events per null-model draw at most (the mean coefficient does not depend on the
/// count, and this bounds the cost at E² per draw).
pub(crate) const NULL_EVENTS_MAX: usize = 100;

/// scipy.ndimage.gaussian_filter1d with mode "reflect" and truncate 4: the reference
/// the tests hold the sparse smoothing below to.
#[cfg(test)]
fn gaussian_filter1d(x: &[f64], sigma: f64) -> Vec<f64> {
    let n = x.len();
    if sigma <= 0.0 || n == 0 {
        return x.to_vec();
    }
    let g = Gaussian::new(sigma);
    (0..n as i64)
        .map(|i| g.at(i, |j| x[reflect(j, n as i64) as usize]))
        .collect()
}

/// scipy's Gaussian kernel: truncated at 4 σ (the radius), weights and their sum.
struct Gaussian {
    radius: i64,
    w: Vec<f64>,
    sum: f64,
}

impl Gaussian {
    fn new(sigma: f64) -> Gaussian {
        let radius = (4.0 * sigma + 0.5) as i64;
        let w: Vec<f64> = (-radius..=radius)
            .map(|i| (-0.5 * (i as f64 / sigma).powi(2)).exp())
            .collect();
        let sum = w.iter().sum();
        Gaussian { radius, w, sum }
    }

    /// The filtered value at `i` of the series `x` (any index, reflected by `x`).
    #[inline]
    fn at(&self, i: i64, x: impl Fn(i64) -> f64) -> f64 {
        (-self.radius..=self.radius)
            .zip(&self.w)
            .map(|(k, wk)| wk * x(i + k))
            .sum::<f64>()
            / self.sum
    }
}

/// Index `i` of a series of `n` reflected into it, scipy's "reflect":
/// (d c b a | a b c d | d c b a).
fn reflect(mut i: i64, n: i64) -> i64 {
    loop {
        if i < 0 {
            i = -i - 1;
        } else if i >= n {
            i = 2 * n - i - 1;
        } else {
            return i;
        }
    }
}

/// One event's smoothed series over `n_frames` frames, held where it is not zero: its
/// values from frame `lo` on (zero before and after).
struct Series {
    lo: usize,
    vals: Vec<f64>,
}

/// Smoothed series of events given as frame spans (first, last inclusive; empty when
/// first > last), each rescaled to a maximum of 1 as IonDiff does: the values of
/// `gaussian_filter1d` (the test reference) on the whole series (0/1 over the span), computed only where
/// they can differ from zero (the span widened by the kernel's radius), so memory and
/// time follow the events, not the trajectory's length.
fn smoothed(spans: &[(i64, i64)], n_frames: usize, sigma: Option<f64>) -> Vec<Series> {
    let n = n_frames as i64;
    spans
        .iter()
        .map(|&(a, b)| {
            let (a, b) = (a.max(0), b.min(n - 1));
            if a > b || n == 0 {
                return Series {
                    lo: 0,
                    vals: Vec::new(),
                };
            }
            let width = (b - a + 1) as f64;
            let s = sigma.unwrap_or(width / 2.355);
            let (lo, hi, y) = if s > 0.0 {
                let g = Gaussian::new(s);
                let x = |i: i64| -> f64 {
                    if (a..=b).contains(&reflect(i, n)) {
                        1.0
                    } else {
                        0.0
                    }
                };
                let (lo, hi) = ((a - g.radius).max(0), (b + g.radius).min(n - 1));
                let y: Vec<f64> = (lo..=hi).map(|i| g.at(i, x)).collect();
                (lo, hi, y)
            } else {
                (a, b, vec![1.0; (b - a + 1) as usize])
            };
            debug_assert_eq!(y.len() as i64, hi - lo + 1);
            let m = y.iter().copied().fold(0.0, f64::max);
            let y: Vec<f64> = if m > 0.0 {
                y.iter().map(|v| v * 1.0 / m).collect()
            } else {
                y
            };
            // Trim to the first and last non-zero values.
            let first = y.iter().position(|v| *v != 0.0).unwrap_or(0);
            let last = y.iter().rposition(|v| *v != 0.0).map_or(first, |h| h + 1);
            Series {
                lo: lo as usize + first,
                vals: y[first..last].to_vec(),
            }
        })
        .collect()
}

/// What the Pearson coefficient of two series needs: its support, mean and sum of
/// squared deviations over `t` frames.
struct Prepared<'a> {
    lo: usize,
    vals: &'a [f64],
    mean: f64,
    ss: f64,
}

fn prepare(series: &[Series], t: f64) -> Vec<Prepared<'_>> {
    series
        .iter()
        .map(|a| {
            let sum: f64 = a.vals.iter().sum();
            let mean = sum / t;
            let sq: f64 = a.vals.iter().map(|v| v * v).sum();
            Prepared {
                lo: a.lo,
                vals: &a.vals,
                mean,
                ss: (sq - t * mean * mean).max(0.0),
            }
        })
        .collect()
}

/// The Pearson coefficient of series `i` ≤ `j` (NaN for a constant series). Each
/// series is zero outside a short support, so Σ(a−ā)(b−b̄) = Σ_overlap a·b − T·ā·b̄
/// costs the overlap, not T.
fn pearson(p: &[Prepared], i: usize, j: usize, t: f64) -> f64 {
    let (a, b) = (&p[i], &p[j]);
    let lo = a.lo.max(b.lo);
    let hi = (a.lo + a.vals.len()).min(b.lo + b.vals.len());
    let mut dot = 0.0;
    for k in lo..hi.max(lo) {
        dot += a.vals[k - a.lo] * b.vals[k - b.lo];
    }
    let sab = dot - t * a.mean * b.mean;
    if a.ss <= 1e-300 || b.ss <= 1e-300 {
        f64::NAN
    } else if i == j {
        1.0
    } else {
        sab / (a.ss * b.ss).sqrt()
    }
}

/// Pearson coefficients of every pair of series (a small set: the null model's).
fn correlation_matrix(series: &[Series], t: usize) -> Vec<Vec<f64>> {
    let p = prepare(series, t as f64);
    let e = series.len();
    let mut m = vec![vec![f64::NAN; e]; e];
    for i in 0..e {
        for j in i..e {
            let c = pearson(&p, i, j, t as f64);
            m[i][j] = c;
            m[j][i] = c;
        }
    }
    m
}

/// Per series, how many series (itself included) it correlates with above
/// `threshold`: a row of the correlation matrix at a time, never the matrix.
fn bodies_above(series: &[Series], t: usize, threshold: f64) -> Vec<usize> {
    use rayon::prelude::*;
    let p = prepare(series, t as f64);
    let e = series.len();
    (0..e)
        .into_par_iter()
        .map(|i| {
            (0..e)
                .filter(|&j| pearson(&p, i.min(j), i.max(j), t as f64) > threshold)
                .count()
        })
        .collect()
}

/// Temporal co-occurrence of the events of one trajectory.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Temporal {
    pub threshold: f64,
    /// Per event: how many events (itself included) it correlates with.
    pub bodies: Vec<usize>,
    /// counts[n − 1]: events with n bodies.
    pub counts: Vec<usize>,
}

/// IonDiff's temporal correlation analysis.
pub fn temporal(events: &[Event], n_frames: usize, mode: Mode, seed: u64) -> Temporal {
    let spans: Vec<(i64, i64)> = events
        .iter()
        .map(|e| match mode {
            // IonDiff marks start + 1 ..= end, nothing when the end is −1.
            Mode::Iondiff => (
                e.start_frame as i64 + 1,
                e.end_frame.map_or(-1, |v| v as i64),
            ),
            Mode::Sites | Mode::Kmeans => (e.start_frame as i64, e.end(n_frames) as i64),
        })
        .collect();
    if events.is_empty() {
        return Temporal {
            threshold: f64::NAN,
            bodies: Vec::new(),
            counts: Vec::new(),
        };
    }
    // IonDiff smooths every series with the first event's width.
    let first_width = {
        let (a, b) = spans[0];
        (b.min(n_frames as i64 - 1) - a.max(0) + 1).max(0) as f64
    };
    let sigma = match mode {
        Mode::Iondiff => Some(first_width / 2.355),
        Mode::Sites | Mode::Kmeans => None,
    };
    let series = smoothed(&spans, n_frames, sigma);
    // Null model: randomly placed events of the mean duration.
    let widths: Vec<f64> = spans
        .iter()
        .map(|&(a, b)| (b.min(n_frames as i64 - 1) - a.max(0) + 1).max(0) as f64)
        .collect();
    let len = (widths.iter().sum::<f64>() / widths.len() as f64) as usize;
    let m = events.len().min(NULL_EVENTS_MAX);
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x4e55_4c4c); // "NULL"
    let mut draws = Vec::with_capacity(NULL_DRAWS);
    if m >= 2 && len >= 1 && n_frames > len {
        // The draws are made in order from one seeded stream, then evaluated in
        // parallel (the same numbers on any thread count).
        let sets: Vec<Vec<(i64, i64)>> = (0..NULL_DRAWS)
            .map(|_| {
                (0..m)
                    .map(|_| {
                        let p = rng.random_range(0..n_frames - len) as i64;
                        (p, p + len as i64 - 1)
                    })
                    .collect()
            })
            .collect();
        let sigma = match mode {
            Mode::Iondiff => Some(len as f64 / 2.355),
            Mode::Sites | Mode::Kmeans => None,
        };
        use rayon::prelude::*;
        let means: Vec<Option<f64>> = sets
            .par_iter()
            .map(|spans| {
                let c = correlation_matrix(&smoothed(spans, n_frames, sigma), n_frames);
                let off: Vec<f64> = (0..m)
                    .flat_map(|i| (0..m).filter(move |&j| j != i).map(move |j| (i, j)))
                    .map(|(i, j)| c[i][j])
                    .filter(|v| v.is_finite())
                    .collect();
                (!off.is_empty()).then(|| off.iter().sum::<f64>() / off.len() as f64)
            })
            .collect();
        draws.extend(means.into_iter().flatten());
    }
    let threshold = if draws.is_empty() {
        0.0
    } else {
        draws.iter().sum::<f64>() / draws.len() as f64
    };
    let bodies = bodies_above(&series, n_frames, threshold);
    let n = bodies.iter().copied().max().unwrap_or(0);
    let counts = (1..=n)
        .map(|b| bodies.iter().filter(|&&x| x == b).count())
        .collect();
    Temporal {
        threshold,
        bodies,
        counts,
    }
}

/// Spatio-temporal collective hops of one trajectory.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Collective {
    pub dt_ps: f64,
    pub dr_a: f64,
    /// Groups of event indices (into `Hops::events`), each a collective event.
    pub groups: Vec<Vec<usize>>,
    /// counts[n − 1]: collective events with n distinct ions.
    pub counts: Vec<usize>,
    /// The share of all events in the largest group.
    pub largest_share: f64,
    /// The largest group holds more than `PERCOLATING_SHARE` of the events: at this
    /// Δt and Δr the proximity links nearly everything, and group sizes say nothing
    /// about collective hops.
    pub percolating: bool,
    /// The pair count against independent ions, or why it was not made (in JSON the
    /// test, or `{"not_tested": reason}`).
    #[serde(serialize_with = "test_or_reason")]
    pub null: Result<NullTest, String>,
}

fn test_or_reason<S: serde::Serializer>(
    v: &Result<NullTest, String>,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    use serde::Serialize;
    match v {
        Ok(t) => t.serialize(s),
        Err(why) => serde_json::json!({ "not_tested": why }).serialize(s),
    }
}

/// Above this share of the events in one group, the grouping percolates.
pub(crate) const PERCOLATING_SHARE: f64 = 0.5;
/// Draws of the independent-ion null model of [`NullTest`].
pub(crate) const PAIR_NULL_DRAWS: usize = 200;

/// Pairs of jumps by different ions close in space and time, against a null model of
/// independent ions: each ion's jump times shifted together by its own random offset
/// (circularly over the run), so that every ion keeps its sites, its rate and the
/// spacing of its own jumps while the timing between ions is lost.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NullTest {
    /// Pairs observed.
    pub pairs: usize,
    /// Mean and standard deviation of the pairs over the draws.
    pub null_mean: f64,
    pub null_sd: f64,
    pub draws: usize,
    /// pairs / null_mean (1: as independent ions).
    pub excess: f64,
    /// One-sided p: (1 + draws with at least as many pairs) / (1 + draws).
    pub p_value: f64,
    /// The verdict in words.
    pub verdict: String,
    /// The pairs of each draw (for the figure).
    pub null_counts: Vec<usize>,
}

/// Pairs of events of different ions whose windows (start frame − `win` ..= end
/// frame) overlap and whose midpoints lie within `dr_a` (minimum image); with each
/// pair given to `link`. Events are swept in order of start (never all pairs).
fn close_pairs(
    spans: &[(i64, i64)],
    ions: &[usize],
    mid: &[[f64; 3]],
    cell: &[[f64; 3]; 3],
    win: i64,
    dr_a: f64,
    mut link: impl FnMut(usize, usize),
) {
    let n = spans.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| (spans[i].0, i));
    let mut active: Vec<usize> = Vec::new();
    for &i in &order {
        let s = spans[i].0;
        active.retain(|&j| spans[j].1 + win >= s);
        for &j in &active {
            if ions[j] == ions[i] {
                continue;
            }
            let d = minimum_image(
                [
                    mid[i][0] - mid[j][0],
                    mid[i][1] - mid[j][1],
                    mid[i][2] - mid[j][2],
                ],
                cell,
            );
            if (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt() <= dr_a {
                link(i, j);
            }
        }
        active.push(i);
    }
}

/// The pair count of `events` (midpoints `mid`, over `n_frames` frames) within `win`
/// frames and `dr_a` Å against [`PAIR_NULL_DRAWS`] draws of independent ions (seeded);
/// not made (the reason) with jumps by fewer than two ions or a window of half the
/// run or more. Shifted jumps do not wrap around the end when paired, in the draws as
/// in the data.
#[allow(clippy::too_many_arguments)]
pub(crate) fn null_test(
    events: &[Event],
    mid: &[[f64; 3]],
    cell: &[[f64; 3]; 3],
    n_frames: usize,
    win: i64,
    dr_a: f64,
    seed: u64,
) -> Result<NullTest, String> {
    let ions: Vec<usize> = events.iter().map(|e| e.ion).collect();
    let mut distinct = ions.clone();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() < 2 {
        return Err("not tested: jumps by fewer than two ions".into());
    }
    if 2 * win.max(0) as usize >= n_frames {
        return Err(
            "not tested: the time window spans half the run or more, so shifting each ion's jumps in time cannot tell correlated from independent ions (narrow the time window)"
                .into(),
        );
    }
    let spans: Vec<(i64, i64)> = events
        .iter()
        .map(|e| (e.start_frame as i64, e.end(n_frames) as i64))
        .collect();
    let count = |spans: &[(i64, i64)]| {
        let mut c = 0usize;
        close_pairs(spans, &ions, mid, cell, win, dr_a, |_, _| c += 1);
        c
    };
    let pairs = count(&spans);
    // The offsets are drawn in order from one seeded stream (the same on any thread
    // count), then the draws are counted in parallel.
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5041_4952); // "PAIR"
    let t = n_frames as i64;
    let shifted: Vec<Vec<(i64, i64)>> = (0..PAIR_NULL_DRAWS)
        .map(|_| {
            let offsets: std::collections::HashMap<usize, i64> = distinct
                .iter()
                .map(|&i| (i, rng.random_range(0..n_frames) as i64))
                .collect();
            spans
                .iter()
                .zip(&ions)
                .map(|(&(a, b), i)| {
                    let s = (a + offsets[i]).rem_euclid(t);
                    (s, s + (b - a))
                })
                .collect()
        })
        .collect();
    use rayon::prelude::*;
    let null: Vec<usize> = shifted.par_iter().map(|sp| count(sp)).collect();
    let m = null.iter().sum::<usize>() as f64 / null.len() as f64;
    let sd = (null.iter().map(|&v| (v as f64 - m).powi(2)).sum::<f64>() / (null.len() - 1) as f64)
        .sqrt();
    let above = null.iter().filter(|&&v| v >= pairs).count();
    let p_value = (1 + above) as f64 / (1 + null.len()) as f64;
    let excess = if m > 0.0 { pairs as f64 / m } else { f64::NAN };
    let draws_as_many = format!("{above} of {} draws as many or more", null.len());
    let p_text = fmt_p(p_value);
    let verdict = if p_value < 0.01 {
        format!(
            "correlated: {pairs} close pairs of jumps by different ions against {m:.1} ± {sd:.1} for independent ions ({excess:.2}×, p = {p_text}: {draws_as_many})"
        )
    } else {
        format!(
            "as independent ions: {pairs} close pairs of jumps by different ions against {m:.1} ± {sd:.1} for independent ions ({excess:.2}×, p = {p_text}: {draws_as_many})"
        )
    };
    Ok(NullTest {
        pairs,
        null_mean: m,
        null_sd: sd,
        draws: null.len(),
        excess,
        p_value,
        verdict,
        null_counts: null,
    })
}

/// Collective hops of `h`: events of different ions within `dt_ps` and `dr_a` joined
/// into groups, the largest group's share (percolation), and the pair count against
/// independent ions (`null_test`, seeded by the hop options' seed).
pub fn collective(h: &Hops, dt_ps: f64, dr_a: f64) -> Collective {
    let e = &h.events;
    let n = e.len();
    let win = (dt_ps / h.dt_ps).ceil() as i64;
    let spans: Vec<(i64, i64)> = e
        .iter()
        .map(|e| (e.start_frame as i64, e.end(h.n_frames) as i64))
        .collect();
    let ions: Vec<usize> = e.iter().map(|e| e.ion).collect();
    let mut groups_of = crate::geom::UnionFind::new(n);
    close_pairs(
        &spans,
        &ions,
        &h.hop_midpoints_a,
        &h.cell,
        win,
        dr_a,
        |i, j| {
            let (a, b) = (groups_of.find(i), groups_of.find(j));
            groups_of.attach(a.max(b), a.min(b));
        },
    );
    let mut groups: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
    for i in 0..n {
        let r = groups_of.find(i);
        groups.entry(r).or_default().push(i);
    }
    let groups: Vec<Vec<usize>> = groups.into_values().collect();
    let bodies: Vec<usize> = groups
        .iter()
        .map(|g| {
            let mut ions: Vec<usize> = g.iter().map(|&i| e[i].ion).collect();
            ions.sort_unstable();
            ions.dedup();
            ions.len()
        })
        .collect();
    let max = bodies.iter().copied().max().unwrap_or(0);
    let largest = groups.iter().map(Vec::len).max().unwrap_or(0);
    let largest_share = if n > 0 {
        largest as f64 / n as f64
    } else {
        0.0
    };
    Collective {
        dt_ps,
        dr_a,
        counts: (1..=max)
            .map(|b| bodies.iter().filter(|&&x| x == b).count())
            .collect(),
        groups,
        largest_share,
        percolating: n >= 10 && largest_share > PERCOLATING_SHARE,
        null: null_test(
            e,
            &h.hop_midpoints_a,
            &h.cell,
            h.n_frames,
            win,
            dr_a,
            h.options.seed,
        ),
    }
}

/// y = A + B·exp(−C·x) with A ≥ 0, least squares: for each C the best A and B are
/// linear; C by a log grid and golden-section refinement.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct ExpFit {
    pub a: f64,
    pub b: f64,
    pub c: f64,
    pub rss: f64,
}

/// The fit, or `None` with fewer than 3 points or when the counts do not decay.
pub(crate) fn fit_exponential(x: &[f64], y: &[f64]) -> Option<ExpFit> {
    if x.len() < 3 || x.len() != y.len() {
        return None;
    }
    let solve = |c: f64| -> ExpFit {
        let e: Vec<f64> = x.iter().map(|&v| (-c * v).exp()).collect();
        let n = x.len() as f64;
        let (se, see, sy, sey) = (
            e.iter().sum::<f64>(),
            e.iter().map(|v| v * v).sum::<f64>(),
            y.iter().sum::<f64>(),
            e.iter().zip(y).map(|(a, b)| a * b).sum::<f64>(),
        );
        let det = n * see - se * se;
        let (mut a, mut b) = if det.abs() > 1e-300 {
            ((sy * see - se * sey) / det, (n * sey - se * sy) / det)
        } else {
            (sy / n, 0.0)
        };
        if a < 0.0 {
            a = 0.0;
            b = if see > 0.0 { sey / see } else { 0.0 };
        }
        let rss = x
            .iter()
            .zip(y)
            .map(|(&xv, &yv)| (yv - a - b * (-c * xv).exp()).powi(2))
            .sum();
        ExpFit { a, b, c, rss }
    };
    let grid: Vec<f64> = (0..=120)
        .map(|i| 10f64.powf(-3.0 + i as f64 * 0.04))
        .collect();
    let mut best = grid
        .iter()
        .map(|&c| solve(c))
        .min_by(|p, q| p.rss.total_cmp(&q.rss))?;
    let (mut lo, mut hi) = (best.c / 1.1, best.c * 1.1);
    let g = 0.5 * (5f64.sqrt() - 1.0);
    for _ in 0..80 {
        let (c1, c2) = (hi - g * (hi - lo), lo + g * (hi - lo));
        if solve(c1).rss < solve(c2).rss {
            hi = c2;
        } else {
            lo = c1;
        }
    }
    let refined = solve(0.5 * (lo + hi));
    if refined.rss < best.rss {
        best = refined;
    }
    // No decay: the counts grow with n (B ≤ 0) or the best rate sits at the grid's
    // slowest end (a straight line, not an exponential): no fit rather than a
    // degenerate one.
    if !(best.b > 0.0) || best.c <= 1.2e-3 {
        return None;
    }
    Some(best)
}

/// The histogram over several trajectories (summed counts for n = 2..=max_bodies,
/// normalised to 1, as IonDiff's analyze_correlations) and its fit.
pub(crate) fn aggregate(
    counts: &[Vec<usize>],
    max_bodies: usize,
) -> (Vec<(usize, f64)>, Option<ExpFit>) {
    let n = counts
        .iter()
        .map(|c| c.len())
        .max()
        .unwrap_or(0)
        .min(max_bodies);
    let mut sums = vec![0usize; n + 1];
    for c in counts {
        for (i, &v) in c.iter().enumerate().take(n) {
            sums[i + 1] += v;
        }
    }
    let total: usize = sums.iter().skip(2).sum();
    let pts: Vec<(usize, f64)> = (2..=n)
        .map(|b| {
            (
                b,
                if total > 0 {
                    sums[b] as f64 / total as f64
                } else {
                    0.0
                },
            )
        })
        .collect();
    let x: Vec<f64> = pts.iter().map(|p| p.0 as f64).collect();
    let y: Vec<f64> = pts.iter().map(|p| p.1).collect();
    let fit = fit_exponential(&x, &y);
    (pts, fit)
}

/// A p-value as people read it: three significant figures, with an exponent below 0.1.
pub(crate) fn fmt_p(p: f64) -> String {
    if p < 0.1 {
        format!("{p:.2e}")
    } else {
        format!("{p:.3}")
    }
}

/// The share of the correlated events (n ≥ 2, summed over trajectories) with more than
/// `max_bodies` bodies: the mass [`aggregate`]'s normalised histogram leaves out.
pub(crate) fn beyond_share(counts: &[Vec<usize>], max_bodies: usize) -> f64 {
    let (mut all, mut beyond) = (0usize, 0usize);
    for c in counts {
        for (i, &v) in c.iter().enumerate().skip(1) {
            all += v;
            if i + 1 > max_bodies {
                beyond += v;
            }
        }
    }
    if all > 0 {
        beyond as f64 / all as f64
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mass_beyond_the_histogram_is_counted() {
        // n = 2: 3, n = 3: 1 (trajectory 1); n = 5: 4 (trajectory 2).
        let counts = vec![vec![9, 3, 1], vec![0, 0, 0, 0, 4]];
        assert_eq!(beyond_share(&counts, 3), 0.5);
        assert_eq!(beyond_share(&counts, 5), 0.0);
        let (pts, _) = aggregate(&counts, 3);
        assert_eq!(pts, vec![(2, 0.75), (3, 0.25)]);
    }

    fn event(ion: usize, frame: usize) -> Event {
        Event {
            ion,
            species: "Li".into(),
            start_frame: frame,
            end_frame: Some(frame + 1),
            from_site: 0,
            to_site: 1,
            vector_a: [2.0, 0.0, 0.0],
            length_a: 2.0,
            back_hop: false,
        }
    }

    /// Independent ions give the null (p rarely below 0.01, the excess near 1); planted
    /// chains, where a neighbour jumps within a frame of each jump, stand far above it.
    #[test]
    fn planted_chains_stand_out_and_independent_hops_give_the_null() {
        let cell = [[30.0, 0.0, 0.0], [0.0, 30.0, 0.0], [0.0, 0.0, 30.0]];
        let n_frames = 1000;
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let mut significant = 0;
        let mut excess = Vec::new();
        for rep in 0..20 {
            // 40 ions at fixed places, 10 jumps each at random frames.
            let (mut ev, mut mid) = (Vec::new(), Vec::new());
            for ion in 0..40 {
                let place: [f64; 3] = std::array::from_fn(|_| rng.random_range(0.0..30.0));
                for _ in 0..10 {
                    ev.push(event(ion, rng.random_range(0..n_frames - 2)));
                    mid.push(place);
                }
            }
            let t = null_test(&ev, &mid, &cell, n_frames, 5, 8.0, rep).unwrap();
            if t.p_value < 0.01 {
                significant += 1;
            }
            excess.push(t.excess);
        }
        assert!(
            significant <= 2,
            "{significant} of 20 independent runs called correlated"
        );
        let mean = excess.iter().sum::<f64>() / excess.len() as f64;
        assert!((mean - 1.0).abs() < 0.15, "mean excess {mean}");
        // Chains: 20 pairs of neighbours 2 Å apart; each jump of the first is followed
        // a frame later by one of the second.
        let (mut ev, mut mid) = (Vec::new(), Vec::new());
        for pair in 0..20 {
            let place: [f64; 3] = std::array::from_fn(|_| rng.random_range(0.0..30.0));
            for _ in 0..10 {
                let f = rng.random_range(0..n_frames - 3);
                ev.push(event(2 * pair, f));
                mid.push(place);
                ev.push(event(2 * pair + 1, f + 1));
                mid.push([place[0] + 2.0, place[1], place[2]]);
            }
        }
        let t = null_test(&ev, &mid, &cell, n_frames, 5, 8.0, 0).unwrap();
        assert!(t.p_value < 0.01 && t.excess > 3.0, "{t:?}");
        assert!(t.verdict.starts_with("correlated"), "{}", t.verdict);
        // A window as long as the run cannot be tested.
        let e = null_test(&ev, &mid, &cell, n_frames, 500, 8.0, 0).unwrap_err();
        assert!(e.contains("half the run"), "{e}");
    }

    /// The held part of each smoothed series is exactly the whole series filtered
    /// (spans near both ends, reflected; short and long; one σ for all or each its
    /// own), and the bodies are those of the dense correlation matrix.
    #[test]
    fn sparse_series_are_the_whole_series_filtered() {
        let n = 300usize;
        let spans: Vec<(i64, i64)> = vec![
            (0, 0),
            (0, 4),
            (2, 9),
            (40, 41),
            (38, 60),
            (100, 100),
            (150, 220),
            (290, 299),
            (296, 299),
            (299, 299),
            (120, 119),
            (-3, 5),
            (280, 310),
        ];
        for sigma in [None, Some(3.0), Some(0.0)] {
            let sparse = smoothed(&spans, n, sigma);
            let dense: Vec<Vec<f64>> = spans
                .iter()
                .map(|&(a, b)| {
                    let mut x = vec![0.0; n];
                    for f in a.max(0)..=b.min(n as i64 - 1) {
                        x[f as usize] = 1.0;
                    }
                    let width = x.iter().filter(|v| **v != 0.0).count() as f64;
                    let y = gaussian_filter1d(&x, sigma.unwrap_or(width / 2.355));
                    let m = y.iter().copied().fold(0.0, f64::max);
                    let mx = x.iter().copied().fold(0.0, f64::max);
                    if m > 0.0 {
                        y.iter().map(|v| v * mx / m).collect()
                    } else {
                        y
                    }
                })
                .collect();
            for (s, d) in sparse.iter().zip(&dense) {
                for (f, v) in d.iter().enumerate() {
                    let held = if (s.lo..s.lo + s.vals.len()).contains(&f) {
                        s.vals[f - s.lo]
                    } else {
                        0.0
                    };
                    assert_eq!(held.to_bits(), v.to_bits(), "{sigma:?} frame {f}");
                }
            }
            let m = correlation_matrix(&sparse, n);
            for threshold in [-0.5, 0.0, 0.05, 0.3] {
                let want: Vec<usize> = m
                    .iter()
                    .map(|row| row.iter().filter(|c| **c > threshold).count())
                    .collect();
                assert_eq!(bodies_above(&sparse, n, threshold), want);
            }
        }
    }

    #[test]
    fn gaussian_filter_matches_scipy() {
        // scipy.ndimage.gaussian_filter1d([0,0,1,1,1,0,0,0], 3/2.355)
        let y = gaussian_filter1d(&[0., 0., 1., 1., 1., 0., 0., 0.], 3.0 / 2.355);
        let want = [
            0.135113, 0.343414, 0.634758, 0.773432, 0.634616, 0.341009, 0.113284, 0.024375,
        ];
        for (a, b) in y.iter().zip(want) {
            assert!((a - b).abs() < 2e-6, "{y:?}");
        }
        // Mass is conserved away from the edges.
        let z = gaussian_filter1d(&[0., 0., 0., 0., 1., 0., 0., 0., 0.], 1.0);
        assert!((z.iter().sum::<f64>() - 1.0).abs() < 1e-9);
    }

    #[test]
    fn exponential_fit_recovers_its_parameters() {
        let x: Vec<f64> = (2..15).map(|v| v as f64).collect();
        let y: Vec<f64> = x.iter().map(|v| 0.01 + 0.8 * (-0.6 * v).exp()).collect();
        let f = fit_exponential(&x, &y).unwrap();
        assert!(
            (f.a - 0.01).abs() < 1e-6 && (f.b - 0.8).abs() < 1e-4 && (f.c - 0.6).abs() < 1e-4,
            "{f:?}"
        );
    }
}
