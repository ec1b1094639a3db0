"""Run IonDiff 1.6's `identify_diffusion` (installed from PyPI) on one XDATCAR with
its defaults, write its DIFFUSION file, and time it.

IonDiff reads a folder holding `XDATCAR` and `INCAR` (POTIM, NBLOCK); this script
makes one from the given (optionally gzipped) XDATCAR. The parameters are those of
IonDiff's own command line (cli.py): K-means, distance_thd 0.4, silhouette_thd 0.7,
n_attemps 10, no plots.

Usage: benches/peers/iondiff.sh XDATCAR[.gz] POTIM NBLOCK OUT_DIR
"""

import argparse
import gzip
import os
import shutil
import sys
import time

import numpy as np


def main():
    p = argparse.ArgumentParser()
    p.add_argument("xdatcar")
    p.add_argument("potim", type=float)
    p.add_argument("nblock", type=int)
    p.add_argument("out")
    a = p.parse_args()
    os.makedirs(a.out, exist_ok=True)
    dst = os.path.join(a.out, "XDATCAR")
    opener = gzip.open if a.xdatcar.endswith(".gz") else open
    with opener(a.xdatcar, "rb") as src, open(dst, "wb") as out:
        shutil.copyfileobj(src, out)
    with open(os.path.join(a.out, "INCAR"), "w") as f:
        f.write(f"POTIM = {a.potim}\nNBLOCK = {a.nblock}\n")

    import matplotlib
    matplotlib.use("Agg")
    from IonDiff import identify_diffusion as ID

    args = argparse.Namespace(MD_path=a.out, classifier="K-means", distance_thd=0.4,
                              silhouette_thd=0.7, make_plot=False, n_attempts=10)
    t = time.perf_counter()
    inp = ID.xdatcar(args)
    paths = inp.get_diffusion(args)
    dt = time.perf_counter() - t
    np.savetxt(os.path.join(a.out, "DIFFUSION"), paths,
               header="Particle index         Starting configuration   Ending configuration")
    print(f"IonDiff 1.6: {len(paths)} events on {len({int(e[0]) for e in paths})} atoms "
          f"in {dt:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
