"""Small local copies of third-party model architectures that fast ISM must handle.

Written after bpnet-lite's ``BPNet``, chrombpnet-pytorch's ``BPNet`` / ``ChromBPNet`` and gReLU's
convolutional towers, with their ordinary Python in ``forward`` (``X.shape[2]``, shape checks,
crops computed from the length, tuple outputs); no third-party package is imported.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class LiteBPNet(nn.Module):
    """bpnet-lite's BPNet without control tracks: dilated residual convolutions, a profile head
    cropped by ``trimming`` and a count head averaging ``X[:, :, start - 37 : end + 37]``."""

    def __init__(self, n_filters=8, n_layers=4, n_outputs=2, trimming=40):
        super().__init__()
        self.n_layers, self.trimming = n_layers, trimming
        self.iconv = nn.Conv1d(4, n_filters, kernel_size=21, padding=10)
        self.irelu = nn.ReLU()
        self.rconvs = nn.ModuleList(
            [
                nn.Conv1d(n_filters, n_filters, kernel_size=3, padding=2**i, dilation=2**i)
                for i in range(1, n_layers + 1)
            ]
        )
        self.rrelus = nn.ModuleList([nn.ReLU() for _ in range(n_layers)])
        self.fconv = nn.Conv1d(n_filters, n_outputs, kernel_size=75, padding=37)
        self.linear = nn.Linear(n_filters, 1)

    def forward(self, X, X_ctl=None):
        start, end = self.trimming, X.shape[2] - self.trimming
        X = self.irelu(self.iconv(X))
        for i in range(self.n_layers):
            X_conv = self.rrelus[i](self.rconvs[i](X))
            X = torch.add(X, X_conv)
        y_profile = self.fconv(X)[:, :, start:end]
        X = torch.mean(X[:, :, start - 37 : end + 37], dim=2)
        y_counts = self.linear(X).reshape(X.shape[0], 1)
        return y_profile, y_counts


class ChromBPNetTower(nn.Module):
    """chrombpnet-pytorch's BPNet: valid convolutions, the residual cropped to the dilated
    convolution's output (``x[:, :, crop:-crop] + conv_x``), a global average for counts."""

    def __init__(self, n_filters=8, n_layers=3, out_crop=10):
        super().__init__()
        self.iconv = nn.Conv1d(4, n_filters, kernel_size=11)
        self.rconvs = nn.ModuleList(
            [nn.Conv1d(n_filters, n_filters, 3, dilation=2 ** (i + 1)) for i in range(n_layers)]
        )
        self.fconv = nn.Conv1d(n_filters, 1, kernel_size=15)
        self.linear = nn.Linear(n_filters, 1)
        self.out_crop = out_crop

    def forward(self, x):
        if x.shape[1] != 4:
            x = x.permute(0, 2, 1)
        x = F.relu(self.iconv(x))
        for conv in self.rconvs:
            conv_x = F.relu(conv(x))
            crop = (x.shape[-1] - conv_x.shape[-1]) // 2
            x = x[:, :, crop:-crop] + conv_x
        profile = self.fconv(x)[:, :, self.out_crop : -self.out_crop].squeeze(1)
        counts = self.linear(x.mean(dim=-1))
        return profile, counts


class ChromBPNetLike(nn.Module):
    """chrombpnet's ChromBPNet: an accessibility tower plus a bias tower, profiles added, counts
    combined with ``logsumexp``."""

    def __init__(self):
        super().__init__()
        self.accessibility = ChromBPNetTower(8, 3)
        self.bias = ChromBPNetTower(4, 2, out_crop=18)  # profiles of the same length

    def forward(self, x):
        acc_profile, acc_counts = self.accessibility(x)
        bias_profile, bias_counts = self.bias(x)
        profile = acc_profile + bias_profile
        counts = torch.logsumexp(torch.stack([acc_counts, bias_counts], dim=-1), dim=-1)
        return profile, counts


class BorzoiGELU(nn.Module):
    """gReLU's ``gelu_borzoi``: ``x * sigmoid(1.702 x)``."""

    def forward(self, x):
        return torch.sigmoid(1.702 * x) * x


class GreluLike(nn.Module):
    """A gReLU-style tower: stem, norm-activation-conv residual blocks with GELU and dropout,
    a max pool, an average pool with padding, a length crop (gReLU's ``Crop``), a channel
    transform and a pooled linear head."""

    def __init__(self, n_filters=8, n_tasks=3, crop=3):
        super().__init__()
        self.stem = nn.Conv1d(4, n_filters, 15, padding="same")
        self.blocks = nn.ModuleList()
        for i, dilation in enumerate((1, 2, 4)):
            self.blocks.append(
                nn.Sequential(
                    nn.BatchNorm1d(n_filters),
                    BorzoiGELU() if i == 1 else nn.GELU(),
                    nn.Conv1d(n_filters, n_filters, 4, padding="same", dilation=dilation),
                    nn.Dropout(0.2),
                )
            )
        self.pool = nn.MaxPool1d(2)
        self.avg = nn.AvgPool1d(3, stride=1, padding=1)
        self.crop = crop
        self.transform = nn.Sequential(nn.Conv1d(n_filters, n_filters, 1), nn.SiLU())
        self.scale = nn.Parameter(torch.linspace(0.5, 1.5, n_filters)[:, None])
        self.head = nn.Linear(n_filters, n_tasks)

    def forward(self, x):
        h = self.stem(x)
        for block in self.blocks:
            h = h + block(h)
        h = self.avg(self.pool(F.elu(h)))
        h = h[..., self.crop : -self.crop]
        h = F.pad(self.transform(h) * self.scale, (2, 2))
        return self.head(h.mean(-1))


