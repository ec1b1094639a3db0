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

/// A molecular-dynamics trajectory: fractional positions, cells, species, time step.
#[pyclass(frozen, module = "superion._superion")]
pub struct Trajectory {
    inner: Arc<superion::traj::Trajectory>,
}

#[pymethods]
impl Trajectory {
    /// Cartesian positions (T × N × 3, Å, float64): fractional positions times the cell
    /// of their frame (wrapped into the cell as read).
    #[getter]
    fn positions<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray3<f64>> {
        let t = &self.inner;
        let (nf, na, _) = t.frac.dim();
        let mut out = Array3::<f64>::zeros((nf, na, 3));
        for f in 0..nf {
            let c = t.cell_rows(f);
            for a in 0..na {
                for k in 0..3 {
                    out[[f, a, k]] = (0..3).map(|x| t.frac[[f, a, x]] as f64 * c[x][k]).sum();
                }
            }
        }
        out.into_pyarray(py)
    }

    /// Fractional positions (T × N × 3, float32, as stored).
    #[getter]
    fn frac<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray3<f32>> {
        self.inner.frac.clone().into_pyarray(py)
    }

    /// Cells of every frame (T × 3 × 3, rows a, b, c, Å).
    #[getter]
    fn cells<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray3<f64>> {
        let t = &self.inner;
        let nf = t.n_frames();
        Array3::from_shape_fn((nf, 3, 3), |(f, a, b)| t.cell_rows(f)[a][b]).into_pyarray(py)
    }

    #[getter]
    fn species(&self) -> Vec<String> {
        self.inner.species.clone()
    }

    /// Time between stored frames (ps), or None when unknown.
    #[getter]
    fn dt_ps(&self) -> Option<f64> {
        self.inner.dt_ps
    }

    #[getter]
    fn n_frames(&self) -> usize {
        self.inner.n_frames()
    }

    #[getter]
    fn n_atoms(&self) -> usize {
        self.inner.n_atoms()
    }

    /// How the reader interpreted the file.
    #[getter]
    fn notes(&self) -> Vec<String> {
        self.inner.notes.clone()
    }

    #[getter]
    fn source(&self) -> String {
        self.inner.source.display().to_string()
    }

    /// A trajectory from Cartesian positions (T × N × 3, Å), cells (3 × 3 or T × 3 × 3,
    /// rows a, b, c), species (N symbols) and the time between frames (ps).
    #[staticmethod]
    #[pyo3(signature = (positions, cells, species, dt_ps=None, source="arrays"))]
    fn from_arrays(
        positions: PyReadonlyArray3<'_, f64>,
        cells: &Bound<'_, PyAny>,
        species: Vec<String>,
        dt_ps: Option<f64>,
        source: &str,
    ) -> PyResult<Trajectory> {
        let pos = positions.as_array();
        let cells: Array3<f64> = if let Ok(c) = cells.extract::<PyReadonlyArray2<'_, f64>>() {
            let c = c.as_array();
            if c.dim() != (3, 3) {
                return Err(InputError::new_err("cells: expected 3 × 3 or T × 3 × 3"));
            }
            c.to_owned().insert_axis(Axis(0))
        } else {
            cells
                .extract::<PyReadonlyArray3<'_, f64>>()
                .map_err(|_| {
                    InputError::new_err(
                        "cells: expected a float64 array of shape 3 × 3 or T × 3 × 3",
                    )
                })?
                .as_array()
                .to_owned()
        };
        let t = superion::traj::Trajectory::from_cartesian(
            pos,
            cells.view(),
            species,
            dt_ps,
            PathBuf::from(source),
        )
        .map_err(to_py)?;
        Ok(Trajectory { inner: Arc::new(t) })
    }

    /// A trajectory from a list of ASE `Atoms` (one per stored frame): positions, cell
    /// and symbols of each; the time between frames is `timestep_fs × stride`. ASE is
    /// not imported: any objects with `get_positions`, `get_cell` and
    /// `get_chemical_symbols` will do.
    #[staticmethod]
    #[pyo3(signature = (frames, timestep_fs=None, stride=1, source="ase"))]
    fn from_ase(
        py: Python<'_>,
        frames: &Bound<'_, PyAny>,
        timestep_fs: Option<f64>,
        stride: usize,
        source: &str,
    ) -> PyResult<Trajectory> {
        frames_to_trajectory(py, frames, timestep_fs, stride, source, |np, atoms| {
            Ok((
                np.call_method1("asarray", (atoms.call_method0("get_positions")?, "float64"))?
                    .extract()?,
                np.call_method1("asarray", (atoms.call_method0("get_cell")?, "float64"))?
                    .extract()?,
                atoms.call_method0("get_chemical_symbols")?.extract()?,
            ))
        })
    }

    /// A trajectory from a list of pymatgen `Structure`s (one per stored frame), as
    /// `from_ase`. pymatgen is not imported.
    #[staticmethod]
    #[pyo3(signature = (structures, timestep_fs=None, stride=1, source="pymatgen"))]
    fn from_pymatgen(
        py: Python<'_>,
        structures: &Bound<'_, PyAny>,
        timestep_fs: Option<f64>,
        stride: usize,
        source: &str,
    ) -> PyResult<Trajectory> {
        frames_to_trajectory(py, structures, timestep_fs, stride, source, |np, s| {
            let mut sym = Vec::new();
            for site in s.try_iter()? {
                sym.push(
                    site?
                        .getattr("specie")?
                        .getattr("symbol")?
                        .extract::<String>()?,
                );
            }
            Ok((
                np.call_method1("asarray", (s.getattr("cart_coords")?, "float64"))?
                    .extract()?,
                np.call_method1(
                    "asarray",
                    (s.getattr("lattice")?.getattr("matrix")?, "float64"),
                )?
                .extract()?,
                sym,
            ))
        })
    }

    fn _repr_html_(&self) -> String {
        format!(
            "<b>superion Trajectory</b> {}: {} frames × {} atoms ({}), dt = {}",
            self.inner.source.display(),
            self.inner.n_frames(),
            self.inner.n_atoms(),
            self.inner.species_list().join(", "),
            self.inner
                .dt_ps
                .map_or("unknown".into(), |d| format!("{d} ps"))
        )
    }

    fn __repr__(&self) -> String {
        format!(
            "<superion.Trajectory {}: {} frames × {} atoms ({}), dt = {}>",
            self.inner.source.display(),
            self.inner.n_frames(),
            self.inner.n_atoms(),
            self.inner.species_list().join(", "),
            self.inner
                .dt_ps
                .map_or("unknown".into(), |d| format!("{d} ps"))
        )
    }
}

