#!/usr/bin/env python3
"""Golden pixel attributions from Captum and the RISE authors' code for whycam's parity tests
(crates/whycam-cam/tests/attribution_parity.rs).

Regenerate (the venv of cam_goldens.py plus Captum and scikit-image):

    ~/venvs/ref/bin/pip install captum==0.9.0 scikit-image
    flock /tmp/torch.lock ~/venvs/ref/bin/python tools/reference/attribution_goldens.py \
        [resnet50] [efficientnet-lite0]

It writes tests/data/goldens/attribution_<model>.json for the seeded-random torchvision ResNet-50
and efficientnet-lite0 with its real weights (both from cam_goldens.py, the inputs from
make_goldens.batch). Each file holds {"script", "captum", "torch", "model", "precision", "cases"};
a case is

    {"id", "method", "image", "crop": [top, left, size], "target", "settings": {...},
     "draws": [[...], ...], "shape": [h, w], "signed": [...], "map": [...], "float32_gap"}

Conventions:
  * The input is the normalised 224x224 photo cropped to crop (x[:, :, top:top+size,
    left:left+size]); 32x32 keeps a map at 1,024 values (efficientnet-lite0's static "same"
    padding, computed for 224, agrees with the dynamic one at 32 but not below). target: the
    model's argmax on the crop.
  * signed: the attribution of the reference (computed in float64: model.double(),
    input.double(), so it is the exact value) reduced over the colour channels as whycam does:
    the maximum for Saliency (Captum Saliency(abs=True) gives |gradient| per channel; the paper
    takes the max over channels), the sum for the others (Captum's visualize_image_attr
    sign="all" convention). SmoothGrad reduces after the mean over samples.
  * map: the signed map through pytorch-grad-cam's post-processing as whycam's pipeline does it
    for one layer: relu, then (x - min) / (1e-7 + max(x - min)), twice.
  * Every value is stored at 7 significant digits.
  * settings: whycam's MethodSettings for the case (steps, integration, baseline, samples,
    noise_std, smoothgrad_base, window, stride, grid_cells, keep_probability; absent = default).
  * draws: the random arrays the reference used, in the order whycam draws them, each exactly as
    used (whycam replays them with Noise::replay). To keep the files small the draws are rounded
    before use (the rounded values are what both sides use): Integrated Gradients' noise baseline
    is raw pixels uniform in [0, 1) rounded to 3 decimals (then normalised); SmoothGrad's noise is
    normal with the case's standard deviation rounded to 3 decimals (one array per sample,
    handed to Captum's NoiseTunnel by patching torch.normal); RISE's grid values are
    np.random.rand(N, s, s) rounded to 3 decimals (then "< p1"), followed by the row shifts and
    the column shifts.
  * Integrated Gradients: Captum IntegratedGradients with method gausslegendre / riemann_*;
    baselines: black = -mean/std per channel; blur = torchvision gaussian_blur of the input with
    sigma 5% of the shorter side and kernel 2*ceil(3 sigma)+1; noise = the drawn raw pixels,
    normalised.
  * SmoothGrad: Captum NoiseTunnel(Saliency) or NoiseTunnel(InputXGradient), nt_type
    "smoothgrad"; default standard deviation 15% of the input's range max(x) - min(x).
  * Occlusion: Captum Occlusion, sliding_window_shapes (3, window, window), strides
    (3, stride, stride), baselines 0 (defaults window 16, stride 8).
  * RISE: the authors' generate_masks and forward (github.com/eclique/RISE, explanations.py),
    the score being the target's logit (no softmax, as whycam scores every method), with
    randint's bound cast to int (the authors pass numpy floats).
  * float32_gap: max |signed32 - signed64| / max |signed64| over float32 runs of the same reference
    (same draws): how far float32 itself lands on this problem. As in cam_goldens.py, the
    deterministic methods get FLOAT32_RUNS (4) runs: the model and input as they are, and three
    with the input multiplied by 1 + u * 2^-22 and every weight by 1 + u * 2^-23 (cam_goldens'
    perturb and perturbed_model); the sampling and perturbation methods one. Integrated
    Gradients from a black baseline is ill-conditioned in float32: near alpha = 0 the input is a
    nearly constant image, whose max-pool and ReLU ties float32 rounding breaks either way.
"""

