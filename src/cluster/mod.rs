//! Clustering algorithms built on the engine's kernels.

pub mod kmeans;
pub mod silhouette;
