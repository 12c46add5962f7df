#!/usr/bin/env python3
"""The peers' faithfulness metrics, timed, for tools/bench/compare_evaluate.sh.

On the default model (EfficientNet-Lite0, real weights) and tests/data/photos224, for Grad-CAM
and Grad-CAM++ at `features`, per image and method: pytorch-grad-cam 1.5.7's map, then
torchcam 0.5.0's Average Drop / Increase (ClassificationMetric) and Deletion / Insertion
(DeletionInsertionMetric, 20 steps), pytorch-grad-cam's Drop / Increase in Confidence and ROAD
MoRF / LeRF at the percentiles 10..90 (the imputer with its default noise 0.01), all in float32
with torch's threads set to WHYCAM_BENCH_THREADS. The same definitions as
tools/reference/metric_goldens.py, which checks whycam's values against them. Prints one JSON
object: total seconds, and seconds per metric family.
"""

import json
import os
import pathlib
import sys
import time

import torch

threads = int(os.environ.get("WHYCAM_BENCH_THREADS", "2"))
torch.set_num_threads(threads)
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "reference"))

import cam_goldens as cg  # noqa: E402
import make_goldens as mg  # noqa: E402
from pytorch_grad_cam.metrics import road  # noqa: E402

import metric_goldens as golden  # noqa: E402

# metric_goldens turns ROAD's noise off for parity; the benchmark keeps the peers' default.
road.NoisyLinearImputer.__init__.__defaults__ = (0.01, road.neighbors_weights)


def main():
    model, layers, _fc, norm = cg.efficientnet_lite0()
    model.eval()
    families = {}
    start = time.perf_counter()
    for photo in cg.PHOTOS:
        x = mg.batch([photo], *norm).float()
        with torch.no_grad():
            target = int(model(x)[0].argmax())
        for method in golden.METHODS:
            t = time.perf_counter()
            _low, cam = golden.pgc_maps(method, model, layers[golden.LAYER], x, target)
            families["maps"] = families.get("maps", 0.0) + time.perf_counter() - t
            timings = {}
            golden.metrics(model, x, cam, target, torch.float32, timings)
            for name, seconds in timings.items():
                families[name] = families.get(name, 0.0) + seconds
    total = time.perf_counter() - start
    print(json.dumps({"threads": threads, "images": len(cg.PHOTOS), "methods": len(golden.METHODS),
                      "total": total, "families": families}))


if __name__ == "__main__":
    main()
