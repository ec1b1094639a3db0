"""ASE's reading of the two vasprun.xml files here, the reference superion's vasprun.xml
reader is tested against. Run in this folder with ASE 3.29.0 installed:  python make.py

vasprun.xml is copied unchanged from the parsevasp 3.4.0 package on PyPI
(tests/basicrelax.xml, MIT licence): VASP 5.4.1, 8 Si atoms, a variable-cell relaxation
(IBRION = 1, ISIF = 3) of 19 ionic steps, each with its own cell.
truncated.vasprun.xml.gz is the aiida-vasp 5.1.0 package's
tests/test_data/relax-truncated/vasprun.xml (MIT licence), gzipped: the first 103 104
bytes of the same file, cut inside the 19th ionic step before its structure, as a
killed run leaves it.

Writes vasprun.ase.csv (every step's cell and Cartesian positions as ASE reads them) and
vasprun.ase.extxyz (ASE's extended XYZ of the same steps, for the MSD comparison).
"""
import csv
import gzip
import shutil

import ase.io

images = ase.io.read("vasprun.xml", index=":", format="vasp-xml")
with open("vasprun.ase.csv", "w", newline="") as f:
    out = csv.writer(f)
    out.writerow(["frame", "atom", "symbol", "x", "y", "z",
                  "ax", "ay", "az", "bx", "by", "bz", "cx", "cy", "cz"])
    for k, atoms in enumerate(images):
        cell = [f"{x:.8f}" for x in atoms.cell.array.ravel()]
        for i, (s, p) in enumerate(zip(atoms.get_chemical_symbols(), atoms.positions)):
            out.writerow([k, i, s] + [f"{x:.8f}" for x in p] + cell)
# Only positions and cells: the energies and forces would make ASE write a
# calculator block that is not needed here.
plain = [ase.Atoms(a.get_chemical_symbols(), positions=a.positions, cell=a.cell, pbc=True)
         for a in images]
ase.io.write("vasprun.ase.extxyz", plain, format="extxyz")

with gzip.open("truncated.vasprun.xml.gz") as src, open("/tmp/truncated.vasprun.xml", "wb") as dst:
    shutil.copyfileobj(src, dst)
cut = ase.io.read("/tmp/truncated.vasprun.xml", index=":", format="vasp-xml")
print(f"{len(images)} steps in vasprun.xml; ASE reads {len(cut)} from the cut file")
