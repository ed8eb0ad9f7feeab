"""``Basset``: three convolution blocks with batch norm, two dense layers of 1,000 units."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import cast

import torch
from torch import nn

from cislens.models._base import (
    SequenceModel,
    check_int_list,
    check_length,
    check_padding,
    check_positive_int,
    check_rate,
    conv_length,
    pool_length,
    unseen_tail,
)
from cislens.utils.types import RandomState
from cislens.utils.validation import check_choice

FIRST_ACTIVATIONS = ("relu", "exp")
"""Activations of the first convolution: "relu" (published) or "exp" (Koo & Ploenzke 2021)."""


class Exponential(nn.Module):
    """Elementwise ``exp``: the first-layer activation of Koo & Ploenzke (2021).

    Examples
    --------
    >>> Exponential()(torch.zeros(1, 2))
    tensor([[1., 1.]])
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.exp(x)


def _stack_lengths(length: int, widths, pools, padding: str, ceil: bool = False) -> list[int]:
    out = []
    for width, pool in zip(widths, pools, strict=True):
        length = conv_length(length, width, padding=padding)
        out.append(length)
        length = pool_length(length, pool, pool, ceil_mode=ceil) if length > 0 else 0
        out.append(length)
    return out


def check_flag(value, name: str, owner: str) -> bool:
    """Return ``value`` after checking it is a bool."""
    if not isinstance(value, bool):
        raise ValueError(f"{owner}: {name} must be True or False; got {value!r}.")
    return value


def global_pool_sizes(
    input_length: int,
    filter_widths: Sequence[int] = (19, 11, 7),
    pool_sizes: Sequence[int] = (3, 4, 4),
    *,
    pool_ceil: bool = False,
) -> list[int]:
    """``pool_sizes`` whose last pool covers the whole last feature map (a global max-pool).

    The padding is the one :class:`Basset` picks by default ("valid" when it fits);
    ``pool_ceil`` as in :class:`Basset`.

    Examples
    --------
    >>> global_pool_sizes(300), global_pool_sizes(600), global_pool_sizes(200, pool_ceil=True)
    ([3, 4, 15], [3, 4, 40], [3, 4, 7])
    """
    widths, pools = list(filter_widths), list(pool_sizes)
    valid = _stack_lengths(input_length, widths, pools, "valid", pool_ceil)
    padding = "valid" if min(valid) >= 1 else "same"
    last_conv = _stack_lengths(input_length, widths, pools, padding, pool_ceil)[-2]
    return [*pools[:-1], max(1, last_conv)]


