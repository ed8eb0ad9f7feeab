"""Summation-to-delta diagnostics, checked per example-reference pair on the raw multipliers.

For every pair (example i, reference j), before any averaging over references or projection
onto the observed bases, the engine compares

- the sum of the contributions ``S = sum over positions and channels of m * (x - r)``, with
- the change of the explained output ``D = f(x) - f(r)`` (the target logit, see ``deeplift``).

The **relative error** is ``|S - D| / scale`` with

``scale = max(|D|, 0.01 * sum |m * (x - r)|, 0.001 * max(|f(x)|, |f(r)|), tiny)``.

The two floors keep pairs with ``D`` close to zero from failing on rounding alone: when the
contributions cancel (their absolute sum far exceeds ``|D|``) or when the outputs are large
compared with their difference, float32 rounding of the sums is of the order of 1e-7 of those
magnitudes, not of ``|D|``. ``tiny`` is the smallest normal number of float64 (an all-zero pair
has error 0).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch

from cislens.errors import CislensError, CislensWarning

CONTRIBUTION_FLOOR = 1e-2
"""Fraction of the absolute sum of a pair's contributions used as a floor of its scale."""
OUTPUT_FLOOR = 1e-3
"""Fraction of the larger of |f(x)|, |f(r)| used as a floor of a pair's scale."""


class SummationToDeltaError(CislensError, ValueError):
    """Some example-reference pairs break summation-to-delta; ``.deltas`` holds every pair."""

    def __init__(self, message: str, deltas: SummationDeltas):
        super().__init__(message)
        self.deltas = deltas


@dataclass(frozen=True)
class SummationDeltas:
    """Per-pair summation-to-delta diagnostics; tensors are float64 of shape (N, J).

    Attributes
    ----------
    contributions : Tensor (N, J)
        Sum of the contributions ``m * (x - r)`` of each pair.
    deltas : Tensor (N, J)
        ``f(x) - f(r)`` for the explained output.
    outputs : Tensor (N,)
        ``f(x)``.
    reference_outputs : Tensor (N, J)
        ``f(r)``.
    contribution_l1 : Tensor (N, J)
        Sum of the absolute contributions (used in the scale of the relative error).
    absolute_errors, relative_errors : Tensor (N, J)
        ``|contributions - deltas|`` and that divided by the scale (see module docs).
    tolerance : float
        The relative tolerance a pair must not exceed.
    """

    contributions: torch.Tensor
    deltas: torch.Tensor
    outputs: torch.Tensor
    reference_outputs: torch.Tensor
    contribution_l1: torch.Tensor
    absolute_errors: torch.Tensor
    relative_errors: torch.Tensor
    tolerance: float

    @property
    def passed(self) -> torch.Tensor:
        """Boolean (N, J): pairs within the tolerance."""
        return self.relative_errors <= self.tolerance

    @property
    def all_passed(self) -> bool:
        return bool(self.passed.all())

    @property
    def max_relative_error(self) -> float:
        return float(self.relative_errors.max())

    def worst(self, k: int = 5) -> list[tuple[int, int, float, float, float]]:
        """The ``k`` pairs with the largest relative error:
        ``(example, reference, sum of contributions, f(x) - f(r), relative error)``."""
        flat = self.relative_errors.flatten()
        order = torch.argsort(flat, descending=True, stable=True)[:k]
        n_refs = self.relative_errors.shape[1]
        return [
            (
                int(i) // n_refs,
                int(i) % n_refs,
                float(self.contributions.flatten()[i]),
                float(self.deltas.flatten()[i]),
                float(flat[i]),
            )
            for i in order
        ]

    def describe(self, k: int = 5) -> str:
        """A multi-line account of the worst pairs."""
        lines = [
            f"  example {i}, reference {j}: sum of contributions {s:.6g}, f(x) - f(r) {d:.6g}, "
            f"relative error {e:.3g}"
            for i, j, s, d, e in self.worst(k)
        ]
        return "\n".join(lines)


def summarize(contributions, contribution_l1, outputs, reference_outputs, tolerance):
    """Build :class:`SummationDeltas` from per-pair sums (any float dtype; stored as float64)."""
    c = contributions.double()
    l1 = contribution_l1.double()
    fx = outputs.double()
    fr = reference_outputs.double()
    deltas = fx[:, None] - fr
    errors = (c - deltas).abs()
    scale = torch.maximum(deltas.abs(), CONTRIBUTION_FLOOR * l1)
    scale = torch.maximum(scale, OUTPUT_FLOOR * torch.maximum(fx[:, None].abs(), fr.abs()))
    scale = scale.clamp_min(torch.finfo(torch.float64).tiny)
    return SummationDeltas(c, deltas, fx, fr, l1, errors, errors / scale, float(tolerance))


def enforce(deltas: SummationDeltas, on_check_failure: str, *, method: str = "deeplift") -> None:
    """Raise :class:`SummationToDeltaError` or warn when some pair exceeds the tolerance."""
    failed = ~deltas.passed
    n_failed = int(failed.sum())
    if not n_failed:
        return
    message = (
        f"{method}: summation-to-delta fails for {n_failed} of {failed.numel()} "
        f"example-reference pairs (relative error above tolerance={deltas.tolerance:g}; "
        "relative error = |sum of contributions - (f(x) - f(r))| / max(|f(x) - f(r)|, "
        f"{CONTRIBUTION_FLOOR:g} * sum |contributions|, {OUTPUT_FLOOR:g} * max(|f(x)|, |f(r)|))). "
        f"Worst pairs:\n{deltas.describe()}\n"
        "Rerun with dtype=torch.float64 to rule out float32 rounding. If the error remains, the "
        "attribution map is wrong for these pairs: the model probably contains an operation the "
        "engine handles inexactly (please report it), or a callable target that is not linear "
        "in the model outputs. summation_deltas(...) lists every pair; on_check_failure='warn' "
        "returns the attributions anyway."
    )
    if on_check_failure == "raise":
        raise SummationToDeltaError(message, deltas)
    warnings.warn(message, CislensWarning, stacklevel=3)


__all__ = [
    "CONTRIBUTION_FLOOR",
    "OUTPUT_FLOOR",
    "SummationDeltas",
    "SummationToDeltaError",
    "enforce",
    "summarize",
]
