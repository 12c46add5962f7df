#!/usr/bin/env python3
"""A small seeded-random ViT-B/16-shaped classifier exported to ONNX, and golden
pytorch-grad-cam 1.5.7 maps at its token layers, for whycam's vision-transformer path.

Regenerate (the venv of export_onnx.py):

    ~/venvs/ref/bin/python tools/reference/vit_goldens.py [--no-cam] [--only MODEL]

(CPU, 2 threads, about a minute.) It writes tests/data/onnx/<model>.<exporter>.onnx and
tests/data/goldens/onnx_<model>.json for vit_tiny, deit_tiny_distilled and swin_tiny, which
crates/whycam-cam/tests/onnx_vit.rs and tests/onnx_vit_cli.rs read.

Model vit_tiny: torchvision VisionTransformer(image_size=224, patch_size=16, num_layers=2, num_heads=2,
hidden_dim=64, mlp_dim=128, num_classes=10): ViT-B/16's topology (a 16x16/16 patch Conv, a
class token, learned position embeddings, pre-norm encoder blocks of nn.MultiheadAttention and a
GELU MLP, a final LayerNorm, the class token's head) at 1/12 width and 2 blocks, so 224x224
inputs give 14x14 patches plus the class token: tokens [batch, 197, 64]. Weights:
torch.manual_seed(SEED), torchvision's initialisation, then class_token ~ N(0, 1),
pos_embedding ~ N(0, 0.5^2), every LayerNorm weight ~ U(0.5, 1.5) and bias ~ N(0, 0.1^2), and the
head (zero at construction) ~ N(0, (HEAD_GAIN / 8)^2) with bias N(0, 0.1^2), so the logits spread
over a few units.

Model deit_tiny_distilled: timm 1.0 VisionTransformerDistilled(img_size=224, patch_size=16,
embed_dim=64, depth=1, num_heads=2, mlp_ratio=2, num_classes=10): DeiT's class and distillation
tokens, so its tokens are [batch, 2 + 196, 64]: 198 is neither a square plus one nor a square,
and whycam refuses its token layers until --tokens-grid 14x14 says the grid (the two leading
tokens are then dropped). Weights as vit_tiny's (cls_token, dist_token ~ N(0, 1), pos_embed ~
N(0, 0.5^2), LayerNorms, both heads ~ N(0, (HEAD_GAIN / 8)^2)); torch.manual_seed(SEED + 1).
Its reshape_transform drops two tokens (tensor[:, 2:, :]).

Model swin_tiny: torchvision SwinTransformer(patch_size=[4, 4], embed_dim=16, depths=[2, 2],
num_heads=[1, 2], window_size=[7, 7], num_classes=10): Swin-T's topology (4x4 patches, shifted
7x7 windows with their attention mask and relative position bias, patch merging) in 2 stages of
2 blocks, width 16 and 32. Its layers are channels last, [batch, h, w, C] (56x56 then 28x28);
its reshape_transform is tensor.permute(0, 3, 1, 2). Weights: torch.manual_seed(SEED + 2),
torchvision's initialisation, LayerNorms as above, head ~ N(0, (HEAD_GAIN / sqrt(32))^2).

ONNX files (weights inside):

  <model>.torchscript.onnx  torch.onnx.export(dynamo=False, opset_version=17, input_names
                            ["input"], output_names ["logits"], dynamic_axes batch): input
                            ["batch", 3, 224, 224]
  <model>.dynamo.onnx       (vit_tiny, swin_tiny) torch.onnx.export(dynamo=True,
                            opset_version=18, same names, model_proto saved with
                            onnx.save_model): vit_tiny with dynamic_shapes batch, swin_tiny with
                            a fixed batch of 1 (torch.export fails on torchvision's Swin with a
                            dynamic batch: "Invalid ranges [2:1]")

Each is checked with onnx.checker and run with onnxruntime on the golden images against the
float32 model (logits and the case layers' token activations within 1e-4 of their scale).

Goldens, tests/data/goldens/onnx_<model>.json, in the layout of export_onnx.py's
onnx_<model>.json (script, versions, model, seed, files, images, logits in float64, layers,
cases), plus "grid": [14, 14], "tokens" (197 or 198), "prefix" (1 or 2; all three null for the
channels-last swin_tiny) and "tokens_grid" (null, or [14, 14]: what whycam must be given).
Layers of vit_tiny:

  "last":   encoder.layers.encoder_layer_1.ln_1  the last block's first LayerNorm, the layer
            pytorch-grad-cam's ViT tutorial targets (blocks[-1].norm1); whycam's default here
  "block":  encoder.layers.encoder_layer_0        the first block's output (the second block's
            input: a residual sum, read by a LayerNorm and by the next residual sum)
  "mlp":    encoder.layers.encoder_layer_0.mlp    the first block's MLP output (the residual
            branch before the sum)

of deit_tiny_distilled "last": blocks.0.norm1; of swin_tiny "last": features.3.1.norm1 (the
last block's norm1, as pytorch-grad-cam's Swin tutorial targets layers[-1].blocks[-1].norm1),
"block": features.1.1 (the first stage's shifted-window block output, 56x56), "norm": norm (the
final LayerNorm, channels last, before the permute and pooling).

Cases: gradcam, gradcampp, xgradcam, layercam, hirescam, eigencam, scorecam and ablationcam at
each layer for image 0, and gradcam at each layer for image 1; target = argmax of the float64
logits. Not HiResCAM at vit_tiny's "block": every path from a block output reaches the logits through a
LayerNorm, which is invariant to scaling a token's channel vector, so sum_k grad_k A_k ~ 0 at
each token and the map is rounding noise (float32 gap 0.25; export_onnx.py notes the same of
ConvNeXt's stage outputs). Conventions as in cam_goldens.py and export_onnx.py:

  * map: pytorch-grad-cam's output for [ClassifierOutputTarget(target)] with
    reshape_transform = the tutorial's (tensor[:, 1:, :].reshape(b, 14, 14, c), then channels
    first; tensor[:, 2:, :] for DeiT), at the layer resolution (get_target_width_height patched to return None: relu +
    min-max scaling, twice), computed in float64 (model.double(), input.double()); activations
    stored as clones (export_onnx.py's save_activation_clone).
  * eigencam cases also hold "flipped_map" (the negated projection; either sign matches).
  * ablationcam: the class token is not part of the map. whycam ablates a channel over the
    patch tokens (the map) and resumes with the traced class token; its ablated value is 0 if
    the map's minimum is 0, else that minimum - 1e7, the same for every channel. The golden
    uses PatchAblationLayerVit, pytorch-grad-cam's AblationLayerVit doing exactly that. The
    stock AblationLayerVit (the tutorial's) also ablates the class token's channel, and takes
    the minimum of a batch it has partly ablated already (and of the class token); its map is
    stored as "stock_map", with "stock_distance" = max |stock_map - map|, for information only.
  * float32_gap: max |map32 - map64| over FLOAT32_RUNS float32 runs (the model and input as they
    are; input times 1 + u * 2^-22 on a copy whose weights are times 1 + u * 2^-23).
"""

