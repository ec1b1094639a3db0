#!/usr/bin/env bash
# Wall time of `superion batch` on a real single-node Slurm cluster (tests/slurm/cluster.sh)
# for 1, 2, 4 and 8 shards over N generated phonopy inputs (the bundled examples with
# scaled frequencies), from submission to the merged table, against one process.
# Usage (root, or Slurm installed): benches/slurm_scaling.sh [N=480]
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
S="$here/target/release/superion"
N="${1:-480}"
W="$(mktemp -d)"; chmod 755 "$W"   # munged (user munge) must reach its socket below
trap '"$here/tests/slurm/cluster.sh" stop "$W/cluster"; rm -rf "$W"' EXIT
start_out=$("$here/tests/slurm/cluster.sh" start "$W/cluster") || { cat "$W"/cluster/log/*.log >&2; exit 1; }
eval "$start_out"
mkdir -p "$W/inputs"
names=($(ls "$here/data/phonopy"))
for ((i = 0; i < N; i++)); do
  name=${names[$((i % ${#names[@]}))]}; d="$W/inputs/$name-$i"; mkdir -p "$d"
  f=$(awk -v i="$i" 'BEGIN{printf "%.6f", 1 + 0.0005 * i}')
  cp "$here/data/phonopy/$name/phonopy.yaml" "$d/" 2>/dev/null || true
  for dat in total_dos.dat projected_dos.dat; do
    awk -v f="$f" '/^#/ {print; next} {printf "%20.10f", $1 * f; for (j = 2; j <= NF; j++) printf " %s", $j; print ""}' \
      "$here/data/phonopy/$name/$dat" > "$d/$dat"
  done
done
printf 'command: phonon features\nargs: ["--legacy"]\ninputs:\n  - inputs\n' > "$W/manifest.yaml"
bytes=$(du -sb "$W/inputs" | cut -f1)
t0=$(date +%s.%N); "$S" --backend cpu phonon features "$W/inputs" --legacy --out "$W/single.csv" 2>/dev/null
t1=$(date +%s.%N)
echo "inputs: $N folders, $((bytes / 1000000)) MB; one process: $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b - a}') s"
echo "| shards | submit -> merged (s) | result files (MB) | merged == single process |"
echo "|---|---|---|---|"
for shards in 1 2 4 8; do
  run="$W/run-$shards"
  "$S" batch plan "$W/manifest.yaml" --shards "$shards" --out "$run" > /dev/null
  t0=$(date +%s.%N)
  "$S" batch slurm "$run" --submit > /dev/null
  mid=$(sed -n 's/.*"merge": "\([0-9]*\)".*/\1/p' "$run/slurm/jobs.json")
  while [ -n "$(squeue -h -j "$mid" 2>/dev/null)" ] || [ ! -f "$run/merged/failures.csv" ]; do sleep 0.1; done
  t1=$(date +%s.%N)
  mb=$(du -sb "$run/results" | awk '{printf "%.1f", $1 / 1e6}')
  same=$(cmp -s "$W/single.csv" "$run/merged/features.csv" && echo yes || echo NO)
  echo "| $shards | $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b - a}') | $mb | $same |"
done
