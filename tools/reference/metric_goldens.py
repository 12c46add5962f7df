#!/usr/bin/env python3
"""Golden faithfulness metrics from torchcam 0.5.0 and pytorch-grad-cam 1.5.7 for whycam-eval.

Regenerate (the venv of cam_goldens.py plus torchcam):

    ~/venvs/ref/bin/pip install grad-cam==1.5.7 torchcam==0.5.0
    ~/venvs/ref/bin/python tools/reference/metric_goldens.py

It writes tests/data/goldens/metrics_efficientnet-lite0.json, read by
crates/whycam-eval/tests/parity.rs. CPU, 2 threads, some minutes (ROAD's sparse solves dominate).

Model, inputs, maps
-------------------
The model is cam_goldens.efficientnet_lite0() (EfficientNet-Lite0 with its real ImageNet weights,
checked against logits_efficientnet-lite0.json), the inputs tests/data/photos224/*.png normalised
as make_goldens.batch does (LITE: (x/255 - 127/255) / (128/255)), one image per call. The target
is the model's argmax on the input. For each photo and each of Grad-CAM and Grad-CAM++
(pytorch-grad-cam 1.5.7, target layer "features" = the output of extract_features, as
cam_goldens.py; the CAM target is ClassifierOutputTarget, the logit) the map given to every metric
is pytorch-grad-cam's own 224x224 output:

    map = s(resize(s(relu(cam_7x7))))        s(a) = (a - min a) / (1e-7 + max(a - min a))

with resize = cv2.resize(float32, (224, 224)), bilinear with half-pixel centres (output pixel i
samples input coordinate (i + 0.5) * 7/224 - 0.5, clamped to the edge pixels). As s is affine and
bilinear weights sum to 1, this is min-max(bilinear(relu(cam_7x7))) up to float32 rounding and
the 1e-7 guards. A full 224x224 map per case would not fit the size budget (50,176 values, some
500 kB each at 7-9 digits), so a case stores: "low_res" (pytorch-grad-cam's map at the layer's
7x7 resolution, exact float32 at 9 digits), "map_sha256" (sha256 of the 224x224 float32 map,
little-endian row-major), "map_samples" ([row, col, value] at 64 fixed positions plus the argmax
and argmin), "map_gap_exact" (max |map - m| where m is the exact definition above computed in
float64 with torch.nn.functional.interpolate(bilinear, align_corners=False) and min-max without
guards, then rounded to float32), and, for the first case only, "map" itself (9 digits).

Scores
------
Every metric scores the softmax probability of the target class (torchcam: logits_fn =
softmax(dim=-1); pytorch-grad-cam: ClassifierOutputSoftmaxTarget). Write p = P(target | x) on the
original input, p(y) the same on a perturbed input y. All perturbations act on the NORMALISED
input x (3x224x224) with the map m (224x224, in [0, 1]) broadcast over channels.

torchcam 0.5.0 ClassificationMetric (Chattopadhay et al. 2018, Grad-CAM++):
    avg_drop = relu(p - p(m * x)) / (p + 1e-7)                      (relative drop, per image)
    increase = 1 if p < p(m * x) else 0                              (strict)
  The peer aggregates by summing both over all images with a non-NaN map and dividing by their
  count (ClassificationMetric.summary: "avg_drop", "conf_increase"); maps with a NaN are skipped.
  Scores are in the model's dtype (float64 here).

torchcam 0.5.0 DeletionInsertionMetric (Petsiuk et al. 2018, RISE) -- it exists in 0.5.0, used
as is with steps=20, baseline None (zeros, in normalised space), batch_size 32:
    order  = argsort(m.flatten(), descending, stable)   (ties keep raster order)
    rank   = position of each pixel in order
    N      = 224*224, step = ceil(N / steps), counts = [0, step, 2 step, ... < N] + [N]
             (N = 50176: step 2509, 21 counts 0, 2509, ..., 47671, 50176)
    fraction_k = float32(counts_k) / N                      (the actual fractions, float32)
    deletion_k  = p(x where rank >= counts_k, else 0)       (deletion_0 = p)
    insertion_k = p(x where rank <  counts_k, else 0)       (insertion_last = p)
    AUC = torch.trapezoid(curve, fractions)  = sum_k (f_{k+1} - f_k) (c_k + c_{k+1}) / 2
  The mask is shared by the three channels. Aggregated as the mean over images ("deletion_auc",
  "insertion_auc"). The golden stores both AUCs and both 21-point curves.

pytorch-grad-cam 1.5.7 metrics/cam_mult_image.py (PerturbationConfidenceMetric on x * m):
    d = float32(p(m * x)) - float32(p)                      (scores cast to float32 first)
    DropInConfidence     = max(-d, 0)          -- ABSOLUTE drop, not divided by p (torchcam's is
                                                  relative with a 1e-7 guard)
    IncreaseInConfidence = float32(d > 0)      -- the same event as torchcam's increase, decided
                                                  on float32-rounded scores
  Both return one value per image; pytorch-grad-cam has no aggregation (its tutorials average).
  (pytorch-grad-cam's docs multiply DropInConfidence by 100 for display; the golden does not.)

pytorch-grad-cam 1.5.7 metrics/road.py (Rong et al. 2022, ROAD), noise 0 (the class default is
0.01; NoisyLinearImputer's default is patched to 0 here), percentiles P = 10, 20, ..., 90:
    MoRF at percentile q: t = np.percentile(m, q) (linear interpolation, computed in float32),
         known = m < t (strict); every other pixel is imputed.
    LeRF at percentile q: the same on 1 - m (float32): t = percentile(1 - m, q),
         known = (1 - m) < t.
    Imputation (noisy linear, per channel, in normalised space): with the 8 neighbours weighted
    1/6 (edge: (0,+-1), (+-1,0)) and 1/12 (diagonal), every imputed pixel i satisfies
        sum_{j in N(i)} w_ij (v_j - v_i) = 0,   N(i) = the neighbours inside the image,
    i.e. v_i = weighted mean of its in-image neighbours, known neighbours entering as constants.
    As a linear system over the imputed pixels (row order = raster order):
        A_ii = -sum_{j in N(i)} w_ij,  A_ij = w_ij (j imputed),  b_i = -sum_{j in N(i), known} w_ij x_j
    solved with scipy.sparse.linalg.spsolve (SuperLU) in float64 for the 3 channels at once; the
    solution is cast to float32, plus noise * randn (0 here). -A is symmetric, weakly diagonally
    dominant and positive definite whenever every connected imputed region touches a known pixel;
    when nothing is known (e.g. a map whose q-th percentile is its minimum, m < t empty) the
    system is singular and spsolve returns NaN.
    score_q = float32(p(imputed)) - float32(p)
    road_morf = mean_q score_q  (AveragerAcrossThresholds: np.mean(np.float32(scores)))
    road_lerf = the same for LeRF
    road_combined = (road_lerf - road_morf) / 2   (ROADCombined's formula; checked against
                                                   ROADCombined on the first case)
  The golden keeps the per-percentile scores too, and for the first case the imputed MoRF image
  at percentile 50 ("road_image"): its 8x8-block means (3x28x28) and 32 imputed pixels.

Precision
---------
Every value is computed with the model and input in float64 (model.double()); the maps are
float32 (pytorch-grad-cam's scale_cam_image returns float32). ROAD is the exception the peer
imposes: its imputer writes the float32 cast of the solution into the input and fails on a float64
one, so ROAD gets the float32 input (the photo's normalised values are float32 anyway) and a
model that casts what it is given to float64; the imputed values are float32, the scores float64
then float32 (pytorch-grad-cam casts every score to float32). Each case also holds "float32_gap":
per metric, |value with the float32 model and input - float64 value| (one float32 run, the same
map; for curves the largest pointwise difference). "peer_seconds" per case times the float32
run of each metric group (the peers as a user runs them: torchcam's update(), pytorch-grad-cam's
metric __call__), torch with 2 threads on a shared 2-core machine, so read them as rough.
"""

