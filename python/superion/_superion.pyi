"""Type stubs of superion's compiled core (PyO3)."""
from os import PathLike
from typing import Any, Callable, Optional, Sequence, Union

import numpy as np
import numpy.typing as npt

__version__: str

class InputError(ValueError): ...
class FileError(OSError): ...
class DeviceError(RuntimeError): ...

_Path = str | PathLike[str]

class Trajectory:
    @property
    def positions(self) -> npt.NDArray[np.float64]: ...  # T × N × 3, Å
    @property
    def frac(self) -> npt.NDArray[np.float32]: ...  # T × N × 3
    @property
    def cells(self) -> npt.NDArray[np.float64]: ...  # T × 3 × 3, rows a, b, c
    @property
    def species(self) -> list[str]: ...
    @property
    def dt_ps(self) -> Optional[float]: ...
    @property
    def n_frames(self) -> int: ...
    @property
    def n_atoms(self) -> int: ...
    @property
    def notes(self) -> list[str]: ...
    @property
    def source(self) -> str: ...
    @staticmethod
    def from_arrays(positions: npt.NDArray[np.float64], cells: npt.NDArray[np.float64],
                    species: Sequence[str], dt_ps: Optional[float] = None,
                    source: str = "arrays") -> Trajectory: ...
    @staticmethod
    def from_ase(frames: Sequence[Any], timestep_fs: Optional[float] = None, stride: int = 1,
                 source: str = "ase") -> Trajectory: ...
    @staticmethod
    def from_pymatgen(structures: Sequence[Any], timestep_fs: Optional[float] = None,
                      stride: int = 1, source: str = "pymatgen") -> Trajectory: ...

class MsdResult:
    species: str
    dt_ps: npt.NDArray[np.float64]
    msd_a2: npt.NDArray[np.float64]
    msd_axes_a2: npt.NDArray[np.float64]
    collective_a2: npt.NDArray[np.float64]
    d_cm2_s: float  # NaN when not diffusive
    d_err_cm2_s: float
    diffusive: bool
    diffusive_note: str
    loglog_exponent: float
    fit_start_ps: float
    fit_end_ps: float
    n_atoms: int
    summary: dict[str, Any]  # exactly `superion traj msd --json`
    haven_ratio: float
    d_sigma_cm2_s: float
    conductivity: Optional[dict[str, float]]
    notes: list[str]
    def fit_dict(self) -> dict[str, Any]: ...
    def to_dict(self) -> dict[str, Any]: ...
    def svg(self) -> str: ...
    def plot(self) -> Any: ...

class HopsResult:
    events: dict[str, Any]
    sites: dict[str, Any]
    summary: dict[str, Any]
    mode: str
    n_events: int
    def write(self, folder: _Path) -> list[str]: ...
    def to_pandas(self) -> Any: ...
    def svg(self) -> str: ...
    def plot(self) -> Any: ...

def read_trajectory(path: _Path, timestep_fs: Optional[float] = None, stride: Optional[int] = None,
                    format: Optional[str] = None,
                    type_map: Union[dict[Union[int, str], str], str, None] = None, start: int = 0,
                    stop: Optional[int] = None, every: int = 1,
                    topology: Optional[_Path] = None) -> Trajectory: ...
def msd(traj: Trajectory, species: Union[str, Sequence[str], None] = None, start_ps: Optional[float] = None, axes: str = "xyz",
        drift: bool = True, temperature: Optional[float] = None, charge: Optional[float] = None,
        lags: str = "all", backend: str = "auto") -> MsdResult: ...
def msd_file(path: _Path, species: Union[str, Sequence[str], None] = None, timestep_fs: Optional[float] = None,
             stride: Optional[int] = None, format: Optional[str] = None,
             type_map: Union[dict[Union[int, str], str], str, None] = None, topology: Optional[_Path] = None,
             start: int = 0, stop: Optional[int] = None, every: int = 1,
             start_ps: Optional[float] = None, axes: str = "xyz", drift: bool = True,
             temperature: Optional[float] = None, charge: Optional[float] = None,
             lags: str = "all", memory: Optional[int] = None, scratch: Optional[_Path] = None,
             backend: str = "auto") -> MsdResult: ...
def hops(traj: Trajectory, species: Union[str, Sequence[str], None] = None, mode: str = "sites",
         sites: Optional[_Path] = None, supercell: tuple[int, int, int] = (1, 1, 1),
         site_radius: Optional[float] = None, min_residence: Optional[int] = None, seed: int = 0,
         saddle_fraction: Optional[float] = None, join_a: Optional[float] = None,
         merge_a: Optional[float] = None, min_enrichment: Optional[float] = None,
         single_radius: bool = False, symmetrise: bool = False,
         collective_dt_ps: float = 0.5, collective_dr_a: float = 5.0,
         backend: str = "auto") -> HopsResult: ...
def phonon_features(paths: Sequence[_Path], elements: Sequence[str] = ...,
                    legacy: bool = False) -> tuple[dict[str, list[Any]], list[tuple[str, str]]]: ...
def structure_features(paths: Sequence[_Path], bvse: bool = True, spacing: float = 0.2,
                       cutoff: float = 10.0, framework: str = "weighted", grid: str = "fine",
                       backend: str = "auto") -> tuple[dict[str, list[Any]], list[tuple[str, str]]]: ...
def kmeans(x: npt.NDArray[np.float64], n_clusters: int, n_init: int = 10, max_iter: int = 300,
           tol: float = 1e-4, init: str = "k-means++", seed: int = 0,
           backend: str = "auto") -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], float, int]: ...
def agglomerative(x: npt.NDArray[np.float64], n_clusters: int, linkage: str = "ward",
                  backend: str = "auto") -> npt.NDArray[np.int64]: ...
def silhouette_samples(x: npt.NDArray[np.float64], labels: npt.NDArray[np.int64],
                       backend: str = "auto") -> npt.NDArray[np.float64]: ...
def batch_plan(manifest: _Path, shards: int, out: _Path) -> dict[str, Any]: ...
def batch_run(run_dir: _Path, shard: int, backend: str = "auto", cli: Optional[_Path] = None,
              run: Optional[Callable[[list[str]], Any]] = None) -> dict[str, Any]: ...
def batch_merge(run_dir: _Path, partial: bool = False) -> dict[str, Any]: ...
def batch_status(run_dir: _Path) -> dict[str, Any]: ...
def batch_slurm(run_dir: _Path, cli: Optional[_Path] = None, partition: Optional[str] = None,
                time: Optional[str] = None, cpus_per_task: int = 1, gpus: int = 0,
                then: Optional[str] = None, submit: bool = False) -> dict[str, Any]: ...
