#!/usr/bin/env python3
"""ONNX fixtures and golden logits / class activation maps for whycam's ONNX interpreter.

Regenerate (the venv of make_goldens.py / cam_goldens.py plus the ONNX tooling):

    ~/venvs/ref/bin/pip install grad-cam==1.5.7 timm onnx onnxscript onnxruntime
    ~/venvs/ref/bin/python tools/reference/export_onnx.py [--only MODEL]... [--no-cam]

(CPU, 2 threads, 4-6 minutes, most of it Score-CAM; --only regenerates one model and may be
repeated; --no-cam only exports and checks the .onnx files, under a minute.) onnxruntime is
optional: without it the exports are only checked with onnx.checker, not run.

Models. The real models are 20-110 MB as ONNX and cannot be committed, so each fixture is a
seeded-random, width-reduced member of its family with the family's topology and op types
(every file < 1.1 MB, all of them together 13 MB):

  resnet18_cifar         torchvision ResNet(BasicBlock, [2,2,2,2]) at 1/8 width (stages 8-16-32-64),
                         conv1 = nn.Conv2d(3, 8, 3, 1, 1) (stride 1, with bias), max-pool kept;
                         10 classes
  resnet18_cifar_binary  the same at 1/16 width (4-8-16-32) with a single-logit head (classes 1)
  mobilenet_v3_large     torchvision MobileNetV3 from _mobilenet_v3_conf("mobilenet_v3_large",
                         width_mult=0.25, reduced_tail=True): Hardswish, SE blocks with
                         Hardsigmoid gates, Linear-Hardswish-Dropout-Linear classifier
  convnext_tiny          torchvision ConvNeXt, CNBlockConfig (16,32,2) (32,48,2) (48,96,3) (96,-,1):
                         LayerNorm2d, permutes, LayerNorm + Linear, GELU (erf), layer scale,
                         stochastic depth (identity in eval), LayerNorm2d-Flatten-Linear head
  regnet_y_400mf         torchvision RegNet, BlockParams(depths [1,1,2,1], widths [16,32,64,128],
                         group width 8, bottleneck 1, SE ratio 0.25), stem 16: group conv, SE
  efficientnet_b0        torchvision EfficientNet, _efficientnet_conf("efficientnet_b0",
                         width_mult=0.2, depth_mult=0.5): SiLU, SE, stochastic depth
  resnext50              torchvision ResNet(Bottleneck, [2,2,2,2], groups=4, width_per_group=16)
                         at 1/8 width (stage outputs 32-64-128-256, grouped 3x3 convs)
  lcnet_035              timm lcnet_035 (PP-LCNet: timm BatchNormAct2d, Hardswish, depthwise
                         5x5, SE), its 1x1 conv_head after pooling cut from 1280 to 128 channels
  fastai_resnet34        a fastai cnn_learner model without fastai: nn.Sequential(body, head),
                         body = ResNet-34 (BasicBlock, [3,4,6,3], stride-2 7x7 conv1) at 6/64
                         width (6-12-24-48) cut before avgpool (children conv1, bn1, relu,
                         maxpool, layer1..4, so paths 0.0 ... 0.7), head = fastai's
                         create_head(48, 10, lin_ftrs=[64]) flattened into one Sequential:
                         AdaptiveConcatPool2d (cat of max- and avg-pool, in that order),
                         Flatten (x.view(x.size(0), -1)), BatchNorm1d(96), Dropout(0.25),
                         Linear(96, 64, bias=False), ReLU, BatchNorm1d(64), Dropout(0.5),
                         Linear(64, 10, bias=False)
  ops_zoo                no real family: a 45k-parameter CNN (OpsZoo) whose forward exercises the
                         operators whycam's interpreter claims, to check their semantics against
                         PyTorch. features (nn.Sequential, 224 -> 112 -> 57 -> 28 -> 15 -> 8):
                         0 Stem: Conv 3x3/2 + BatchNorm2d (folded) + ReLU6 (Clip);
                         1 MaxPool2d(3, 2, padding=1, ceil_mode=True) (ceil changes 56 to 57);
                         2 AsymDown: F.pad (0, 1, 0, 1) + Conv 3x3/2 without padding (dynamo's
                           optimizer folds the Pad into the Conv: pads [0, 0, 1, 1]), GroupNorm(4),
                           PReLU per channel;
                         3 PadBranches: reflect pad + grouped Conv (groups 4) + InstanceNorm2d
                           (affine) + LeakyReLU(0.1), and replicate pad + dilated Conv (dilation
                           2) + BatchNorm2d (folded) + ELU, merged by maximum(a, b) +
                           0.5 * minimum(a, b);
                         4 AvgPool2d(3, 2, padding=1, ceil_mode=True, count_include_pad=False)
                           (ceil changes 14 to 15; the last window holds one input pixel);
                         5 Activations: Conv 3x3, LayerNorm over channels (permute to NHWC,
                           nn.LayerNorm, permute back), torch.chunk into 6 through Mish, Softplus,
                           Tanh, Sigmoid, Hardsigmoid, Hardswish, torch.cat, Conv 1x1;
                         6 AvgPool2d(3, 2, padding=1, count_include_pad=True);
                         7 Mixer: torch.split [8, 8, 16] through SiLU, GELU, GELU(tanh), cat, Conv
                           1x1, chunk into 4 through clamp(-1, 2), sqrt(x * x + 1), pow(x, 2),
                           x / (1 + |x|), cat, Conv 3x3, x * softmax(x, dim=1), a sigmoid gate
                           from Conv 1x1(mean((2, 3), keepdim) + amax((2, 3))) expanded (expand_as)
                           from [N, C, 1, 1], and a residual add of the block's input;
                         then AdaptiveAvgPool2d(1), flatten, classifier = Linear(32, 32),
                         BatchNorm1d(32), ReLU, Dropout(0.2), Linear(32, 10). GroupNorm and
                         InstanceNorm affines ~ U(0.5, 1.5) / N(0, 0.1^2), PReLU slopes
                         ~ U(0.05, 0.4), set by the builder. Note: the dynamo exporter writes
                         nn.Softplus as Where(x > 20, x, Softplus(x)) (torchlib's threshold), so
                         its file holds Greater and Where

Weights: torch.manual_seed(seed of the model), the model's own constructor initialisation, then
every BatchNorm (1d, 2d, timm's BatchNormAct2d) gets running_mean ~ N(0, 0.1^2),
running_var ~ U(0.5, 1.5), weight ~ U(0.5, 1.5), bias ~ N(0, 0.1^2); every LayerNorm
(LayerNorm2d included) weight ~ U(0.5, 1.5), bias ~ N(0, 0.1^2); ConvNeXt's layer scales
(1e-6 at construction, which makes every block an identity) ~ U(0.1, 0.3). Finally an LSUV-style
calibration on the other three photos (astronaut, rocket, grace_hopper): in one forward pass
each Conv2d / Linear, when it runs, divides its weight and bias by its output's standard
deviation, and the classifier's are then multiplied by 2. Without it the random BatchNorm
statistics let the signal die out or blow up (MobileNetV3 and EfficientNet gave the same logits
for every photo to 1e-7; the ResNet-34 logits were ~600).

ONNX files, under tests/data/onnx/ (weights inside the file, no external data):

  <model>.torchscript.onnx  torch.onnx.export(dynamo=False, opset_version=N,
                            input_names=["input"], output_names=["logits"],
                            dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}} when
                            dynamic), opsets 11..20
  <model>.dynamo.onnx       torch.onnx.export(dynamo=True, opset_version=N, same names,
                            dynamic_shapes=({0: Dim("batch", min=1, max=1024)},) when dynamic,
                            optimize=True by default), opsets 18..22; its model_proto saved with
                            onnx.save_model (all initializers inline)
  external/resnet18_cifar.onnx + resnet18_cifar.onnx.data  the resnet18_cifar TorchScript file
                            again, every initializer in the one external data file
                            (onnx.save_model(save_as_external_data=True,
                            all_tensors_to_one_file=True, size_threshold=0))

A static-batch file is exported with a batch of 1 (input [1, 3, 224, 224]), a dynamic one with the
two golden images (input ["batch", 3, 224, 224]). Both exporters fold every BatchNorm2d that
follows a Conv into it (fastai's BatchNorm1d stay BatchNormalization nodes). Every file is
checked with onnx.checker and, with onnxruntime, run on the golden images (one at a time for
batch-1 files; dynamic files also on a batch of 1) against the float32 PyTorch model:
max |onnx - torch| <= 1e-4 * max(1, max |logit|); likewise every case layer's activation,
taken as an extra graph output (see "activations"), against the PyTorch module's output.

Goldens, tests/data/goldens/onnx_<model>.json:

  {"script": "tools/reference/export_onnx.py", "torch", "torchvision", "timm", "grad_cam",
   "onnx": versions,
   "model": name, "seed": torch seed, "size": 224, "normalization": "imagenet", "classes": K,
   "files": [{"file": "onnx/<model>.<exporter>.onnx" (relative to tests/data),
              "exporter": "torchscript" | "dynamo", "opset": N, "dynamic_batch": bool,
              "input_shape": ["batch", 3, 224, 224] or [1, 3, 224, 224],
              "activations": {onnx layer name (see below): the name of the graph tensor that is
                              the layer's output},
              "external_data": "onnx/external/resnet18_cifar.onnx.data" (only in the
                               external-data copy's entry)}, ...],
   "images": ["chelsea.png", "coffee.png"] (tests/data/photos224), one batch, ImageNet
             normalisation as in make_goldens.batch,
   "logits": [[float64 logits of image 0], [image 1]] (model.double() on input.double(), full
             precision),
   "logits_float32_noise": max |float32 logits - float64 logits| (PyTorch, model as it is),
   "layers": {"default": the module path a pytorch-grad-cam user passes, "middle": a middle one,
              "residual_cut": (resnet18_cifar, resnet18_cifar_binary, resnext50 only) a layer
              inside a residual block: the block's last BatchNorm (bn2 of a BasicBlock, bn3 of a
              Bottleneck), whose output is added to the skip},
   "cases": [{"id": "<method>/<layer role>/<photo stem>", "method": "gradcam" | "gradcam++" |
              "scorecam" | "hirescam", "layer": module path, "onnx_layer": the activation's
              module path in the TorchScript export, "onnx_layer_dynamo": in the dynamo export,
              "image": index into images, "target": argmax of the image's float64 logits,
              "shape": [h, w], "map": [row-major, 7 significant digits], "float32_gap": float},
             ...]}

  * Module paths in the ONNX graphs. TorchScript: node names are scope paths whose components
    are attribute names, a numbered child of a Sequential named parent.index: layer3.0.conv2 ->
    "/layer3/layer3.0/conv2/Conv", features.6.block.0.0 -> "/features/features.6/block/block.0/
    block.0.0/Conv", fastai's 0.5.0.conv1 -> "/0/0.5/0.5.0/conv1/Conv"; folded weights are
    anonymous initializers ("onnx::Conv_227"). Dynamo: node names are not paths ("node_Conv_305",
    "node_relu_9", "n0_8"); each node's metadata_props "pkg.torch.onnx.name_scopes" lists the
    module paths from the root down and then the FX node: "['', 'layer3', 'layer3.0',
    'layer3.0.bn2', '_native_batch_norm_legit_no_training_11']"; initializers keep the state-dict
    names ("layer3.0.conv2.weight", "layer3.0.conv2.weight_bias"). A layer's activation is the
    first output of the last node (in graph order) inside the module's scope.
  * onnx_layer: equal to layer, except that a folded BatchNorm has no TorchScript node, its
    output being the Conv's: layer3.0.bn2 -> layer3.0.conv2. In the dynamo export the fused
    Conv node carries the BatchNorm's scope (pkg.onnxscript.rewriter.rule_name
    "FuseBatchNormIntoConv, RemoveOptionalBiasFromConv"), so onnx_layer_dynamo == layer.
  * map: pytorch-grad-cam's output for [ClassifierOutputTarget(target)], one image per call, at
    the layer's resolution: get_target_width_height is patched to return None, so the map is
    relu + (x - min) / (1e-7 + max(x - min)) of the layer's cam, applied twice (per layer, then
    over the one layer), and rounded to float32 by pytorch-grad-cam. Computed in float64
    (model.double(), input.double()); note that Score-CAM still gathers its scores in a float32
    torch.Tensor, softmaxes them over the channels and upsamples with UpsamplingBilinear2d
    (align_corners=True); batch 16.
  * pytorch-grad-cam stores activations as output.cpu().detach(), which on CPU aliases the
    tensor, so an in-place op after the layer (BasicBlock's `out += identity` and ReLU(inplace))
    changes the stored activation: stock pytorch-grad-cam 1.5.7 on CPU would give the map of
    relu(bn2 + identity) weighted by the gradients at bn2 (differing here by up to 0.89). This
    script stores a clone, i.e. the layer's real output, the ONNX Conv's output; that changes
    nothing at the other layers (checked: identical maps). The gradient hook already sees the
    gradient with respect to the layer's output; the residual_cut Grad-CAM maps are also checked
    against Grad-CAM computed from first principles.
  * float32_gap: as in cam_goldens.py, max |map32 - map64| over FLOAT32_RUNS = 2 float32 runs:
    the model and input as they are, and the input times 1 + u * 2^-22 on a copy of the model
    whose every weight and BatchNorm statistic is times 1 + u * 2^-23 (u uniform in [-1, 1]).
    All are below 2e-4 (most about 1e-6).
  * Cases per model: gradcam, gradcam++, scorecam and hirescam at the default and the middle
    layer for image 0, gradcam at the default layer for image 1, gradcam and hirescam at
    residual_cut for image 0.
  * Middle layers avoided: HiResCAM and Grad-CAM++ at a layer whose output feeds a LayerNorm are
    ill-conditioned (LayerNorm is invariant to scaling each pixel's channel vector, so
    sum_k grad_k A_k ~ 0 at each pixel): ConvNeXt's stage outputs features.1/.3/.5 have float32
    gaps of 0.25-0.36 for HiResCAM, so its middle layer is features.4 (a downsampling Conv).
    EfficientNet's features.4 gives an all-zero Score-CAM map, so its middle layer is features.3.
  * The input is make_goldens.batch made contiguous: the batch is channels-last in memory
    (np.stack of transposed HWC arrays), and on such an input torch 2.15's CPU backward of
    resnet18_cifar corrupts the heap (glibc "double free or corruption", abort).
"""

