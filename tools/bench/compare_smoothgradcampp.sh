#!/usr/bin/env bash
# SmoothGrad-CAM++ speed of whycam against torchcam 0.5.0 on this machine, in the same run:
#   tools/bench/compare_smoothgradcampp.sh [RUNS]   (PyTorch from $WHYCAM_TORCH_PYTHON, default
#                                                    ~/venvs/ref/bin/python)
# Both on the default model (efficientnet-lite0, real weights, its feature output), torchcam's
# defaults (4 noisy samples, std 0.3), the sample photos at batch 1 and 8, the same number of
# threads (WHYCAM_BENCH_THREADS, default nproc). Prints the median milliseconds of one call each
# and the speed-up (goal >= 2). whycam's side is examples/bench_smoothgradcampp.rs, torchcam's
# tools/bench/torch_smoothgradcampp.py.
set -euo pipefail
cd "$(dirname "$0")/../.."
python=${WHYCAM_TORCH_PYTHON:-$HOME/venvs/ref/bin/python}
runs=${1:-5}
threads=${WHYCAM_BENCH_THREADS:-$(nproc)}
export WHYCAM_BENCH_THREADS=$threads RAYON_NUM_THREADS=$threads
cargo build --release --example bench_smoothgradcampp >&2
ours=$(target/release/examples/bench_smoothgradcampp "$runs")
theirs=$("$python" tools/bench/torch_smoothgradcampp.py "$runs")
python3 - "$ours" "$theirs" "$threads" <<'PY'
import json, sys
ours, theirs = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"threads: {sys.argv[3]}")
print(f"{'smoothgradcampp':<32}{'whycam ms':>11}{'torchcam ms':>13}{'speed-up':>10}")
for key in sorted(ours):
    o, t = ours[key], theirs.get(key)
    speed = f"{t / o:9.2f}x" if t else "        -"
    print(f"{key:<32}{o:11.1f}{(t or 0):13.1f}{speed}")
PY