/// Positions (N × 3, Å), cell (3 × 3, rows) and symbols of one frame object.
type Frame<'py> = (
    PyReadonlyArray2<'py, f64>,
    PyReadonlyArray2<'py, f64>,
    Vec<String>,
);

/// A trajectory from frame objects (ASE Atoms, pymatgen Structures), each read by
/// `read`; every frame must hold the same atoms in the same order.
fn frames_to_trajectory<'py>(
    py: Python<'py>,
    frames: &Bound<'py, PyAny>,
    timestep_fs: Option<f64>,
    stride: usize,
    source: &str,
    read: impl Fn(&Bound<'py, PyModule>, &Bound<'py, PyAny>) -> PyResult<Frame<'py>>,
) -> PyResult<Trajectory> {
    let np = py.import("numpy")?;
    let mut pos = Vec::new();
    let mut cells = Vec::new();
    let mut species: Option<Vec<String>> = None;
    for (f, obj) in frames.try_iter()?.enumerate() {
        let (p, c, sym) = read(&np, &obj?)?;
        match &species {
            None => species = Some(sym),
            Some(s0) if *s0 != sym => {
                return Err(InputError::new_err(format!(
                    "frame {f}: the atoms differ from frame 0 (species or order)"
                )));
            }
            _ => {}
        }
        pos.push(p.as_array().to_owned());
        cells.push(c.as_array().to_owned());
    }
    stack_frames(py, pos, cells, species, timestep_fs, stride, source)
}

fn stack_frames(
    py: Python<'_>,
    pos: Vec<Array2<f64>>,
    cells: Vec<Array2<f64>>,
    species: Option<Vec<String>>,
    timestep_fs: Option<f64>,
    stride: usize,
    source: &str,
) -> PyResult<Trajectory> {
    let species = species.ok_or_else(|| InputError::new_err("no frames"))?;
    let n = species.len();
    if let Some((f, p)) = pos.iter().enumerate().find(|(_, p)| p.dim() != (n, 3)) {
        return Err(InputError::new_err(format!(
            "frame {f}: positions of shape {:?}, expected ({n}, 3)",
            p.shape()
        )));
    }
    let t = pos.len();
    let p3 = Array3::from_shape_fn((t, n, 3), |(f, a, x)| pos[f][[a, x]]);
    let fixed = cells.iter().all(|c| c == &cells[0]);
    let c3 = if fixed {
        cells[0].clone().insert_axis(Axis(0))
    } else {
        Array3::from_shape_fn((t, 3, 3), |(f, a, b)| cells[f][[a, b]])
    };
    if stride == 0 {
        return Err(InputError::new_err("stride must be at least 1"));
    }
    let dt = timestep_fs.map(|fs| fs * stride as f64 / 1000.0);
    let p3 = p3.into_pyarray(py);
    let c3 = c3.into_pyarray(py).into_any();
    Trajectory::from_arrays(p3.readonly(), &c3, species, dt, source)
}

/// A type map as the command line takes it ("1=Li,2=S"), or as a dict whose keys are
/// type numbers or names (int or str) and whose values are element symbols.
fn type_map_arg(
    obj: Option<&Bound<'_, PyAny>>,
) -> PyResult<std::collections::HashMap<String, String>> {
    let Some(o) = obj.filter(|o| !o.is_none()) else {
        return Ok(Default::default());
    };
    if let Ok(text) = o.extract::<String>() {
        return superion::io::lammps::parse_type_map(&text).map_err(to_py);
    }
    let d = o.cast::<PyDict>().map_err(|_| {
        InputError::new_err(
            "type_map: expected a dict (type -> element) or a string such as \"1=Li,2=S\"",
        )
    })?;
    let mut text = Vec::new();
    for (k, v) in d.iter() {
        let key = match k.extract::<i64>() {
            Ok(i) => i.to_string(),
            Err(_) => k.extract::<String>().map_err(|_| {
                InputError::new_err("type_map: keys must be type numbers or names (int or str)")
            })?,
        };
        let val: String = v
            .extract()
            .map_err(|_| InputError::new_err("type_map: values must be element symbols (str)"))?;
        text.push(format!("{key}={val}"));
    }
    superion::io::lammps::parse_type_map(&text.join(",")).map_err(to_py)
}

/// The reading options of `read_trajectory` and `msd_file`.
#[allow(clippy::too_many_arguments)]
fn read_options(
    timestep_fs: Option<f64>,
    stride: Option<usize>,
    format: Option<&str>,
    type_map: Option<&Bound<'_, PyAny>>,
    start: usize,
    stop: Option<usize>,
    every: usize,
    topology: Option<PathBuf>,
) -> PyResult<superion::io::traj_input::TrajReadOptions> {
    use superion::io::traj_input::{FrameRange, TrajFormat, TrajReadOptions};
    // The names of the reader registry, as the CLI's --format takes them.
    let format = format
        .map(str::parse::<TrajFormat>)
        .transpose()
        .map_err(to_py)?;
    Ok(TrajReadOptions {
        format,
        time: superion::traj::TimeStep {
            timestep_fs,
            stride,
        },
        allow_truncated: false,
        type_map: type_map_arg(type_map)?,
        frames: FrameRange { start, stop, every },
        topology,
    })
}