import contextlib
import hashlib
import json
import pathlib
import sys
import time
from functools import partial

import numpy as np
import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import cam_goldens as cg  # noqa: E402
import make_goldens as mg  # noqa: E402

from importlib.metadata import version  # noqa: E402
from pytorch_grad_cam import GradCAM, GradCAMPlusPlus  # noqa: E402
from pytorch_grad_cam.metrics import road  # noqa: E402
from pytorch_grad_cam.metrics.cam_mult_image import DropInConfidence, IncreaseInConfidence  # noqa: E402
from pytorch_grad_cam.metrics.road import (  # noqa: E402
    ROADCombined, ROADLeastRelevantFirst, ROADMostRelevantFirst,
)
from pytorch_grad_cam.utils.model_targets import (  # noqa: E402
    ClassifierOutputSoftmaxTarget, ClassifierOutputTarget,
)
from torchcam.metrics import ClassificationMetric, DeletionInsertionMetric  # noqa: E402

SCRIPT = "tools/reference/metric_goldens.py"
METHODS = {"gradcam": GradCAM, "gradcampp": GradCAMPlusPlus}
LAYER = "features"
STEPS = 20
PERCENTILES = [10, 20, 30, 40, 50, 60, 70, 80, 90]
ROAD_NOISE = 0.0
ROAD_IMAGE_PERCENTILE = 50
SAMPLES = 64

