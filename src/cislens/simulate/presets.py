"""Preset simulation configs shipped with cislens (``src/cislens/presets/*.yaml``).

- ``lab3``: 200 bp, multi-label CTCF / ARID3A / MAFK presence; 25,000 sequences.
- ``celltypes5``: 1 kb, five cell types with shared and specific motifs, a cooperative pair
  and a repressor; ~12.5 % positives per task.
- The interpretable-architecture suite (500 bp each, after ARGMINN's simulations): ``spi1``,
  ``tal_gata``, ``e2f6_max``, ``jund_tead``, ``rest``, ``spi1_ctcf``.
- ``composite_pair``: 300 bp, SOX2 then POU5F1 on one strand 1 bp apart (a composite element for
  the GIA grammar experiment), CTCF distractors; 4,000 sequences, trains on a CPU.
- Other motifs and grammars (500 bp, 10,000 sequences, CPU-sized): ``tp53`` (a palindromic
  dimer), ``grhl2_nfya`` (an AND of two short motifs), ``nrf1_zeb1`` (a repressor).
"""

from __future__ import annotations

import difflib
from importlib import resources
from pathlib import Path

import yaml

from cislens.simulate.config import SimulationConfig, load_config

PRESET_ORDER = (
    "lab3",
    "celltypes5",
    "spi1",
    "tal_gata",
    "e2f6_max",
    "jund_tead",
    "rest",
    "spi1_ctcf",
    "composite_pair",
    "tp53",
    "grhl2_nfya",
    "nrf1_zeb1",
)


def _folder():
    return resources.files("cislens") / "presets"


def preset_names() -> list[str]:
    """The preset names, in a stable order.

    Examples
    --------
    >>> preset_names()[:2]
    ['lab3', 'celltypes5']
    """
    found = {p.name[: -len(".yaml")] for p in _folder().iterdir() if p.name.endswith(".yaml")}
    return [n for n in PRESET_ORDER if n in found] + sorted(found - set(PRESET_ORDER))


def preset_path(name: str) -> Path:
    """The YAML file of preset ``name``; unknown names raise ``ValueError`` with close ones."""
    names = preset_names()
    if not isinstance(name, str) or name not in names:
        close = difflib.get_close_matches(str(name), names, n=3)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(
            f"unknown preset {name!r}; the presets are {names}.{hint} "
            "(`cislens simulate --list` describes them.)"
        )
    return Path(str(_folder() / f"{name}.yaml"))


def list_presets() -> dict[str, str]:
    """``{name: one-line description}`` for every preset.

    Examples
    --------
    >>> "jund_tead" in list_presets()
    True
    """
    out = {}
    for name in preset_names():
        data = yaml.safe_load(preset_path(name).read_text())
        out[name] = str(data.get("description", ""))
    return out


def load_preset(name: str) -> SimulationConfig:
    """The :class:`SimulationConfig` of preset ``name``."""
    return load_config(preset_path(name))


__all__ = ["list_presets", "load_preset", "preset_names", "preset_path"]
