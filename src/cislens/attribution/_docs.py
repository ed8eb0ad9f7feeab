"""Shared numpydoc text for the parameters every attribution method takes.

The methods of this package share one signature (``model, X, *, target, batch_size, device,
random_state, verbose, dtype``). Their docstrings name a shared parameter with a line holding
only ``{name}``; :func:`shared_parameters` replaces that line with the text below, indented to
match, when the module is imported. One description per parameter keeps the methods' documents
from drifting apart.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TypeVar

PARAMETER_TEXT: dict[str, str] = {
    "model": (
        "model : torch.nn.Module\n"
        "    Maps one-hot (N, 4, L) to outputs (N, T). Borrowed in eval mode and restored "
        "afterwards."
    ),
    "X": (
        "X : torch.Tensor or numpy.ndarray\n"
        "    One-hot sequences (N, 4, L), channels A, C, G, T; all-zero columns (N) allowed."
    ),
    "target": (
        "target : int, callable or None\n"
        "    The output explained: an index in [0, T), a callable mapping the output (B, T) to "
        "(B,),\n"
        "    or None for a single-output model (None on a multi-output model raises)."
    ),
    "batch_size": (
        "batch_size : int\n"
        "    Forward-pass rows per batch (here: sequences); results do not depend on it. "
        "Default 128."
    ),
    "device": (
        "device : str, torch.device or None\n"
        "    Where to run; None picks CUDA when available. Results come back on the CPU."
    ),
    "random_state_unused": (
        "random_state : int, numpy.random.Generator or None\n"
        "    Accepted for the common signature; unused (the method is deterministic)."
    ),
    "verbose": "verbose : bool\n    Show a progress bar.",
    "output": (
        "output : None, int, str, callable or tuple\n"
        "    Which model output to explain when it is not one (N, T) tensor: an index into a\n"
        '    returned tuple, a key of a returned dict, a callable, a head ("profile",\n'
        '    "counts", "sum", "mean") or (index or key, head); see\n'
        "    :mod:`cislens.attribution.heads`."
    ),
    "input_layout": (
        'input_layout : {"NCL", "NLC"}\n'
        "    The layout the model takes: (N, 4, L) (default) or (N, L, 4). ``X`` and the result\n"
        "    are (N, 4, L) either way."
    ),
    "dtype": (
        "dtype : torch.dtype\n"
        "    Compute dtype of the model and inputs (default float32; float64 for exact checks)."
    ),
}

_PLACEHOLDER = re.compile(r"^(?P<indent>[ ]*)\{(?P<name>\w+)\}$")

F = TypeVar("F", bound=Callable)


def fill_parameter_text(doc: str) -> str:
    """Replace each line that holds only ``{name}`` with the shared text of parameter ``name``.

    An unknown name raises a KeyError at import time, so a typo cannot ship a broken document.

    Examples
    --------
    >>> print(fill_parameter_text("Parameters\\n    ----------\\n    {verbose}"))
    Parameters
        ----------
        verbose : bool
            Show a progress bar.
    """
    lines = []
    for line in doc.splitlines():
        match = _PLACEHOLDER.match(line)
        if match is None:
            lines.append(line)
            continue
        text = PARAMETER_TEXT[match["name"]]
        lines.extend(match["indent"] + part for part in text.splitlines())
    return "\n".join(lines)


def shared_parameters(func: F) -> F:
    """Decorator: fill the ``{name}`` parameter lines of ``func``'s docstring.

    Examples
    --------
    >>> @shared_parameters
    ... def method(X):
    ...     '''Parameters
    ...     ----------
    ...     {X}
    ...     '''
    >>> "One-hot sequences (N, 4, L)" in method.__doc__
    True
    """
    if func.__doc__:
        func.__doc__ = fill_parameter_text(func.__doc__)
    return func


__all__ = ["PARAMETER_TEXT", "fill_parameter_text", "shared_parameters"]
