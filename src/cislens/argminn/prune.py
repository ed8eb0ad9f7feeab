"""Remove the filters a trained ARGMINN reads twice, and let the model settle without them.

ARGMINN's filter-overlap penalty pushes the scanner towards one filter per motif, but it is a
soft pressure: a model can finish training with two filters that read the same sites, one
column apart. On ``jund_tead`` (JUND and TEAD1 exactly 6 bp apart; decoys at other gaps) the
default model kept two 15 bp filters on the TEAD1-gap-JUND junction that share 76 % of their
windows; the readout marks the weaker one ``redundant`` (:mod:`cislens.argminn.status`) and
groups both into one unit, but the model still spends two filters on one thing, and one filter
per motif (or per inseparable unit) is what ARGMINN promises.

:func:`prune_redundant` finishes that job with a hard step. It reads the filter statuses on the
*validation* split (the test split stays unseen), sets every ``redundant`` filter's weights
and bias to zero in a copy of the model, and fine-tunes the copy for a few epochs under the
final regulariser weights (the schedule continues after its settled epoch, the token norm stays
frozen) with those filters held at zero. The copy replaces the model only when its validation
score (mean auROC over binary tasks, mean Pearson r over regression tasks) is within
``tolerance`` of the original's; otherwise the original is kept and the result says why.

Measured on ``jund_tead`` (the saved default model of ``benchmarks/argminn_presets.py``, seed 0;
``benchmarks/results/argminn_presets_s6_prune.txt``): zeroing the redundant filter alone lowers
the test auROC from 0.979 to 0.961; after the fine-tune (5 epochs, about 60 CPU s) it is 0.978,
and the one remaining filter reads the whole unit (TEAD1, 6 bp, JUND).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from cislens.argminn._common import check_model
from cislens.utils.reprs import compact_repr
from cislens.utils.types import Device, RandomState

if TYPE_CHECKING:  # annotations only
    from cislens.io.dataset import Dataset
    from cislens.models import ARGMINN
    from cislens.train import History

logger = logging.getLogger(__name__)

PRUNE_DEFAULTS = {
    "epochs": 8,
    "lr": 1e-3,
    "batch_size": 128,
    "patience": 3,
    "tolerance": 0.005,
    "max_sequences": 5000,
}
"""The fine-tune and acceptance settings :func:`prune_redundant` uses unless told otherwise."""


@dataclass
class PruneResult:
    """What :func:`prune_redundant` did.

    Attributes
    ----------
    model : ARGMINN
        The pruned, fine-tuned copy when ``applied``; otherwise the model given (unchanged).
    redundant : list of int
        The filters read as ``redundant`` on the validation split (empty: nothing to prune).
    applied : bool
        Whether ``model`` is the pruned copy.
    score_before, score_zeroed, score_after : float
        Validation score of the model given, of the copy right after zeroing, and after the
        fine-tune (NaN where that step did not run).
    metric : str
        What the scores are ("valid auROC", "valid Pearson r" or both, averaged over tasks).
    reason : str
        One sentence: what was done and why.
    history : History or None
        The fine-tune's history (None when nothing was fine-tuned).
    """

    __repr__ = compact_repr

    model: ARGMINN
    redundant: list[int]
    applied: bool
    score_before: float = float("nan")
    score_zeroed: float = float("nan")
    score_after: float = float("nan")
    metric: str = "valid auROC"
    reason: str = ""
    history: History | None = field(default=None, repr=False)

    def summary(self) -> str:
        """One line for logs and reports."""
        return f"ARGMINN pruning: {self.reason}"

    def to_dict(self) -> dict:
        """What a checkpoint records (``training_summary``): everything but the model and the
        history, NaN scores as None."""
        scores = {
            name: (None if np.isnan(value) else float(value))
            for name, value in (
                ("score_before", self.score_before),
                ("score_zeroed", self.score_zeroed),
                ("score_after", self.score_after),
            )
        }
        return {
            "redundant": list(self.redundant),
            "applied": bool(self.applied),
            **scores,
            "metric": self.metric,
            "fine_tune_epochs": self.history.n_epochs if self.history is not None else 0,
            "reason": self.reason,
        }


class _Continued(nn.Module):
    """The model with its epoch-dependent behaviour (regulariser weights, frozen token norm,
    training guide) continued after the schedule's settled epoch, so that ``fit``'s epoch 1 is
    trained like the original run's last epochs, not like its warm-up."""

    def __init__(self, model: ARGMINN, offset: int) -> None:
        super().__init__()
        self.inner = model
        self.offset = offset

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x)

    def on_epoch_start(self, epoch: int) -> None:
        self.inner.on_epoch_start(epoch + self.offset)

    def regularization_loss(self, epoch: int) -> torch.Tensor:
        return self.inner.regularization_loss(epoch + self.offset)


