//! The compute layer: the [`Engine`] (backend choice and one entry point per kernel
//! family), the batch types it hands to the backends ([`batch`]), the CPU twins
//! ([`cpu`]) and the wgpu host side of each shader ([`gpu`]).
//!
//! Dependencies point one way: `batch` ← `cpu`, `gpu` ← `engine`. Nothing here knows
//! about trajectories, phonons or files.

pub mod batch;
pub mod cpu;
pub mod engine;
pub mod gpu;

pub use batch::{
    FracTrajectory, LabelledBatch, LloydBatch, LloydResult, LongSteps, MsdSelection, SelfMsd,
    Unwrapped,
};
pub use engine::{BackendChoice, Engine, UnwrapScan};
