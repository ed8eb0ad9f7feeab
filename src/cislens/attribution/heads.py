"""Which output to explain, and the input layout a model takes: ``output=`` and ``input_layout=``.

Every attribution method explains one scalar per sequence, chosen by ``target`` from a model
output of shape (N, T). Real models return more: BPNet and ChromBPNet a tuple (profile logits
(N, S, L), counts (N, 1)), Enformer a dict of heads, gReLU models (N, T, L) or (N, T, 1), some
models take (N, L, 4). :func:`explained_model` turns the user's model into one that takes (N, 4,
L) and returns (N, T), once, for every method, without changing the user's model:

``output=``
    ``None`` (the model returns one tensor), an ``int`` (an index into a returned tuple or
    list), a ``str`` key of a returned dict, a callable on the raw output, one of the named
    heads below, or a pair ``(index or key, named head)`` applying the head to one element
    (a two-item list is read as the pair: the form a pair takes in JSON records).

    - ``"counts"``: the one (N, T) (or (N, T, 1)) tensor among the outputs.
    - ``"profile"``: the one (N, S, L) tensor among the outputs (or a selected (N, L) one:
      ``(0, "profile")``, as chrombpnet-pytorch returns it), reduced as bpnet-lite and
      ChromBPNet define the profile attribution target: the logits of all S tracks and L
      positions flattened, mean-centred, weighted by their detached softmax and summed,
      ``sum(softmax(l).detach() * l)``, one value per sequence (N, 1). For DeepLIFT the
      weighting ``l * softmax(l)`` is one elementwise-shaped nonlinearity explained by the
      Rescale rule, as bpnet-lite registers it with tangermeme (:func:`profile_weighting`).
    - ``"sum"`` / ``"mean"``: the one (N, T, L) tensor summed / averaged over its last axis.

    A selected (N, T, 1) tensor is squeezed to (N, T). As text (the command line's
    ``--output``, a ``cislens run`` config) it is written as :func:`parse_output` reads it:
    ``"1"``, ``"counts"``, ``"human"``, ``"0:profile"``, ``"human:sum"``.
``input_layout=``
    ``"NCL"`` (default; the model takes (N, 4, L)) or ``"NLC"`` (the model takes (N, L, 4)).
    Inputs and attributions stay (N, 4, L) either way.
"""

from __future__ import annotations

import re

import torch
from torch import nn
from torch.overrides import handle_torch_function, has_torch_function_unary

HEADS = ("profile", "counts", "sum", "mean")
LAYOUTS = ("NCL", "NLC")


def profile_weighting(logits: torch.Tensor) -> torch.Tensor:
    """``logits * softmax(logits, -1).detach()``, one call for the DeepLIFT engine.

    Its gradient is the softmax (the weights are constants), as in BPNet's profile attribution;
    the DeepLIFT engine sees it as a single elementwise-shaped nonlinearity (the capture records
    it whole) and applies Rescale per element, which is how bpnet-lite's ``_ProfileLogitScaling``
    is explained with tangermeme.

    Examples
    --------
    >>> profile_weighting(torch.zeros(1, 4)).tolist()
    [[0.0, 0.0, 0.0, 0.0]]
    """
    if has_torch_function_unary(logits):  # under the capture: recorded as one call
        return handle_torch_function(profile_weighting, (logits,), logits)
    return logits * torch.softmax(logits, dim=-1).detach()


def _describe(value) -> str:
    if isinstance(value, torch.Tensor):
        return f"tensor {tuple(value.shape)}"
    if isinstance(value, dict):
        return "dict {" + ", ".join(f"{k!r}: {_describe(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return f"{type(value).__name__} ({', '.join(_describe(v) for v in value)})"
    return type(value).__name__


def _tensors(value) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list | tuple):
        return [v for v in value if isinstance(v, torch.Tensor)]
    return []


def _head(value, name: str, spec, option: str) -> torch.Tensor:
    """The named head ``name`` of the raw output ``value``."""
    if name == "counts":
        found = [t for t in _tensors(value) if t.ndim == 2 or (t.ndim == 3 and t.shape[-1] == 1)]
        wanted = "(N, T) or (N, T, 1)"
    elif name == "profile" and isinstance(value, torch.Tensor) and value.ndim == 2:
        found, wanted = [value], "(N, L)"  # a selected single-track profile
    else:
        found = [t for t in _tensors(value) if t.ndim == 3 and t.shape[-1] > 1]
        wanted = "(N, T, L)"
    if len(found) != 1:
        raise ValueError(
            f"{option}={spec!r} takes the one {wanted} tensor among the model's outputs, but the "
            f"model returns {_describe(value)} ({len(found)} such tensors). Select the tensor "
            f"first, e.g. {option}=(0, 'profile'), or pass a callable."
        )
    (tensor,) = found
    if name == "counts":
        return tensor
    if name == "profile":
        logits = tensor.flatten(1)
        logits = logits - logits.mean(-1, keepdim=True)
        return profile_weighting(logits).sum(-1, keepdim=True)
    return tensor.sum(-1) if name == "sum" else tensor.mean(-1)


