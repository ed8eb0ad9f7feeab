"""Plumbing shared by every attribution method: targets, batches, borrowing the user's model.

Each method has the signature ``method(model, X, *, target=None, batch_size=..., device=None,
random_state=None, verbose=False, **options) -> Tensor (N, 4, L)`` (float32, CPU). This module
holds the parts that must behave identically everywhere:

- ``resolve_target``: ``target`` is an int output index, a callable on the model output
  ``(B, T) -> (B,)``, or None, which is only allowed when the model has a single output (never a
  silent choice of output 0, never an average).
- ``batch_slices``: ``batch_size`` counts forward-pass rows.
- ``borrowed_model``: run the model on a device and dtype in eval mode, then put it back exactly
  as it was (device, dtype, train/eval mode of every submodule).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from cislens.sequence.onehot import check_one_hot
from cislens.utils.batching import batch_slices, check_batch_size
from cislens.utils.device import model_device, resolve_device
from cislens.utils.types import Device
from cislens.utils.validation import check_positive_int

TargetLike = "int | Callable[[torch.Tensor], torch.Tensor] | None"


@dataclass(frozen=True)
class Target:
    """A resolved target: which scalar of the model output an attribution explains.

    ``index`` is set for integer targets, ``function`` for callables. ``select(output)`` maps a
    model output of shape (B, T) (or (B,)) to the (B,) scalars to explain.
    """

    index: int | None
    function: Callable[[torch.Tensor], torch.Tensor] | None
    n_outputs: int

    def select(self, output: torch.Tensor) -> torch.Tensor:
        if output.ndim == 1:
            output = output[:, None]
        if self.function is not None:
            selected = self.function(output)
            if not isinstance(selected, torch.Tensor) or selected.shape != output.shape[:1]:
                shape = getattr(selected, "shape", type(selected).__name__)
                raise ValueError(
                    f"a callable target must map the model output of shape {tuple(output.shape)}"
                    f" to one value per example, shape ({output.shape[0]},); got {shape}."
                )
            return selected
        return output[:, self.index]

    @property
    def label(self) -> int | str:
        """What is recorded in output files: the index, or the callable's name."""
        if self.index is not None:
            return self.index
        return getattr(self.function, "__name__", "callable")


def count_outputs(output: torch.Tensor) -> int:
    """Number of model outputs T for an output of shape (B, T) or (B,)."""
    if output.ndim == 1:
        return 1
    if output.ndim != 2:
        raise ValueError(
            f"the model must map (N, 4, L) to (N, T); its output has shape {tuple(output.shape)}."
            " Wrap profile models so they return one scalar per task."
        )
    return int(output.shape[1])


def resolve_target(target: object, n_outputs: int) -> Target:
    """Check ``target`` against a model with ``n_outputs`` outputs.

    Examples
    --------
    >>> resolve_target(1, 3).index
    1
    >>> resolve_target(None, 1).index
    0
    >>> resolve_target(None, 3)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: target must be given for a model with 3 outputs: an int in [0, 3) or ...
    """
    if callable(target):
        return Target(None, target, n_outputs)
    if target is None:
        if n_outputs == 1:
            return Target(0, None, 1)
        raise ValueError(
            f"target must be given for a model with {n_outputs} outputs: an int in "
            f"[0, {n_outputs}) or a callable on the output; got None."
        )
    if isinstance(target, (int, np.integer)) and not isinstance(target, bool):
        if not 0 <= target < n_outputs:
            raise ValueError(
                f"target must be an int in [0, {n_outputs}) for a model with {n_outputs} "
                f"outputs; got {target}."
            )
        return Target(int(target), None, n_outputs)
    raise TypeError(f"target must be an int, a callable or None; got {type(target).__name__}.")


