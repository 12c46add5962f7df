"""Type stubs of whycam, the Python module of the whycam toolkit (class activation maps in Rust)."""

import os
from typing import Any, Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

__version__: str

PathLike = Union[str, "os.PathLike[str]"]
ImageInput = Union[PathLike, bytes, npt.NDArray[np.generic], Any]
Images = Union[ImageInput, Sequence[ImageInput]]
"""A path (an image file, a directory searched recursively, or an http(s) URL), the bytes of
an image file (decoded as a file is; named by its index), a numpy array HxWx3 (uint8, or float32/float64 in [0, 1]), an array NxHxWx3, a PIL image (converted
to RGB as Pillow converts), a torch tensor 3xHxW or a batch Nx3xHxW (uint8, or floats in
[0, 1] as torchvision's ``ToTensor`` gives them, not normalised; read through ``.numpy()``), or
a list of these. Pillow and torch are never imported by whycam for this: an object of theirs
means they are loaded already."""

class WhycamError(Exception):
    """Base class of every error whycam raises; the message is the Rust error's text."""

class InvalidArgument(WhycamError):
    """An argument whycam cannot use: an unknown method, layer, target or model name, a bad
    size, mean or deviation, an array that is not HxWx3."""

class DecodeError(WhycamError):
    """An input that is not a readable image (corrupt, truncated, unsupported format); the
    message names the file."""

class LimitsError(WhycamError):
    """An input refused to stay within the decoding limits (pixel count, file size)."""

class FetchError(WhycamError):
    """A URL input or the pretrained weights could not be downloaded."""

class IoError(WhycamError):
    """A file could not be read (a missing input, an unreadable weights file)."""

class ModelError(WhycamError):
    """The model could not be loaded or failed on an input (missing tensors, an unsupported
    ONNX operator, NaN in the logits)."""

class Explanation:
    """One map of one image: a target, a method."""

    image: Union[str, int]
    """The image: its path or URL as given, or its index in ``images`` for an array."""
    method: str
    """The method's id (``gradcam``)."""
    layers: list[str]
    """The target layers the map was computed at."""
    target_index: Optional[int]
    """The explained class (``None`` for a class group)."""
    target_label: str
    """The explained class's (or group's) name."""
    score: float
    """The target's score (its logit, or a group's weighted sum)."""
    probability: float
    """The target's probability (a group's: the sum over its classes)."""
    raw: npt.NDArray[np.float32]
    """The map in [0, 1] at the layer's resolution, HxW float32: exactly the array
    ``whycam explain --save-raw`` writes as ``<stem>.<method>.npy`` for the same image and
    options."""
    map: npt.NDArray[np.float32]
    """``raw`` upsampled (bilinear, half-pixel centres, as OpenCV) to the network input's size
    (224x224 for the default model), as pytorch-grad-cam returns its maps."""
    signed: Optional[npt.NDArray[np.float32]]
    """The map before ReLU and scaling (``<stem>.<method>.signed.npy``; several layers: their
    mean at the finest one's resolution), or ``None`` for a method without one."""
    def overlay(
        self, alpha: float = 0.5, colormap: str = "jet", gray_background: bool = False
    ) -> Any:
        """The heatmap drawn over the image by whycam's renderer, as a ``PIL.Image.Image``
        (RGB, the original image's size): the pixels of the ``<stem>.<method>.png`` that
        ``whycam explain --alpha --colormap [--gray-background]`` writes. ``colormap``: jet,
        turbo, magma, inferno, viridis, gray, bwr. Needs Pillow (imported only here);
        raises :class:`InvalidArgument` for an alpha outside [0, 1] or an unknown colour map."""
    def overlay_png(
        self, alpha: float = 0.5, colormap: str = "jet", gray_background: bool = False
    ) -> bytes:
        """:meth:`overlay` as PNG bytes, byte for byte the command line's file; no Pillow
        needed."""
    def _repr_png_(self) -> bytes:
        """The default overlay (alpha 0.5, jet) as PNG, which a notebook shows."""