import argparse
import copy
import json
import pathlib
import sys
import time
import types
from functools import partial
from importlib.metadata import version

import numpy as np
import onnx
import torch
import torchvision
from torch import nn
from torchvision.models import convnext as tv_convnext
from torchvision.models import efficientnet as tv_efficientnet
from torchvision.models import mobilenetv3 as tv_mobilenetv3
from torchvision.models import regnet as tv_regnet
from torchvision.models import resnet as tv_resnet

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import make_goldens as mg  # noqa: E402

import pytorch_grad_cam  # noqa: E402
from pytorch_grad_cam import GradCAM, GradCAMPlusPlus, HiResCAM, ScoreCAM  # noqa: E402
from pytorch_grad_cam.activations_and_gradients import ActivationsAndGradients  # noqa: E402
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget  # noqa: E402

try:
    import onnxruntime as ort
except ImportError:  # optional
    ort = None

torch.set_num_threads(2)
pytorch_grad_cam.score_cam.tqdm = types.SimpleNamespace(tqdm=lambda it, *a, **k: it)

SCRIPT = "tools/reference/export_onnx.py"
ONNX_DIR = mg.DATA / "onnx"
IMAGES = ["chelsea.png", "coffee.png"]
FLOAT32_RUNS = 2
PERTURBATION = 2.0 ** -22
WEIGHT_PERTURBATION = 2.0 ** -23
GAP_LIMIT = 2.5e-4
METHODS = {"gradcam": GradCAM, "gradcam++": GradCAMPlusPlus, "scorecam": ScoreCAM,
           "hirescam": HiResCAM}