import argparse
import copy
import json
import pathlib
import sys
import time
import types
from importlib.metadata import version

import numpy as np
import onnx
import torch
import torchvision
from torch import nn

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import make_goldens as mg  # noqa: E402

import pytorch_grad_cam  # noqa: E402
from pytorch_grad_cam import (  # noqa: E402
    AblationCAM, EigenCAM, GradCAM, GradCAMPlusPlus, HiResCAM, LayerCAM, ScoreCAM, XGradCAM,
)
from pytorch_grad_cam.ablation_layer import AblationLayerVit  # noqa: E402
from pytorch_grad_cam.activations_and_gradients import ActivationsAndGradients  # noqa: E402
from pytorch_grad_cam.utils import svd_on_activations  # noqa: E402
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget  # noqa: E402

try:
    import onnxruntime as ort
except ImportError:  # optional
    ort = None

torch.set_num_threads(2)
for _mod in (pytorch_grad_cam.score_cam, pytorch_grad_cam.ablation_cam):
    _mod.tqdm = types.SimpleNamespace(tqdm=lambda it, *a, **k: it)

SCRIPT = "tools/reference/vit_goldens.py"
SEED = 18
HEAD_GAIN = 4.0
GRID = 14
IMAGES = ["chelsea.png", "coffee.png"]
ONNX_DIR = mg.DATA / "onnx"
FLOAT32_RUNS = 2
PERTURBATION = 2.0 ** -22
WEIGHT_PERTURBATION = 2.0 ** -23
ABLATION_VALUE = 1e7


