//! `superion batch`: one command over many inputs, split into shards that run as a
//! Slurm job array (or by hand), resumable, then merged into the tables a
//! single-process run writes.
//!
//! A run directory holds `plan.json` (the command, its options, every input with its
//! size and SHA-256, the shards, the superion version), `results/<id>/` (one folder
//! per input, moved into place only when complete, with `done.json` saying ok or
//! failed and why), `logs/shard-<i>.log` (what each shard computed), `slurm/` (the
//! sbatch scripts) and `merged/` (the merged tables).

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};

use superion::io;

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

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    command: String,
    #[serde(default)]
    args: Vec<String>,
    inputs: Vec<PathBuf>,
}

#[derive(Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, Debug)]
#[serde(rename_all = "kebab-case")]
enum Kind {
    PhononFeatures,
    PhononDos,
    TrajMsd,
    TrajHops,
}

impl Kind {
    fn parse(s: &str) -> anyhow::Result<Kind> {
        let words: Vec<&str> = s.split_whitespace().collect();
        Ok(match words.as_slice() {
            ["phonon", "features"] => Kind::PhononFeatures,
            ["traj", "msd"] => Kind::TrajMsd,
            ["traj", "hops"] => Kind::TrajHops,
            ["phonon", "dos"] => Kind::PhononDos,
            _ => bail!(
                "command {s:?}: expected one of \"phonon features\", \"phonon dos\", \"traj msd\", \"traj hops\""
            ),
        })
    }

    fn words(self) -> [&'static str; 2] {
        match self {
            Kind::PhononFeatures => ["phonon", "features"],
            Kind::PhononDos => ["phonon", "dos"],
            Kind::TrajMsd => ["traj", "msd"],
            Kind::TrajHops => ["traj", "hops"],
        }
    }
}

#[derive(serde::Serialize, serde::Deserialize, Clone)]
struct PlanInput {
    id: String,
    path: PathBuf,
    bytes: u64,
    sha256: String,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Plan {
    superion_version: String,
    created_unix: u64,
    manifest: PathBuf,
    kind: Kind,
    args: Vec<String>,
    inputs: Vec<PlanInput>,
    shards: Vec<Vec<usize>>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Done {
    status: String,
    sha256: String,
    seconds: f64,
    error: Option<String>,
    shard: usize,
}

/// SHA-256 of an input (a file, or a folder's files), and its bytes.
fn hash_input(path: &Path) -> anyhow::Result<(String, u64)> {
    Ok(superion::io::walk::digest(path)?)
}

fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(60)
        .collect()
}

fn read_plan(run_dir: &Path) -> anyhow::Result<Plan> {
    let p = run_dir.join("plan.json");
    let text = std::fs::read_to_string(&p).with_context(|| {
        format!(
            "{}: not a batch run directory (no plan.json)",
            run_dir.display()
        )
    })?;
    let plan: Plan =
        serde_json::from_str(&text).with_context(|| format!("{}: malformed plan", p.display()))?;
    plan.check()
        .map_err(|e| anyhow::anyhow!("{}: {e} (edit it back, or plan again)", p.display()))?;
    Ok(plan)
}

impl Plan {
    /// A hand-edited plan is checked before anything runs: ids that are safe folder
    /// names and unique, SHA-256 digests, shards that name every input exactly once.
    fn check(&self) -> Result<(), String> {
        let mut ids = std::collections::BTreeSet::new();
        for (i, inp) in self.inputs.iter().enumerate() {
            if inp.id.is_empty() || inp.id.starts_with('.') || sanitize(&inp.id) != inp.id {
                return Err(format!(
                    "inputs[{i}].id {:?}: expected a folder name of letters, digits, '.', '-' and '_' (not starting with '.')",
                    inp.id
                ));
            }
            if !ids.insert(inp.id.as_str()) {
                return Err(format!("inputs[{i}].id {:?}: used twice", inp.id));
            }
            if inp.sha256.len() != 64 || !inp.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(format!(
                    "inputs[{i}].sha256: expected 64 hexadecimal digits, found {:?}",
                    inp.sha256
                ));
            }
        }
        check_args(&self.args)?;
        if self.shards.is_empty() {
            return Err("shards: empty; a plan has at least one shard".into());
        }
        let mut seen = vec![None; self.inputs.len()];
        for (s, shard) in self.shards.iter().enumerate() {
            for (j, &i) in shard.iter().enumerate() {
                let Some(slot) = seen.get_mut(i) else {
                    return Err(format!(
                        "shards[{s}][{j}] = {i}: there are {} inputs (0..{})",
                        self.inputs.len(),
                        self.inputs.len()
                    ));
                };
                if let Some(other) = slot.replace(s) {
                    return Err(format!(
                        "shards[{s}][{j}] = {i}: input {i} is already in shard {other}"
                    ));
                }
            }
        }
        if let Some(i) = seen.iter().position(Option::is_none) {
            return Err(format!(
                "inputs[{i}] ({}) is in no shard",
                self.inputs[i].path.display()
            ));
        }
        Ok(())
    }
}