def save_activation_clone(self, module, input, output):
    """ActivationsAndGradients.save_activation storing a copy (see the docstring)."""
    activation = output
    if self.reshape_transform is not None:
        activation = self.reshape_transform(activation)
    self.activations.append(activation.detach().cpu().clone())


ActivationsAndGradients.save_activation = save_activation_clone


# ---------------------------------------------------------------- models


class SlimResNet(tv_resnet.ResNet):
    """torchvision ResNet with every stage's planes scaled by width / 64 (stem: width channels)."""

    def __init__(self, block, layers, width, num_classes, cifar_stem=False, **kwargs):
        self._width = width
        super().__init__(block, layers, num_classes=num_classes, **kwargs)
        if cifar_stem:
            self.conv1 = nn.Conv2d(3, width, 3, 1, 1)
        else:
            self.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.fc = nn.Linear(8 * width * block.expansion, num_classes)
        nn.init.kaiming_normal_(self.conv1.weight, mode="fan_out", nonlinearity="relu")

    def _make_layer(self, block, planes, blocks, stride=1, dilate=False):
        if planes == 64:
            self.inplanes = self._width
        return super()._make_layer(block, planes * self._width // 64, blocks, stride, dilate)


def resnet18_cifar(classes=10, width=8):
    return SlimResNet(tv_resnet.BasicBlock, [2, 2, 2, 2], width, classes, cifar_stem=True)


def resnext50():
    return SlimResNet(tv_resnet.Bottleneck, [2, 2, 2, 2], 8, 10, groups=4, width_per_group=16)


def mobilenet_v3_large():
    setting, last = tv_mobilenetv3._mobilenet_v3_conf("mobilenet_v3_large", width_mult=0.25,
                                                      reduced_tail=True)
    return tv_mobilenetv3.MobileNetV3(setting, last_channel=last, num_classes=10)


def convnext_tiny():
    C = tv_convnext.CNBlockConfig
    setting = [C(16, 32, 2), C(32, 48, 2), C(48, 96, 3), C(96, None, 1)]
    return tv_convnext.ConvNeXt(setting, stochastic_depth_prob=0.1, num_classes=10)


def regnet_y_400mf():
    params = tv_regnet.BlockParams(depths=[1, 1, 2, 1], widths=[16, 32, 64, 128],
                                   group_widths=[8, 8, 8, 8], bottleneck_multipliers=[1.0] * 4,
                                   strides=[2, 2, 2, 2], se_ratio=0.25)
    return tv_regnet.RegNet(params, num_classes=10, stem_width=16,
                            norm_layer=partial(nn.BatchNorm2d, eps=1e-05, momentum=0.1))


def efficientnet_b0():
    setting, last = tv_efficientnet._efficientnet_conf("efficientnet_b0", width_mult=0.2,
                                                       depth_mult=0.5)
    return tv_efficientnet.EfficientNet(setting, dropout=0.2, num_classes=10, last_channel=last)


def lcnet_035():
    import timm

    model = timm.create_model("lcnet_035", num_classes=10)
    model.conv_head = nn.Conv2d(model.conv_head.in_channels, 128, 1)
    model.classifier = nn.Linear(128, 10)
    model.num_features = model.head_hidden_size = 128
    return model


class AdaptiveConcatPool2d(nn.Module):
    """fastai's: cat of AdaptiveMaxPool2d and AdaptiveAvgPool2d."""

    def __init__(self, size=None):
        super().__init__()
        self.size = size or 1
        self.ap = nn.AdaptiveAvgPool2d(self.size)
        self.mp = nn.AdaptiveMaxPool2d(self.size)

    def forward(self, x):
        return torch.cat([self.mp(x), self.ap(x)], 1)


class Flatten(nn.Module):
    """fastai's Flatten (full=False)."""

    def forward(self, x):
        return x.view(x.size(0), -1)


def fastai_resnet34():
    net = SlimResNet(tv_resnet.BasicBlock, [3, 4, 6, 3], 6, 1000)
    body = nn.Sequential(*list(net.children())[:-2])
    nf = 2 * 48
    head = nn.Sequential(
        AdaptiveConcatPool2d(), Flatten(),
        nn.BatchNorm1d(nf), nn.Dropout(0.25), nn.Linear(nf, 64, bias=False), nn.ReLU(inplace=True),
        nn.BatchNorm1d(64), nn.Dropout(0.5), nn.Linear(64, 10, bias=False))
    for m in head.modules():
        if isinstance(m, nn.Linear):
            nn.init.kaiming_normal_(m.weight)
    return nn.Sequential(body, head)


# ---- ops_zoo: a small CNN whose forward exercises the operators whycam's interpreter claims


class Stem(nn.Module):
    """Conv 3x3 stride 2 + BatchNorm2d (folded into the Conv) + ReLU6 (Clip 0..6)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3, 2, 1, bias=False)
        self.bn = nn.BatchNorm2d(16)
        self.act = nn.ReLU6()

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class AsymDown(nn.Module):
    """F.pad (0, 1, 0, 1) (right and bottom only) + Conv 3x3 stride 2 without padding, then
    GroupNorm(4 groups) and a per-channel PReLU."""

    def __init__(self, cin, cout):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, 2, 0)
        self.norm = nn.GroupNorm(4, cout)
        self.act = nn.PReLU(cout)

    def forward(self, x):
        return self.act(self.norm(self.conv(nn.functional.pad(x, (0, 1, 0, 1)))))


class PadBranches(nn.Module):
    """Two branches on the same input: reflect pad 1 + grouped Conv 3x3 (groups 4) +
    InstanceNorm2d(affine) + LeakyReLU(0.1); replicate pad 2 + dilated Conv 3x3 (dilation 2) +
    BatchNorm2d (folded) + ELU; merged as maximum(a, b) + 0.5 * minimum(a, b) (not symmetric in
    Max / Min, so a swap would show)."""

    def __init__(self, c):
        super().__init__()
        self.conv_g = nn.Conv2d(c, c, 3, 1, 0, groups=4)
        self.inorm = nn.InstanceNorm2d(c, affine=True)
        self.leaky = nn.LeakyReLU(0.1)
        self.conv_d = nn.Conv2d(c, c, 3, 1, 0, dilation=2, bias=False)
        self.bn = nn.BatchNorm2d(c)
        self.elu = nn.ELU()

    def forward(self, x):
        a = self.leaky(self.inorm(self.conv_g(nn.functional.pad(x, (1, 1, 1, 1), mode="reflect"))))
        b = self.elu(self.bn(self.conv_d(nn.functional.pad(x, (2, 2, 2, 2), mode="replicate"))))
        return torch.maximum(a, b) + 0.5 * torch.minimum(a, b)


class ChannelLayerNorm(nn.Module):
    """LayerNorm over the channels of an NCHW tensor: permute to NHWC, nn.LayerNorm, back."""

    def __init__(self, c):
        super().__init__()
        self.ln = nn.LayerNorm(c)

    def forward(self, x):
        return self.ln(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class Activations(nn.Module):
    """Conv 3x3 (32 -> 48), LayerNorm over channels, torch.chunk into 6 x 8 channels through
    Mish, Softplus, Tanh, Sigmoid, Hardsigmoid, Hardswish, torch.cat, Conv 1x1 (48 -> 32)."""

    def __init__(self, cin, mid):
        super().__init__()
        self.conv_in = nn.Conv2d(cin, mid, 3, 1, 1)
        self.norm = ChannelLayerNorm(mid)
        self.acts = nn.ModuleList([nn.Mish(), nn.Softplus(), nn.Tanh(), nn.Sigmoid(),
                                   nn.Hardsigmoid(), nn.Hardswish()])
        self.conv_out = nn.Conv2d(mid, cin, 1)

    def forward(self, x):
        h = self.norm(self.conv_in(x))
        h = torch.cat([f(c) for f, c in zip(self.acts, h.chunk(len(self.acts), 1))], 1)
        return self.conv_out(h)


class Mixer(nn.Module):
    """torch.split [8, 8, 16] through SiLU, GELU (erf), GELU (tanh), cat, Conv 1x1; chunk into 4
    through clamp(-1, 2), sqrt(x * x + 1), pow(x, 2), x / (1 + |x|), cat, Conv 3x3; x *
    softmax(x, dim=1); a gate sigmoid(Conv 1x1(mean((2, 3), keepdim) + amax((2, 3)))) expanded
    from [N, C, 1, 1] to [N, C, H, W] (expand_as: x.expand(-1, -1, H, W) exports, at opset 11
    with a dynamic batch, as Shape / Gather / ConstantOfShape / Equal / Where / Expand); the
    residual add of the block's input."""

    def __init__(self, c):
        super().__init__()
        self.split = [c // 4, c // 4, c // 2]
        self.acts = nn.ModuleList([nn.SiLU(), nn.GELU(), nn.GELU(approximate="tanh")])
        self.conv_a = nn.Conv2d(c, c, 1)
        self.conv_b = nn.Conv2d(c, c, 3, 1, 1)
        self.gate = nn.Conv2d(c, c, 1)

    def forward(self, x):
        h = torch.cat([f(p) for f, p in zip(self.acts, torch.split(x, self.split, 1))], 1)
        e1, e2, e3, e4 = self.conv_a(h).chunk(4, 1)
        h = torch.cat([e1.clamp(min=-1, max=2), torch.sqrt(e2 * e2 + 1), torch.pow(e3, 2),
                       e4 / (1 + e4.abs())], 1)
        h = self.conv_b(h)
        h = h * torch.softmax(h, dim=1)
        s = h.mean((2, 3), keepdim=True) + h.amax((2, 3))[:, :, None, None]
        g = torch.sigmoid(self.gate(s))
        return x + h * g.expand_as(h)


class OpsZoo(nn.Module):
    """features (224 -> 112 -> 57 -> 28 -> 15 -> 8), pool, classifier."""

    def __init__(self, classes=10):
        super().__init__()
        self.features = nn.Sequential(
            Stem(),                                                      # 0: 16 x 112 x 112
            nn.MaxPool2d(3, 2, padding=1, ceil_mode=True),               # 1: 16 x 57 x 57
            AsymDown(16, 32),                                            # 2: 32 x 28 x 28
            PadBranches(32),                                             # 3: 32 x 28 x 28
            nn.AvgPool2d(3, 2, padding=1, ceil_mode=True,
                         count_include_pad=False),                       # 4: 32 x 15 x 15
            Activations(32, 48),                                         # 5: 32 x 15 x 15
            nn.AvgPool2d(3, 2, padding=1, count_include_pad=True),       # 6: 32 x 8 x 8
            Mixer(32),                                                   # 7: 32 x 8 x 8
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Linear(32, 32), nn.BatchNorm1d(32), nn.ReLU(),
                                        nn.Dropout(0.2), nn.Linear(32, classes))

    def forward(self, x):
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))


