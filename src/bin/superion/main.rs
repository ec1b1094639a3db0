//! The `superion` command line: it parses arguments, checks every option before any
//! input is read, calls the library and prints what it returns. All analysis lives in
//! the library (`superion::...`); each subcommand has a module here.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    quiet_on_broken_pipe();
    ensure_runtime_dir();
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

/// `superion ... | head`: when the reader goes away, stop quietly as Unix tools do
/// (the default SIGPIPE action), not with a panic on the next write.
fn quiet_on_broken_pipe() {
    #[cfg(unix)]
    // SAFETY: restoring the default action of one signal, before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Mesa's Vulkan and GL drivers print a warning on every start when XDG_RUNTIME_DIR
/// is unset (as in containers and CI): give this user a private one, shared by its
/// runs (one folder per user, not one left behind per process).
fn ensure_runtime_dir() {
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
        // SAFETY: called first thing in main, before any other thread exists.
        unsafe { std::env::set_var("XDG_RUNTIME_DIR", &dir) };
    }
}
