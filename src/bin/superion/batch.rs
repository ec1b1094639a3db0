//! `superion batch`: the command-line words of `superion::batch` (planning, running,
//! merging, Slurm scripts and status live there, for Python too). Each input's
//! command runs in this process, parsed as the command line would parse it.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Parser, Subcommand};

use superion::batch;

#[derive(Subcommand)]
pub enum BatchCommand {
    /// Split the inputs of a manifest into shards balanced by size.
    Plan {
        /// YAML: `command` (phonon features | traj msd | traj hops), `args` (that
        /// command's options), `inputs` (files or folders, relative to the manifest).
        manifest: PathBuf,
        /// How many shards (jobs) to split the inputs into.
        #[arg(long)]
        shards: usize,
        /// The run directory to create.
        #[arg(long)]
        out: PathBuf,
    },
    /// Process one shard (default: $SLURM_ARRAY_TASK_ID), skipping inputs already done.
    Run {
        /// The run directory `batch plan` made.
        run_dir: PathBuf,
        /// The shard to process (0-based; default: $SLURM_ARRAY_TASK_ID).
        #[arg(long)]
        shard: Option<usize>,
    },
    /// Merge the per-input results into the single-process tables, then optionally run
    /// a global step on them.
    Merge {
        /// The run directory `batch plan` made.
        run_dir: PathBuf,
        /// A superion command run on the merged table, e.g. "cluster --k 2..10" or
        /// "screen" (phonon features only; its output goes to merged/<command>/).
        #[arg(long)]
        then: Option<String>,
        /// Merge what is done even if some inputs are still pending.
        #[arg(long)]
        partial: bool,
    },
    /// Write sbatch scripts for the array and a dependent merge job; --submit submits.
    Slurm {
        /// The run directory `batch plan` made.
        run_dir: PathBuf,
        /// The Slurm partition (default: the cluster's default).
        #[arg(long)]
        partition: Option<String>,
        /// Wall-time limit per shard (Slurm format, e.g. 01:00:00).
        #[arg(long)]
        time: Option<String>,
        /// CPU cores per shard.
        #[arg(long, default_value_t = 1)]
        cpus_per_task: usize,
        /// GPUs per shard (mapped to --gres=gpu:N).
        #[arg(long, default_value_t = 0)]
        gpus: usize,
        /// Passed to the merge job's --then.
        #[arg(long)]
        then: Option<String>,
        /// Submit the scripts with sbatch (default: only write them and say how).
        #[arg(long)]
        submit: bool,
    },
    /// Done / failed / pending inputs, per shard, from the run directory alone.
    Status {
        /// The run directory `batch plan` made.
        run_dir: PathBuf,
        /// The status as JSON.
        #[arg(long)]
        json: bool,
    },
}

pub fn batch_cmd(backend: superion::BackendChoice, cmd: BatchCommand) -> anyhow::Result<()> {
    match cmd {
        BatchCommand::Plan {
            manifest,
            shards,
            out,
        } => plan(&manifest, shards, &out),
        BatchCommand::Run { run_dir, shard } => {
            let shard = match shard {
                Some(s) => s,
                None => std::env::var("SLURM_ARRAY_TASK_ID")
                    .context("no --shard and no SLURM_ARRAY_TASK_ID")?
                    .parse()
                    .context("SLURM_ARRAY_TASK_ID is not a number")?,
            };
            let r = batch::run_shard(&run_dir, shard, backend.name(), &mut in_process)?;
            for (path, error) in &r.failures {
                eprintln!("superion: {}: {error}", path.display());
            }
            println!(
                "shard {shard}: {} computed, {} failed, {} already done (of {})",
                r.computed, r.failed, r.skipped, r.inputs
            );
            Ok(())
        }
        BatchCommand::Merge {
            run_dir,
            then,
            partial,
        } => {
            let m = batch::merge(&run_dir, partial)?;
            println!(
                "merged {} of {} inputs ({} failed, {} pending): {} -> {}",
                m.ok,
                m.inputs,
                m.failed,
                m.pending,
                m.written.join(", "),
                m.dir.display()
            );
            if let Some(then) = then {
                let argv = batch::then_argv(&m, backend.name(), &then)?;
                crate::run(crate::Cli::try_parse_from(argv)?)?;
            }
            Ok(())
        }
        BatchCommand::Slurm {
            run_dir,
            partition,
            time,
            cpus_per_task,
            gpus,
            then,
            submit,
        } => {
            let o = batch::SlurmOptions {
                partition,
                time,
                cpus_per_task,
                gpus,
                then,
            };
            let s = batch::slurm(&run_dir, &std::env::current_exe()?, &o)?;
            let dir = s.array.parent().unwrap_or(Path::new("."));
            println!(
                "{}/array.sbatch ({} array tasks) and {}/merge.sbatch",
                dir.display(),
                s.tasks,
                dir.display()
            );
            if !submit {
                println!("submit with: {}", s.submit);
                return Ok(());
            }
            let (id, mid) = batch::submit(&s)?;
            println!(
                "submitted array job {id} ({} tasks) and merge job {mid} (after the array succeeds)",
                s.tasks
            );
            println!(
                "follow with: squeue -j {id},{mid}   or   superion batch status {}",
                std::fs::canonicalize(&run_dir)?.display()
            );
            Ok(())
        }
        BatchCommand::Status { run_dir, json } => status(&run_dir, json),
    }
}

/// One input's command, run in this process as the command line would run it (Ctrl-C
/// stops the whole process, as for any command).
fn in_process(argv: &[String]) -> Result<(), batch::ExecError> {
    let run = || -> anyhow::Result<()> { crate::run(crate::Cli::try_parse_from(argv)?) };
    run().map_err(|e| batch::ExecError::Failed(format!("{e:#}")))
}

fn plan(manifest: &Path, shards: usize, out: &Path) -> anyhow::Result<()> {
    let plan = batch::plan(manifest, shards, out)?;
    println!(
        "{} inputs ({}) in {} shards -> {}",
        plan.inputs.len(),
        plan.kind.words().join(" "),
        plan.shards.len(),
        out.display()
    );
    for (s, a) in plan.shards.iter().enumerate() {
        println!(
            "  shard {s}: {} inputs, {:.1} MB",
            a.len(),
            plan.shard_bytes(s) as f64 / 1e6
        );
    }
    Ok(())
}

fn status(run_dir: &Path, json: bool) -> anyhow::Result<()> {
    let st = batch::status(run_dir)?;
    if json {
        // Through a JSON value: the keys in the order this command has always printed.
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::to_value(&st)?)?
        );
        return Ok(());
    }
    println!(
        "{:>5} {:>7} {:>6} {:>7} {:>8}",
        "shard", "inputs", "done", "failed", "pending"
    );
    for x in &st.shards {
        println!(
            "{:>5} {:>7} {:>6} {:>7} {:>8}",
            x.shard, x.inputs, x.done, x.failed, x.pending
        );
    }
    println!(
        "total: {} inputs, {} done, {} failed, {} pending{}",
        st.inputs,
        st.done,
        st.failed,
        st.pending,
        if st.merged { "; merged" } else { "" }
    );
    Ok(())
}
