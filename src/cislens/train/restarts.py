"""Training with restarts: several initialisations race for a few epochs, the best one trains.

Some models get stuck in a poor optimum that their first epochs already show. ARGMINN is the
case in point: on ``e2f6_max`` (E2F6 and MAX must both be present; both motifs contain a CpG)
a seed either learns one filter per motif within 2-5 epochs (validation auROC 0.99) or a
filter for only one of them (auROC 0.88, what one motif alone gives), and then stays there for
all 28 epochs (seeds 0-5 of ``benchmarks/argminn_presets.py``'s setting without ARGMINN's
training guide: 3 of 6 found both motifs). The
ARGMINN paper's table reports the best of several runs for the same reason.

:func:`fit_restarts` trains ``restarts`` initialisations for ``selection_epochs`` epochs each,
keeps the seed whose ``monitor`` value is best after those epochs, and trains that seed again
from the start for the full ``epochs``. On the CPU, training is deterministic given the seed, so
the full run repeats the winner's first epochs exactly (same batches, same optimizer state)
instead of resuming from a saved state; the price is ``selection_epochs`` repeated epochs. The
first restart uses ``random_state`` itself, so ``restarts=1`` is exactly one :func:`fit` call.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from torch import nn

from cislens.errors import CislensWarning
from cislens.train.defaults import MIN_EPOCHS
from cislens.train.fit import MONITORS, fit
from cislens.train.history import History
from cislens.utils.random import derive_seed, resolve_seed
from cislens.utils.types import RandomState

if TYPE_CHECKING:  # annotations only
    from cislens.io.dataset import Dataset

RESTART_COLUMNS = ("restart", "seed", "lr", "valid_loss", "valid_auroc", "valid_auprc", "chosen")
"""Columns of the restarts table (one row per restart; metrics after ``selection_epochs``)."""

_RESTART_STREAM = 7919  # derive_seed stream of restarts 1, 2, ... (restart 0 is the seed itself)


def restart_seeds(random_state: RandomState, restarts: int) -> list[int]:
    """The seeds of the restarts: the resolved ``random_state``, then seeds derived from it.

    Examples
    --------
    >>> seeds = restart_seeds(0, 3)
    >>> seeds[0], len(set(seeds))
    (0, 3)
    """
    seed = resolve_seed(random_state)
    return [seed] + [derive_seed(seed, _RESTART_STREAM, r) for r in range(1, restarts)]


def _check_counts(restarts, selection_epochs, epochs, lr_candidates) -> int:
    """Check the race's counts and candidates; the number of runs that race."""
    for name, value in (("restarts", restarts), ("selection_epochs", selection_epochs)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"fit_restarts: {name} must be an int >= 1; got {value!r}.")
    if lr_candidates is not None:
        values = list(lr_candidates) if isinstance(lr_candidates, (list, tuple)) else None
        if not values or any(
            isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0 for v in values
        ):
            raise ValueError(
                "fit_restarts: lr_candidates must be None or a non-empty list of learning "
                f"rates > 0; got {lr_candidates!r}. Pass e.g. [0.003, 0.001] or None."
            )
    runs = restarts * (1 if lr_candidates is None else len(lr_candidates))
    # epochs None: fit's epochs_for of the data, which is never below MIN_EPOCHS.
    if runs > 1 and selection_epochs >= (MIN_EPOCHS if epochs is None else epochs):
        raise ValueError(
            f"fit_restarts: selection_epochs ({selection_epochs}) must be smaller than epochs "
            f"({epochs}); the restarts are compared after the first selection_epochs epochs. "
            "Lower selection_epochs or pass restarts=1 and lr_candidates=None."
        )
    return runs


def _race(build, data, pairs, selection_epochs, fit_options) -> tuple[list[dict], int, str]:
    """Train each (lr, seed) pair for ``selection_epochs``; the rows, the winner, the monitor."""
    monitor = fit_options.get("monitor", "valid_loss")  # fit checks it (the first call raises)
    selection_options = {**fit_options, "patience": None}
    rows = []
    for restart, (lr, seed) in enumerate(pairs):
        with warnings.catch_warnings():
            # The selection runs stop long before a scheduled regulariser settles, which
            # fit warns about; here that is the point.
            warnings.filterwarnings(
                "ignore", message=r"fit: .* final regulariser weights", category=CislensWarning
            )
            options = selection_options if lr is None else {**selection_options, "lr": lr}
            history = fit(build(seed), data, epochs=selection_epochs, random_state=seed, **options)
        monitor = history.monitor  # "auto" resolved by fit
        rows.append(
            {
                "restart": restart,
                "seed": seed,
                "lr": history.params["lr"],
                "valid_loss": history.valid_loss[-1],
                "valid_auroc": history.valid_auroc[-1],
                "valid_auprc": history.valid_auprc[-1],
            }
        )
    # Lower is better for every monitor once the maximised ones change sign; a NaN (a
    # diverged restart, a metric without both classes) never wins; a tie goes to the first
    # pair (the first learning-rate candidate).
    sign = 1.0 if MONITORS[monitor] == "min" else -1.0
    scores = sign * np.array([row[monitor] for row in rows], dtype=float)
    winner = int(np.argmin(np.where(np.isfinite(scores), scores, np.inf)))
    return rows, winner, monitor


