#!/usr/bin/env bash
# Training speed of whycam-small against the same network in PyTorch, in the same run:
#   tools/bench/compare_train.sh [IMAGES] [WIDTHS]   (default 12000 images, 16,32,64)
# One epoch of Fashion-MNIST (every n-th training image, scored on every n-th test image)
# each, one after the other, same threads, same batch size, same augmentation. PyTorch comes
# from $WHYCAM_TORCH_PYTHON (default python3). Prints images per second of the training pass
# and the time ratio whycam / PyTorch.
set -euo pipefail
cd "$(dirname "$0")/../.."
python=${WHYCAM_TORCH_PYTHON:-python3}
data=${WHYCAM_FASHION_MNIST:-/usr/share/datasets/fashion-mnist}
images=${1:-12000}
widths=${2:-16,32,64}
every=$((60000 / images))
threads=${WHYCAM_BENCH_THREADS:-$(nproc)}
export RAYON_NUM_THREADS=$threads
cargo build --release --quiet
run=$(mktemp -d)
trap 'rm -rf "$run"' EXIT
target/release/whycam train "$data" --limit $((60000 / every)) --valid-limit $((10000 / every)) \
    --widths "$widths" --epochs 1 --batch-size 128 --crop-scale 1 --seed 1 --out "$run" >&2
torch=$("$python" tools/reference/train_small.py --data "$data" --every "$every" \
    --widths "$widths" --threads "$threads" --epochs 1 --crop-scale 1)
python3 - "$run/metrics.jsonl" "$torch" <<'PY'
import json, sys
ours = json.loads(open(sys.argv[1]).read().splitlines()[-1])
theirs = json.loads(sys.argv[2].splitlines()[-1])
a = ours["images"] / ours["train_seconds"]
b = theirs["images_per_second"]
print(f"images: {ours['images']}")
print(f"whycam:  {a:7.1f} images/s  validation accuracy {ours['valid_accuracy']:.4f}")
print(f"PyTorch: {b:7.1f} images/s  validation accuracy {theirs['valid_accuracy']:.4f}")
print(f"time ratio whycam / PyTorch: {b / a:.2f}")
PY