import contextlib
import json
import math
import pathlib
import sys
import time
from importlib.metadata import version

import numpy as np
import torch
from captum.attr import (
    InputXGradient, IntegratedGradients, NoiseTunnel, Occlusion, Saliency,
)
from skimage.transform import resize
from torchvision.transforms.functional import gaussian_blur

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import cam_goldens as cg  # noqa: E402
import make_goldens as mg  # noqa: E402

torch.set_num_threads(2)
SCRIPT = "tools/reference/attribution_goldens.py"
CROP = [96, 96, 32]
FLOAT32_RUNS = cg.FLOAT32_RUNS
DETERMINISTIC = ["saliency", "gradient-input", "integrated-gradients"]
OTHER_CROP = [120, 40, 32]


def case(method, image="chelsea.png", crop=CROP, suffix="", **settings):
    stem = pathlib.Path(image).stem
    return {"id": f"{method}/{stem}{suffix}", "method": method, "image": image, "crop": crop,
            "settings": settings}


def lite_cases():
    # Integrated Gradients from black on the chelsea crop is left out: its 13th Gauss-Legendre node
    # (alpha 0.149) puts one ReLU6 input within float32 rounding of its kink, where whycam's
    # float32 (BatchNorm folded) lands on the other side than float64 and PyTorch's float32: one
    # gradient value moves by 0.12 and the map by 2.4e-4 of its peak, a property of the input,
    # not of the method (every other node agrees to 1e-6).
    return [
        case("saliency"),
        case("gradient-input"),
        case("integrated-gradients", "coffee.png", OTHER_CROP, "/gausslegendre-black"),
        case("integrated-gradients", "coffee.png", OTHER_CROP, "/trapezoid-blur",
             integration="riemann_trapezoid", baseline="blur", steps=20),
        case("integrated-gradients", suffix="/middle-noise", integration="riemann_middle",
             baseline="noise", steps=16),
        case("smoothgrad", samples=2),
        case("smoothgrad", "coffee.png", OTHER_CROP, "/gradient-input", samples=2,
             smoothgrad_base="gradient-input", noise_std=0.3),
        case("occlusion"),
        case("occlusion", suffix="/w5s4", window=5, stride=4),
        case("rise", samples=64),
    ]


def resnet_cases():
    return [
        case("saliency"),
        case("gradient-input"),
        case("integrated-gradients", suffix="/gausslegendre-black"),
        case("integrated-gradients", suffix="/left-black", integration="riemann_left", steps=8),
        case("smoothgrad", samples=2),
        case("occlusion", "coffee.png", OTHER_CROP),
        case("rise", samples=64),
    ]


# ---------------------------------------------------------------- draws


def rng_for(c):
    """A numpy generator seeded by the case id (draws do not depend on the order of cases)."""
    return np.random.default_rng(sum(ord(ch) * 31 ** i for i, ch in enumerate(c["id"])) % 2 ** 32)


@contextlib.contextmanager
def replaced_normal(noise):
    """torch.normal returns `noise` (what Captum's NoiseTunnel adds to the inputs)."""
    original = torch.normal

    def normal(mean, std, *args, **kwargs):
        assert tuple(std.shape) == tuple(noise.shape), (std.shape, noise.shape)
        return noise.to(std.device)

    torch.normal = normal
    try:
        yield
    finally:
        torch.normal = original


# ---------------------------------------------------------------- RISE (authors' code)


