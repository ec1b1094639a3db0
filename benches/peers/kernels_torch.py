"""PyTorch (CUDA) timings for the shapes `superion bench` measures: the fair GPU peer
on the same device.

Same shapes and data generators as `src/bench.rs` and `kernels.py`. Each case is timed
end to end from host arrays to host results (as `superion bench` times its GPU path:
upload, kernels, read-back), and also device-resident (inputs already on the GPU,
results left there), so the transfer share is visible. Median of REPS runs after one
warm-up, with torch.cuda.synchronize() around each. Prints a line per case and a JSON
list at the end.

Run on a machine with a CUDA GPU: python3 benches/peers/kernels_torch.py [--quick]
"""
import json
import statistics
import sys
import time

import numpy as np
import torch

QUICK = "--quick" in sys.argv
REPS = 5
dev = torch.device("cuda")
rng = np.random.default_rng(7)
results = []


def median_time(f, reps=REPS):
    f()
    torch.cuda.synchronize()
    ts = []
    for _ in range(reps):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        f()
        torch.cuda.synchronize()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def report(kernel, size, secs, resident, flops=None, nbytes=None, note=""):
    r = {"kernel": kernel, "size": size, "peer": note, "seconds": secs,
         "resident": resident,
         "gflops": flops / secs / 1e9 if flops else None,
         "gbytes": nbytes / secs / 1e9 if nbytes else None}
    results.append(r)
    where = "resident" if resident else "host->host"
    print(f"{kernel:<18} {size:<58} {where:<10} {secs * 1e3:10.3f} ms  {note}", flush=True)


# pairwise squared distances
for n, d in ([(2048, 16)] if QUICK else [(2048, 16), (4096, 16), (2000, 100)]):
    x = rng.random((n, d), dtype=np.float32)
    xg = torch.from_numpy(x).to(dev)
    f_host = lambda: (torch.cdist(torch.from_numpy(x).to(dev), torch.from_numpy(x).to(dev)) ** 2).cpu()
    f_dev = lambda: torch.cdist(xg, xg) ** 2
    for resident, f in ((False, f_host), (True, f_dev)):
        report("pairwise_sq_dists", f"{n}x{n}, d={d}", median_time(f), resident, 3.0 * n * n * d, 4.0 * n * n,
               "torch.cdist ** 2")


def silhouette_torch(xg, labels, k):
    # Exact silhouette from per-cluster distance sums (distances by cdist, tiles of rows).
    n = xg.shape[0]
    onehot = torch.nn.functional.one_hot(labels, k).to(torch.float32)
    sums = torch.empty((n, k), device=dev)
    tile = 8192
    for i in range(0, n, tile):
        sums[i:i + tile] = torch.cdist(xg[i:i + tile], xg) @ onehot
    counts = onehot.sum(0)
    own = labels
    a = sums.gather(1, own[:, None])[:, 0] / (counts[own] - 1).clamp(min=1)
    other = sums / counts
    other.scatter_(1, own[:, None], float("inf"))
    b = other.min(1).values
    return ((b - a) / torch.maximum(a, b)).mean()


for n, d in ([(2000, 16)] if QUICK else [(4000, 16), (4000, 100)]):
    x = rng.random((n, d), dtype=np.float32)
    labels = torch.arange(n, device=dev) % 8
    xg = torch.from_numpy(x).to(dev)
    f_host = lambda: silhouette_torch(torch.from_numpy(x).to(dev), labels, 8).item()
    f_dev = lambda: silhouette_torch(xg, labels, 8)
    for resident, f in ((False, f_host), (True, f_dev)):
        report("silhouette", f"n={n}, d={d}, k=8", median_time(f), resident, 3.0 * n * n * d, None,
               "torch cdist @ one-hot")