/// A plan's extra arguments may not choose where a shard writes: each input's output
/// folder is `results/<id>` (the shard adds `--out` itself) and scratch files of a
/// streamed run go to the system's temporary folder. `--out` and `--scratch` in `args`
/// would write outside the run folder (or collide between inputs), so they are refused,
/// as the manifest's `args` when the plan is made and a hand-edited plan.json before it runs.
fn check_args(args: &[String]) -> Result<(), String> {
    for (i, a) in args.iter().enumerate() {
        let name = a.split_once('=').map_or(a.as_str(), |(n, _)| n);
        if matches!(name, "--out" | "--scratch") {
            return Err(format!(
                "args[{i}] {a:?}: a batch shard writes only inside its run folder (results/<id>, chosen by the shard); {name} is not allowed in a plan's args"
            ));
        }
    }
    Ok(())
}

fn read_done(run_dir: &Path, inp: &PlanInput) -> Option<Done> {
    let text =
        std::fs::read_to_string(run_dir.join("results").join(&inp.id).join("done.json")).ok()?;
    serde_json::from_str(&text).ok()
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
            run_shard(backend, &run_dir, shard)
        }
        BatchCommand::Merge {
            run_dir,
            then,
            partial,
        } => merge(backend, &run_dir, then.as_deref(), partial),
        BatchCommand::Slurm {
            run_dir,
            partition,
            time,
            cpus_per_task,
            gpus,
            then,
            submit,
        } => slurm(&run_dir, partition, time, cpus_per_task, gpus, then, submit),
        BatchCommand::Status { run_dir, json } => status(&run_dir, json),
    }
}

