"""The attribution-method registry: ``METHODS``, :func:`get_method`, :func:`attribute`.

Every method has the signature ``method(model, X, *, target=None, batch_size=..., device=None,
random_state=None, verbose=False, **options) -> Tensor (N, 4, L)`` (float32, CPU). The command
line and the benchmark read :data:`METHODS`; each record carries the capability flags:

- ``gradient_based``: computed by backpropagation (needs a differentiable model);
- ``completeness``: the projected scores sum to ``f(x) - mean_j f(r_j)`` (IG up to its
  quadrature error);
- ``needs_baselines``: takes the ``baselines`` option (references);
- ``supports_hypothetical``: takes ``hypothetical=`` and returns ``hypothetical * X`` by default;
  methods without it return a map on all four channels (a gradient) that is stored as is;
- ``stochastic``: with its default options the result depends on ``random_state``.

The DeepLIFT methods come from the engine :mod:`cislens.attribution.deeplift_engine`.
"""

from __future__ import annotations

import difflib
import inspect
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from cislens._version import __version__
from cislens.attribution.cost import DEFAULT_MAX_POSITIONS, check_cost, estimate_cost
from cislens.attribution.deeplift_engine import deeplift, deeplift_shap
from cislens.attribution.gradcam import gradcam
from cislens.attribution.gradients import grad_x_input, saliency
from cislens.attribution.guided import guided_backprop, guided_gradcam
from cislens.attribution.integrated_gradients import integrated_gradients
from cislens.attribution.ism import ism
from cislens.utils.random import resolve_seed
from cislens.utils.types import ArrayLike, RandomState, TargetLike

if TYPE_CHECKING:
    from cislens.io.attributions import AttributionSet


@dataclass(frozen=True)
class AttributionMethod:
    """A registered attribution method and what it can do.

    Calling the record calls the method: ``METHODS["ism"](model, X, target=0)``.
    """

    name: str
    function: Callable
    description: str
    gradient_based: bool
    completeness: bool
    needs_baselines: bool
    supports_hypothetical: bool
    stochastic: bool

    def __call__(
        self,
        model: nn.Module,
        X,
        *,
        max_positions: float | None = DEFAULT_MAX_POSITIONS,
        **options,
    ) -> torch.Tensor:
        """Run the method after logging its estimated cost and refusing one over the limit.

        ``max_positions`` (estimated forward rows x length, see :mod:`cislens.attribution.cost`)
        raises :class:`~cislens.attribution.cost.CostLimitError` before any work when exceeded;
        None lifts the limit.
        """
        self.check_options(options)
        if "max_positions" in inspect.signature(self.resolve()).parameters:
            # a method that checks its own cost (ISM): one check, with the caller's limit
            return self.function(model, X, max_positions=max_positions, **options)
        shape = getattr(X, "shape", None)
        if shape is not None and len(shape) == 3:  # other inputs get the method's own error
            check_cost(estimate_cost(self.name, tuple(shape), **options), max_positions)
        return self.function(model, X, **options)

    def check_options(self, options: dict) -> None:
        """Raise a TypeError naming an option the method does not take, and the ones it does.

        Without this check Python's own TypeError ("got an unexpected keyword argument") would
        come from deep in the call, where it cannot be told from a bug in cislens.
        """
        parameters = inspect.signature(self.resolve()).parameters
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
            return
        valid = [n for n, p in parameters.items() if p.kind is inspect.Parameter.KEYWORD_ONLY]
        unknown = sorted(set(options) - set(valid))
        if unknown:  # a TypeError, as Python's own for an unexpected keyword
            raise TypeError(
                f"method {self.name!r} does not take the option(s) {unknown}; its options are "
                f"{sorted(valid)}."
            )

    def resolve(self) -> Callable:
        """The implementing function."""
        return self.function

    def defaults(self) -> dict:
        """The method's keyword options and their default values (from its signature)."""
        signature = inspect.signature(self.resolve())
        return {
            name: parameter.default
            for name, parameter in signature.parameters.items()
            if parameter.kind is inspect.Parameter.KEYWORD_ONLY
            and parameter.default is not inspect.Parameter.empty
            and name != "max_positions"  # a guard on the call's cost, not a result parameter
        }