@contextmanager
def _held_at_zero(scanner: nn.Conv1d, rows: list[int]) -> Iterator[None]:
    """Zero ``rows`` of the scanner and keep their gradient at zero while the block runs (with
    zero gradients from the start, Adam never moves them: its moments stay zero)."""
    keep = torch.ones(scanner.out_channels, dtype=scanner.weight.dtype)
    keep[rows] = 0.0
    keep = keep.to(scanner.weight.device)
    hooks = []
    for param in (scanner.weight, scanner.bias):
        if param is None:  # a scanner without a bias
            continue
        mask = keep.reshape(-1, *[1] * (param.ndim - 1))
        with torch.no_grad():
            param.mul_(mask)
        hooks.append(param.register_hook(lambda g, m=mask: g * m))
    try:
        yield
    finally:
        for hook in hooks:
            hook.remove()


def validation_score(model: nn.Module, X, Y, *, batch_size: int = 256, device: Device = None):
    """``(score, metric)``: mean auROC over binary tasks and mean Pearson r over regression
    tasks of ``model`` on (X, Y), averaged together.

    Examples
    --------
    >>> from cislens.models import ARGMINN
    >>> X = np.eye(4, dtype=np.float32)[np.random.default_rng(0).integers(0, 4, (20, 40))]
    >>> X = X.transpose(0, 2, 1)
    >>> score, metric = validation_score(ARGMINN(1, random_state=0), X, np.arange(20)[:, None] % 2)
    >>> 0.0 <= score <= 1.0, metric
    (True, 'valid auROC')
    """
    from cislens.train import evaluate

    table = evaluate(model, X, Y, batch_size=batch_size, device=device)
    binary = table["task_type"] == "binary"
    values = np.concatenate(
        [
            table.loc[binary, "auroc"].to_numpy(float),
            table.loc[~binary, "pearson_r"].to_numpy(float),
        ]
    )
    names = [n for n, on in (("auROC", binary.any()), ("Pearson r", (~binary).any())) if on]
    return float(np.nanmean(values)) if np.isfinite(values).any() else float("nan"), (
        "valid " + " / ".join(names)
    )


def redundant_filters(model: ARGMINN, X, *, batch_size: int = 256, device: Device = None):
    """The filters :func:`cislens.argminn.argminn_motifs` reads as ``redundant`` on ``X``."""
    from cislens.argminn.readout import argminn_motifs

    filters = argminn_motifs(model, X, annotate=False, batch_size=batch_size, device=device).filters
    return [int(k) for k in filters.loc[filters["status"] == "redundant", "filter"]]


def _check_settings(settings: dict) -> dict:
    unknown = sorted(set(settings) - set(PRUNE_DEFAULTS))
    if unknown:
        raise ValueError(
            f"prune_redundant: unknown setting(s) {unknown}; valid settings are "
            f"{sorted(PRUNE_DEFAULTS)}."
        )
    merged = {**PRUNE_DEFAULTS, **settings}
    tolerance = merged["tolerance"]
    if isinstance(tolerance, bool) or not isinstance(tolerance, int | float) or tolerance < 0:
        raise ValueError(
            f"prune_redundant: tolerance must be a number >= 0 (the validation score the pruned "
            f"model may lose); got {tolerance!r}."
        )
    return merged