/// Read a trajectory: XDATCAR (an INCAR beside it gives the time step), extended XYZ,
/// LAMMPS dump, ASE .traj, VASP vasprun.xml (POTIM is the time step of an MD run), DCD
/// and XTC (their atoms named by `topology`: a LAMMPS data file, a .gro or PDB file, or
/// any trajectory superion reads), H5MD; gzip, zstd and xz read transparently. `start`, `stop`, `every` choose frames as a Python
/// slice does (counted from 0); the frames left out are never parsed.
#[pyfunction]
#[pyo3(signature = (path, timestep_fs=None, stride=None, format=None, type_map=None, start=0, stop=None, every=1, topology=None))]
#[allow(clippy::too_many_arguments)]
fn read_trajectory(
    py: Python<'_>,
    path: PathBuf,
    timestep_fs: Option<f64>,
    stride: Option<usize>,
    format: Option<&str>,
    type_map: Option<&Bound<'_, PyAny>>,
    start: usize,
    stop: Option<usize>,
    every: usize,
    topology: Option<PathBuf>,
) -> PyResult<Trajectory> {
    let opts = read_options(
        timestep_fs,
        stride,
        format,
        type_map,
        start,
        stop,
        every,
        topology,
    )?;
    let t = interruptible(py, move || {
        superion::io::traj_input::read_trajectory(&path, &opts)
    })?;
    Ok(Trajectory { inner: Arc::new(t) })
}

/// The MSD of one species and its diffusion coefficient (as `superion traj msd`).
#[pyclass(frozen, module = "superion._superion")]
pub struct MsdResult {
    msd: Arc<superion::traj::msd::Msd>,
    fit: Arc<superion::traj::diffusion::Fit>,
    /// What `superion traj msd --json` prints (summary.json), field for field.
    summary: Arc<superion::report::msd::DiffusionSummary>,
}

impl MsdResult {
    fn of(d: superion::report::msd::Diffusion) -> MsdResult {
        MsdResult {
            msd: Arc::new(d.msd),
            fit: Arc::new(d.fit),
            summary: Arc::new(d.summary),
        }
    }
}

#[pymethods]
impl MsdResult {
    #[getter]
    fn species(&self) -> String {
        self.msd.species.clone()
    }
    #[getter]
    fn dt_ps<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        Array1::from(self.msd.times_ps()).into_pyarray(py)
    }
    #[getter]
    fn msd_a2<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        Array1::from(self.msd.msd_a2.clone()).into_pyarray(py)
    }
    /// Per-axis MSD (lags × 3, Å²).
    #[getter]
    fn msd_axes_a2<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray2<f64>> {
        self.msd.msd_axes_a2.clone().into_pyarray(py)
    }
    /// Collective MSD |Σ Δr|² / N (Å²).
    #[getter]
    fn collective_a2<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        Array1::from(self.msd.collective_a2.clone()).into_pyarray(py)
    }
    #[getter]
    fn d_cm2_s(&self) -> f64 {
        self.fit.d_cm2_s
    }
    /// NaN when the MSD is not diffusive over the fit window (see `diffusive`).
    #[getter]
    fn d_err_cm2_s(&self) -> f64 {
        if self.fit.diffusive {
            self.fit.d_err_cm2_s
        } else {
            f64::NAN
        }
    }
    /// Whether the MSD is diffusive over the fit window (its exponent within 0.25 of 1
    /// and at least 1 Å² reached); when not, `d_cm2_s` is NaN.
    #[getter]
    fn diffusive(&self) -> bool {
        self.fit.diffusive
    }
    #[getter]
    fn diffusive_note(&self) -> String {
        self.fit.diffusive_note.clone()
    }
    /// The MSD's exponent over the fit window.
    #[getter]
    fn loglog_exponent(&self) -> f64 {
        self.fit.loglog_exponent
    }
    #[getter]
    fn fit_start_ps(&self) -> f64 {
        self.fit.fit_start_ps
    }
    #[getter]
    fn fit_end_ps(&self) -> f64 {
        self.fit.fit_end_ps
    }
    #[getter]
    fn n_atoms(&self) -> usize {
        self.msd.n_atoms
    }
    /// The fit as a dict.
    fn fit_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        json_to_py(py, &*self.fit)
    }
    /// The summary as a dict: exactly what `superion traj msd --json` prints (and
    /// writes to summary.json), the Haven ratio, D_sigma, the Nernst-Einstein
    /// conductivity (with `temperature`) and the notes included.
    #[getter]
    fn summary<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        json_to_py(py, &*self.summary)
    }
    /// D / D_sigma; NaN when the run does not determine it (see `summary['haven_note']`).
    #[getter]
    fn haven_ratio(&self) -> f64 {
        self.summary.haven_ratio
    }
    /// The collective (charge) diffusion coefficient D_sigma (cm²/s).
    #[getter]
    fn d_sigma_cm2_s(&self) -> f64 {
        self.summary.d_sigma_cm2_s
    }
    /// The Nernst-Einstein conductivity as a dict (given a temperature), else None.
    #[getter]
    fn conductivity<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        json_to_py(py, &self.summary.conductivity)
    }
    /// What the run needs a reader to know (time step source, drift, ...).
    #[getter]
    fn notes(&self) -> Vec<String> {
        self.summary.notes.clone()
    }

    /// Everything as a dict: the MSD curves (numpy) and the fit.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("species", self.species())?;
        d.set_item("n_atoms", self.n_atoms())?;
        d.set_item("dt_ps", self.dt_ps(py))?;
        d.set_item("msd_a2", self.msd_a2(py))?;
        d.set_item("msd_axes_a2", self.msd_axes_a2(py))?;
        d.set_item("collective_a2", self.collective_a2(py))?;
        d.set_item("fit", self.fit_dict(py)?)?;
        d.set_item("summary", self.summary(py)?)?;
        Ok(d)
    }
    fn _repr_html_(&self) -> String {
        let span = superion::traj::fmt_span_ps(self.fit.fit_start_ps, self.fit.fit_end_ps);
        let d = if self.fit.diffusive {
            format!(
                "D = {:.4e} ± {:.2e} cm²/s (fit {span}; MSD ∝ t^{:.2})",
                self.fit.d_cm2_s, self.fit.d_err_cm2_s, self.fit.loglog_exponent
            )
        } else {
            format!(
                "not diffusive: D not determined ({})",
                self.fit.diffusive_note
            )
        };
        format!(
            "<b>superion MSD</b>: {} ({} atoms, {} lags of {})<br>{d}",
            self.msd.species,
            self.msd.n_atoms,
            self.msd.lags.len(),
            superion::traj::fmt_duration_ps(self.msd.dt_ps),
        )
    }

    fn __repr__(&self) -> String {
        if self.fit.diffusive {
            format!(
                "<superion.MsdResult {}: D = {:.4e} ± {:.2e} cm²/s>",
                self.msd.species, self.fit.d_cm2_s, self.fit.d_err_cm2_s
            )
        } else {
            format!(
                "<superion.MsdResult {}: not diffusive (MSD ∝ t^{:.2}), D not determined>",
                self.msd.species, self.fit.loglog_exponent
            )
        }
    }

    /// The MSD figure with its fitted line, shown inline in Jupyter (an IPython SVG
    /// object when IPython is there, else the SVG text).
    fn plot<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        show_svg(py, self.svg()?)
    }

    /// The MSD figure with its fitted line (SVG text).
    fn svg(&self) -> PyResult<String> {
        superion::plot::msd_svg_text(&self.msd, &self.fit).map_err(to_py)
    }
}

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