class Explanations(list[Explanation]):
    """What :meth:`Model.explain` returns: a plain list of :class:`Explanation`, which a
    notebook shows (``_repr_html_``) as a row of overlays captioned with image, method, class
    and probability (the first ``shown``, 64)."""

    shown: int
    def _repr_html_(self) -> str: ...
    def figure_png(
        self,
        image: Union[str, int, None] = None,
        method: Optional[str] = None,
        alpha: float = 0.5,
        colormap: str = "jet",
        gray_background: bool = False,
    ) -> bytes:
        """The titled figure ``whycam explain --figure`` writes as
        ``<stem>.<method>.figure.png`` (byte for byte, same image and options): the image,
        titled with its name, beside the overlay of each of its targets, titled with class and
        probability. ``image``: as :attr:`Explanation.image` names it (default: the first);
        ``method``: default the first's. ``ValueError`` if there is no such explanation."""
    def figure(
        self,
        image: Union[str, int, None] = None,
        method: Optional[str] = None,
        alpha: float = 0.5,
        colormap: str = "jet",
        gray_background: bool = False,
    ) -> Any:
        """:meth:`figure_png` as a ``PIL.Image.Image`` (needs Pillow)."""
    def grid_png(
        self,
        rows: Optional[int] = None,
        columns: Optional[int] = None,
        method: Optional[str] = None,
        alpha: float = 0.5,
        colormap: str = "jet",
        gray_background: bool = False,
    ) -> bytes:
        """The contact sheet ``whycam explain --grid ROWSxCOLUMNS`` writes as
        ``grid.<method>.png`` (byte for byte): a 192-pixel tile per image, its first target's
        overlay captioned ``label(probability)``, in order. ``columns``: default the square
        root of the tile count rounded up; ``rows``: default what the tiles need; at most 400
        tiles (:class:`InvalidArgument` if they do not fit)."""
    def grid(
        self,
        rows: Optional[int] = None,
        columns: Optional[int] = None,
        method: Optional[str] = None,
        alpha: float = 0.5,
        colormap: str = "jet",
        gray_background: bool = False,
    ) -> Any:
        """:meth:`grid_png` as a ``PIL.Image.Image`` (needs Pillow)."""

class Model:
    """A classifier opened for predicting and explaining (see :func:`load`)."""

    @property
    def name(self) -> str:
        """The model's name: the architecture (``efficientnet-lite0``) or the ONNX file's name."""
    @property
    def num_classes(self) -> int:
        """How many classes the model tells apart (two for a one-logit binary head)."""
    @property
    def labels(self) -> list[str]:
        """The class names, indexed by class."""
    @property
    def input_size(self) -> int:
        """The side of the square network input, in pixels."""
    def layers(self) -> list[str]:
        """The layers a map can be computed at, in network order, as ``explain(layer=...)``
        takes them (``whycam models NAME`` lists them with their aliases)."""
    def predict(
        self, images: Images, top_k: int = 5, batch_size: int = 8
    ) -> list[list[tuple[int, str, float]]]:
        """The ``top_k`` most probable classes of each image, best first, as
        ``(index, label, probability)``; one list per image, in input order (a directory
        gives its files in sorted order).

        Raises :class:`DecodeError`, :class:`IoError`, :class:`LimitsError` for an input
        that cannot be read, :class:`ModelError` if the network computes NaN. The GIL is
        released while computing."""
    def explain(
        self,
        images: Images,
        method: Union[str, Sequence[str], None] = "gradcam",
        layer: Union[str, Sequence[str], None] = None,
        target: Union[str, int, None] = "auto",
        top_k: int = 1,
        aug_smooth: bool = False,
        eigen_smooth: bool = False,
        batch_size: int = 8,
    ) -> Explanations:
        """Class activation maps of each image, computed as ``whycam explain`` computes them:
        one :class:`Explanation` per image, target and method, in that order.

        - ``method``: a method id or alias (``whycam.methods()``), comma-separated ids, or a
          list of them.
        - ``layer``: a target layer (``model.layers()``) or a list, whose maps are averaged;
          ``None``: the layer feeding the classifier's pooling.
        - ``target``: ``"auto"`` (the ``top_k`` most probable classes), a class index, a
          label, or a class group.
        - ``aug_smooth``: average over flips and scalings; ``eigen_smooth``: the first
          principal component instead of the channel sum.
        - ``batch_size``: images explained together (as ``--batch-size``; the same batches
          give the same floating-point rounding as the command line).

        Raises :class:`InvalidArgument` for an unknown method, layer or target (the message
        lists what exists), and the input errors of :meth:`predict`. The GIL is released
        while computing."""
    def evaluate(
        self,
        images: Images,
        method: Union[str, Sequence[str], None] = "gradcam",
        layer: Union[str, Sequence[str], None] = None,
        target: Union[str, int, None] = "auto",
        metric: Union[str, Sequence[str], None] = None,
        steps: int = 20,
        road_noise: float = 0.01,
        seed: int = 0,
        boxes: Optional[PathLike] = None,
        batch_size: int = 8,
        score_batch_size: int = 32,
        limit: Optional[int] = None,
    ) -> dict[str, Any]:
        """Which map to trust: each method's maps scored by the faithfulness and localisation
        metrics of ``whycam evaluate`` (the same code and batches, so the same numbers), the
        report as the dict ``whycam evaluate --json`` prints: ``metrics`` (per method, per
        metric, the mean), ``intervals`` (95% bootstrap), ``images`` (per image the values),
        ``errors`` (inputs that failed, which are not raised).

        - ``images``: as for :meth:`explain`, or one labelled dataset (a ``path,label`` CSV, an
          ImageFolder, MNIST/Fashion-MNIST, CIFAR-10... files, its test split; ``limit``
          samples at most).
        - ``metric``: ids or a list (``avg-drop``, ``increase``, ``deletion``, ``insertion``,
          ``road-morf``, ``road-lerf``, ``road-combined``, ``drop``, ``increase-pgc``,
          ``sparseness``, ``pointing-game``, ``energy-pointing-game``, ``box-iou``,
          ``randomisation``); ``None``: those that need no boxes nor the randomisation check.
        - ``steps``: deletion/insertion intervals; ``road_noise``: ROAD's imputation noise;
          ``seed``: ROAD's noise, the bootstrap and the sampling methods; ``boxes``: a CSV of
          object boxes for the pointing games; ``score_batch_size``: perturbed inputs per
          forward pass.

        Raises :class:`InvalidArgument` for an unknown method, layer, target or metric, or a
        metric that needs ``boxes`` without them. The GIL is released while computing."""

