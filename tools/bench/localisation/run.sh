#!/usr/bin/env bash
# The localisation benchmark (issue 17): which method, at which layer, points at the object?
#
# Builds cluttered Fashion-MNIST scenes with known boxes (crates/whycam-data/examples/
# localisation_scenes.rs: 112×112 RGB, one item at 40..80 px at a random place, 2..4 faint
# fragments of other items), trains whycam-small on them from scratch, and scores every method
# at two layers with the pointing game, the energy pointing game and box IoU >= 0.5.
# Prints a markdown table and writes it to $OUT/table.md.
#
#   tools/bench/localisation/run.sh
#   TRAIN=4000 VALID=500 TEST=500 EPOCHS=8 tools/bench/localisation/run.sh
#   SKIP_TRAIN=1 tools/bench/localisation/run.sh     # reuse $OUT/run/best.safetensors
#
# Needs Debian's dataset-fashion-mnist (or WHYCAM_FASHION_MNIST). Generated data stays under
# $OUT (default target/localisation-bench), out of git.
set -euo pipefail
cd "$(dirname "$0")/../../.."

OUT=${OUT:-target/localisation-bench}
TRAIN=${TRAIN:-4000}
VALID=${VALID:-500}
TEST=${TEST:-500}
EPOCHS=${EPOCHS:-8}
SEED=${SEED:-0}
# The last feature layer (the default target) and the one before it (twice its resolution).
LAYERS=${LAYERS:-blocks.2 blocks.1}
# Every method whycam has (`whycam explain --help`); CAM only at the layer that feeds the
# pooling (the first of LAYERS).
METHODS=${METHODS:-cam,gradcam,gradcampp,xgradcam,hirescam,gradcam-elementwise,layercam,eigencam,eigengradcam,scorecam,ablationcam}

start=$(date +%s)
cargo build --release --quiet -p whycam-data --example localisation_scenes
cargo build --release --quiet --bin whycam
whycam=target/release/whycam

scenes="$OUT/scenes"
rm -rf "$scenes"
target/release/examples/localisation_scenes "$scenes" \
    --train "$TRAIN" --valid "$VALID" --test "$TEST" --seed "$SEED"

run="$OUT/run"
if [[ -z ${SKIP_TRAIN:-} ]]; then
    rm -rf "$run"
    # No random crops: they would cut the item off and leave a label without its object.
    "$whycam" train "$scenes/train" --valid "$scenes/valid" --model whycam-small --size 112 \
        --epochs "$EPOCHS" --batch-size 32 --crop-scale 1 --seed "$SEED" --out "$run"
fi
trained=$(date +%s)

"$whycam" test --weights "$run/best.safetensors" --json --out "$OUT/test.json" \
    "$scenes/test" >/dev/null
last_layer=${LAYERS%% *}
for layer in $LAYERS; do
    methods=$METHODS
    if [[ $layer != "$last_layer" ]]; then
        methods=$(tr , '\n' <<<"$METHODS" | grep -vx cam | paste -sd,)
    fi
    "$whycam" evaluate --weights "$run/best.safetensors" --method "$methods" --layer "$layer" \
        --metric pointing-game,energy-pointing-game,box-iou --boxes "$scenes/test/boxes.csv" \
        --seed "$SEED" --json "$scenes/test" >"$OUT/evaluate.$layer.json"
done
end=$(date +%s)

python3 - "$OUT" "$METHODS" "$TRAIN" "$VALID" "$TEST" "$((trained - start))" \
    "$((end - trained))" $LAYERS <<'EOF' | tee "$OUT/table.md"
import json, sys
out, methods, train, valid, test, setup_s, eval_s, *layers = sys.argv[1:]
epochs = [json.loads(line) for line in open(f"{out}/run/metrics.jsonl")]
train_s = sum(e["seconds"] for e in epochs)
accuracy = json.load(open(f"{out}/test.json"))
acc = accuracy.get("accuracy")
runs = {l: json.load(open(f"{out}/evaluate.{l}.json")) for l in layers}
first = runs[layers[0]]
print(f"whycam-small trained on {train} scenes ({valid} validation) for {len(epochs)} epochs "
      f"({train_s:.0f} s): "
      f"test accuracy {100 * acc:.1f}% on {test} test scenes; "
      f"{len(first['images'])} scored, {len(first['errors'])} failed.")
print(f"Builds, scenes and training {setup_s} s; test and evaluation {eval_s} s.\n")
print("| method | layer | pointing game | energy pointing game | box IoU ≥ 0.5 | mean IoU |")
print("|---|---|---|---|---|---|")
for method in methods.split(","):
    for layer in layers:
        m = runs[layer]["intervals"].get(method)
        if m is None:  # CAM below the last layer
            continue
        cell = lambda k: (f"{m[k]['mean']:.3f} [{m[k]['low']:.2f}, {m[k]['high']:.2f}]"
                          if k in m else "–")
        print(f"| {method} | {layer} | {cell('pointing-game')} | "
              f"{cell('energy-pointing-game')} | {cell('box-iou')} | {cell('iou')} |")
EOF
