"""Occlusion: replace motif instances in observed sequences and measure the drop.

For every instance ``(sequence, start, end)`` the region is replaced ``n_occlusions`` times
(GIA ``quant_GIA``: random bases, 25 times; tangermeme ``ablate``: shuffles) and

``effect = f(x) - mean_j f(x with the region replaced, draw j)``

so a positive effect means the instance raised the output (an activator) and a negative one
that it lowered it (a repressor). :func:`occlusion_summary` pools instances per motif with a
bootstrap CI, a Wilcoxon p-value and BH correction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from torch import nn

from cislens.gia._evaluate import DEFAULT_BATCH_SIZE, Runner
from cislens.gia.result import condition_table, scalar_view
from cislens.gia.stats import DEFAULT_CONFIDENCE, DEFAULT_N_BOOTSTRAP, check_confidence
from cislens.sequence.onehot import check_one_hot
from cislens.utils.arrays import as_numpy
from cislens.utils.random import derive_seed, resolve_seed
from cislens.utils.types import ArrayLike, Device, OutputSpec, RandomState
from cislens.utils.validation import check_choice, check_positive_int

REPLACEMENTS = ("random", "shuffle", "dinucleotide_shuffle", "background")
"""How :func:`occlude` fills an instance's region."""

_ROWS_PER_CHUNK = 4096


def _check_instances(instances, n: int, length: int) -> pd.DataFrame:
    if not isinstance(instances, pd.DataFrame):
        raise TypeError(
            "instances must be a pandas.DataFrame with columns sequence, start, end (like "
            f"Dataset.ground_truth.instances); got {type(instances).__name__}."
        )
    missing = [c for c in ("sequence", "start", "end") if c not in instances.columns]
    if missing:
        raise ValueError(f"instances lacks the columns {missing}; it needs sequence, start, end.")
    if instances.empty:
        raise ValueError("instances is empty; pass at least one (sequence, start, end) row.")
    table = instances.reset_index(drop=True)
    seq, start, end = (table[c].to_numpy() for c in ("sequence", "start", "end"))
    bad = (seq < 0) | (seq >= n)
    if bad.any():
        row = int(np.argmax(bad))
        raise ValueError(
            f"instances row {row}: sequence {seq[row]} is not in [0, {n}) (X holds {n} "
            "sequences); select the rows of the split X comes from."
        )
    bad = (start < 0) | (end > length) | (start >= end)
    if bad.any():
        row = int(np.argmax(bad))
        raise ValueError(
            f"instances row {row}: [start, end) = [{start[row]}, {end[row]}) must satisfy "
            f"0 <= start < end <= {length}."
        )
    return table


def _replacements(X, row, start, end, method, n, seed, backgrounds) -> np.ndarray:
    """(n, 4, L): X[row] with [start, end) replaced n times."""
    base = X[row : row + 1]
    if method in ("shuffle", "dinucleotide_shuffle"):
        from cislens.shuffle import dinucleotide_shuffle, shuffle

        maker = shuffle if method == "shuffle" else dinucleotide_shuffle
        return np.asarray(maker(base, n=n, random_state=seed, start=start, end=end))[0]
    out = np.repeat(base, n, axis=0)
    rng = np.random.default_rng(seed)
    if method == "random":
        tokens = rng.integers(0, 4, size=(n, end - start))
        out[:, :, start:end] = np.eye(4, dtype=np.float32)[tokens].transpose(0, 2, 1)
    else:
        picks = rng.integers(0, backgrounds.shape[0], size=n)
        out[:, :, start:end] = backgrounds[picks, :, start:end]
    return out


