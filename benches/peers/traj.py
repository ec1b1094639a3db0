"""kinisi 2.1.0 and pymatgen-analysis-diffusion on the same trajectory as
`superion traj msd`: parse + unwrap + MSD + fit, end to end, timed in-process.

Usage: benches/peers/traj.sh XDATCAR [timestep_fs stride start_ps]
"""
import gzip
import json
import sys
import tempfile
import time
import warnings

warnings.filterwarnings("ignore")
path = sys.argv[1]
args = [a for a in sys.argv[1:] if not a.startswith("--")]
step_fs = float(args[1]) if len(args) > 1 else 2.0
stride = int(args[2]) if len(args) > 2 else 50
start_ps = float(args[3]) if len(args) > 3 else 2.0
out = {}

if path.endswith(".gz"):  # pymatgen's Xdatcar wants a plain file name
    tmp = tempfile.NamedTemporaryFile(suffix="XDATCAR", delete=False)
    tmp.write(gzip.open(path).read())
    tmp.close()
    path = tmp.name

# kinisi: parse, MSD with its covariance, one Bayesian GLS fit.
t0 = time.perf_counter()
import scipp as sc
from pymatgen.io.vasp import Xdatcar
from kinisi.analyze import DiffusionAnalyzer

is_xyz = path.endswith(".xyz") or path.endswith(".extxyz")
kw = dict(specie="Li", time_step=step_fs * sc.Unit("fs"), step_skip=stride * sc.Unit("dimensionless"), progress=False)
if is_xyz:
    import ase.io
    d = DiffusionAnalyzer.from_ase(ase.io.read(path, index=":"), **kw)
else:
    d = DiffusionAnalyzer.from_xdatcar(Xdatcar(path), **kw)
d.diffusion(start_ps * 1000 * sc.Unit("fs"), progress=False, random_state=__import__("numpy").random.RandomState(0))
dist = d.D.values if hasattr(d.D, "values") else d.D
import numpy as np
D = np.asarray(sc.to_unit(d.D, "cm^2/s").values)
out["kinisi"] = {"seconds": time.perf_counter() - t0, "d_cm2_s": float(np.mean(D)), "d_err_cm2_s": float(np.std(D))}
print(f"kinisi 2.1.0: {out['kinisi']['seconds']:.2f} s, D = {out['kinisi']['d_cm2_s']:.4e} ± {out['kinisi']['d_err_cm2_s']:.2e} cm²/s", flush=True)

# pymatgen-analysis-diffusion: parse, MSD, least-squares fit (XDATCAR only here).
if is_xyz or "--no-pymatgen" in sys.argv:
    print(json.dumps(out))
    sys.exit(0)
t0 = time.perf_counter()
from pymatgen.analysis.diffusion.analyzer import DiffusionAnalyzer as PmgDA

xd = Xdatcar(path)
pa = PmgDA.from_structures(xd.structures, "Li", temperature=300, time_step=step_fs, step_skip=stride, smoothed="max")
out["pymatgen"] = {"seconds": time.perf_counter() - t0, "d_cm2_s": pa.diffusivity, "d_err_cm2_s": pa.diffusivity_std_dev}
print(f"pymatgen-analysis-diffusion: {out['pymatgen']['seconds']:.2f} s, D = {pa.diffusivity:.4e} ± {pa.diffusivity_std_dev:.2e} cm²/s", flush=True)
print(json.dumps(out))
