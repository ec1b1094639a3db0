#!/usr/bin/env python3
"""Peer for `superion structure bvse`: bvlain 0.25.1's Li+ BVSE landscape and
percolation barriers on OBELiX CIFs, with the inputs both sides share written out.

Usage: bvlain_bvse.py OUT CIF... (pip install bvlain==0.25.1; pymatgen and ase come
with it). For each CIF:
  1. pymatgen reads it (species at one position form one disordered site);
  2. oxidation states by element by superion's rule (src/crystal/oxidation.rs, on the
     same table data/bvse/elements.csv): the charge balance of the *disordered*
     composition (occupancies as amounts) over each element's ICSD oxidation states
     (pymatgen's table with their occurrence), the most electronegative element
     negative, Li +1: among the combinations balanced within 5 % of the cation charge
     the most probable (sum of log occurrence fractions), else the smallest net charge;
  3. every site takes its majority species (highest occupancy, vacancies ignored),
     decorated with that element's oxidation state;
  4. bvlain with its defaults: Li1+, 0.2 A grid, r_cut 10 A, k = 100 neighbours,
     f = 0.74, ASE covalent radii, percolation_barriers(encut=10).
Writes OUT/ID.json (the ordered, decorated structure: pymatgen's Structure.as_dict(),
which superion reads, so both sides start from the same atoms and charges) and one
line per CIF to OUT/bvlain.csv (id, E_1D, E_2D, E_3D in eV, grid size, seconds for the
landscape and for the percolation, oxidation states or the reason for a skip).
"""
import csv
import json
import os
import sys
import time
import warnings

warnings.filterwarnings("ignore")

from pymatgen.core import Structure, Species  # noqa: E402
from bvlain import Lain  # noqa: E402


HERE = os.path.dirname(os.path.abspath(__file__))
ELEMENTS = {}
for r in csv.DictReader(open(os.path.join(HERE, "..", "..", "data", "bvse", "elements.csv"))):
    pairs = [(int(t.split(":")[0]), float(t.split(":")[1])) for t in r["oxidation_states"].split()]
    total = sum(c for _, c in pairs) or 1.0
    ELEMENTS[r["symbol"]] = [(q, c / total) for q, c in pairs]


def oxidation_states(composition):
    """superion's rule (src/crystal/oxidation.rs); returns (states, net charge)."""
    import itertools
    import math
    from pymatgen.core import Element
    amounts = {el.symbol: float(n) for el, n in composition.items()}
    els = sorted(amounts, key=lambda e: -(Element(e).X if Element(e).X == Element(e).X else 0.0))
    cands = []
    for i, e in enumerate(els):
        c = ELEMENTS.get(e, [])
        if e == "Li":
            c = [(1, 1.0)]
        elif i == 0 and any(q < 0 for q, _ in c):
            c = [t for t in c if t[0] < 0]
        if not c:
            raise ValueError(f"no known oxidation state for {e}")
        cands.append(c)
    n = 1
    for c in cands:
        n *= len(c)
    if n > 1_000_000:
        cands = [c[:3] for c in cands]
    best = None
    for combo in itertools.product(*cands):
        net = sum(amounts[e] * q for e, (q, _) in zip(els, combo))
        pos = sum(amounts[e] * q for e, (q, _) in zip(els, combo) if q > 0)
        balanced = abs(net) <= 0.05 * pos
        cost = -sum(math.log(max(p, 1e-12)) for _, p in combo)
        key = (not balanced, 0.0 if balanced else abs(net), cost)
        if best is None or key < best[0]:
            best = (key, {e: q for e, (q, _) in zip(els, combo)}, net)
    return best[1], best[2]


def ordered(st):
    """The majority species of every site, as a new ordered structure."""
    species, coords = [], []
    for site in st:
        el, _occ = max(site.species.items(), key=lambda kv: kv[1])
        species.append(el.symbol if hasattr(el, "symbol") else str(el))
        coords.append(site.frac_coords)
    return Structure(st.lattice, species, coords)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    rows = []
    for path in sys.argv[2:]:
        ident = os.path.splitext(os.path.basename(path))[0]
        row = {"id": ident}
        try:
            st = Structure.from_file(path)
            oxi, net = oxidation_states(st.composition)
            ordered_st = ordered(st)
            ordered_st.add_oxidation_state_by_element(oxi)
            with open(os.path.join(out, f"{ident}.json"), "w") as f:
                json.dump(ordered_st.as_dict(), f)
            calc = Lain(verbose=False)
            calc.read_structure(ordered_st, oxi_check=False)
            t0 = time.perf_counter()
            calc.bvse_distribution(mobile_ion="Li1+", resolution=0.2)
            t1 = time.perf_counter()
            e = calc.percolation_barriers(encut=10.0)
            t2 = time.perf_counter()
            row.update(
                E_1D=e["E_1D"], E_2D=e["E_2D"], E_3D=e["E_3D"],
                grid="x".join(str(n) for n in calc.size),
                landscape_s=round(t1 - t0, 3), percolation_s=round(t2 - t1, 3),
                oxidation=";".join(f"{k}{v:+d}" for k, v in sorted(oxi.items())),
                net_charge=round(net, 4),
            )
        except Exception as exc:  # noqa: BLE001 - the reason goes into the table
            row["skipped"] = f"{type(exc).__name__}: {exc}".replace("\n", " ")[:200]
        rows.append(row)
        print(json.dumps(row), flush=True)
        cols = ["id", "E_1D", "E_2D", "E_3D", "grid", "landscape_s", "percolation_s", "oxidation", "net_charge", "skipped"]
        with open(os.path.join(out, "bvlain.csv"), "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=cols)
            w.writeheader()
            for r in rows:
                w.writerow(r)


if __name__ == "__main__":
    main()
