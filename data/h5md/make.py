"""test.h5md and MDAnalysis's reading of it, the reference superion's H5MD reader is
tested against. test.h5md is copied unchanged from the MDAnalysisTests 2.11.0 package
on PyPI (MDAnalysisTests/data/coordinates/test.h5md, written by MDAnalysis's
create_h5md_data.py: the 5 frames of ../xtc/test.xtc with velocities and forces, a
triclinic box per frame, lengths in Angstrom, times in ps). Run in this folder with
MDAnalysis 2.11.0 installed:  python make.py
"""
import csv

import MDAnalysis as mda

u = mda.Universe("../xtc/test_topology.pdb", "test.h5md")
with open("test.mda.csv", "w", newline="") as f:
    out = csv.writer(f)
    out.writerow(["frame", "step", "time_ps", "atom", "x", "y", "z", "vx", "vy", "vz",
                  "a", "b", "c", "alpha", "beta", "gamma"])
    for ts in u.trajectory:
        for i, (p, v) in enumerate(zip(ts.positions, ts.velocities)):
            out.writerow([ts.frame, ts.data.get("step", ""), f"{ts.time:.6g}", i]
                         + [f"{x:.6f}" for x in p] + [f"{x:.6f}" for x in v]
                         + [f"{x:.5f}" for x in ts.dimensions])