def save_activation_clone(self, module, input, output):
    activation = output
    if self.reshape_transform is not None:
        activation = self.reshape_transform(activation)
    self.activations.append(activation.detach().cpu().clone())


ActivationsAndGradients.save_activation = save_activation_clone


def reshape_transform(prefix):
    """pytorch-grad-cam's ViT tutorial: drop the prefix (class) tokens, tokens to a
    channels-first map; for channels-last layers (prefix None) channels first."""
    if prefix is None:
        return lambda tensor: tensor.permute(0, 3, 1, 2)

    def transform(tensor, height=GRID, width=GRID):
        result = tensor[:, prefix:, :].reshape(tensor.size(0), height, width, tensor.size(2))
        return result.transpose(2, 3).transpose(1, 2)
    return transform


def patch_ablation_layer(prefix):
    if prefix is None:
        return ChannelsLastAblationLayer()

    class PatchAblationLayerVit(AblationLayerVit):
        """AblationLayerVit ablating a channel over the patch tokens only, with the value whycam
        uses: 0 if the image's patch tokens' minimum is 0, else that minimum - 1e7 (see the
        docstring)."""

        def __call__(self, x):
            output = self.activations
            low = torch.min(output[0, prefix:, :])
            value = 0.0 if low == 0 else low - ABLATION_VALUE
            for i in range(output.size(0)):
                output[i, prefix:, self.indices[i]] = value
            return output
    return PatchAblationLayerVit()


class ChannelsLastAblationLayer(AblationLayerVit):
    """AblationLayerVit on [N, h, w, C] (it transposes axes 1 and 3, so it indexes channels),
    with whycam's value: 0 if the image's minimum is 0, else that minimum - 1e7."""

    def __call__(self, x):
        output = self.activations
        low = torch.min(output[0])
        value = 0.0 if low == 0 else low - ABLATION_VALUE
        for i in range(output.size(0)):
            output[i, ..., self.indices[i]] = value
        return output


def randomise_norms(model):
    for m in model.modules():
        if isinstance(m, nn.LayerNorm):
            m.weight.uniform_(0.5, 1.5)
            m.bias.normal_(0, 0.1)


def vit_tiny():
    torch.manual_seed(SEED)
    model = torchvision.models.VisionTransformer(
        image_size=224, patch_size=16, num_layers=2, num_heads=2, hidden_dim=64, mlp_dim=128,
        num_classes=10).eval()
    with torch.no_grad():
        model.class_token.normal_(0, 1)
        model.encoder.pos_embedding.normal_(0, 0.5)
        randomise_norms(model)
        model.heads.head.weight.normal_(0, HEAD_GAIN / 8)
        model.heads.head.bias.normal_(0, 0.1)
    return model


def deit_tiny_distilled():
    from timm.models.deit import VisionTransformerDistilled

    torch.manual_seed(SEED + 1)
    model = VisionTransformerDistilled(img_size=224, patch_size=16, embed_dim=64, depth=1,
                                       num_heads=2, mlp_ratio=2.0, num_classes=10).eval()
    with torch.no_grad():
        model.cls_token.normal_(0, 1)
        model.dist_token.normal_(0, 1)
        model.pos_embed.normal_(0, 0.5)
        randomise_norms(model)
        for head in (model.head, model.head_dist):
            head.weight.normal_(0, HEAD_GAIN / 8)
            head.bias.normal_(0, 0.1)
    return model


