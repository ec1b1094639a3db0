#!/usr/bin/env bash
# Byte-identity check between two superion binaries on the bundled data: each command
# runs with OLD and with NEW into separate --out folders; the folders (every file) and
# standard output are compared, times in seconds masked. Run from the repository root.
#
#     benches/compare_outputs.sh OLD_BINARY NEW_BINARY [WORK_DIR]
set -u
old=$1 new=$2 work=${3:-/tmp/superion-compare}
x=data/Li6PS5Cl.XDATCAR.gz
status=0
run() { # name, args...
  local name=$1
  shift
  for v in old new; do
    local bin=$old
    [ "$v" = new ] && bin=$new
    rm -rf "$work/$v/$name"
    mkdir -p "$work/$v"
    "$bin" --backend cpu "$@" --out "$work/$v/$name" 2>/dev/null |
      sed -E 's/[0-9]+\.[0-9]+ s\b/T s/g' > "$work/$v/$name.stdout"
  done
  if diff -r "$work/old/$name" "$work/new/$name" && diff "$work/old/$name.stdout" "$work/new/$name.stdout"; then
    echo "same: $name"
  else
    echo "DIFFERS: $name"
    status=1
  fi
}
run msd traj msd $x --timestep-fs 2 --stride 50 --temperature 750
run msd-streamed traj msd $x --timestep-fs 2 --stride 50 --memory 1M
run hops traj hops $x --timestep-fs 2 --stride 50
run hops-cif traj hops $x --timestep-fs 2 --stride 50 --sites data/sites/argyrodite.cif --supercell 2 2 2
run hops-streamed traj hops $x --timestep-fs 2 --stride 50 --memory 1M
run hops-iondiff traj hops $x --timestep-fs 2 --stride 50 --mode iondiff
run vdos traj vdos $x --timestep-fs 2 --stride 1
run vdos-streamed traj vdos $x --timestep-fs 2 --stride 1 --memory 1M
run lammps traj msd data/lammps/walk.lammpstrj.gz --timestep-fs 1 --type-map 1=Li,2=S
exit $status
