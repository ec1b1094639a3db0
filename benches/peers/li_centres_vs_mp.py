"""The Li band centres of the materials in both the original study's Materials Project
table (data_small.csv, `fav`) and PhononDB: superion's value computed from the PhononDB
force sets (a `superion phonon features` table), the original study's PhononDB value
(data_big.csv, `fav`), and the Materials Project value. Prints a Markdown table and
summary figures.

usage: li_centres_vs_mp.py FEATURES.csv DATA_SMALL.csv DATA_BIG.csv
"""
import csv
import statistics
import sys

feat = {r["id"]: r for r in csv.DictReader(open(sys.argv[1]))}
small = {r["task_id"]: r for r in csv.DictReader(open(sys.argv[2]))}
big = {r["material_id"]: r for r in csv.DictReader(open(sys.argv[3]))}
rows = []
for mp, s in small.items():
    if mp in feat and mp in big and feat[mp].get("li_centre_thz"):
        rows.append((mp, s["pretty_formula"], float(s["fav"]), float(feat[mp]["li_centre_thz"]), float(big[mp]["fav"])))
rows.sort(key=lambda r: r[2])


def stats(i):
    d = [r[i] - r[2] for r in rows]
    ad = [abs(x) for x in d]
    within = sum(1 for r in rows if abs(r[i] - r[2]) <= 0.05 * r[2])
    xs, ys = [r[2] for r in rows], [r[i] for r in rows]
    return statistics.mean(ad), statistics.median(ad), within, statistics.correlation(xs, ys)


print(f"{len(rows)} materials in both tables\n")
for name, i in (("superion (PhononDB force sets)", 3), ("original study (PhononDB column)", 4)):
    m, med, w, r = stats(i)
    print(f"- {name}: mean |Δ| vs MP {m:.3f} THz, median {med:.3f} THz, within 5 % of MP: {w}/{len(rows)}, Pearson r = {r:.3f}")
print("\n| id | formula | MP `fav` | superion | study's PhononDB `fav` |")
print("|---|---|---|---|---|")
for mp, f, a, b, c in rows:
    print(f"| {mp} | {f} | {a:.3f} | {b:.3f} | {c:.3f} |")
