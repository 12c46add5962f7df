#!/usr/bin/env python3
"""Golden Spearman and SSIM values for whycam-eval's similarity.rs (the measures of the
model-randomisation sanity check).

Regenerate (any venv; no torch needed):

    python3 -m venv ~/venvs/sim
    ~/venvs/sim/bin/pip install numpy==2.2.6 scipy==1.15.3 scikit-image==0.25.2
    ~/venvs/sim/bin/python tools/reference/similarity_goldens.py

It writes tests/data/goldens/similarity.json, read by crates/whycam-eval/tests/similarity_parity.rs.

Each case holds two maps a, b (float32 values in [0, 1], row-major, shape [h, w]), stored exactly
(9 significant digits round-trip float32), and

    spearman = scipy.stats.spearmanr(a.ravel(), b.ravel()).statistic   (average ranks for ties;
               null where scipy returns NaN: a constant map)
    ssim     = skimage.metrics.structural_similarity(a, b, data_range=1.0)   with every other
               argument at its default: win_size 7, gaussian_weights False, K1 0.01, K2 0.03,
               use_sample_covariance True

computed on the maps converted to float64 (skimage keeps float32 input in float32; the float64
value is the exact one whycam's f64 computation is checked against).
"""

import json
import pathlib

import numpy as np
import scipy
import scipy.stats
import skimage
from skimage.metrics import structural_similarity

OUT = pathlib.Path(__file__).resolve().parents[2] / "tests/data/goldens/similarity.json"


def smooth(h, w, cy, cx, sigma):
    y, x = np.mgrid[0:h, 0:w]
    return np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * sigma**2))


def cases():
    rng = np.random.default_rng(17)
    blob = smooth(24, 24, 8.0, 14.0, 4.0)
    noisy = np.clip(blob + 0.15 * rng.standard_normal((24, 24)), 0, 1)
    yield "uniform_noise_16x16", rng.random((16, 16)), rng.random((16, 16))
    yield "quantised_ties_12x20", rng.integers(0, 5, (12, 20)) / 4, rng.integers(0, 5, (12, 20)) / 4
    yield "blob_and_noisy_blob_24x24", blob, noisy
    yield "blob_and_moved_blob_24x24", blob, smooth(24, 24, 16.0, 6.0, 4.0)
    yield "single_window_7x7", rng.random((7, 7)), rng.random((7, 7))
    neg = rng.random((9, 11))
    yield "map_and_its_negative_9x11", neg, 1 - neg
    yield "constant_and_noise_10x10", np.zeros((10, 10)), rng.random((10, 10))
    sparse = np.zeros((20, 20))
    sparse[5:9, 11:15] = 1.0
    yield "zeros_with_a_square_and_blob_20x20", sparse, smooth(20, 20, 7.0, 13.0, 3.0)


def main():
    out = {
        "versions": {"numpy": np.__version__, "scipy": scipy.__version__, "skimage": skimage.__version__},
        "cases": [],
    }
    for name, a, b in cases():
        a = a.astype(np.float32)
        b = b.astype(np.float32)
        a64, b64 = a.astype(np.float64), b.astype(np.float64)
        rho = scipy.stats.spearmanr(a64.ravel(), b64.ravel()).statistic
        ssim = structural_similarity(a64, b64, data_range=1.0)
        out["cases"].append(
            {
                "name": name,
                "shape": list(a.shape),
                "a": [float(f"{v:.9g}") for v in a.ravel()],
                "b": [float(f"{v:.9g}") for v in b.ravel()],
                "spearman": None if np.isnan(rho) else float(rho),
                "ssim": float(ssim),
            }
        )
    OUT.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
