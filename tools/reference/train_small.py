"""PyTorch twin of `whycam train --model whycam-small` on Fashion-MNIST, for the speed
comparison (images per second of training) and as a check of the accuracy whycam reaches.

Same network (three blocks of conv3x3-BN-ReLU x2, 2x2 max pooling after the first two,
global average pooling, linear), same data (Debian's dataset-fashion-mnist IDX files), same
augmentation (RandomResizedCrop(28, scale=(0.8, 1), ratio=(0.9, 1.1)), horizontal flip),
same optimiser (AdamW, fastai's one-cycle schedule stepped per batch), same batch sizes.

    python tools/reference/train_small.py --epochs 1 --threads 2 [--widths 32,64,128]

Prints one JSON line per epoch (train loss and accuracy, test accuracy, images per second
of the training pass) like `whycam train`'s metrics.jsonl.
"""

import argparse
import gzip
import json
import math
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image
from torchvision import transforms

MEAN, STD = 0.2860, 0.3530


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


class Block(nn.Module):
    def __init__(self, c_in, c_out):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)), inplace=True)
        return F.relu(self.bn2(self.conv2(x)), inplace=True)


class Small(nn.Module):
    """whycam-small, with whycam's parameter names (blocks.{i}.conv1, ..., head)."""

    def __init__(self, classes, widths, in_channels):
        super().__init__()
        self.in_channels = in_channels
        blocks, c = [], in_channels
        for w in widths:
            blocks.append(Block(c, w))
            c = w
        self.blocks = nn.ModuleList(blocks)
        self.head = nn.Linear(c, classes)

    def forward(self, x):
        if self.in_channels == 1:
            x = x.mean(1, keepdim=True)
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i < len(self.blocks) - 1:
                x = F.max_pool2d(x, 2)
        return self.head(x.mean((2, 3)))


def one_cycle(lr, progress):
    def cos(a, b, t):
        return b + (a - b) * 0.5 * (1 + math.cos(math.pi * t))

    if progress < 0.25:
        return cos(lr / 25, lr, progress / 0.25)
    return cos(lr, lr / 1e5, (progress - 0.25) / 0.75)


class Images(torch.utils.data.Dataset):
    def __init__(self, images, labels, train, crop_scale, mean=MEAN, std=STD):
        self.images, self.labels = images, labels
        steps = [transforms.Grayscale(3)]
        if train:
            steps = [
                transforms.RandomResizedCrop(28, scale=(crop_scale, 1.0)),
                transforms.RandomHorizontalFlip(),
            ] + steps
        steps += [transforms.ToTensor(), transforms.Normalize([mean] * 3, [std] * 3)]
        self.transform = transforms.Compose(steps)

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return self.transform(Image.fromarray(self.images[i])), int(self.labels[i])


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--widths", default="16,32,64")
    p.add_argument("--in-channels", type=int, default=1)
    p.add_argument("--crop-scale", type=float, default=1.0)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-2)
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--every", type=int, default=1, help="use every N-th image")
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    d = a.data
    train = Images(
        read_idx(f"{d}/train-images-idx3-ubyte.gz")[:: a.every],
        read_idx(f"{d}/train-labels-idx1-ubyte.gz")[:: a.every],
        True,
        a.crop_scale,
    )
    test = Images(
        read_idx(f"{d}/t10k-images-idx3-ubyte.gz")[:: a.every],
        read_idx(f"{d}/t10k-labels-idx1-ubyte.gz")[:: a.every],
        False,
        a.crop_scale,
    )
    train_dl = torch.utils.data.DataLoader(train, a.batch_size, shuffle=True)
    test_dl = torch.utils.data.DataLoader(test, 256)
    widths = [int(w) for w in a.widths.split(",")]
    model = Small(10, widths, a.in_channels)
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=a.weight_decay)
    steps, step = a.epochs * len(train_dl), 0
    for epoch in range(a.epochs):
        model.train()
        start = time.perf_counter()
        loss_sum = right = seen = 0
        for x, y in train_dl:
            for g in opt.param_groups:
                g["lr"] = one_cycle(a.lr, step / steps)
            logits = model(x)
            loss = F.cross_entropy(logits, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
            loss_sum += loss.item() * len(y)
            right += (logits.argmax(1) == y).sum().item()
            seen += len(y)
        train_s = time.perf_counter() - start
        model.eval()
        test_right = 0
        with torch.no_grad():
            for x, y in test_dl:
                test_right += (model(x).argmax(1) == y).sum().item()
        stats = {
            "epoch": epoch + 1,
            "train_loss": loss_sum / seen,
            "train_accuracy": right / seen,
            "valid_accuracy": test_right / len(test),
            "images": seen,
            "train_seconds": train_s,
            "images_per_second": seen / train_s,
            "seconds": time.perf_counter() - start,
        }
        print(json.dumps(stats), flush=True)


if __name__ == "__main__":
    main()
