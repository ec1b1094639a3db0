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
//! `bench` (throughput); `batch` (shards of one command over many inputs).
//!
//! The front door, what the command line and the Python binding call (everything
//! else is reachable for tests and tools, but these are the entry points whose
//! behaviour is documented and kept):
//!
//! | task | call |
//! |---|---|
//! | choose a backend | [`Engine::new`] with a [`BackendChoice`] |
//! | read a trajectory | [`io::traj_input::read_trajectory`] (any registered format) |
//! | MSD, D, Haven ratio, conductivity of a file | [`report::msd::diffusion_of`] (in memory or streamed, the library's choice) |
//! | hops of a file | [`report::hops::detect_of`]; of a trajectory in memory [`traj::hops::detect`] |
//! | VDOS of a file | [`report::vdos::vdos_of`] |
//! | phonon descriptors | [`materials::discover`], then `materials::describe_all` |
//! | structure descriptors and BVSE barriers | [`crystal::features`] |
//! | clustering over k | [`cluster::select::analyse`]; k-means [`cluster::kmeans::kmeans_batch`] |
//! | validation against conductivities | [`validate`] |
//! | batches | [`batch::plan`], [`batch::run_shard`], [`batch::merge`], [`batch::status`] |
//!
//! Functions used only inside the crate are `pub(crate)`; a `pub` item is used by the
//! command line, the Python binding, the tests or the benchmarks.

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
