#!/usr/bin/env python3
"""The PyTorch side of benches/forward.rs: the same forward passes (eval mode, no grad,
2 threads unless WHYCAM_BENCH_THREADS says otherwise), median milliseconds as JSON on stdout.

Needs torch, torchvision and efficientnet_lite_pytorch; run by tools/bench/compare.sh.
"""

import json
import os
import statistics
import time

import torch
import torchvision
from efficientnet_lite_pytorch import EfficientNet

torch.set_num_threads(int(os.environ.get("WHYCAM_BENCH_THREADS", "2")))
torch.set_grad_enabled(False)


def median_ms(model, x, runs=10, warmup=3):
    for _ in range(warmup):
        model(x)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        model(x)
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


models = {
    "efficientnet-lite0": (EfficientNet.from_name("efficientnet-lite0").eval(), 224),
    "resnet50": (torchvision.models.resnet50().eval(), 224),
}
result = {}
for name, (model, size) in models.items():
    for batch in (1, 8):
        x = torch.randn(batch, 3, size, size)
        result[f"{name}/b{batch}"] = median_ms(model, x)
print(json.dumps(result))
