//! Batches: one command over many inputs, split into shards that run as a Slurm job
//! array (or by hand), resumable, then merged into the tables a single-process run
//! writes. The command line (`superion batch ...`) and Python (`superion.batch_*`)
//! both call these functions; they differ only in how one input's command is run
//! (the [`Exec`] they pass: in the same process for the CLI, the `superion`
//! executable or a Python callable for Python).
//!
//! A run directory holds `plan.json` (the command, its options, every input with its
//! size and SHA-256, the shards, the superion version), `results/<id>/` (one folder
//! per input, moved into place only when complete, with `done.json` saying ok or
//! failed and why), `logs/shard-<i>.log` (what each shard computed), `slurm/` (the
//! sbatch scripts) and `merged/` (the merged tables).

use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::{invalid, io};

/// The one command a batch runs on each input.
#[derive(Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, Debug)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    PhononFeatures,
    PhononDos,
    TrajMsd,
    TrajHops,
}

impl Kind {
    /// The command as a manifest names it ("phonon features", ...).
    pub fn parse(s: &str) -> Result<Kind> {
        let words: Vec<&str> = s.split_whitespace().collect();
        Ok(match words.as_slice() {
            ["phonon", "features"] => Kind::PhononFeatures,
            ["traj", "msd"] => Kind::TrajMsd,
            ["traj", "hops"] => Kind::TrajHops,
            ["phonon", "dos"] => Kind::PhononDos,
            _ => {
                return Err(invalid!(
                    "command {s:?}: expected one of \"phonon features\", \"phonon dos\", \"traj msd\", \"traj hops\""
                ));
            }
        })
    }

