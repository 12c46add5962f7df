"""whycam: class activation maps of image classifiers, computed in Rust.

>>> import whycam
>>> model = whycam.load()                      # EfficientNet-Lite0 on ImageNet
>>> model.predict("cat.png")[0][0]             # (index, label, probability)
>>> [e] = model.explain("cat.png", method="gradcam")
>>> e.raw.shape, e.map.shape                   # layer resolution, input resolution

Images are paths (files, directories, URLs), numpy arrays HxWx3 (uint8, or floats in
[0, 1]), PIL images, torch tensors (3xHxW or Nx3xHxW, not normalised) or lists of them; they
are prepared exactly as ``whycam explain`` prepares files. ``e.overlay()`` draws a map over its
image as ``whycam explain`` draws its PNG (a PIL image); a notebook shows explanations as
their overlays.
Errors are :class:`WhycamError` subclasses named after their kind. Any PyTorch module:
``whycam.from_torch(module)`` (exports it to ONNX; needs torch).
"""

from ._native import (
    DecodeError,
    Explanation,
    FetchError,
    InvalidArgument,
    IoError,
    LimitsError,
    Model,
    ModelError,
    WhycamError,
    __version__,
    load,
    methods,
    set_num_threads,
)
from ._display import Explanations
from ._memory import keep_freed_memory
from ._torch import from_torch

__all__ = [
    "DecodeError",
    "Explanation",
    "Explanations",
    "FetchError",
    "InvalidArgument",
    "IoError",
    "LimitsError",
    "Model",
    "ModelError",
    "WhycamError",
    "__version__",
    "from_torch",
    "keep_freed_memory",
    "load",
    "methods",
    "set_num_threads",
]
