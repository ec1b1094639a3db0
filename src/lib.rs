//! superion: a GPU-accelerated engine for the unsupervised discovery of superionic
//! solid-state electrolytes.
//!
//! Layout, lowest layer first (`tests/layers.rs` holds each module to importing only
//! from layers below it): `error`, `geom` (lattice geometry, the union-find) and
//! `progress`; `compute` (the engine: backend choice, the wgpu host side of each shader
//! in `shaders/` and its plain-Rust CPU twin); `cluster` (k-means, hierarchical,
//! spectral, HDBSCAN, silhouettes, k selection); `phonon` (DOS, force constants,
//! descriptors); `traj` (the trajectory, unwrapping, MSD, diffusion, VDOS, hops,
//! correlations, streaming sinks); `io` (readers and writers; `io::reader` is the
//! trajectory reader trait, `io::traj_input` its registry); `materials` (phonon inputs
//! read and described); `crystal` (structures, oxidation states, BVSE, structure
//! descriptors); `validate` (against measured conductivities); `ranking` and `screen`
//! (the screening); `plot` (SVG figures); `report` (each command's output bundle);
//! `bench` (throughput).

// `!(x > 0.0)` is deliberate throughout: it rejects NaN too, which `x <= 0.0` would not.
#![allow(clippy::neg_cmp_op_on_partial_ord)]
// Index loops over the three Cartesian axes read more plainly than iterator chains.
#![allow(clippy::needless_range_loop)]

pub mod batch;
pub mod bench;
pub mod cluster;
pub mod compute;
pub mod crystal;
pub mod error;
pub mod geom;
pub mod io;
pub mod materials;
pub mod phonon;
pub mod plot;
pub mod progress;
pub mod ranking;
pub mod report;
pub mod screen;
pub mod traj;
pub mod validate;

pub use compute::{BackendChoice, Engine};
pub use error::{Error, Result};
