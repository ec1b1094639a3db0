"""scikit-learn / numpy timings for the shapes `superion bench` measures.

Same shapes, the same data generators where the data shape matters for the work
done (the hop-detection k-means set), best of 3 after a warm-up, all threads the
libraries want (OpenBLAS/OpenMP on every core). Prints one line per case and a JSON
list at the end.
"""
import json
import sys
import time

import numpy as np
import sklearn
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score
from sklearn.metrics.pairwise import euclidean_distances

QUICK = "--quick" in sys.argv
REPS = 2 if QUICK else 3
rng = np.random.default_rng(7)
results = []


def best(f, reps=REPS):
    f()
    t = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        f()
        t = min(t, time.perf_counter() - t0)
    return t


def report(kernel, size, secs, flops=None, nbytes=None, note=""):
    r = {"kernel": kernel, "size": size, "peer": note, "seconds": secs,
         "gflops": flops / secs / 1e9 if flops else None,
         "gbytes": nbytes / secs / 1e9 if nbytes else None}
    results.append(r)
    print(f"{kernel:<18} {size:<62} {secs:9.4f} s  {note}", flush=True)


# pairwise squared distances
for n, d in ([(2048, 16)] if QUICK else [(2048, 16), (4096, 16), (2000, 100)]):
    x = rng.random((n, d), dtype=np.float32)
    s = best(lambda: euclidean_distances(x, x, squared=True))
    report("pairwise_sq_dists", f"{n}x{n}, d={d}", s, 3.0 * n * n * d, 4.0 * n * n, "sklearn euclidean_distances")

# silhouette, k = 8, labels i % 8
for n, d in ([(2000, 16)] if QUICK else [(4000, 16), (4000, 100)]):
    x = rng.random((n, d), dtype=np.float32)
    labels = np.arange(n) % 8
    s = best(lambda: silhouette_score(x, labels))
    report("silhouette", f"n={n}, d={d}, k=8", s, 3.0 * n * n * d, None, "sklearn silhouette_score")

# k-means, hop-detection shape (IonDiff's loop: one KMeans per ion per k)
ions, frames = (64, 140) if QUICK else (416, 140)
a = np.arange(ions)[:, None, None]
t = np.arange(frames)[None, :, None]
xx = np.arange(3)[None, None, :]
pts = ((a * 0.37 + xx) + np.where(t > frames // 2, 1.5, 0.0) + 0.1 * ((t * 7919 + xx * 31) % 97) / 97.0).astype(np.float32)
sample = 16 if QUICK else 32  # sklearn is slow here: time a sample of ions, scale up


def hop_kmeans():
    for ion in range(sample):
        for k in range(2, 11):
            KMeans(n_clusters=k, init="random", n_init=10, max_iter=300, tol=1e-4, random_state=ion).fit(pts[ion])


s = best(hop_kmeans, reps=1) * ions / sample
report("kmeans_batched", f"{ions} ions x {frames} frames x 3, k=2..10, n_init=10 ({ions * 9 * 10} problems)", s,
       note=f"sklearn KMeans lloyd, {sample} ions timed, scaled x{ions // sample}")

# k-means, one large problem, 10 Lloyd iterations
n, d, k = (200_000, 16, 16) if QUICK else (1_000_000, 16, 16)
x = rng.random((n, d), dtype=np.float32)
km = KMeans(n_clusters=k, init="random", n_init=1, max_iter=10, tol=0.0, algorithm="lloyd", random_state=1)
s = best(lambda: km.fit(x))
report("kmeans_large", f"n={n}, d={d}, k={k}, 10 iterations", s, 10 * 3.0 * n * d * k, None,
       f"sklearn KMeans lloyd ({km.n_iter_} iterations)")

# unwrap: numpy minimum image on frame differences + cumulative sum
tt, na = (1000, 1000) if QUICK else (4000, 2000)
f_ = np.arange(tt)[:, None, None]
a_ = np.arange(na)[None, :, None]
x_ = np.arange(3)[None, None, :]
v = 0.5 + 0.01 * f_ * ((a_ * 3 + x_) % 5) / 5.0 + 0.003 * ((f_ * 31 + a_ * 17 + x_) % 11)
frac = (v - np.floor(v)).astype(np.float32)


def unwrap():
    cart = frac * np.float32(20.0)
    step = np.diff(cart, axis=0)
    step -= np.float32(20.0) * np.round(step / np.float32(20.0))
    out = np.empty_like(cart)
    out[0] = 0.0
    np.cumsum(step, axis=0, out=out[1:])
    return out


s = best(unwrap)
report("unwrap", f"{tt} frames x {na} atoms", s, None, 2.0 * 12.0 * tt * na, "numpy diff/round/cumsum")

# windowed squared displacements, 32 log-spaced lags
tt, na = (1000, 200) if QUICK else (4000, 200)
f_ = np.arange(tt)[:, None, None]
a_ = np.arange(na)[None, :, None]
x_ = np.arange(3)[None, None, :]
disp = (np.sqrt(f_) * (((a_ + x_) % 7) - 3.0) * 0.1).astype(np.float32)
lags = sorted(set(int((tt - 1.0) ** (i / 31.0)) for i in range(32)))
origins = sum(tt - l for l in lags)


def windowed():
    return [((disp[l:] - disp[: tt - l]) ** 2).sum(axis=(0, 1), dtype=np.float64) for l in lags]


s = best(windowed)
report("windowed_sq_disp", f"{tt} frames x {na} atoms, {len(lags)} lags", s, None, 2.0 * 12.0 * origins * na, "numpy")

print(json.dumps({"numpy": np.__version__, "sklearn": sklearn.__version__, "results": results}, indent=1))
