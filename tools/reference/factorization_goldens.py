#!/usr/bin/env python3
"""Goldens of pytorch-grad-cam 1.5.7's Deep Feature Factorization drawing
(`pytorch_grad_cam.utils.image.show_factorization_on_image`, `create_labels_legend`) for
whycam-render's `factorization` module (crates/whycam-render/tests/factorization.rs).

Run from the repository root:

    flock /tmp/torch.lock ~/venvs/ref/bin/python tools/reference/factorization_goldens.py

It writes tests/data/goldens/factorization.json:

  * "palette": for k = 1..12 concepts, the colours show_factorization_on_image picks
    (matplotlib's gist_rainbow at np.arange(0, 1, 1/k)), as the uint8 RGB it draws with
    (np.uint8(colour * 255)), and their OpenCV HSV (cv2.COLOR_RGB2HSV, H in 0..180).
  * "value_ramps": for k = 5 and 8, each colour's RGB after its V channel is set to
    0..255 and converted back (cv2.COLOR_HSV2RGB): what a concept looks like at each strength.
  * "cases": a seeded synthetic image (uint8 RGB) and k concept maps, and the picture
    show_factorization_on_image draws (uint8, without its matplotlib legend). Case "exact" gives
    maps already at the image's size (float32 in [0, 1], with a block where every map is 0, so
    concept 0 wins with strength 0 there); case "resized" gives raw maps at a 4x5 layer
    resolution, scaled as DeepFeatureFactorization.__call__ does (scale_cam_image: min-max per
    map, cv2.resize bilinear to the image's size) before drawing. Each is drawn with
    image_weight 0.5 (the function's default) and 0.3 (run_dff_on_image's, the tutorial's).
  * matplotlib 3.9+ has no plt.cm.get_cmap, which show_factorization_on_image calls: the script
    puts it back as matplotlib.colormaps[name] before drawing.
  * OpenCV's 8-bit HSV->RGB rounds differently by path: its vector loop converts blocks of
    4 x (SIMD lanes) pixels of a row and truncates to 8 bits; the scalar loop for the rest of
    the row rounds. Which pixels take which path depends on the row's width and the CPU (32 px
    blocks with AVX2, 64 with AVX-512). whycam truncates, as the vector loop does (a 224 px wide
    image takes it everywhere with AVX2), so the cases here are 64 px wide: every pixel takes
    the vector loop on SSE, AVX2 and AVX-512 alike. The value ramps are 256 px wide for the
    same reason.
  * "legend": create_labels_legend's strings for a small score table (labels with commas).
"""

import json
import os
import sys

import cv2
import numpy as np
import matplotlib
matplotlib.use("Agg")
from matplotlib import pyplot as plt
import pytorch_grad_cam
from pytorch_grad_cam.utils.image import (create_labels_legend, scale_cam_image,
                                          show_factorization_on_image)

# pytorch-grad-cam 1.5.7 calls plt.cm.get_cmap, which matplotlib 3.9 removed: give it back
# (same colour map object, matplotlib.colormaps[name]).
if not hasattr(plt.cm, "get_cmap"):
    plt.cm.get_cmap = lambda name: matplotlib.colormaps[name]

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "data", "goldens", "factorization.json")


def palette(k):
    # As show_factorization_on_image picks them.
    cmap = plt.cm.get_cmap("gist_rainbow")
    colours = [np.array(cmap(i)) for i in np.arange(0, 1, 1.0 / k)][:k]
    rgb = [np.uint8(np.array(c[:3]) * 255) for c in colours]
    hsv = [cv2.cvtColor(np.array(c, dtype=np.uint8).reshape(1, 1, 3), cv2.COLOR_RGB2HSV).reshape(3)
           for c in rgb]
    return rgb, hsv


def ramp(rgb):
    mask = np.zeros((1, 256, 3), dtype=np.uint8)
    mask[:, :, :] = rgb
    mask = cv2.cvtColor(mask, cv2.COLOR_RGB2HSV)
    mask[0, :, 2] = np.arange(256, dtype=np.uint8)
    return cv2.cvtColor(mask, cv2.COLOR_HSV2RGB).reshape(-1).tolist()


def draw(img_u8, explanations, weight):
    img = img_u8 / 255  # float64, as run_dff_on_image makes it
    # show_factorization_on_image zeroes the maps in place: give it a copy.
    return show_factorization_on_image(img, explanations.copy(), image_weight=weight)


def main():
    rng = np.random.RandomState(0)
    doc = {
        "script": "tools/reference/factorization_goldens.py",
        "grad_cam": getattr(pytorch_grad_cam, "__version__", "1.5.7"),
        "opencv": cv2.__version__,
        "matplotlib": matplotlib.__version__,
        "palette": [],
        "value_ramps": [],
        "cases": [],
    }
    for k in range(1, 13):
        rgb, hsv = palette(k)
        doc["palette"].append({"k": k, "rgb": [c.tolist() for c in rgb],
                               "hsv": [c.tolist() for c in hsv]})
    for k in (5, 8):
        rgb, _ = palette(k)
        doc["value_ramps"].append({"k": k, "ramps": [ramp(c) for c in rgb]})

    # Case "exact": maps at the image's size.
    h, w, k = 8, 64, 4
    img = rng.randint(0, 256, size=(h, w, 3)).astype(np.uint8)
    maps = rng.rand(k, h, w).astype(np.float32)
    maps[:, 2:5, 3:7] = 0.0
    for weight in (0.5, 0.3):
        out = draw(img, maps, weight)
        doc["cases"].append({
            "id": f"exact/w{weight}", "image_weight": weight, "height": h, "width": w,
            "k": k, "image": img.reshape(-1).tolist(),
            "maps_shape": [k, h, w], "maps": [float(v) for v in maps.reshape(-1)],
            "scaled_by_reference": False,
            "expected": out.reshape(-1).tolist(),
        })

    # Case "resized": raw maps at a 4x5 layer resolution, scaled and resized as DFF does.
    h, w, k, lh, lw = 16, 64, 3, 4, 5
    img = rng.randint(0, 256, size=(h, w, 3)).astype(np.uint8)
    raw = (rng.rand(k, lh, lw) * 3.0).astype(np.float32)
    scaled = scale_cam_image(raw, (w, h))
    for weight in (0.5, 0.3):
        out = draw(img, scaled, weight)
        doc["cases"].append({
            "id": f"resized/w{weight}", "image_weight": weight, "height": h, "width": w,
            "k": k, "image": img.reshape(-1).tolist(),
            "maps_shape": [k, lh, lw], "maps": [float(v) for v in raw.reshape(-1)],
            "scaled_by_reference": True,
            "expected": out.reshape(-1).tolist(),
        })

    labels = {0: "tabby, tabby cat", 1: "tiger cat", 2: "Egyptian cat, a, b, c"}
    scores = np.array([[0.2, 0.7, 0.1], [0.05, 0.15, 0.8]])
    doc["legend"] = {"labels": [labels[i] for i in range(3)], "scores": scores.tolist(),
                     "top_k": 2, "strings": create_labels_legend(scores, labels, top_k=2)}

    with open(OUT, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
    print(f"wrote {OUT} ({os.path.getsize(OUT)} bytes)")


if __name__ == "__main__":
    sys.exit(main())
