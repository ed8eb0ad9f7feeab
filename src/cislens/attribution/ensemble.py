"""Attributions averaged over several models (training folds, seeds), optionally normalised.

Models trained on different folds put their attributions on different scales, so averaging
raw maps lets the model with the largest scores dominate. ``normalise="percentile"`` divides
each model's maps by its own scale first:

    s_k = percentile_p( |sum_b X * A_k| )     over every position of every input sequence

(the ``p``-th percentile of the absolute projected attribution, ``p = 99`` by default; positions
of unknown bases, all-zero columns, count as 0), and the ensemble is ``mean_k A_k / s_k``.
``normalise="none"`` is the plain mean ``mean_k A_k``. The same scale divides the projected and
the hypothetical scores of a model, so ``projected == hypothetical * X`` still holds. Every model
runs with the same ``random_state``, so methods that draw references (DeepLiftShap's shuffles,
expected gradients) use the same references for each model: k copies of one model give exactly
that model's attributions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from cislens.attribution.registry import attribution_set
from cislens.utils.random import resolve_seed
from cislens.utils.types import ArrayLike, RandomState
from cislens.utils.validation import check_choice

if TYPE_CHECKING:  # only for annotations: the registry imports cislens.io when it runs
    from cislens.io.attributions import AttributionSet

NORMALISATIONS = ("none", "percentile")
"""Values of ``normalise``."""


class ModelEnsemble(torch.nn.Module):
    """Several models as one: ``forward`` is the mean of the members' outputs (for predictions).

    Attribution of an ensemble is the mean of the members' attributions (what
    :func:`ensemble_attribution_set` computes, after its ``normalise``), not the attribution of
    this averaged forward: for non-linear methods the two differ. :func:`attribute_with`
    dispatches on this class, so code that takes "a model" can take an ensemble.

    Examples
    --------
    >>> nets = [torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(8, 1)) for _ in range(2)]
    >>> both = ModelEnsemble(nets)
    >>> X = torch.eye(4)[torch.tensor([[0, 2]])].transpose(1, 2)
    >>> bool(torch.allclose(both(X), (nets[0](X) + nets[1](X)) / 2))
    True
    """

    def __init__(
        self, members: Sequence[nn.Module], *, normalise: str = "none", percentile: float = 99.0
    ) -> None:
        super().__init__()
        members = _check(members, normalise, percentile)
        self.members = torch.nn.ModuleList(members)
        self.normalise, self.percentile = normalise, float(percentile)
        names = [getattr(m, "task_names", None) for m in members]
        if any(n != names[0] for n in names):
            raise ValueError(f"the ensemble's models have different task names: {names}.")
        if names[0] is not None:
            self.task_names = list(names[0])

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return torch.stack([member(X) for member in self.members]).mean(dim=0)


def attribute_with(model: nn.Module, X: ArrayLike, **options: Any) -> AttributionSet:
    """:func:`attribution_set` for a model, :func:`ensemble_attribution_set` for a
    :class:`ModelEnsemble` (with its ``normalise`` and ``percentile``)."""
    if isinstance(model, ModelEnsemble):
        return ensemble_attribution_set(
            list(model.members),
            X,
            normalise=model.normalise,
            percentile=model.percentile,
            **options,
        )
    return attribution_set(model, X, **options)


def _scale(result, normalise: str, percentile: float, index: int) -> float:
    if normalise == "none":
        return 1.0
    projected = np.abs(np.asarray(result.attributions, dtype=np.float64).sum(axis=1))
    scale = float(np.percentile(projected, percentile))
    if not np.isfinite(scale) or scale <= 0:
        raise ValueError(
            f"models[{index}]: the {percentile}th percentile of |projected attribution| is "
            f"{scale}, so its maps cannot be normalised; the model's attributions are (almost) "
            "all zero on these inputs. Use normalise='none' or a higher percentile."
        )
    return scale


def _check(models, normalise, percentile):
    models = list(models)
    if not models:
        raise ValueError("models is empty; pass at least one model to attribute with.")
    check_choice(normalise, NORMALISATIONS, name="normalise")
    if not 0 < percentile <= 100:
        raise ValueError(f"percentile must be in (0, 100]; got {percentile}.")
    return models


def ensemble_attribution_set(
    models: Sequence[nn.Module],
    X: ArrayLike,
    *,
    method: str,
    normalise: str = "none",
    percentile: float = 99.0,
    hypothetical: bool = False,
    random_state: RandomState = None,
    **options: Any,
) -> AttributionSet:
    """Attribute with every model and average; the result as an ``AttributionSet``.

    Parameters
    ----------
    models : sequence of torch.nn.Module
        The models (e.g. one per training fold), each mapping (N, 4, L) to (N, T).
    X : torch.Tensor or numpy.ndarray
        One-hot sequences (N, 4, L).
    method : str
        A name in :data:`cislens.attribution.METHODS`.
    normalise : {"none", "percentile"}
        Per-model scaling before the mean (see the module docstring).
    percentile : float
        ``p`` of ``normalise="percentile"`` (0 < p <= 100).
    hypothetical : bool
        Also compute, average and store the hypothetical scores.
    random_state : int, numpy.random.Generator or None
        One seed, resolved once and used for every model.
    **options
        As for :func:`cislens.attribution.attribution_set` (``target``, ``batch_size``,
        ``device``, ``example_index``, ``task_names``, method options).

    Returns
    -------
    cislens.io.AttributionSet
        The averaged maps; ``params["ensemble"]`` records ``n_models``, ``normalise``,
        ``percentile`` and the per-model ``scales`` (absent for one model with
        ``normalise="none"``, whose result is exactly :func:`attribution_set`'s).

    Examples
    --------
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(8, 1))
    >>> X = torch.eye(4)[torch.tensor([[0, 2]])].transpose(1, 2)
    >>> one = ensemble_attribution_set([net], X, method="saliency").attributions
    >>> three = ensemble_attribution_set([net] * 3, X, method="saliency").attributions
    >>> bool(np.allclose(one, three, atol=1e-6))
    True
    """
    models = _check(models, normalise, percentile)
    seed = resolve_seed(random_state)
    total_attr: np.ndarray | None = None
    total_hyp: np.ndarray | None = None
    scales: list[float] = []
    first: AttributionSet | None = None
    for index, model in enumerate(models):
        result = attribution_set(
            model, X, method=method, hypothetical=hypothetical, random_state=seed, **options
        )
        scale = _scale(result, normalise, percentile, index)
        scales.append(scale)
        attr = np.asarray(result.attributions, dtype=np.float64) / scale
        total_attr = attr if total_attr is None else total_attr + attr
        if hypothetical:
            hyp = np.asarray(result.hypothetical, dtype=np.float64) / scale
            total_hyp = hyp if total_hyp is None else total_hyp + hyp
        if first is None:
            first = result
    if first is None or total_attr is None:
        raise AssertionError("_check refuses an empty sequence of models")
    k = len(models)
    first.attributions = (total_attr / k).astype(np.float32)
    if hypothetical and total_hyp is not None:  # total_hyp is summed whenever hypothetical
        first.hypothetical = (total_hyp / k).astype(np.float32)
        first.attributions = first.hypothetical * first.X  # keeps projected == hyp * X exactly
    if k > 1 or normalise != "none":  # a single plain model stores what attribution_set does
        first.params = {
            **first.params,
            "ensemble": {
                "n_models": k,
                "normalise": normalise,
                "percentile": float(percentile),
                "scales": [float(s) for s in scales],
            },
        }
    return first


def ensemble_attributions(
    models: Sequence[nn.Module],
    X: ArrayLike,
    *,
    method: str,
    normalise: str = "none",
    percentile: float = 99.0,
    hypothetical: bool = False,
    random_state: RandomState = None,
    **options: Any,
) -> torch.Tensor:
    """The mean over ``models`` of ``method``'s attributions, optionally normalised per model.

    Like :func:`ensemble_attribution_set` (same parameters) but returns the maps alone: the
    projected scores (N, 4, L), or the hypothetical ones with ``hypothetical=True``, float32 on
    the CPU.

    Examples
    --------
    >>> nets = [torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(8, 1)) for _ in range(2)]
    >>> X = torch.eye(4)[torch.tensor([[0, 2]])].transpose(1, 2)
    >>> mean = ensemble_attributions(nets, X, method="grad_x_input")
    >>> each = [ensemble_attributions([n], X, method="grad_x_input") for n in nets]
    >>> bool(torch.allclose(mean, (each[0] + each[1]) / 2, atol=1e-6))
    True
    """
    result = ensemble_attribution_set(
        models,
        X,
        method=method,
        normalise=normalise,
        percentile=percentile,
        hypothetical=hypothetical,
        random_state=random_state,
        **options,
    )
    values = result.hypothetical if hypothetical else result.attributions
    return torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32))


__all__ = [
    "NORMALISATIONS",
    "ModelEnsemble",
    "attribute_with",
    "ensemble_attribution_set",
    "ensemble_attributions",
]