def ops_zoo():
    model = OpsZoo()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.GroupNorm, nn.InstanceNorm2d)):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.1)
            elif isinstance(m, nn.PReLU):
                m.weight.uniform_(0.05, 0.4)
    return model


# name: (builder, seed, layers, torchscript (opset, dynamic), dynamo (opset, dynamic))
MODELS = {
    "resnet18_cifar": (resnet18_cifar, 4,
                       {"default": "layer4", "middle": "layer2", "residual_cut": "layer3.0.bn2"},
                       (11, True), (18, True)),
    "resnet18_cifar_binary": (partial(resnet18_cifar, 1, 4), 41,
                              {"default": "layer4", "middle": "layer2",
                               "residual_cut": "layer3.0.bn2"},
                              (13, False), (20, False)),
    "mobilenet_v3_large": (mobilenet_v3_large, 5, {"default": "features", "middle": "features.6"},
                           (14, True), (19, False)),
    "convnext_tiny": (convnext_tiny, 6, {"default": "features", "middle": "features.4"},
                      (17, True), (22, True)),
    "regnet_y_400mf": (regnet_y_400mf, 7, {"default": "trunk_output",
                                           "middle": "trunk_output.block2"},
                       (12, False), (21, True)),
    "efficientnet_b0": (efficientnet_b0, 8, {"default": "features", "middle": "features.3"},
                        (16, True), (18, False)),
    "resnext50": (resnext50, 9,
                  {"default": "layer4", "middle": "layer2", "residual_cut": "layer3.0.bn3"},
                  (15, False), (20, True)),
    "lcnet_035": (lcnet_035, 10, {"default": "blocks", "middle": "blocks.2"},
                  (11, True), (18, False)),
    "fastai_resnet34": (fastai_resnet34, 11, {"default": "0", "middle": "0.5"},
                        (20, True), (19, True)),
    "ops_zoo": (ops_zoo, 12, {"default": "features", "middle": "features.3"},
                (11, True), (22, False)),
}


