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

/// Prepare the process environment for the GPU drivers, once, before any thread that
/// reads the environment exists (the CLI's `main`, the Python module's import). Mesa's
/// Vulkan and GL drivers print a warning on every start when `XDG_RUNTIME_DIR` is unset
/// (as in containers, CI and many batch jobs): this gives the user a private one,
/// `$TMPDIR/superion-runtime-UID` (mode 0700, shared by the user's runs, not one per
/// process). A value the user set is kept.
///
/// # Safety
/// Changes the process environment: no other thread may read or write it meanwhile.
pub unsafe fn prepare_runtime_dir() {
    if std::env::var_os("XDG_RUNTIME_DIR").is_some() {
        return;
    }
    #[cfg(unix)]
    // SAFETY: getuid has no preconditions and cannot fail.
    let user = unsafe { libc::getuid() };
    #[cfg(not(unix))]
    let user = 0;
    let dir = std::env::temp_dir().join(format!("superion-runtime-{user}"));
    if std::fs::create_dir_all(&dir).is_ok() {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700));
        }
        // SAFETY: the caller guarantees no other thread touches the environment.
        unsafe { std::env::set_var("XDG_RUNTIME_DIR", &dir) };
    }
}