def fit_restarts(
    build: Callable[[int], nn.Module],
    data: Dataset | dict[str, Any] | tuple[Any, ...],
    *,
    restarts: int = 1,
    selection_epochs: int = 4,
    epochs: int | None = 10,
    lr_candidates: Sequence[float] | None = None,
    random_state: RandomState = None,
    callback: Callable[[dict[str, Any]], Any] | None = None,
    **fit_options: Any,
) -> tuple[nn.Module, History, pd.DataFrame]:
    """Race ``restarts`` initialisations (times ``lr_candidates``) for ``selection_epochs``,
    then fully train the best.

    Parameters
    ----------
    build : callable
        ``build(seed) -> model``: a freshly initialised model for an integer seed.
    data : Dataset, dict or tuple
        As for :func:`cislens.train.fit`.
    restarts : int
        Initialisations to compare (default 1: a plain ``fit`` with ``random_state``).
    selection_epochs : int
        Epochs each restart trains before they are compared (default 4; below ``epochs``).
    epochs : int or None
        Epochs of the full run of the chosen seed (None: ``fit``'s default for the data).
    lr_candidates : list of float or None
        Learning rates that race too: every candidate with every seed (candidate-major; a tie
        goes to the earlier candidate), and the chosen pair's rate trains the full run. None
        (default): only ``fit_options["lr"]`` (or ``fit``'s default). Giving both
        ``lr_candidates`` and ``lr`` raises ``ValueError`` (a user's ``lr`` is one fixed
        choice; :func:`cislens.train.defaults.training_settings` drops the candidates then).
    random_state : int, numpy.random.Generator or None
        Seed of the first restart; the others derive from it (:func:`restart_seeds`). Each
        restart uses its seed for both the initialisation and ``fit``.
    callback : callable or None
        ``fit``'s per-epoch callback, for the full run only.
    **fit_options
        Passed to :func:`cislens.train.fit` (``batch_size``, ``lr``, ``monitor``, ``patience``,
        ``reverse_complement``, ``device``, ...). ``monitor`` (default "valid_loss") also picks
        the restart; the selection runs use no early stopping.

    Returns
    -------
    model : torch.nn.Module
        The chosen seed's model, trained for ``epochs`` (best epoch kept, as ``fit`` does).
    history : History
        Its full run; ``history.params["restarts"]`` holds the restarts table as records,
        ``history.params["lr"]`` the chosen rate, ``history.params["lr_candidates"]`` the
        candidates (None when only one rate ran).
    restarts : pandas.DataFrame
        One row per (learning rate, seed) pair, columns :data:`RESTART_COLUMNS` (metrics after
        ``selection_epochs``; empty metrics when only one pair ran).

    Examples
    --------
    >>> from cislens.models import DeepBind
    >>> rng = np.random.default_rng(0)
    >>> X = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (40, 30))].transpose(0, 2, 1)
    >>> Y = (X[:, 0].sum(1, keepdims=True) > 7).astype(np.float32)
    >>> build = lambda seed: DeepBind(n_tasks=1, filter_width=4, random_state=seed)
    >>> model, history, table = fit_restarts(build, (X[:30], Y[:30], X[30:], Y[30:]),
    ...                                      restarts=2, selection_epochs=1, epochs=2,
    ...                                      lr_candidates=[3e-3, 1e-3],
    ...                                      batch_size=10, random_state=0)
    >>> len(table), int(table["chosen"].sum()), history.n_epochs
    (4, 1, 2)
    >>> history.params["lr"] == table.loc[table["chosen"], "lr"].item()
    True
    """
    runs = _check_counts(restarts, selection_epochs, epochs, lr_candidates)
    if not callable(build):
        raise TypeError(f"fit_restarts: build must be callable (seed -> model); got {build!r}.")
    if lr_candidates is not None and fit_options.get("lr") is not None:
        raise ValueError(
            f"fit_restarts: got both lr ({fit_options['lr']!r}) and lr_candidates "
            f"({list(lr_candidates)!r}); a given lr is one fixed choice. Pass one of them."
        )
    seeds = restart_seeds(random_state, restarts)
    lrs = [None] if lr_candidates is None else [float(v) for v in lr_candidates]
    pairs = [(lr, seed) for lr in lrs for seed in seeds]
    if runs > 1:
        rows, winner, _ = _race(build, data, pairs, selection_epochs, fit_options)
    else:
        nan = np.nan
        rows = [{"restart": 0, "seed": seeds[0], "lr": lrs[0] if lrs[0] else nan}]
        rows[0].update(valid_loss=nan, valid_auroc=nan, valid_auprc=nan)
        winner = 0
    lr, seed = pairs[winner]
    options = fit_options if lr is None else {**fit_options, "lr": lr}
    model = build(seed)
    history = fit(model, data, epochs=epochs, random_state=seed, callback=callback, **options)
    rows[winner]["lr"] = history.params["lr"]  # fit's resolved default when no race ran
    for row in rows:
        row["chosen"] = row["restart"] == winner
    table = pd.DataFrame(rows, columns=list(RESTART_COLUMNS))
    history.params["restarts"] = table.to_dict(orient="records")
    history.params["selection_epochs"] = int(selection_epochs) if runs > 1 else None
    history.params["lr_candidates"] = None if lr_candidates is None else lrs
    return model, history, table


__all__ = ["RESTART_COLUMNS", "fit_restarts", "restart_seeds"]