def generate_masks(n, s, p1, input_size, seed):
    """eclique/RISE explanations.py RISE.generate_masks, the grid values rounded to 3 decimals
    and the draws returned."""
    np.random.seed(seed)
    cell_size = np.ceil(np.array(input_size) / s)
    up_size = (s + 1) * cell_size
    values = np.round(np.random.rand(n, s, s), 3)
    grid = (values < p1).astype("float32")
    masks = np.empty((n, *input_size))
    xs, ys = [], []
    for i in range(n):
        x = np.random.randint(0, int(cell_size[0]))
        y = np.random.randint(0, int(cell_size[1]))
        xs.append(x)
        ys.append(y)
        masks[i, :, :] = resize(grid[i], up_size, order=1, mode="reflect",
                                anti_aliasing=False)[x:x + input_size[0], y:y + input_size[1]]
    masks = masks.reshape(-1, 1, *input_size)
    return masks, [values.ravel().tolist(), xs, ys]


def rise_forward(model, x, masks, p1, target, gpu_batch=16):
    """eclique/RISE explanations.py RISE.forward for one class (its logit, no softmax)."""
    n = masks.shape[0]
    _, _, h, w = x.size()
    masks = torch.from_numpy(masks).to(x.dtype)
    stack = torch.mul(masks, x.data)
    p = []
    with torch.no_grad():
        for i in range(0, n, gpu_batch):
            p.append(model(stack[i:min(i + gpu_batch, n)]))
    p = torch.cat(p)
    sal = torch.matmul(p.data.transpose(0, 1), masks.view(n, h * w))
    sal = sal.view((p.size(1), h, w))
    sal = sal / n / p1
    return sal[target]


# ---------------------------------------------------------------- running


def reduce_channels(method, attr):
    """[3, h, w] -> [h, w]: max for Saliency, sum otherwise."""
    attr = attr.detach().double()
    return attr.max(0).values if method == "saliency" else attr.sum(0)


def run_case(c, model, norm, dtype, draws=None, run=0):
    """The signed map of case c; draws: the arrays to reuse (None: draw them); run > 0: the input
    perturbed as cam_goldens.perturb does it."""
    x = mg.batch([c["image"]], *norm).double()
    top, left, size = c["crop"]
    x = x[:, :, top:top + size, left:left + size].contiguous()
    with torch.no_grad():
        target = int(model.double()(x)[0].argmax())
    model = model.to(dtype)
    x = x.to(dtype)
    if run:
        x = cg.perturb(x, run)
    s = c["settings"]
    rng = rng_for(c)
    new_draws = []
    mean = torch.tensor(norm[0], dtype=dtype).view(1, 3, 1, 1)
    std = torch.tensor(norm[1], dtype=dtype).view(1, 3, 1, 1)
    m = c["method"]
    if m == "saliency":
        attr = Saliency(model).attribute(x, target=target, abs=True)
    elif m == "gradient-input":
        attr = InputXGradient(model).attribute(x, target=target)
    elif m == "integrated-gradients":
        baseline = s.get("baseline", "black")
        if baseline == "black":
            base = (-mean / std).expand_as(x).contiguous()
        elif baseline == "blur":
            sigma = 0.05 * min(x.shape[2], x.shape[3])
            k = 2 * math.ceil(3 * sigma) + 1
            base = gaussian_blur(x, [k, k], [sigma, sigma])
        else:
            raw = draws[0] if draws else np.round(rng.random(x.shape[1:]), 3).ravel().tolist()
            new_draws.append(raw)
            base = (torch.tensor(raw, dtype=dtype).view(x.shape) - mean) / std
        attr = IntegratedGradients(model).attribute(
            x, baselines=base, target=target, n_steps=s.get("steps", 50),
            method=s.get("integration", "gausslegendre"))
    elif m == "smoothgrad":
        n = s.get("samples", 50)
        sd = s.get("noise_std", 0.15 * float(x.max() - x.min()))
        if draws:
            noise = draws
        else:
            noise = [np.round(rng.normal(0, sd, x.shape[1:]), 3).ravel().tolist() for _ in range(n)]
        new_draws = noise
        noise_t = torch.tensor(noise, dtype=dtype).view((n,) + tuple(x.shape[1:]))
        base = InputXGradient(model) if s.get("smoothgrad_base") == "gradient-input" else Saliency(model)
        with replaced_normal(noise_t):
            attr = NoiseTunnel(base).attribute(x, nt_type="smoothgrad", nt_samples=n, stdevs=sd,
                                               target=target)
        m = "gradient-input" if s.get("smoothgrad_base") == "gradient-input" else "saliency"
    elif m == "occlusion":
        w, st = s.get("window", 16), s.get("stride", 8)
        attr = Occlusion(model).attribute(x, sliding_window_shapes=(3, w, w), strides=(3, st, st),
                                          baselines=0, target=target)
    elif m == "rise":
        n, cells, p1 = s.get("samples", 2000), s.get("grid_cells", 7), s.get("keep_probability", 0.5)
        seed = int(rng.integers(2 ** 31))
        masks, drawn = generate_masks(n, cells, p1, (size, size), seed)
        if draws:
            assert drawn == draws
        new_draws = drawn
        sal = rise_forward(model, x, masks, p1, target)
        return target, sal.detach().double(), new_draws
    else:
        raise SystemExit(f"unknown method {m}")
    return target, reduce_channels(m, attr[0]), new_draws