CALIBRATION = ["astronaut.png", "rocket.png", "grace_hopper.png"]
LOGIT_STD = 2.0


def photos(names):
    """make_goldens.batch, made contiguous: it is channels-last in memory (np.stack of HWC
    arrays transposed), and with such an input torch 2.15's CPU backward of resnet18_cifar
    corrupts the heap (glibc "double free or corruption", abort)."""
    return mg.batch(names, *mg.IMAGENET).contiguous()


def randomise(model, name):
    """BatchNorm / LayerNorm statistics and affines as in the docstring, then the Conv2d / Linear
    weights rescaled so that every one's output has unit standard deviation on the calibration
    photos (LOGIT_STD for the last one, the classifier)."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                if m.affine:
                    m.weight.uniform_(0.5, 1.5)
                    m.bias.normal_(0, 0.1)
            elif isinstance(m, nn.LayerNorm):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.1)
            elif isinstance(m, tv_convnext.CNBlock):
                m.layer_scale.uniform_(0.1, 0.3)
    calibrate(model, photos(CALIBRATION))


def calibrate(model, x):
    """One forward pass in which each Conv2d / Linear, when it runs, divides its weight and bias
    (and its output) by its output's standard deviation (LSUV-style)."""
    order = []

    def hook(module, inp, out):
        order.append(module)
        s = float(out.std())
        with torch.no_grad():
            module.weight /= s
            if module.bias is not None:
                module.bias /= s
        return out / s

    layers = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    handles = [m.register_forward_hook(hook) for m in layers]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    assert len(order) == len(set(order)) == len(layers), "a layer ran twice or never"
    with torch.no_grad():
        order[-1].weight *= LOGIT_STD
        if order[-1].bias is not None:
            order[-1].bias *= LOGIT_STD


