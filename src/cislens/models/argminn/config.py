"""ARGMINN's hyperparameters, checked in one place: :class:`ARGMINNConfig`.

The network (:mod:`cislens.models.argminn.network`) takes them as keyword arguments, builds one
config, and keeps ``config.hparams()`` (what a checkpoint stores) and ``config.schedule()``.
What each hyperparameter means is documented in the ``ARGMINN`` class docstring.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from cislens.models._base import check_length, check_positive_int
from cislens.models.argminn.schedule import RegularizationSchedule

OWNER = "ARGMINN"
SIZES = (
    "n_tasks",
    "n_filters",
    "filter_width",
    "position_dim",
    "token_dim",
    "stream_dim",
    "n_layers",
    "n_heads",
)
SWITCHES = (
    "reverse_complement",
    "strand_tokens",
    "token_batch_norm",
    "freeze_token_norm",
    "overlap_scale_free",
    "prune_redundant",
)
SCHEDULE = (
    "overlap_weight",
    "overlap_start",
    "l1_weight",
    "l1_start",
    "entropy_weight",
    "warmup_epochs",
    "ramp_epochs",
)


@dataclass(frozen=True)
class ARGMINNConfig:
    """The hyperparameters of one :class:`~cislens.models.argminn.network.ARGMINN`, validated.

    Field names, defaults and meanings are those of the ``ARGMINN`` constructor. Construction
    raises ``ValueError`` naming the parameter, what it must be and what it got.
    ``guide_epochs=None`` resolves to half the warm-up.

    Examples
    --------
    >>> config = ARGMINNConfig(n_tasks=2, warmup_epochs=8)
    >>> config.guide_epochs, config.n_token_channels
    (4, 16)
    >>> config.schedule().settled_epoch
    18
    """

    n_tasks: int
    input_length: int | None = None
    n_filters: int = 8
    filter_width: int = 15
    reverse_complement: bool = True
    strand_tokens: bool = True
    token_batch_norm: bool = True
    freeze_token_norm: bool = True
    overlap_scale_free: bool = False
    prune_redundant: bool = True
    position_dim: int = 16
    token_dim: int = 32
    stream_dim: int = 128
    n_layers: int = 2
    n_heads: int = 4
    overlap_weight: float = 1e5
    overlap_start: float = 1.0
    l1_weight: float = 1e-2
    l1_start: float = 1e-4
    entropy_weight: float = 0.0
    warmup_epochs: int = 12
    ramp_epochs: int = 10
    guide_epochs: int | None = None

    @classmethod
    def from_arguments(cls, arguments: dict) -> ARGMINNConfig:
        """The config from a dict holding (at least) every field, e.g. a constructor's
        ``locals()``; other keys are ignored."""
        return cls(**{f.name: arguments[f.name] for f in fields(cls)})

    def __post_init__(self) -> None:
        for name in SIZES:
            object.__setattr__(self, name, check_positive_int(getattr(self, name), name, OWNER))
        warmup = self.warmup_epochs
        guide = self.guide_epochs
        if guide is None:  # the first half of the warm-up
            guide = warmup // 2 if isinstance(warmup, int) else 0
        if isinstance(guide, bool) or not isinstance(guide, int) or not (0 <= guide <= warmup):
            raise ValueError(
                f"{OWNER}: guide_epochs must be an int in [0, warmup_epochs={warmup}] (the "
                f"guide must be gone before the regularisers start); got {guide!r}."
            )
        object.__setattr__(self, "guide_epochs", guide)
        for name in SWITCHES:
            value = getattr(self, name)
            if not isinstance(value, bool):
                raise ValueError(f"{OWNER}: {name} must be True or False; got {value!r}.")
        if self.token_dim % self.n_heads:
            raise ValueError(
                f"{OWNER}: token_dim ({self.token_dim}) must be divisible by n_heads "
                f"({self.n_heads}); change one of them, e.g. token_dim=32 with n_heads=4."
            )
        if self.position_dim % 2:
            raise ValueError(f"{OWNER}: position_dim must be even; got {self.position_dim}.")
        schedule = self.schedule()  # checks the weights and epoch counts
        for name, value in schedule.to_dict().items():
            object.__setattr__(self, name, value)
        length = check_length(self.input_length, OWNER, required=False)
        if length is not None and length < self.filter_width:
            raise ValueError(
                f"{OWNER}: input_length={length} is shorter than "
                f"filter_width={self.filter_width}; use narrower filters."
            )
        object.__setattr__(self, "input_length", length)

    def schedule(self) -> RegularizationSchedule:
        """The regulariser weights per epoch."""
        return RegularizationSchedule(**{name: getattr(self, name) for name in SCHEDULE})

    @property
    def n_token_channels(self) -> int:
        """Scanner features per token: 2F with strand tokens (forward, reverse), else F."""
        both = self.reverse_complement and self.strand_tokens
        return self.n_filters * (2 if both else 1)

    def hparams(self) -> dict:
        """The hyperparameters as the model stores them (``model.hparams``, checkpoints)."""
        order = (
            "n_tasks",
            "input_length",
            "n_filters",
            "filter_width",
            *SWITCHES,
            *SIZES[3:],
            "guide_epochs",
        )
        return {
            **{name: getattr(self, name) for name in order},
            **self.schedule().to_dict(),
        }


__all__ = ["ARGMINNConfig"]
