//! superion: a GPU-accelerated engine for the unsupervised discovery of superionic
//! solid-state electrolytes.
//!
//! Layout: `engine` (backend choice and the kernel entry points), `gpu` (all wgpu glue
//! and the host side of each shader in `shaders/`), `cpu` (the CPU twin of each
//! shader), `cluster` (k-means, silhouette), `io` (readers and writers), `phonon`
//! (the DOS type and its descriptors), `plot` (SVG figures), `bench` (throughput).

// `!(x > 0.0)` is deliberate throughout: it rejects NaN too, which `x <= 0.0` would not.
#![allow(clippy::neg_cmp_op_on_partial_ord)]
// Index loops over the three Cartesian axes read more plainly than iterator chains.
#![allow(clippy::needless_range_loop)]

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