def scale(a):
    a = np.maximum(a, 0)
    a = a - a.min()
    return a / (1e-7 + a.max())


def flat(a):
    a = np.asarray(a, dtype=np.float64)
    assert np.all(np.isfinite(a))
    return [float(f"{v:.7g}") for v in a.ravel().tolist()]


def generate(name, build, cases):
    start = time.perf_counter()
    model, layer_mods, fc, norm = build()
    model = model.eval()
    perturbed = [cg.perturbed_model(model, layer_mods, fc, run)[0] for run in range(1, FLOAT32_RUNS)]
    out = []
    for c in cases:
        t = time.perf_counter()
        target, signed, draws = run_case(c, model, norm, torch.float64)
        signed = signed.numpy()
        peak = float(np.abs(signed).max())
        assert peak > 0, c["id"]
        gap = 0.0
        runs = FLOAT32_RUNS if c["method"] in DETERMINISTIC else 1
        for run in range(runs):
            m32 = model if run == 0 else perturbed[run - 1]
            target32, signed32, _ = run_case(c, m32, norm, torch.float32, draws, run)
            assert target32 == target, (c["id"], run)
            gap = max(gap, float(np.abs(signed32.numpy() - signed).max()) / peak)
        model = model.double()
        r = dict(c)
        r["target"] = target
        r["draws"] = draws
        r["shape"] = list(signed.shape)
        r["signed"] = flat(signed)
        r["map"] = flat(scale(scale(signed)))
        r["float32_gap"] = gap
        out.append(r)
        print(f"  {r['id']:<45} target {target:<4} peak {peak:.3e} "
              f"float32 gap {r['float32_gap']:.2e} {time.perf_counter() - t:6.1f}s",
              file=sys.stderr, flush=True)
    payload = {"script": SCRIPT, "captum": version("captum"), "torch": torch.__version__,
               "scikit_image": version("scikit-image"), "model": name, "precision": "float64",
               "cases": out}
    path = mg.DATA / "goldens" / f"attribution_{name}.json"
    with open(path, "w") as f:
        json.dump(payload, f, separators=(",", ":"))
    print(f"{name}: {len(out)} cases -> {path.relative_to(mg.ROOT)} ({path.stat().st_size} bytes), "
          f"{time.perf_counter() - start:.0f} s")


def main():
    wanted = sys.argv[1:] or ["resnet50", "efficientnet-lite0"]
    for name in wanted:
        if name == "resnet50":
            generate(name, cg.resnet50, resnet_cases())
        elif name == "efficientnet-lite0":
            generate(name, cg.efficientnet_lite0, lite_cases())
        else:
            raise SystemExit(f"unknown model {name}")


if __name__ == "__main__":
    main()