def swin_tiny():
    from torchvision.models.swin_transformer import SwinTransformer

    torch.manual_seed(SEED + 2)
    model = SwinTransformer(patch_size=[4, 4], embed_dim=16, depths=[2, 2], num_heads=[1, 2],
                            window_size=[7, 7], num_classes=10).eval()
    with torch.no_grad():
        randomise_norms(model)
        model.head.weight.normal_(0, HEAD_GAIN / 32 ** 0.5)
        model.head.bias.normal_(0, 0.1)
    return model


# name: (builder, prefix tokens (None: channels last), [(exporter, dynamic batch)], layers by
# role, whether whycam needs --tokens-grid)
MODELS = {
    "vit_tiny": (vit_tiny, 1, [("torchscript", True), ("dynamo", True)],
                 {"last": "encoder.layers.encoder_layer_1.ln_1",
                  "block": "encoder.layers.encoder_layer_0",
                  "mlp": "encoder.layers.encoder_layer_0.mlp"}, False),
    "deit_tiny_distilled": (deit_tiny_distilled, 2, [("torchscript", True)],
                            {"last": "blocks.0.norm1"}, True),
    "swin_tiny": (swin_tiny, None, [("torchscript", True), ("dynamo", False)],
                  {"last": "features.3.1.norm1", "block": "features.1.1", "norm": "norm"},
                  False),
}
# Ill-conditioned (see the docstring).
SKIPPED = {("vit_tiny", "hirescam", "block")}


def photos(names):
    return mg.batch(names, *mg.IMAGENET).contiguous()


# ---------------------------------------------------------------- export


