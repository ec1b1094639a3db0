//! MSD and diffusion coefficients (`msd`, `msd_file`) and their result.

use super::*;

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

/// MSD and D of `species` (drift of the framework removed by default), with the Haven
/// ratio and, given `temperature` (K), the Nernst-Einstein conductivity (`charge`: the
/// ion's charge in e, default the species' usual one): as `superion traj msd`.
#[pyfunction]
#[pyo3(signature = (traj, species=None, start_ps=None, axes="xyz", drift=true, temperature=None, charge=None, lags="all", backend="auto"))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn msd(
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
pub(crate) fn diffusion_options(
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
pub(crate) fn msd_file(
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
