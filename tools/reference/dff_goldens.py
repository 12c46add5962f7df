#!/usr/bin/env python3
"""Golden Deep Feature Factorization (Collins et al., ECCV 2018) of pytorch-grad-cam 1.5.7 for
whycam's parity test crates/whycam-cam/tests/dff_parity.rs.

Regenerate (the venv of cam_goldens.py, which has grad-cam and scikit-learn):

    flock /tmp/torch.lock ~/venvs/ref/bin/python tools/reference/dff_goldens.py

It writes tests/data/goldens/dff.json. Models and photos are cam_goldens.py's: efficientnet-lite0
(real weights) at its default layer "features" (1280 x 7 x 7, the ReLU6 output that the head
pools), and the seeded-random torchvision resnet50 with 2 classes at "layer4" (2048 x 7 x 7).

Reference: pytorch_grad_cam/feature_factorization/deep_feature_factorization.py, `dff()` (run
as it is on the float64 activations) and `DeepFeatureFactorization.__call__` (whose
`computation_on_concepts` is the model's classifier, here the final Linear layer: model.fc for
resnet50, net._fc for efficientnet-lite0, applied to concepts^T). `dff()` transposes the
activations to channels x (batch*h*w), replaces NaN by 0, subtracts each channel's minimum and
runs scikit-learn's NMF(n_components=k, init='random', random_state=0) (solver 'cd', tol 1e-4,
max_iter 200); concepts = W + offset (channels x k), explanations = H reshaped to
batch x k x h x w.

Everything is float64 (model.double(), input.double(), so scikit-learn's NMF runs in float64
too; pytorch-grad-cam as users run it hands NMF float32 activations, which scikit-learn keeps in
float32). A case holds

    id, model, layer, images, k, channels, shape [h, w]
    init       scikit-learn's random init, which whycam replays with its own MT19937 (numpy's
               RandomState(0), legacy Gaussian): "avg" = sqrt(X.mean() / k), and a fingerprint
               of the draws H0 (k x batch*h*w, drawn first) and W0 (channels x k): every
               INIT_STRIDE-th value of each, row-major, and their sums
    n_iter, reconstruction_err   scikit-learn's iteration count and ||X - WH||_F
    concepts   channels x k, row-major
    maps       the raw explanations, batch x k x h x w
    scaled     scale_cam_image per image and concept, at the layer's resolution (no resize;
               DeepFeatureFactorization.__call__ would resize to the input size)
    concept_outputs   k x classes, the classifier on each concept vector (float64)
    legend     per concept the top LEGEND_TOP [class, probability] of softmax(concept_outputs),
               ordered as create_labels_legend orders them (np.argsort(...)[:, ::-1])
    float32_gap   how far float32 pytorch-grad-cam lands from the float64 golden, the largest
               over cam_goldens.py's FLOAT32_RUNS runs (the model and input as they are, then
               perturbed copies), per field: "concepts" and "maps" relative to the golden's
               largest |value|, "scaled" absolute, "concept_outputs" relative to the largest
               |output|; "n_iter" the float32 runs' iteration counts.
Values are stored with 7 significant digits.
"""

import json
import pathlib
import sys
import time
from importlib.metadata import version

import numpy as np
import sklearn
import torch
from sklearn.decomposition import NMF
from sklearn.decomposition._nmf import _initialize_nmf

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import cam_goldens as cg  # noqa: E402
import make_goldens as mg  # noqa: E402
from pytorch_grad_cam.activations_and_gradients import ActivationsAndGradients  # noqa: E402
from pytorch_grad_cam.feature_factorization.deep_feature_factorization import dff  # noqa: E402
from pytorch_grad_cam.utils.image import scale_cam_image  # noqa: E402

SCRIPT = "tools/reference/dff_goldens.py"
INIT_STRIDE = 97
LEGEND_TOP = 3
FLOAT32_RUNS = cg.FLOAT32_RUNS

# (model, layer, images, k)
PLAN = [
    ("efficientnet-lite0", "features", ["chelsea.png"], 4),
    ("efficientnet-lite0", "features", ["chelsea.png", "coffee.png"], 8),
    ("resnet50", "layer4", ["chelsea.png"], 4),
]


def flat(a):
    a = np.asarray(a, dtype=np.float64)
    assert np.all(np.isfinite(a))
    return [float(f"{v:.7g}") for v in a.ravel().tolist()]


def activations(model, layer, x):
    """The layer's activations, hooked as DeepFeatureFactorization hooks them."""
    hooks = ActivationsAndGradients(model, [layer], None)
    try:
        with torch.no_grad():
            hooks(x)
        return hooks.activations[0].cpu().numpy()
    finally:
        hooks.release()


def nmf_matrix(acts):
    """dff()'s NMF input X (channels x batch*h*w, min-shifted) and offsets."""
    b, c, h, w = acts.shape
    x = acts.transpose((1, 0, 2, 3)).copy()
    x[np.isnan(x)] = 0
    x = x.reshape(c, -1)
    offset = x.min(axis=-1)
    return x - offset[:, None], offset


