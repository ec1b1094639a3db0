"""GEMDAT's jump analysis on a trajectory, for comparison with `superion traj hops`.

    python gemdat_jumps.py XDATCAR[.gz] CIF A B C DT_PS [SPECIES]

Reads the trajectory with pymatgen's Xdatcar (as GEMDAT users without a vasprun.xml
do), loads the sites from the CIF replicated A×B×C (GEMDAT's `load_known_material`
does the same with its own CIFs), and runs GEMDAT's defaults: site radius from the
vibration amplitude, `transitions_between_sites`, `jumps()` (minimal residence 0).
Prints the timings (reading separately from the analysis), the jump count, jumps per
site-label pair and per site-to-site distance class, the jump diffusivity and the
vibration amplitude, then a JSON line.
"""
import collections
import json
import sys
import time

import numpy as np
from pymatgen.core import Structure
from pymatgen.io.vasp.outputs import Xdatcar

from gemdat import Trajectory
from gemdat.metrics import TrajectoryMetrics

path, cif = sys.argv[1], sys.argv[2]
sc = tuple(int(v) for v in sys.argv[3:6])
dt_ps = float(sys.argv[6])
species = sys.argv[7] if len(sys.argv) > 7 else "Li"

t0 = time.perf_counter()
structures = Xdatcar(path).structures
traj = Trajectory.from_structures(structures, constant_lattice=True, time_step=dt_ps * 1e-12)
t_read = time.perf_counter() - t0

t0 = time.perf_counter()
sites = Structure.from_file(cif)
sites.make_supercell(sc)
sites.remove_species([s for s in sites.composition.elements if s.symbol != species])
transitions = traj.transitions_between_sites(sites=sites, floating_specie=species)
jumps = transitions.jumps()
n = jumps.n_jumps
counter = collections.Counter()
lattice = traj.get_lattice()
dist_classes = collections.Counter()
for _, row in jumps.data.iterrows():
    a, b = int(row["start site"]), int(row["destination site"])
    d = lattice.get_all_distances(sites.frac_coords[a], sites.frac_coords[b])[0][0]
    dist_classes[round(d, 2)] += 1
d_jump = jumps.jump_diffusivity(dimensions=3)  # m^2/s
amp = TrajectoryMetrics(traj.filter(species)).vibration_amplitude()
t_analysis = time.perf_counter() - t0

print(f"read {t_read:.2f} s, analysis {t_analysis:.2f} s")
print(f"jumps {n}; by label pair {dict(jumps.counter())}")
print(f"by site-to-site distance (Å) {dict(sorted(dist_classes.items()))}")
print(f"jump diffusivity {float(d_jump) * 1e4:.4e} cm2/s (GEMDAT's t = n_frames x dt)")
print(f"vibration amplitude {float(amp):.4f} Å; site radius {transitions.site_radius.radius}")
print(json.dumps({
    "jumps": int(n),
    "by_distance": {str(k): v for k, v in sorted(dist_classes.items())},
    "d_jump_cm2_s_gemdat_time": float(d_jump) * 1e4,
    "vibration_amplitude_a": float(amp),
    "site_radius_a": {str(k): float(v) for k, v in transitions.site_radius.radius.items()},
    "jumping_ions": int(jumps.data["atom index"].nunique()),
    "seconds_read": t_read,
    "seconds_analysis": t_analysis,
}))
