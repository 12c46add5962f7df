#!/usr/bin/env python3
"""Golden guided back-propagation and Guided Grad-CAM maps from pytorch-grad-cam 1.5.7.

    ~/venvs/ref/bin/python tools/reference/guided_goldens.py

writes tests/data/goldens/guided.json, read by crates/whycam-cam/tests/guided_parity.rs. Models
and inputs are those of cam_goldens.py (the seeded-random torchvision ResNet-50 with 2 classes,
and efficientnet-lite0 with its real weights), in float64 so the golden is the exact value. The
input is a 64x64 crop (top 80, left 80) of the normalised 224x224 photo, which keeps the maps
small; the target is the model's top class for the crop.

  * guided-backprop: pytorch-grad-cam's GuidedBackpropReLUModel(model)(x, target), an HxWx3
    gradient; the golden "signed" map is its sum over the colour channels (whycam's map before
    ReLU and scaling).
  * guided-gradcam: GradCAM(model, [layer])(x, [ClassifierOutputTarget(target)])[0] (at the
    input's size) times that gradient, summed over the colour channels (pytorch-grad-cam's
    README: cam_mask * gb).
  * whycam's [0, 1] map is ReLU then (x - min) / (1e-7 + max) of the signed map; the test
    derives it from the golden signed map.

pytorch-grad-cam guides only torch.nn.ReLU modules. EfficientNet-Lite's only rectifier is
ReLU6, which pytorch-grad-cam leaves alone (so its "guided" gradient there is the plain one);
whycam guides ReLU6 too, so for efficientnet-lite0 this script replaces every nn.ReLU6 by
GuidedReLU6 below, pytorch-grad-cam's GuidedBackpropReLU rule with ReLU6's mask
(0 < x < 6), before calling pytorch-grad-cam.
"""

import json
import pathlib
import sys
from importlib.metadata import version

import numpy as np
import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import cam_goldens as cg  # noqa: E402
import make_goldens as mg  # noqa: E402

from pytorch_grad_cam import GradCAM  # noqa: E402
from pytorch_grad_cam.guided_backprop import GuidedBackpropReLUModel  # noqa: E402
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget  # noqa: E402

torch.set_num_threads(2)
CROP = [80, 80, 64]
SCRIPT = "tools/reference/guided_goldens.py"


class GuidedReLU6Function(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.clamp(0, 6)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad.clamp(min=0) * ((x > 0) & (x < 6)).to(grad.dtype)


class GuidedReLU6(torch.nn.Module):
    def forward(self, x):
        return GuidedReLU6Function.apply(x)


def guide_relu6(module):
    for name, child in module.named_children():
        if isinstance(child, torch.nn.ReLU6):
            setattr(module, name, GuidedReLU6())
        else:
            guide_relu6(child)


def flat(a):
    a = np.asarray(a, dtype=np.float64)
    assert np.all(np.isfinite(a))
    return [float(f"{v:.7g}") for v in a.ravel().tolist()]


def cases(name, build, layer, images):
    model, layers, _, norm = build()
    model = model.double().eval()
    if name == "efficientnet-lite0":
        guide_relu6(model)
    layer_module = dict(model.named_modules())[
        {"layer4": "layer4", "features": "features"}[layer]]
    out = []
    for image in images:
        x = mg.batch([image], *norm).double()
        top, left, size = CROP
        x = x[:, :, top:top + size, left:left + size].contiguous()
        with torch.no_grad():
            target = int(model(x)[0].argmax())
        gb = GuidedBackpropReLUModel(model, device="cpu")(x.clone(), target_category=target)
        gb = np.transpose(gb, (2, 0, 1))  # 3 x H x W
        cam = GradCAM(model, [layer_module])
        try:
            grayscale = cam(input_tensor=x, targets=[ClassifierOutputTarget(target)])[0]
        finally:
            cam.activations_and_grads.release()
        for method, signed in [("guided-backprop", gb.sum(0)),
                               ("guided-gradcam", (grayscale[None] * gb).sum(0))]:
            assert np.ptp(signed) > 0, (name, method, image)
            out.append({"model": name, "method": method, "layer": layer, "image": image,
                        "crop": CROP, "target": target, "shape": list(signed.shape),
                        "signed": flat(signed)})
            print(f"  {name} {method} {image}: target {target}, |signed| max "
                  f"{np.abs(signed).max():.3g}", file=sys.stderr)
    return out


def main():
    all_cases = []
    all_cases += cases("resnet50", cg.resnet50, "layer4", ["chelsea.png", "coffee.png"])
    all_cases += cases("efficientnet-lite0", cg.efficientnet_lite0, "features", ["chelsea.png"])
    path = mg.DATA / "goldens" / "guided.json"
    payload = {"script": SCRIPT, "grad_cam": version("grad-cam"), "torch": torch.__version__,
               "precision": "float64", "cases": all_cases}
    path.write_text(json.dumps(payload, separators=(",", ":")))
    print(f"{len(all_cases)} cases -> {path.relative_to(mg.ROOT)} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
