//! Output bundles: what one analysis writes into its `--out` folder (tables, JSON
//! summaries, figures), typed and callable from the library. This layer sits above
//! the analyses, the readers and writers (`crate::io`) and the figures (`crate::plot`).

pub mod cluster;
pub mod correlations;
pub mod demo;
pub mod hops;
pub mod msd;
pub mod phonon;
pub mod screen;
pub mod validation;
pub mod vdos;