fn plan(manifest: &Path, shards: usize, out: &Path) -> anyhow::Result<()> {
    if shards == 0 {
        bail!("--shards must be at least 1");
    }
    let text = io::read_text(manifest)?;
    let m: Manifest = serde_yaml_ng::from_str(&text).map_err(|e| {
        let line = e.location().map_or(0, |l| l.line());
        io::parse_err(
            manifest,
            line,
            format!("expected `command`, `args` (a list) and `inputs` (a list): {e}"),
        )
    })?;
    let kind = Kind::parse(&m.command).with_context(|| format!("{}", manifest.display()))?;
    if m.inputs.is_empty() {
        bail!("{}: no inputs", manifest.display());
    }
    check_args(&m.args).map_err(|e| anyhow::anyhow!("{}: {e}", manifest.display()))?;
    let base = manifest.parent().unwrap_or(Path::new("."));
    let given: Vec<PathBuf> = m
        .inputs
        .iter()
        .map(|p| {
            if p.is_relative() {
                base.join(p)
            } else {
                p.clone()
            }
        })
        .collect();
    // The same expansion as the single-process command.
    let paths: Vec<PathBuf> = match kind {
        Kind::PhononFeatures => superion::materials::discover(&given)?
            .iter()
            .map(|i| i.path().to_path_buf())
            .collect(),
        Kind::PhononDos => {
            let found = superion::materials::discover(&given)?;
            if let Some(other) = found
                .iter()
                .find(|i| !matches!(i, superion::materials::PhononInput::PhononDb(_)))
            {
                bail!(
                    "{}: phonon dos computes a DOS from force sets or force constants (PhononDB entries, phonopy_params.yaml), not from a finished DOS",
                    other.path().display()
                );
            }
            found.iter().map(|i| i.path().to_path_buf()).collect()
        }
        Kind::TrajMsd | Kind::TrajHops => {
            for p in &given {
                if !p.exists() {
                    bail!("{}: no such file or folder", p.display());
                }
                if p.is_dir() {
                    bail!("{}: a folder; a trajectory input is a file", p.display());
                }
                if !p.is_file() {
                    bail!(
                        "{}: not a regular file (a device, FIFO or socket is not an input)",
                        p.display()
                    );
                }
            }
            given
        }
    };
    let inputs: Vec<PlanInput> = paths
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let abs = std::fs::canonicalize(p).with_context(|| format!("{}", p.display()))?;
            let (sha256, bytes) = hash_input(&abs)?;
            let name = abs
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            Ok(PlanInput {
                id: format!("{i:06}-{}", sanitize(&name)),
                path: abs,
                bytes,
                sha256,
            })
        })
        .collect::<anyhow::Result<_>>()?;
    // Largest first onto the lightest shard, then each shard in input order.
    let mut order: Vec<usize> = (0..inputs.len()).collect();
    order.sort_by(|&a, &b| inputs[b].bytes.cmp(&inputs[a].bytes).then(a.cmp(&b)));
    let n_shards = shards.min(inputs.len());
    let mut load = vec![0u64; n_shards];
    let mut assigned: Vec<Vec<usize>> = vec![Vec::new(); n_shards];
    for i in order {
        let s = (0..n_shards).min_by_key(|&s| (load[s], s)).unwrap_or(0);
        load[s] += inputs[i].bytes.max(1);
        assigned[s].push(i);
    }
    for a in &mut assigned {
        a.sort_unstable();
    }
    if out.join("plan.json").exists() {
        bail!(
            "{}: already holds a plan (use a new run directory)",
            out.display()
        );
    }
    for sub in ["results", "logs", "slurm", "merged"] {
        std::fs::create_dir_all(out.join(sub)).with_context(|| format!("{}", out.display()))?;
    }
    let plan = Plan {
        superion_version: env!("CARGO_PKG_VERSION").to_string(),
        created_unix: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        manifest: std::fs::canonicalize(manifest)?,
        kind,
        args: m.args,
        inputs,
        shards: assigned,
    };
    plan.check()
        .map_err(|e| anyhow::anyhow!("{}: {e}", manifest.display()))?;
    io::write_atomic(
        &out.join("plan.json"),
        serde_json::to_string_pretty(&plan)?.as_bytes(),
    )?;
    println!(
        "{} inputs ({}) in {} shards -> {}",
        plan.inputs.len(),
        kind.words().join(" "),
        plan.shards.len(),
        out.display()
    );
    for (s, a) in plan.shards.iter().enumerate() {
        let bytes: u64 = a.iter().map(|&i| plan.inputs[i].bytes).sum();
        println!(
            "  shard {s}: {} inputs, {:.1} MB",
            a.len(),
            bytes as f64 / 1e6
        );
    }
    Ok(())
}

/// The per-input command line.
fn argv(backend: superion::BackendChoice, plan: &Plan, inp: &PlanInput, out: &Path) -> Vec<String> {
    let mut v: Vec<String> = vec!["superion".into(), "--backend".into(), backend.name().into()];
    v.extend(plan.kind.words().iter().map(|s| s.to_string()));
    v.push(inp.path.display().to_string());
    if plan.kind == Kind::PhononFeatures {
        v.push("--strict".into());
    }
    v.extend(plan.args.iter().cloned());
    v.push("--out".into());
    v.push(match plan.kind {
        Kind::PhononFeatures => out.join("features.csv").display().to_string(),
        _ => out.display().to_string(),
    });
    v
}

