#!/usr/bin/env bash
# Side-by-side peers for the kernel benchmarks: scikit-learn (KMeans lloyd,
# euclidean_distances, silhouette_score) and numpy (displacement scan) on the same
# shapes and data generators as `superion bench`, installed from PyPI into a private
# virtual environment. Usage: benches/peers/run.sh [--quick]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="$here/.venv"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip
  "$venv/bin/pip" install -q "numpy==2.*" "scikit-learn==1.*" threadpoolctl
fi
exec "$venv/bin/python" "$here/kernels.py" "$@"
