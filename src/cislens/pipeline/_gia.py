"""The pipeline's GIA stage: marginal effects, grammar of pattern pairs, position and count.

Which patterns: the ``top_k`` positive discovered patterns ranked by total importance
(seqlets x summed |CWM|), embedded as the consensus of their trimmed PFM, and the JASPAR motifs
named in ``gia.motifs`` (in the order given). Pairs: every pair of distinct named motifs (the
first named is ``a``), every pair of the selected discovered patterns (the more important is
``a``) and, with ``homotypic: true``, each pattern with itself. Each pair gets
:func:`cislens.gia.grammar` over every orientation and gap of ``gaps`` on ``n_backgrounds``
dinucleotide-shuffled test sequences; each pattern gets a position sweep and a count series
(1-3 copies).

Cost guard: a pair costs at most ``n_backgrounds x (1 + 3 K)`` forward rows of L bp for ``K``
arrangements. Pairs are kept in order (named first) while the estimated positions (rows x L)
stay within ``max_positions`` (default :data:`cislens.attribution.cost.DEFAULT_MAX_POSITIONS`);
the rest are left out, with the reason in the log and in ``gia_grammar_best.csv``'s ``note``.

Outputs (in the run folder): ``gia.csv`` (marginal effects), ``gia_grammar.csv`` (tidy: one row
per pair, arrangement and target), ``gia_grammar_best.csv`` (one row per pair and target: the
best arrangement, its CI, the no-preference test), ``gia_position.csv``, ``gia_count.csv``.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from cislens.run_folder import RunFolder
from cislens.utils.files import write_table
from cislens.utils.validation import (
    check_keys,
    choice,
    describe,
    fail,
    int_pair,
    integer,
    mapping,
    number,
    sequence,
    string,
)

logger = logging.getLogger(__name__)

GIA_FIELDS = (
    "enabled",
    "motifs",
    "top_k",
    "homotypic",
    "gaps",
    "n_backgrounds",
    "alpha",
    "value",
    "max_positions",
)
GRAMMAR_FILES = RunFolder.GRAMMAR_FILES
N_MARGINAL_BACKGROUNDS = 200
"""Backgrounds of the marginal effects (``gia.csv``)."""


@dataclass
class GiaConfig:
    """The ``gia`` section of a run config (``docs/gia.md``)."""

    enabled: bool = True
    motifs: list[str] = field(default_factory=list)
    top_k: int = 3
    homotypic: bool = True
    gaps: tuple[int, int] = (0, 20)
    n_backgrounds: int = 100
    alpha: float = 0.05
    value: str = "interaction"
    max_positions: float = 1e10


def parse_gia(raw) -> GiaConfig:
    """Validate the ``gia`` field: true, false or a mapping of :data:`GIA_FIELDS`."""
    if isinstance(raw, bool):
        return GiaConfig(enabled=raw)
    raw = mapping(raw, "gia", what="true, false or a mapping")
    check_keys(raw, GIA_FIELDS, "gia")
    config = GiaConfig()
    enabled = raw.get("enabled", True)
    if not isinstance(enabled, bool):
        raise fail("gia.enabled", f"expected true or false; got {describe(enabled)}.")
    config.enabled = enabled
    names = sequence(raw.get("motifs", []), "gia.motifs", what="a list of JASPAR names or IDs")
    config.motifs = [_jaspar(name, f"gia.motifs[{i}]") for i, name in enumerate(names)]
    config.top_k = integer(raw.get("top_k", config.top_k), "gia.top_k", minimum=0)
    homotypic = raw.get("homotypic", True)
    if not isinstance(homotypic, bool):
        raise fail("gia.homotypic", f"expected true or false; got {describe(homotypic)}.")
    config.homotypic = homotypic
    gaps = raw.get("gaps", list(config.gaps))
    if isinstance(gaps, int) and not isinstance(gaps, bool):
        gaps = [gaps, gaps]
    config.gaps = int_pair(gaps, "gia.gaps", minimum=0)
    config.n_backgrounds = integer(
        raw.get("n_backgrounds", config.n_backgrounds), "gia.n_backgrounds", minimum=2
    )
    config.alpha = number(
        raw.get("alpha", config.alpha),
        "gia.alpha",
        minimum=0.0,
        maximum=1.0,
        open_min=True,
        open_max=True,
    )
    config.value = choice(raw.get("value", config.value), ["interaction", "effect"], "gia.value")
    config.max_positions = number(
        raw.get("max_positions", config.max_positions),
        "gia.max_positions",
        minimum=0.0,
        open_min=True,
    )
    return config


def _jaspar(name, where: str) -> str:
    from cislens.gia import as_pattern

    name = string(name, where)
    try:
        as_pattern(name)
    except (ValueError, KeyError) as error:
        raise fail(where, f"not a JASPAR motif name or ID ({error})") from None
    return name


@dataclass
class _Item:
    """A pattern of the stage: its label and what :func:`cislens.gia.as_pattern` takes."""

    name: str
    pattern: object
    width: int


def _selected(discovery, config: GiaConfig) -> tuple[list[_Item], list[_Item]]:
    from cislens.gia import as_pattern
    from cislens.pipeline.discovery import trimmed
    from cislens.pwm import Motif

    named = []
    for name in config.motifs:
        resolved = as_pattern(name)
        named.append(_Item(name, resolved.motif or name, resolved.width))
    found = []
    if discovery is not None:
        positive = [p for p in discovery.patterns if p.metacluster == "pos"]
        positive.sort(key=lambda p: -p.n_seqlets * float(np.abs(p.contrib).sum()))
        for pattern in positive[: config.top_k]:
            matrix = trimmed(pattern)
            found.append(_Item(pattern.name, Motif(pattern.name, matrix), matrix.shape[1]))
    return named, found


def _pairs(named, found, homotypic: bool) -> list[tuple[_Item, _Item]]:
    pairs = []
    for group in (named, found):
        pairs += list(itertools.combinations(group, 2))
        if homotypic:
            pairs += [(item, item) for item in group]
    return pairs


def _gaps(config: GiaConfig, a: _Item, b: _Item, length: int) -> list[int]:
    low, high = config.gaps
    return [g for g in range(low, high + 1) if a.width + g + b.width <= length]


def _within_budget(pairs, config, length) -> tuple[list, list[tuple[str, str]]]:
    kept, notes, total = [], [], 0.0
    for a, b in pairs:
        rows = config.n_backgrounds * (1 + 3 * 4 * len(_gaps(config, a, b, length)))
        if total + rows * length > config.max_positions:
            notes.append(
                (
                    f"{a.name} x {b.name}",
                    f"left out, the estimated {rows * length:.1e} positions would pass "
                    f"gia.max_positions={config.max_positions:.0e}",
                )
            )
            continue
        total += rows * length
        kept.append((a, b))
    return kept, notes


def run_grammar(
    model,
    dataset,
    discovery,
    config: GiaConfig,
    backgrounds,
    *,
    seed,
    device=None,
    verbose=False,
    view=None,
) -> dict[str, pd.DataFrame]:
    """Grammar, position and count tables of the selected patterns (the module docstring)."""
    from cislens.gia import count_effect, grammar, position_effect
    from cislens.gia.grammar import BEST_COLUMNS

    named, found = _selected(discovery, config)
    length = dataset.length
    backgrounds = backgrounds[: config.n_backgrounds]
    pairs, notes = _within_budget(_pairs(named, found, config.homotypic), config, length)
    for pair, note in notes:
        logger.warning("gia: %s: %s", pair, note)
    common = dict(device=device, random_state=seed, verbose=verbose, **(view or {}))
    tables, bests = [], []
    for a, b in pairs:
        gaps = _gaps(config, a, b, length)
        if not gaps:
            notes.append((f"{a.name} x {b.name}", f"left out, no gap of gia.gaps fits {length} bp"))
            continue
        result = grammar(
            model,
            backgrounds,
            a.pattern,
            b.pattern,
            gaps=gaps,
            value=config.value,
            alpha=config.alpha,
            **common,
        )
        label = {"pair": f"{a.name} x {b.name}", "a": a.name, "b": b.name}
        tables.append(result.table.assign(**label))
        best = result.best.assign(**label)
        if gaps[-1] < config.gaps[1]:
            best["note"] = f"gaps up to {gaps[-1]} bp fit the {length} bp sequences"
        bests.append(best)
    positions, counts = [], []
    for item in named + found:
        step = max(item.width, (length - item.width) // 10)
        table = position_effect(
            model,
            backgrounds,
            item.pattern,
            positions=list(range(0, length - item.width + 1, step)),
            **common,
        )
        positions.append(table.assign(pattern=item.name))
        starts = np.linspace(0, length - item.width, 5)[1:-1].round()  # count_effect's default
        if np.diff(starts).min() >= item.width:  # 3 copies fit without overlapping
            counts.append(
                count_effect(model, backgrounds, item.pattern, max_count=3, **common).assign(
                    pattern=item.name
                )
            )
    best = _frame(bests) if bests else pd.DataFrame(columns=["pair", *BEST_COLUMNS, "a", "b"])
    if notes:
        best = pd.concat(
            [best, pd.DataFrame(notes, columns=["pair", "note"])],
            ignore_index=True,
        )
    out = {
        RunFolder.GIA_GRAMMAR: _frame(tables),
        RunFolder.GIA_GRAMMAR_BEST: best,
        RunFolder.GIA_POSITION: _frame(positions),
        RunFolder.GIA_COUNT: _frame(counts),
    }
    return {name: _names(frame, dataset) for name, frame in out.items()}


def _frame(frames) -> pd.DataFrame:
    if not frames:
        return pd.DataFrame()
    frame = pd.concat(frames, ignore_index=True)
    first = [c for c in ("pair", "pattern") if c in frame.columns]
    return frame[first + [c for c in frame.columns if c not in first]]


def _names(frame: pd.DataFrame, dataset) -> pd.DataFrame:
    if "target" in frame.columns:
        frame["target"] = [
            dataset.task_names[int(t)] if str(t).isdigit() else t for t in frame["target"]
        ]
    return frame


def write_grammar(out, tables: dict[str, pd.DataFrame]) -> None:
    """Write the tables (atomically); an empty one is written with no rows."""
    for name in GRAMMAR_FILES:
        write_table(tables.get(name, pd.DataFrame()), out / name, index=False)


__all__ = [
    "GIA_FIELDS",
    "GRAMMAR_FILES",
    "N_MARGINAL_BACKGROUNDS",
    "GiaConfig",
    "parse_gia",
    "run_grammar",
    "write_grammar",
]
