#!/usr/bin/env python3
"""Golden FullGrad maps from pytorch-grad-cam 1.5.7 (`fullgrad_cam.py`).

    flock /tmp/torch.lock ~/venvs/ref/bin/python tools/reference/fullgrad_goldens.py

writes tests/data/goldens/fullgrad.json, read by crates/whycam-cam/tests/fullgrad_parity.rs.
Models and inputs are those of cam_goldens.py (the seeded-random torchvision ResNet-50 with 2
classes, and efficientnet-lite0 with its real weights), in float64 so the golden is the exact
value (pytorch-grad-cam's scale_cam_image rounds each layer's map to float32, about 1e-7 of it).
The input is a 64x64 crop (top 80, left 80) of the normalised 224x224 photo, which keeps the
maps small; the target is the model's top class for the crop, and for ResNet-50 also the other
class.

  * map: FullGrad(model, [])(x, [ClassifierOutputTarget(target)])[0], pytorch-grad-cam's own
    output at the input's resolution: the input term |dS/dx * x| and every Conv2d-with-bias and
    BatchNorm2d term |b * dS/dz|, each channel scaled by scale_cam_image and resized with
    cv2.resize, summed, then scaled once more.
  * layers: how many biased layers pytorch-grad-cam found (every BatchNorm2d of these two
    networks; their convolutions have no bias).
  * The ONNX path: the seeded-random torchvision EfficientNet-B0 of export_onnx.py, whose
    exports tests/data/onnx/efficientnet_b0.{torchscript,dynamo}.onnx the Rust test loads (the
    exporters fold each BatchNorm into its convolution's bias; the squeeze-excitation 1x1
    convolutions have biases of their own). Its graph has a fixed 224x224 input, so the case
    runs on the whole photo and stores every 4th row and column of the map ("stride": 4).

Each case also holds "float32_gap", cam_goldens.py's measure of the problem's conditioning in
float32: the largest distance from the float64 map over FLOAT32_RUNS float32 runs of PyTorch
(the model and input as they are, then the input and every weight perturbed by 2^-22 and 2^-23
of themselves; cam_goldens.perturb and perturbed_model). FullGrad scales every channel of every
layer to [0, 1) on its own, so a channel whose |b * gradient| barely varies has its float32
rounding noise stretched to the whole range.

torchvision's ResNet applies its ReLUs in place right after the BatchNorms whose outputs
pytorch-grad-cam hooks. To be sure that in-place modification does not change the gradient the
hook sees, every case is also computed with each module's `inplace` turned off, and the two
maps must agree to 1e-12.
"""

import copy
import json
import pathlib
import sys
from importlib.metadata import version

import numpy as np
import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import cam_goldens as cg  # noqa: E402
import export_onnx as eo  # noqa: E402
import make_goldens as mg  # noqa: E402

from pytorch_grad_cam import FullGrad  # noqa: E402
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget  # noqa: E402

torch.set_num_threads(2)
CROP = [80, 80, 64]
FLOAT32_RUNS = 3
SCRIPT = "tools/reference/fullgrad_goldens.py"


def flat(a):
    a = np.asarray(a, dtype=np.float64)
    assert np.all(np.isfinite(a))
    return [float(f"{v:.7g}") for v in a.ravel().tolist()]


def set_inplace(model, value):
    for m in model.modules():
        if hasattr(m, "inplace"):
            m.inplace = value


def fullgrad(model, x, target):
    cam = FullGrad(model, [])
    try:
        result = cam(input_tensor=x, targets=[ClassifierOutputTarget(target)])[0]
        layers = len(cam.bias_data)
    finally:
        cam.activations_and_grads.release()
    return np.float64(result), layers


def cases(name, build, images, other, crop=CROP, stride=1):
    model, _, _, norm = build()
    model = model.double().eval()
    out = []
    for image in images:
        x = mg.batch([image], *norm).double()
        if crop is not None:
            top, left, size = crop
            x = x[:, :, top:top + size, left:left + size]
        x = x.contiguous()
        with torch.no_grad():
            top_class = int(model(x)[0].argmax())
        targets = [top_class] + ([1 - top_class] if other else [])
        for target in targets:
            set_inplace(model, True)
            result, layers = fullgrad(model, x, target)
            set_inplace(model, False)
            plain, _ = fullgrad(model, x, target)
            set_inplace(model, True)
            gap = float(np.abs(result - plain).max())
            assert gap < 1e-12, (name, image, target, gap)
            assert np.ptp(result) > 0, (name, image, target)
            gap = 0.0
            for run in range(FLOAT32_RUNS):
                if run == 0:
                    model32, x32 = copy.deepcopy(model).float(), x.float()
                else:
                    model32 = cg.perturbed_model(model, {}, model, run)[0]
                    x32 = cg.perturb(x.float(), run)
                r32, _ = fullgrad(model32, x32, target)
                gap = max(gap, float(np.abs(r32 - result).max()))
            out.append({"model": name, "image": image, "crop": crop, "target": target,
                        "layers": layers, "float32_gap": gap, "shape": list(result.shape),
                        "stride": stride,
                        "map": flat(result[::stride, ::stride])})
            print(f"  {name} {image} target {target}: {layers} biased layers, float32 gap "
                  f"{gap:.2e}", file=sys.stderr)
    return out


def main():
    all_cases = []
    all_cases += cases("resnet50", cg.resnet50, ["chelsea.png", "coffee.png"], other=True)
    all_cases += cases("efficientnet-lite0", cg.efficientnet_lite0,
                       ["chelsea.png", "astronaut.png"], other=False)
    all_cases += cases("efficientnet_b0", lambda: (eo.build("efficientnet_b0"), None, None,
                                                   mg.IMAGENET),
                       ["chelsea.png"], other=False, crop=None, stride=4)
    path = mg.DATA / "goldens" / "fullgrad.json"
    payload = {"script": SCRIPT, "grad_cam": version("grad-cam"), "torch": torch.__version__,
               "precision": "float64", "cases": all_cases}
    path.write_text(json.dumps(payload, separators=(",", ":")))
    print(f"{len(all_cases)} cases -> {path.relative_to(mg.ROOT)} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
