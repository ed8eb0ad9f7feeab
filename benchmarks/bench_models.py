"""Peer-style architectures for the benchmarks, defined once (random weights, eval mode).

- ``ChromBPNetLike``: the ChromBPNet / BPNet-with-cropping body (Pampari et al. 2024): a valid
  Conv1d(4 -> F, 21) + ReLU, then ``n_layers`` residual layers
  ``x = x[..., c:-c] + ReLU(Conv1d(x, 3, dilation=2**i, valid))`` where the residual branch is
  cropped to the shrunken output (the ``x[:, :, c:-c]`` slices that stop naive window tracking),
  a profile head (valid Conv1d(F -> 1, 75), cropped to ``output_length``) and a counts head
  (global mean pool, Linear(F -> 1)). ``forward`` returns ``(profile (N, output_length),
  counts (N, 1))`` as chrombpnet-pytorch does; explain it with ``output=(1, "counts")`` or
  ``output=(0, "profile")``. Default input 2,114 bp, output 1,000 bp, 64 filters, 8 layers
  (the published model uses 512 filters; fewer keep CPU runs short, the structure is the same).
- ``DeepSTARRLike``: DeepSTARR (de Almeida et al. 2022): four blocks of
  Conv1d("same") + BatchNorm + ReLU + MaxPool(2) (256/60/60/120 filters, widths 7/3/5/3),
  flatten, two Dense(256) + BatchNorm + ReLU + Dropout, Linear -> 2 tasks (dev, hk); 249 bp.

Both map (N, 4, L) one-hot DNA; ``make_bench_model(name)`` returns ``(model, length, output)``
where ``output`` is the ``output=`` argument cislens needs (None for plain (N, T) models).
"""

from __future__ import annotations

import torch
from torch import nn


class ChromBPNetLike(nn.Module):
    def __init__(
        self,
        n_filters: int = 64,
        n_layers: int = 8,
        input_length: int = 2114,
        output_length: int = 1000,
        profile_width: int = 75,
        seed: int = 0,
    ) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.iconv = nn.Conv1d(4, n_filters, 21)
        self.rconvs = nn.ModuleList(
            nn.Conv1d(n_filters, n_filters, 3, dilation=2**i) for i in range(1, n_layers + 1)
        )
        self.fconv = nn.Conv1d(n_filters, 1, profile_width)
        self.linear = nn.Linear(n_filters, 1)
        self.output_length = output_length
        self.input_length = input_length

    def forward(self, X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.relu(self.iconv(X))
        for conv in self.rconvs:
            x_conv = torch.relu(conv(x))
            crop = (x.shape[-1] - x_conv.shape[-1]) // 2
            x = x[:, :, crop:-crop] + x_conv
        profile = self.fconv(x)
        crop = (profile.shape[-1] - self.output_length) // 2
        profile = profile[:, 0, crop : crop + self.output_length]
        counts = self.linear(x.mean(dim=-1))
        return profile, counts


class DeepSTARRLike(nn.Module):
    def __init__(self, input_length: int = 249, n_tasks: int = 2, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        layers: list[nn.Module] = []
        channels = 4
        length = input_length
        for filters, width in ((256, 7), (60, 3), (60, 5), (120, 3)):
            layers += [
                nn.Conv1d(channels, filters, width, padding="same"),
                nn.BatchNorm1d(filters),
                nn.ReLU(),
                nn.MaxPool1d(2),
            ]
            channels, length = filters, length // 2
        self.body = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(channels * length, 256),
            nn.BatchNorm1d(256),
            nn.ReLU(),
            nn.Dropout(0.4),
            nn.Linear(256, 256),
            nn.BatchNorm1d(256),
            nn.ReLU(),
            nn.Dropout(0.4),
            nn.Linear(256, n_tasks),
        )
        # Random running statistics, so batch norm is not the identity in eval mode.
        g = torch.Generator().manual_seed(seed)
        for module in self.modules():
            if isinstance(module, nn.BatchNorm1d):
                module.running_mean.copy_(0.1 * torch.randn(module.num_features, generator=g))
                module.running_var.copy_(1 + 0.5 * torch.rand(module.num_features, generator=g))

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(X))


def make_bench_model(name: str) -> tuple[nn.Module, int, object]:
    """``(model, input length, output=)`` for a benchmark model name (eval mode, seed 0)."""
    from cislens.models import Basset, BPNetLike, LabCNN

    if name == "basset":
        return Basset(n_tasks=164, input_length=1000, random_state=0).eval(), 1000, None
    if name == "basset2k":
        return Basset(n_tasks=164, input_length=2000, random_state=0).eval(), 2000, None
    if name == "bpnet":
        return BPNetLike(n_tasks=3, random_state=0).eval(), 1000, None
    if name == "labcnn":
        return LabCNN(n_tasks=3, input_length=200, random_state=0).eval(), 200, None
    if name == "chrombpnet":
        return ChromBPNetLike().eval(), 2114, (1, "counts")
    if name == "deepstarr":
        return DeepSTARRLike().eval(), 249, None
    raise ValueError(f"make_bench_model: unknown name {name!r}")


if __name__ == "__main__":
    for name in ("chrombpnet", "deepstarr"):
        model, length, output = make_bench_model(name)
        out = model(torch.zeros(2, 4, length))
        print(name, [o.shape for o in out] if isinstance(out, tuple) else out.shape, output)
