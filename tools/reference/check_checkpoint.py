"""Loads a whycam-small checkpoint written by `whycam train` into the PyTorch twin of
`train_small.py` (strict state-dict load) and scores it on the Fashion-MNIST test set, so the
accuracy can be compared with what whycam reported in the sidecar.

    python tools/reference/check_checkpoint.py RUN/best.safetensors
"""

import json
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

sys.path.insert(0, str(Path(__file__).parent))
from train_small import Images, Small, read_idx  # noqa: E402


def main():
    weights = Path(sys.argv[1])
    data = sys.argv[2] if len(sys.argv) > 2 else "/usr/share/datasets/fashion-mnist"
    sidecar = json.loads(weights.with_suffix(".json").read_text())
    state = load_file(str(weights))
    widths = [state[f"blocks.{i}.conv1.weight"].shape[0] for i in range(3)]
    in_channels = state["blocks.0.conv1.weight"].shape[1]
    model = Small(len(sidecar["labels"]), widths, in_channels)
    missing, unexpected = model.load_state_dict(state, strict=False)
    # whycam does not keep BatchNorm's num_batches_tracked counters.
    assert all(k.endswith("num_batches_tracked") for k in missing), missing
    assert not unexpected, unexpected
    model.eval()
    norm = sidecar["preprocess"]["normalization"]
    test = Images(
        read_idx(f"{data}/t10k-images-idx3-ubyte.gz"),
        read_idx(f"{data}/t10k-labels-idx1-ubyte.gz"),
        False,
        1.0,
        mean=norm["mean"][0],
        std=norm["std"][0],
    )
    right = 0
    with torch.no_grad():
        for x, y in torch.utils.data.DataLoader(test, 500):
            right += (model(x).argmax(1) == y).sum().item()
    print(
        json.dumps(
            {
                "pytorch_accuracy": right / len(test),
                "whycam_accuracy": sidecar["metrics"]["valid_accuracy"],
            }
        )
    )


if __name__ == "__main__":
    main()
