"""superion's Python API beside kinisi and scikit-learn, in one process with the data
already in memory: the call overhead against the work.

Usage (a venv with kinisi 2.1.0 (it brings ASE), scikit-learn and superion:
`pip install kinisi==2.1.0 scikit-learn ./python`):

    python benches/peers/python_api.py data/Li6PS5Cl.XDATCAR.gz

Prints medians of 5 runs (after a warm-up) for: the MSD and D of Li from structures in
memory (kinisi `DiffusionAnalyzer.from_ase` + `diffusion`, superion
`Trajectory.from_ase` + `msd`), k-means and the silhouette on a 10^4 × 16 array
(scikit-learn vs superion's estimators), and superion's per-call overhead (a call on a
tiny input).
"""
import gzip
import statistics
import sys
import tempfile
import time
import warnings

import numpy as np

warnings.filterwarnings("ignore")
import superion  # noqa: E402


def median(f, reps=5):
    f()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


path = sys.argv[1]
tmp = tempfile.NamedTemporaryFile(suffix="XDATCAR", delete=False)
tmp.write(gzip.open(path).read())
tmp.close()
import ase.io  # noqa: E402

frames = ase.io.read(tmp.name, index=":", format="vasp-xdatcar")
rows = []

# MSD + D from structures in memory.
import scipp as sc  # noqa: E402
from kinisi.analyze import DiffusionAnalyzer  # noqa: E402


def kinisi_run():
    d = DiffusionAnalyzer.from_ase(frames, specie="Li", time_step=2 * sc.Unit("fs"),
                                        step_skip=50 * sc.Unit("dimensionless"), progress=False)
    d.diffusion(2000 * sc.Unit("fs"), progress=False, random_state=np.random.RandomState(0))
    return d


def superion_run():
    t = superion.Trajectory.from_ase(frames, timestep_fs=2, stride=50)
    return superion.msd(t, "Li", backend="cpu")


traj = superion.Trajectory.from_ase(frames, timestep_fs=2, stride=50)
rows.append(("MSD + D of Li, from 140 ASE Atoms in memory", "kinisi 2.1.0", median(kinisi_run, 3),
             median(superion_run)))
rows.append(("MSD + D of Li, Trajectory already built", "–", float("nan"),
             median(lambda: superion.msd(traj, "Li", backend="cpu"))))
rows.append(("site-based jumps of Li (discovered sites)", "–", float("nan"),
             median(lambda: superion.hops(traj, species=["Li"], backend="cpu"))))

# Clustering on an array in memory.
from sklearn.cluster import KMeans  # noqa: E402
from sklearn.metrics import silhouette_score  # noqa: E402

rng = np.random.default_rng(7)
X = rng.random((10_000, 16))
labels = np.arange(len(X)) % 8
rows.append(("k-means, 10^4 × 16, k = 8, n_init = 10", "scikit-learn",
             median(lambda: KMeans(8, n_init=10, random_state=0).fit(X)),
             median(lambda: superion.KMeans(8, n_init=10, random_state=0, backend="cpu").fit(X))))
rows.append(("silhouette, 10^4 × 16, k = 8", "scikit-learn",
             median(lambda: silhouette_score(X, labels)),
             median(lambda: superion.silhouette_score(X, labels, backend="cpu"))))

# The fixed cost of one call: a tiny input.
tiny = rng.random((20, 2))
rows.append(("per-call overhead: k-means on 20 × 2, n_init = 1", "–", float("nan"),
             median(lambda: superion.KMeans(2, n_init=1, backend="cpu").fit(tiny), 50)))

print(f"{'case':<52} {'peer':<14} {'peer s':>9} {'superion s':>11} {'ratio':>7}")
for case, peer, tp, ts in rows:
    ratio = f"{tp / ts:7.1f}" if tp == tp else "      –"
    print(f"{case:<52} {peer:<14} {tp:9.4f} {ts:11.5f} {ratio}")