/// MSD and D of `species` (drift of the framework removed by default), with the Haven
/// ratio and, given `temperature` (K), the Nernst-Einstein conductivity (`charge`: the
/// ion's charge in e, default the species' usual one): as `superion traj msd`.
#[pyfunction]
#[pyo3(signature = (traj, species=None, start_ps=None, axes="xyz", drift=true, temperature=None, charge=None, lags="all", backend="auto"))]
#[allow(clippy::too_many_arguments)]
fn msd(
    py: Python<'_>,
    traj: &Trajectory,
    species: Option<&Bound<'_, PyAny>>,
    start_ps: Option<f64>,
    axes: &str,
    drift: bool,
    temperature: Option<f64>,
    charge: Option<f64>,
    lags: &str,
    backend: &str,
) -> PyResult<MsdResult> {
    let opts = diffusion_options(species, start_ps, axes, drift, temperature, charge, lags)?;
    let engine = engine(backend)?;
    let t = traj.inner.clone();
    let d = interruptible(py, move || {
        superion::report::msd::diffusion(&engine, &t, &t.source, &opts)
    })?;
    Ok(MsdResult::of(d))
}

/// The options of `traj msd`, checked as the command line checks them.
fn diffusion_options(
    species: Option<&Bound<'_, PyAny>>,
    start_ps: Option<f64>,
    axes: &str,
    drift: bool,
    temperature: Option<f64>,
    charge: Option<f64>,
    lags: &str,
) -> PyResult<superion::report::msd::DiffusionOptions> {
    let species = match species {
        Some(o) if !o.is_none() => one_species(o)?,
        _ => "Li".to_string(),
    };
    let o = superion::report::msd::DiffusionOptions {
        msd: superion::traj::msd::MsdOptions {
            species,
            drift_correction: drift,
            lags: lags.parse().map_err(to_py)?,
            long_step_a: None,
            axes: axes.parse().map_err(to_py)?,
        },
        start_ps,
        temperature_k: temperature,
        charge_e: charge,
    };
    o.check().map_err(to_py)?;
    Ok(o)
}

/// MSD and D of `species` in the trajectory file `path`, as `superion traj msd FILE`
/// computes them: read into memory or streamed by the library's one policy (streamed
/// when the in-memory path would hold more than 256 MB or a quarter of the memory
/// available, or when `memory` (bytes for the atom windows) or `scratch` (a folder for
/// the scratch files) is given). The same numbers either way, and as
/// `msd(read_trajectory(path), ...)`.
#[pyfunction]
#[pyo3(signature = (path, species=None, timestep_fs=None, stride=None, format=None, type_map=None, topology=None, start=0, stop=None, every=1, start_ps=None, axes="xyz", drift=true, temperature=None, charge=None, lags="all", memory=None, scratch=None, backend="auto"))]
#[allow(clippy::too_many_arguments)]
fn msd_file(
    py: Python<'_>,
    path: PathBuf,
    species: Option<&Bound<'_, PyAny>>,
    timestep_fs: Option<f64>,
    stride: Option<usize>,
    format: Option<&str>,
    type_map: Option<&Bound<'_, PyAny>>,
    topology: Option<PathBuf>,
    start: usize,
    stop: Option<usize>,
    every: usize,
    start_ps: Option<f64>,
    axes: &str,
    drift: bool,
    temperature: Option<f64>,
    charge: Option<f64>,
    lags: &str,
    memory: Option<u64>,
    scratch: Option<PathBuf>,
    backend: &str,
) -> PyResult<MsdResult> {
    let read = read_options(
        timestep_fs,
        stride,
        format,
        type_map,
        start,
        stop,
        every,
        topology,
    )?;
    let opts = diffusion_options(species, start_ps, axes, drift, temperature, charge, lags)?;
    let engine = engine(backend)?;
    let src = superion::report::TrajFile {
        path,
        read,
        memory,
        scratch,
    };
    let d = interruptible(py, move || {
        superion::report::msd::diffusion_of(&engine, &src, &opts).map(|(d, _)| d)
    })?;
    Ok(MsdResult::of(d))
}

/// Jumps or hops of one species (as `superion traj hops`).
#[pyclass(frozen, module = "superion._superion")]
pub struct HopsResult {
    hops: Arc<superion::traj::hops::Hops>,
    summary: Arc<superion::report::hops::Summary>,
}

