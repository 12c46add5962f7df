#!/usr/bin/env python3
"""Golden maps from torchcam 0.5.0's SmoothGrad-CAM++, SS-CAM and IS-CAM for whycam's parity test
(crates/whycam-cam/tests/torchcam_parity.rs).

Regenerate (the venv of cam_goldens.py plus torchcam==0.5.0):

    flock /tmp/torch.lock ~/venvs/ref/bin/python tools/reference/torchcam_goldens.py \
        [--only=METHOD[,METHOD]] [resnet50] [efficientnet-lite0]

(--only recomputes those methods' cases and keeps the others from the existing file: the SS-CAM
and IS-CAM cases at the 1280-channel "features" layer take minutes.)

It writes tests/data/goldens/torchcam_resnet50.json and tests/data/goldens/torchcam_efficientnet-lite0.json.
Models, layers, inputs and crops are those of cam_goldens.py (imported): the seeded-random
torchvision ResNet-50 with 2 classes (layers "layer4", "layer3") and efficientnet-lite0 with its
real weights (layers "features", "_blocks.10"); inputs are tests/data/photos224/*.png, one image
per call, crop [top, left, size] slicing the normalised 224x224 tensor (null: the whole image).
The target is the model's argmax for the (cropped) input, passed as class_idx.

Each file holds {"script", "torchcam", "torch", "model", "precision", "cases"}; a case is

    {"id", "method", "layer", "image", "crop", "target", "samples", "std", "seed", "draws",
     "shape": [h, w], "map": [row-major, 7 significant digits], "float32_gap"}

Conventions:
  * map: torchcam's own output for the layer (extractor(class_idx)[0][0]: relu, then
    (x - min) / (max - min + 1e-8)), at the layer's resolution, computed in float64
    (model.double(), input.double()) so it is the exact map. float32_gap: how far the same
    computation in float32 (same noise) lands from it: for SmoothGrad-CAM++ the largest over
    FLOAT32_RUNS runs, as cam_goldens.py's float32_gap (the model and input as they are, then
    perturbed by 2^-23 / 2^-22 relative, standing for equally valid float32 roundings such as
    whycam's BatchNorm folding); its alpha has a pole where 2 D2 + sum(D3 A) = 0, and at
    efficientnet-lite0's _blocks.10 (negative activations) float32 lands 1e-3..1e-2 away.
  * samples / std: the num_samples / std passed to torchcam, null where torchcam's default is used
    (SmoothGrad-CAM++ 4 and 0.3, SS-CAM 35 and 2.0, IS-CAM 10). SS-CAM and IS-CAM cost samples x
    channels forward passes, so their cases use a crop and fewer samples.
  * Noise: torch.manual_seed(seed) just before the extractor is called; torchcam then draws with
    its Normal(0, std).sample (float32 even in the float64 run): SmoothGrad-CAM++ one (1, 3, H, W)
    draw per sample, SS-CAM one (1, C, H, W) draw per sample at the input's resolution. Storing
    the draws themselves would not fit (SS-CAM's are samples x C x 224 x 224 floats), so the
    golden stores the seed and, for every draw in order, {"count", "head": its first 8 values,
    "sum"}; the Rust test regenerates torch's CPU stream (mt19937, 24-bit uniforms, Box-Muller
    over blocks of 16 with the tail block redrawn, as ATen's normal_fill) from the seed, checks
    each regenerated draw against head and sum, and replays it to whycam (SS-CAM's per-sample
    draw split per channel, whycam's order).
  * The baseline score torchcam subtracts in SS-CAM / IS-CAM is left as torchcam has it (whycam
    skips it: a softmax ignores a common shift).
  * SmoothGrad-CAM++ in torchcam keeps its hooks on while it samples, so the CAM it returns
    weights the last noisy sample's activations with the last noisy sample's ReLU'd gradient
    (its alpha's denominator uses the image's activations); the script prints "hooks moved: True"
    where the hooked activations after the call are no longer the image's.
"""

import json
import pathlib
import sys
import time
from importlib.metadata import version

import numpy as np
import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import cam_goldens as cg  # noqa: E402
import make_goldens as mg  # noqa: E402

from torchcam.methods import ISCAM, SSCAM, SmoothGradCAMpp  # noqa: E402

torch.set_num_threads(2)
SCRIPT = "tools/reference/torchcam_goldens.py"
METHODS = {"smoothgradcampp": SmoothGradCAMpp, "sscam": SSCAM, "iscam": ISCAM}
HEAD = 8
# float32 runs per SmoothGrad-CAM++ case: one as is, the others on a perturbed input and model
# (cam_goldens.py's perturb / perturbed_model); one run for SS-CAM and IS-CAM.
FLOAT32_RUNS = 4


def case(method, layer, image, crop=None, samples=None, std=None):
    stem = pathlib.Path(image).stem
    suffix = "" if crop is None else "/crop"
    return {"id": f"{method}/{layer}/{stem}{suffix}", "method": method, "layer": layer,
            "image": image, "crop": crop, "samples": samples, "std": std}


def lite_cases():
    cases = []
    for layer in ["features", "_blocks.10"]:
        cases += [case("smoothgradcampp", layer, p) for p in ["chelsea.png", "coffee.png", "rocket.png"]]
    cases.append(case("smoothgradcampp", "features", "astronaut.png", samples=2, std=0.5))
    crop = [80, 80, 64]
    cases += [case("sscam", "_blocks.10", p, crop, samples=4) for p in ["chelsea.png", "coffee.png"]]
    cases.append(case("sscam", "features", "chelsea.png", crop, samples=2, std=1.0))
    cases += [case("iscam", "_blocks.10", p, crop) for p in ["chelsea.png", "coffee.png"]]
    cases.append(case("iscam", "features", "chelsea.png", crop, samples=2))
    return cases


