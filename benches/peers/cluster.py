"""Clustering peers: scikit-learn / scipy side by side with `superion cluster`.

parity  -- on the original study's tables (../shared/data/urop): for every k, the
           silhouette of superion's k-means labels recomputed by scikit-learn, and
           scikit-learn's KMeans started from superion's final centres with tol = 0
           on both sides (the same init and a strict fixed point, so scikit-learn
           must not move): inertia within 1e-4 relative, silhouette within 1e-3;
           and, for information, scikit-learn's own KMeans (its k-means++, 10
           restarts) against superion's (different random streams).
bench   -- n = 10^3, 10^4, 10^5 materials x 100 features (seeded blobs): k-means over
           k = 2..10 (k-means++, 10 restarts) with the exact silhouette of every k, and
           Ward with cuts and silhouettes at every k, timed for both.

Usage: benches/peers/cluster.sh parity|bench [--sizes 1000,10000]
"""

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from scipy.cluster.hierarchy import fcluster, ward
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score
from sklearn.preprocessing import StandardScaler

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.join(ROOT, "target", "release", "superion")


def superion(*args):
    env = dict(os.environ, SUPERION_BACKEND="cpu")
    t = time.perf_counter()
    out = subprocess.run([BIN, *args], capture_output=True, text=True, env=env)
    dt = time.perf_counter() - t
    if out.returncode != 0:
        sys.exit(f"superion {' '.join(args)} failed:\n{out.stderr}")
    return out.stdout, dt


def read_table(path, id_col, cols):
    with open(path) as f:
        rows = list(csv.DictReader(f))
    ids = [r[id_col] for r in rows]
    x = np.array([[float(r[c]) for c in cols] for r in rows])
    return ids, x


def parity(args):
    urop = os.path.join(ROOT, "..", "shared", "data", "urop")
    cases = [
        ("data_small.csv", "task_id", ["fav", "298", "first_f_a", "relative_w"]),
        ("data_big.csv", "material_id", ["fav", "298", "first_f_a", "relative_w"]),
        ("data_big.csv", "material_id", ["fav", "298"]),
    ]
    worst_inertia = worst_sil = 0.0
    best, worst_own = 0.0, -1.0
    for name, id_col, cols in cases:
        path = os.path.join(urop, name)
        ids, x = read_table(path, id_col, cols)
        xs = StandardScaler().fit_transform(x)
        with tempfile.TemporaryDirectory() as out:
            stdout, _ = superion(
                "cluster", path, "--id", id_col, "--columns", ",".join(cols),
                "--k", "2..10", "--gap-refs", "0", "--stability-runs", "0", "--tol", "0",
                "--no-compare", "--json", "--out", out,
            )
            sel = json.loads(stdout)["selection"]
            with open(os.path.join(out, "labels.csv")) as f:
                lab = list(csv.DictReader(f))
        print(f"\n{name} [{', '.join(cols)}] n = {len(ids)}")
        print(f"{'k':>3} {'inertia superion':>17} {'inertia sklearn':>16} {'rel diff':>9} "
              f"{'silhouette superion':>20} {'sklearn':>9} {'diff':>8}")
        for r in sel["results"]:
            k = r["k"]
            labels = np.array([int(row[f"label_k{k}"]) for row in lab])
            centres = np.array([xs[labels == c].mean(axis=0) for c in range(k)])
            km = KMeans(n_clusters=k, init=centres, n_init=1, max_iter=300, tol=0).fit(xs)
            rel = abs(km.inertia_ - r["inertia"]) / km.inertia_
            own = KMeans(n_clusters=k, n_init=10, random_state=0).fit(xs)
            best = min(best, (r["inertia"] - own.inertia_) / own.inertia_)
            worst_own = max(worst_own, (r["inertia"] - own.inertia_) / own.inertia_)
            sil = silhouette_score(xs, labels)
            dsil = abs(sil - r["silhouette"])
            worst_inertia, worst_sil = max(worst_inertia, rel), max(worst_sil, dsil)
            print(f"{k:>3} {r['inertia']:>17.6f} {km.inertia_:>16.6f} {rel:>9.1e} "
                  f"{r['silhouette']:>20.6f} {sil:>9.6f} {dsil:>8.1e}")
    print(f"\nagainst scikit-learn's own KMeans (k-means++, 10 restarts, random_state 0): "
          f"superion's inertia is {-best:.1e} lower at best and {worst_own:.1e} higher at worst "
          f"(relative)")
    print(f"\nworst relative inertia difference {worst_inertia:.1e} (limit 1e-4); "
          f"worst silhouette difference {worst_sil:.1e} (limit 1e-3)")
    if worst_inertia > 1e-4 or worst_sil > 1e-3:
        sys.exit("PARITY FAILED")
    print("parity: OK")


