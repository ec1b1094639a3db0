#!/usr/bin/env bash
# The Python package's tests: build and install `superion` from ./python into a venv
# (python/.venv, reused), with what the tests need (pinned), and run pytest. Needs Rust,
# Python >= 3.9 with venv, and the release CLI (built here if missing) for the parity tests.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${SUPERION_PY_VENV:-python/.venv}
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -m pip install -q "maturin==1.16.0" "pytest==9.2.0" "numpy==2.4.6" \
  "scikit-learn==1.9.1" "ase==3.29.0" "pandas==3.1.1"
cli="${CARGO_TARGET_DIR:-target}/release/superion"
[ -x "$cli" ] || cargo build --release
export SUPERION_CLI="$(cd "$(dirname "$cli")" && pwd)/superion"
# The test build carries the engine's toy trajectory format (src/io/toy.rs), so the
# tests can show a format added in one file reaching Python; `pip install ./python`
# (what users run) builds without it.
MATURIN_PEP517_ARGS="--features toy-format" "$venv/bin/python" -m pip install -q ./python
status=0
"$venv/bin/python" -m pytest -q -rs python/tests || status=$?
# The Rust tests' checks skipped for want of ../shared/data (the end of the README's
# test command, so a skip is seen): listed once, then forgotten.
skipped="${CARGO_TARGET_DIR:-target}/tmp/skipped-tests.txt"
ran="${CARGO_TARGET_DIR:-target}/tmp/ran-data-tests.txt"
echo "Rust checks on ../shared/data: $( [ -s "$ran" ] && sort -u "$ran" | wc -l || echo 0) ran, $( [ -s "$skipped" ] && sort -u "$skipped" | wc -l || echo 0) skipped"
rm -f "$ran"
if [ -s "$skipped" ]; then
  echo "Rust checks skipped (reference data absent; SUPERION_REQUIRE_SHARED=1 makes this a failure):"
  sort -u "$skipped" | sed 's/^/  /'
  rm -f "$skipped"
fi
exit $status
