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
step_fs = float(sys.argv[2]) if len(sys.argv) > 2 else 2.0
stride = int(sys.argv[3]) if len(sys.argv) > 3 else 50
start_ps = float(sys.argv[4]) if len(sys.argv) > 4 else 2.0
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

xd = Xdatcar(path)
d = DiffusionAnalyzer.from_xdatcar(xd, specie="Li", time_step=step_fs * sc.Unit("fs"), step_skip=stride * sc.Unit("dimensionless"), progress=False)
d.diffusion(start_ps * 1000 * sc.Unit("fs"), progress=False, random_state=__import__("numpy").random.RandomState(0))
dist = d.D.values if hasattr(d.D, "values") else d.D
import numpy as np
D = np.asarray(sc.to_unit(d.D, "cm^2/s").values)
out["kinisi"] = {"seconds": time.perf_counter() - t0, "d_cm2_s": float(np.mean(D)), "d_err_cm2_s": float(np.std(D))}
print(f"kinisi 2.1.0: {out['kinisi']['seconds']:.2f} s, D = {out['kinisi']['d_cm2_s']:.4e} ± {out['kinisi']['d_err_cm2_s']:.2e} cm²/s", flush=True)

# pymatgen-analysis-diffusion: parse, MSD, least-squares fit.
t0 = time.perf_counter()
from pymatgen.analysis.diffusion.analyzer import DiffusionAnalyzer as PmgDA

xd = Xdatcar(path)
pa = PmgDA.from_structures(xd.structures, "Li", temperature=300, time_step=step_fs, step_skip=stride, smoothed="max")
out["pymatgen"] = {"seconds": time.perf_counter() - t0, "d_cm2_s": pa.diffusivity, "d_err_cm2_s": pa.diffusivity_std_dev}
print(f"pymatgen-analysis-diffusion: {out['pymatgen']['seconds']:.2f} s, D = {pa.diffusivity:.4e} ± {pa.diffusivity_std_dev:.2e} cm²/s", flush=True)
print(json.dumps(out))
