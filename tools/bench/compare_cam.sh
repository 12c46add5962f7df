#!/usr/bin/env bash
# Explanation speed of whycam against pytorch-grad-cam on this machine, in the same run:
#   tools/bench/compare_cam.sh        (PyTorch from $WHYCAM_TORCH_PYTHON, default python3)
# Prints median milliseconds per model and batch size: whycam's forward pass and Grad-CAM (and
# their ratio, goal <= 1.1), pytorch-grad-cam's Grad-CAM (speed-up goal at batch 8 >= 2),
# torchcam's Grad-CAM when torchcam is installed (issue 20: ResNet-50 faster than it), and
# Score-CAM on the default model (speed-up goal >= 2). With WHYCAM_BENCH_ONNX=DIR (written by
# tools/reference/export_bench_models.py DIR) also the ONNX exports of both models through
# whycam's interpreter: their time over the zoo network's (goal <= 1.15) and the speed-up of
# their Grad-CAM over pytorch-grad-cam's (goal >= 2).
set -euo pipefail
cd "$(dirname "$0")/../.."
python=${WHYCAM_TORCH_PYTHON:-python3}
threads=${WHYCAM_BENCH_THREADS:-$(nproc)}
export WHYCAM_BENCH_THREADS=$threads RAYON_NUM_THREADS=$threads
cargo bench --bench cam -- --noplot >&2
torch_json=$("$python" tools/bench/torch_cam.py 2>/dev/null || echo '{}')
python3 - "$torch_json" <<'PY'
import json, os, pathlib, sys
torch = json.loads(sys.argv[1])
root = pathlib.Path("target/criterion/cam")
def ours(kind, key):
    est = root / kind / key.replace("/", "_") / "new" / "estimates.json"
    if not est.exists():
        return None
    return json.loads(est.read_text())["median"]["point_estimate"] / 1e6
print(f"threads: {os.environ['WHYCAM_BENCH_THREADS']}")
print(f"{'model/batch':<24}{'fwd ms':>9}{'gradcam ms':>12}{'cam/fwd':>9}{'pgc ms':>10}{'speed-up':>10}"
      f"{'torchcam ms':>13}{'speed-up':>10}")
for key in ["resnet50/b1", "resnet50/b8", "efficientnet-lite0/b1", "efficientnet-lite0/b8"]:
    f, g, t = ours("forward", key), ours("gradcam", key), torch.get(f"gradcam/{key}")
    tc = torch.get(f"torchcam-gradcam/{key}")
    cell = lambda v, w: f"{v:{w}.1f}" if v else " " * (w - 1) + "-"
    ratio = f"{g / f:9.2f}" if f and g else "        -"
    speed = f"{t / g:9.2f}x" if t and g else "         -"
    speed_tc = f"{tc / g:9.2f}x" if tc and g else "         -"
    print(f"{key:<24}{cell(f, 9)}{cell(g, 12)}{ratio}{cell(t, 10)}{speed}{cell(tc, 13)}{speed_tc}")
if any(ours("onnx-forward", k) for k in ["resnet50/b1"]):
    print(f"\nONNX export through whycam's interpreter, against the zoo network above")
    print(f"{'model/batch':<24}{'fwd ms':>9}{'/zoo':>7}{'gradcam ms':>12}{'/zoo':>7}{'pgc ms':>10}{'speed-up':>10}")
    for key in ["resnet50/b1", "resnet50/b8", "efficientnet-lite0/b1", "efficientnet-lite0/b8"]:
        f, g = ours("onnx-forward", key), ours("onnx-gradcam", key)
        zf, zg, t = ours("forward", key), ours("gradcam", key), torch.get(f"gradcam/{key}")
        cell = lambda v, w: f"{v:{w}.1f}" if v else " " * (w - 1) + "-"
        rf = f"{f / zf:7.2f}" if f and zf else "      -"
        rg = f"{g / zg:7.2f}" if g and zg else "      -"
        speed = f"{t / g:9.2f}x" if t and g else "         -"
        print(f"{key:<24}{cell(f, 9)}{rf}{cell(g, 12)}{rg}{cell(t, 10)}{speed}")
paired = root / "onnx-paired.json"
if paired.exists():
    ratios = json.loads(paired.read_text())
    print("\nONNX / zoo in interleaved pairs (median of 15 pairs; goal <= 1.15)")
    for key in ["resnet50/b1", "resnet50/b8", "efficientnet-lite0/b1", "efficientnet-lite0/b8"]:
        f, g = ratios.get(f"forward/{key}"), ratios.get(f"gradcam/{key}")
        cell = lambda v: f"{v:9.2f}" if v else "        -"
        print(f"{key:<24}forward{cell(f)}   gradcam{cell(g)}")
s, t = ours("scorecam", "efficientnet-lite0/b1"), torch.get("scorecam/efficientnet-lite0/b1")
if s:
    speed = f"{t / s:.2f}x" if t else "-"
    print(f"scorecam efficientnet-lite0/b1: whycam {s:.0f} ms, pytorch-grad-cam {t or 0:.0f} ms, speed-up {speed}")
if not torch:
    print("(PyTorch not found: set WHYCAM_TORCH_PYTHON to a python with torch, torchvision, efficientnet_lite_pytorch and grad-cam)")
PY
