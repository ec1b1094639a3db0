//! Clustering algorithms built on the engine's kernels.

pub mod density;
pub mod gap;
pub mod hierarchical;
pub mod kmeans;
pub mod scores;
pub mod select;
pub mod silhouette;
pub mod spectral;
