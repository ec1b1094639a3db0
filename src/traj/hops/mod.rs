//! Hop detection. The default, [`Mode::Sites`], is site-based ([`sites`]):
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

pub mod cluster;
pub mod discovery;
mod frac;
mod jump_types;
mod known;
mod radius;
pub mod sites;
pub mod stats;
pub mod stream;
mod track;
pub mod types;

pub use stats::Descriptors;
pub use stream::HopStream;
pub use types::{
    Event, HopOptions, Hops, IonSites, JumpAnalysis, JumpType, KnownSite, KnownSites, Mode, Site,
    SiteOptions, Stats,
};

use crate::compute::Engine;
use crate::error::Result;
use crate::traj::{Prepared, Trajectory};

/// Detect hops in `traj` with the mode `opts.mode` asks for.
pub fn detect(engine: &Engine, traj: &Trajectory, opts: &HopOptions) -> Result<Hops> {
    detect_prepared(engine, &traj.prepare(engine, None)?, opts)
}

/// [`detect`] on a trajectory already unwrapped (shared with the MSD, say).
pub fn detect_prepared(engine: &Engine, p: &Prepared, opts: &HopOptions) -> Result<Hops> {
    opts.check()?;
    match opts.mode {
        Mode::Sites => sites::detect(engine, p, opts),
        Mode::Kmeans | Mode::Iondiff => cluster::detect(engine, p, opts),
    }
}