def build(name):
    builder, seed = MODELS[name][:2]
    torch.manual_seed(seed)
    model = builder().eval()
    randomise(model, name)
    return model


def onnx_layer(layer):
    """The module path of the activation in the ONNX graph: a BatchNorm after a Conv is folded."""
    parts = layer.rsplit(".", 1)
    if len(parts) == 2 and parts[1].startswith("bn"):
        return f"{parts[0]}.conv{parts[1][2:]}"
    return layer


# ---------------------------------------------------------------- export


def export(model, name, exporter, opset, dynamic, x):
    path = ONNX_DIR / f"{name}.{exporter}.onnx"
    if exporter == "torchscript":
        axes = {"input": {0: "batch"}, "logits": {0: "batch"}} if dynamic else None
        torch.onnx.export(model, (x,), str(path), dynamo=False, opset_version=opset,
                          input_names=["input"], output_names=["logits"], dynamic_axes=axes)
    else:
        shapes = ({0: torch.export.Dim("batch", min=1, max=1024)},) if dynamic else None
        program = torch.onnx.export(model, (x,), dynamo=True, opset_version=opset,
                                    input_names=["input"], output_names=["logits"],
                                    dynamic_shapes=shapes, external_data=False)
        onnx.save_model(program.model_proto, str(path))
    return path