#[pymethods]
impl HopsResult {
    /// The events as a dict of numpy columns (the columns of `events.csv`).
    #[getter]
    fn events<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let h = &self.hops;
        let d = PyDict::new(py);
        let col_u = |f: &dyn Fn(&superion::traj::hops::Event) -> i64| -> Array1<i64> {
            h.events.iter().map(f).collect()
        };
        let col_f = |f: &dyn Fn(&superion::traj::hops::Event) -> f64| -> Array1<f64> {
            h.events.iter().map(f).collect()
        };
        d.set_item("ion", col_u(&|e| e.ion as i64).into_pyarray(py))?;
        d.set_item(
            "species",
            PyList::new(py, h.events.iter().map(|e| e.species.clone()))?,
        )?;
        d.set_item(
            "start_frame",
            col_u(&|e| e.start_frame as i64).into_pyarray(py),
        )?;
        d.set_item(
            "end_frame",
            col_u(&|e| e.end_frame.map_or(-1, |v| v as i64)).into_pyarray(py),
        )?;
        d.set_item("start_ps", col_f(&|e| h.start_ps(e)).into_pyarray(py))?;
        d.set_item("end_ps", col_f(&|e| h.end_ps(e)).into_pyarray(py))?;
        d.set_item("from_site", col_u(&|e| e.from_site as i64).into_pyarray(py))?;
        d.set_item("to_site", col_u(&|e| e.to_site as i64).into_pyarray(py))?;
        d.set_item("dx_a", col_f(&|e| e.vector_a[0]).into_pyarray(py))?;
        d.set_item("dy_a", col_f(&|e| e.vector_a[1]).into_pyarray(py))?;
        d.set_item("dz_a", col_f(&|e| e.vector_a[2]).into_pyarray(py))?;
        d.set_item("length_a", col_f(&|e| e.length_a).into_pyarray(py))?;
        d.set_item(
            "duration_ps",
            col_f(&|e| (e.end(h.n_frames) as f64 - e.start_frame as f64) * h.dt_ps)
                .into_pyarray(py),
        )?;
        if let Some(j) = &h.jumps {
            d.set_item(
                "jump_type",
                PyList::new(
                    py,
                    h.events
                        .iter()
                        .map(|e| superion::traj::hops::sites::type_of(e, &h.sites, &j.types)),
                )?,
            )?;
        }
        Ok(d)
    }

    /// The sites as a dict of numpy columns (the columns of `sites.csv`).
    #[getter]
    fn sites<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let h = &self.hops;
        let d = PyDict::new(py);
        d.set_item(
            "label",
            PyList::new(py, h.sites.iter().map(|s| s.label.clone()))?,
        )?;
        let frac = Array2::from_shape_fn((h.sites.len(), 3), |(i, x)| h.sites[i].frac[x]);
        let cart = Array2::from_shape_fn((h.sites.len(), 3), |(i, x)| h.sites[i].centre_a[x]);
        d.set_item("frac", frac.into_pyarray(py))?;
        d.set_item("position_a", cart.into_pyarray(py))?;
        d.set_item(
            "radius_a",
            h.sites
                .iter()
                .map(|s| s.radius_a.unwrap_or(f64::NAN))
                .collect::<Array1<f64>>()
                .into_pyarray(py),
        )?;
        d.set_item(
            "occupancy",
            h.sites
                .iter()
                .map(|s| s.occupied_frames as f64 / h.n_frames.max(1) as f64)
                .collect::<Array1<f64>>()
                .into_pyarray(py),
        )?;
        Ok(d)
    }

    /// Everything `descriptors.json` holds, as a dict.
    #[getter]
    fn summary<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        json_to_py(py, &*self.summary)
    }

    #[getter]
    fn mode(&self) -> &'static str {
        self.hops.mode.name()
    }

    #[getter]
    fn n_events(&self) -> usize {
        self.hops.events.len()
    }

    /// Write events.csv, DIFFUSION, sites.csv/.xyz/.vasp, descriptors.json and the
    /// figures into `folder` (as `traj hops --out`); returns the names written.
    fn write(&self, py: Python<'_>, folder: PathBuf) -> PyResult<Vec<String>> {
        let h = self.hops.clone();
        let s = self.summary.clone();
        interruptible(py, move || {
            superion::report::hops::write_outputs(&h, &folder, &s)
        })
    }

    /// The events as a pandas DataFrame (pandas imported only here).
    fn to_pandas<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        py.import("pandas")?
            .getattr("DataFrame")?
            .call1((self.events(py)?,))
    }

    fn _repr_html_(&self) -> String {
        let s = &self.summary;
        let mut h = format!(
            "<b>superion hops</b> ({} mode): {} events, {} sites, {} ions analysed",
            self.hops.mode.name(),
            self.hops.events.len(),
            self.hops.sites.len(),
            s.ions_analysed
        );
        if let Some(j) = &self.hops.jumps {
            h.push_str(&format!(
                "<br>{} of {} ions jump; D_jump = {:.3e} cm²/s; {}",
                j.jumping_ions, j.ions, j.d_jump_cm2_s, j.consistency
            ));
        }
        h
    }

    fn __repr__(&self) -> String {
        format!(
            "<superion.HopsResult {} mode: {} events, {} sites>",
            self.hops.mode.name(),
            self.hops.events.len(),
            self.hops.sites.len()
        )
    }

    /// The site map or raster, shown inline in Jupyter.
    fn plot<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        show_svg(py, self.svg()?)
    }

    /// The site map (site-based mode) or the hop raster, as SVG text.
    fn svg(&self) -> PyResult<String> {
        if self.hops.jumps.is_some() {
            superion::plot::hops::sitemap_svg_text(&self.hops).map_err(to_py)
        } else {
            superion::plot::hops::raster_svg_text(&self.hops).map_err(to_py)
        }
    }
}

