//! The Trajectory class, reading trajectories and handing arrays over.

use super::*;

/// A molecular-dynamics trajectory: fractional positions, cells, species, time step.
#[pyclass(frozen, module = "superion._superion")]
pub struct Trajectory {
    pub(crate) inner: Arc<superion::traj::Trajectory>,
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
pub(crate) fn frames_to_trajectory<'py>(
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

pub(crate) fn stack_frames(
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
pub(crate) fn type_map_arg(
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
pub(crate) fn read_options(
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
pub(crate) fn read_trajectory(
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
