#!/usr/bin/env bash
# Side by side on one trajectory: kinisi 2.1.0 and pymatgen-analysis-diffusion (from
# PyPI, in their own virtual environment), then superion on the CPU path.
# Usage: benches/peers/traj.sh XDATCAR [timestep_fs stride start_ps]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="$here/.venv-traj"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip
  "$venv/bin/pip" install -q "kinisi==2.1.0" pymatgen-analysis-diffusion
fi
file="$1"; step="${2:-2}"; stride="${3:-50}"; start="${4:-2}"; shift $(( $# < 4 ? $# : 4 ))
/usr/bin/time -f "peers: %e s wall, %M KB peak" "$venv/bin/python" "$here/traj.py" "$file" "$step" "$stride" "$start" "$@"
superion="$(cd "$here/../.." && pwd)/target/release/superion"
/usr/bin/time -f "superion: %e s wall, %M KB peak" "$superion" --backend cpu traj msd "$file" --timestep-fs "$step" --stride "$stride" --start-ps "$start"