/// Hops or jumps of one species. `mode`: 'sites' (default; `sites` a CIF/POSCAR/XYZ of
/// known sites, else discovered), 'kmeans' or 'iondiff'.
#[pyfunction]
#[pyo3(signature = (traj, species=None, mode="sites", sites=None, supercell=(1, 1, 1), site_radius=None, min_residence=None, seed=0, saddle_fraction=None, join_a=None, merge_a=None, min_enrichment=None, single_radius=false, symmetrise=false, collective_dt_ps=0.5, collective_dr_a=5.0, backend="auto"))]
#[allow(clippy::too_many_arguments)]
fn hops(
    py: Python<'_>,
    traj: &Trajectory,
    species: Option<&Bound<'_, PyAny>>,
    mode: &str,
    sites: Option<PathBuf>,
    supercell: (usize, usize, usize),
    site_radius: Option<f64>,
    min_residence: Option<usize>,
    seed: u64,
    saddle_fraction: Option<f64>,
    join_a: Option<f64>,
    merge_a: Option<f64>,
    min_enrichment: Option<f64>,
    single_radius: bool,
    symmetrise: bool,
    collective_dt_ps: f64,
    collective_dr_a: f64,
    backend: &str,
) -> PyResult<HopsResult> {
    superion::report::hops::check_collective(collective_dt_ps, collective_dr_a).map_err(to_py)?;
    use superion::traj::hops::Mode;
    let mode = match mode {
        "sites" | "default" => Mode::Sites,
        "kmeans" => Mode::Kmeans,
        "iondiff" => Mode::Iondiff,
        o => {
            return Err(InputError::new_err(format!(
                "mode {o:?}: expected 'sites', 'kmeans' or 'iondiff'"
            )));
        }
    };
    let o = site_options(
        mode,
        species_arg(species)?,
        sites,
        supercell,
        site_radius,
        min_residence,
        seed,
        SiteTuning {
            saddle_fraction,
            join_a,
            merge_a,
            min_enrichment,
            single_radius,
            symmetrise,
        },
    )?;
    let engine = engine(backend)?;
    let t = traj.inner.clone();
    let (h, s) = interruptible(py, move || {
        let h = superion::traj::hops::detect(&engine, &t, &o)?;
        let s = superion::report::hops::summary(&h, &t.source, collective_dt_ps, collective_dr_a);
        Ok((h, s))
    })?;
    Ok(HopsResult {
        hops: Arc::new(h),
        summary: Arc::new(s),
    })
}

/// Site-based jumps of one species in the trajectory file `path`, as `superion traj
/// hops FILE` finds them: read into memory or streamed by the library's one policy
/// (streamed when the in-memory path would hold more than 256 MB or a quarter of the
/// memory available, or when `memory` (bytes for the atom windows) or `scratch` (a
/// folder for the scratch files) is given). The same events, sites and figures either
/// way (a streamed run's path figures thinned to at most 5000 frames).
#[pyfunction]
#[pyo3(signature = (path, species=None, sites=None, supercell=(1, 1, 1), site_radius=None, min_residence=None, timestep_fs=None, stride=None, format=None, type_map=None, topology=None, start=0, stop=None, every=1, memory=None, scratch=None, saddle_fraction=None, join_a=None, merge_a=None, min_enrichment=None, single_radius=false, symmetrise=false, collective_dt_ps=0.5, collective_dr_a=5.0, backend="auto"))]
#[allow(clippy::too_many_arguments)]
fn hops_file(
    py: Python<'_>,
    path: PathBuf,
    species: Option<&Bound<'_, PyAny>>,
    sites: Option<PathBuf>,
    supercell: (usize, usize, usize),
    site_radius: Option<f64>,
    min_residence: Option<usize>,
    timestep_fs: Option<f64>,
    stride: Option<usize>,
    format: Option<&str>,
    type_map: Option<&Bound<'_, PyAny>>,
    topology: Option<PathBuf>,
    start: usize,
    stop: Option<usize>,
    every: usize,
    memory: Option<u64>,
    scratch: Option<PathBuf>,
    saddle_fraction: Option<f64>,
    join_a: Option<f64>,
    merge_a: Option<f64>,
    min_enrichment: Option<f64>,
    single_radius: bool,
    symmetrise: bool,
    collective_dt_ps: f64,
    collective_dr_a: f64,
    backend: &str,
) -> PyResult<HopsResult> {
    superion::report::hops::check_collective(collective_dt_ps, collective_dr_a).map_err(to_py)?;
    let read = read_options(
        timestep_fs,
        stride,
        format,
        type_map,
        start,
        stop,
        every,
        topology,
    )?;
    let o = site_options(
        superion::traj::hops::Mode::Sites,
        species_arg(species)?,
        sites,
        supercell,
        site_radius,
        min_residence,
        0,
        SiteTuning {
            saddle_fraction,
            join_a,
            merge_a,
            min_enrichment,
            single_radius,
            symmetrise,
        },
    )?;
    let engine = engine(backend)?;
    let src = superion::report::TrajFile {
        path: path.clone(),
        read,
        memory,
        scratch,
    };
    let (h, s) = interruptible(py, move || {
        let (h, _) = superion::report::hops::detect_of(&engine, &src, &o)?;
        let s = superion::report::hops::summary(&h, &path, collective_dt_ps, collective_dr_a);
        Ok((h, s))
    })?;
    Ok(HopsResult {
        hops: Arc::new(h),
        summary: Arc::new(s),
    })
}

/// Site discovery's settings, as `traj hops` takes them (None: its defaults).
struct SiteTuning {
    saddle_fraction: Option<f64>,
    join_a: Option<f64>,
    merge_a: Option<f64>,
    min_enrichment: Option<f64>,
    single_radius: bool,
    symmetrise: bool,
}

