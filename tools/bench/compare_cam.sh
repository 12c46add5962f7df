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
# The ONNX timings and paired ONNX/zoo ratios are written only with WHYCAM_BENCH_ONNX: none from
# an earlier run (criterion keeps each benchmark's last estimate, which this table would print).
rm -rf target/criterion/cam/onnx-*
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
KEYS = ["resnet50/b1", "resnet50/b8", "efficientnet-lite0/b1", "efficientnet-lite0/b8"]
def ms(v, w):
    return f"{v:{w}.1f}" if v else " " * (w - 1) + "-"
def ratio(a, b, w, suffix=""):
    return f"{a / b:{w}.2f}{suffix}" if a and b else " " * (w - 1) + "-" + " " * len(suffix)
print(f"threads: {os.environ['WHYCAM_BENCH_THREADS']}")
print(f"{'model/batch':<24}{'fwd ms':>9}{'gradcam ms':>12}{'cam/fwd':>9}{'pgc ms':>10}{'speed-up':>10}"
      f"{'torchcam ms':>13}{'speed-up':>10}")
for key in KEYS:
    f, g, t = ours("forward", key), ours("gradcam", key), torch.get(f"gradcam/{key}")
    tc = torch.get(f"torchcam-gradcam/{key}")
    print(f"{key:<24}{ms(f, 9)}{ms(g, 12)}{ratio(g, f, 9)}{ms(t, 10)}{ratio(t, g, 9, 'x')}"
          f"{ms(tc, 13)}{ratio(tc, g, 9, 'x')}")
if ours("onnx-forward", "resnet50/b1"):
    print(f"\nONNX export through whycam's interpreter, against the zoo network above")
    print(f"{'model/batch':<24}{'fwd ms':>9}{'/zoo':>7}{'gradcam ms':>12}{'/zoo':>7}{'pgc ms':>10}{'speed-up':>10}")
    for key in KEYS:
        f, g = ours("onnx-forward", key), ours("onnx-gradcam", key)
        zf, zg, t = ours("forward", key), ours("gradcam", key), torch.get(f"gradcam/{key}")
        print(f"{key:<24}{ms(f, 9)}{ratio(f, zf, 7)}{ms(g, 12)}{ratio(g, zg, 7)}{ms(t, 10)}"
              f"{ratio(t, g, 9, 'x')}")
paired = root / "onnx-paired.json"
if paired.exists():
    pairs = json.loads(paired.read_text())
    print("\nONNX / zoo in interleaved pairs (median of 15 pairs; goal <= 1.15)")
    for key in KEYS:
        f, g = pairs.get(f"forward/{key}"), pairs.get(f"gradcam/{key}")
        print(f"{key:<24}forward{ratio(f, 1, 9)}   gradcam{ratio(g, 1, 9)}")
s, t = ours("scorecam", "efficientnet-lite0/b1"), torch.get("scorecam/efficientnet-lite0/b1")
if s:
    speed = f"{t / s:.2f}x" if t else "-"
    print(f"scorecam efficientnet-lite0/b1: whycam {s:.0f} ms, pytorch-grad-cam {t or 0:.0f} ms, speed-up {speed}")
if not torch:
    print("(PyTorch not found: set WHYCAM_TORCH_PYTHON to a python with torch, torchvision, efficientnet_lite_pytorch and grad-cam)")
PY