def basset_unseen_bases(
    input_length: int,
    filter_widths: Sequence[int] = (19, 11, 7),
    pool_sizes: Sequence[int] = (3, 4, 4),
    *,
    padding: str | None = None,
    pool_ceil: bool = False,
) -> int:
    """Trailing input bases that a :class:`Basset` with these settings never reads.

    ``padding`` None: the one :class:`Basset` picks. The published pools fit 600 bp exactly.

    Examples
    --------
    >>> [basset_unseen_bases(n) for n in (200, 300, 500, 600, 1000)]
    [32, 36, 44, 0, 16]
    >>> basset_unseen_bases(200, pool_ceil=True)
    0
    """
    widths, pools = list(filter_widths), list(pool_sizes)
    if padding is None:
        valid = _stack_lengths(input_length, widths, pools, "valid", pool_ceil)
        padding = "valid" if min(valid) >= 1 else "same"
    lengths = [input_length, *_stack_lengths(input_length, widths, pools, padding, pool_ceil)]
    windows = []
    for width, pool in zip(widths, pools, strict=True):
        windows += [(width, 1, (width - 1) // 2 if padding == "same" else 0), (pool, pool, 0)]
    return unseen_tail(lengths, windows)


class Basset(SequenceModel):
    """The Basset architecture (Kelley et al. 2016).

    Three blocks Conv1d -> BatchNorm -> ReLU -> MaxPool with 300 / 200 / 200 filters of widths
    19 / 11 / 7 and pools 3 / 4 / 4, then two dense blocks Linear(1000) -> BatchNorm -> ReLU ->
    Dropout(0.3), then Linear(-> T). With unpadded convolutions a 600 bp input ends in 200 x 10
    features (2,000), as in the original.

    Parameters
    ----------
    n_tasks : int
        Number of outputs T.
    input_length : int
        Sequence length L (default 600); the first dense layer's size depends on it.
    n_filters, filter_widths, pool_sizes : list of 3 ints
        Defaults (300, 200, 200), (19, 11, 7) and (3, 4, 4).
    n_hidden : list of ints
        Units of the dense layers (default (1000, 1000)).
    dropout : float
        Dropout rate after each dense layer (default 0.3).
    first_activation : {"relu", "exp"}
        Activation of the first convolution block (default "relu", as published). "exp"
        (Koo & Ploenzke 2021) makes the first layer's map sparse: background positions give
        ~0 and only filter matches pass. With ReLU about half of the positions pass, the later
        max-pools pick background, and on small data (1,400 sequences of 300 bp, one planted
        6-mer) Basset memorised the training set at chance; with "exp" it found the motif.
        ``cislens train`` / ``run`` use "exp" by default (:func:`cislens.train.defaults.
        default_model_args`).
    dense_batchnorm : bool
        Batch norm in the dense blocks (default True, as published).
    pool_ceil : bool
        Keep each max-pool's last, partial window (PyTorch's ``ceil_mode``) so that every input
        base reaches the output (default False, as published). The published pools fit 600 bp
        exactly; at other lengths they drop the sequence's last bases without a word: the
        last 32 of 200 bp, 36 of 300, 44 of 500 and 16 of 1,000 never reach the output
        (their attributions are exactly 0, and a motif there is invisible; lab3 at 200 bp:
        test auROC 0.94-0.96 against 1.000). ``cislens train`` / ``run`` set it
        (:func:`cislens.train.defaults.basset_model_args`).
    padding : {"valid", "same"} or None
        Convolution padding. None (default) picks "valid" when ``input_length`` is long enough
        for it (>= 168 bp with the default widths and pools), else "same"; the choice is
        recorded in ``hparams``.
    random_state : int, numpy.random.Generator or None
        Seed of the weight initialisation.

    References
    ----------
    Kelley DR, Snoek J, Rinn JL. Basset: learning the regulatory code of the accessible genome
    with deep convolutional neural networks. Genome Res 26, 990-999 (2016).

    Examples
    --------
    >>> model = Basset(n_tasks=2, input_length=600, random_state=0).eval()
    >>> model.feature_lengths[-1], model.dense1.in_features
    (10, 2000)
    >>> small = Basset(n_tasks=2, input_length=60, n_filters=[8, 8, 8], n_hidden=[16, 16])
    >>> small.hparams["padding"], small.eval()(torch.zeros(2, 4, 60)).shape
    ('same', torch.Size([2, 2]))
    """

    name = "basset"
    fixed_length = True

    def __init__(
        self,
        n_tasks: int,
        input_length: int = 600,
        *,
        n_filters: Sequence[int] = (300, 200, 200),
        filter_widths: Sequence[int] = (19, 11, 7),
        pool_sizes: Sequence[int] = (3, 4, 4),
        n_hidden: Sequence[int] = (1000, 1000),
        dropout: float = 0.3,
        first_activation: str = "relu",
        dense_batchnorm: bool = True,
        pool_ceil: bool = False,
        padding: str | None = None,
        random_state: RandomState = None,
    ) -> None:
        super().__init__()
        owner = "Basset"
        check_choice(first_activation, FIRST_ACTIVATIONS, name="Basset: first_activation")
        self.hparams = {
            "n_tasks": check_positive_int(n_tasks, "n_tasks", owner),
            "input_length": check_length(input_length, owner, required=True),
            "n_filters": check_int_list(n_filters, "n_filters", owner, 3),
            "filter_widths": check_int_list(filter_widths, "filter_widths", owner, 3),
            "pool_sizes": check_int_list(pool_sizes, "pool_sizes", owner, 3),
            "n_hidden": check_int_list(n_hidden, "n_hidden", owner),
            "dropout": check_rate(dropout, "dropout", owner),
            "first_activation": first_activation,
            "dense_batchnorm": check_flag(dense_batchnorm, "dense_batchnorm", owner),
            "pool_ceil": check_flag(pool_ceil, "pool_ceil", owner),
            "padding": check_padding(padding, owner),
        }
        h = self.hparams
        if h["padding"] is None:
            valid = _stack_lengths(
                h["input_length"], h["filter_widths"], h["pool_sizes"], "valid", h["pool_ceil"]
            )
            h["padding"] = "valid" if min(valid) >= 1 else "same"
        lengths = self.feature_lengths
        if min(lengths) < 1:
            raise ValueError(
                f"Basset: input_length={h['input_length']} is too short for padding="
                f"{h['padding']!r}, widths {h['filter_widths']} and pools {h['pool_sizes']} "
                f"(layer lengths {lengths}); use longer sequences, padding='same' or smaller pools."
            )
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        with torch.device("meta"):
            in_channels = 4
            for i, (filters, width, pool) in enumerate(
                zip(h["n_filters"], h["filter_widths"], h["pool_sizes"], strict=True), start=1
            ):
                layers[f"conv{i}"] = nn.Conv1d(in_channels, filters, width, padding=h["padding"])
                layers[f"bn{i}"] = nn.BatchNorm1d(filters)
                if i == 1 and h["first_activation"] == "exp":
                    layers["exp1"] = Exponential()
                else:
                    layers[f"relu{i}"] = nn.ReLU()
                layers[f"pool{i}"] = nn.MaxPool1d(pool, ceil_mode=h["pool_ceil"])
                in_channels = filters
            self.conv = nn.Sequential(layers)
            self.flatten = nn.Flatten()
            dense: OrderedDict[str, nn.Module] = OrderedDict()
            features = in_channels * lengths[-1]
            for i, units in enumerate(h["n_hidden"], start=1):
                dense[f"linear{i}"] = nn.Linear(features, units)
                if h["dense_batchnorm"]:
                    dense[f"bn{i}"] = nn.BatchNorm1d(units)
                dense[f"relu{i}"] = nn.ReLU()
                dense[f"dropout{i}"] = nn.Dropout(h["dropout"])
                features = units
            self.dense = nn.Sequential(dense)
            self.out = nn.Linear(features, h["n_tasks"])
        self._initialize(random_state)

    @property
    def dense1(self) -> nn.Linear:
        """The first dense layer (its ``in_features`` is the flattened size)."""
        return cast(nn.Linear, self.dense.linear1)

    @property
    def feature_lengths(self) -> list[int]:
        """Lengths after each convolution and each pool, e.g. [582, 194, 184, 46, 40, 10]."""
        h = self.hparams
        return _stack_lengths(
            h["input_length"], h["filter_widths"], h["pool_sizes"], h["padding"], h["pool_ceil"]
        )

    @property
    def unseen_bases(self) -> int:
        """Trailing input bases that never reach the output (0 with ``pool_ceil=True``)."""
        h = self.hparams
        return basset_unseen_bases(
            h["input_length"],
            h["filter_widths"],
            h["pool_sizes"],
            padding=h["padding"],
            pool_ceil=h["pool_ceil"],
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.dense(self.flatten(self.conv(x))))


__all__ = [
    "FIRST_ACTIVATIONS",
    "Basset",
    "Exponential",
    "basset_unseen_bases",
    "global_pool_sizes",
]