# ROAD with noise 0: every ROAD class builds NoisyLinearImputer() with its default noise.
road.NoisyLinearImputer.__init__.__defaults__ = (ROAD_NOISE, road.neighbors_weights)


class GivenMap:
    """A torchcam CAM extractor that returns a given map (N x H x W) instead of computing one, so
    that torchcam's metrics see exactly the map pytorch-grad-cam's metrics see."""

    def __init__(self, model, cams):
        self.model = model
        self.cams = cams

    def __call__(self, class_idx=None, scores=None, normalized=True, **kwargs):
        return [self.cams]

    def fuse_cams(self, cams):
        return cams[0]

    @contextlib.contextmanager
    def _hooks_off(self):
        yield


class RecordingDeletionInsertion(DeletionInsertionMetric):
    """torchcam's DeletionInsertionMetric, keeping the fractions and curves of the last update."""

    def _compute_curves(self, *args, **kwargs):
        self.curves = super()._compute_curves(*args, **kwargs)
        return self.curves


def g9(v):
    return float(f"{float(v):.9g}")


def g7(v):
    return float(f"{float(v):.7g}")


def pgc_maps(method, model, layer, x, target):
    """pytorch-grad-cam's map at the layer's resolution and at the input's (224x224)."""
    out = []
    for low_res in (True, False):
        cam = METHODS[method](model, [layer])
        if low_res:
            cam.get_target_width_height = lambda input_tensor: None
        try:
            out.append(cam(input_tensor=x, targets=[ClassifierOutputTarget(target)])[0])
        finally:
            cam.activations_and_grads.release()
    return out


def exact_map(low_res):
    """min-max(bilinear(low_res)) in float64 (half-pixel centres), rounded to float32."""
    t = torch.from_numpy(np.float64(low_res))[None, None]
    up = torch.nn.functional.interpolate(t, (224, 224), mode="bilinear", align_corners=False)[0, 0]
    up = (up - up.min()) / (up.max() - up.min())
    return up.numpy().astype(np.float32)


def sample_positions():
    g = np.random.default_rng(17)
    return [(int(r), int(c)) for r, c in g.integers(0, 224, size=(SAMPLES, 2))]


def in_dtype(model, dtype):
    """The model as a callable that first casts its input to dtype."""
    return lambda y: model(y.to(dtype))


