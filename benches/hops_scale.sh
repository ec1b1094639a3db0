#!/usr/bin/env bash
# Hops at scale: `traj hops` (site-based mode) on generated site-hopping XDATCARs of
# 2x10^4, 5x10^4 and 10^5 frames x 10^3 atoms (400 Li; 0.74, 1.85 and 3.7 GB of text;
# 10^8 atom-frames for the last), streamed with the default budget (512M) and with
# --memory 128M, beside `wc -l` and `cat > /dev/null` on the same (page-cached) file;
# the in-memory path on the smallest. Three runs each; wall time (s) and peak RSS (KB)
# from /usr/bin/time. Needs ~6.5 GB of disk in $DIR.
#
#     benches/hops_scale.sh [DIR]        (default DIR: /tmp/superion-scale)
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-/tmp/superion-scale}
mkdir -p "$dir"
cargo build --release --bin superion --example hop_xdatcar
# A copy, so that rebuilding during the run does not change what is measured.
cp target/release/superion "$dir/superion"
bin="$dir/superion"
for frames in 20000 50000 100000; do
  f="$dir/hop-$frames.XDATCAR"
  [ -s "$f" ] || target/release/examples/hop_xdatcar "$f" "$frames" 1000
  cat "$f" > /dev/null
  echo "== $frames frames x 1000 atoms, $(du -h "$f" | cut -f1)"
  for i in 1 2 3; do
    /usr/bin/time -f "wc -l: %e s" wc -l "$f" > /dev/null
    /usr/bin/time -f "cat: %e s" cat "$f" > /dev/null
  done
  for mem in "" "--memory 512M" "--memory 128M"; do
    [ -z "$mem" ] && [ "$frames" != 20000 ] && continue
    for i in 1 2 3; do
      /usr/bin/time -f "traj hops ${mem:-in memory}: %e s, peak %M KB" \
        "$bin" --backend cpu traj hops "$f" --timestep-fs 1 --stride 10 $mem 2>&1 >/dev/null |
        grep -E "peak|streamed"
    done
  done
done