    /// The command's words on the command line.
    pub fn words(self) -> [&'static str; 2] {
        match self {
            Kind::PhononFeatures => ["phonon", "features"],
            Kind::PhononDos => ["phonon", "dos"],
            Kind::TrajMsd => ["traj", "msd"],
            Kind::TrajHops => ["traj", "hops"],
        }
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    command: String,
    #[serde(default)]
    args: Vec<String>,
    inputs: Vec<PathBuf>,
}

/// One input of a plan: where its results go (`results/<id>`), what it was when
/// planned.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug)]
pub struct PlanInput {
    pub id: String,
    pub path: PathBuf,
    pub bytes: u64,
    pub sha256: String,
}

/// `plan.json`.
#[derive(serde::Serialize, serde::Deserialize, Debug)]
pub struct Plan {
    pub superion_version: String,
    pub created_unix: u64,
    pub manifest: PathBuf,
    pub kind: Kind,
    pub args: Vec<String>,
    pub inputs: Vec<PlanInput>,
    /// Input indices per shard.
    pub shards: Vec<Vec<usize>>,
}

/// `results/<id>/done.json`: how one input ended.
#[derive(serde::Serialize, serde::Deserialize, Debug)]
pub struct Done {
    pub status: String,
    pub sha256: String,
    pub seconds: f64,
    pub error: Option<String>,
    pub shard: usize,
}

/// How one input's command is run: given its command line (`superion --backend B
/// phonon features FILE ... --out DIR`), run it to the end or say why not.
pub type Exec<'a> = dyn FnMut(&[String]) -> std::result::Result<(), ExecError> + 'a;

/// Why an input's command did not finish.
#[derive(Debug, Clone)]
pub enum ExecError {
    /// The input failed (a bad file, say): recorded in its `done.json`, and the shard
    /// goes on with the next input.
    Failed(String),
    /// The user stopped the run (Ctrl-C): nothing is recorded for this input and the
    /// shard stops, so a rerun computes it.
    Interrupted(String),
}

/// An error about `path` with no line.
fn at(path: &Path, message: impl Into<String>) -> Error {
    io::parse_err(path, 0, message.into())
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
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

/// The plan of a run directory, checked (a hand-edited plan is refused with the
/// field named before anything runs).
pub(crate) fn read_plan(run_dir: &Path) -> Result<Plan> {
    let p = run_dir.join("plan.json");
    let text = std::fs::read_to_string(&p)
        .map_err(|_| at(run_dir, "not a batch run directory (no plan.json)"))?;
    let plan: Plan =
        serde_json::from_str(&text).map_err(|e| at(&p, format!("malformed plan: {e}")))?;
    plan.check()
        .map_err(|e| at(&p, format!("{e} (edit it back, or plan again)")))?;
    Ok(plan)
}

impl Plan {
    /// A hand-edited plan is checked before anything runs: ids that are safe folder
    /// names and unique, SHA-256 digests, shards that name every input exactly once.
    pub fn check(&self) -> std::result::Result<(), String> {
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

    /// Total bytes of the inputs of shard `s`.
    pub fn shard_bytes(&self, s: usize) -> u64 {
        self.shards
            .get(s)
            .map_or(0, |a| a.iter().map(|&i| self.inputs[i].bytes).sum())
    }

    /// The command line that computes input `inp` into the folder `out` on `backend`
    /// (a backend name: auto, gpu, cpu).
    pub fn argv(&self, backend: &str, inp: &PlanInput, out: &Path) -> Vec<String> {
        let mut v: Vec<String> = vec!["superion".into(), "--backend".into(), backend.into()];
        v.extend(self.kind.words().iter().map(|s| s.to_string()));
        v.push(inp.path.display().to_string());
        if self.kind == Kind::PhononFeatures {
            v.push("--strict".into());
        }
        v.extend(self.args.iter().cloned());
        v.push("--out".into());
        v.push(match self.kind {
            Kind::PhononFeatures => out.join("features.csv").display().to_string(),
            _ => out.display().to_string(),
        });
        v
    }
}

/// A plan's extra arguments may not choose where a shard writes: each input's output
/// folder is `results/<id>` (the shard adds `--out` itself) and scratch files of a
/// streamed run go to the system's temporary folder. `--out` and `--scratch` in `args`
/// would write outside the run folder (or collide between inputs), so they are refused,
/// as the manifest's `args` when the plan is made and a hand-edited plan.json before it runs.
pub(crate) fn check_args(args: &[String]) -> std::result::Result<(), String> {
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

/// Where an input stands.
enum State {
    Done,
    Failed(Option<String>),
    Pending,
}

fn state(run_dir: &Path, inp: &PlanInput) -> State {
    match read_done(run_dir, inp) {
        Some(d) if d.status == "ok" && d.sha256 == inp.sha256 => State::Done,
        Some(d) if d.status != "ok" => State::Failed(d.error),
        _ => State::Pending,
    }
}

/// Read the manifest (YAML: `command`, `args`, `inputs` relative to the manifest),
/// expand its inputs as the single-process command would, digest each, split them into
/// at most `shards` shards balanced by size (largest first onto the lightest shard),
/// and write `out/plan.json` with the run directory's folders. `out` must not hold a
/// plan already.
pub fn plan(manifest: &Path, shards: usize, out: &Path) -> Result<Plan> {
    if shards == 0 {
        return Err(invalid!("option shards must be at least 1"));
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
    let kind = Kind::parse(&m.command).map_err(|e| at(manifest, e.detail()))?;
    if m.inputs.is_empty() {
        return Err(at(manifest, "no inputs"));
    }
    check_args(&m.args).map_err(|e| at(manifest, e))?;
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
    let paths = expand(kind, given)?;
    let inputs: Vec<PlanInput> = paths
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let abs = std::fs::canonicalize(p).map_err(io_err(p))?;
            let (sha256, bytes) = io::walk::digest(&abs)?;
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
        .collect::<Result<_>>()?;
    let assigned = balance(&inputs, shards);
    if out.join("plan.json").exists() {
        return Err(at(out, "already holds a plan (use a new run directory)"));
    }
    for sub in ["results", "logs", "slurm", "merged"] {
        std::fs::create_dir_all(out.join(sub)).map_err(io_err(out))?;
    }
    let plan = Plan {
        superion_version: env!("CARGO_PKG_VERSION").to_string(),
        created_unix: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        manifest: std::fs::canonicalize(manifest).map_err(io_err(manifest))?,
        kind,
        args: m.args,
        inputs,
        shards: assigned,
    };
    plan.check().map_err(|e| at(manifest, e))?;
    let text = serde_json::to_string_pretty(&plan).map_err(|e| invalid!("plan: {e}"))?;
    io::write_atomic(&out.join("plan.json"), text.as_bytes())?;
    Ok(plan)
}

/// The manifest's inputs as the single-process command expands them.
fn expand(kind: Kind, given: Vec<PathBuf>) -> Result<Vec<PathBuf>> {
    Ok(match kind {
        Kind::PhononFeatures => crate::materials::discover(&given)?
            .iter()
            .map(|i| i.path().to_path_buf())
            .collect(),
        Kind::PhononDos => {
            let found = crate::materials::discover(&given)?;
            if let Some(other) = found
                .iter()
                .find(|i| !matches!(i, crate::materials::PhononInput::PhononDb(_)))
            {
                return Err(at(
                    other.path(),
                    "phonon dos computes a DOS from force sets or force constants (PhononDB entries, phonopy_params.yaml), not from a finished DOS",
                ));
            }
            found.iter().map(|i| i.path().to_path_buf()).collect()
        }
        Kind::TrajMsd | Kind::TrajHops => {
            for p in &given {
                if !p.exists() {
                    return Err(at(p, "no such file or folder"));
                }
                if p.is_dir() {
                    return Err(at(p, "a folder; a trajectory input is a file"));
                }
                if !p.is_file() {
                    return Err(at(
                        p,
                        "not a regular file (a device, FIFO or socket is not an input)",
                    ));
                }
            }
            given
        }
    })
}

/// Largest first onto the lightest shard, then each shard in input order.
fn balance(inputs: &[PlanInput], shards: usize) -> Vec<Vec<usize>> {
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
    assigned
}

/// What one shard did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ShardRun {
    pub shard: usize,
    pub inputs: usize,
    pub computed: usize,
    pub failed: usize,
    pub skipped: usize,
    /// (input path, error) of each input that failed.
    pub failures: Vec<(PathBuf, String)>,
}

/// Process shard `shard` of the run directory: every input not done yet is computed
/// by `exec` into a hidden folder, marked with `done.json` (ok, or failed and why) and
/// moved into `results/<id>` as a whole; inputs changed since the plan fail. A killed
/// run's half-written folders of this shard are removed first, so a rerun resumes.
pub fn run_shard(run_dir: &Path, shard: usize, backend: &str, exec: &mut Exec) -> Result<ShardRun> {
    let plan = read_plan(run_dir)?;
    let Some(mine) = plan.shards.get(shard) else {
        return Err(invalid!(
            "shard {shard}: the plan has shards 0..{}",
            plan.shards.len()
        ));
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
    let mut run = ShardRun {
        shard,
        inputs: mine.len(),
        computed: 0,
        failed: 0,
        skipped: 0,
        failures: Vec::new(),
    };
    let bar = crate::progress::bar(mine.len() as u64, &format!("shard {shard}"));
    for &i in mine {
        let inp = &plan.inputs[i];
        bar.inc(1);
        if matches!(state(run_dir, inp), State::Done) {
            run.skipped += 1;
            continue;
        }
        let t0 = std::time::Instant::now();
        let final_dir = run_dir.join("results").join(&inp.id);
        let tmp = run_dir
            .join("results")
            .join(format!(".{}.tmp-{}", inp.id, std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp).map_err(io_err(&tmp))?;
        let outcome: std::result::Result<(), String> = match io::walk::digest(&inp.path) {
            Err(e) => Err(e.to_string()),
            Ok((now, _)) if now != inp.sha256 => Err(format!(
                "{}: changed since the plan was made (plan again)",
                inp.path.display()
            )),
            Ok(_) => match exec(&plan.argv(backend, inp, &tmp)) {
                Ok(()) => Ok(()),
                Err(ExecError::Failed(e)) => Err(e),
                Err(ExecError::Interrupted(why)) => {
                    let _ = std::fs::remove_dir_all(&tmp);
                    bar.finish_and_clear();
                    return Err(invalid!(
                        "shard {shard} interrupted at {} ({why}); what is done stays done, a rerun goes on from here",
                        inp.path.display()
                    ));
                }
            },
        };
        let done = Done {
            status: if outcome.is_ok() { "ok" } else { "failed" }.into(),
            sha256: inp.sha256.clone(),
            seconds: t0.elapsed().as_secs_f64(),
            error: outcome.err(),
            shard,
        };
        let text = serde_json::to_string_pretty(&done).map_err(|e| invalid!("done.json: {e}"))?;
        io::write_atomic(&tmp.join("done.json"), text.as_bytes())?;
        if abort_before_rename.is_some_and(|n| run.computed + run.failed + 1 >= n) {
            std::process::abort();
        }
        let _ = std::fs::remove_dir_all(&final_dir);
        std::fs::rename(&tmp, &final_dir).map_err(io_err(&final_dir))?;
        writeln!(log, "{} {} {:.3}", inp.id, done.status, done.seconds)
            .map_err(io_err(&log_path))?;
        if done.status == "ok" {
            run.computed += 1;
        } else {
            run.failed += 1;
            run.failures
                .push((inp.path.clone(), done.error.clone().unwrap_or_default()));
        }
        if abort_after.is_some_and(|n| run.computed + run.failed >= n) {
            std::process::abort();
        }
    }
    bar.finish_and_clear();
    Ok(run)
}

/// What a merge wrote.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Merged {
    pub kind: Kind,
    pub inputs: usize,
    pub ok: usize,
    pub failed: usize,
    pub pending: usize,
    /// The folder the tables went to (`merged/`).
    pub dir: PathBuf,
    /// Each file written, with what it holds.
    pub written: Vec<String>,
}

/// Merge the per-input results into the tables a single-process run writes
/// (`merged/`): features.csv (columns in first-seen order), dos_features.csv and
/// reports.json, summaries.json and events.csv; failures.csv lists the failed inputs.
/// Pending inputs are an error unless `partial`.
pub fn merge(run_dir: &Path, partial: bool) -> Result<Merged> {
    let plan = read_plan(run_dir)?;
    let merged = run_dir.join("merged");
    std::fs::create_dir_all(&merged).map_err(io_err(&merged))?;
    let mut ok: Vec<&PlanInput> = Vec::new();
    let mut failures: Vec<Vec<String>> = Vec::new();
    let mut pending = 0;
    for inp in &plan.inputs {
        match state(run_dir, inp) {
            State::Done => ok.push(inp),
            State::Failed(e) => {
                failures.push(vec![inp.path.display().to_string(), e.unwrap_or_default()])
            }
            State::Pending => pending += 1,
        }
    }
    if pending > 0 && !partial {
        return Err(invalid!(
            "{pending} of {} inputs are not done yet (superion batch status {}); option partial merges what is",
            plan.inputs.len(),
            run_dir.display()
        ));
    }
    let res = |inp: &PlanInput, f: &str| run_dir.join("results").join(&inp.id).join(f);
    let mut written = match plan.kind {
        Kind::PhononFeatures => merge_features(&ok, &merged, &res)?,
        Kind::PhononDos => merge_dos(&ok, run_dir, &merged, &res)?,
        Kind::TrajMsd | Kind::TrajHops => merge_trajectories(plan.kind, &ok, &merged, &res)?,
    };
    io::write_csv(
        &merged.join("failures.csv"),
        &["input".to_string(), "error".to_string()],
        &failures,
    )?;
    written.push(format!("failures.csv ({} failed)", failures.len()));
    Ok(Merged {
        kind: plan.kind,
        inputs: plan.inputs.len(),
        ok: ok.len(),
        failed: failures.len(),
        pending,
        dir: merged,
        written,
    })
}

type ResultPath<'a> = dyn Fn(&PlanInput, &str) -> PathBuf + 'a;

fn read_json(path: &Path) -> Result<serde_json::Value> {
    let text = std::fs::read_to_string(path).map_err(io_err(path))?;
    serde_json::from_str(&text).map_err(|e| at(path, format!("malformed JSON: {e}")))
}

fn write_json(path: &Path, v: &serde_json::Value) -> Result<()> {
    let text = serde_json::to_string_pretty(v).map_err(|e| invalid!("{e}"))?;
    io::write_atomic(path, text.as_bytes())
}

fn read_csv(path: &Path) -> Result<(Vec<String>, Vec<Vec<String>>)> {
    let (header, records) = io::table::read_csv(path, false)?;
    let rows = records
        .iter()
        .map(|r| r.iter().map(String::from).collect())
        .collect();
    Ok((header, rows))
}

/// Union of the columns in first-seen order, as the single-process table.
fn merge_features(ok: &[&PlanInput], merged: &Path, res: &ResultPath) -> Result<Vec<String>> {
    let mut header: Vec<String> = Vec::new();
    let mut rows: Vec<Vec<(String, String)>> = Vec::new();
    for inp in ok {
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
    Ok(vec![format!("features.csv ({} materials)", body.len())])
}

/// One descriptor row per material (the dos.json of each), and the reports.
fn merge_dos(
    ok: &[&PlanInput],
    run_dir: &Path,
    merged: &Path,
    res: &ResultPath,
) -> Result<Vec<String>> {
    let mut header: Vec<String> = vec!["input".into()];
    let mut body = Vec::new();
    let mut reports = Vec::new();
    for inp in ok {
        let v = read_json(&res(inp, "dos.json"))?;
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
    write_json(
        &merged.join("reports.json"),
        &serde_json::Value::Array(reports),
    )?;
    Ok(vec![format!(
        "dos_features.csv and reports.json ({} materials; each DOS in results/<id>/)",
        body.len()
    )])
}

/// Every summary in one summaries.json; the hops' events in one events.csv.
fn merge_trajectories(
    kind: Kind,
    ok: &[&PlanInput],
    merged: &Path,
    res: &ResultPath,
) -> Result<Vec<String>> {
    let mut written = Vec::new();
    let summary_file = if kind == Kind::TrajMsd {
        "summary.json"
    } else {
        "descriptors.json"
    };
    let mut summaries = Vec::new();
    for inp in ok {
        let v = read_json(&res(inp, summary_file))?;
        summaries.push(serde_json::json!({"input": inp.path, "summary": v}));
    }
    write_json(
        &merged.join("summaries.json"),
        &serde_json::Value::Array(summaries.clone()),
    )?;
    written.push(format!("summaries.json ({} trajectories)", summaries.len()));
    if kind == Kind::TrajHops {
        let mut header: Vec<String> = vec!["trajectory".into()];
        let mut body = Vec::new();
        for inp in ok {
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
    Ok(written)
}

/// The command line of a global step run on the merged features table (`then`, e.g.
/// "cluster --k 2..10" or "screen"), its output in `merged/<command>/` unless it names
/// `--out`.
pub fn then_argv(merged: &Merged, backend: &str, then: &str) -> Result<Vec<String>> {
    if merged.kind != Kind::PhononFeatures {
        return Err(invalid!(
            "option then runs on the merged features table (phonon features runs only)"
        ));
    }
    let words: Vec<String> = then.split_whitespace().map(String::from).collect();
    let Some(first) = words.first() else {
        return Err(invalid!("option then is empty"));
    };
    let merged = &merged.dir;
    let mut argv: Vec<String> = vec![
        "superion".into(),
        "--backend".into(),
        backend.into(),
        first.clone(),
    ];
    argv.push(merged.join("features.csv").display().to_string());
    argv.extend(words[1..].iter().cloned());
    if !words.iter().any(|w| w == "--out") {
        argv.push("--out".into());
        argv.push(merged.join(first).display().to_string());
    }
    Ok(argv)
}

/// A shard's log, appended to; a symbolic link (or anything but a regular file) there
/// is refused, never followed: a run folder someone else can write into must not
/// make a shard append outside it.
fn open_log(path: &Path) -> Result<std::fs::File> {
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
        return Err(at(
            path,
            "not a regular file (a link or a special file); a shard log is never followed elsewhere: remove it",
        ));
    }
    o.open(path).map_err(io_err(path))
}

/// One word for bash: single-quoted, a single quote written as '\\''. Safe for any
/// bytes, newlines included.
pub(crate) fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// A value for an #SBATCH line (a partition, a time limit): Slurm's names and times
/// use letters, digits and `_.,:+-` only, so anything else (spaces, quotes, `$`, a
/// newline that would start a line of its own) is refused rather than escaped.
fn slurm_word<'a>(v: &'a str, option: &str) -> Result<&'a str> {
    if v.is_empty()
        || !v
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.,:+-".contains(c))
    {
        return Err(invalid!(
            "option {option} {v:?}: expected a Slurm name or time (letters, digits and _ . , : + - only)"
        ));
    }
    Ok(v)
}

/// A path for an #SBATCH --output line: double-quoted (sbatch keeps the spaces), `%`
/// doubled (sbatch's file-name patterns); a double quote, a backslash or a control
/// character cannot be written there, so such a run folder is refused with the reason.
fn sbatch_path(dir: &Path, pattern: &str) -> Result<String> {
    let s = dir.display().to_string();
    if s.chars().any(|c| c == '"' || c == '\\' || c.is_control()) {
        return Err(invalid!(
            "{s:?}: a run folder for Slurm cannot hold a double quote, a backslash or a control character (sbatch's #SBATCH lines cannot quote them); rename it"
        ));
    }
    Ok(format!("\"{}/{pattern}\"", s.replace('%', "%%")))
}

/// The job settings of [`slurm`].
#[derive(Debug, Clone, Default)]
pub struct SlurmOptions {
    pub partition: Option<String>,
    pub time: Option<String>,
    pub cpus_per_task: usize,
    pub gpus: usize,
    /// Passed to the merge job's `--then`.
    pub then: Option<String>,
}

/// The two sbatch scripts [`slurm`] wrote.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SlurmScripts {
    pub array: PathBuf,
    pub merge: PathBuf,
    pub tasks: usize,
    /// A shell line that submits both, the merge after the array succeeds (quoted).
    pub submit: String,
}

/// Write `slurm/array.sbatch` (one array task per shard) and `slurm/merge.sbatch`
/// (merge, then `then`), each running the superion executable `exe`. Every path is
/// quoted for bash and for sbatch's #SBATCH lines; a partition or time that is not a
/// Slurm word is refused.
pub fn slurm(run_dir: &Path, exe: &Path, o: &SlurmOptions) -> Result<SlurmScripts> {
    let plan = read_plan(run_dir)?;
    let run_dir = std::fs::canonicalize(run_dir).map_err(io_err(run_dir))?;
    let n = plan.shards.len();
    let cpus = o.cpus_per_task.max(1);
    let mut common = String::new();
    if let Some(p) = &o.partition {
        common.push_str(&format!(
            "#SBATCH --partition={}\n",
            slurm_word(p, "partition")?
        ));
    }
    if let Some(t) = &o.time {
        common.push_str(&format!("#SBATCH --time={}\n", slurm_word(t, "time")?));
    }
    let slurm_dir = run_dir.join("slurm");
    std::fs::create_dir_all(&slurm_dir).map_err(io_err(&slurm_dir))?;
    let gres = if o.gpus > 0 {
        format!("#SBATCH --gres=gpu:{}\n", o.gpus)
    } else {
        String::new()
    };
    let backend = if o.gpus > 0 { "auto" } else { "cpu" };
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
    let then_arg = o
        .then
        .as_ref()
        .map(|t| format!(" --then {}", shell_quote(t)))
        .unwrap_or_default();
    let merge = format!(
        "#!/bin/bash\n#SBATCH --job-name=superion-merge\n#SBATCH --cpus-per-task={cpus}\n{common}#SBATCH --output={out}\nexport RAYON_NUM_THREADS=${{SLURM_CPUS_PER_TASK:-{cpus}}}\nexec {exe_q} --backend cpu batch merge {run_q}{then_arg}\n",
        out = out_pattern("merge.out")?,
    );
    let array_path = slurm_dir.join("array.sbatch");
    let merge_path = slurm_dir.join("merge.sbatch");
    io::write_atomic(&array_path, array.as_bytes())?;
    io::write_atomic(&merge_path, merge.as_bytes())?;
    let submit = format!(
        "id=$(sbatch --parsable {}) && sbatch --dependency=afterok:$id --kill-on-invalid-dep=yes {}",
        shell_quote(&array_path.display().to_string()),
        shell_quote(&merge_path.display().to_string()),
    );
    Ok(SlurmScripts {
        array: array_path,
        merge: merge_path,
        tasks: n,
        submit,
    })
}

/// Submit the scripts [`slurm`] wrote with `sbatch` (the merge after the array
/// succeeds); the two job ids, also written to `slurm/jobs.json`.
pub fn submit(s: &SlurmScripts) -> Result<(String, String)> {
    let sbatch = |args: &[&str]| -> Result<String> {
        let o = std::process::Command::new("sbatch")
            .args(args)
            .output()
            .map_err(|e| invalid!("running sbatch (is Slurm installed and on PATH?): {e}"))?;
        if !o.status.success() {
            return Err(invalid!(
                "sbatch {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&o.stderr).trim()
            ));
        }
        Ok(String::from_utf8_lossy(&o.stdout)
            .trim()
            .split(';')
            .next()
            .unwrap_or("")
            .to_string())
    };
    let id = sbatch(&["--parsable", &s.array.display().to_string()])?;
    let dep = format!("--dependency=afterok:{id}");
    let mid = sbatch(&[
        "--parsable",
        &dep,
        "--kill-on-invalid-dep=yes",
        &s.merge.display().to_string(),
    ])?;
    let jobs = s.array.with_file_name("jobs.json");
    write_json(&jobs, &serde_json::json!({"array": id, "merge": mid}))?;
    Ok((id, mid))
}

/// One shard's counts in a [`Status`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct ShardStatus {
    pub shard: usize,
    pub inputs: usize,
    pub done: usize,
    pub failed: usize,
    pub pending: usize,
}

/// Done / failed / pending inputs, per shard, from the run directory alone
/// (`superion batch status --json` prints it).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Status {
    pub inputs: usize,
    pub done: usize,
    pub failed: usize,
    pub pending: usize,
    pub merged: bool,
    pub shards: Vec<ShardStatus>,
}

/// Where every input of the run directory stands.
pub fn status(run_dir: &Path) -> Result<Status> {
    let plan = read_plan(run_dir)?;
    let mut st = Status {
        inputs: plan.inputs.len(),
        done: 0,
        failed: 0,
        pending: 0,
        merged: run_dir.join("merged").join("failures.csv").is_file(),
        shards: Vec::new(),
    };
    for (s, inputs) in plan.shards.iter().enumerate() {
        let mut sh = ShardStatus {
            shard: s,
            inputs: inputs.len(),
            done: 0,
            failed: 0,
            pending: 0,
        };
        for &i in inputs {
            match state(run_dir, &plan.inputs[i]) {
                State::Done => sh.done += 1,
                State::Failed(_) => sh.failed += 1,
                State::Pending => sh.pending += 1,
            }
        }
        st.done += sh.done;
        st.failed += sh.failed;
        st.pending += sh.pending;
        st.shards.push(sh);
    }
    Ok(st)
}
