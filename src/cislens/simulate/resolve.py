"""One entry point from anything a user may pass as a simulation config to a
:class:`~cislens.simulate.config.SimulationConfig`.

It lives apart from :mod:`cislens.simulate.config` because it resolves preset names, and the
presets are themselves read with :func:`~cislens.simulate.config.load_config`: here both are
imported one way, so the package has no import circle.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from cislens.errors import ConfigError
from cislens.simulate.config import (
    SimulationConfig,
    config_from_dict,
    load_config,
)
from cislens.simulate.presets import load_preset
from cislens.utils.types import PathLike


def as_config(config: str | Mapping | SimulationConfig | PathLike) -> SimulationConfig:
    """A :class:`SimulationConfig` from a config, a mapping, JSON text, a file or a preset name."""
    if isinstance(config, SimulationConfig):
        return config
    if isinstance(config, Mapping):
        return config_from_dict(config)
    if isinstance(config, Path):
        return load_config(config)
    if isinstance(config, str):
        text = config.strip()
        if text.startswith("{"):
            try:
                return config_from_dict(json.loads(text))
            except json.JSONDecodeError as error:
                raise ConfigError(f"config: not valid JSON text: {error}") from None
        if text.lower().endswith((".yaml", ".yml", ".json")) or "/" in text:
            return load_config(text)
        return load_preset(text)
    raise TypeError(
        "config must be a SimulationConfig, a mapping, JSON text, a config file path or a "
        f"preset name; got {type(config).__name__}."
    )


__all__ = ["as_config"]
