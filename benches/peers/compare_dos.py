"""Compare two phonopy-format DOS folders (total_dos.dat, projected_dos.dat): the
integral, the total and per-element band centres (trapezoid rule, positive
frequencies only, THz) and the largest difference between the curves.

usage: compare_dos.py A_DIR B_DIR [SPECIES...]   (SPECIES: element of each projected
column, e.g. Li F, to report element centres; Li alone: Li vs the rest)
"""
import sys
import numpy as np


def load(d):
    t = np.loadtxt(f"{d}/total_dos.dat")
    p = np.loadtxt(f"{d}/projected_dos.dat")
    return t[:, 0], t[:, 1], p[:, 1:]


def centre(f, g):
    m = f > 0
    return np.trapezoid(f[m] * g[m], f[m]) / np.trapezoid(g[m], f[m])


def summary(d, species):
    f, g, p = load(d)
    out = {"integral": np.trapezoid(g, f), "total": centre(f, g)}
    for el in sorted(set(species)):
        cols = [i for i, s in enumerate(species) if s == el]
        out[el] = centre(f, p[:, cols].sum(axis=1))
    return out, (f, g)


a, b = sys.argv[1], sys.argv[2]
species = sys.argv[3:]
sa, (fa, ga) = summary(a, species)
sb, (fb, gb) = summary(b, species)
for k in sa:
    print(f"{k:>9}: {sa[k]:10.4f} {sb[k]:10.4f}  rel diff {100 * (sa[k] - sb[k]) / sb[k]:+.3f} %")
# curves on a common grid
grid = np.linspace(max(fa[0], fb[0]), min(fa[-1], fb[-1]), 400)
ia, ib = np.interp(grid, fa, ga), np.interp(grid, fb, gb)
print(f"max |g_a - g_b| / max g_b = {np.abs(ia - ib).max() / gb.max():.4f}")
