//! Clustering (k-means, agglomerative) and silhouettes on numpy arrays.

use super::*;

pub(crate) fn points(x: &PyReadonlyArray2<'_, f64>) -> PyResult<Array3<f32>> {
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
pub(crate) fn kmeans<'py>(
    py: Python<'py>,
    x: PyReadonlyArray2<'py, f64>,
    n_clusters: u64,
    n_init: u64,
    max_iter: u64,
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
    // Wider than the engine's u32 so that 10**12 is the library's InputError (with its
    // limit), not an OverflowError from the conversion.
    let wide = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
    let (n_clusters, n_init, max_iter) = (wide(n_clusters), wide(n_init), wide(max_iter));
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
pub(crate) fn agglomerative<'py>(
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

pub(crate) fn labels_of(labels: &PyReadonlyArray1<'_, i64>, n: usize) -> PyResult<(Vec<u32>, u32)> {
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
pub(crate) fn silhouette_samples<'py>(
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
