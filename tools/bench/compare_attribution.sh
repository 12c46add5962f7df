#!/usr/bin/env bash
# Pixel-attribution speed of whycam against its references on this machine, in the same run:
#   tools/bench/compare_attribution.sh     (PyTorch from $WHYCAM_TORCH_PYTHON, default python3)
# Integrated Gradients (50 Gauss-Legendre steps, black baseline) against Captum 0.9 (at its fastest
# internal_batch_size, see torch_attribution.py), RISE
# against the authors' code and FullGrad against pytorch-grad-cam 1.5.7, on the default model at
# batch 1 and 8; prints median milliseconds
# per call and whycam's speed-up (goal >= 2). WHYCAM_BENCH_RISE_MASKS sets RISE's masks (default
# 2000; RISE's time is proportional to it on both sides), WHYCAM_BENCH_RUNS the timed runs
# (default 3), WHYCAM_BENCH_THREADS the threads of both (default: all cores),
# WHYCAM_BENCH_METHODS some of ig,rise,fullgrad (default: all), WHYCAM_BENCH_BATCHES the batch
# sizes of both (default 1,8).
# The two sides run one after the other, never at once.
set -euo pipefail
cd "$(dirname "$0")/../.."
python=${WHYCAM_TORCH_PYTHON:-python3}
threads=${WHYCAM_BENCH_THREADS:-$(nproc)}
export WHYCAM_BENCH_THREADS=$threads RAYON_NUM_THREADS=$threads
cargo build --release -p whycam-cam --example attribution_bench >&2
ours=$(target/release/examples/attribution_bench)
theirs=$("$python" tools/bench/torch_attribution.py || echo '{}')
python3 - "$ours" "$theirs" <<'PY'
import json, os, sys
ours, theirs = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"threads: {os.environ['WHYCAM_BENCH_THREADS']}, RISE masks: "
      f"{os.environ.get('WHYCAM_BENCH_RISE_MASKS', '2000')}")
print(f"{'method/batch':<14}{'whycam ms':>12}{'reference ms':>14}{'speed-up':>10}")
for key in ["ig/b1", "ig/b8", "rise/b1", "rise/b8", "fullgrad/b1", "fullgrad/b8"]:
    o, t = ours.get(key), theirs.get(key)
    speed = f"{t / o:9.2f}x" if o and t else "         -"
    cell = lambda v: f"{v:.0f}" if v else "-"
    print(f"{key:<14}{cell(o):>12}{cell(t):>14}{speed}")
if not theirs:
    print("(reference not run: set WHYCAM_TORCH_PYTHON to a python with torch, captum, "
          "scikit-image and efficientnet_lite_pytorch)")
PY
