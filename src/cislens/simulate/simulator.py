"""``simulate``: a config (or preset) in, a :class:`cislens.io.Dataset` with ground truth out."""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from cislens._version import __version__
from cislens.errors import ConfigError
from cislens.io.dataset import Dataset, GroundTruth
from cislens.pwm.jaspar import default_release, load_motif
from cislens.pwm.motif import Motif
from cislens.sequence.onehot import one_hot_from_tokens
from cislens.simulate.backgrounds import Background
from cislens.simulate.config import SPLIT_NAMES, SimulationConfig
from cislens.simulate.embedding import (
    InstanceSampler,
    UnremovableMatches,
    clean_matches,
    embed_instances,
    instance_scores,
)
from cislens.simulate.matching import build_match_model
from cislens.simulate.resolve import as_config
from cislens.simulate.scenarios import ROLES, Realised, Scenarios
from cislens.utils.random import derive_seed, resolve_seed
from cislens.utils.types import PathLike, RandomState

logger = logging.getLogger(__name__)

# Stream keys: derive_seed(seed, split index, stage) gives each stage of each split its own RNG.
_SCENARIO, _BACKGROUND, _CONTENT, _CLEAN, _NOISE, _CHECK, _REPLACE = range(7)

# When the clean-up gives up on a few sequences (instances of one motif that combine into
# another, e.g. two RXRA half-sites 3 bp apart on opposite strands make an ESR1 site, which
# re-sampling cannot break because positions are fixed), those sequences are realised again
# with new positions, at most this many times and only while they are at most 1 % of the split.
_REPLACEMENTS = 3


