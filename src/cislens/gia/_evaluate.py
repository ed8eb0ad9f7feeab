"""The engine under every GIA experiment: run ``func`` on backgrounds with patterns written in.

``func`` composes as everywhere in cislens (tangermeme's ``func=`` pattern):

- ``None`` or ``"predict"`` (default): the model's outputs, (N, k) for the ``k`` outputs chosen by
  ``target`` (None: every output; an int; a list of ints; or a callable ``(B, T) -> (B,)``).
  ``output=`` and ``input_layout=`` first make the model a map from (N, 4, L) to (N, T), as for
  every attribution method (:mod:`cislens.attribution.heads`).
  ``func_kwargs`` may hold ``apply_sigmoid=True`` (probabilities instead of logits).
- an attribution method name from :data:`cislens.attribution.METHODS` (``"saliency"``) or any
  callable ``func(model, X, **kwargs) -> (N, ...)``; it receives ``target``, ``batch_size``,
  ``device``, ``random_state`` and ``verbose`` where its signature accepts them, plus
  ``func_kwargs``. Results are attribution-shaped, (N, 4, L). It receives the model already
  seen through ``output=`` and ``input_layout=``.

The same ``random_state`` is passed to ``func`` for every condition, so stochastic methods are
paired across conditions too.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from cislens.attribution import borrowed_model, count_outputs, resolve_target
from cislens.attribution.heads import explained_model
from cislens.gia.embed import write
from cislens.sequence.onehot import check_one_hot
from cislens.utils.arrays import as_numpy
from cislens.utils.batching import DEFAULT_BATCH_SIZE as INFERENCE_BATCH_SIZE
from cislens.utils.batching import check_batch_size, predict_in_batches

DEFAULT_BATCH_SIZE = INFERENCE_BATCH_SIZE
"""Forward-pass rows per batch for predictions: the one inference default,
:data:`cislens.utils.batching.DEFAULT_BATCH_SIZE`."""


def _output_selector(target, n_outputs: int) -> tuple[list, Callable]:
    """Labels and a selector ``(B, T) -> (B, k)`` for ``target``."""
    if target is None:
        return list(range(n_outputs)), lambda out: out
    if isinstance(target, (list, tuple, np.ndarray)) and not isinstance(target, str):
        indices = [resolve_target(t, n_outputs).index for t in target]
        if not indices:
            raise ValueError("target must not be an empty list; pass None for every output.")
        return indices, lambda out: out[:, indices]
    resolved = resolve_target(target, n_outputs)
    return [resolved.label], lambda out: resolved.select(out)[:, None]


def predictions(
    model,
    X,
    *,
    target=None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    device=None,
    apply_sigmoid: bool = False,
    verbose: bool = False,
    return_labels: bool = False,
    output=None,
    input_layout: str = "NCL",
):
    """Model outputs for the chosen targets: (N, k) float64 (and the labels when asked).

    ``output`` and ``input_layout`` are those of :func:`cislens.attribution.heads.explained_model`.
    """
    batch_size = check_batch_size(batch_size)
    model = explained_model(model, output=output, input_layout=input_layout)
    values = as_numpy(X)
    found = {}  # the labels and selector, from the first batch's number of outputs

    def selected(out):
        if out.ndim == 1:
            out = out[:, None]
        if not found:
            found["labels"], found["select"] = _output_selector(target, count_outputs(out))
        out = found["select"](out).double()
        return torch.sigmoid(out) if apply_sigmoid else out

    with borrowed_model(model, device=device) as (net, dev):
        with tqdm(total=len(values), disable=not verbose, desc="gia") as bar:
            result = predict_in_batches(
                net, values, batch_size=batch_size, device=dev, transform=selected,
                on_batch=bar.update,
            ).numpy()  # fmt: skip
    labels = found.get("labels")
    return (result, labels) if return_labels else result


def resolve_func(func) -> Callable | None:
    """None for predictions; otherwise the callable (method names looked up in METHODS)."""
    if func is None or func == "predict":
        return None
    if isinstance(func, str):
        from cislens.attribution import get_method

        return get_method(func).resolve()
    from cislens.train.evaluate import predict as train_predict

    if func is train_predict:
        return None
    if not callable(func):
        raise TypeError(
            f"func must be None (predictions), an attribution method name or a callable "
            f"func(model, X, **kwargs); got {type(func).__name__}."
        )
    return func


def _accepted(function: Callable) -> set[str] | None:
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return None
    return {p.name for p in parameters}


class Runner:
    """Evaluate ``func`` on the backgrounds with sets of placements written in (cached).

    A placement is ``(key, position)``: the instances registered under ``key`` (a pattern on a
    strand, (4, W) or (N, 4, W)) written at ``position``. ``values(())`` is ``f(null)``.
    """

    def __init__(
        self,
        model,
        backgrounds,
        *,
        func=None,
        func_kwargs=None,
        target=None,
        batch_size=DEFAULT_BATCH_SIZE,
        device=None,
        random_state=None,
        verbose=False,
        output=None,
        input_layout="NCL",
    ):
        check_one_hot(backgrounds, name="backgrounds")
        # Seen through output= / input_layout= once: predictions and every func get the same
        # (N, 4, L) -> (N, T) model (a method given it explains it as it is).
        self.model = explained_model(model, output=output, input_layout=input_layout)
        self.X = as_numpy(backgrounds).astype(np.float32)
        self.func = resolve_func(func)
        if func_kwargs is not None and not isinstance(func_kwargs, dict):
            raise TypeError(f"func_kwargs must be a dict or None; got {type(func_kwargs)}.")
        self.func_kwargs = dict(func_kwargs or {})
        for key in ("output", "input_layout"):
            if key in self.func_kwargs:
                raise ValueError(
                    f"func_kwargs must not set {key!r}: the experiment's own {key}= applies to "
                    "predictions and to func alike; pass it there."
                )
        self.target = target
        self.batch_size = check_batch_size(batch_size)
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.instances: dict = {}
        self.cache: dict = {}
        self.labels: list | None = None

    @property
    def n(self) -> int:
        return int(self.X.shape[0])

    @property
    def length(self) -> int:
        return int(self.X.shape[2])

    def register(self, key, instances: np.ndarray) -> None:
        self.instances[key] = instances

    def build(self, placements: Sequence) -> np.ndarray:
        X = self.X.copy()
        for key, position in placements:
            write(X, self.instances[key], position)
        return X

    def _run(self, X: np.ndarray) -> np.ndarray:
        if self.func is None:
            out, labels = predictions(
                self.model,
                X,
                target=self.target,
                batch_size=self.batch_size,
                device=self.device,
                verbose=self.verbose,
                return_labels=True,
                **self.func_kwargs,
            )
            self.labels = labels
            return out
        options = {
            "target": self.target,
            "batch_size": self.batch_size,
            "device": self.device,
            "random_state": self.random_state,
            "verbose": False,
        }
        accepted = _accepted(self.func)
        if accepted is not None:
            options = {k: v for k, v in options.items() if k in accepted}
        options.update(self.func_kwargs)
        out = self.func(self.model, torch.from_numpy(X), **options)
        return np.asarray(as_numpy(out), dtype=np.float64)

    def values(self, placements: Sequence = ()) -> np.ndarray:
        key = tuple(placements)
        if key not in self.cache:
            self.cache[key] = self._run(self.build(key) if key else self.X)
        return self.cache[key]


__all__ = ["DEFAULT_BATCH_SIZE", "Runner", "predictions", "resolve_func"]
