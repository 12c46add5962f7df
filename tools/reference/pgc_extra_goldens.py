#!/usr/bin/env python3
"""Golden maps of pytorch-grad-cam 1.5.7's KPCA-CAM, FEM, Finer-CAM, ShapleyCAM and RandomCAM for
whycam's parity test crates/whycam-cam/tests/pgc_extra_parity.rs.

Regenerate (the venv of cam_goldens.py and export_onnx.py):

    flock /tmp/torch.lock ~/venvs/ref/bin/python tools/reference/pgc_extra_goldens.py \
        [resnet50] [efficientnet-lite0] [efficientnet_b0]

It writes tests/data/goldens/pgc_extra_<model>.json for
  * efficientnet-lite0 (real weights; layers "features" and "_blocks.10") and the seeded-random
    torchvision resnet50 with 2 classes (layers "layer4" and "layer3"): the models, photos, target
    classes (the argmax), float64 computation, maps at the layer's resolution and "float32_gap"
    exactly as cam_goldens.py (whose docstring explains them; this script imports it);
  * efficientnet_b0: the seeded-random torchvision EfficientNet-B0 of export_onnx.py (its ONNX
    export tests/data/onnx/efficientnet_b0.torchscript.onnx is what the Rust test loads), at
    "features.3", for ShapleyCAM and Finer-CAM: SiLU and sigmoid squeeze-excitation after the
    layer, so torch's Hessian-vector product is not zero there (on the two models above every
    layer after the target is piecewise linear, the product is exactly 0 and ShapleyCAM equals
    Grad-CAM, which this script checks).

Method calls (everything else at pytorch-grad-cam's defaults):
  kpcacam     KPCA_CAM(model, layers)                   kernel "sigmoid", gamma None (1 / C)
  fem         FEM(model, layers)                        k = 2
  finercam    FinerCAM(model, layers)(x, targets=None, target_idx=target)
              base GradCAM, alpha 1, comparison ranks (1, 2, 3); the case records "compared"
  shapleycam  ShapleyCAM(model, layers)(x, [ClassifierOutputTarget(target)])
              the case records "hvp_max": max |HVP| that torch computed (0 on piecewise-linear
              networks)
  randomcam   RandomCAM(model, layers)(x, [ClassifierOutputTarget(target)]) with np.random
              seeded by the case index (plus 1000 until the map is not constant); "noise" holds its one draw np.random.uniform(-1, 1,
              size=(1, C)) (row 0), which the Rust test replays as whycam's one uniform draw of
              C values. The float32 runs replay the same seed.

A case is {"id", "method", "layers", "image", "target", "shape", "map", "float32_gap",
           ["noise"], ["compared"], ["hvp_max"]}.
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
from pytorch_grad_cam import activations_and_gradients  # noqa: E402

# export_onnx.py replaces ActivationsAndGradients.save_activation by one storing a detached
# clone; ShapleyCAM needs the activation inside the graph (detach=False), so keep the original.
_save_activation = activations_and_gradients.ActivationsAndGradients.save_activation
import export_onnx as eo  # noqa: E402

activations_and_gradients.ActivationsAndGradients.save_activation = _save_activation

from pytorch_grad_cam import FEM, KPCA_CAM, FinerCAM, GradCAM, RandomCAM, ShapleyCAM  # noqa: E402
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget  # noqa: E402

SCRIPT = "tools/reference/pgc_extra_goldens.py"
PHOTOS = ["chelsea.png", "coffee.png", "astronaut.png"]
METHODS = ["kpcacam", "fem", "finercam", "shapleycam", "randomcam"]
FLOAT32_RUNS = cg.FLOAT32_RUNS

# ShapleyCAM's Hessian-vector product, recorded per call: torch.autograd.grad wrapped, recording
# the calls with grad_outputs and allow_unused (only shapley_cam.py makes those).
_hvp_seen = []
_grad = torch.autograd.grad


def _recording_grad(outputs, inputs, grad_outputs=None, **kwargs):
    result = _grad(outputs, inputs, grad_outputs=grad_outputs, **kwargs)
    if grad_outputs is not None and kwargs.get("allow_unused"):
        h = result[0]
        _hvp_seen.append(0.0 if h is None else float(h.detach().abs().max()))
    return result


torch.autograd.grad = _recording_grad


def run(method, model, layer_mods, layers, x, target, seed):
    """One map; returns (map, extra fields)."""
    mods = [layer_mods[n] for n in layers]
    extra = {}
    if method == "finercam":
        cam = FinerCAM(model, mods)
        cam.base_cam.get_target_width_height = lambda input_tensor: None
        try:
            with torch.no_grad():
                logits = model(x)[0].double().numpy()
            order = np.argsort(np.abs(logits - logits[target]), kind="stable")
            assert order[0] == target, (order[:4], target)
            extra["compared"] = [int(i) for i in order[1:1 + min(3, len(logits) - 1)]]
            out = cam(x, targets=None, target_idx=target)[0]
        finally:
            cam.base_cam.activations_and_grads.release()
        return out, extra
    cls = {"kpcacam": KPCA_CAM, "fem": FEM, "shapleycam": ShapleyCAM, "randomcam": RandomCAM,
           "gradcam": GradCAM}[method]
    cam = cls(model, mods)
    cam.get_target_width_height = lambda input_tensor: None
    try:
        if method == "randomcam":
            np.random.seed(seed)
            out = cam(input_tensor=x, targets=[ClassifierOutputTarget(target)])[0]
            np.random.seed(seed)
            channels = cam.activations_and_grads.activations[0].shape[1]
            extra["noise"] = [np.random.uniform(-1, 1, size=(1, channels))[0]]
        elif method == "shapleycam":
            _hvp_seen.clear()
            out = cam(input_tensor=x, targets=[ClassifierOutputTarget(target)])[0]
            assert len(_hvp_seen) == len(layers), _hvp_seen
            extra["hvp_max"] = max(_hvp_seen)
        else:
            out = cam(input_tensor=x, targets=[ClassifierOutputTarget(target)])[0]
    finally:
        cam.activations_and_grads.release()
    return out, extra


def generate(name, model, layer_mods, fc, inputs, plan):
    """inputs(dtype, run) -> {image: x}; plan: [(method, layers, image)]."""
    start = time.perf_counter()
    model64 = cg.copy_model(model, layer_mods, fc, torch.float64)
    models32 = [(model, layer_mods, fc)] + [cg.perturbed_model(model, layer_mods, fc, r)
                                            for r in range(1, FLOAT32_RUNS)]
    xs64 = inputs(torch.float64, 0)
    xs32 = [inputs(torch.float32, r) for r in range(FLOAT32_RUNS)]
    cases = []
    for index, (method, layers, image) in enumerate(plan):
        t = time.perf_counter()
        x = xs64[image]
        with torch.no_grad():
            target = int(model64[0](x)[0].argmax())
        seed = index
        m64, extra = run(method, model64[0], model64[1], layers, x, target, seed)
        while method == "randomcam" and np.ptp(m64) == 0 and seed < index + 100_000:
            # A draw whose map is all negative (zero after ReLU) could not catch an error.
            seed += 1000
            m64, extra = run(method, model64[0], model64[1], layers, x, target, seed)
        gap = 0.0
        for r in range(FLOAT32_RUNS):
            m32, _ = run(method, models32[r][0], models32[r][1], layers, xs32[r][image],
                         target, seed)
            gap = max(gap, float(np.abs(np.float64(m32) - np.float64(m64)).max()))
        note = ""
        if method == "shapleycam":
            g64, _ = run("gradcam", model64[0], model64[1], layers, x, target, index)
            d = float(np.abs(np.float64(g64) - np.float64(m64)).max())
            note = f" hvp_max {extra['hvp_max']:.3g}, |shapley - gradcam| {d:.3g}"
            if extra["hvp_max"] == 0.0:
                assert d == 0.0, (name, layers, image, d)
        if np.ptp(m64) == 0:
            note += " CONSTANT MAP"
        stem = pathlib.Path(image).stem
        c = {"id": f"{method}/{'+'.join(layers)}/{stem}", "method": method, "layers": layers,
             "image": image, "target": target, "shape": list(m64.shape), "map": cg.flat(m64),
             "float32_gap": gap}
        for k, v in extra.items():
            c[k] = [cg.flat(a) for a in v] if k == "noise" else v
        cases.append(c)
        print(f"  {c['id']:<40} target {target:<4} shape {c['shape']} gap {gap:.2e} "
              f"{time.perf_counter() - t:6.2f}s{note}", file=sys.stderr, flush=True)
    payload = {"script": SCRIPT, "grad_cam": version("grad-cam"),
               "scikit_learn": version("scikit-learn"), "torch": torch.__version__,
               "model": name, "size": 224, "precision": "float64", "float32_runs": FLOAT32_RUNS,
               "cases": cases}
    path = mg.DATA / "goldens" / f"pgc_extra_{name}.json"
    with open(path, "w") as f:
        json.dump(payload, f, separators=(",", ":"))
    print(f"{name}: {len(cases)} cases -> {path.relative_to(mg.ROOT)} "
          f"({path.stat().st_size} bytes), {time.perf_counter() - start:.0f} s")


def photo_inputs(norm, photos):
    def inputs(dtype, run):
        out = {}
        for p in photos:
            x = mg.batch([p], *norm).to(dtype)
            out[p] = cg.perturb(x, run) if run else x
        return out
    return inputs


def zoo(name):
    model, layer_mods, fc, norm = cg.resnet50() if name == "resnet50" else cg.efficientnet_lite0()
    plan = [(m, [layer], p) for layer in layer_mods for m in METHODS for p in PHOTOS]
    generate(name, model, layer_mods, fc, photo_inputs(norm, PHOTOS), plan)


# export_onnx.py fixtures: name -> (layer, methods)
FIXTURES = {
    "efficientnet_b0": ("features.3", ["shapleycam", "finercam"]),
}


def fixture(name):
    layer, methods = FIXTURES[name]
    model = eo.build(name)
    golden = json.loads((mg.DATA / "goldens" / f"onnx_{name}.json").read_text())
    with torch.no_grad():
        logits = model(eo.photos(golden["images"]))
    diff = float((logits - torch.tensor(golden["logits"])).abs().max())
    assert diff <= 1e-4, f"{name} differs from onnx_{name}.json by {diff}"
    print(f"{name}: logits match onnx_{name}.json (max diff {diff:.2g})")
    layer_mods = {layer: dict(model.named_modules())[layer]}
    photos = golden["images"]
    plan = [(m, [layer], p) for m in methods for p in photos]

    def inputs(dtype, run):
        out = {}
        for p in photos:
            x = eo.photos([p]).to(dtype)
            out[p] = cg.perturb(x, run) if run else x
        return out

    generate(name, model, layer_mods, model, inputs, plan)


def main():
    wanted = sys.argv[1:] or ["resnet50", "efficientnet-lite0", *FIXTURES]
    for name in wanted:
        if name in ("resnet50", "efficientnet-lite0"):
            zoo(name)
        elif name in FIXTURES:
            fixture(name)
        else:
            raise SystemExit(f"unknown model {name}")


if __name__ == "__main__":
    main()
