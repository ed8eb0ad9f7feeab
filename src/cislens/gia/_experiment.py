"""The shared machinery of GIA experiments: one runner, seeds and patterns per experiment.

Seeds derived from ``random_state``: PWM samples ``derive_seed(seed, 10, pattern_index)``,
``func`` ``derive_seed(seed, 20)`` (the same for every condition, so stochastic attribution
methods stay paired), the bootstrap ``derive_seed(seed, 30)``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cislens.gia._evaluate import Runner
from cislens.gia.embed import as_pattern, check_position, check_strand, default_position
from cislens.gia.result import GIAResult, condition_table, summarize
from cislens.gia.stats import check_confidence
from cislens.utils.random import derive_seed, resolve_seed
from cislens.utils.validation import is_int

_COMMON = """
    target : int, list of int, callable or None
        Which outputs to report (predictions; default None: every output) or to explain (an
        attribution ``func``: None only for single-output models).
    func : None, str or callable
        None (default): the model's predictions. A name from
        :data:`cislens.attribution.METHODS` (e.g. "saliency") or a callable
        ``func(model, X, **kwargs)``: effects are then attribution-shaped (4, L).
    func_kwargs : dict, optional
        Extra keyword arguments for ``func`` (predictions accept ``apply_sigmoid``).
    output : None, int, str, callable or tuple
        Which model output ``target`` indexes when the model does not return one (N, T)
        tensor: an index into a returned tuple, a dict key, a callable, a head ("profile",
        "counts", "sum", "mean") or (index or key, head); see :mod:`cislens.attribution.heads`.
    input_layout : {"NCL", "NLC"}
        The layout the model takes: (N, 4, L) (default) or (N, L, 4). Backgrounds and
        attribution-shaped effects stay (N, 4, L) either way.
    sample : bool
        Embed one PWM sample per background instead of the consensus (motif patterns only);
        each background keeps its sample across conditions. Default False.
    batch_size : int
        Forward-pass rows (default 256); results do not depend on it.
    device : str, torch.device or None
        None: auto.
    n_bootstrap : int
        Bootstrap resamples for the confidence intervals (default 1000).
    confidence : float
        Interval coverage (default 0.95).
    random_state : int, numpy.random.Generator or None
        Seeds PWM samples, ``func`` and the bootstrap; the same seed gives the same result.
    verbose : bool
        Progress bars."""


def doc(function):
    function.__doc__ = function.__doc__.replace("    {common}", _COMMON.strip("\n"))
    return function


class Experiment:
    """Shared setup: the runner, the seeds and the patterns of one experiment."""

    def __init__(self, model, backgrounds, options: dict):
        self.sample = options.pop("sample")
        self.n_bootstrap = options.pop("n_bootstrap")
        self.confidence = check_confidence(options.pop("confidence"))
        seed = resolve_seed(options.pop("random_state"))
        self.seed = seed
        self.runner = Runner(model, backgrounds, random_state=derive_seed(seed, 20), **options)
        self.stats_seed = derive_seed(seed, 30)
        self.patterns: list = []

    @property
    def length(self) -> int:
        return self.runner.length

    def add(self, pattern, name: str):
        resolved = as_pattern(pattern, name=name)
        if resolved.width > self.length:
            raise ValueError(
                f"{name} {resolved.name!r} is {resolved.width} bp, longer than the backgrounds "
                f"({self.length} bp); use longer backgrounds or a shorter pattern."
            )
        self.patterns.append(resolved)
        return len(self.patterns) - 1

    def key(self, index: int, strand: str):
        check_strand(strand)
        key = (index, strand)
        if key not in self.runner.instances:
            self.runner.register(
                key,
                self.patterns[index].instances(
                    self.runner.n,
                    strand=strand,
                    sample=self.sample,
                    random_state=derive_seed(self.seed, 10, index),
                ),
            )
        return key

    def position(self, index: int, position, name: str = "position") -> int:
        pattern = self.patterns[index]
        if position is None:
            position = default_position(self.length, pattern.width)
        return check_position(
            position,
            width=pattern.width,
            length=self.length,
            name=name,
            label=f"pattern {pattern.name!r}",
        )

    def values(self, placements=()) -> np.ndarray:
        return self.runner.values(tuple(placements))

    @property
    def outputs(self):
        return self.runner.labels if self.runner.func is None else None

    def result(self, differences, description: str) -> GIAResult:
        return summarize(
            differences,
            self.values(),
            outputs=self.outputs,
            description=description,
            n_bootstrap=self.n_bootstrap,
            confidence=self.confidence,
            random_state=self.stats_seed,
        )

    def table(self, conditions, differences, extra=None) -> pd.DataFrame:
        return condition_table(
            conditions,
            differences,
            self.values(),
            outputs=self.outputs,
            n_bootstrap=self.n_bootstrap,
            confidence=self.confidence,
            random_state=self.stats_seed,
            extra=extra,
        )


OPTION_NAMES = (
    "target",
    "func",
    "func_kwargs",
    "sample",
    "batch_size",
    "device",
    "n_bootstrap",
    "confidence",
    "random_state",
    "verbose",
    "output",
    "input_layout",
)
"""The settings every experiment function takes and hands to :class:`Experiment` unchanged."""


def options(scope: dict) -> dict:
    """The experiment settings among an experiment function's arguments (pass ``locals()``):
    every public experiment takes the same twelve, so each names them once, in its signature."""
    return {name: scope[name] for name in OPTION_NAMES}


def check_ints(values, name: str) -> list[int]:
    if is_int(values):
        values = [values]
    values = list(values)
    if not values or not all(is_int(v) for v in values):
        raise ValueError(f"{name} must be a non-empty list of ints; got {values!r}.")
    return [int(v) for v in values]


__all__ = ["Experiment", "check_ints", "doc", "options"]
