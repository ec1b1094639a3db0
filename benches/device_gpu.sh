#!/usr/bin/env bash
# Hardware-GPU measurements (run on a machine with an NVIDIA GPU through the workplace's
# device tool; see BENCHMARKS.md). Expects a release build of superion at $BIN (built
# here or carried) and the Vulkan loader unpacked from .gl/*.deb. Writes to $OUT.
set -uo pipefail
BIN=${BIN:-target/release/superion}
OUT=${OUT:-/tmp/superion-device}
mkdir -p "$OUT"
export VK_DRIVER_FILES=${VK_DRIVER_FILES:-/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json}
export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv | tee "$OUT/gpu.txt"
nproc | tee -a "$OUT/gpu.txt"
$BIN devices 2>&1 | tee -a "$OUT/gpu.txt"
echo "== superion bench (CPU path on $(nproc) threads, GPU path on the adapter) =="
timeout 240 $BIN --backend gpu bench 2>&1 | tee "$OUT/bench.txt"
echo "== end to end on the bundled Li6PS5Cl trajectory =="
for be in cpu gpu; do
  for job in "traj msd data/Li6PS5Cl.XDATCAR.gz --timestep-fs 2 --stride 50" \
             "traj hops data/Li6PS5Cl.XDATCAR.gz --timestep-fs 2 --stride 50"; do
    rm -rf /tmp/e2e; TIMEFORMAT="$be | $job | %R s wall"
    { time timeout 120 $BIN --backend $be $job --out /tmp/e2e >/dev/null 2>/dev/null; } 2>>"$OUT/e2e.txt"
    tail -1 "$OUT/e2e.txt"
  done
done
echo "== PyTorch on the same GPU =="
PYTHONUNBUFFERED=1 timeout 200 python3 benches/peers/kernels_torch.py 2>&1 | tee "$OUT/torch.txt"