class OddsAndEnds(nn.Module):
    """Grouped dilated convolution, a padded max pool with ``ceil_mode``, softmax, ``cat`` and a
    sum over channels, a constant per position, then a strided slice (not windowed: the rest
    runs full-length) and a max over positions. For sequences of length 50."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(4, 6, 5, padding=3, dilation=2, groups=2)
        self.pool = nn.MaxPool1d(3, stride=2, padding=1, ceil_mode=True)
        self.conv2 = nn.Conv1d(12, 4, 3, padding=1)
        self.conv3 = nn.Conv1d(4, 2, 3)
        self.register_buffer("position", torch.linspace(-1.0, 1.0, 25))  # the pool's length

    def forward(self, x):
        h = self.pool(torch.tanh(self.conv(x)))
        h = torch.cat([torch.softmax(h, dim=1), h.exp()], dim=1)
        h = (self.conv2(h) + h.sum(1, keepdim=True)) * self.position
        t = self.conv3(h[:, :, ::2])
        return torch.cat([t.mean(-1), h.amax(-1)], dim=1)


class Tails(nn.Module):
    """A convolution, then one of several tails, then a windowed convolution and a mean: a
    negative crop, a channel slice, a pad of positions and channels, clamps with per-channel
    tensor bounds, a padded max pool with ``ceil_mode``, a round trip through ``transpose``
    (full-length from there on), an ``avg_pool1d`` with ``ceil_mode`` (not windowed), and a
    weight made with ``x.new_tensor`` (depends on the input's dtype only)."""

    KINDS = ("crop", "channels", "pad", "clamp", "maxpool", "transpose", "avg_ceil", "new")

    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind
        self.conv = nn.Conv1d(4, 6, 5, padding=2)
        self.weight = nn.Parameter(torch.randn(3, 3, 2) * 0.3)
        self.low = nn.Parameter(torch.linspace(-0.2, 0.2, 6)[:, None])
        self.high = nn.Parameter(torch.linspace(0.5, 0.9, 6)[:, None])

    def forward(self, x):
        h, kind = torch.relu(self.conv(x)), self.kind
        weight = x.new_tensor(self.weight.tolist()) if kind == "new" else self.weight
        if kind == "crop":
            h = h[:, :, -17:]
        elif kind == "channels":
            h = h[:, 1:4] * 2
        elif kind == "pad":
            h = F.pad(h, (3, 1, 1, 0), value=0.5)
        elif kind == "clamp":
            h = h.clamp(min=self.low, max=self.high)
        elif kind == "maxpool":
            h = F.max_pool1d(h, 4, 3, padding=2, ceil_mode=True)
        elif kind == "transpose":
            h = h.transpose(1, 2).transpose(1, 2)
        elif kind == "avg_ceil":
            h = F.avg_pool1d(h, 3, 2, ceil_mode=True)
        h = torch.tanh(F.conv1d(h[:, :3], weight))
        return torch.stack([h.mean((1, 2)), h.logsumexp(-1)[:, 0]], 1)


class Select(nn.Module):
    """Explain one output of a tuple-returning model, reduced to (N, T)."""

    def __init__(self, model, index, reduce=None):
        super().__init__()
        self.model, self.index, self.reduce = model, index, reduce

    def forward(self, x):
        y = self.model(x)[self.index]
        return y if self.reduce is None else self.reduce(y)


def profile_sum(y):
    """Cropped profile (N, T, L') summed over positions: (N, T)."""
    return y.sum(-1) if y.ndim == 3 else y.sum(-1, keepdim=True)


def profile_weighted(y):
    """bpnet-lite's ``ProfileWrapper``: the profile's logits weighted by their softmax."""
    y = y.reshape(y.shape[0], -1)
    y = y - y.mean(dim=-1, keepdim=True)
    return (torch.softmax(y, dim=-1).detach() * y).sum(dim=-1, keepdim=True)


def build(name: str) -> tuple[nn.Module, int]:
    """A model with random weights (seeded) in eval mode, and its input length."""
    torch.manual_seed(0)
    lite, chrom, grelu, odds = LiteBPNet(), ChromBPNetLike(), GreluLike(), OddsAndEnds()
    for model in (lite, chrom, grelu):
        for module in model.modules():
            if isinstance(module, nn.BatchNorm1d):  # non-trivial running statistics
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
    models = {
        "bpnet_counts": (Select(lite, 1), 160),
        "bpnet_profile": (Select(lite, 0, profile_sum), 160),
        "bpnet_weighted": (Select(lite, 0, profile_weighted), 160),
        "chrombpnet_counts": (Select(chrom, 1), 120),
        "chrombpnet_profile": (Select(chrom, 0, profile_sum), 120),
        "grelu": (grelu, 90),
        "odds": (odds, 50),
    }
    model, length = models[name]
    return model.eval(), length


NAMES = (
    "bpnet_counts", "bpnet_profile", "bpnet_weighted", "chrombpnet_counts", "chrombpnet_profile",
    "grelu", "odds",
)  # fmt: skip
