#!/usr/bin/env bash
# scikit-learn / scipy beside `superion cluster`: parity on the original study's tables
# and timings on 10^3..10^5 x 100 features. Installs its peers from PyPI into a
# private virtual environment (shared with run.sh).
# Usage: benches/peers/cluster.sh parity | bench [--sizes 1000,10000,100000]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="$here/.venv"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip
  "$venv/bin/pip" install -q "numpy==2.*" "scikit-learn==1.*" threadpoolctl
fi
exec "$venv/bin/python" "$here/cluster.py" "$@"
