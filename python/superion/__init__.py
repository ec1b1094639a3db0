"""superion: MD trajectory analysis (MSD and diffusion, site-based jumps) and phonon-DOS
screening with clustering, on a Rust engine with GPU kernels.

numpy arrays in and out; the GIL is released during compute and Ctrl-C interrupts a
long call. Errors are ``superion.InputError`` (a ``ValueError``), ``superion.FileError``
(an ``OSError``) and ``superion.DeviceError`` (a ``RuntimeError``), with the messages
the command-line tool prints (file, line, what was expected).

    >>> import superion
    >>> traj = superion.read_trajectory("Li6PS5Cl.XDATCAR.gz", timestep_fs=2, stride=50)
    >>> superion.msd(traj, "Li").d_cm2_s
    1.3568...e-05
"""
from __future__ import annotations

import numpy as np

from . import _superion
from ._superion import (  # noqa: F401
    DeviceError,
    FileError,
    HopsResult,
    InputError,
    MsdResult,
    Trajectory,
    __version__,
    batch_merge,
    batch_plan,
    batch_run,
    batch_slurm,
    batch_status,
    hops,
    hops_file,
    msd,
    msd_file,
    read_trajectory,
)

__all__ = [
    "Trajectory",
    "read_trajectory",
    "msd",
    "msd_file",
    "hops",
    "hops_file",
    "phonon_features",
    "structure_features",
    "KMeans",
    "AgglomerativeClustering",
    "silhouette_score",
    "silhouette_samples",
    "batch_plan",
    "batch_run",
    "batch_merge",
    "batch_status",
    "batch_slurm",
    "InputError",
    "FileError",
    "DeviceError",
]


def _as_2d(X) -> np.ndarray:
    X = np.ascontiguousarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise InputError(f"X: expected a 2-D array (n_samples × n_features), got {X.ndim}-D")
    return X


def _as_labels(labels, n: int) -> np.ndarray:
    labels = np.ascontiguousarray(labels)
    if labels.ndim != 1:
        raise InputError("labels: expected a 1-D array")
    if labels.dtype.kind not in "iu":
        _, labels = np.unique(labels, return_inverse=True)
    return labels.astype(np.int64)


def silhouette_samples(X, labels, *, backend: str = "auto") -> np.ndarray:
    """Silhouette coefficient of every sample (exact, Euclidean), as scikit-learn's."""
    X = _as_2d(X)
    return _superion.silhouette_samples(X, _as_labels(labels, len(X)), backend)


def silhouette_score(X, labels, *, backend: str = "auto") -> float:
    """Mean silhouette coefficient over all samples, as scikit-learn's."""
    return float(np.mean(silhouette_samples(X, labels, backend=backend)))


class PhononFeatures:
    """Phonon-DOS descriptors of a set of materials: ``columns`` (dict of lists, in
    the column order of ``superion phonon features``) and ``failures`` (path, reason)."""

    def __init__(self, columns: dict, failures: list):
        self.columns = columns
        self.failures = failures

    def __len__(self) -> int:
        return len(next(iter(self.columns.values()), []))

    def to_pandas(self):
        import pandas as pd

        return pd.DataFrame(self.columns)

    def _repr_html_(self) -> str:
        return (f"<b>superion phonon features</b>: {len(self)} materials × {len(self.columns)} "
                f"columns; {len(self.failures)} failed")


def phonon_features(paths, elements=("Li",), legacy: bool = False) -> PhononFeatures:
    """Descriptors of the phonon DOS of every material found under ``paths`` (phonopy
    folders, Materials Project JSON, PhononDB entries, phonopy_params.yaml)."""
    if isinstance(paths, (str, bytes)) or hasattr(paths, "__fspath__"):
        paths = [paths]
    cols, failures = _superion.phonon_features([str(p) for p in paths], list(elements), legacy)
    return PhononFeatures(cols, failures)


class StructureFeatures(PhononFeatures):
    """Structure descriptors and Li+ BVSE barriers of a set of structures: ``columns``
    (dict of lists, exactly the columns and values of ``superion structure features``'
    features.csv, None where a cell is empty) and ``failures`` (path, reason)."""

    def _repr_html_(self) -> str:
        return (f"<b>superion structure features</b>: {len(self)} structures × "
                f"{len(self.columns)} columns; {len(self.failures)} unreadable")


def structure_features(paths, *, bvse: bool = True, spacing: float = 0.2, cutoff: float = 10.0,
                       framework: str = "weighted", grid: str = "fine",
                       backend: str = "auto") -> StructureFeatures:
    """Descriptors of every crystal structure found under ``paths`` (CIF, POSCAR,
    pymatgen Structure JSON, PhononDB entries): Li sublattice geometry, site disorder,
    anion class, the anion-framework pattern of Zhang et al. 2019, and the Li+
    bond-valence site-energy percolation barriers E_1D/E_2D/E_3D (eV). The same
    options, checks and numbers as ``superion structure features``."""
    if isinstance(paths, (str, bytes)) or hasattr(paths, "__fspath__"):
        paths = [paths]
    cols, failures = _superion.structure_features([str(p) for p in paths], bvse, spacing, cutoff,
                                                  framework, grid, backend)
    return StructureFeatures(cols, failures)


class KMeans:
    """k-means (Lloyd) on superion's engine, with scikit-learn's parameters and
    attributes. Deterministic for a given ``random_state`` (None means 0)."""

    def __init__(self, n_clusters: int = 8, *, init: str = "k-means++", n_init: int = 10,
                 max_iter: int = 300, tol: float = 1e-4, random_state=None, backend: str = "auto"):
        self.n_clusters = n_clusters
        self.init = init
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state
        self.backend = backend

    def get_params(self, deep: bool = True) -> dict:
        return {k: getattr(self, k) for k in
                ("n_clusters", "init", "n_init", "max_iter", "tol", "random_state", "backend")}

    def set_params(self, **params):
        for k, v in params.items():
            setattr(self, k, v)
        return self

    def fit(self, X, y=None):
        X = _as_2d(X)
        if not 1 <= self.n_clusters <= len(X):
            raise InputError(f"n_clusters={self.n_clusters}: needs 1 ≤ n_clusters ≤ n_samples = {len(X)}")
        seed = 0 if self.random_state is None else int(self.random_state)
        labels, centres, inertia, n_iter = _superion.kmeans(
            X, int(self.n_clusters), int(self.n_init), int(self.max_iter), float(self.tol),
            self.init, seed, self.backend)
        self.labels_ = labels
        self.cluster_centers_ = centres
        self.inertia_ = float(inertia)
        self.n_iter_ = int(n_iter)
        self.n_features_in_ = X.shape[1]
        return self

    def fit_predict(self, X, y=None) -> np.ndarray:
        return self.fit(X).labels_

    def predict(self, X) -> np.ndarray:
        X = _as_2d(X)
        d = ((X[:, None, :] - self.cluster_centers_[None, :, :]) ** 2).sum(-1)
        return d.argmin(1).astype(np.int64)


class AgglomerativeClustering:
    """Hierarchical clustering (ward, complete, average, single) cut at ``n_clusters``."""

    def __init__(self, n_clusters: int = 2, *, linkage: str = "ward", backend: str = "auto"):
        self.n_clusters = n_clusters
        self.linkage = linkage
        self.backend = backend

    def fit(self, X, y=None):
        X = _as_2d(X)
        self.labels_ = _superion.agglomerative(X, int(self.n_clusters), self.linkage, self.backend)
        self.n_clusters_ = len(np.unique(self.labels_))
        return self

    def fit_predict(self, X, y=None) -> np.ndarray:
        return self.fit(X).labels_
