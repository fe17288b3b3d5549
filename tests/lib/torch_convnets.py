"""torch_convnets.py — the networks of examples/lenet.sn (LeNet-5) and
examples/resnet.sn (ResNet-8) written with torch.nn's layers, named so
that sinter's saved weights load into them (st_read.load_into), and
Fashion-MNIST read as sinter's idx(..., flatten = false) reads it.  Used
by the replays (tests/e2e/torch_convnet.py) and the benchmark
(bench/torch_conv_step.py).

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
    from torch_convnets import LeNet5, ResNet8, idx_images, idx_labels
"""
import gzip

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

DATA = "/usr/share/datasets/fashion-mnist/"


class LeNet5(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        h = F.max_pool2d(F.relu(self.conv1(x)), 2)
        h = F.max_pool2d(F.relu(self.conv2(h)), 2)
        h = torch.flatten(h, 1)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(h)))))


def conv3x3(c_in, c_out, stride=1):
    return nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)


class BasicBlock(nn.Module):
    """torchvision's; the projection is a ModuleList of one (or none) to get
    sinter's names shortcut.0 and shortcut_bn.0."""

    def __init__(self, c_in, c_out, stride=1):
        super().__init__()
        self.conv1 = conv3x3(c_in, c_out, stride)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = conv3x3(c_out, c_out)
        self.bn2 = nn.BatchNorm2d(c_out)
        n = int(stride != 1 or c_in != c_out)
        self.shortcut = nn.ModuleList(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False) for _ in range(n))
        self.shortcut_bn = nn.ModuleList(nn.BatchNorm2d(c_out) for _ in range(n))

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        h = self.bn2(self.conv2(h))
        skip = x
        for conv, bn in zip(self.shortcut, self.shortcut_bn):
            skip = bn(conv(x))
        return F.relu(h + skip)


class ResNet8(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = conv3x3(1, 16)
        self.stem_bn = nn.BatchNorm2d(16)
        self.stage1 = BasicBlock(16, 16)
        self.stage2 = BasicBlock(16, 32, 2)
        self.stage3 = BasicBlock(32, 64, 2)
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        h = F.relu(self.stem_bn(self.stem(x)))
        h = self.stage3(self.stage2(self.stage1(h)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(h, 1), 1))


def idx_images(name, n=None):
    """The first n images (all: None) of an IDX file as f32[n, 1, 28, 28], pixels / 255
    computed in f32, as sinter's idx(..., flatten = false)."""
    with gzip.open(DATA + name) as f:
        raw = f.read(-1 if n is None else 16 + n * 28 * 28)
    px = np.frombuffer(raw[16:], dtype=np.uint8).astype(np.float32) / np.float32(255)
    return torch.from_numpy(px.reshape(-1, 1, 28, 28))


def idx_labels(name, n=None):
    with gzip.open(DATA + name) as f:
        raw = f.read(-1 if n is None else 8 + n)
    return torch.from_numpy(np.frombuffer(raw[8:], dtype=np.uint8).astype(np.int64))