def resnet50_cases():
    cases = [case("smoothgradcampp", "layer4", p) for p in ["chelsea.png", "coffee.png", "rocket.png"]]
    cases += [case("smoothgradcampp", "layer3", p) for p in cg.PHOTOS]
    crop = [96, 96, 32]
    cases.append(case("sscam", "layer3", "chelsea.png", crop, samples=2))
    cases.append(case("iscam", "layer3", "chelsea.png", crop, samples=2))
    return cases


def make_extractor(c, model, layer):
    kwargs = {}
    if c["samples"] is not None:
        kwargs["num_samples"] = c["samples"]
    if c["std"] is not None:
        kwargs["std"] = c["std"]
    return METHODS[c["method"]](model, target_layer=layer, **kwargs)


def run_case(c, model, layer_mods, norm, dtype, seed, run=0):
    x = mg.batch([c["image"]], *norm).to(dtype)
    if run:
        x = cg.perturb(x, run)
    if c["crop"] is not None:
        top, left, size = c["crop"]
        x = x[:, :, top:top + size, left:left + size].contiguous()
    layer = layer_mods[c["layer"]]
    extractor = make_extractor(c, model, layer)
    draws = []
    last = {}
    try:
        if hasattr(extractor, "_distrib"):
            sample = extractor._distrib.sample

            def recording(shape):
                d = sample(shape)
                draws.append(d.detach().clone())
                return d

            extractor._distrib.sample = recording
        if c["method"] == "smoothgradcampp":
            scores = model(x)
            target = int(scores[0].argmax())
            original = extractor.hook_a[0].clone()
            torch.manual_seed(seed)
            cam = extractor(class_idx=target, scores=scores)[0][0]
            # The hooks saw the last noisy sample (see the module docs).
            last["changed"] = not torch.equal(extractor.hook_a[0], original)
        else:
            with torch.no_grad():
                scores = model(x)
            target = int(scores[0].argmax())
            torch.manual_seed(seed)
            cam = extractor(class_idx=target)[0][0]
    finally:
        extractor.remove_hooks()
    return target, cam.detach(), draws, last


def draw_record(d):
    v = d.reshape(-1).to(torch.float32).numpy()
    return {"count": int(v.size), "head": [float(f) for f in v[:HEAD].tolist()],
            "sum": float(np.sum(v, dtype=np.float64))}


def generate(name, build, cases, only):
    start = time.perf_counter()
    model, layer_mods, fc, norm = build()
    model64, layers64, _ = cg.copy_model(model, layer_mods, fc, torch.float64)
    path = mg.DATA / "goldens" / f"torchcam_{name}.json"
    kept = {}
    if only:
        kept = {c["id"]: c for c in json.loads(path.read_text())["cases"] if c["method"] not in only}
    models32 = [(model, layer_mods)]
    out = []
    for i, c in enumerate(cases):
        t = time.perf_counter()
        if c["id"] in kept:
            out.append(kept[c["id"]])
            print(f"  {c['id']:<40} kept", file=sys.stderr, flush=True)
            continue
        seed = 1000 + i
        target, cam, draws, last = run_case(c, model64, layers64, norm, torch.float64, seed)
        gap = 0.0
        for run in range(FLOAT32_RUNS if c["method"] == "smoothgradcampp" else 1):
            while len(models32) <= run:
                copied, copied_layers, _ = cg.perturbed_model(model, layer_mods, fc, len(models32))
                models32.append((copied, copied_layers))
            target32, cam32, draws32, _ = run_case(c, *models32[run], norm, torch.float32, seed, run)
            assert target == target32, (c["id"], run)
            assert len(draws) == len(draws32) and all(torch.equal(a, b) for a, b in zip(draws, draws32)), \
                f"{c['id']}: float32 run drew other noise"
            gap = max(gap, float((cam32.double() - cam).abs().max()))
        a = cam.numpy()
        assert np.all(np.isfinite(a)) and np.ptp(a) > 0, f"{c['id']}: flat or non-finite map"
        r = dict(c)
        r.update({"target": target, "seed": seed, "draws": [draw_record(d) for d in draws],
                  "shape": list(a.shape), "map": cg.flat(a), "float32_gap": gap})
        out.append(r)
        note = ""
        if c["method"] == "smoothgradcampp":
            note = f" hooks moved: {last['changed']}"
        print(f"  {r['id']:<40} target {target:<4} shape {r['shape']} draws {len(draws)} "
              f"float32 gap {gap:.2e}{note} {time.perf_counter() - t:7.2f}s", file=sys.stderr, flush=True)
    payload = {"script": SCRIPT, "torchcam": version("torchcam"), "torch": torch.__version__,
               "model": name, "precision": "float64", "float32_runs": FLOAT32_RUNS, "cases": out}
    with open(path, "w") as f:
        json.dump(payload, f, separators=(",", ":"))
    print(f"{name}: {len(out)} cases -> {path.relative_to(mg.ROOT)} ({path.stat().st_size} bytes), "
          f"{time.perf_counter() - start:.0f} s")


def main():
    args = sys.argv[1:]
    only = set()
    for a in [a for a in args if a.startswith("--only=")]:
        only |= set(a.split("=", 1)[1].split(","))
        args.remove(a)
    wanted = args or ["resnet50", "efficientnet-lite0"]
    for name in wanted:
        if name == "resnet50":
            generate(name, cg.resnet50, resnet50_cases(), only)
        elif name == "efficientnet-lite0":
            generate(name, cg.efficientnet_lite0, lite_cases(), only)
        else:
            raise SystemExit(f"unknown model {name}")


if __name__ == "__main__":
    main()
