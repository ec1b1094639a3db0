#!/usr/bin/env bash
# IonDiff 1.6 (from PyPI, in its own virtual environment) beside `superion traj hops
# --mode iondiff` on one XDATCAR, one thread each and then each at its default thread
# count (all cores), then a comparison of the events.
# Usage: benches/peers/iondiff.sh XDATCAR[.gz] [POTIM_fs NBLOCK]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="$here/.venv-iondiff"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip
  "$venv/bin/pip" install -q "IonDiff==1.6" pandas matplotlib seaborn multiprocess
fi
file="$1"; potim="${2:-2}"; nblock="${3:-50}"
out="$here/out/iondiff"; mkdir -p "$out"
superion="$(cd "$here/../.." && pwd)/target/release/superion"
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 RAYON_NUM_THREADS=1
/usr/bin/time -f "IonDiff: %e s wall, %M KB peak" \
  "$venv/bin/python" "$here/iondiff.py" "$file" "$potim" "$nblock" "$out/peer" > /dev/null
/usr/bin/time -f "superion (1 thread): %e s wall, %M KB peak" \
  "$superion" --backend cpu traj hops "$file" --timestep-fs "$potim" --stride "$nblock" \
  --mode iondiff --out "$out/superion" > /dev/null
unset OMP_NUM_THREADS OPENBLAS_NUM_THREADS MKL_NUM_THREADS RAYON_NUM_THREADS
/usr/bin/time -f "IonDiff (default threads): %e s wall, %M KB peak" \
  "$venv/bin/python" "$here/iondiff.py" "$file" "$potim" "$nblock" "$out/peer" > /dev/null
/usr/bin/time -f "superion (all cores): %e s wall, %M KB peak" \
  "$superion" --backend cpu traj hops "$file" --timestep-fs "$potim" --stride "$nblock" \
  --mode iondiff --out "$out/superion" > /dev/null
echo "IonDiff DIFFUSION:";  grep -v '^#' "$out/peer/DIFFUSION" | awk '{printf "%d %d %d\n", $1, $2, $3}' | tee "$out/peer.txt"
echo "superion DIFFUSION:"; grep -v '^#' "$out/superion/DIFFUSION" | tee "$out/superion.txt"
if diff -q "$out/peer.txt" "$out/superion.txt" > /dev/null; then echo "identical events"; else echo "events differ:"; diff "$out/peer.txt" "$out/superion.txt" || true; fi
