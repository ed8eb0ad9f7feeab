"""The distributions a simulation draws from: instance counts, block positions, pair spacings.

They decide how positives (and decoys) are *generated*; they never change what a rule means
(see :mod:`cislens.simulate.grammar`). Each parses its YAML/JSON form with ``parse`` (raising
``ConfigError`` naming the field) and writes it back with ``to_dict``. Draws use a
``random.Random`` (fast scalar draws; never the global RNG).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from cislens.utils import validation as v


@dataclass(frozen=True)
class CountSpec:
    """How many instances a presence rule embeds in a positive.

    YAML: ``2`` (fixed), ``[1, 3]`` (uniform integer, inclusive) or
    ``{poisson: 1.5, min: 1, max: 3}`` (Poisson, truncated to [min, max] by re-drawing).
    """

    kind: str = "fixed"
    value: float = 1.0
    minimum: int = 1
    maximum: int = 1

    @classmethod
    def parse(cls, value, where: str) -> CountSpec:
        if isinstance(value, Mapping):
            v.check_keys(value, ("poisson", "min", "max", "fixed", "uniform"), where)
            if "fixed" in value:
                n = v.integer(value["fixed"], f"{where}.fixed", minimum=0)
                return cls("fixed", n, n, n)
            if "uniform" in value:
                low, high = v.int_pair(value["uniform"], f"{where}.uniform", minimum=0)
                return cls("uniform", 0.0, low, high)
            if "poisson" not in value:
                raise v.fail(
                    where, "expected {poisson: mean, min: .., max: ..}, an int or [min, max]."
                )
            mean = v.number(value["poisson"], f"{where}.poisson", minimum=0, open_min=True)
            low = v.integer(value.get("min", 0), f"{where}.min", minimum=0)
            high = v.integer(value.get("max", max(low, math.ceil(mean * 3 + 3))), f"{where}.max")
            if high < low:
                raise v.fail(where, f"min must be <= max; got min={low}, max={high}.")
            return cls("poisson", mean, low, high)
        if isinstance(value, (list, tuple)):
            low, high = v.int_pair(value, where, minimum=0)
            return cls("uniform", 0.0, low, high)
        n = v.integer(value, where, minimum=0)
        return cls("fixed", float(n), n, n)

    def to_dict(self):
        if self.kind == "fixed":
            return self.minimum
        if self.kind == "uniform":
            return [self.minimum, self.maximum]
        return {"poisson": self.value, "min": self.minimum, "max": self.maximum}

    def sample(self, rng) -> int:
        """Draw a count with a ``random.Random``."""
        if self.kind == "fixed":
            return self.minimum
        if self.kind == "uniform":
            return self.minimum + int(rng.random() * (self.maximum - self.minimum + 1))
        limit = math.exp(-self.value)
        for _ in range(100):
            k, p = 0, rng.random()
            while p > limit:  # Knuth's method; means here are small
                k += 1
                p *= rng.random()
            if self.minimum <= k <= self.maximum:
                return k
        return min(max(k, self.minimum), self.maximum)


@dataclass(frozen=True)
class PositionSpec:
    """Where a block (an instance, or a spaced pair) goes.

    YAML: ``uniform``; ``{central: 100}`` (the block's centre within the central 100 bp);
    ``{normal: 30}`` or ``{normal: 30, offset: -20}`` (centre ~ Normal(L/2 + offset, sd),
    re-drawn until the block fits); ``{window: [100, 300]}`` (the block inside [100, 300)).
    """

    kind: str = "uniform"
    width: float = 0.0
    sd: float = 0.0
    offset: float = 0.0
    start: int = 0
    end: int = 0

    @classmethod
    def parse(cls, value, where: str) -> PositionSpec:
        if value == "uniform":
            return cls()
        if not isinstance(value, Mapping):
            raise v.fail(
                where,
                f"expected 'uniform', {{central: W}}, {{normal: SD}} or {{window: [a, b]}}; "
                f"got {v.describe(value)}.",
            )
        v.check_keys(value, ("central", "normal", "offset", "window"), where)
        kinds = [k for k in ("central", "normal", "window") if k in value]
        if len(kinds) != 1:
            raise v.fail(where, "give exactly one of central, normal or window.")
        if "offset" in value and kinds[0] != "normal":
            raise v.fail(f"{where}.offset", "offset only applies to a normal position.")
        if kinds[0] == "central":
            return cls("central", width=v.number(value["central"], f"{where}.central", minimum=1))
        if kinds[0] == "normal":
            sd = v.number(value["normal"], f"{where}.normal", minimum=0, open_min=True)
            offset = v.number(value.get("offset", 0.0), f"{where}.offset")
            return cls("normal", sd=sd, offset=offset)
        start, end = v.int_pair(value["window"], f"{where}.window", minimum=0)
        if end <= start:
            raise v.fail(f"{where}.window", f"expected start < end; got [{start}, {end}].")
        return cls("window", start=start, end=end)

    def to_dict(self):
        if self.kind == "uniform":
            return "uniform"
        if self.kind == "central":
            return {"central": self.width}
        if self.kind == "normal":
            return {"normal": self.sd, "offset": self.offset}
        return {"window": [self.start, self.end]}

    def start_range(self, width: int, length: int) -> tuple[int, int] | None:
        """Inclusive range of block starts, or None when the block cannot fit."""
        lo, hi = 0, length - width
        if self.kind == "central":
            lo = max(lo, math.ceil(length / 2 - self.width / 2 - width / 2))
            hi = min(hi, math.floor(length / 2 + self.width / 2 - width / 2))
        elif self.kind == "window":
            lo, hi = max(lo, self.start), min(hi, self.end - width)
        return (lo, hi) if lo <= hi else None

    def sample(self, width: int, length: int, rng) -> int:
        """Draw a block start with a ``random.Random`` (the block must fit; see start_range)."""
        bounds = self.start_range(width, length)
        if bounds is None:
            raise ValueError(f"a block of width {width} does not fit in {length} bp here.")
        lo, hi = bounds
        if self.kind != "normal":
            return lo + int(rng.random() * (hi - lo + 1))
        centre = length / 2 + self.offset
        for _ in range(100):
            start = round(rng.gauss(centre, self.sd) - width / 2)
            if lo <= start <= hi:
                return start
        return min(max(round(centre - width / 2), lo), hi)


@dataclass(frozen=True)
class SpacingSpec:
    """Allowed gaps (bp between the upstream instance's end and the downstream one's start).

    YAML: ``5`` (exact), ``[2, 8]`` (inclusive range) or
    ``{period: 10.5, min: 0, max: 60, tolerance: 0.5, offset: 0}`` (helical: gaps g in
    [min, max] within ``tolerance`` of ``offset + k * period`` for an integer k).
    """

    kind: str
    minimum: int
    maximum: int
    period: float = 0.0
    tolerance: float = 0.5
    offset: float = 0.0

    @classmethod
    def parse(cls, value, where: str) -> SpacingSpec:
        if isinstance(value, Mapping):
            v.check_keys(value, ("period", "min", "max", "tolerance", "offset"), where)
            if "period" not in value:
                if "min" in value and "max" in value:
                    low, high = v.int_pair([value["min"], value["max"]], where, minimum=0)
                    return cls("range", low, high)
                raise v.fail(where, "expected an int, [min, max] or {period: P, min: .., max: ..}.")
            for key in ("min", "max"):
                if key not in value:
                    raise v.fail(f"{where}.{key}", "required for a helical spacing.")
            period = v.number(value["period"], f"{where}.period", minimum=1.0)
            low, high = v.int_pair([value["min"], value["max"]], where, minimum=0)
            tolerance = v.number(value.get("tolerance", 0.5), f"{where}.tolerance", minimum=0)
            offset = v.number(value.get("offset", 0.0), f"{where}.offset")
            spec = cls("helical", low, high, period, tolerance, offset)
            if not spec.gaps:
                raise v.fail(where, f"no gap in [{low}, {high}] is in phase; widen min/max.")
            return spec
        if isinstance(value, (list, tuple)):
            low, high = v.int_pair(value, where, minimum=0)
            return cls("range", low, high)
        gap = v.integer(value, where, minimum=0)
        return cls("exact", gap, gap)

    def to_dict(self):
        if self.kind == "exact":
            return self.minimum
        if self.kind == "range":
            return [self.minimum, self.maximum]
        return {
            "period": self.period,
            "min": self.minimum,
            "max": self.maximum,
            "tolerance": self.tolerance,
            "offset": self.offset,
        }

    @property
    def gaps(self) -> tuple[int, ...]:
        """The allowed gaps, sorted."""
        values = range(self.minimum, self.maximum + 1)
        if self.kind != "helical":
            return tuple(values)

        def phase_error(g):
            x = (g - self.offset) / self.period
            return abs(x - round(x)) * self.period

        return tuple(g for g in values if phase_error(g) <= self.tolerance + 1e-9)


__all__ = ["CountSpec", "PositionSpec", "SpacingSpec"]