def describe(path, info):
    proto = onnx.load(str(path), load_external_data=False)
    onnx.checker.check_model(str(path))
    for t in proto.graph.initializer:
        ext = t.data_location == onnx.TensorProto.EXTERNAL
        assert ext == ("external" in str(path)), f"{path}: {t.name} external={ext}"
    opset = [o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")][0]
    ops = sorted({(n.domain + "::" if n.domain else "") + n.op_type for n in proto.graph.node})
    shape = [d.dim_param or d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim]
    data = path.parent / (path.name + ".data")
    size = path.stat().st_size + (data.stat().st_size if data.exists() else 0)
    print(f"  {path.relative_to(mg.DATA)}: {size} bytes, opset {opset}, input {shape}, "
          f"{len(proto.graph.node)} nodes, functions {len(proto.functions)}")
    print(f"    ops: {' '.join(ops)}")
    info.update(opset=opset, ops=ops, size=size, shape=shape)
    return proto


def meta(node):
    return {p.key: p.value for p in node.metadata_props}


def ts_scope(layer):
    """The TorchScript exporter's node-name prefix of a module path: a child that is an
    attribute keeps its name, a numbered child of a Sequential is named parent.index
    (layer3.0.conv2 -> /layer3/layer3.0/conv2, features.6.block.0.0 ->
    /features/features.6/block/block.0/block.0.0, 0.5.0 -> /0/0.5/0.5.0)."""
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
    """The output of the last node (graph order) inside the module: the layer's activation."""
    nodes = [n for n in proto.graph.node if in_layer(n, exporter, layer)]
    assert nodes, f"no {exporter} node in {layer}"
    return nodes[-1]


def show_nodes(proto, exporter, layer):
    """Print the nodes of layer (a Conv inside a residual block) and 3 name_scopes examples."""
    for n in [n for n in proto.graph.node if in_layer(n, exporter, layer)][:2]:
        print(f"    {layer}: node {n.name!r} op {n.op_type} in {list(n.input)} "
              f"out {list(n.output)}")
        for k, v in meta(n).items():
            v = v.replace("\n", "\\n")
            print(f"      {k}: {v if len(v) < 400 else v[:400] + '...'}")
    scoped = [n for n in proto.graph.node if "pkg.torch.onnx.name_scopes" in meta(n)]
    for n in scoped[:: max(1, len(scoped) // 3)][:3]:
        print(f"    e.g. {n.name!r} {n.op_type}: name_scopes "
              f"{meta(n)['pkg.torch.onnx.name_scopes']}")


def run_onnx(path, xs, extra=()):
    """Run the file on each input; the logits, then the extra tensors (added as outputs)."""
    proto = onnx.load(str(path))
    for name in extra:
        proto.graph.output.append(onnx.ValueInfoProto(name=name))
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    outs = [sess.run(None, {sess.get_inputs()[0].name: x.numpy()}) for x in xs]
    return [np.concatenate(o) for o in zip(*outs)]


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
    """Export with both exporters, check, and compare logits and the case layers' activations
    with onnxruntime."""
    _, _, layers, ts, dy = MODELS[name]
    files, infos = [], []
    ref, acts = torch_activations(model, x, list(layers.values()))
    scale = max(1.0, float(np.abs(ref).max()))
    for exporter, (opset, dynamic) in [("torchscript", ts), ("dynamo", dy)]:
        t = time.perf_counter()
        xe = x if dynamic else x[:1]
        path = export(model, name, exporter, opset, dynamic, xe)
        info = {"file": path.relative_to(mg.DATA).as_posix(), "exporter": exporter}
        proto = describe(path, info)
        assert info["opset"] == opset, (path, info["opset"], opset)
        # module path of each case layer in this export, and its activation tensor
        names = {l: onnx_layer(l) if exporter == "torchscript" else l for l in layers.values()}
        tensors = {l: layer_output(proto, exporter, names[l]).output[0] for l in layers.values()}
        entry = {"file": info["file"], "exporter": exporter, "opset": opset,
                 "dynamic_batch": dynamic,
                 "input_shape": ["batch", 3, 224, 224] if dynamic else [1, 3, 224, 224],
                 "activations": {names[l]: tensors[l] for l in layers.values()}}
        files.append(entry)
        cut = layers.get("residual_cut")
        show_nodes(proto, exporter, names[cut] if cut else layers["middle"])
        if ort is not None:
            xs = [x] if dynamic else [x[i:i + 1] for i in range(len(x))]
            out, *outs = run_onnx(path, xs, list(tensors.values()))
            diff = float(np.abs(out - ref).max())
            msg = f"onnxruntime vs torch float32: max diff {diff:.3g} (logit scale {scale:.3g})"
            if dynamic:
                one = run_onnx(path, [x[1:2]])[0]
                msg += f"; batch 1 diff {float(np.abs(one - ref[1:2]).max()):.3g}"
                diff = max(diff, float(np.abs(one - ref[1:2]).max()))
            print(f"    {msg}")
            assert diff <= 1e-4 * scale, f"{path}: {msg}"
            info["ort_diff"] = diff / scale
            for l, o in zip(tensors, outs):
                d = float(np.abs(o - acts[l]).max()) / max(1.0, float(np.abs(acts[l]).max()))
                print(f"    activation {l} = {names[l]} = {tensors[l]!r}: max rel diff {d:.2g}")
                assert o.shape == acts[l].shape and d <= 1e-4, (path, l, o.shape, d)
        info["time"] = time.perf_counter() - t
        infos.append(info)
        if name == "resnet18_cifar" and exporter == "torchscript":
            ext = ONNX_DIR / "external" / f"{name}.onnx"
            ext.parent.mkdir(parents=True, exist_ok=True)
            data = ext.parent / f"{name}.onnx.data"
            data.unlink(missing_ok=True)  # onnx appends to an existing data file
            onnx.save_model(onnx.load(str(path)), str(ext), save_as_external_data=True,
                            all_tensors_to_one_file=True, location=data.name, size_threshold=0)
            describe(ext, {})
            files.append(dict(entry, file=ext.relative_to(mg.DATA).as_posix(),
                              external_data=data.relative_to(mg.DATA).as_posix()))
            if ort is not None:
                sess = ort.InferenceSession(str(ext), providers=["CPUExecutionProvider"])
                out = sess.run(None, {"input": x.numpy()})[0]
                assert np.array_equal(out, run_onnx(path, [x])[0]), "external copy differs"
                print("    external copy: onnxruntime output identical")
    return files, infos


# ---------------------------------------------------------------- CAM


def uniform(shape, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(shape, generator=g, dtype=torch.float64) * 2 - 1


def perturbed(model, run):
    """A float32 copy whose parameters and buffers are times 1 + u * WEIGHT_PERTURBATION."""
    m = copy.deepcopy(model).float().eval()
    with torch.no_grad():
        for i, (_, t) in enumerate(sorted(m.state_dict(keep_vars=True).items())):
            if t.is_floating_point():
                u = uniform(t.shape, 1_000_000 * run + i)
                t.copy_((t.double() * (1 + u * WEIGHT_PERTURBATION)).to(t.dtype))
    return m


def cam_map(method, model, layer, x, target):
    cam = METHODS[method](model, [dict(model.named_modules())[layer]])
    cam.get_target_width_height = lambda input_tensor: None
    try:
        return cam(input_tensor=x, targets=[ClassifierOutputTarget(target)])[0]
    finally:
        cam.activations_and_grads.release()


def manual_gradcam(model, layer, x, target):
    """Grad-CAM from first principles (forward hook replacing the output by a clone, so in-place
    ops after the layer act on the clone): checks pytorch-grad-cam at residual_cut."""
    saved = {}

    def hook(module, inp, out):
        saved["a"] = out
        return out.clone()

    h = dict(model.named_modules())[layer].register_forward_hook(hook)
    try:
        logits = model(x)
    finally:
        h.remove()
    a = saved["a"]
    (g,) = torch.autograd.grad(logits[0, target], a)
    cam = torch.relu((g.mean(dim=(2, 3), keepdim=True) * a).sum(1))[0].detach().numpy()
    for _ in range(2):
        cam = np.maximum(cam, 0)
        cam = cam - cam.min()
        cam = cam / (1e-7 + cam.max())
    return cam


def flat(a):
    a = np.asarray(a, dtype=np.float32)
    assert np.all(np.isfinite(a))
    return [float(f"{v:.7g}") for v in a.ravel().tolist()]


def goldens(name, model, x, files, t0):
    layers = MODELS[name][2]
    model64 = copy.deepcopy(model).double().eval()
    x64 = x.double()
    with torch.no_grad():
        logits64 = model64(x64)
        noise = float((model(x).double() - logits64).abs().max())
    targets = logits64.argmax(1).tolist()
    top2 = logits64.topk(min(2, logits64.shape[1]), 1).values
    margin = float((top2[:, 0] - top2[:, -1]).min()) if logits64.shape[1] > 1 else None
    print(f"  logits {logits64.min():.4g}..{logits64.max():.4g}, targets {targets}, "
          f"top-2 margin {margin}, float32 noise {noise:.3g}")
    models32 = [model] + [perturbed(model, run) for run in range(1, FLOAT32_RUNS)]
    xs32 = [x] + [(x64 * (1 + uniform(x.shape, run) * PERTURBATION)).float()
                  for run in range(1, FLOAT32_RUNS)]
    plan = []
    for role in ["default", "middle"]:
        plan += [(m, role, 0) for m in METHODS]
    plan.append(("gradcam", "default", 1))
    if "residual_cut" in layers:
        plan += [("gradcam", "residual_cut", 0), ("hirescam", "residual_cut", 0)]
    cases = []
    for method, role, i in plan:
        t = time.perf_counter()
        layer = layers[role]
        target = targets[i]
        m64 = cam_map(method, model64, layer, x64[i:i + 1], target)
        gap = 0.0
        for run in range(FLOAT32_RUNS):
            m32 = cam_map(method, models32[run], layer, xs32[run][i:i + 1], target)
            gap = max(gap, float(np.abs(np.float64(m32) - np.float64(m64)).max()))
        note = ""
        if role == "residual_cut" and method == "gradcam":
            d = float(np.abs(manual_gradcam(model64, layer, x64[i:i + 1], target) - m64).max())
            assert d < 1e-6, (name, layer, d)
            note = f" (manual Grad-CAM diff {d:.1g})"
        if np.ptp(m64) == 0:
            note += " CONSTANT MAP"
        if gap > GAP_LIMIT:
            note += " GAP ABOVE LIMIT"
        cid = f"{method}/{role}/{pathlib.Path(IMAGES[i]).stem}"
        cases.append({"id": cid, "method": method, "layer": layer,
                      "onnx_layer": onnx_layer(layer), "onnx_layer_dynamo": layer, "image": i,
                      "target": target, "shape": list(m64.shape), "map": flat(m64),
                      "float32_gap": gap})
        print(f"  {cid:<36} {layer:<20} target {target} shape {list(m64.shape)} "
              f"gap {gap:.2e} {time.perf_counter() - t:6.1f}s{note}", flush=True)
    payload = {
        "script": SCRIPT, "torch": torch.__version__, "torchvision": torchvision.__version__,
        "timm": version("timm"), "grad_cam": version("grad-cam"), "onnx": onnx.__version__,
        "model": name, "seed": MODELS[name][1], "size": 224, "normalization": "imagenet",
        "classes": int(logits64.shape[1]), "files": files, "images": IMAGES,
        "logits": logits64.tolist(), "logits_float32_noise": noise, "layers": layers,
        "cases": cases,
    }
    path = mg.DATA / "goldens" / f"onnx_{name}.json"
    with open(path, "w") as f:
        json.dump(payload, f, separators=(",", ":"))
    print(f"{name}: {path.relative_to(mg.ROOT)} ({path.stat().st_size} bytes), "
          f"max gap {max(c['float32_gap'] for c in cases):.2e}, {time.perf_counter() - t0:.0f} s")
    return cases


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", action="append", choices=list(MODELS))
    ap.add_argument("--no-cam", action="store_true")
    args = ap.parse_args()
    ONNX_DIR.mkdir(parents=True, exist_ok=True)
    x = photos(IMAGES)
    start = time.perf_counter()
    summary = []
    for name in args.only or list(MODELS):
        t0 = time.perf_counter()
        model = build(name)
        n = sum(p.numel() for p in model.parameters())
        print(f"{name}: {n} parameters")
        files, infos = export_all(name, model, x)
        gap = None
        if not args.no_cam:
            gap = max(c["float32_gap"] for c in goldens(name, model, x, files, t0))
        summary.append((name, infos, gap))
    print("\nsummary")
    total = 0
    for name, infos, gap in summary:
        for i in infos:
            total += i["size"]
            print(f"  {i['file']:<44} {i['size']:>8} opset {i['opset']:>2} input {i['shape']} "
                  f"ort {i.get('ort_diff', float('nan')):.1e}/scale export {i['time']:.1f}s")
        if gap is not None:
            print(f"    {name}: max float32_gap {gap:.2e}")
    print(f"  total (without external/) {total} bytes; {time.perf_counter() - start:.0f} s")
    print("  ops, all files:", " ".join(sorted({o for _, infos, _ in summary
                                                for i in infos for o in i["ops"]})))


if __name__ == "__main__":
    main()