def _element(value, key, spec, option: str):
    if isinstance(key, int) and not isinstance(key, bool):
        if isinstance(value, list | tuple) and -len(value) <= key < len(value):
            return value[key]
    elif isinstance(value, dict) and key in value:
        return value[key]
    available = (
        f"keys {list(value)}"
        if isinstance(value, dict)
        else f"indices 0..{len(value) - 1}"
        if isinstance(value, list | tuple)
        else "no elements (it is one tensor: leave output=None)"
    )
    raise ValueError(
        f"{option}={spec!r} does not name an output of the model, which returns "
        f"{_describe(value)}; available: {available}, or a head {HEADS}."
    )


def _as_pair(output):
    """A two-item list (a pair as JSON stores it) read as the pair ``(index or key, head)``."""
    if isinstance(output, list) and len(output) == 2:
        return tuple(output)
    return output


def select_output(value, output=None, *, name: str = "output") -> torch.Tensor:
    """Apply ``output=`` (see the module docs) to a raw model output; returns (N, T) or (N,).

    ``name`` is how errors call the option (``"--output"`` on the command line).

    Examples
    --------
    >>> raw = (torch.zeros(2, 2, 10), torch.ones(2, 1))
    >>> select_output(raw, "counts").shape, select_output(raw, "profile").shape
    (torch.Size([2, 1]), torch.Size([2, 1]))
    >>> select_output({"a": torch.zeros(2, 3, 1)}, "a").shape
    torch.Size([2, 3])
    >>> select_output(raw, [0, "sum"]).shape  # a pair as read back from JSON
    torch.Size([2, 2])
    """
    spec, output = output, _as_pair(output)
    if callable(output):
        value = output(value)
    elif isinstance(output, tuple) and len(output) == 2 and output[1] in HEADS:
        value = _head(_element(value, output[0], spec, name), output[1], spec, name)
    elif (
        isinstance(output, str)
        and output in HEADS
        and not (isinstance(value, dict) and output in value)
    ):
        value = _head(value, output, spec, name)
    elif output is not None:
        value = _element(value, output, spec, name)
    if not isinstance(value, torch.Tensor):
        raise ValueError(
            f"the model returns {_describe(value)}, not one tensor; choose the output to "
            f"explain with {name}= (an index, a key, a callable or a head {HEADS})."
        )
    if value.ndim == 3 and value.shape[-1] == 1:
        value = value.squeeze(-1)
    if value.ndim > 2:
        raise ValueError(
            f"the selected output has shape {tuple(value.shape)}, not (N, T); reduce its last "
            f"axis with a head, e.g. {name}='sum', 'mean' or 'profile' (or (key, 'sum')), or "
            "pass a callable."
        )
    return value


_INTEGER = re.compile(r"[+-]?\d+")
OUTPUT_FORMS = (
    "an output index ('1'), a head ('profile', 'counts', 'sum', 'mean'), a dict key (any "
    "other text), or KEY:HEAD / INDEX:HEAD ('0:profile', 'human:sum')"
)
"""The text forms :func:`parse_output` reads, as error messages list them."""


def parse_output(text: str, *, name: str = "output"):
    """Read ``output=`` written as text: what ``--output`` and ``cislens run`` configs hold.

    ``"1"`` is an index, ``"profile"`` / ``"counts"`` / ``"sum"`` / ``"mean"`` a named head,
    ``"KEY:HEAD"`` or ``"INDEX:HEAD"`` a head applied to one element, and any other text a
    dict key (so a dict key made of digits, or ending in ``:HEAD``, cannot be written as text:
    pass it from Python). Surrounding spaces are ignored.

    Parameters
    ----------
    text : str
        The text, e.g. ``"0:profile"``.
    name : str
        How errors call the option (default "output"; the command line passes "--output").

    Returns
    -------
    int, str or tuple
        The value to pass as ``output=``.

    Raises
    ------
    ValueError
        Empty text, or an empty KEY before ``:HEAD``; the message lists the valid forms.

    Examples
    --------
    >>> parse_output("1"), parse_output("counts"), parse_output("human")
    (1, 'counts', 'human')
    >>> parse_output("0:profile"), parse_output("human:sum")
    ((0, 'profile'), ('human', 'sum'))
    >>> parse_output("")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: output must be an output index ('1'), a head ...; got ''.
    """
    if not isinstance(text, str):
        raise TypeError(f"{name} must be text ({OUTPUT_FORMS}); got {type(text).__name__}.")
    stripped = text.strip()
    key, colon, head = stripped.rpartition(":")
    if not stripped or (colon and head in HEADS and not key.strip()):
        raise ValueError(f"{name} must be {OUTPUT_FORMS}; got {text!r}.")
    if _INTEGER.fullmatch(stripped):
        return int(stripped)
    if colon and head in HEADS:
        key = key.strip()
        return (int(key) if _INTEGER.fullmatch(key) else key, head)
    return stripped


