#!/usr/bin/env python3
"""Golden outputs for whycam-data's preprocessing (PIL / torchvision parity).

Regenerate the goldens (from the repository root) with:

    /root/venvs/ref/bin/python tools/reference/preprocess_golden.py

Needs Pillow and numpy only. If torchvision is importable too, the script also
checks that its PIL pipeline gives byte-identical results to
`transforms.Resize(int(size / crop_fraction))` + `transforms.CenterCrop(size)` and
`transforms.Resize((size, size))`, so the goldens are torchvision's outputs.

Writes into crates/whycam-data/tests/data/preprocess/:
  <case>.png      the size x size uint8 RGB image the network sees
  cases.json      for each case: the synthetic input size, the mode, the size
                  after resizing and the crop offsets (left, top); and under
                  "normalization" the float32 value torchvision's
                  ToTensor + Normalize(IMAGENET) gives each uint8 value per channel

The synthetic input is computed by `synthetic_pixel` below with integer
arithmetic only; crates/whycam-data/src/preprocess.rs (tests) has the same
formula, so no input image is committed.

The Rust test `preprocess::tests::pil_parity` reads these files.
"""

import json
import math
import os
import sys

import numpy as np
from PIL import Image

SIZE = 224
CROP_FRACTION = 0.875

OUT_DIR = os.path.join(
    os.path.dirname(os.path.abspath(__file__)),
    "..",
    "..",
    "crates",
    "whycam-data",
    "tests",
    "data",
    "preprocess",
)

# name, (width, height), mode
CASES = [
    # Downscale; the resized width is 361, so left = round(68.5) = 68 with
    # Python's round-half-to-even (round-half-up would give 69).
    ("crop_down", (603, 427), "crop"),
    # Upscale of a portrait image: 61x97 -> 256x407, top = round(91.5) = 92.
    ("crop_up", (61, 97), "crop"),
    ("stretch_down", (603, 427), "stretch"),
    ("stretch_up", (97, 61), "stretch"),
    # Only the vertical pass runs (width already 224).
    ("stretch_vertical_only", (224, 500), "stretch"),
]


def synthetic_pixel(x, y, w, h):
    """Smooth gradients, a checkerboard, a disc, thin lines and a noisy patch."""
    r = (x * 255) // (w - 1)
    g = (y * 255) // (h - 1)
    b = ((x // 8 + y // 8) % 2) * 180 + 40
    cx, cy, rad = (w * 2) // 5, h // 2, min(w, h) // 4
    if (x - cx) ** 2 + (y - cy) ** 2 <= rad * rad:
        r, g, b = 250, 30, 90
    if x % 23 == 0:
        r, g, b = 0, 0, 0
    if x < w // 6 and y < h // 6:
        v = ((x * 7919 + y * 104729) ^ (x * y)) % 256
        r, g, b = v, 255 - v, (v * 3) % 256
    return r, g, b


def synthetic_image(w, h):
    arr = np.zeros((h, w, 3), dtype=np.uint8)
    for y in range(h):
        for x in range(w):
            arr[y, x] = synthetic_pixel(x, y, w, h)
    return Image.fromarray(arr, mode="RGB")


def resized_size_for_crop(w, h):
    """torchvision's Resize(int) output size (transforms._compute_resized_output_size)."""
    short_target = math.floor(SIZE / CROP_FRACTION)
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = short_target, int(short_target * long / short)
    return (new_short, new_long) if w <= h else (new_long, new_short)


def crop_pipeline(img):
    new_w, new_h = resized_size_for_crop(*img.size)
    resized = img.resize((new_w, new_h), Image.BILINEAR)
    # torchvision.transforms.functional.center_crop
    top = int(round((new_h - SIZE) / 2.0))
    left = int(round((new_w - SIZE) / 2.0))
    return resized.crop((left, top, left + SIZE, top + SIZE)), (new_w, new_h), left, top


def stretch_pipeline(img):
    return img.resize((SIZE, SIZE), Image.BILINEAR), (SIZE, SIZE), 0, 0


def torchvision_check(img, mode, result):
    try:
        from torchvision import transforms
    except ImportError:
        return False
    if mode == "crop":
        t = transforms.Compose(
            [transforms.Resize(math.floor(SIZE / CROP_FRACTION)), transforms.CenterCrop(SIZE)]
        )
    else:
        t = transforms.Resize((SIZE, SIZE))
    expected = np.asarray(t(img))
    if not np.array_equal(expected, np.asarray(result)):
        sys.exit(f"torchvision disagrees with the PIL pipeline for mode {mode}")
    return True


IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def normalization_golden():
    """(v / 255 - mean) / std in float32, the order ToTensor + Normalize use."""
    v = np.arange(256, dtype=np.float32)
    mean = np.asarray(IMAGENET_MEAN, dtype=np.float32)
    std = np.asarray(IMAGENET_STD, dtype=np.float32)
    values = [((v / np.float32(255) - mean[c]) / std[c]).astype(np.float32) for c in range(3)]
    try:
        from torchvision import transforms
    except ImportError:
        return values
    ramp = np.broadcast_to(np.arange(256, dtype=np.uint8)[:, None, None], (256, 1, 3))
    img = Image.fromarray(np.ascontiguousarray(ramp).reshape(16, 16, 3), mode="RGB")
    t = transforms.Compose([transforms.ToTensor(), transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD)])
    out = t(img).numpy().reshape(3, 256)
    if not all(np.array_equal(out[c], values[c]) for c in range(3)):
        sys.exit("torchvision's ToTensor + Normalize disagrees with the float32 formula")
    return values


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    meta = {
        "size": SIZE,
        "crop_fraction": CROP_FRACTION,
        "generator": "tools/reference/preprocess_golden.py",
        "cases": [],
    }
    checked = False
    for name, (w, h), mode in CASES:
        img = synthetic_image(w, h)
        pipeline = crop_pipeline if mode == "crop" else stretch_pipeline
        out, resized, left, top = pipeline(img)
        checked = torchvision_check(img, mode, out) or checked
        out.save(os.path.join(OUT_DIR, f"{name}.png"), optimize=True)
        meta["cases"].append(
            {
                "name": name,
                "input": [w, h],
                "mode": mode,
                "resized": list(resized),
                "left": left,
                "top": top,
            }
        )
    meta["normalization"] = {
        "mean": IMAGENET_MEAN,
        "std": IMAGENET_STD,
        "values": [[float(x) for x in channel] for channel in normalization_golden()],
    }
    with open(os.path.join(OUT_DIR, "cases.json"), "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    print(f"wrote {len(CASES)} cases to {os.path.normpath(OUT_DIR)}"
          f" (torchvision cross-check: {'yes' if checked else 'skipped'})")


if __name__ == "__main__":
    main()