def prune_redundant(
    model: ARGMINN,
    data: Dataset,
    *,
    random_state: RandomState = None,
    device: Device = None,
    verbose: bool = False,
    **settings,
) -> PruneResult:
    """Remove the ``redundant`` filters of a trained ARGMINN and fine-tune without them.

    Parameters
    ----------
    model : ARGMINN
        A trained model; never changed (the pruned model is a copy).
    data : Dataset
        The training data: ``train`` and ``valid`` splits (statuses and the acceptance are read
        on ``valid``, the fine-tune trains on ``train``).
    random_state : int, numpy.random.Generator or None
        Seed of the fine-tune's batch order.
    device : str or torch.device, optional
        Where to run (default: CUDA when available, else CPU).
    verbose : bool
        Progress bars.
    **settings
        Overrides of :data:`PRUNE_DEFAULTS`: ``epochs`` (8), ``lr`` (1e-3), ``batch_size``
        (128), ``patience`` (3; on the validation loss), ``tolerance`` (0.005: the validation
        score the pruned model may lose) and ``max_sequences`` (5,000: validation sequences
        read for the statuses).

    Returns
    -------
    PruneResult
        The model to use (the pruned copy, or the model given when nothing is redundant or the
        copy scored more than ``tolerance`` below it), the filters removed and the scores.

    Examples
    --------
    >>> from cislens.models import ARGMINN
    >>> from cislens.simulate import simulate
    >>> data = simulate("spi1", n=60, random_state=0)
    >>> result = prune_redundant(ARGMINN(1, random_state=0), data)
    >>> result.applied, result.redundant  # an untrained model has no passing filter
    (False, [])
    """
    from cislens.train import fit

    check_model(model)
    options = _check_settings(settings)
    splits = getattr(data, "X", None)
    if not isinstance(splits, dict) or not {"train", "valid"} <= set(splits):
        raise ValueError(
            "prune_redundant: data must be a cislens Dataset with 'train' and 'valid' splits "
            f"(statuses and the acceptance are read on 'valid'); got {type(data).__name__}"
            + (f" with splits {sorted(splits)}" if isinstance(splits, dict) else "")
            + ". Build one with cislens.io.Dataset or cislens.simulate."
        )
    X_valid, Y_valid = data.X["valid"], data.Y["valid"]
    redundant = redundant_filters(model, X_valid[: options["max_sequences"]], device=device)
    if not redundant:
        return PruneResult(model, [], False, reason="no redundant filter; the model is kept.")
    before, metric = validation_score(model, X_valid, Y_valid, device=device)
    pruned = copy.deepcopy(model)
    with _held_at_zero(pruned.scanner, redundant):
        zeroed, _ = validation_score(pruned, X_valid, Y_valid, device=device)
        history = fit(
            _Continued(pruned, pruned.schedule.settled_epoch),
            data,
            epochs=options["epochs"],
            batch_size=options["batch_size"],
            lr=options["lr"],
            patience=options["patience"],
            monitor="valid_loss",
            reverse_complement=bool(pruned.hparams["reverse_complement"]),
            random_state=random_state,
            device=device,
            verbose=verbose,
        )
    after, _ = validation_score(pruned, X_valid, Y_valid, device=device)
    names = ", ".join(f"filter_{k}" for k in redundant)
    scores = f"{metric} {before:.4f} -> {zeroed:.4f} zeroed -> {after:.4f} fine-tuned"
    applied = bool(after >= before - options["tolerance"])
    reason = (
        f"removed {names} (redundant) and fine-tuned {history.n_epochs} epochs; {scores}."
        if applied
        else f"kept the model: without {names} the {metric} fell beyond the tolerance "
        f"{options['tolerance']} ({scores})."
    )
    logger.info("ARGMINN pruning: %s", reason)
    return PruneResult(
        pruned if applied else model,
        redundant,
        applied,
        before,
        zeroed,
        after,
        metric,
        reason,
        history,
    )


def prune_after_training(
    model: nn.Module,
    data: Dataset,
    *,
    random_state: RandomState = None,
    device: Device = None,
    verbose: bool = False,
) -> PruneResult | None:
    """What ``cislens train`` and ``cislens run`` do after training: :func:`prune_redundant`
    when ``model`` is an ARGMINN whose ``prune_redundant`` hyperparameter is True (the default);
    None for any other model, which is left alone.

    Examples
    --------
    >>> from cislens.models import DeepBind
    >>> prune_after_training(DeepBind(n_tasks=1), None) is None
    True
    """
    from cislens.models import ARGMINN

    if not isinstance(model, ARGMINN) or not model.hparams.get("prune_redundant", True):
        return None
    return prune_redundant(model, data, random_state=random_state, device=device, verbose=verbose)


__all__ = [
    "PRUNE_DEFAULTS",
    "PruneResult",
    "prune_after_training",
    "prune_redundant",
    "redundant_filters",
    "validation_score",
]
