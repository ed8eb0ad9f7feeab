"""The base class of the cislens architectures and the arithmetic of layer output lengths.

Rules every architecture follows (the attribution engine relies on them):

- it maps (N, 4, L) -> (N, T) logits;
- every nonlinearity (ReLU, pooling, dropout, batch norm) is its own ``nn.Module`` instance,
  called exactly once in ``forward``; no functional nonlinearities, no in-place operations;
  residual additions are a plain ``+``; the model is ``torch.fx.symbolic_trace``-able;
- the constructor takes the hyperparameters (recorded in ``model.hparams``, JSON-ready) and a
  ``random_state``; parameters are built on the ``meta`` device and initialised from a seeded
  ``torch.Generator``, so building a model never touches torch's global random generator and the
  same seed gives the same weights.

The input check (4 channels, the length a fixed-length model was built for) runs as a forward
pre-hook, so it is active in eager calls and invisible to ``torch.fx`` tracing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import ClassVar

import torch
from torch import nn

from cislens.utils.random import resolve_seed
from cislens.utils.types import RandomState
from cislens.utils.validation import check_number
from cislens.utils.validation import check_positive_int as shared_check_positive_int

_INIT_LINEAR = (nn.Conv1d, nn.Linear)
_INIT_RESET = (nn.BatchNorm1d,)


class SequenceModel(nn.Module):
    """Base class of the built-in architectures: an ``nn.Module`` that knows its config.

    Subclasses set the class attributes ``name`` (the registry key) and ``fixed_length``, fill
    ``self.hparams`` in ``__init__``, build their layers inside ``with torch.device("meta"):``
    and end ``__init__`` with ``self._initialize(random_state)``.

    Attributes
    ----------
    hparams : dict
        The constructor arguments (resolved defaults included), JSON-serialisable;
        ``build_model({"name": model.name, **model.hparams})`` rebuilds the architecture.
    task_names : list of str or None
        Names of the T outputs, set by ``fit`` from the data or by ``load_model``.
    training_defaults : dict
        Training settings (``epochs``, ``lr``, ``batch_size`` of ``fit``; ``restarts`` and
        ``selection_epochs`` of :func:`cislens.train.fit_restarts`) that this architecture
        needs in place of the generic defaults; ``cislens train`` and ``cislens run`` use them
        (through :meth:`training_settings`) when the option is not given (empty: the generic
        ones suit it).
    """

    name: ClassVar[str] = ""
    fixed_length: ClassVar[bool] = False
    training_defaults: ClassVar[dict] = {}

    @classmethod
    def training_settings(cls, given: dict, generic: dict) -> dict:
        """``fit`` settings: each key of ``generic`` from ``given`` when not None, else from the
        architecture's :attr:`training_defaults`, else the generic default.

        A race of seeds (``restarts`` > 1) that was not given and does not fit in ``epochs``
        (``selection_epochs >= epochs``, a short run) becomes ``restarts = 1``.

        Examples
        --------
        >>> SequenceModel.training_settings({"lr": None, "epochs": 3}, {"lr": 1e-3, "epochs": 10})
        {'lr': 0.001, 'epochs': 3}
        """
        settings = {
            key: given[key]
            if given.get(key) is not None
            else cls.training_defaults.get(key, fallback)
            for key, fallback in generic.items()
        }
        race = [settings.get(key) for key in ("restarts", "selection_epochs", "epochs")]
        restarts, selection_epochs, epochs = race
        if (
            given.get("restarts") is None
            and isinstance(restarts, int)
            and isinstance(selection_epochs, int)
            and isinstance(epochs, int)
        ):
            if restarts > 1 and selection_epochs >= epochs:
                settings["restarts"] = 1
        return settings

    def __init__(self) -> None:
        super().__init__()
        self.hparams: dict = {}
        self.task_names: list[str] | None = None

    @property
    def n_tasks(self) -> int:
        """The number of outputs T."""
        return int(self.hparams["n_tasks"])

    @property
    def input_length(self) -> int | None:
        """The input length L the model was built for (None: any length works)."""
        value = self.hparams.get("input_length")
        return None if value is None else int(value)

    @property
    def min_length(self) -> int:
        """The shortest input the model accepts (for fixed-length models, ``input_length``)."""
        return 1

    def _initialize(self, random_state) -> None:
        self.to_empty(device="cpu")
        initialize_parameters(self, random_state=random_state)
        self.register_forward_pre_hook(_check_input_hook)

    def extra_repr(self) -> str:
        return ", ".join(f"{key}={value!r}" for key, value in self.hparams.items())


def _check_input_hook(module: SequenceModel, args) -> None:
    if not args or not isinstance(args[0], torch.Tensor):
        return  # torch.fx proxies and other tracers pass through unchecked
    x = args[0]
    name = type(module).__name__
    if x.ndim != 3 or x.shape[1] != 4:
        hint = (
            " It looks like (N, L, 4): use X.transpose(1, 2)."
            if x.ndim == 3 and (x.shape[2] == 4)
            else ""
        )
        raise ValueError(
            f"{name} expects one-hot input of shape (N, 4, L); got shape {tuple(x.shape)}.{hint}"
        )
    length = x.shape[2]
    if module.fixed_length and length != module.input_length:
        raise ValueError(
            f"{name} was built for input_length={module.input_length} but received sequences of "
            f"length {length}. Pass sequences of {module.input_length} bp, or build the model "
            f"with input_length={length}."
        )
    if length < module.min_length:
        raise ValueError(
            f"{name} needs sequences of at least {module.min_length} bp with these "
            f"hyperparameters; got length {length}."
        )


def initialize_parameters(model: nn.Module, *, random_state: RandomState = None) -> nn.Module:
    """(Re)initialise the weights of ``model`` in place from a seeded generator; return it.

    Conv1d and Linear layers get PyTorch's default initialisation (Kaiming-uniform weights with
    ``a=sqrt(5)``, biases uniform in +-1/sqrt(fan_in)); BatchNorm layers are reset to weight 1,
    bias 0 and fresh running statistics. Torch's global generator is not used.

    Parameters
    ----------
    model : torch.nn.Module
        A model made only of Conv1d, Linear, BatchNorm1d and parameter-free modules.
    random_state : int, numpy.random.Generator or None
        The seed; the same seed gives the same weights.

    Raises
    ------
    TypeError
        When a module with its own parameters is of another type.

    Examples
    --------
    >>> a = initialize_parameters(nn.Linear(3, 2), random_state=0)
    >>> b = initialize_parameters(nn.Linear(3, 2), random_state=0)
    >>> torch.equal(a.weight, b.weight)
    True
    """
    generator = torch.Generator().manual_seed(resolve_seed(random_state))
    for module_name, module in model.named_modules():
        if isinstance(module, _INIT_LINEAR):
            with torch.no_grad():
                weight = torch.empty(module.weight.shape)
                nn.init.kaiming_uniform_(weight, a=math.sqrt(5), generator=generator)
                module.weight.copy_(weight)
                if module.bias is not None:
                    fan_in = weight[0].numel()
                    bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
                    bias = torch.empty(module.bias.shape)
                    nn.init.uniform_(bias, -bound, bound, generator=generator)
                    module.bias.copy_(bias)
        elif isinstance(module, _INIT_RESET):
            module.reset_parameters()
        elif any(True for _ in module.parameters(recurse=False)) or any(
            True for _ in module.buffers(recurse=False)
        ):
            raise TypeError(
                f"initialize_parameters does not know how to initialise module {module_name!r} "
                f"({type(module).__name__}); only Conv1d, Linear and BatchNorm1d carry weights "
                "in cislens architectures."
            )
    return model


# ---------------------------------------------------------------------------------------------
# Output-length arithmetic (PyTorch's formulas, stride 1 convolutions, unpadded pools).


def conv_length(length: int, width: int, *, padding: str = "valid", dilation: int = 1) -> int:
    """Output length of a stride-1 Conv1d with ``padding`` "valid" or "same".

    Examples
    --------
    >>> conv_length(200, 19)
    182
    >>> conv_length(200, 19, padding="same")
    200
    """
    if padding == "same":
        return length
    return length - dilation * (width - 1)


def pool_length(length: int, kernel: int, stride: int, *, ceil_mode: bool = False) -> int:
    """Output length of an unpadded MaxPool1d (PyTorch's formula, ceil mode included).

    Examples
    --------
    >>> pool_length(182, 4, 4, ceil_mode=True), pool_length(182, 1, 4)
    (46, 46)
    >>> pool_length(39, 8, 8, ceil_mode=True), pool_length(3, 8, 8, ceil_mode=True)
    (5, 1)
    """
    if length < 1:
        return 0
    if ceil_mode:  # a last, partial window is kept when it starts inside the input
        out = math.ceil((length - kernel) / stride) + 1
        if (out - 1) * stride >= length:
            out -= 1
        return max(out, 0)
    if length < kernel:
        return 0
    return (length - kernel) // stride + 1


def unseen_tail(lengths: Sequence[int], windows: Sequence[tuple[int, int, int]]) -> int:
    """Input bases at the end of the sequence that no output position depends on.

    A chain of sliding windows (convolutions and pools) whose lengths do not divide drops
    the last positions of a map (a floor pool skips an incomplete last window), so the last
    bases of the input can never reach the output: their attributions are exactly 0 and a
    motif there is invisible to the model.

    Parameters
    ----------
    lengths : sequence of int
        The input length, then the output length of each window layer, in order.
    windows : sequence of (kernel, stride, left_padding)
        One per layer (dilation 1).

    Returns
    -------
    int
        The number of trailing input bases that no position of the last map reads.

    Examples
    --------
    >>> unseen_tail([200, 182, 60], [(19, 1, 0), (3, 3, 0)])  # the floor pool drops 2 of 182
    2
    >>> unseen_tail([200, 182, 61], [(19, 1, 0), (3, 3, 0)])  # ceil mode keeps them
    0
    """
    last = lengths[-1] - 1
    for (kernel, stride, left), n_in in zip(reversed(windows), reversed(lengths[:-1]), strict=True):
        last = min(n_in - 1, last * stride - left + kernel - 1)
    return lengths[0] - 1 - last


def check_positive_int(value, name: str, owner: str) -> int:
    """Return ``value`` as an int after checking it is a positive integer."""
    return shared_check_positive_int(value, f"{owner}: {name}")


def check_int_list(value, name: str, owner: str, size: int | None = None) -> list[int]:
    """Return ``value`` (a list or tuple of positive ints) as a list, checking its size."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, (list, tuple)) or not value:
        raise ValueError(f"{owner}: {name} must be a list of positive ints; got {value!r}.")
    out = [check_positive_int(v, name, owner) for v in value]
    if size is not None and len(out) != size:
        raise ValueError(f"{owner}: {name} must have {size} entries; got {len(out)} ({value!r}).")
    return out


def check_rate(value, name: str, owner: str) -> float:
    """Return ``value`` as a float after checking it is a dropout rate in [0, 1)."""
    return check_number(
        value, f"{owner}: {name}", minimum=0, maximum=1, open_max=True, what="a float"
    )


def check_length(input_length, owner: str, *, required: bool) -> int | None:
    """Validate ``input_length`` (None allowed for models that take any length)."""
    if input_length is None:
        if required:
            raise ValueError(
                f"{owner} has a fixed input length: pass input_length=L (the sequence length of "
                "your data, e.g. dataset.length)."
            )
        return None
    return check_positive_int(input_length, "input_length", owner)


def check_padding(padding, owner: str) -> str | None:
    """Validate a padding choice: "valid", "same", or None (pick by input length)."""
    if padding not in (None, "valid", "same"):
        raise ValueError(
            f"{owner}: padding must be 'valid', 'same' or None (valid when the input is long "
            f"enough, else same); got {padding!r}."
        )
    return padding


__all__ = [
    "SequenceModel",
    "check_int_list",
    "check_length",
    "check_padding",
    "check_positive_int",
    "check_rate",
    "conv_length",
    "initialize_parameters",
    "pool_length",
    "unseen_tail",
]
