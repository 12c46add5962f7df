"""``whycam.from_torch``: any PyTorch ``nn.Module`` explained by whycam's engine, through an ONNX
export made on the spot. torch is imported here only, so whycam itself does not need it."""

import os
import tempfile

from ._native import load

# The temporary directories of the exports made so far.
_EXPORTS = []


def from_torch(module, input_size=224, example=None, labels=None, mean=None, std=None,
               opset=17):
    """Exports ``module`` with ``torch.onnx.export`` (the TorchScript exporter, which names the
    graph's nodes by module path, so ``layer="layer4"`` means ``model.layer4`` as
    pytorch-grad-cam's ``target_layers`` does) and opens the export as :func:`load` opens an
    ``.onnx`` file. The module is exported in eval mode (its BatchNorms with their running
    statistics; the exporter folds them into the convolutions) and put back in the mode it was
    in.

    - ``input_size``: the side of the square input (or ``(height, width)``) the graph is
      exported for; the batch size stays free.
    - ``example``: an input tensor to trace with instead (``[1, 3, H, W]``).
    - ``labels``, ``mean``, ``std``: as for :func:`load` (ImageNet's mean and std by default).
    - ``opset``: the ONNX opset of the export (11 to 20).

    The export is written to a temporary directory that lives until the interpreter exits.
    Raises ``ImportError`` without torch, and whycam's errors as :func:`load` does."""
    import torch  # noqa: PLC0415 - optional, only for this function

    if example is None:
        if isinstance(input_size, int):
            height = width = input_size
        else:
            height, width = input_size
        example = torch.zeros(1, 3, height, width)
    was_training = module.training
    module.eval()
    # The model reads its file again when a layer asks for another load (and names it in
    # errors), so the export lives as long as the interpreter (removed at exit).
    tmp = tempfile.TemporaryDirectory(prefix="whycam-")
    _EXPORTS.append(tmp)
    try:
        path = os.path.join(tmp.name, f"{type(module).__name__}.onnx")
        with torch.no_grad():
            torch.onnx.export(
                module,
                (example,),
                path,
                dynamo=False,
                opset_version=opset,
                input_names=["input"],
                output_names=["logits"],
                dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
            )
        return load(path, labels=labels, mean=mean, std=std)
    finally:
        module.train(was_training)