def parse_target(
    text: str | None, task_names: Sequence[str], *, option: str = "--target"
) -> int | None:
    """An output index from text: a (possibly negative) integer, or a task name.

    The one reading of a target given as text (the ``--target`` option of the commands);
    ranges are checked later by :func:`resolve_target`, against the model's outputs.

    Parameters
    ----------
    text : str or None
        ``"1"``, ``"-1"`` or a task name; None stays None (the method's default target).
    task_names : sequence of str
        The model's or dataset's task names, in output order.
    option : str
        How the value is named in the error message.

    Examples
    --------
    >>> parse_target("CTCF", ["GATA", "CTCF"]), parse_target("0", []), parse_target(None, [])
    (1, 0, None)
    >>> parse_target("REST", ["GATA"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: --target must be an output index or a task name; 'REST' is neither (tasks: ...
    """
    if text is None:
        return None
    task_names = list(task_names)
    if text.lstrip("-").isdigit():
        return int(text)
    if text in task_names:
        return task_names.index(text)
    raise ValueError(
        f"{option} must be an output index or a task name; {text!r} is neither (tasks: "
        f"{task_names})."
    )


def prepare_inputs(X, *, name: str = "X", dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Validate one-hot ``X`` (N, 4, L) and return it as a CPU tensor of ``dtype``."""
    check_one_hot(X, name=name)
    if isinstance(X, np.ndarray):
        X = torch.from_numpy(np.ascontiguousarray(X))
    return X.detach().to(device="cpu", dtype=dtype)


def resolve_baselines(
    baselines, X: torch.Tensor, *, n_baselines: int | None, random_state=None, name="baselines"
) -> torch.Tensor:
    """Turn the ``baselines`` option into a (N, B, 4, L) tensor of X's dtype on the CPU.

    Parameters
    ----------
    baselines : str, callable, tensor or array
        A reference name from :data:`cislens.shuffle.REFERENCES` ("zeros", "frequencies",
        "dinucleotide", "shuffle"); a callable ``(X, n, random_state) -> (N, n, 4, L)``; a tensor
        of shape (N, B, 4, L) (per-example references), (B, 4, L) or (4, L) (shared by all).
    X : torch.Tensor
        The inputs (N, 4, L).
    n_baselines : int or None
        How many references a name or callable makes per example (None: the maker's default).
    random_state : int, Generator or None
        Passed to the maker.

    Examples
    --------
    >>> X = torch.zeros(2, 4, 5); X[:, 0] = 1
    >>> resolve_baselines("zeros", X, n_baselines=3).shape
    torch.Size([2, 3, 4, 5])
    >>> resolve_baselines(torch.zeros(4, 5), X, n_baselines=None).shape
    torch.Size([2, 1, 4, 5])
    """
    from cislens.shuffle.references import get_reference_function

    n_examples, _, length = X.shape
    if isinstance(baselines, str):
        baselines = get_reference_function(baselines)
    if callable(baselines):
        if n_baselines is None:
            made = baselines(X, random_state=random_state)
        else:
            n_baselines = check_positive_int(n_baselines, "n_baselines")
            made = baselines(X, n_baselines, random_state)
        refs = torch.as_tensor(made)
    elif isinstance(baselines, (torch.Tensor, np.ndarray)):
        refs = torch.as_tensor(baselines)
        if refs.ndim == 2:
            refs = refs[None, None]
        elif refs.ndim == 3:
            refs = refs[None]
        if refs.ndim == 4 and refs.shape[0] == 1 and n_examples > 1:
            refs = refs.expand(n_examples, *refs.shape[1:])
    else:
        raise TypeError(
            f"{name} must be a reference name, a callable (X, n, random_state) -> (N, n, 4, L), "
            f"or a tensor; got {type(baselines).__name__}."
        )
    expected = f"(N={n_examples}, B, 4, L={length})"
    if refs.ndim != 4 or refs.shape[0] != n_examples or refs.shape[2:] != (4, length):
        raise ValueError(f"{name} must have shape {expected}; got {tuple(refs.shape)}.")
    if refs.shape[1] == 0:
        raise ValueError(f"{name} must hold at least one reference per example; got 0.")
    if not torch.isfinite(refs).all():
        raise ValueError(f"{name} contains NaN or infinite values.")
    return refs.detach().to(device="cpu", dtype=X.dtype)


def _tensors_in(module: nn.Module) -> dict[str, torch.Tensor]:
    """The module's own buffers and plain tensor attributes (caches), by name."""
    found = {name: t for name, t in module._buffers.items() if t is not None}
    for name, value in vars(module).items():
        if isinstance(value, torch.Tensor) and not isinstance(value, nn.Parameter):
            found[name] = value
    return found


@contextmanager
def preserved_state(model: nn.Module) -> Iterator[None]:
    """Put every module of ``model`` back as it was on exit: attributes, buffers, caches.

    A forward pass may write onto the model: a cache of positional features filled on the first
    call (Borzoi), a counter, a buffer updated in place. On exit every module's attribute
    dictionary, parameter, buffer and submodule tables are restored to the same objects, and
    tensors that were changed in place get their old values back, so the caller's next
    ``model(x)`` runs exactly as if cislens had never called it.

    Examples
    --------
    >>> class Cached(nn.Module):
    ...     def forward(self, x):
    ...         if not hasattr(self, "cache"):
    ...             self.cache = x.new_ones(1)
    ...         return x + self.cache
    >>> net = Cached()
    >>> with preserved_state(net):
    ...     _ = net(torch.zeros(2))
    >>> hasattr(net, "cache")
    False
    """
    saved = []
    for module in model.modules():
        tables = {
            key: dict(getattr(module, key)) for key in ("_parameters", "_buffers", "_modules")
        }
        values = {name: t.detach().clone() for name, t in _tensors_in(module).items()}
        saved.append((module, dict(vars(module)), tables, values))
    try:
        yield
    finally:
        for module, attributes, tables, values in saved:
            state = vars(module)
            for key in [key for key in state if key not in attributes]:
                del state[key]
            state.update(attributes)
            for key, table in tables.items():
                current = getattr(module, key)
                current.clear()
                current.update(table)
            now = _tensors_in(module)
            with torch.no_grad():
                for name, old in values.items():
                    tensor = now.get(name)
                    if tensor is None or tensor.shape != old.shape:
                        continue  # replaced, not changed in place: restored with the table
                    same_device = old.to(tensor.device, tensor.dtype)
                    if not torch.equal(tensor, same_device):
                        tensor.copy_(same_device)


@contextmanager
def borrowed_model(
    model: nn.Module, *, device: Device = None, dtype: torch.dtype = torch.float32
) -> Iterator[tuple[nn.Module, torch.device]]:
    """Run ``model`` in eval mode on ``device`` with parameters of ``dtype``; restore on exit.

    Restores the original device, the dtype of every floating parameter and buffer, each
    submodule's train/eval flag, and (through :func:`preserved_state`) every attribute, buffer
    and cache a forward pass wrote, even when the block raises. Writes no attributes on the
    model.

    Examples
    --------
    >>> net = nn.Sequential(nn.Linear(2, 1)).train()
    >>> with borrowed_model(net, device="cpu", dtype=torch.float64) as (m, dev):
    ...     m[0].weight.dtype, m.training
    (torch.float64, False)
    >>> net[0].weight.dtype, net.training
    (torch.float32, True)
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module; got {type(model).__name__}.")
    target_device = resolve_device(device)
    original_device = model_device(model)
    modes = {module: module.training for module in model.modules()}
    dtypes = {
        name: tensor.dtype
        for name, tensor in [*model.named_parameters(), *model.named_buffers()]
        if tensor.is_floating_point()
    }
    held = [*model.parameters(), *model.buffers()]
    # ``Module.to`` walks every module and tensor in Python even when nothing moves: skipped
    # when every tensor is already on the device (and every floating one in the dtype)
    moved = any(t.device != target_device for t in held)
    cast = any(t.dtype != dtype for t in held if t.is_floating_point())
    try:
        if moved:
            model.to(device=target_device)
        if cast:
            model.to(dtype=dtype)
        model.eval()
        with preserved_state(model):
            yield model, target_device
    finally:
        if moved:
            model.to(device=original_device)
        tensors = dict([*model.named_parameters(), *model.named_buffers()])
        for name, original_dtype in dtypes.items():
            tensor = tensors[name]
            if tensor.dtype != original_dtype:
                tensor.data = tensor.data.to(original_dtype)
        for module, mode in modes.items():
            module.training = mode


__all__ = [
    "Target",
    "batch_slices",
    "borrowed_model",
    "check_batch_size",
    "count_outputs",
    "prepare_inputs",
    "preserved_state",
    "resolve_baselines",
    "resolve_target",
]