def load(
    model: Optional[PathLike] = None,
    weights: Optional[PathLike] = None,
    labels: Optional[PathLike] = None,
    mean: Optional[Sequence[float]] = None,
    std: Optional[Sequence[float]] = None,
    size: Optional[int] = None,
) -> Model:
    """Opens a model as ``whycam explain --model/--weights`` does.

    - ``model``: an architecture name (``efficientnet-lite0``, ``resnet50``, see
      ``whycam models``), or a path to weights (``.pth``/``.pt``/``.safetensors``, PyTorch
      parameter names; a ``whycam train`` checkpoint brings its sidecar) or an ONNX graph.
      ``None``: efficientnet-lite0, or the architecture a checkpoint's sidecar records.
    - ``weights``: the weights of the architecture named by ``model``. ``None``: the
      pretrained ImageNet weights, fetched into whycam's cache on first use.
    - ``labels``: a file of class names (one per line, or a JSON array).
    - ``mean``, ``std``: the per-channel input normalisation (R, G, B in [0, 1]).
    - ``size``: the input size in pixels.

    Raises :class:`InvalidArgument` (unknown architecture, bad size or normalisation),
    :class:`ModelError` (weights that do not fit), :class:`IoError`, :class:`FetchError`."""

def from_torch(
    module: Any,
    input_size: Union[int, Tuple[int, int]] = 224,
    example: Any = None,
    labels: Optional[PathLike] = None,
    mean: Optional[Sequence[float]] = None,
    std: Optional[Sequence[float]] = None,
    opset: int = 17,
) -> Model:
    """Exports a PyTorch ``nn.Module`` with ``torch.onnx.export`` (TorchScript exporter, so
    layers are named by module path: ``layer="layer4"``) in eval mode and opens the export as
    :func:`load` opens an ``.onnx`` file; the module's mode is restored. ``input_size``: the
    square side (or ``(height, width)``) exported for, the batch size stays free; ``example``:
    a ``[1, 3, H, W]`` tensor to trace with instead. Needs torch (``ImportError`` without
    it)."""

def methods() -> list[str]:
    """The ids of every CAM method whycam has (``gradcam``, ``fullgrad``, ...), in its table's
    order."""

def set_num_threads(threads: int) -> None:
    """Sets how many threads compute (the global rayon pool; default: one per core). Must be
    called before the first :func:`load`, ``predict`` or ``explain``: once the pool runs it
    cannot be resized, and this raises :class:`WhycamError`."""

def keep_freed_memory() -> bool:
    """Keeps the memory this process frees for its next use instead of handing it back to the
    operating system, as the command line does: glibc's malloc is told (``mallopt``) to take no
    block from ``mmap`` and never to trim its heap, so the buffers of each batch are not faulted
    in afresh, and the process holds on to its peak memory (a first ``explain`` of 300 small
    images: 7.0 s without, 3.8 s with). For a process that only explains (a Ray actor, a batch
    job); ``whycam.ray``'s actors call it. Returns whether it took effect (glibc only)."""
