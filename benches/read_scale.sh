#!/usr/bin/env bash
# Reader throughput: the same 2x10^4-frame x 10^3-atom site-hopping run in every format
# superion reads (XDATCAR, extended XYZ and DCD and XTC written by `traj convert`, a
# LAMMPS text dump of the random walk, H5MD written by h5py if it is installed, and a
# 2000-step x 1000-atom molecular-dynamics vasprun.xml from benches/vasprun_md.py),
# streamed into a sink that only touches the frames (examples/read_throughput), beside
# `wc -l` and `cat > /dev/null` on the same page-cached file. Five runs each; the
# median is what BENCHMARKS.md quotes. Needs ~3 GB of disk in $DIR.
#
#     benches/read_scale.sh [DIR]        (default DIR: /tmp/superion-scale)
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-/tmp/superion-scale}
mkdir -p "$dir"
cargo build --release --bin superion --example hop_xdatcar --example walk_xdatcar --example read_throughput
bin=target/release/superion
x="$dir/hop-20000.XDATCAR"
[ -s "$x" ] || target/release/examples/hop_xdatcar "$x" 20000 1000
head -n 1008 "$x" > "$dir/top1.XDATCAR"
for ext in extxyz dcd xtc; do
  [ -s "$dir/hop-20000.$ext" ] || "$bin" traj convert "$x" --timestep-fs 1 --stride 10 --out "$dir/hop-20000.$ext"
done
[ -s "$dir/walk-20000.lammpstrj" ] || target/release/examples/walk_xdatcar "$dir/walk-20000.lammpstrj" 20000 1000
run() {
  local f=$1; shift
  cat "$f" > /dev/null
  echo "== $(basename "$f") ($(du -h "$f" | cut -f1))"
  /usr/bin/time -f "wc -l: %e s" wc -l "$f" > /dev/null
  /usr/bin/time -f "cat: %e s" cat "$f" > /dev/null
  for i in 1 2 3 4 5; do target/release/examples/read_throughput "$f" "$@" | sed 's/.*MB in/read in/'; done
}
run "$x" --timestep-fs 1 --stride 10
run "$dir/hop-20000.extxyz"
run "$dir/walk-20000.lammpstrj" --timestep-fs 1 --type-map 1=Li,2=O
run "$dir/hop-20000.dcd" --topology "$dir/top1.XDATCAR" --timestep-fs 10
run "$dir/hop-20000.xtc" --topology "$dir/top1.XDATCAR"
[ -s "$dir/md-2000.vasprun.xml" ] || python3 benches/vasprun_md.py "$dir/md-2000.vasprun.xml" 2000 1000
run "$dir/md-2000.vasprun.xml"
[ -s "$dir/hop-20000.h5md" ] && run "$dir/hop-20000.h5md" --topology "$dir/top1.XDATCAR"
exit 0
