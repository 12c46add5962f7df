#!/usr/bin/env bash
# `whycam evaluate` against the same metrics computed by torchcam 0.5.0 and pytorch-grad-cam
# 1.5.7 on this machine, in the same run:
#   tools/bench/compare_evaluate.sh   (the peers from $WHYCAM_TORCH_PYTHON, default python3)
# Both compute, for Grad-CAM and Grad-CAM++ on the default model and the five test photos:
# the maps, Average Drop, Increase, Deletion, Insertion (20 steps), Drop/Increase in
# Confidence and ROAD MoRF/LeRF over the percentiles 10..90 with noise 0.01. whycam's time is
# the whole command (model loading included), best of three; the peers' is their metric and
# map computation after loading (tools/bench/peer_evaluate.py). Goal: whycam >= 3x faster.
set -euo pipefail
cd "$(dirname "$0")/../.."
python=${WHYCAM_TORCH_PYTHON:-python3}
threads=${WHYCAM_BENCH_THREADS:-$(nproc)}
export WHYCAM_BENCH_THREADS=$threads RAYON_NUM_THREADS=$threads
cargo build --release --quiet
# The last line is the JSON (loading the model prints a check first).
peer=$("$python" tools/bench/peer_evaluate.py | tail -n 1)
best=""
for _ in 1 2 3; do
    start=$(date +%s.%N)
    ./target/release/whycam evaluate --preprocess none --method gradcam,gradcam++ \
        --metric avg-drop,increase,deletion,insertion,drop,increase-pgc,road-morf,road-lerf \
        --json tests/data/photos224 >/dev/null
    end=$(date +%s.%N)
    t=$(python3 -c "print($end - $start)")
    best=$(python3 -c "print(min(x for x in [$t, ${best:-$t}]))")
done
python3 - "$peer" "$best" <<'PY'
import json, sys
peer, ours = json.loads(sys.argv[1]), float(sys.argv[2])
print(f"threads: {peer['threads']}; {peer['images']} images x {peer['methods']} methods")
for name, seconds in sorted(peer["families"].items()):
    print(f"  peers {name:<30}{seconds:8.2f} s")
print(f"peers (torchcam + pytorch-grad-cam) total {peer['total']:8.2f} s")
print(f"whycam evaluate (whole command)       {ours:8.2f} s")
print(f"speed-up                              {peer['total'] / ours:8.1f}x")
PY
