//! Hops and site-based jumps (`hops`, `hops_file`) and their result.

use super::*;

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
pub(crate) fn hops(
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
pub(crate) fn hops_file(
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
pub(crate) struct SiteTuning {
    saddle_fraction: Option<f64>,
    join_a: Option<f64>,
    merge_a: Option<f64>,
    min_enrichment: Option<f64>,
    single_radius: bool,
    symmetrise: bool,
}

/// The hop options the binding's functions take.
#[allow(clippy::too_many_arguments)]
pub(crate) fn site_options(
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