def blobs(n, d, centres, seed):
    rng = np.random.default_rng(seed)
    c = rng.normal(0, 5, size=(centres, d))
    lab = rng.integers(0, centres, size=n)
    return (c[lab] + rng.normal(0, 1, size=(n, d))).astype(np.float32)


def bench(args):
    sizes = [int(s) for s in args.sizes.split(",")]
    ks = range(2, 11)
    rows = []
    for n in sizes:
        x = blobs(n, 100, 6, n)
        with tempfile.TemporaryDirectory() as tmp:
            table = os.path.join(tmp, "t.csv")
            with open(table, "w") as f:
                f.write("id," + ",".join(f"f{j}" for j in range(100)) + "\n")
                for i, r in enumerate(x):
                    f.write(f"m{i}," + ",".join(f"{v:.6g}" for v in r) + "\n")
            xs = StandardScaler().fit_transform(x.astype(np.float64)).astype(np.float32)
            common = ["--k", "2..10", "--gap-refs", "0", "--stability-runs", "0", "--no-compare"]
            _, t_sup_km = superion("cluster", table, "--method", "kmeans", *common)
            t = time.perf_counter()
            for k in ks:
                lab = KMeans(n_clusters=k, n_init=10, random_state=0).fit_predict(xs)
                silhouette_score(xs, lab)
            t_sk_km = time.perf_counter() - t
            rows.append((n, "k-means k=2..10 ×10 restarts + silhouette", t_sup_km, t_sk_km))
            print(rows[-1], flush=True)
            if n * n * 8 > 8e9:
                rows.append((n, "Ward + cuts + silhouette k=2..10", None, None))
                print(rows[-1], "(condensed distance matrix too large for this machine)",
                      flush=True)
                continue
            _, t_sup_w = superion("cluster", table, "--method", "ward", *common)
            t = time.perf_counter()
            z = ward(xs)
            for k in ks:
                silhouette_score(xs, fcluster(z, k, criterion="maxclust"))
            t_sk_w = time.perf_counter() - t
            rows.append((n, "Ward + cuts + silhouette k=2..10", t_sup_w, t_sk_w))
            print(rows[-1], flush=True)
    print("\n| n × 100 features | task | superion CPU (s, CLI incl. CSV read) | "
          "scikit-learn/scipy (s, in-process) | ratio |")
    print("|---|---|---|---|---|")
    for n, task, a, b in rows:
        if a is None:
            print(f"| {n} | {task} | n/a | n/a | condensed matrix {n*(n-1)//2*8/1e9:.0f} GB: "
                  "neither fits in 24 GB |")
        else:
            print(f"| {n} | {task} | {a:.2f} | {b:.2f} | {b/a:.1f}× |")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("what", choices=["parity", "bench"])
    p.add_argument("--sizes", default="1000,10000,100000")
    args = p.parse_args()
    if not os.path.exists(BIN):
        sys.exit(f"build first: cargo build --release ({BIN} missing)")
    parity(args) if args.what == "parity" else bench(args)


if __name__ == "__main__":
    main()