def _arrays(
    real: Realised, index_of: dict
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    motif = np.array([index_of[m] for m in real.motif], dtype=np.int64)
    minus = np.array([st == "-" for st in real.strand], dtype=bool)
    return real.sequence, motif, real.start, minus


def _replace_rows(real: Realised, tokens, rows, new: Realised, new_tokens) -> Realised:
    """``real`` with sequences ``rows`` swapped for ``new`` (tokens replaced in place)."""
    tokens[rows] = new_tokens
    keep = ~np.isin(real.sequence, rows)
    sequence = np.concatenate([real.sequence[keep], rows[new.sequence]])
    order = np.argsort(sequence, kind="stable")  # the table stays sorted by sequence
    labels = real.labels.copy()
    labels[rows] = new.labels
    motif = [real.motif[i] for i in np.flatnonzero(keep)] + list(new.motif)
    strand = [real.strand[i] for i in np.flatnonzero(keep)] + list(new.strand)
    return Realised(
        labels,
        sequence[order],
        [motif[i] for i in order],
        np.concatenate([real.start[keep], new.start])[order],
        [strand[i] for i in order],
        np.concatenate([real.role[keep], new.role])[order],
        np.concatenate([real.relevant[keep], new.relevant])[order],
    )


def _realise_split(parts, size: int, seed: int, s: int, *, verbose: bool, desc: str):
    """Realise, embed and clean one split.

    Returns (Realised, tokens, instance arrays (sequence, motif index, start, minus), rounds).
    """
    config, scenarios, background, sampler, match, index_of = parts
    real = scenarios.realise(
        size, random.Random(derive_seed(seed, s, _SCENARIO)), verbose=verbose, desc=desc
    )
    tokens = background.sample(size, np.random.default_rng(derive_seed(seed, s, _BACKGROUND)))
    content = np.random.default_rng(derive_seed(seed, s, _CONTENT))
    arrays = _arrays(real, index_of)
    embed_instances(tokens, *arrays, sampler, content)
    clean = np.random.default_rng(derive_seed(seed, s, _CLEAN))
    replace = random.Random(derive_seed(seed, s, _REPLACE))
    for attempt in range(_REPLACEMENTS + 1):
        try:
            rounds = clean_matches(tokens, *arrays, sampler, match, background, config.scan, clean)
            return real, tokens, arrays, rounds
        except UnremovableMatches as error:
            if attempt == _REPLACEMENTS or len(error.rows) > max(1, size // 100):
                raise
            logger.info(
                "%s: %d sequences with matches that re-drawing cannot remove are realised "
                "again with new positions",
                desc,
                len(error.rows),
            )
            new = scenarios.realise(len(error.rows), replace, desc=desc)
            new_tokens = background.sample(len(error.rows), clean)
            embed_instances(new_tokens, *_arrays(new, index_of), sampler, content)
            real = _replace_rows(real, tokens, error.rows, new, new_tokens)
            arrays = _arrays(real, index_of)
    raise AssertionError("unreachable")  # pragma: no cover


def load_simulation_motifs(config: SimulationConfig) -> dict[str, Motif]:
    """The config's motifs as :class:`Motif` objects named as in the config (columns sliced).

    Raises ``ConfigError`` naming the field of a motif that cannot be loaded.
    """
    config = as_config(config)
    motifs = {}
    for spec in config.motifs:
        kwargs: dict[str, Any] = {"release": config.jaspar_release}
        if spec.pseudocount is not None:
            kwargs["pseudocount"] = spec.pseudocount
        try:
            motif = load_motif(spec.source, **kwargs)
        except (ValueError, TypeError, FileNotFoundError) as error:
            raise ConfigError(f"{spec.where or 'motifs.' + spec.name}: {error}") from None
        probabilities, counts = motif.probabilities, motif.counts
        if spec.columns is not None:
            a, b = spec.columns
            if b > motif.width:
                raise ConfigError(
                    f"{spec.where}.columns: [{a}, {b}) exceeds the width {motif.width} of "
                    f"{motif!r}; use columns within [0, {motif.width}]."
                )
            probabilities = probabilities[:, a:b]
            counts = None if counts is None else counts[:, a:b]
        motifs[spec.name] = Motif(
            spec.name,
            probabilities.copy(),
            matrix_id=motif.matrix_id,
            counts=None if counts is None else counts.copy(),
            source=motif.source,
        )
    return motifs


def _describe_source(spec, motif: Motif) -> str:
    parts = [motif.matrix_id or spec.source]
    if motif.source and motif.source != "consensus":
        parts.append(f"({motif.source})")
    if spec.columns is not None:
        parts.append(f"columns {list(spec.columns)}")
    return " ".join(parts)


def _instance_table(real, tokens, arrays, split: str, task_names, widths, match) -> pd.DataFrame:
    """The ground-truth rows of one split: one per instance, with its score in bits."""
    _, motif_idx, _, minus = arrays
    table = pd.DataFrame(
        {
            "sequence": real.sequence,
            "split": split,
            "motif": pd.Series(real.motif, dtype=object),
            "start": real.start,
            "end": real.start + np.array([widths[m] for m in real.motif], dtype=np.int64),
            "strand": pd.Series(real.strand, dtype=object),
        }
    )
    for t, task in enumerate(task_names):
        table[f"relevant_{task}"] = real.relevant[:, t]
    table["role"] = pd.Series([ROLES[r] for r in real.role], dtype=object)
    table["score"] = instance_scores(tokens, real.sequence, motif_idx, real.start, minus, match)
    return table


def _match_thresholds(match) -> dict:
    """Per motif: the match thresholds in bits on each strand and their p-values."""
    return {
        name: {
            "+": match.threshold_bits(i, 0),
            "-": match.threshold_bits(i, 1),
            "p_value": [float(p) for p in match.p_values[i]],
        }
        for i, name in enumerate(match.names)
    }


def simulate(
    config_or_preset: str | Mapping | SimulationConfig | PathLike,
    *,
    n: int | None = None,
    random_state: RandomState = None,
    verbose: bool = False,
) -> Dataset:
    """Simulate a labelled DNA dataset with complete motif-instance ground truth.

    Parameters
    ----------
    config_or_preset : str, mapping, SimulationConfig or path
        A preset name (``cislens.simulate.list_presets()``), a config mapping, a
        :class:`SimulationConfig`, JSON text or a YAML/JSON file path.
    n : int, optional
        Total number of sequences; the config's splits are scaled to it, keeping their
        proportions. Default: the config's sizes.
    random_state : int, numpy.random.Generator or None
        Seed. The int actually used is recorded in ``dataset.attrs["random_state"]``; the same
        seed and config always give the same dataset.
    verbose : bool
        Show progress bars.

    Returns
    -------
    cislens.io.Dataset
        ``X[split]`` (N, 4, L) float32 one-hot, ``Y[split]`` (N, T) float32 labels (after label
        noise), ``ground_truth`` with one row per instance (columns ``sequence``, ``split``,
        ``motif``, ``start``, ``end``, ``strand``, ``relevant_<task>``, ``role``, ``score``
        in bits), the motifs and the config; ``attrs`` with the version, seed, config and
        match thresholds (see ``docs/simulation.md``).

    Raises
    ------
    ConfigError
        An invalid config, naming the field (e.g. ``tasks[1].rule.spacing: ...``).

    Examples
    --------
    >>> data = simulate("spi1", n=60, random_state=0)
    >>> data.X["train"].shape, data.task_names
    ((42, 4, 500), ['SPI1'])
    >>> bool((data.ground_truth.instances["score"] > 0).all())
    True
    """
    preset = config_or_preset if isinstance(config_or_preset, str) else None
    config = as_config(config_or_preset)
    if preset is not None and config.name != preset:
        preset = None
    if n is not None:
        config = config.with_n(n)
    seed = resolve_seed(random_state)
    started = time.perf_counter()
    motifs = load_simulation_motifs(config)
    background = Background(config.background, config.length)
    match = build_match_model(motifs, background.composition, config.scan)
    widths = {name: m.width for name, m in motifs.items()}
    scenarios = Scenarios(config, widths)
    scenarios.check_rules(random.Random(derive_seed(seed, 99, _CHECK)))
    modes = {spec.name: spec.mode for spec in config.motifs}
    wheres = {spec.name: spec.where or f"motifs.{spec.name}" for spec in config.motifs}
    sampler = InstanceSampler(motifs, modes, match, wheres)
    sampler.check_acceptance(np.random.default_rng(derive_seed(seed, 99, _CONTENT)))
    index_of = {name: i for i, name in enumerate(motifs)}
    parts = (config, scenarios, background, sampler, match, index_of)

    X, Y, tables, flips = {}, {}, [], {}
    for s, split in enumerate(SPLIT_NAMES):
        if split not in config.splits:
            continue
        size = config.splits[split]
        logger.info("simulating %s: %d sequences of %d bp", split, size, config.length)
        real, tokens, arrays, rounds = _realise_split(
            parts, size, seed, s, verbose=verbose, desc=split
        )
        logger.info("%s: truth complete after %d clean-up rounds", split, rounds)
        X[split] = one_hot_from_tokens(tokens)
        labels = real.labels.astype(np.float32)
        noise = np.random.default_rng(derive_seed(seed, s, _NOISE))
        flip = noise.random(labels.shape) < config.label_noise
        Y[split] = np.where(flip, 1 - labels, labels).astype(np.float32)
        flips[split] = {t: int(c) for t, c in zip(config.task_names, flip.sum(axis=0), strict=True)}
        tables.append(
            _instance_table(real, tokens, arrays, split, config.task_names, widths, match)
        )

    instances = pd.concat(tables, ignore_index=True)
    for column in ("sequence", "start", "end"):
        instances[column] = instances[column].astype(np.int64)
    config_json = config.to_json()
    thresholds = _match_thresholds(match)
    sources = {spec.name: _describe_source(spec, motifs[spec.name]) for spec in config.motifs}
    attrs = {
        "cislens_version": __version__,
        "random_state": seed,
        "preset": preset or "",
        "config": config_json,
        "simulator": "cislens.simulate",
        "jaspar_release": config.jaspar_release or default_release(),
        "motif_sources": sources,
        "match_thresholds": thresholds,
        "score_bin_size": float(config.scan.bin_size),
        "background_composition": [float(x) for x in background.composition],
        "label_noise": float(config.label_noise),
        "label_flips": flips,
    }
    truth = GroundTruth(
        instances, {name: m.probabilities for name, m in motifs.items()}, config=config_json
    )
    logger.info("simulated %s in %.1f s", json.dumps(config.splits), time.perf_counter() - started)
    return Dataset(X=X, Y=Y, task_names=config.task_names, ground_truth=truth, attrs=attrs)


__all__ = ["load_simulation_motifs", "simulate"]
