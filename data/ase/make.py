"""Writes walk.traj and walk.extxyz: the same 30 frames (12 Li random-walking among 12
O, momenta set, a triclinic cell that breathes by 0.1 %) through ASE's own writers,
so superion's readers are tested on files ASE wrote. Seeded; rerun with the ASE
version named in data/README.md to reproduce them byte for byte."""
import numpy as np
from ase import Atoms
from ase.io import write
from ase.io.trajectory import Trajectory

rng = np.random.default_rng(7)
base = np.array([[9.0, 0.0, 0.0], [2.0, 8.5, 0.0], [-1.5, 1.0, 10.0]])
frac = rng.random((24, 3))
frames = []
for f in range(30):
    if f:
        step = rng.normal(0.0, 0.02, (24, 3))
        step[12:] *= 0.1  # O vibrates, Li wanders
        frac += step
    cell = base * (1.0 + 0.001 * np.sin(f / 3.0))
    atoms = Atoms("Li12O12", scaled_positions=frac, cell=cell, pbc=True)
    atoms.wrap()
    atoms.set_momenta(rng.normal(0.0, 0.5, (24, 3)))
    frames.append(atoms)
with Trajectory("walk.traj", "w") as t:
    for a in frames:
        t.write(a)
write("walk.extxyz", frames, format="extxyz")
