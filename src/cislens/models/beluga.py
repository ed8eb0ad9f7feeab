"""``DeepSEABeluga``: the DeepSEA "Beluga" layout, scaled to the input length."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

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
from cislens.models.basset import FIRST_ACTIVATIONS, Exponential, check_flag
from cislens.utils.types import RandomState
from cislens.utils.validation import check_choice


def _beluga_lengths(
    length: int, width: int, pool: int, padding: str, ceil: bool = False
) -> list[int]:
    out = []
    for stage in range(3):
        for _ in range(2):
            length = conv_length(length, width, padding=padding) if length > 0 else 0
            out.append(length)
        if stage < 2:
            length = pool_length(length, pool, pool, ceil_mode=ceil) if length > 0 else 0
            out.append(length)
    return out


def _stage_layers(h: dict) -> OrderedDict[str, nn.Module]:
    """The three stages of two convolutions (each with its batch norm and activation), with
    dropout and a max-pool after the first two."""
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    in_channels = 4
    for stage, filters in enumerate(h["n_filters"], start=1):
        for sub in "ab":
            layers[f"conv{stage}{sub}"] = nn.Conv1d(
                in_channels, filters, h["filter_width"], padding=h["padding"]
            )
            if h["batch_norm"]:
                layers[f"bn{stage}{sub}"] = nn.BatchNorm1d(filters)
            if stage == 1 and sub == "a" and h["first_activation"] == "exp":
                layers["exp1a"] = Exponential()
            else:
                layers[f"relu{stage}{sub}"] = nn.ReLU()
            in_channels = filters
        if stage < 3:
            layers[f"dropout{stage}"] = nn.Dropout(h["dropout"])
            layers[f"pool{stage}"] = nn.MaxPool1d(h["pool_size"], ceil_mode=h["pool_ceil"])
    return layers


def beluga_unseen_bases(
    input_length: int,
    filter_width: int = 8,
    pool_size: int = 4,
    *,
    padding: str | None = None,
    pool_ceil: bool = False,
    global_pool: bool = False,
) -> int:
    """Trailing input bases that a :class:`DeepSEABeluga` with these settings never reads.

    ``padding`` None: the one :class:`DeepSEABeluga` picks. A global last pool reads every
    position of the last map, so it adds nothing to what the stages drop.

    Examples
    --------
    >>> [beluga_unseen_bases(n) for n in (300, 500, 1000, 2000)]
    [0, 14, 2, 10]
    >>> beluga_unseen_bases(500, pool_ceil=True)
    0
    """
    if padding is None:
        valid = _beluga_lengths(input_length, filter_width, pool_size, "valid", pool_ceil)
        padding = "valid" if min(valid) >= 1 else "same"
    lengths = [
        input_length,
        *_beluga_lengths(input_length, filter_width, pool_size, padding, pool_ceil),
    ]
    conv = (filter_width, 1, (filter_width - 1) // 2 if padding == "same" else 0)
    pool = (pool_size, pool_size, 0)
    return unseen_tail(lengths, [conv, conv, pool, conv, conv, pool, conv, conv])


class DeepSEABeluga(SequenceModel):
    """The Beluga layout (Zhou et al. 2018) with the dense layer sized for the input length.

    Three stages of two Conv1d + ReLU each, with 320 / 480 / 640 filters of width 8; Dropout(0.2)
    and MaxPool(4) after the first two stages; then Flatten, Dropout(0.5), Linear(-> n_hidden) +
    ReLU, Linear(-> T). For the original 2,000 bp input the flattened size is 640 x 106 = 67,840.

    The class default is the published layout. ``cislens train`` and ``cislens run`` use a
    compact Beluga with ``batch_norm=True`` below 2,000 training sequences
    (:func:`cislens.train.defaults.beluga_model_args`): without normalisation the stage-1 ReLU
    channels died on small data and the output was constant.

    Parameters
    ----------
    n_tasks : int
        Number of outputs T.
    input_length : int
        Sequence length L (default 2000).
    n_filters : list of 3 ints
        Filters per stage (default (320, 480, 640)).
    filter_width : int
        Width of every convolution (default 8).
    pool_size : int
        Max-pool size after stages 1 and 2 (default 4).
    n_hidden : int or None
        Units of the hidden dense layer. None (default) uses ``max(64, n_tasks + 1)``; Beluga used
        n_tasks + 1 (2,003 units for 2,002 tasks).
    dropout, dense_dropout : float
        Dropout after stages 1 and 2 (default 0.2) and before the dense layer (default 0.5).
    first_activation : {"relu", "exp"}
        Activation of the first convolution (default "relu", as published; "exp": Koo &
        Ploenzke 2021, a sparse first-layer map, see :class:`cislens.models.Basset`).
    global_pool : bool
        A global max-pool over the last stage's positions before the dense layer (default
        False: the published flatten of every position).
    batch_norm : bool
        A ``BatchNorm1d`` after every convolution, before its activation (default False: Beluga
        has no normalisation). It centres every channel over the batch, so a first-layer
        ``exp`` is sparse (only filter matches are large) and no ReLU channel stays silent.
    pool_ceil : bool
        Keep each max-pool's last, partial window (PyTorch's ``ceil_mode``) so that every input
        base reaches the output (default False, as published). With the published pools the
        last bases of some lengths never reach the output (:func:`beluga_unseen_bases`: 14 of
        500 bp, 2 of 1,000, 10 of Beluga's own 2,000); ``cislens train`` / ``run`` set it
        where needed (:func:`cislens.train.defaults.beluga_model_args`).
    padding : {"valid", "same"} or None
        None (default) picks "valid" (as Beluga) when the input is long enough (>= 310 bp with the
        default widths), else "same"; the choice is recorded in ``hparams``.
    random_state : int, numpy.random.Generator or None
        Seed of the weight initialisation.

    References
    ----------
    Zhou J, Theesfeld CL, Yao K, Chen KM, Wong AK, Troyanskaya OG. Deep learning sequence-based
    ab initio prediction of variant effects on expression and disease risk. Nat Genet 50,
    1171-1179 (2018).

    Examples
    --------
    >>> model = DeepSEABeluga(n_tasks=2, input_length=2000, n_filters=[4, 4, 4], n_hidden=8)
    >>> model.feature_lengths[-1]
    106
    >>> model.eval()(torch.zeros(2, 4, 2000)).shape
    torch.Size([2, 2])
    """

    name = "beluga"
    fixed_length = True

    def __init__(
        self,
        n_tasks: int,
        input_length: int = 2000,
        *,
        n_filters: Sequence[int] = (320, 480, 640),
        filter_width: int = 8,
        pool_size: int = 4,
        n_hidden: int | None = None,
        dropout: float = 0.2,
        dense_dropout: float = 0.5,
        first_activation: str = "relu",
        global_pool: bool = False,
        batch_norm: bool = False,
        pool_ceil: bool = False,
        padding: str | None = None,
        random_state: RandomState = None,
    ) -> None:
        super().__init__()
        owner = "DeepSEABeluga"
        n_tasks = check_positive_int(n_tasks, "n_tasks", owner)
        check_choice(first_activation, FIRST_ACTIVATIONS, name="DeepSEABeluga: first_activation")
        self.hparams = {
            "n_tasks": n_tasks,
            "input_length": check_length(input_length, owner, required=True),
            "n_filters": check_int_list(n_filters, "n_filters", owner, 3),
            "filter_width": check_positive_int(filter_width, "filter_width", owner),
            "pool_size": check_positive_int(pool_size, "pool_size", owner),
            "n_hidden": max(64, n_tasks + 1)
            if n_hidden is None
            else check_positive_int(n_hidden, "n_hidden", owner),
            "dropout": check_rate(dropout, "dropout", owner),
            "dense_dropout": check_rate(dense_dropout, "dense_dropout", owner),
            "first_activation": first_activation,
            "global_pool": check_flag(global_pool, "global_pool", owner),
            "batch_norm": check_flag(batch_norm, "batch_norm", owner),
            "pool_ceil": check_flag(pool_ceil, "pool_ceil", owner),
            "padding": check_padding(padding, owner),
        }
        h = self.hparams
        if h["padding"] is None:
            valid = _beluga_lengths(
                h["input_length"], h["filter_width"], h["pool_size"], "valid", h["pool_ceil"]
            )
            h["padding"] = "valid" if min(valid) >= 1 else "same"
        lengths = self.feature_lengths
        if min(lengths) < 1:
            raise ValueError(
                f"DeepSEABeluga: input_length={h['input_length']} is too short for padding="
                f"{h['padding']!r}, filter_width={h['filter_width']} and pool_size="
                f"{h['pool_size']} (layer lengths {lengths}); use longer sequences, "
                "padding='same' or a smaller pool_size."
            )
        with torch.device("meta"):
            layers = _stage_layers(h)
            in_channels = h["n_filters"][-1]
            positions = lengths[-1]
            if h["global_pool"]:
                layers["pool3"] = nn.MaxPool1d(positions)
                positions = 1
            self.conv = nn.Sequential(layers)
            self.flatten = nn.Flatten()
            self.dense_dropout = nn.Dropout(h["dense_dropout"])
            self.dense = nn.Linear(in_channels * positions, h["n_hidden"])
            self.relu_dense = nn.ReLU()
            self.out = nn.Linear(h["n_hidden"], n_tasks)
        self._initialize(random_state)

    @property
    def feature_lengths(self) -> list[int]:
        """Lengths after each convolution and pool (8 entries; the last is the flattened length)."""
        h = self.hparams
        return _beluga_lengths(
            h["input_length"], h["filter_width"], h["pool_size"], h["padding"], h["pool_ceil"]
        )

    @property
    def unseen_bases(self) -> int:
        """Trailing input bases that never reach the output (0 with ``pool_ceil=True``)."""
        h = self.hparams
        return beluga_unseen_bases(
            h["input_length"],
            h["filter_width"],
            h["pool_size"],
            padding=h["padding"],
            pool_ceil=h["pool_ceil"],
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.dense_dropout(self.flatten(self.conv(x)))
        return self.out(self.relu_dense(self.dense(x)))


__all__ = ["DeepSEABeluga", "beluga_unseen_bases"]
