#!/usr/bin/env bash
# Forward-pass speed of whycam against PyTorch on this machine, in the same run:
#   tools/bench/compare.sh            (PyTorch from $WHYCAM_TORCH_PYTHON, default python3)
# Prints median milliseconds and the ratio whycam / PyTorch per model and batch size.
set -euo pipefail
cd "$(dirname "$0")/../.."
python=${WHYCAM_TORCH_PYTHON:-python3}
# Both sides get the same number of threads (default: every core).
threads=${WHYCAM_BENCH_THREADS:-$(nproc)}
export WHYCAM_BENCH_THREADS=$threads RAYON_NUM_THREADS=$threads
cargo bench --bench forward -- --noplot >&2
torch_json=$("$python" tools/bench/torch_forward.py 2>/dev/null || echo '{}')
python3 - "$torch_json" <<'PY'
import json, pathlib, sys
torch = json.loads(sys.argv[1])
root = pathlib.Path("target/criterion/forward")
print(f"threads: {__import__('os').environ['WHYCAM_BENCH_THREADS']}")
print(f"{'model/batch':<26}{'whycam ms':>11}{'PyTorch ms':>12}{'ratio':>8}")
for est in sorted(root.glob("*/*/new/estimates.json")):
    key = f"{est.parts[-4]}/{est.parts[-3]}"
    ours = json.loads(est.read_text())["median"]["point_estimate"] / 1e6
    theirs = torch.get(key)
    ratio = f"{ours / theirs:8.2f}" if theirs else "       -"
    theirs = f"{theirs:12.1f}" if theirs else "           -"
    print(f"{key:<26}{ours:11.1f}{theirs}{ratio}")
if not torch:
    print("(PyTorch not found: set WHYCAM_TORCH_PYTHON to a python with torch, torchvision and efficientnet_lite_pytorch)")
PY
