//! Step 3's tools: nearest-site queries on a grid, the cell at each frame, and the
//! framework's drift in fractional coordinates (taken out before sites are found and
//! assigned).

use super::types::SiteDef;
use crate::traj::Trajectory;

use super::frac::{dot_frac, norm};

/// A grid over fractional space for nearest-site queries within `reach` Å.
pub(crate) struct Locator {
    n: [usize; 3],
    cells: Vec<Vec<u32>>,
}

impl Locator {
    pub(crate) fn new(sites: &[SiteDef], cell: &[[f64; 3]; 3], reach: f64) -> Locator {
        let w = crate::geom::cell_widths(cell);
        let n: [usize; 3] =
            std::array::from_fn(|x| ((w[x] / reach.max(1e-3)).floor() as usize).clamp(1, 64));
        let mut cells = vec![Vec::new(); n[0] * n[1] * n[2]];
        for (i, s) in sites.iter().enumerate() {
            let c: [usize; 3] =
                std::array::from_fn(|x| ((s.frac[x] * n[x] as f64) as usize).min(n[x] - 1));
            cells[(c[0] * n[1] + c[1]) * n[2] + c[2]].push(i as u32);
        }
        Locator { n, cells }
    }

    /// Candidate sites near fractional `f` (wrapped), each once.
    pub(crate) fn near(&self, f: [f64; 3], out: &mut Vec<u32>) {
        out.clear();
        let n = self.n;
        let c: [isize; 3] =
            std::array::from_fn(|x| ((f[x] * n[x] as f64) as isize).min(n[x] as isize - 1));
        let range = |x: usize| -> Vec<usize> {
            let mut v: Vec<usize> = (-1isize..=1)
                .map(|d| (c[x] + d).rem_euclid(n[x] as isize) as usize)
                .collect();
            v.sort_unstable();
            v.dedup();
            v
        };
        let (ri, rj, rk) = (range(0), range(1), range(2));
        for &i in &ri {
            for &j in &rj {
                for &k in &rk {
                    out.extend_from_slice(&self.cells[(i * n[1] + j) * n[2] + k]);
                }
            }
        }
    }
}

/// Per-frame cells as runs of equal cells (one run for a fixed cell), as f32 values
/// read back as f64, the precision a trajectory stores them in.
#[derive(Clone, Debug, Default)]
pub(crate) struct CellRuns {
    /// (first frame, cell) of each run, in order.
    runs: Vec<(usize, [[f64; 3]; 3])>,
}

impl CellRuns {
    /// The cells of `traj`.
    pub(crate) fn of(traj: &Trajectory) -> CellRuns {
        let mut c = CellRuns::default();
        for f in 0..traj.cells.shape()[0] {
            c.push(f, traj.cell_rows(f));
        }
        c
    }

    /// Frame `frame`'s cell (frames pushed in order).
    pub(crate) fn push(&mut self, frame: usize, cell: [[f64; 3]; 3]) {
        if self.runs.last().is_none_or(|r| r.1 != cell) {
            self.runs.push((frame, cell));
        }
    }

    /// Frame `frame`'s cell (a binary search over the runs).
    pub(crate) fn at(&self, frame: usize) -> &[[f64; 3]; 3] {
        let i = self.runs.partition_point(|r| r.0 <= frame).max(1) - 1;
        &self.runs[i].1
    }
}

/// The framework's drift in fractional coordinates, frame by frame: the mean over the
/// reference atoms of their displacement from frame 0 (each step by minimum image), so
/// that a breathing NPT cell, which moves no fractional coordinate, is no drift.
pub(crate) struct FracDrift {
    reference: Vec<usize>,
    last: Vec<[f64; 3]>,
    mean: [f64; 3],
}

impl FracDrift {
    pub(crate) fn new(reference: Vec<usize>) -> Self {
        FracDrift {
            reference,
            last: Vec::new(),
            mean: [0.0; 3],
        }
    }

    /// The drift at the next frame, whose fractional positions `frac_of(atom)` gives.
    pub(crate) fn next(&mut self, frac_of: impl Fn(usize) -> [f32; 3]) -> [f64; 3] {
        let n = self.reference.len();
        if n == 0 {
            return [0.0; 3];
        }
        let now: Vec<[f64; 3]> = self
            .reference
            .iter()
            .map(|&a| {
                let v = frac_of(a);
                std::array::from_fn(|x| v[x] as f64)
            })
            .collect();
        if !self.last.is_empty() {
            for (p, q) in self.last.iter().zip(&now) {
                for x in 0..3 {
                    let d = q[x] - p[x];
                    self.mean[x] += (d - d.round()) / n as f64;
                }
            }
        }
        self.last = now;
        self.mean
    }
}

/// Framework drift below this (Å, the largest over the run) is vibration and is left
/// in the positions sites are found from and assigned to (GEMDAT's behaviour); above
/// it, it is taken out.
pub(crate) const SITE_DRIFT_MIN_A: f64 = 0.2;

/// The per-frame drift (fractional) to take out before sites are found and assigned:
/// all of it when the framework moves more than [`SITE_DRIFT_MIN_A`] at some frame
/// (said in `notes`), none otherwise.
pub(crate) fn drift_for_sites(
    shift: Vec<[f64; 3]>,
    cell: &[[f64; 3]; 3],
    notes: &mut Vec<String>,
) -> Vec<[f64; 3]> {
    let largest = shift
        .iter()
        .map(|d| norm(dot_frac(*d, cell)))
        .fold(0.0f64, f64::max);
    if largest > SITE_DRIFT_MIN_A {
        notes.push(format!(
            "the framework drifts up to {largest:.2} Å from its start: its drift is taken out before sites are found and assigned (as traj msd takes it out)"
        ));
        shift
    } else {
        vec![[0.0; 3]; shift.len()]
    }
}
