#!/usr/bin/env python3
"""The PyTorch side of the CAM speed comparison: forward passes and pytorch-grad-cam's Grad-CAM and
Score-CAM on CPU (2 threads unless WHYCAM_BENCH_THREADS says otherwise), median milliseconds as one
JSON object on stdout; progress goes to stderr.

Keys:
  forward/<model>/b<batch>   no-grad forward pass, eval mode
  gradcam/<model>/b<batch>   one pytorch_grad_cam.GradCAM call with targets=None (top-1): forward,
                             backward, weights, map, relu, normalisation and resize to 224x224
  torchcam-gradcam/<model>/b<batch>   torchcam 0.5.0's GradCAM as its README uses it: the
                             forward pass with its hooks, then extractor(top-1 classes, scores):
                             the gradient back to the layer only, weights, maps at the layer's
                             resolution (no resize)
  scorecam/efficientnet-lite0/b1   one ScoreCAM call (1280 masked forward passes, batch 16)
for <model> in resnet50 (torchvision, random init, 1000 classes; target layer layer4) and
efficientnet-lite0 (EfficientNet.from_name, random init; target layer the output of
extract_features, through an nn.Identity), <batch> in 1 and 8, inputs torch.randn(batch, 3, 224, 224).

Needs torch, torchvision, efficientnet_lite_pytorch and grad-cam (torchcam optional), e.g.
    ~/venvs/ref/bin/python tools/bench/torch_cam.py
"""

import json
import os
import statistics
import sys
import time
import types

import torch
import torchvision
from efficientnet_lite_pytorch import EfficientNet

import pytorch_grad_cam
from pytorch_grad_cam import GradCAM, ScoreCAM

try:
    from torchcam.methods import GradCAM as TorchcamGradCAM
except ImportError:
    TorchcamGradCAM = None

torch.set_num_threads(int(os.environ.get("WHYCAM_BENCH_THREADS", "2")))
torch.manual_seed(0)
# No tqdm progress bars from Score-CAM.
pytorch_grad_cam.score_cam.tqdm = types.SimpleNamespace(tqdm=lambda it, *a, **k: it)


class LiteFeatures(torch.nn.Module):
    """efficientnet-lite0 with an nn.Identity ("features") on extract_features' output: the
    model's own ReLU6 module is used twice per forward, so it cannot be the target layer."""

    def __init__(self, net):
        super().__init__()
        self.net = net
        self.features = torch.nn.Identity()

    def forward(self, x):
        f = self.features(self.net.extract_features(x))
        f = self.net._avg_pooling(f).flatten(1)
        return self.net._fc(self.net._dropout(f))


def median_ms(fn, runs, warmup):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def log(msg):
    print(msg, file=sys.stderr, flush=True)


resnet = torchvision.models.resnet50().eval()
lite = LiteFeatures(EfficientNet.from_name("efficientnet-lite0")).eval()
models = {
    "resnet50": (resnet, resnet.layer4),
    "efficientnet-lite0": (lite, lite.features),
}
result = {}
for name, (model, layer) in models.items():
    for batch in (1, 8):
        x = torch.randn(batch, 3, 224, 224)

        def forward():
            with torch.no_grad():
                model(x)

        key = f"forward/{name}/b{batch}"
        result[key] = median_ms(forward, runs=7, warmup=2)
        log(f"{key}: {result[key]:.1f} ms")

        cam = GradCAM(model, [layer])
        key = f"gradcam/{name}/b{batch}"
        result[key] = median_ms(lambda: cam(input_tensor=x, targets=None), runs=7, warmup=2)
        cam.activations_and_grads.release()
        log(f"{key}: {result[key]:.1f} ms")

        if TorchcamGradCAM is not None:
            extractor = TorchcamGradCAM(model, target_layer=layer)

            def torchcam_gradcam():
                scores = model(x)
                extractor(scores.argmax(1).tolist(), scores)

            key = f"torchcam-gradcam/{name}/b{batch}"
            result[key] = median_ms(torchcam_gradcam, runs=7, warmup=2)
            extractor.remove_hooks()
            log(f"{key}: {result[key]:.1f} ms")

x = torch.randn(1, 3, 224, 224)
cam = ScoreCAM(lite, [lite.features])
key = "scorecam/efficientnet-lite0/b1"
result[key] = median_ms(lambda: cam(input_tensor=x, targets=None), runs=3, warmup=1)
cam.activations_and_grads.release()
log(f"{key}: {result[key]:.1f} ms")
print(json.dumps(result))
