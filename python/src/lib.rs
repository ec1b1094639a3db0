//! superion's Python bindings: the only crate that knows Python. numpy arrays in and
//! out, the GIL released during compute, Ctrl-C honoured in long calls, superion's
//! errors as Python exceptions with the CLI's located messages.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ndarray::{Array1, Array2, Array3, Axis};
use numpy::{
    IntoPyArray, PyArray1, PyArray2, PyArray3, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2,
    PyReadonlyArray3,
};
use pyo3::create_exception;
use pyo3::exceptions::{PyOSError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use superion::error::Error;
use superion::{BackendChoice, Engine};

create_exception!(
    _superion,
    InputError,
    PyValueError,
    "Bad input: a malformed file (with its line) or arguments that do not make sense."
);
create_exception!(
    _superion,
    FileError,
    PyOSError,
    "A file could not be read or written."
);
create_exception!(
    _superion,
    DeviceError,
    PyRuntimeError,
    "No usable GPU adapter, or the GPU failed."
);

fn to_py(e: Error) -> PyErr {
    let msg = e.to_string();
    match e {
        Error::Io { .. } => FileError::new_err(msg),
        Error::Parse { .. } | Error::InvalidInput(_) | Error::TooLarge(_) => {
            InputError::new_err(msg)
        }
        Error::NoAdapter(_) | Error::Gpu(_) => DeviceError::new_err(msg),
    }
}

fn engine(backend: &str) -> PyResult<Engine> {
    let choice = match backend {
        "auto" => BackendChoice::Auto,
        "cpu" => BackendChoice::Cpu,
        "gpu" => BackendChoice::Gpu,
        other => {
            return Err(InputError::new_err(format!(
                "backend {other:?}: expected 'auto', 'cpu' or 'gpu'"
            )));
        }
    };
    Engine::new(choice).map_err(to_py)
}

/// Run `f` on a worker thread with the GIL released; every 100 ms check for signals
/// so that Ctrl-C raises KeyboardInterrupt at once (the worker then finishes on its
/// own and its result is dropped).
fn interruptible<T: Send + 'static>(
    py: Python<'_>,
    f: impl FnOnce() -> superion::error::Result<T> + Send + 'static,
) -> PyResult<T> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        // A panic (a bug, never expected on any input) becomes an InputError naming
        // it, with no panic text printed: the interpreter never sees a panic.
        let r = superion::io::contained(f).unwrap_or_else(|payload| {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            Err(superion::Error::InvalidInput(format!(
                "superion failed on this input ({what}); please report it with the input"
            )))
        });
        let _ = tx.send(r);
    });
    let mut rx = rx;
    loop {
        let (got, back) = py.detach(move || (rx.recv_timeout(Duration::from_millis(100)), rx));
        rx = back;
        match got {
            Ok(r) => return r.map_err(to_py),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => py.check_signals()?,
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                return Err(PyRuntimeError::new_err("superion worker thread panicked"));
            }
        }
    }
}

fn json_to_py<'py>(py: Python<'py>, v: &impl serde::Serialize) -> PyResult<Bound<'py, PyAny>> {
    let s = serde_json::to_string(v).map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
    py.import("json")?.call_method1("loads", (s,))
}

mod batch;
mod cluster;
mod diffusion;
mod hops;
mod materials;
mod trajectory;

use cluster::*;
use diffusion::*;
use hops::*;
use materials::*;
use trajectory::*;

fn show_svg(py: Python<'_>, svg: String) -> PyResult<Bound<'_, PyAny>> {
    match py.import("IPython.display") {
        Ok(m) => m.getattr("SVG")?.call1((svg,)),
        Err(_) => Ok(pyo3::types::PyString::new(py, &svg).into_any()),
    }
}

/// Species as the command line takes them: one symbol, a comma-separated list or a
/// Python list, in any case ("li" is Li); None stays None.
fn species_arg(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Vec<String>>> {
    let Some(o) = obj.filter(|o| !o.is_none()) else {
        return Ok(None);
    };
    let raw: Vec<String> = if let Ok(s) = o.extract::<String>() {
        s.split(',')
            .map(|x| x.trim().to_string())
            .filter(|x| !x.is_empty())
            .collect()
    } else {
        o.extract::<Vec<String>>()
            .map_err(|_| InputError::new_err("species: expected a str or a list of str"))?
    };
    if raw.is_empty() {
        return Err(InputError::new_err("species: none given"));
    }
    raw.iter()
        .map(|x| {
            superion::phonon::composition::element_symbol(x).ok_or_else(|| {
                InputError::new_err(format!("{:?} is not a chemical element symbol", x.trim()))
            })
        })
        .collect::<PyResult<Vec<_>>>()
        .map(Some)
}

/// Exactly one species (the MSD takes one per call, as `traj msd` does).
fn one_species(obj: &Bound<'_, PyAny>) -> PyResult<String> {
    match species_arg(Some(obj))? {
        Some(v) if v.len() == 1 => Ok(v[0].clone()),
        _ => Err(InputError::new_err(
            "species: this analysis takes one species per call (hops takes a list)",
        )),
    }
}

#[pymodule]
fn _superion(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    // No Mesa warning on each GPU start when XDG_RUNTIME_DIR is unset, as in the CLI.
    // SAFETY: at import, holding the GIL, before this module has started any thread;
    // Python code does not run meanwhile.
    unsafe { superion::compute::prepare_runtime_dir() };
    m.add_class::<Trajectory>()?;
    m.add_class::<MsdResult>()?;
    m.add_class::<HopsResult>()?;
    m.add_function(wrap_pyfunction!(read_trajectory, m)?)?;
    m.add_function(wrap_pyfunction!(msd, m)?)?;
    m.add_function(wrap_pyfunction!(msd_file, m)?)?;
    m.add_function(wrap_pyfunction!(hops_file, m)?)?;
    m.add_function(wrap_pyfunction!(hops::hops, m)?)?;
    m.add_function(wrap_pyfunction!(phonon_features, m)?)?;
    m.add_function(wrap_pyfunction!(structure_features, m)?)?;
    m.add_function(wrap_pyfunction!(kmeans, m)?)?;
    m.add_function(wrap_pyfunction!(agglomerative, m)?)?;
    m.add_function(wrap_pyfunction!(silhouette_samples, m)?)?;
    m.add_function(wrap_pyfunction!(batch::batch_plan, m)?)?;
    m.add_function(wrap_pyfunction!(batch::batch_run, m)?)?;
    m.add_function(wrap_pyfunction!(batch::batch_merge, m)?)?;
    m.add_function(wrap_pyfunction!(batch::batch_status, m)?)?;
    m.add_function(wrap_pyfunction!(batch::batch_slurm, m)?)?;
    m.add("InputError", py.get_type::<InputError>())?;
    m.add("FileError", py.get_type::<FileError>())?;
    m.add("DeviceError", py.get_type::<DeviceError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