def occlude(
    model: nn.Module,
    X: ArrayLike,
    instances: pd.DataFrame,
    *,
    method: str = "random",
    n_occlusions: int = 20,
    backgrounds: ArrayLike | None = None,
    target: int | Sequence[int] | Callable[..., Any] | None = None,
    func: str | Callable[..., Any] | None = None,
    func_kwargs: dict[str, Any] | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    device: Device = None,
    random_state: RandomState = None,
    verbose: bool = False,
    output: OutputSpec = None,
    input_layout: str = "NCL",
) -> pd.DataFrame:
    """Replace each instance's region and measure ``f(x) - mean_j f(x occluded)``.

    Parameters
    ----------
    model : torch.nn.Module
        Maps (N, 4, L) to (N, T); other models through ``output`` and ``input_layout``.
    X : array or tensor (N, 4, L)
        The observed sequences the instances lie in.
    instances : pandas.DataFrame
        One row per instance with ``sequence`` (row of ``X``), ``start``, ``end`` (0-based,
        end exclusive); other columns (``motif``, ``strand``, ...) are carried to the output.
        ``Dataset.ground_truth.instances`` of one split fits as is.
    method : {"random", "shuffle", "dinucleotide_shuffle", "background"}
        Fill with uniform random bases (default), a shuffle of the region, or the same region
        of random ``backgrounds``.
    n_occlusions : int
        Replacements per instance (default 20).
    backgrounds : array (M, 4, L), optional
        Required for ``method="background"``.
    target, func, func_kwargs, batch_size, device, random_state, verbose, output, input_layout
        As in :func:`cislens.gia.marginalize`. With an attribution ``func`` the maps are summed
        to one number per sequence (``target == "attribution_sum"``).

    Returns
    -------
    pandas.DataFrame
        The instance columns, then ``target``, ``before`` (f(x)), ``after`` (mean over
        occlusions), ``after_sd``, ``effect`` (before - after), one row per instance and output.

    Examples
    --------
    >>> import torch
    >>> from cislens.sequence import one_hot_encode
    >>> model = torch.nn.Sequential(torch.nn.Conv1d(4, 1, 1), torch.nn.Flatten(),
    ...                             torch.nn.Linear(8, 1))
    >>> X = one_hot_encode(["ACGTACGT", "GGGGCCCC"])
    >>> sites = pd.DataFrame({"sequence": [0, 1], "start": [2, 0], "end": [5, 4]})
    >>> occlude(model, X, sites, random_state=0).columns.tolist()[3:]
    ['target', 'before', 'after', 'after_sd', 'effect']
    """
    check_one_hot(X, name="X")
    values = as_numpy(X).astype(np.float32)
    n, _, length = values.shape
    table = _check_instances(instances, n, length)
    check_choice(method, REPLACEMENTS, name="method")
    check_positive_int(n_occlusions, "n_occlusions")
    if method == "background":
        if backgrounds is None:
            raise ValueError("method='background' needs backgrounds= (M, 4, L).")
        check_one_hot(backgrounds, name="backgrounds", length=length)
        backgrounds = as_numpy(backgrounds).astype(np.float32)
    seed = resolve_seed(random_state)
    options = dict(
        func=func,
        func_kwargs=func_kwargs,
        target=target,
        batch_size=batch_size,
        device=device,
        random_state=derive_seed(seed, 20),
        verbose=False,
        output=output,
        input_layout=input_layout,
    )
    used = np.unique(table["sequence"].to_numpy())
    runner = Runner(model, values[used], **options)
    before, labels = scalar_view(runner.values(), runner.labels if runner.func is None else None)
    before = before[np.searchsorted(used, table["sequence"].to_numpy())]

    after, sd = _occluded_values(
        model, values, table, method, int(n_occlusions), seed, backgrounds, options
    )
    frames = []
    for k, label in enumerate(labels):
        frame = table.copy()
        frame["target"] = label
        frame["before"] = before[:, k]
        frame["after"] = after[:, k]
        frame["after_sd"] = sd[:, k]
        frame["effect"] = before[:, k] - after[:, k]
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def _occluded_values(model, values, table, method, n_occlusions, seed, backgrounds, options):
    """Mean and SD over ``n_occlusions`` replacements of each instance's outputs (rows x T),
    computed a chunk of instances at a time."""
    per_chunk = max(1, _ROWS_PER_CHUNK // n_occlusions)
    after_mean, after_sd = [], []
    for first in range(0, len(table), per_chunk):
        rows = table.iloc[first : first + per_chunk]
        made = [
            _replacements(
                values,
                int(r.sequence),
                int(r.start),
                int(r.end),
                method,
                n_occlusions,
                derive_seed(seed, 40, first + i),
                backgrounds,
            )
            for i, r in enumerate(rows.itertuples(index=False))
        ]
        chunk = Runner(model, np.concatenate(made), **options)
        out, _ = scalar_view(chunk.values(), chunk.labels if chunk.func is None else None)
        out = out.reshape(len(rows), n_occlusions, -1)
        after_mean.append(out.mean(axis=1))
        after_sd.append(out.std(axis=1, ddof=1) if n_occlusions > 1 else np.zeros_like(out[:, 0]))
    return np.concatenate(after_mean), np.concatenate(after_sd)


def occlusion_summary(
    table: pd.DataFrame,
    *,
    by: str | list[str] = "motif",
    n_bootstrap: int = DEFAULT_N_BOOTSTRAP,
    confidence: float = DEFAULT_CONFIDENCE,
    random_state: RandomState = None,
) -> pd.DataFrame:
    """Pool :func:`occlude` rows per group: mean effect, bootstrap CI, Wilcoxon p, BH.

    Parameters
    ----------
    table : pandas.DataFrame
        The output of :func:`occlude`.
    by : str or list of str
        Grouping columns (default "motif").
    n_bootstrap, confidence, random_state
        Bootstrap settings (over instances).

    Returns
    -------
    pandas.DataFrame
        The ``by`` columns and the statistics of :mod:`cislens.gia.result`; here ``n`` counts
        instances and ``null_mean`` is the mean ``before``.

    Examples
    --------
    >>> rows = pd.DataFrame({"motif": ["A"] * 4, "target": 0, "before": 1.0,
    ...                      "effect": [0.9, 1.0, 1.1, 1.0]})
    >>> occlusion_summary(rows, random_state=0)[["motif", "effect", "n"]].values.tolist()
    [['A', 1.0, 4]]
    """
    by = [by] if isinstance(by, str) else list(by)
    missing = [c for c in [*by, "target", "effect", "before"] if c not in table.columns]
    if missing:
        raise ValueError(f"table lacks the columns {missing}; pass the output of occlude().")
    confidence = check_confidence(confidence)
    seed = resolve_seed(random_state)
    frames = []
    for label, group in table.groupby("target", sort=False):
        conditions, differences = [], []
        for keys, rows in group.groupby(by, sort=True):
            keys = keys if isinstance(keys, tuple) else (keys,)
            conditions.append(dict(zip(by, keys, strict=True)))
            differences.append(rows["effect"].to_numpy()[:, None])
        frame = condition_table(
            conditions,
            differences,
            group["before"].to_numpy()[:, None],
            outputs=[label],
            n_bootstrap=n_bootstrap,
            confidence=confidence,
            random_state=seed,
        )
        # null_mean per group: the mean prediction before occlusion of that group's sequences
        frame["null_mean"] = [float(r["before"].mean()) for _, r in group.groupby(by, sort=True)]
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


__all__ = ["REPLACEMENTS", "occlude", "occlusion_summary"]
