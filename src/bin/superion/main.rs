//! The `superion` command line: it parses arguments, checks every option before any
//! input is read, calls the library and prints what it returns. All analysis lives in
//! the library (`superion::...`); each subcommand has a module here.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

unsafe extern "C" {
    /// mimalloc's option setter (in the static library the `mimalloc` crate links).
    fn mi_option_set(option: i32, value: std::os::raw::c_long);
}

/// `mi_option_purge_delay` in the mimalloc that libmimalloc-sys 0.1.49 builds (the
/// 16th option of `mi_option_e` in both its v2 and v3 headers; Cargo.lock pins it).
const MI_OPTION_PURGE_DELAY: i32 = 15;

/// Freed memory goes back to the system at once instead of 10 ms later: a reader's
/// chunk buffers, freed and refilled in turn, otherwise pile up as resident pages
/// (LiPS.exyz, 84 MB: `traj msd` peak 254 -> 192 MB, `traj hops` 357 -> 301 MB, at
/// the same speed). `MIMALLOC_PURGE_DELAY` in the environment still wins.
fn return_freed_memory_promptly() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: a plain C setter of a process-wide option, called before any other
        // thread exists.
        unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, 0) };
    }
}

mod args;
mod batch;
mod cluster;
mod devices;
mod messages;
mod phonon;
mod screen;
mod structure;
mod traj;

use std::process::ExitCode;

use clap::Parser;

use args::{Cli, Command};
pub use messages::flags;

fn main() -> ExitCode {
    return_freed_memory_promptly();
    quiet_on_broken_pipe();
    // SAFETY: first thing in main, before any other thread exists.
    unsafe { superion::compute::prepare_runtime_dir() };
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("superion: error: {}", messages::flags(&messages::chain(&e)));
            ExitCode::FAILURE
        }
    }
}

/// Run one parsed command line (also used by `batch` for each input).
pub fn run(cli: Cli) -> anyhow::Result<()> {
    let backend = cli.backend.into();
    match cli.command {
        Command::Devices { json } => devices::devices(json),
        Command::Bench { quick, json, only } => devices::bench(backend, quick, json, only),
        Command::Phonon(cmd) => phonon::run(backend, cmd),
        Command::Traj(cmd) => traj::run(backend, cmd),
        Command::Structure(cmd) => structure::run(backend, cmd),
        Command::Screen(a) => screen::screen(backend, a),
        Command::Validate(a) => screen::validate(a),
        Command::Demo { out } => screen::demo(backend, &out),
        Command::Cluster(a) => cluster::cluster(backend, a),
        Command::Batch(cmd) => batch::batch_cmd(backend, cmd),
    }
}

/// Open an output folder before any work: created, writable, locked against a second
/// run, its previous manifest removed (see `superion::io::bundle`).
pub fn open_out(
    dir: Option<&std::path::Path>,
) -> anyhow::Result<Option<superion::io::bundle::Bundle>> {
    Ok(dir.map(superion::io::bundle::Bundle::open).transpose()?)
}

/// Write a bundle's files with `write` (which returns their names), then its manifest
/// (last), and say what was written. Called before anything goes to stdout, so a closed
/// pipe there cannot lose the files.
pub fn finish_out(
    bundle: Option<superion::io::bundle::Bundle>,
    command: &str,
    write: impl FnOnce(&std::path::Path) -> anyhow::Result<Vec<String>>,
) -> anyhow::Result<()> {
    if let Some(b) = bundle {
        let written = write(b.dir())?;
        let dir = b.dir().to_path_buf();
        b.commit(command)?;
        eprintln!(
            "superion: {}, {} -> {}",
            written.join(", "),
            superion::io::bundle::MANIFEST,
            dir.display()
        );
    }
    Ok(())
}

/// `superion ... | head`: when the reader goes away, stop quietly as Unix tools do
/// (the default SIGPIPE action), not with a panic on the next write.
fn quiet_on_broken_pipe() {
    #[cfg(unix)]
    // SAFETY: restoring the default action of one signal, before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
