"""phonopy, the peer: the total and projected DOS of PhononDB entries, computed the way
superion's `phonon dos` does (same mesh, same method), one entry after another.

usage: phonopy_dos.py OUT_DIR ENTRY... [--mesh A B C] [--no-nac] [--gaussian] [--total-only]

--total-only: the total DOS alone, with phonopy's mesh symmetry (its fastest way; the
projected DOS needs every q-point and the eigenvectors).

Each entry (a .tar.lzma archive or an unpacked folder) gets OUT_DIR/<name>/ with
total_dos.dat and projected_dos.dat; OUT_DIR/timings.csv lists the seconds per entry.
"""
import argparse
import io
import os
import sys
import tarfile
import tempfile
import time
import lzma

import phonopy


def unpack(entry, into):
    if os.path.isdir(entry):
        return entry
    with open(entry, "rb") as f:
        data = lzma.decompress(f.read())
    with tarfile.open(fileobj=io.BytesIO(data)) as t:
        t.extractall(into, filter="data")
    (sub,) = [d for d in os.listdir(into) if os.path.isdir(os.path.join(into, d))]
    return os.path.join(into, sub)


def conf(folder):
    dim, pa = None, None
    for line in open(os.path.join(folder, "phonopy.conf")):
        k, _, v = line.partition("=")
        if k.strip().upper() == "DIM":
            dim = [int(x) for x in v.split()]
        elif k.strip().upper() == "PRIMITIVE_AXIS":
            pa = [eval(x.replace("/", "/1.0/")) if "/" in x else float(x) for x in v.split()]
    if len(dim) == 3:
        dim = [[dim[0], 0, 0], [0, dim[1], 0], [0, 0, dim[2]]]
    else:
        dim = [dim[0:3], dim[3:6], dim[6:9]]
    if pa is not None:
        pa = [pa[0:3], pa[3:6], pa[6:9]]
    return dim, pa


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("entries", nargs="+")
    ap.add_argument("--mesh", nargs=3, type=int, default=[20, 20, 20])
    ap.add_argument("--no-nac", action="store_true")
    ap.add_argument("--gaussian", action="store_true")
    ap.add_argument("--total-only", action="store_true")
    ap.add_argument("--nac-method", default=None, help="gonze (phonopy's default) or wang")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    rows = []
    for entry in a.entries:
        name = os.path.basename(entry).split(".tar")[0]
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            folder = unpack(entry, tmp)
            dim, pa = conf(folder)
            born = os.path.join(folder, "BORN")
            ph = phonopy.load(
                supercell_matrix=dim,
                primitive_matrix=pa if pa is not None else "auto",
                unitcell_filename=os.path.join(folder, "POSCAR-unitcell"),
                force_sets_filename=os.path.join(folder, "FORCE_SETS"),
                born_filename=born if (os.path.exists(born) and not a.no_nac) else None,
                is_nac=not a.no_nac,
            )
            if ph.nac_params is not None and a.nac_method:
                p = dict(ph.nac_params)
                p["method"] = a.nac_method
                ph.nac_params = p
            if a.total_only:
                ph.run_mesh(a.mesh)
            else:
                ph.run_mesh(a.mesh, with_eigenvectors=True, is_mesh_symmetry=False)
            ph.run_total_dos(use_tetrahedron_method=not a.gaussian)
            d = os.path.join(a.out, name)
            os.makedirs(d, exist_ok=True)
            ph.write_total_dos(filename=os.path.join(d, "total_dos.dat"))
            if not a.total_only:
                ph.run_projected_dos(use_tetrahedron_method=not a.gaussian)
                ph.write_projected_dos(filename=os.path.join(d, "projected_dos.dat"))
        dt = time.perf_counter() - t0
        rows.append((name, len(ph.primitive), dt))
        print(f"{name}: {len(ph.primitive)} primitive atoms, {dt:.2f} s", file=sys.stderr, flush=True)
    with open(os.path.join(a.out, "timings.csv"), "w") as f:
        f.write("entry,primitive_atoms,seconds\n")
        for r in rows:
            f.write(f"{r[0]},{r[1]},{r[2]:.3f}\n")


if __name__ == "__main__":
    main()