def metrics(model, x, cam, target, dtype, timings=None):
    """Every metric for one input and map, with the model and input in dtype."""
    model = model.to(dtype)
    x = x.to(dtype)
    m = torch.from_numpy(cam).to(dtype)[None]  # 1 x 224 x 224
    softmax = partial(torch.softmax, dim=-1)
    out = {}

    def timed(name, fn):
        t = time.perf_counter()
        r = fn()
        if timings is not None:
            timings[name] = time.perf_counter() - t
        return r

    def classification():
        metric = ClassificationMetric(GivenMap(model, m), softmax)
        metric.update(x, class_idx=target)
        return metric.summary()

    s = timed("torchcam_avg_drop_increase", classification)
    out["avg_drop"], out["increase"] = s["avg_drop"], s["conf_increase"]

    def deletion_insertion():
        metric = RecordingDeletionInsertion(GivenMap(model, m), softmax, steps=STEPS)
        metric.update(x, class_idx=target)
        return metric

    metric = timed("torchcam_deletion_insertion", deletion_insertion)
    s = metric.summary()
    fractions, deletion, insertion = metric.curves
    out["deletion"], out["insertion"] = s["deletion_auc"], s["insertion_auc"]
    out["fractions"] = fractions.tolist()
    out["deletion_curve"] = deletion[0].tolist()
    out["insertion_curve"] = insertion[0].tolist()

    cams = cam[None]
    targets = [ClassifierOutputSoftmaxTarget(target)]

    def confidence():
        with torch.no_grad():
            return (DropInConfidence()(x, cams, targets, model)[0],
                    IncreaseInConfidence()(x, cams, targets, model)[0])

    out["pgc_drop"], out["pgc_increase"] = timed("pgc_drop_increase", confidence)

    # ROAD's imputer writes a float32 solution into the input, so it takes a float32 input only;
    # the model still evaluates the imputed images in dtype.
    x_road, road_model = x.float(), in_dtype(model, dtype)

    def road_scores():
        # AveragerAcrossThresholds' loop, keeping the per-percentile scores it averages.
        morf = [ROADMostRelevantFirst(q)(x_road, cams, targets, road_model)[0] for q in PERCENTILES]
        lerf = [ROADLeastRelevantFirst(q)(x_road, cams, targets, road_model)[0] for q in PERCENTILES]
        return morf, lerf

    morf, lerf = timed("pgc_road_morf_lerf", road_scores)
    out["road_morf_scores"] = [float(v) for v in morf]
    out["road_lerf_scores"] = [float(v) for v in lerf]
    out["road_morf"] = float(np.mean(np.float32(morf)))
    out["road_lerf"] = float(np.mean(np.float32(lerf)))
    out["road_combined"] = float((np.float32(out["road_lerf"]) - np.float32(out["road_morf"])) / 2)
    return {k: (float(v) if np.isscalar(v) else v) for k, v in out.items()}


def road_image(model, x, cam, target):
    """The MoRF imputed input at ROAD_IMAGE_PERCENTILE: 8x8-block means and a few imputed pixels."""
    _, imputed = ROADMostRelevantFirst(ROAD_IMAGE_PERCENTILE)(
        x.float(), cam[None], [ClassifierOutputSoftmaxTarget(target)], in_dtype(model, x.dtype),
        return_visualization=True)
    imputed = imputed[0].double().numpy()
    threshold = np.percentile(cam, ROAD_IMAGE_PERCENTILE)
    rows, cols = np.nonzero(cam >= threshold)
    pick = np.random.default_rng(5).choice(len(rows), 32, replace=False)
    blocks = imputed.reshape(3, 28, 8, 28, 8).mean(axis=(2, 4))
    return {
        "percentile": ROAD_IMAGE_PERCENTILE,
        "known": int((cam < threshold).sum()),
        "block_means": [g7(v) for v in blocks.ravel()],
        "pixels": [[int(rows[i]), int(cols[i])] + [g7(imputed[c, rows[i], cols[i]]) for c in range(3)]
                   for i in pick],
    }


GAP_KEYS = ["avg_drop", "increase", "deletion", "insertion", "pgc_drop", "pgc_increase",
            "road_morf", "road_lerf", "road_combined"]


