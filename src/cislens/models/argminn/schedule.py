"""Per-epoch weights of ARGMINN's regularisers: a warm-up at zero, a log-spaced ramp, a plateau.

ARGMINN first learns the task without regularisation (the filters find the motifs), then the
filter-overlap and L1 weights grow geometrically to their final values (the filters are cleaned
up one motif per filter), then they stay there so the last epochs train under the final
objective. The reference notebook used 10 warm-up epochs, a 20-epoch ramp (overlap 10^0.5 ->
10^4, L1 10^-4 -> 10^-3) and 10 epochs at the final weights.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from cislens.utils.validation import check_non_negative_int, check_number


def _check_weight(value, name: str) -> float:
    return check_number(value, f"ARGMINN: {name}", minimum=0, what="a float")


def _check_epochs(value, name: str) -> int:
    return check_non_negative_int(value, f"ARGMINN: {name}")


def ramp_weight(epoch: int, *, start: float, final: float, warmup: int, ramp: int) -> float:
    """The weight of one regulariser at ``epoch`` (numbered from 1).

    0 for ``epoch <= warmup``; over the next ``ramp`` epochs, log-spaced from ``start`` to
    ``final`` (both ends included; a one-epoch ramp is ``final``); ``final`` afterwards. A
    ``start`` of 0 (or above ``final``) means no ramp: ``final`` right after the warm-up.

    Examples
    --------
    >>> [round(ramp_weight(e, start=1.0, final=100.0, warmup=2, ramp=3), 6) for e in range(1, 7)]
    [0.0, 0.0, 1.0, 10.0, 100.0, 100.0]
    """
    if epoch <= warmup or final == 0.0:
        return 0.0
    step = epoch - warmup  # 1-based position in the ramp
    if ramp <= 1 or step >= ramp or start <= 0.0 or start >= final:
        return float(final)
    fraction = (step - 1) / (ramp - 1)
    return float(math.exp(math.log(start) + fraction * (math.log(final) - math.log(start))))


@dataclass(frozen=True)
class RegularizationSchedule:
    """Final weights, ramp starts and the epoch counts of ARGMINN's regularisers.

    Attributes
    ----------
    overlap_weight, overlap_start : float
        Filter-overlap penalty weight at the end and at the first ramp epoch.
    l1_weight, l1_start : float
        L1 weight on the scanner filters at the end and at the first ramp epoch.
    entropy_weight : float
        Attention-entropy weight (no ramp: on from the first epoch after the warm-up).
    warmup_epochs, ramp_epochs : int
        Epochs without regularisation, then epochs of the geometric ramp.

    Examples
    --------
    >>> s = RegularizationSchedule(overlap_weight=100.0, overlap_start=1.0, l1_weight=1e-3,
    ...                            l1_start=1e-4, warmup_epochs=1, ramp_epochs=3)
    >>> s.weights(1)
    {'overlap': 0.0, 'l1': 0.0, 'entropy': 0.0}
    >>> round(s.weights(3)["overlap"], 6), s.settled_epoch
    (10.0, 4)
    """

    overlap_weight: float = 0.0
    overlap_start: float = 0.0
    l1_weight: float = 0.0
    l1_start: float = 0.0
    entropy_weight: float = 0.0
    warmup_epochs: int = 0
    ramp_epochs: int = 0

    def __post_init__(self):
        for name in ("overlap_weight", "overlap_start", "l1_weight", "l1_start", "entropy_weight"):
            object.__setattr__(self, name, _check_weight(getattr(self, name), name))
        for name in ("warmup_epochs", "ramp_epochs"):
            object.__setattr__(self, name, _check_epochs(getattr(self, name), name))

    @property
    def settled_epoch(self) -> int:
        """The first epoch trained with the final weights (the objective stops changing)."""
        return self.warmup_epochs + max(self.ramp_epochs, 1)

    def weights(self, epoch: int) -> dict[str, float]:
        """``{"overlap": ..., "l1": ..., "entropy": ...}`` at ``epoch`` (numbered from 1)."""
        common = {"warmup": self.warmup_epochs, "ramp": self.ramp_epochs}
        return {
            "overlap": ramp_weight(
                epoch, start=self.overlap_start, final=self.overlap_weight, **common
            ),
            "l1": ramp_weight(epoch, start=self.l1_start, final=self.l1_weight, **common),
            "entropy": ramp_weight(epoch, start=0.0, final=self.entropy_weight, **common),
        }

    def to_dict(self) -> dict:
        """The fields as a JSON-ready dict."""
        return asdict(self)


__all__ = ["RegularizationSchedule", "ramp_weight"]
