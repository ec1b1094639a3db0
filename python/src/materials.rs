//! Phonon and structure descriptor tables.

use super::*;

/// Phonon-DOS descriptors of every material found under `paths` (phonopy folders,
/// Materials Project JSON, PhononDB entries, phonopy_params.yaml): (columns as a dict
/// of lists, failures as a list of (path, message)).
#[pyfunction]
#[pyo3(signature = (paths, elements=vec!["Li".to_string()], legacy=false))]
pub(crate) fn phonon_features<'py>(
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
pub(crate) fn structure_features<'py>(
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
