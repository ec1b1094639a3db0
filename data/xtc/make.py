"""The XTC test files and MDAnalysis's reading of them, the reference superion's XTC
reader is tested against. Run in this folder with MDAnalysis (2.11.0) installed:
python make.py

- test.xtc, test_topology.pdb: MDAnalysisTests 2.11.0 data/coordinates (written by
  MDAnalysis's create_data.py: 5 atoms, 5 frames, a triclinic box that changes every
  frame; 9 atoms or fewer, so stored uncompressed);
- walk.xtc: ../lammps/walk.dcd (LAMMPS's DCD of 36 Li and 24 S, triclinic) rewritten
  here as an XTC by MDAnalysis's XTCWriter (GROMACS's xdrfile compression, precision
  0.001 nm), with the frames' steps and times (1 fs steps, every 20th written);
- test.mda.csv, walk.mda.csv: the positions (Å) and box (lengths Å, angles degrees)
  of every frame of test.xtc and of frames 0, 30 and 60 of walk.xtc, with each
  frame's step and time (ps), as MDAnalysis 2.11.0 reads them.
"""
import csv
import glob
import os

import MDAnalysis as mda

u = mda.Universe("../lammps/walk.data", "../lammps/walk.dcd", format="LAMMPS",
                 topology_format="DATA", atom_style="id type x y z", dt=0.02)
with mda.Writer("walk.xtc", u.atoms.n_atoms) as w:
    for ts in u.trajectory:
        ts.data["step"] = 20 * ts.frame
        ts.time = 20 * ts.frame * 1e-3  # ps
        w.write(u.atoms)

for name, frames in (("test.xtc", range(5)), ("walk.xtc", (0, 30, 60))):
    r = mda.coordinates.XTC.XTCReader(name)
    with open(name.replace(".xtc", ".mda.csv"), "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["frame", "step", "time_ps", "atom", "x", "y", "z",
                      "a", "b", "c", "alpha", "beta", "gamma"])
        for ts in r:
            if ts.frame not in frames:
                continue
            for i, p in enumerate(ts.positions):
                out.writerow([ts.frame, ts.data.get("step", ""), f"{ts.time:.6g}", i]
                             + [f"{v:.6f}" for v in p]
                             + [f"{v:.5f}" for v in ts.dimensions])

# MDAnalysis's offset caches.
for f in glob.glob(".*.xtc_offsets.*"):
    os.remove(f)