fn run_shard(backend: superion::BackendChoice, run_dir: &Path, shard: usize) -> anyhow::Result<()> {
    let plan = read_plan(run_dir)?;
    let Some(mine) = plan.shards.get(shard) else {
        bail!(
            "shard {shard}: the plan has shards 0..{}",
            plan.shards.len()
        );
    };
    // Test hooks: die like a killed or preempted task, after the n-th input is moved
    // into place, or with the n-th input written but not yet moved.
    let hook = |name: &str| -> Option<usize> { std::env::var(name).ok()?.parse().ok() };
    let abort_after = hook("SUPERION_BATCH_ABORT_AFTER");
    let abort_before_rename = hook("SUPERION_BATCH_ABORT_BEFORE_RENAME");
    // Half-written folders of this shard's inputs left by a killed run (another
    // process id) are removed; a shard owns its inputs, so no other run writes them.
    if let Ok(entries) = std::fs::read_dir(run_dir.join("results")) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if let Some((id, _)) = name.strip_prefix('.').and_then(|n| n.split_once(".tmp-"))
                && mine.iter().any(|&i| plan.inputs[i].id == id)
            {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    let log_path = run_dir.join("logs").join(format!("shard-{shard}.log"));
    let mut log = open_log(&log_path)?;
    let (mut computed, mut skipped, mut failed) = (0usize, 0usize, 0usize);
    let bar = superion::progress::bar(mine.len() as u64, &format!("shard {shard}"));
    for &i in mine {
        let inp = &plan.inputs[i];
        bar.inc(1);
        if read_done(run_dir, inp).is_some_and(|d| d.status == "ok" && d.sha256 == inp.sha256) {
            skipped += 1;
            continue;
        }
        let t0 = std::time::Instant::now();
        let final_dir = run_dir.join("results").join(&inp.id);
        let tmp = run_dir
            .join("results")
            .join(format!(".{}.tmp-{}", inp.id, std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp)?;
        let outcome: anyhow::Result<()> = (|| {
            let (now, _) = hash_input(&inp.path)?;
            if now != inp.sha256 {
                bail!(
                    "{}: changed since the plan was made (plan again)",
                    inp.path.display()
                );
            }
            let cli = crate::Cli::try_parse_from(argv(backend, &plan, inp, &tmp))?;
            crate::run(cli)
        })();
        let done = Done {
            status: if outcome.is_ok() { "ok" } else { "failed" }.into(),
            sha256: inp.sha256.clone(),
            seconds: t0.elapsed().as_secs_f64(),
            error: outcome.as_ref().err().map(|e| format!("{e:#}")),
            shard,
        };
        io::write_atomic(
            &tmp.join("done.json"),
            serde_json::to_string_pretty(&done)?.as_bytes(),
        )?;
        if abort_before_rename.is_some_and(|n| computed + failed + 1 >= n) {
            std::process::abort();
        }
        let _ = std::fs::remove_dir_all(&final_dir);
        std::fs::rename(&tmp, &final_dir)
            .with_context(|| format!("moving {} into place", final_dir.display()))?;
        writeln!(log, "{} {} {:.3}", inp.id, done.status, done.seconds)?;
        if done.status == "ok" {
            computed += 1;
        } else {
            failed += 1;
            eprintln!(
                "superion: {}: {}",
                inp.path.display(),
                done.error.as_deref().unwrap_or("")
            );
        }
        if abort_after.is_some_and(|n| computed + failed >= n) {
            std::process::abort();
        }
    }
    bar.finish_and_clear();
    println!(
        "shard {shard}: {computed} computed, {failed} failed, {skipped} already done (of {})",
        mine.len()
    );
    Ok(())
}

fn merge(
    backend: superion::BackendChoice,
    run_dir: &Path,
    then: Option<&str>,
    partial: bool,
) -> anyhow::Result<()> {
    let plan = read_plan(run_dir)?;
    let merged = run_dir.join("merged");
    std::fs::create_dir_all(&merged)?;
    let mut ok: Vec<&PlanInput> = Vec::new();
    let mut failures: Vec<Vec<String>> = Vec::new();
    let mut pending = 0;
    for inp in &plan.inputs {
        match read_done(run_dir, inp) {
            Some(d) if d.status == "ok" && d.sha256 == inp.sha256 => ok.push(inp),
            Some(d) if d.status != "ok" => failures.push(vec![
                inp.path.display().to_string(),
                d.error.unwrap_or_default(),
            ]),
            _ => pending += 1,
        }
    }
    if pending > 0 && !partial {
        bail!(
            "{pending} of {} inputs are not done yet (superion batch status {}); --partial merges what is",
            plan.inputs.len(),
            run_dir.display()
        );
    }
    let res = |inp: &PlanInput, f: &str| run_dir.join("results").join(&inp.id).join(f);
    let mut written = Vec::new();
    match plan.kind {
        Kind::PhononFeatures => {
            // Union of the columns in first-seen order, as the single-process table.
            let mut header: Vec<String> = Vec::new();
            let mut rows: Vec<Vec<(String, String)>> = Vec::new();
            for inp in &ok {
                let (h, body) = read_csv(&res(inp, "features.csv"))?;
                for c in &h {
                    if !header.contains(c) {
                        header.push(c.clone());
                    }
                }
                for r in body {
                    rows.push(h.iter().cloned().zip(r).collect());
                }
            }
            let body: Vec<Vec<String>> = rows
                .iter()
                .map(|r| {
                    header
                        .iter()
                        .map(|c| {
                            r.iter()
                                .find(|(k, _)| k == c)
                                .map(|(_, v)| v.clone())
                                .unwrap_or_default()
                        })
                        .collect()
                })
                .collect();
            io::write_csv(&merged.join("features.csv"), &header, &body)?;
            written.push(format!("features.csv ({} materials)", body.len()));
        }
        Kind::PhononDos => {
            // One descriptor row per material (the dos.json of each), and the reports.
            let mut header: Vec<String> = vec!["input".into()];
            let mut body = Vec::new();
            let mut reports = Vec::new();
            for inp in &ok {
                let text = std::fs::read_to_string(res(inp, "dos.json"))?;
                let v: serde_json::Value = serde_json::from_str(&text)?;
                if let Some(d) = v["descriptors"].as_object() {
                    if header.len() == 1 {
                        header.extend(d.keys().cloned());
                    }
                    let mut row = vec![inp.path.display().to_string()];
                    for k in &header[1..] {
                        row.push(match &d.get(k) {
                            Some(serde_json::Value::String(t)) => t.clone(),
                            Some(serde_json::Value::Null) | None => String::new(),
                            Some(x) => x.to_string(),
                        });
                    }
                    body.push(row);
                }
                reports.push(serde_json::json!({"input": inp.path, "report": v["report"], "dir": run_dir.join("results").join(&inp.id)}));
            }
            io::write_csv(&merged.join("dos_features.csv"), &header, &body)?;
            io::write_atomic(
                &merged.join("reports.json"),
                serde_json::to_string_pretty(&reports)?.as_bytes(),
            )?;
            written.push(format!(
                "dos_features.csv and reports.json ({} materials; each DOS in results/<id>/)",
                body.len()
            ));
        }
        Kind::TrajMsd | Kind::TrajHops => {
            let mut summaries = Vec::new();
            let summary_file = if plan.kind == Kind::TrajMsd {
                "summary.json"
            } else {
                "descriptors.json"
            };
            for inp in &ok {
                let text = std::fs::read_to_string(res(inp, summary_file))?;
                let v: serde_json::Value = serde_json::from_str(&text)?;
                summaries.push(serde_json::json!({"input": inp.path, "summary": v}));
            }
            io::write_atomic(
                &merged.join("summaries.json"),
                serde_json::to_string_pretty(&summaries)?.as_bytes(),
            )?;
            written.push(format!("summaries.json ({} trajectories)", summaries.len()));
            if plan.kind == Kind::TrajHops {
                let mut header: Vec<String> = vec!["trajectory".into()];
                let mut body = Vec::new();
                for inp in &ok {
                    let (h, rows) = read_csv(&res(inp, "events.csv"))?;
                    if header.len() == 1 {
                        header.extend(h);
                    }
                    for r in rows {
                        let mut row = vec![inp.path.display().to_string()];
                        row.extend(r);
                        body.push(row);
                    }
                }
                io::write_csv(&merged.join("events.csv"), &header, &body)?;
                written.push(format!("events.csv ({} events)", body.len()));
            }
        }
    }
    io::write_csv(
        &merged.join("failures.csv"),
        &["input".to_string(), "error".to_string()],
        &failures,
    )?;
    written.push(format!("failures.csv ({} failed)", failures.len()));
    println!(
        "merged {} of {} inputs ({} failed, {} pending): {} -> {}",
        ok.len(),
        plan.inputs.len(),
        failures.len(),
        pending,
        written.join(", "),
        merged.display()
    );
    if let Some(then) = then {
        if plan.kind != Kind::PhononFeatures {
            bail!("--then runs on the merged features table (phonon features runs only)");
        }
        let words: Vec<String> = then.split_whitespace().map(String::from).collect();
        let Some(first) = words.first() else {
            bail!("--then is empty")
        };
        let out = merged.join(first);
        let backend = format!("{backend:?}").to_lowercase();
        let mut argv: Vec<String> = vec![
            "superion".into(),
            "--backend".into(),
            backend,
            first.clone(),
        ];
        argv.push(merged.join("features.csv").display().to_string());
        argv.extend(words[1..].iter().cloned());
        if !words.iter().any(|w| w == "--out") {
            argv.push("--out".into());
            argv.push(out.display().to_string());
        }
        crate::run(crate::Cli::try_parse_from(argv)?)?;
    }
    Ok(())
}

fn read_csv(path: &Path) -> anyhow::Result<(Vec<String>, Vec<Vec<String>>)> {
    let (header, records) = superion::io::table::read_csv(path, false)?;
    let rows = records
        .iter()
        .map(|r| r.iter().map(String::from).collect())
        .collect();
    Ok((header, rows))
}

/// A shard's log, appended to; a symbolic link (or anything but a regular file) there
/// is refused, never followed: a run folder someone else can write into must not
/// make a shard append outside it.
fn open_log(path: &Path) -> anyhow::Result<std::fs::File> {
    let mut o = std::fs::OpenOptions::new();
    o.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.custom_flags(libc::O_NOFOLLOW);
    }
    if let Ok(m) = std::fs::symlink_metadata(path)
        && !m.is_file()
    {
        bail!(
            "{}: not a regular file (a link or a special file); a shard log is never followed elsewhere: remove it",
            path.display()
        );
    }
    o.open(path)
        .with_context(|| format!("{}: opening the shard log", path.display()))
}

/// One word for bash: single-quoted, a single quote written as '\\''. Safe for any
/// bytes, newlines included.
pub(crate) fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// A value for an #SBATCH line (a partition, a time limit): Slurm's names and times
/// use letters, digits and `_.,:+-` only, so anything else (spaces, quotes, `$`, a
/// newline that would start a line of its own) is refused rather than escaped.
fn slurm_word<'a>(v: &'a str, option: &str) -> anyhow::Result<&'a str> {
    if v.is_empty()
        || !v
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.,:+-".contains(c))
    {
        bail!(
            "{option} {v:?}: expected a Slurm name or time (letters, digits and _ . , : + - only)"
        );
    }
    Ok(v)
}

