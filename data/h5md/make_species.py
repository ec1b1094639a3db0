"""species-change.h5md: a minimal H5MD (3 frames, 2 atoms, a 5 Å cubic box) whose
time-dependent species (ZnH5MD's layout, as in cu.h5md) change at the last frame, to
test that superion refuses to follow such a run as one set of atoms. Written with
h5py 3.16.0:  python make_species.py
"""
import h5py
import numpy as np

with h5py.File("species-change.h5md", "w") as f:
    f.create_group("h5md").attrs["version"] = np.array([1, 1])
    a = f.create_group("particles/atoms")
    box = a.create_group("box")
    box.attrs["dimension"] = 3
    box.attrs["boundary"] = np.array([b"periodic"] * 3)
    box.create_dataset("edges", data=np.eye(3) * 5.0)
    pos = a.create_group("position")
    pos.create_dataset("step", data=np.arange(3))
    t = pos.create_dataset("time", data=np.arange(3, dtype=float))
    t.attrs["unit"] = "fs"
    v = pos.create_dataset("value", data=np.array([[[0, 0, 0], [2.5, 2.5, 2.5]]] * 3, dtype=float))
    v.attrs["unit"] = "Angstrom"
    sp = a.create_group("species")
    sp.create_dataset("step", data=np.arange(3))
    sp.create_dataset("time", data=np.arange(3))
    sp.create_dataset("value", data=np.array([[3, 17], [3, 17], [3, 3]], dtype=float))