def _record(function, description, **flags) -> AttributionMethod:
    return AttributionMethod(function.__name__, function, description, **flags)


METHODS: dict[str, AttributionMethod] = {
    record.name: record
    for record in (
        _record(
            ism,
            "in-silico saturation mutagenesis: every single-base substitution (exact)",
            gradient_based=False,
            completeness=False,
            needs_baselines=False,
            supports_hypothetical=True,
            stochastic=False,
        ),
        _record(
            saliency,
            "input gradient on all four channels",
            gradient_based=True,
            completeness=False,
            needs_baselines=False,
            supports_hypothetical=False,
            stochastic=False,
        ),
        _record(
            grad_x_input,
            "gradient x input",
            gradient_based=True,
            completeness=False,
            needs_baselines=False,
            supports_hypothetical=True,
            stochastic=False,
        ),
        _record(
            integrated_gradients,
            "integrated gradients (expected gradients with several refs)",
            gradient_based=True,
            completeness=True,
            needs_baselines=True,
            supports_hypothetical=True,
            stochastic=False,
        ),
        _record(
            deeplift,
            "DeepLIFT against a reference (default: base frequencies)",
            gradient_based=True,
            completeness=True,
            needs_baselines=True,
            supports_hypothetical=True,
            stochastic=False,
        ),
        _record(
            deeplift_shap,
            "DeepLIFT averaged over dinucleotide-shuffled references",
            gradient_based=True,
            completeness=True,
            needs_baselines=True,
            supports_hypothetical=True,
            stochastic=True,
        ),
        _record(
            gradcam,
            "GradCAM at a convolutional layer, upsampled to the input length",
            gradient_based=True,
            completeness=False,
            needs_baselines=False,
            supports_hypothetical=True,
            stochastic=False,
        ),
        _record(
            guided_backprop,
            "guided backpropagation (guided ReLU gradients)",
            gradient_based=True,
            completeness=False,
            needs_baselines=False,
            supports_hypothetical=False,
            stochastic=False,
        ),
        _record(
            guided_gradcam,
            "guided backprop x rectified GradCAM",
            gradient_based=True,
            completeness=False,
            needs_baselines=False,
            supports_hypothetical=False,
            stochastic=False,
        ),
    )
}
"""Attribution methods by name, each an :class:`AttributionMethod` record."""

_FLAGS = (
    "gradient_based",
    "completeness",
    "needs_baselines",
    "supports_hypothetical",
    "stochastic",
)


def get_method(name: str) -> AttributionMethod:
    """Return the :class:`AttributionMethod` registered under ``name``.

    Raises
    ------
    ValueError
        For an unknown name; the message lists the valid ones.

    Examples
    --------
    >>> get_method("ism").supports_hypothetical
    True
    >>> get_method("shap")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: unknown attribution method 'shap'; valid names are 'deeplift', ...
    """
    if isinstance(name, str) and name in METHODS:
        return METHODS[name]
    valid = ", ".join(repr(key) for key in sorted(METHODS))
    raise ValueError(f"unknown attribution method {name!r}; valid names are {valid}.")