def kmeans_torch(x, k, iters, tol, gen):
    """Batched Lloyd: x is (B, n, d), k centres each, random init (k distinct points per
    problem), all problems advance together; converged problems stop moving."""
    b, n, d = x.shape
    idx = torch.stack([torch.randperm(n, device=dev, generator=gen)[:k] for _ in range(b)])
    c = torch.gather(x, 1, idx[:, :, None].expand(b, k, d))
    for _ in range(iters):
        dist = torch.cdist(x, c)
        lab = dist.argmin(2)
        oh = torch.nn.functional.one_hot(lab, k).to(x.dtype)
        cnt = oh.sum(1)
        new = (oh.transpose(1, 2) @ x) / cnt.clamp(min=1)[:, :, None]
        new = torch.where(cnt[:, :, None] > 0, new, c)
        shift = ((new - c) ** 2).sum((1, 2))
        c = new
        if tol > 0 and bool((shift <= tol).all()):
            break
    return lab


# k-means, hop-detection shape: one point set per ion, k = 2..10, 10 restarts
ions, frames = (64, 140) if QUICK else (416, 140)
a = np.arange(ions)[:, None, None]
t = np.arange(frames)[None, :, None]
xx = np.arange(3)[None, None, :]
pts = ((a * 0.37 + xx) + np.where(t > frames // 2, 1.5, 0.0)
       + 0.1 * ((t * 7919 + xx * 31) % 97) / 97.0).astype(np.float32)


def hop_kmeans(host):
    g = torch.Generator(device=dev).manual_seed(0)
    x = torch.from_numpy(pts).to(dev) if host else ptsg
    x = x.repeat_interleave(10, 0)  # 10 restarts per ion, batched
    labs = [kmeans_torch(x, k, 300, 1e-4, g) for k in range(2, 11)]
    if host:
        [l.cpu() for l in labs]


ptsg = torch.from_numpy(pts).to(dev)
for resident in (False, True):
    report("kmeans_batched", f"{ions} ions x {frames} frames x 3, k=2..10, n_init=10", median_time(
        lambda: hop_kmeans(not resident), reps=3), resident, note="torch batched Lloyd (cdist/argmin/one-hot matmul)")

# k-means, one large problem, 10 Lloyd iterations
n, d, k = (200_000, 16, 16) if QUICK else (1_000_000, 16, 16)
x = rng.random((n, d), dtype=np.float32)
xg = torch.from_numpy(x).to(dev)[None]


def big(host):
    g = torch.Generator(device=dev).manual_seed(1)
    xx_ = torch.from_numpy(x).to(dev)[None] if host else xg
    lab = kmeans_torch(xx_, k, 10, 0.0, g)
    if host:
        lab.cpu()


for resident in (False, True):
    report("kmeans_large", f"n={n}, d={d}, k={k}, 10 iterations", median_time(lambda: big(not resident)),
           resident, 10 * 3.0 * n * d * k, None, "torch Lloyd")

# unwrap: minimum image on frame differences + cumulative sum
def bench_frames(tt, na):
    """The fractional frames of superion's unwrap and unwrap_msd cases (src/bench.rs)."""
    f_ = np.arange(tt)[:, None, None]
    a_ = np.arange(na)[None, :, None]
    x_ = np.arange(3)[None, None, :]
    v = 0.5 + 0.01 * f_ * ((a_ * 3 + x_) % 5) / 5.0 + 0.003 * ((f_ * 31 + a_ * 17 + x_) % 11)
    return (v - np.floor(v)).astype(np.float32)


tt, na = (1000, 1000) if QUICK else (4000, 2000)
frac = bench_frames(tt, na)
fracg = torch.from_numpy(frac).to(dev)


def unwrap(fr):
    cart = fr * 20.0
    step = torch.diff(cart, dim=0)
    step -= 20.0 * torch.round(step / 20.0)
    out = torch.zeros_like(cart)
    out[1:] = torch.cumsum(step, 0)
    return out


report("unwrap", f"{tt} frames x {na} atoms", median_time(lambda: unwrap(torch.from_numpy(frac).to(dev)).cpu()),
       False, None, 2.0 * 12.0 * tt * na, "torch diff/round/cumsum")
report("unwrap", f"{tt} frames x {na} atoms", median_time(lambda: unwrap(fracg)), True, None,
       2.0 * 12.0 * tt * na, "torch diff/round/cumsum")

# windowed squared displacements, 32 log-spaced lags
tt, na = (1000, 200) if QUICK else (4000, 200)
f_ = np.arange(tt)[:, None, None]
a_ = np.arange(na)[None, :, None]
x_ = np.arange(3)[None, None, :]
disp = (np.sqrt(f_) * (((a_ + x_) % 7) - 3.0) * 0.1).astype(np.float32)
dispg = torch.from_numpy(disp).to(dev)
lags = sorted(set(int((tt - 1.0) ** (i / 31.0)) for i in range(32)))
origins = sum(tt - l for l in lags)


def windowed(dg):
    return torch.stack([((dg[l:] - dg[: tt - l]) ** 2).sum(dtype=torch.float64) for l in lags])


report("windowed_sq_disp", f"{tt} frames x {na} atoms, {len(lags)} lags",
       median_time(lambda: windowed(torch.from_numpy(disp).to(dev)).cpu()), False, None,
       2.0 * 12.0 * origins * na, "torch")
report("windowed_sq_disp", f"{tt} frames x {na} atoms, {len(lags)} lags", median_time(lambda: windowed(dispg)),
       True, None, 2.0 * 12.0 * origins * na, "torch")


# all-lag MSD by FFT (kinisi/MDAnalysis' algorithm), for scale: every lag, not 32
def fft_msd(dg):
    t_ = dg.shape[0]
    x = dg.double()
    r2 = (x ** 2).sum(2)  # (T, N)
    # S1(m) = (2 sum_k r2[k] - sum_{k<m} (r2[k] + r2[T-1-k])) / (T - m)
    head = torch.cumsum(r2, 0) - r2
    tail = torch.cumsum(torch.flip(r2, [0]), 0) - torch.flip(r2, [0])
    s1 = (2 * r2.sum(0) - head - tail) / (t_ - torch.arange(t_, device=dev))[:, None]
    f = torch.fft.rfft(x, n=2 * t_, dim=0)
    s2 = torch.fft.irfft(f * f.conj(), n=2 * t_, dim=0)[:t_].sum(2)
    s2 = s2 / (t_ - torch.arange(t_, device=dev))[:, None]
    return (s1 - 2 * s2).mean(1)


report("fft_msd_all_lags", f"{tt} frames x {na} atoms, all {tt} lags",
       median_time(lambda: fft_msd(dispg)), True, note="torch.fft rfft/irfft float64")
report("fft_msd_all_lags", f"{tt} frames x {na} atoms, all {tt} lags", median_time(lambda: fft_msd(torch.from_numpy(disp).to(dev)).cpu()), False, note="torch.fft rfft/irfft float64")


# unwrap + self MSD chained (superion's unwrap_msd case): the even atoms selected, the
# odd ones the drift reference, 32 log-spaced lags; per atom, lag and axis (as superion
# returns it), and the selection's summed displacement per frame.
tt, na = (1000, 1000) if QUICK else (4000, 2000)
frac = bench_frames(tt, na)
fracg = torch.from_numpy(frac).to(dev)
lags = sorted(set(int((tt - 1.0) ** (i / 31.0)) for i in range(32)))


def unwrap_msd(fr):
    u = unwrap(fr)
    sel = u[:, 0::2] - u[:, 1::2].mean(1, keepdim=True)
    per = torch.stack([((sel[l:] - sel[: tt - l]) ** 2).mean(0) for l in lags], 1)  # N x L x 3
    return per, sel.sum(1)


def unwrap_msd_host(fr):
    per, summed = unwrap_msd(fr)
    return per.cpu(), summed.cpu()


report("unwrap_msd", f"{tt} frames x {na} atoms, {na // 2} selected, {len(lags)} lags",
       median_time(lambda: unwrap_msd_host(torch.from_numpy(frac).to(dev))), False, None,
       2.0 * 12.0 * tt * na, "torch diff/round/cumsum, then windowed means")
report("unwrap_msd", f"{tt} frames x {na} atoms, {na // 2} selected, {len(lags)} lags",
       median_time(lambda: unwrap_msd(fracg)), True, None, 2.0 * 12.0 * tt * na,
       "torch diff/round/cumsum, then windowed means")

print(json.dumps({"torch": torch.__version__, "device": torch.cuda.get_device_name(0), "results": results}, indent=1))