def export(model, name, exporter, dynamic, x):
    path = ONNX_DIR / f"{name}.{exporter}.onnx"
    if not dynamic:
        x = x[:1]
    if exporter == "torchscript":
        torch.onnx.export(model, (x,), str(path), dynamo=False, opset_version=17,
                          input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
        opset = 17
    else:
        shapes = ({0: torch.export.Dim("batch", min=1, max=1024)},) if dynamic else None
        program = torch.onnx.export(model, (x,), dynamo=True, opset_version=18,
                                    input_names=["input"], output_names=["logits"],
                                    dynamic_shapes=shapes, external_data=False)
        onnx.save_model(program.model_proto, str(path))
        opset = 18
    onnx.checker.check_model(str(path))
    proto = onnx.load(str(path))
    ops = sorted({n.op_type for n in proto.graph.node})
    print(f"  {path.relative_to(mg.DATA)}: {path.stat().st_size} bytes, opset {opset}, "
          f"{len(proto.graph.node)} nodes\n    ops: {' '.join(ops)}")
    return path, proto, opset


def meta(node):
    return {p.key: p.value for p in node.metadata_props}


def ts_scope(layer):
    parts = []
    for p in layer.split("."):
        parts.append(f"{parts[-1]}.{p}" if p.isdigit() and parts else p)
    return "/" + "/".join(parts)


def in_layer(node, exporter, layer):
    if exporter == "torchscript":
        return node.name.startswith(ts_scope(layer) + "/")
    scopes = meta(node).get("pkg.torch.onnx.name_scopes")
    return scopes is not None and repr(layer) in scopes[1:-1].split(", ")


def layer_output(proto, exporter, layer):
    nodes = [n for n in proto.graph.node if in_layer(n, exporter, layer)]
    assert nodes, f"no {exporter} node in {layer}"
    return nodes[-1].output[0]


def torch_activations(model, x, layers):
    saved = {}
    mods = dict(model.named_modules())
    hooks = [mods[l].register_forward_hook(
        lambda m, i, o, l=l: saved.__setitem__(l, o.detach().clone())) for l in layers]
    try:
        with torch.no_grad():
            logits = model(x).numpy()
    finally:
        for h in hooks:
            h.remove()
    return logits, {l: saved[l].numpy() for l in layers}


def export_all(name, model, x):
    _, _, exporters, layers, _ = MODELS[name]
    files = []
    ref, acts = torch_activations(model, x, list(layers.values()))
    scale = max(1.0, float(np.abs(ref).max()))
    for exporter, dynamic in exporters:
        path, proto, opset = export(model, name, exporter, dynamic, x)
        tensors = {l: layer_output(proto, exporter, l) for l in layers.values()}
        files.append({"file": path.relative_to(mg.DATA).as_posix(), "exporter": exporter,
                      "opset": opset, "dynamic_batch": dynamic,
                      "input_shape": ["batch" if dynamic else 1, 3, 224, 224],
                      "activations": tensors})
        if ort is not None:
            for tensor in tensors.values():
                proto.graph.output.append(onnx.ValueInfoProto(name=tensor))
            sess = ort.InferenceSession(proto.SerializeToString(),
                                        providers=["CPUExecutionProvider"])
            xs = [x] if dynamic else [x[i:i + 1] for i in range(len(x))]
            runs = [sess.run(None, {sess.get_inputs()[0].name: xi.numpy()}) for xi in xs]
            out, *outs = [np.concatenate(o) for o in zip(*runs)]
            diff = float(np.abs(out - ref).max())
            print(f"    onnxruntime vs torch float32: logits max diff {diff:.3g} "
                  f"(scale {scale:.3g})")
            assert diff <= 1e-4 * scale, (path, diff)
            for (l, t), o in zip(tensors.items(), outs):
                d = float(np.abs(o - acts[l]).max()) / max(1.0, float(np.abs(acts[l]).max()))
                print(f"    activation {l} = {t!r} {list(o.shape)}: max rel diff {d:.2g}")
                assert o.shape == acts[l].shape and d <= 1e-4, (path, l, o.shape, d)
    return files


# ---------------------------------------------------------------- CAM


METHODS = {"gradcam": GradCAM, "gradcampp": GradCAMPlusPlus, "xgradcam": XGradCAM,
           "layercam": LayerCAM, "hirescam": HiResCAM, "eigencam": EigenCAM,
           "scorecam": ScoreCAM, "ablationcam": AblationCAM}


def uniform(shape, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(shape, generator=g, dtype=torch.float64) * 2 - 1


def perturbed(model, run):
    m = copy.deepcopy(model).float().eval()
    with torch.no_grad():
        for i, (_, t) in enumerate(sorted(m.state_dict(keep_vars=True).items())):
            if t.is_floating_point():
                u = uniform(t.shape, 1_000_000 * run + i)
                t.copy_((t.double() * (1 + u * WEIGHT_PERTURBATION)).to(t.dtype))
    return m


def negated_projection():
    """Patch every pytorch-grad-cam module's get_2d_projection to return its negation; returns
    the undo function."""
    original = svd_on_activations.get_2d_projection
    patched = [m for name, m in list(sys.modules.items())
               if name.startswith("pytorch_grad_cam") and m is not None
               and getattr(m, "get_2d_projection", None) is original]
    for m in patched:
        m.get_2d_projection = lambda a: -original(a)

    def undo():
        for m in patched:
            m.get_2d_projection = original
    return undo


def cam_map(method, model, layer, x, target, prefix, ablation_layer=None):
    kwargs = {"reshape_transform": reshape_transform(prefix)}
    if method == "ablationcam":
        kwargs["ablation_layer"] = ablation_layer or patch_ablation_layer(prefix)
    cam = METHODS[method](model, [dict(model.named_modules())[layer]], **kwargs)
    cam.get_target_width_height = lambda input_tensor: None
    try:
        return cam(input_tensor=x, targets=[ClassifierOutputTarget(target)])[0]
    finally:
        cam.activations_and_grads.release()


def flat(a):
    a = np.asarray(a, dtype=np.float32)
    assert np.all(np.isfinite(a))
    return [float(f"{v:.7g}") for v in a.ravel().tolist()]


def goldens(name, model, x, files, t0):
    _, prefix, _, layers, needs_grid = MODELS[name]
    model64 = copy.deepcopy(model).double().eval()
    x64 = x.double()
    with torch.no_grad():
        logits64 = model64(x64)
        noise = float((model(x).double() - logits64).abs().max())
    targets = logits64.argmax(1).tolist()
    top2 = logits64.topk(2, 1).values
    margin = float((top2[:, 0] - top2[:, 1]).min())
    print(f"  logits {logits64.min():.4g}..{logits64.max():.4g}, targets {targets}, "
          f"top-2 margin {margin:.3g}, float32 noise {noise:.3g}")
    models32 = [model] + [perturbed(model, run) for run in range(1, FLOAT32_RUNS)]
    xs32 = [x] + [(x64 * (1 + uniform(x.shape, run) * PERTURBATION)).float()
                  for run in range(1, FLOAT32_RUNS)]
    plan = [(m, role, 0) for role in layers for m in METHODS
            if (name, m, role) not in SKIPPED]
    plan += [("gradcam", role, 1) for role in layers]
    cases = []
    for method, role, i in plan:
        t = time.perf_counter()
        layer = layers[role]
        target = targets[i]
        m64 = cam_map(method, model64, layer, x64[i:i + 1], target, prefix)
        gap = 0.0
        for run in range(FLOAT32_RUNS):
            m32 = cam_map(method, models32[run], layer, xs32[run][i:i + 1], target, prefix)
            gap = max(gap, float(np.abs(np.float64(m32) - np.float64(m64)).max()))
        cid = f"{method}/{role}/{pathlib.Path(IMAGES[i]).stem}"
        case = {"id": cid, "method": method, "layer": layer, "onnx_layer": layer,
                "onnx_layer_dynamo": layer, "image": i, "target": target,
                "shape": list(m64.shape), "map": flat(m64), "float32_gap": gap}
        note = ""
        if method == "eigencam":
            undo = negated_projection()
            try:
                case["flipped_map"] = flat(
                    cam_map(method, model64, layer, x64[i:i + 1], target, prefix))
            finally:
                undo()
        if method == "ablationcam":
            stock = cam_map(method, model64, layer, x64[i:i + 1], target, prefix,
                            AblationLayerVit())
            case["stock_map"] = flat(stock)
            case["stock_distance"] = float(np.abs(np.float64(stock) - np.float64(m64)).max())
            note += f" (stock AblationLayerVit: {case['stock_distance']:.2e} away)"
        if np.ptp(m64) == 0:
            note += " CONSTANT MAP"
        cases.append(case)
        print(f"  {cid:<28} {layer:<38} target {target} shape {list(m64.shape)} "
              f"gap {gap:.2e} {time.perf_counter() - t:6.1f}s{note}", flush=True)
    payload = {
        "script": SCRIPT, "torch": torch.__version__, "torchvision": torchvision.__version__,
        "timm": version("timm"), "grad_cam": version("grad-cam"), "onnx": onnx.__version__,
        "model": name, "seed": SEED + list(MODELS).index(name), "size": 224, "normalization": "imagenet",
        "classes": int(logits64.shape[1]),
        "grid": None if prefix is None else [GRID, GRID],
        "tokens": None if prefix is None else GRID * GRID + prefix, "prefix": prefix,
        "tokens_grid": [GRID, GRID] if needs_grid else None, "files": files, "images": IMAGES,
        "logits": logits64.tolist(), "logits_float32_noise": noise, "layers": layers,
        "cases": cases,
    }
    path = mg.DATA / "goldens" / f"onnx_{name}.json"
    with open(path, "w") as f:
        json.dump(payload, f, separators=(",", ":"))
    print(f"{name}: {path.relative_to(mg.ROOT)} ({path.stat().st_size} bytes), max gap "
          f"{max(c['float32_gap'] for c in cases):.2e}, {time.perf_counter() - t0:.0f} s")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--no-cam", action="store_true")
    ap.add_argument("--only", action="append", choices=list(MODELS))
    args = ap.parse_args()
    ONNX_DIR.mkdir(parents=True, exist_ok=True)
    x = photos(IMAGES)
    for name in args.only or list(MODELS):
        t0 = time.perf_counter()
        model = MODELS[name][0]()
        print(f"{name}: {sum(p.numel() for p in model.parameters())} parameters")
        files = export_all(name, model, x)
        if not args.no_cam:
            goldens(name, model, x, files, t0)


if __name__ == "__main__":
    main()
