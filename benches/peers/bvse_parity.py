#!/usr/bin/env python3
"""Compare superion's BVSE barriers (bvse.csv of `superion structure features
PEER_OUT --framework majority --grid bvlain`) with bvlain's (PEER_OUT/bvlain.csv from bvlain_bvse.py).

bvlain bisects the energy to 10 eV / 2^10 and reports the upper end, so its barrier
lies in (E*, E* + 0.0098] of the exact E* superion's sweep finds; superion's
`bvlain_e*` columns count dimensions as bvlain does (winding vectors modulo 2).
Usage: bvse_parity.py PEER_OUT/bvlain.csv SUPERION_OUT/bvse.csv [--markdown]
"""
import csv
import math
import sys


def num(x):
    try:
        v = float(x)
        return v if math.isfinite(v) else math.inf
    except (TypeError, ValueError):
        return None


peer = {r["id"]: r for r in csv.DictReader(open(sys.argv[1]))}
ours = {r["id"]: r for r in csv.DictReader(open(sys.argv[2]))}
md = "--markdown" in sys.argv
rows, worst, n_cmp, skipped = [], 0.0, 0, []
for ident, p in sorted(peer.items()):
    if p.get("skipped"):
        skipped.append((ident, p["skipped"], ours.get(ident, {}).get("note", "")))
        continue
    o = ours.get(ident)
    if o is None:
        skipped.append((ident, "not in superion's table", ""))
        continue
    diffs = []
    for k in (1, 2, 3):
        a, b = num(p[f"E_{k}D"]), num(o[f"bvlain_e{k}d_ev"]) if o[f"bvlain_e{k}d_ev"] else math.inf
        if a == math.inf and b == math.inf:
            diffs.append(0.0)
        elif a is None or b is None or math.inf in (a, b):
            diffs.append(math.inf)
        else:
            diffs.append(a - b)
    n_cmp += 1
    worst = max(worst, max(abs(d) for d in diffs))
    rows.append((ident, p, o, diffs))
if md:
    print("| id | grid | bvlain E_1D / E_2D / E_3D (eV) | superion | bvlain - superion | bvlain s | superion E_3D (true dimension) |")
    print("|---|---|---|---|---|---|---|")
for ident, p, o, d in rows:
    f = lambda v: "inf" if v in ("", "inf") or num(v) == math.inf else f"{float(v):.4f}"
    line = (ident, o["grid"], " / ".join(f(p[f"E_{k}D"]) for k in (1, 2, 3)),
            " / ".join(f(o[f"bvlain_e{k}d_ev"]) for k in (1, 2, 3)),
            " / ".join(f"{x:+.4f}" for x in d),
            f"{float(p['landscape_s']) + float(p['percolation_s']):.1f}", f(o["e3d_ev"]))
    print(("| " + " | ".join(line) + " |") if md else "  ".join(line))
print(f"\n{n_cmp} structures compared; largest |bvlain - superion| = {worst:.4f} eV")
for s in skipped:
    print("skipped:", *s)
sys.exit(0 if worst <= 0.02 else 1)
