//! Batches (`superion::batch`): plan, run a shard, merge, Slurm scripts and status from
//! Python, with the command line's run folders, files and checks.

use std::path::{Path, PathBuf};

use super::*;
use superion::batch::ExecError;

/// The superion executable a shard or a Slurm script runs: `cli`, else $SUPERION_CLI,
/// else `superion` on PATH.
fn find_cli(cli: Option<PathBuf>) -> PyResult<PathBuf> {
    if let Some(c) = cli.or_else(|| std::env::var_os("SUPERION_CLI").map(PathBuf::from)) {
        return if c.is_file() {
            Ok(c)
        } else {
            Err(FileError::new_err(format!(
                "{}: no superion executable there",
                c.display()
            )))
        };
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join("superion"))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            FileError::new_err(
                "no superion executable: give cli= (the command-line program, `cargo install --path .` or a release build), set SUPERION_CLI, or put it on PATH",
            )
        })
}

/// One input's command run by the executable `cli`; a failure is the executable's
/// error line; a child stopped by Ctrl-C (SIGINT, which the terminal sends to the
/// whole process group) stops the shard.
fn run_cli(cli: &Path, argv: &[String]) -> Result<(), ExecError> {
    let o = std::process::Command::new(cli)
        .args(&argv[1..])
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| ExecError::Failed(format!("{}: {e}", cli.display())))?;
    if o.status.success() {
        return Ok(());
    }
    {
        use std::os::unix::process::ExitStatusExt;
        if o.status.signal() == Some(SIGINT) {
            return Err(ExecError::Interrupted("Ctrl-C".into()));
        }
    }
    let err = String::from_utf8_lossy(&o.stderr);
    let line = err
        .lines()
        .rev()
        .find(|l| l.starts_with("superion: error: "))
        .map(|l| l["superion: error: ".len()..].to_string())
        .unwrap_or_else(|| format!("{} exited with {}: {}", cli.display(), o.status, err.trim()));
    Err(ExecError::Failed(line))
}

/// SIGINT's number (2 on every Unix this builds on).
const SIGINT: i32 = 2;

/// Plan a batch: read the manifest (YAML: command, args, inputs), digest every input,
/// split them into `shards` shards balanced by size and write `out/plan.json`. Returns
/// the plan (plan.json as a dict).
#[pyfunction]
#[pyo3(signature = (manifest, shards, out))]
pub(crate) fn batch_plan<'py>(
    py: Python<'py>,
    manifest: PathBuf,
    shards: usize,
    out: PathBuf,
) -> PyResult<Bound<'py, PyAny>> {
    let plan = interruptible(py, move || superion::batch::plan(&manifest, shards, &out))?;
    json_to_py(py, &plan)
}

/// Run shard `shard` of a planned batch: each input not yet done is computed by
/// `run(argv)` (a callable given the command line as a list of str; it raises on
/// failure) or else by the superion executable (`cli`, $SUPERION_CLI or on PATH), into
/// `results/<id>/`, exactly as `superion batch run` does. Returns the counts and
/// failures (a dict).
#[pyfunction]
#[pyo3(signature = (run_dir, shard, backend="auto", cli=None, run=None))]
pub(crate) fn batch_run<'py>(
    py: Python<'py>,
    run_dir: PathBuf,
    shard: usize,
    backend: &str,
    cli: Option<PathBuf>,
    run: Option<Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    if !matches!(backend, "auto" | "cpu" | "gpu") {
        return Err(InputError::new_err(format!(
            "backend {backend:?}: expected 'auto', 'cpu' or 'gpu'"
        )));
    }
    let r = match run {
        Some(f) => {
            // An exception is the input's failure; KeyboardInterrupt (or any
            // BaseException that is not an Exception) stops the shard and is raised.
            let mut stopped: Option<PyErr> = None;
            let mut exec = |argv: &[String]| -> Result<(), ExecError> {
                match f.call1((argv.to_vec(),)) {
                    Ok(_) => Ok(()),
                    Err(e) if e.is_instance_of::<pyo3::exceptions::PyException>(py) => {
                        Err(ExecError::Failed(e.to_string()))
                    }
                    Err(e) => {
                        let why = e.to_string();
                        stopped = Some(e);
                        Err(ExecError::Interrupted(why))
                    }
                }
            };
            let r = superion::batch::run_shard(&run_dir, shard, backend, &mut exec);
            if let Some(e) = stopped {
                return Err(e);
            }
            r.map_err(to_py)?
        }
        None => {
            let cli = find_cli(cli)?;
            let backend = backend.to_string();
            let r = py.detach(move || {
                let mut exec = |argv: &[String]| run_cli(&cli, argv);
                superion::batch::run_shard(&run_dir, shard, &backend, &mut exec)
            });
            // Ctrl-C reached the children and Python alike: KeyboardInterrupt, not
            // the shard's "interrupted" error.
            if r.is_err() {
                py.check_signals()?;
            }
            r.map_err(to_py)?
        }
    };
    json_to_py(py, &r)
}

/// Merge a batch's results into the single-process tables in `merged/` (pending
/// inputs are an error unless `partial`). Returns what was written (a dict).
#[pyfunction]
#[pyo3(signature = (run_dir, partial=false))]
pub(crate) fn batch_merge<'py>(
    py: Python<'py>,
    run_dir: PathBuf,
    partial: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let m = interruptible(py, move || superion::batch::merge(&run_dir, partial))?;
    json_to_py(py, &m)
}

/// Done / failed / pending inputs per shard: exactly `superion batch status --json`.
#[pyfunction]
pub(crate) fn batch_status<'py>(py: Python<'py>, run_dir: PathBuf) -> PyResult<Bound<'py, PyAny>> {
    let s = superion::batch::status(&run_dir).map_err(to_py)?;
    json_to_py(py, &s)
}

/// Write the Slurm scripts of a planned batch (`slurm/array.sbatch`, `slurm/merge.sbatch`)
/// running the superion executable (`cli`, $SUPERION_CLI or on PATH); with `submit`,
/// submit them with sbatch. Returns the script paths, the submit line and, when
/// submitted, the job ids (a dict).
#[pyfunction]
#[pyo3(signature = (run_dir, cli=None, partition=None, time=None, cpus_per_task=1, gpus=0, then=None, submit=false))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn batch_slurm<'py>(
    py: Python<'py>,
    run_dir: PathBuf,
    cli: Option<PathBuf>,
    partition: Option<String>,
    time: Option<String>,
    cpus_per_task: usize,
    gpus: usize,
    then: Option<String>,
    submit: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let exe = find_cli(cli)?;
    let exe = std::fs::canonicalize(&exe).unwrap_or(exe);
    let o = superion::batch::SlurmOptions {
        partition,
        time,
        cpus_per_task,
        gpus,
        then,
    };
    let s = superion::batch::slurm(&run_dir, &exe, &o).map_err(to_py)?;
    let mut v = serde_json::to_value(&s).map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
    if submit {
        let (array, merge) = superion::batch::submit(&s).map_err(to_py)?;
        v["jobs"] = serde_json::json!({"array": array, "merge": merge});
    }
    json_to_py(py, &v)
}