def main():
    start = time.perf_counter()
    model32, layers, fc, norm = cg.efficientnet_lite0()
    model64, layers64, _ = cg.copy_model(model32, layers, fc, torch.float64)
    positions = sample_positions()
    cases = []
    for photo in cg.PHOTOS:
        x64 = mg.batch([photo], *norm).double()
        with torch.no_grad():
            probs = torch.softmax(model64(x64)[0], dim=-1)
        target = int(probs.argmax())
        for method in METHODS:
            t0 = time.perf_counter()
            low_res, cam = pgc_maps(method, model64, layers64[LAYER], x64, target)
            assert cam.dtype == np.float32 and cam.shape == (224, 224)
            values = metrics(model64, x64, cam, target, torch.float64)
            timings = {}
            values32 = metrics(model32, x64.float(), cam, target, torch.float32, timings)
            gap = {k: abs(values32[k] - values[k]) for k in GAP_KEYS}
            for k in ("deletion_curve", "insertion_curve"):
                gap[k] = float(np.abs(np.float64(values32[k]) - np.float64(values[k])).max())
            case = {
                "id": f"{method}/{LAYER}/{pathlib.Path(photo).stem}",
                "method": method, "layer": LAYER, "image": photo, "target": target,
                "probability": float(probs[target]),
                "low_res_shape": list(low_res.shape),
                "low_res": [g9(v) for v in low_res.ravel()],
                "map_sha256": hashlib.sha256(cam.astype("<f4").tobytes()).hexdigest(),
                "map_samples": [[r, c, g9(cam[r, c])] for r, c in positions
                                + [np.unravel_index(cam.argmax(), cam.shape),
                                   np.unravel_index(cam.argmin(), cam.shape)]],
                "map_gap_exact": float(np.abs(np.float64(cam) - exact_map(low_res)).max()),
            }
            case["map_samples"] = [[int(r), int(c), v] for r, c, v in case["map_samples"]]
            if not cases:
                case["map"] = [g9(v) for v in cam.ravel()]
                case["road_image"] = road_image(model64, x64, cam, target)
                combined = ROADCombined(PERCENTILES)(x64.float(), cam[None],
                                                     [ClassifierOutputSoftmaxTarget(target)],
                                                     in_dtype(model64, torch.float64))
                assert abs(float(combined[0]) - values["road_combined"]) < 1e-7, \
                    (combined, values["road_combined"])
            case["metrics"] = values
            case["float32_gap"] = gap
            case["peer_seconds"] = timings
            cases.append(case)
            dt = time.perf_counter() - t0
            print(f"  {case['id']:<32} target {target:<4} p {case['probability']:.4f} "
                  f"drop {values['avg_drop']:.4f} inc {values['increase']:.0f} "
                  f"del {values['deletion']:.4f} ins {values['insertion']:.4f} "
                  f"morf {values['road_morf']:.4f} lerf {values['road_lerf']:.4f} "
                  f"map gap {case['map_gap_exact']:.2e} f32 gap {max(gap.values()):.2e} "
                  f"peer {sum(timings.values()):.2f}s ({', '.join(f'{k} {v:.2f}' for k, v in timings.items())}) "
                  f"{dt:.1f}s", file=sys.stderr, flush=True)
    payload = {
        "script": SCRIPT, "torchcam": version("torchcam"), "grad_cam": version("grad-cam"),
        "torch": torch.__version__, "model": "efficientnet-lite0", "size": 224,
        "precision": "float64", "steps": STEPS, "percentiles": PERCENTILES,
        "road_noise": ROAD_NOISE, "score": "softmax", "cases": cases,
        "peer_seconds": {k: sum(c["peer_seconds"][k] for c in cases) / len(cases)
                         for k in cases[0]["peer_seconds"]},
    }
    path = mg.DATA / "goldens" / "metrics_efficientnet-lite0.json"
    with open(path, "w") as f:
        json.dump(payload, f, separators=(",", ":"))
    print(f"{len(cases)} cases -> {path.relative_to(mg.ROOT)} ({path.stat().st_size} bytes), "
          f"{time.perf_counter() - start:.0f} s; mean peer seconds per image and method: "
          f"{payload['peer_seconds']}")


if __name__ == "__main__":
    main()