def check_input_layout(value, *, name: str = "input_layout") -> str:
    """``value`` if it is a layout of :data:`LAYOUTS`, else a ValueError naming ``name``.

    Examples
    --------
    >>> check_input_layout("NLC")
    'NLC'
    >>> check_input_layout("LNC", name="--input-layout")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: --input-layout must be 'NCL' (the model takes (N, 4, L)) or 'NLC' ...; got 'LNC'.
    """
    if not isinstance(value, str) or value not in LAYOUTS:
        raise ValueError(
            f"{name} must be 'NCL' (the model takes (N, 4, L)) or 'NLC' (it takes (N, L, 4)); "
            f"got {value!r}."
        )
    return value


class ExplainedModel(nn.Module):
    """The user's model seen through ``output=`` and ``input_layout=`` (see the module docs).

    Holds the model as its only submodule and adds no state; the user's model is not changed.
    """

    def __init__(self, model: nn.Module, output=None, input_layout: str = "NCL"):
        super().__init__()
        self.model = model
        self.output = output
        self.input_layout = input_layout

    def raw_output(self, x: torch.Tensor):
        """The model's own output for one-hot ``x`` (N, 4, L), before ``output=`` applies."""
        if self.input_layout == "NLC":
            x = x.transpose(1, 2)
        try:
            return self.model(x)
        except RuntimeError as error:
            if "size" not in str(error) and "shape" not in str(error):
                raise
            other = "NLC" if self.input_layout == "NCL" else "NCL"
            raise ValueError(
                f"the model failed on input of shape {tuple(x.shape)} (input_layout="
                f"{self.input_layout!r}): {str(error).splitlines()[0]} If the model takes "
                f"{'(N, L, 4)' if other == 'NLC' else '(N, 4, L)'}, pass "
                f"input_layout={other!r}."
            ) from error

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return select_output(self.raw_output(x), self.output)


def explained_model(model: nn.Module, *, output=None, input_layout: str = "NCL") -> nn.Module:
    """``model`` as a map from (N, 4, L) to (N, T) per ``output=`` and ``input_layout=``.

    Returns an :class:`ExplainedModel` (also at the defaults: it turns a shape error of the
    model into a message that names the layout flag); ``model`` itself if it is one already.

    Examples
    --------
    >>> class TwoHeads(nn.Module):
    ...     def forward(self, x):
    ...         return x.sum(1, keepdim=True), x.sum((1, 2))[:, None]
    >>> net = explained_model(TwoHeads(), output="counts")
    >>> net(torch.ones(3, 4, 5)).tolist()
    [[20.0], [20.0], [20.0]]
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module; got {type(model).__name__}.")
    check_input_layout(input_layout)
    output = _as_pair(output)
    if not (output is None or callable(output) or isinstance(output, int | str | tuple)):
        raise TypeError(
            f"output must be None, an int, a str, a callable or (index or key, head); got "
            f"{type(output).__name__}."
        )
    if isinstance(model, ExplainedModel) and output is None and input_layout == "NCL":
        return model
    return ExplainedModel(model, output, input_layout)


def check_output(
    model: nn.Module, *, length: int, output=None, input_layout: str = "NCL", name="output"
) -> int:
    """Run ``model`` once on an all-N sequence of ``length``; return T under ``output=``.

    A check before long work: a wrong ``output`` fails here, in one forward pass, with a
    message (calling the option ``name``) that lists the outputs the model has. The model is
    run on the CPU in eval mode and left as it was.

    Examples
    --------
    >>> class TwoHeads(nn.Module):
    ...     def forward(self, x):
    ...         return x.sum(1, keepdim=True), x.sum((1, 2))[:, None]
    >>> check_output(TwoHeads(), length=8, output="counts")
    1
    >>> check_output(TwoHeads(), length=8, output=7, name="--output")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: --output=7 does not name an output of the model, ...; available: indices 0..1, ...
    """
    from cislens.attribution._common import borrowed_model

    net = explained_model(model, output=output, input_layout=input_layout)
    with borrowed_model(net, device="cpu") as (borrowed, _), torch.no_grad():
        value = select_output(borrowed.raw_output(torch.zeros(1, 4, length)), output, name=name)
    return 1 if value.ndim == 1 else int(value.shape[1])


__all__ = [
    "HEADS",
    "LAYOUTS",
    "OUTPUT_FORMS",
    "ExplainedModel",
    "check_input_layout",
    "check_output",
    "explained_model",
    "parse_output",
    "profile_weighting",
    "select_output",
]