/// The hop options the binding's functions take.
#[allow(clippy::too_many_arguments)]
fn site_options(
    mode: superion::traj::hops::Mode,
    species: Option<Vec<String>>,
    sites: Option<PathBuf>,
    supercell: (usize, usize, usize),
    site_radius: Option<f64>,
    min_residence: Option<usize>,
    seed: u64,
    tuning: SiteTuning,
) -> PyResult<superion::traj::hops::HopOptions> {
    let mut o = superion::traj::hops::HopOptions::new(mode);
    o.species = species.unwrap_or_default();
    o.sites.known = sites
        .map(|p| superion::io::sites::read(&p))
        .transpose()
        .map_err(to_py)?;
    o.sites.supercell = [supercell.0, supercell.1, supercell.2];
    if let Some(r) = site_radius {
        if !(r > 0.0) {
            return Err(InputError::new_err(format!(
                "site_radius {r}: must be positive (Å)"
            )));
        }
        o.sites.radius_a = Some(r);
    }
    if let Some(m) = min_residence {
        o.min_residence_frames = m;
        o.sites.min_residence_frames = m;
    }
    o.seed = seed;
    let t = tuning;
    if let Some(v) = t.saddle_fraction {
        o.sites.saddle_fraction = v;
    }
    if let Some(v) = t.join_a {
        o.sites.join_a = v;
    }
    if let Some(v) = t.merge_a {
        o.sites.merge_a = v;
    }
    if let Some(v) = t.min_enrichment {
        o.sites.min_enrichment = v;
    }
    o.sites.single_radius = t.single_radius;
    o.sites.symmetrise = t.symmetrise;
    Ok(o)
}

/// Phonon-DOS descriptors of every material found under `paths` (phonopy folders,
/// Materials Project JSON, PhononDB entries, phonopy_params.yaml): (columns as a dict
/// of lists, failures as a list of (path, message)).
#[pyfunction]
#[pyo3(signature = (paths, elements=vec!["Li".to_string()], legacy=false))]
fn phonon_features<'py>(
    py: Python<'py>,
    paths: Vec<PathBuf>,
    elements: Vec<String>,
    legacy: bool,
) -> PyResult<(Bound<'py, PyDict>, Vec<(String, String)>)> {
    let opts = superion::phonon::descriptors::FeatureOptions {
        elements,
        legacy,
        ..Default::default()
    };
    let (rows, failures) = interruptible(py, move || {
        let inputs = superion::materials::discover(&paths)?;
        let (dos, failed) = superion::materials::read_all(&inputs);
        let mut rows = Vec::new();
        let mut failures: Vec<(String, String)> = failed
            .iter()
            .map(|f| (f.input.display().to_string(), f.error.clone()))
            .collect();
        for d in &dos {
            match superion::phonon::descriptors::features(d, &opts) {
                Ok(r) => rows.push(r),
                Err(e) => failures.push((d.source.display().to_string(), e.to_string())),
            }
        }
        Ok((rows, failures))
    })?;
    // Columns in first-seen order; a material without a column gets None.
    let mut names: Vec<String> = Vec::new();
    for r in &rows {
        for (k, _) in &r.columns {
            if !names.contains(k) {
                names.push(k.clone());
            }
        }
    }
    let d = PyDict::new(py);
    for n in &names {
        let col = PyList::empty(py);
        for r in &rows {
            match r.get(n) {
                Some(v) => col.append(json_to_py(py, v)?)?,
                None => col.append(py.None())?,
            }
        }
        d.set_item(n, col)?;
    }
    Ok((d, failures))
}

/// Structure descriptors and Li+ bond-valence site-energy barriers of every structure
/// under `paths` (CIF, POSCAR, pymatgen Structure JSON, PhononDB entries): the columns
/// of the command line's features.csv (`superion structure features`) as a dict of
/// lists (numbers as floats, empty cells as None), and the unreadable files as
/// (path, message).
#[pyfunction]
#[pyo3(signature = (paths, bvse=true, spacing=0.2, cutoff=10.0, framework="weighted", grid="fine", backend="auto"))]
#[allow(clippy::too_many_arguments)]
fn structure_features<'py>(
    py: Python<'py>,
    paths: Vec<PathBuf>,
    bvse: bool,
    spacing: f64,
    cutoff: f64,
    framework: &str,
    grid: &str,
    backend: &str,
) -> PyResult<(Bound<'py, PyDict>, Vec<(String, String)>)> {
    use superion::crystal::bvse::BvseOptions;
    use superion::crystal::features;
    let bvse = if bvse {
        let b = BvseOptions {
            spacing_a: spacing,
            cutoff_a: cutoff,
            framework: framework.parse().map_err(to_py)?,
            grid: grid.parse().map_err(to_py)?,
            ..BvseOptions::default()
        };
        b.check().map_err(to_py)?;
        Some(b)
    } else {
        None
    };
    let eng = engine(backend)?;
    let (header, rows, failures) = interruptible(py, move || {
        let files = superion::crystal::discover(&paths)?;
        let o = features::FeatureOptions {
            bvse,
            keep_landscapes: false,
        };
        let (rows, failed) = features::compute(&eng, &files, &o);
        let (header, rows) = features::table(&rows);
        let failures: Vec<(String, String)> = failed
            .iter()
            .map(|f| (f.source.display().to_string(), f.reason.clone()))
            .collect();
        Ok((header, rows, failures))
    })?;
    const TEXT: [&str; 5] = ["id", "formula", "anion", "oxidation_states", "source"];
    let d = PyDict::new(py);
    for (c, name) in header.iter().enumerate() {
        let col = PyList::empty(py);
        for r in &rows {
            let cell = &r[c];
            if TEXT.contains(&name.as_str()) {
                col.append(cell)?;
            } else if cell.is_empty() {
                col.append(py.None())?;
            } else {
                let v: f64 = cell.parse().map_err(|_| {
                    PyRuntimeError::new_err(format!("column {name}: {cell:?} is not a number"))
                })?;
                col.append(v)?;
            }
        }
        d.set_item(name, col)?;
    }
    Ok((d, failures))
}