/// A path for an #SBATCH --output line: double-quoted (sbatch keeps the spaces), `%`
/// doubled (sbatch's file-name patterns); a double quote, a backslash or a control
/// character cannot be written there, so such a run folder is refused with the reason.
fn sbatch_path(dir: &Path, pattern: &str) -> anyhow::Result<String> {
    let s = dir.display().to_string();
    if s.chars().any(|c| c == '"' || c == '\\' || c.is_control()) {
        bail!(
            "{s:?}: a run folder for Slurm cannot hold a double quote, a backslash or a control character (sbatch's #SBATCH lines cannot quote them); rename it"
        );
    }
    Ok(format!("\"{}/{pattern}\"", s.replace('%', "%%")))
}

fn slurm(
    run_dir: &Path,
    partition: Option<String>,
    time: Option<String>,
    cpus: usize,
    gpus: usize,
    then: Option<String>,
    submit: bool,
) -> anyhow::Result<()> {
    let plan = read_plan(run_dir)?;
    let run_dir = std::fs::canonicalize(run_dir)?;
    let exe = std::env::current_exe()?;
    let n = plan.shards.len();
    let mut common = String::new();
    if let Some(p) = &partition {
        common.push_str(&format!(
            "#SBATCH --partition={}\n",
            slurm_word(p, "--partition")?
        ));
    }
    if let Some(t) = &time {
        common.push_str(&format!("#SBATCH --time={}\n", slurm_word(t, "--time")?));
    }
    let slurm_dir = run_dir.join("slurm");
    std::fs::create_dir_all(&slurm_dir)?;
    let gres = if gpus > 0 {
        format!("#SBATCH --gres=gpu:{gpus}\n")
    } else {
        String::new()
    };
    let backend = if gpus > 0 { "auto" } else { "cpu" };
    // Paths reach two parsers: sbatch reads the #SBATCH lines (double quotes keep
    // spaces; '%' starts a file-name pattern, so it is written '%%'), and bash runs the
    // rest (every word single-quoted, so no name is ever executed).
    let out_pattern = |pattern: &str| sbatch_path(&slurm_dir, pattern);
    let exe_q = shell_quote(&exe.display().to_string());
    let run_q = shell_quote(&run_dir.display().to_string());
    let array = format!(
        "#!/bin/bash\n#SBATCH --job-name=superion-shards\n#SBATCH --array=0-{last}\n#SBATCH --cpus-per-task={cpus}\n{gres}{common}#SBATCH --output={out}\n# One shard per array task; finished inputs are skipped, so resubmitting resumes.\nexport RAYON_NUM_THREADS=${{SLURM_CPUS_PER_TASK:-{cpus}}}\nexec {exe_q} --backend {backend} batch run {run_q}\n",
        last = n - 1,
        out = out_pattern("shard-%a.out")?,
    );
    let then_arg = then
        .map(|t| format!(" --then {}", shell_quote(&t)))
        .unwrap_or_default();
    let merge = format!(
        "#!/bin/bash\n#SBATCH --job-name=superion-merge\n#SBATCH --cpus-per-task={cpus}\n{common}#SBATCH --output={out}\nexport RAYON_NUM_THREADS=${{SLURM_CPUS_PER_TASK:-{cpus}}}\nexec {exe_q} --backend cpu batch merge {run_q}{then_arg}\n",
        out = out_pattern("merge.out")?,
    );
    io::write_atomic(&slurm_dir.join("array.sbatch"), array.as_bytes())?;
    io::write_atomic(&slurm_dir.join("merge.sbatch"), merge.as_bytes())?;
    println!(
        "{}/array.sbatch ({n} array tasks) and {}/merge.sbatch",
        slurm_dir.display(),
        slurm_dir.display()
    );
    if !submit {
        println!(
            "submit with: id=$(sbatch --parsable {}) && sbatch --dependency=afterok:$id --kill-on-invalid-dep=yes {}",
            shell_quote(&slurm_dir.join("array.sbatch").display().to_string()),
            shell_quote(&slurm_dir.join("merge.sbatch").display().to_string()),
        );
        return Ok(());
    }
    let sbatch = |args: &[&str]| -> anyhow::Result<String> {
        let o = std::process::Command::new("sbatch")
            .args(args)
            .output()
            .context("running sbatch (is Slurm installed and on PATH?)")?;
        if !o.status.success() {
            bail!(
                "sbatch {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&o.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&o.stdout)
            .trim()
            .split(';')
            .next()
            .unwrap_or("")
            .to_string())
    };
    let array_path = slurm_dir.join("array.sbatch");
    let merge_path = slurm_dir.join("merge.sbatch");
    let id = sbatch(&["--parsable", &array_path.display().to_string()])?;
    let dep = format!("--dependency=afterok:{id}");
    let mid = sbatch(&[
        "--parsable",
        &dep,
        "--kill-on-invalid-dep=yes",
        &merge_path.display().to_string(),
    ])?;
    io::write_atomic(
        &slurm_dir.join("jobs.json"),
        serde_json::to_string_pretty(&serde_json::json!({"array": id, "merge": mid}))?.as_bytes(),
    )?;
    println!("submitted array job {id} ({n} tasks) and merge job {mid} (after the array succeeds)");
    println!(
        "follow with: squeue -j {id},{mid}   or   superion batch status {}",
        run_dir.display()
    );
    Ok(())
}

fn status(run_dir: &Path, json: bool) -> anyhow::Result<()> {
    let plan = read_plan(run_dir)?;
    let mut per = Vec::new();
    let (mut d, mut f, mut p) = (0, 0, 0);
    for (s, inputs) in plan.shards.iter().enumerate() {
        let (mut done, mut failed, mut pending) = (0, 0, 0);
        for &i in inputs {
            match read_done(run_dir, &plan.inputs[i]) {
                Some(x) if x.status == "ok" && x.sha256 == plan.inputs[i].sha256 => done += 1,
                Some(x) if x.status != "ok" => failed += 1,
                _ => pending += 1,
            }
        }
        d += done;
        f += failed;
        p += pending;
        per.push(serde_json::json!({"shard": s, "inputs": inputs.len(), "done": done, "failed": failed, "pending": pending}));
    }
    let merged = run_dir.join("merged").join("failures.csv").is_file();
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "inputs": plan.inputs.len(), "done": d, "failed": f, "pending": p, "merged": merged, "shards": per,
            }))?
        );
    } else {
        println!(
            "{:>5} {:>7} {:>6} {:>7} {:>8}",
            "shard", "inputs", "done", "failed", "pending"
        );
        for x in &per {
            let n = |k: &str| x[k].as_u64().unwrap_or(0);
            println!(
                "{:>5} {:>7} {:>6} {:>7} {:>8}",
                n("shard"),
                n("inputs"),
                n("done"),
                n("failed"),
                n("pending")
            );
        }
        println!(
            "total: {} inputs, {d} done, {f} failed, {p} pending{}",
            plan.inputs.len(),
            if merged { "; merged" } else { "" }
        );
    }
    Ok(())
}