def run(model, layer, fc, x, k):
    """pytorch-grad-cam's dff() on the layer's activations, the classifier on the concepts."""
    acts = activations(model, layer, x)
    concepts, explanations = dff(acts.copy(), n_components=k)
    dtype = next(fc.parameters()).dtype
    with torch.no_grad():
        outputs = fc(torch.from_numpy(concepts.T.astype(np.float64)).to(dtype)).double().numpy()
    return acts, concepts, explanations, outputs


def legend(outputs):
    """Softmax over the classes, then create_labels_legend's order (argsort reversed)."""
    p = torch.softmax(torch.from_numpy(outputs), axis=-1).numpy()
    order = np.argsort(p, axis=1)[:, ::-1][:, :LEGEND_TOP]
    return [[[int(c), float(f"{p[i, c]:.7g}")] for c in row] for i, row in enumerate(order)]


def rel(a, b):
    return float(np.abs(np.asarray(a, np.float64) - b).max() / np.abs(b).max())


def case(name, model, layer_mods, fc, norm, models32, layer, images, k):
    t = time.perf_counter()
    x = mg.batch(images, *norm)
    model64, mods64, fc64 = cg.copy_model(model, layer_mods, fc, torch.float64)
    acts, concepts, explanations, outputs = run(model64, mods64[layer], fc64, x.double(), k)
    b, c, h, w = acts.shape

    # dff()'s NMF once more, to read what it does not return, and its init.
    X, offset = nmf_matrix(acts)
    nmf = NMF(n_components=k, init="random", random_state=0)
    W = nmf.fit_transform(X)
    assert np.array_equal(W + offset[:, None], concepts), "dff() is not NMF(init='random', 0)"
    W0, H0 = _initialize_nmf(X, k, init="random", random_state=0)
    replay = NMF(n_components=k, init="custom")
    assert np.array_equal(replay.fit_transform(X, W=W0.copy(), H=H0.copy()), W), "init replay"

    scaled = np.stack([scale_cam_image(e) for e in explanations])
    # scale_cam_image returns float32; the golden keeps the float64 formula.
    scaled64 = np.stack([[(m - m.min()) / (1e-7 + (m - m.min()).max()) for m in e]
                         for e in explanations])
    assert np.abs(scaled - scaled64).max() < 1e-6

    gap = {"concepts": 0.0, "maps": 0.0, "scaled": 0.0, "concept_outputs": 0.0, "n_iter": []}
    for r, (m32, mods32, fc32) in enumerate(models32):
        x32 = x if r == 0 else cg.perturb(x, r)
        a32, c32, e32, o32 = run(m32, mods32[layer], fc32, x32, k)
        n32 = NMF(n_components=k, init="random", random_state=0)
        n32.fit_transform(nmf_matrix(a32)[0])
        s32 = np.stack([scale_cam_image(e) for e in e32])
        gap["concepts"] = max(gap["concepts"], rel(c32, concepts))
        gap["maps"] = max(gap["maps"], rel(e32, explanations))
        gap["scaled"] = max(gap["scaled"], float(np.abs(s32 - scaled64).max()))
        gap["concept_outputs"] = max(gap["concept_outputs"], rel(o32, outputs))
        gap["n_iter"].append(int(n32.n_iter_))

    out = {
        "id": f"{name}/{layer}/{'+'.join(p.rsplit('.', 1)[0] for p in images)}/k{k}",
        "model": name, "layer": layer, "images": images, "k": k, "channels": c, "shape": [h, w],
        "init": {
            "seed": 0, "avg": float(np.sqrt(X.mean() / k)), "stride": INIT_STRIDE,
            "h0": flat(H0.ravel()[::INIT_STRIDE]), "w0": flat(W0.ravel()[::INIT_STRIDE]),
            "h0_sum": float(H0.sum()), "w0_sum": float(W0.sum()),
        },
        "n_iter": int(nmf.n_iter_), "reconstruction_err": float(nmf.reconstruction_err_),
        "concepts": flat(concepts), "maps": flat(explanations), "scaled": flat(scaled64),
        "concept_outputs": flat(outputs), "legend": legend(outputs), "float32_gap": gap,
    }
    print(f"  {out['id']:<48} n_iter {out['n_iter']:<3} err {out['reconstruction_err']:.4g} "
          f"float32 gap {gap} {time.perf_counter() - t:.1f}s", file=sys.stderr, flush=True)
    return out


def main():
    cases = []
    for name in dict.fromkeys(p[0] for p in PLAN):
        model, layer_mods, fc, norm = cg.resnet50() if name == "resnet50" else cg.efficientnet_lite0()
        models32 = [(model, layer_mods, fc)] + [cg.perturbed_model(model, layer_mods, fc, r)
                                                for r in range(1, FLOAT32_RUNS)]
        for m, layer, images, k in PLAN:
            if m == name:
                cases.append(case(name, model, layer_mods, fc, norm, models32, layer, images, k))
    payload = {"script": SCRIPT, "grad_cam": version("grad-cam"), "sklearn": sklearn.__version__,
               "numpy": np.__version__, "torch": torch.__version__, "precision": "float64",
               "float32_runs": FLOAT32_RUNS, "legend_top": LEGEND_TOP, "cases": cases}
    path = mg.DATA / "goldens" / "dff.json"
    with open(path, "w") as f:
        json.dump(payload, f, separators=(",", ":"))
    print(f"{len(cases)} cases -> {path.relative_to(mg.ROOT)} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