fn points(x: &PyReadonlyArray2<'_, f64>) -> PyResult<Array3<f32>> {
    let a = x.as_array();
    if a.nrows() == 0 || a.ncols() == 0 {
        return Err(InputError::new_err(format!(
            "X: expected a non-empty n_samples × n_features array, got {:?}",
            a.shape()
        )));
    }
    if a.iter().any(|v| !v.is_finite()) {
        return Err(InputError::new_err("X contains NaN or infinity"));
    }
    Ok(a.mapv(|v| v as f32).insert_axis(Axis(0)))
}

/// Lloyd's k-means with scikit-learn's parameters: (labels, centres, inertia, n_iter).
#[pyfunction]
#[pyo3(signature = (x, n_clusters, n_init=10, max_iter=300, tol=1e-4, init="k-means++", seed=0, backend="auto"))]
#[allow(clippy::too_many_arguments)]
fn kmeans<'py>(
    py: Python<'py>,
    x: PyReadonlyArray2<'py, f64>,
    n_clusters: u32,
    n_init: u32,
    max_iter: u32,
    tol: f64,
    init: &str,
    seed: u64,
    backend: &str,
) -> PyResult<(
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyArray2<f64>>,
    f64,
    u32,
)> {
    use superion::cluster::kmeans::{Init, KMeansParams, KMeansProblem, kmeans_batch};
    let init = match init {
        "k-means++" => Init::KMeansPlusPlus,
        "random" => Init::Random,
        o => {
            return Err(InputError::new_err(format!(
                "init {o:?}: expected 'k-means++' or 'random'"
            )));
        }
    };
    if n_init == 0 || max_iter == 0 {
        return Err(InputError::new_err(
            "n_init and max_iter must be at least 1",
        ));
    }
    let pts = points(&x)?;
    let engine = engine(backend)?;
    let params = KMeansParams {
        init,
        n_init,
        max_iter,
        tol,
    };
    let fit = interruptible(py, move || {
        let mut f = kmeans_batch(
            &engine,
            pts.view(),
            &[KMeansProblem {
                set: 0,
                k: n_clusters,
                seed,
            }],
            &params,
        )?;
        Ok(f.remove(0))
    })?;
    let labels: Array1<i64> = fit.labels.iter().map(|&l| l as i64).collect();
    Ok((
        labels.into_pyarray(py),
        fit.centres.mapv(|v| v as f64).into_pyarray(py),
        fit.inertia,
        fit.n_iter,
    ))
}

/// Hierarchical clustering cut at `n_clusters` (ward, complete, average, single).
#[pyfunction]
#[pyo3(signature = (x, n_clusters, linkage="ward", backend="auto"))]
fn agglomerative<'py>(
    py: Python<'py>,
    x: PyReadonlyArray2<'py, f64>,
    n_clusters: usize,
    linkage: &str,
    backend: &str,
) -> PyResult<Bound<'py, PyArray1<i64>>> {
    use superion::cluster::hierarchical::Linkage;
    let method = match linkage {
        "ward" => Linkage::Ward,
        "complete" => Linkage::Complete,
        "average" => Linkage::Average,
        "single" => Linkage::Single,
        o => {
            return Err(InputError::new_err(format!(
                "linkage {o:?}: expected 'ward', 'complete', 'average' or 'single'"
            )));
        }
    };
    let pts = points(&x)?;
    let engine = engine(backend)?;
    let labels = interruptible(py, move || {
        let (tree, _) =
            superion::cluster::hierarchical::linkage(&engine, pts.index_axis(Axis(0), 0), method)?;
        tree.cut(n_clusters)
    })?;
    Ok(labels
        .iter()
        .map(|&l| l as i64)
        .collect::<Array1<i64>>()
        .into_pyarray(py))
}

fn labels_of(labels: &PyReadonlyArray1<'_, i64>, n: usize) -> PyResult<(Vec<u32>, u32)> {
    let l = labels.as_array();
    if l.len() != n {
        return Err(InputError::new_err(format!(
            "labels: {} for {n} samples",
            l.len()
        )));
    }
    // Relabel to 0..k in order of first appearance.
    let mut seen: Vec<i64> = Vec::new();
    let out = l
        .iter()
        .map(|v| match seen.iter().position(|s| s == v) {
            Some(i) => i as u32,
            None => {
                seen.push(*v);
                (seen.len() - 1) as u32
            }
        })
        .collect();
    let k = seen.len() as u32;
    if k < 2 || k as usize >= n {
        return Err(InputError::new_err(format!(
            "the silhouette needs 2 ≤ n_labels ≤ n_samples − 1, got {k} labels for {n} samples"
        )));
    }
    Ok((out, k))
}

/// Silhouette of every sample (exact, Euclidean).
#[pyfunction]
#[pyo3(signature = (x, labels, backend="auto"))]
fn silhouette_samples<'py>(
    py: Python<'py>,
    x: PyReadonlyArray2<'py, f64>,
    labels: PyReadonlyArray1<'py, i64>,
    backend: &str,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let pts = points(&x)?;
    let (l, k) = labels_of(&labels, pts.shape()[1])?;
    let engine = engine(backend)?;
    let s = interruptible(py, move || {
        superion::cluster::silhouette::silhouette_samples(
            &engine,
            pts.index_axis(Axis(0), 0),
            &l,
            k,
        )
    })?;
    Ok(Array1::from(s).into_pyarray(py))
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
    m.add_function(wrap_pyfunction!(hops, m)?)?;
    m.add_function(wrap_pyfunction!(phonon_features, m)?)?;
    m.add_function(wrap_pyfunction!(structure_features, m)?)?;
    m.add_function(wrap_pyfunction!(kmeans, m)?)?;
    m.add_function(wrap_pyfunction!(agglomerative, m)?)?;
    m.add_function(wrap_pyfunction!(silhouette_samples, m)?)?;
    m.add("InputError", py.get_type::<InputError>())?;
    m.add("FileError", py.get_type::<FileError>())?;
    m.add("DeviceError", py.get_type::<DeviceError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
