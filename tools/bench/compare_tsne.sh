#!/usr/bin/env bash
# t-SNE of whycam against scikit-learn's, in the same run, on the same features:
#   tools/bench/compare_tsne.sh FEATURES.npy
# FEATURES.npy is the features.npy of a `whycam embed` run (samples.csv beside it gives the
# labels). Both use perplexity 30, 1000 iterations, a PCA start and the features reduced to
# 50 principal components; scikit-learn gets every core, whycam runs its t-SNE on one thread
# (so that a seed repeats exactly). scikit-learn comes from $WHYCAM_SKLEARN_PYTHON (default
# python3). Prints seconds, the 10-NN label agreement of each, and the time ratio.
set -euo pipefail
cd "$(dirname "$0")/../.."
python=${WHYCAM_SKLEARN_PYTHON:-python3}
features=$1
cargo build --release --quiet
run=$(mktemp -d)
trap 'rm -rf "$run"' EXIT
target/release/whycam embed --features "$features" --method tsne --out "$run" >&2
theirs=$("$python" tools/reference/tsne_sklearn.py "$features" --threads "$(nproc)")
python3 - "$run/summary.json" "$theirs" <<'PY'
import json, sys
ours = json.load(open(sys.argv[1]))
theirs = json.loads(sys.argv[2].splitlines()[-1])
t = ours["layouts"][0]
print(f"points: {ours['points']} x {ours['dimensions']}")
print(f"10-NN label agreement in feature space: whycam {ours['feature_neighbour_agreement']:.4f}, "
      f"scikit-learn {theirs['feature_agreement']:.4f}")
print(f"whycam t-SNE:       {t['seconds']:6.1f} s, 10-NN agreement {t['neighbour_agreement']:.4f}")
print(f"scikit-learn t-SNE: {theirs['tsne_seconds']:6.1f} s, 10-NN agreement {theirs['tsne_agreement']:.4f}")
print(f"time ratio whycam / scikit-learn: {t['seconds'] / theirs['tsne_seconds']:.2f}")
PY