def resolve_methods(
    methods: str | Sequence[str] | None = "all",
    *,
    where: str = "methods",
    require: Sequence[str] = (),
) -> list[str]:
    """Validated method names from ``"all"``, a comma-separated string or a list of names.

    The one reading of a list of methods: ``cislens attribute --method``, the run config's
    ``methods`` and :func:`cislens.benchmark.run_benchmark` all call it.

    Parameters
    ----------
    methods : str, sequence of str or None
        ``"all"`` (or None, or ``["all"]``): every method in :data:`METHODS`; ``"a,b"`` or
        ``["a", "b"]``: those methods, in that order, each once.
    where : str
        How the value is named in error messages (``"methods"``, ``"--method"``).
    require : sequence of str
        Capability flags of :class:`AttributionMethod` (``"supports_hypothetical"``,
        ``"gradient_based"``...): ``"all"`` keeps the methods that have every one; a named method
        without one is refused.

    Returns
    -------
    list of str

    Raises
    ------
    ValueError
        An unknown name (``where[i]: ...``, with the valid names and the closest one), an empty
        list, a name given twice, a named method without a required capability, or a value
        that is neither a string nor a list.

    Examples
    --------
    >>> resolve_methods("saliency, ism")
    ['saliency', 'ism']
    >>> resolve_methods("all", require=["completeness"])
    ['integrated_gradients', 'deeplift', 'deeplift_shap']
    >>> resolve_methods(["saliency", "salency"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: methods[1]: unknown attribution method 'salency'; ... Did you mean 'saliency'?
    """
    for flag in require:
        if flag not in _FLAGS:
            raise ValueError(f"require: {flag!r} is not a capability flag; use one of {_FLAGS}.")
    if methods is None or methods == "all" or (isinstance(methods, list) and methods == ["all"]):
        return [n for n, r in METHODS.items() if all(getattr(r, f) for f in require)]
    if isinstance(methods, str):
        methods = [m.strip() for m in methods.split(",") if m.strip()]
    elif not isinstance(methods, (list, tuple)):
        raise ValueError(
            f"{where}: expected 'all', a comma-separated string or a list of method names; got "
            f"{methods!r} ({type(methods).__name__})."
        )
    valid = sorted(METHODS)
    for i, name in enumerate(methods):
        if not isinstance(name, str) or name not in METHODS:
            close = difflib.get_close_matches(str(name), valid, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ValueError(
                f"{where}[{i}]: unknown attribution method {name!r}; valid names are "
                f"{', '.join(map(repr, valid))}.{hint}"
            )
    if not methods:
        raise ValueError(f"{where}: expected at least one method name or 'all'; valid: {valid}.")
    twice = sorted({name for name in methods if list(methods).count(name) > 1})
    if twice:
        raise ValueError(f"{where}: {twice} listed more than once; got {list(methods)}.")
    for flag in require:
        lacking = [name for name in methods if not getattr(METHODS[name], flag)]
        if lacking:
            able = [n for n, r in METHODS.items() if getattr(r, flag)]
            raise ValueError(f"{where}: {lacking} lack {flag}; methods with it: {able}.")
    return list(methods)


def attribute(
    model: nn.Module,
    X: ArrayLike,
    *,
    method: str,
    max_positions: float | None = DEFAULT_MAX_POSITIONS,
    **options: Any,
) -> torch.Tensor:
    """Run the attribution method named ``method``: ``METHODS[method](model, X, **options)``.

    Parameters
    ----------
    model : torch.nn.Module
        Maps one-hot (N, 4, L) to outputs (N, T).
    X : torch.Tensor or numpy.ndarray
        One-hot sequences (N, 4, L).
    method : str
        A name in :data:`METHODS`.
    max_positions : float or None
        Refuse (``CostLimitError``, before any work) a call whose estimated forward rows x
        length exceed this; None lifts the limit. Default
        :data:`~cislens.attribution.cost.DEFAULT_MAX_POSITIONS` (1e10).
    **options
        The method's options (``target``, ``batch_size``, ``device``, ``random_state``,
        ``verbose``, ``hypothetical``, ...).

    Returns
    -------
    torch.Tensor
        (N, 4, L), float32, on the CPU.

    Examples
    --------
    >>> net = nn.Sequential(nn.Flatten(), nn.Linear(8, 2))
    >>> X = torch.eye(4)[torch.tensor([[0, 2]])].transpose(1, 2)
    >>> attribute(net, X, method="saliency", target=1).shape
    torch.Size([1, 4, 2])
    """
    return get_method(method)(model, X, max_positions=max_positions, **options)


def _json_value(value):
    """A JSON-ready version of an option value, or None when it has none (tensors, callables)."""
    if isinstance(value, torch.dtype):
        return str(value).replace("torch.", "")
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    if isinstance(value, tuple):
        value = list(value)
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return None
    return value


def attribution_set(
    model: nn.Module,
    X: ArrayLike,
    *,
    method: str,
    target: TargetLike = None,
    hypothetical: bool = False,
    random_state: RandomState = None,
    example_index: ArrayLike | None = None,
    task_names: list[str] | None = None,
    max_positions: float | None = DEFAULT_MAX_POSITIONS,
    **options: Any,
) -> AttributionSet:
    """Run a method and package its result with its settings as an ``AttributionSet``.

    What ``cislens attribute`` calls. The projected scores are always stored; with
    ``hypothetical=True`` (methods that support it) the hypothetical scores are stored too, and
    the projected ones are computed from them as ``hypothetical * X``. ``params`` records the
    method's options with their defaults (values that are not JSON, such as tensors of
    references or callables, are recorded as their type name).

    Parameters
    ----------
    model : torch.nn.Module
        Maps one-hot (N, 4, L) to outputs (N, T).
    X : torch.Tensor or numpy.ndarray
        One-hot sequences (N, 4, L).
    method : str
        A name in :data:`METHODS`.
    target : int, callable or None
        As for every method.
    hypothetical : bool
        Also compute and store the hypothetical scores.
    random_state : int, numpy.random.Generator or None
        Resolved to one int seed (None draws one), given to the method and recorded, so every
        stored result can be reproduced.
    example_index : array (N,), optional
        Rows of the source data, recorded.
    task_names : list of str, optional
        The model's task names, recorded.
    max_positions : float or None
        The cost limit, as for :func:`attribute` (not recorded: it does not change results).
    **options
        Further options of the method (``batch_size``, ``device``, ``verbose``, ``n_steps``...).

    Returns
    -------
    cislens.io.AttributionSet

    Raises
    ------
    ValueError
        ``hypothetical=True`` for a method without hypothetical scores, and the method's errors.

    Examples
    --------
    >>> net = nn.Sequential(nn.Flatten(), nn.Linear(8, 2))
    >>> X = torch.eye(4)[torch.tensor([[0, 2]])].transpose(1, 2)
    >>> result = attribution_set(net, X, method="grad_x_input", target=1, hypothetical=True)
    >>> result.method, result.target, result.hypothetical.shape
    ('grad_x_input', 1, (1, 4, 2))
    """
    from cislens.attribution._common import prepare_inputs
    from cislens.io.attributions import AttributionSet
    from cislens.utils.arrays import as_numpy

    record = get_method(method)
    if hypothetical and not record.supports_hypothetical:
        able = sorted(name for name, rec in METHODS.items() if rec.supports_hypothetical)
        raise ValueError(
            f"method {method!r} has no hypothetical scores (it returns a map on all four "
            f"channels); drop hypothetical=True, or use one of {able}."
        )
    X = prepare_inputs(X)
    seed = resolve_seed(random_state)
    call = dict(options, target=target, random_state=seed, max_positions=max_positions)
    if hypothetical:
        hyp = record(model, X, hypothetical=True, **call)
        attributions = hyp * X
    else:
        hyp = None
        attributions = record(model, X, **call)
    params = {}
    skipped = {"target", "random_state", "verbose", "device", "hypothetical"}
    for name, value in {**record.defaults(), **options}.items():
        if name in skipped:
            continue
        ready = _json_value(value)
        params[name] = ready if ready is not None or value is None else type(value).__name__
    if callable(target):
        label = getattr(target, "__name__", "callable")
    else:
        label = target
    return AttributionSet(
        X=X,
        attributions=attributions,
        method=method,
        hypothetical=None if hyp is None else as_numpy(hyp),
        target=label,
        params=params,
        random_state=seed,
        cislens_version=__version__,
        example_index=example_index,
        task_names=task_names,
    )


__all__ = [
    "METHODS",
    "AttributionMethod",
    "attribute",
    "attribution_set",
    "deeplift",
    "deeplift_shap",
    "get_method",
    "resolve_methods",
]
