"""The model registry: architecture name -> class, and building a model from a config dict.

A config is a JSON-ready dict ``{"name": <registry name>, <hyperparameter>: <value>, ...}``;
``model_config(model)`` returns one (every hyperparameter, defaults resolved) and
``build_model(config)`` turns one into a freshly initialised model.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any, cast

from torch import nn

from cislens.errors import ConfigError
from cislens.models._base import SequenceModel
from cislens.models.argminn import ARGMINN
from cislens.models.basset import Basset
from cislens.models.beluga import DeepSEABeluga
from cislens.models.bpnet import BPNetLike
from cislens.models.deepbind import DeepBind
from cislens.models.labcnn import LabCNN
from cislens.utils.types import RandomState

MODELS: dict[str, type[SequenceModel]] = {
    cls.name: cls for cls in (LabCNN, DeepBind, Basset, DeepSEABeluga, BPNetLike, ARGMINN)
}
"""Registry name -> architecture class."""


def _normalise(name: str) -> str:
    return name.strip().lower().replace("-", "_")


def get_model_class(name: str) -> type[SequenceModel]:
    """Return the class registered under ``name`` (case-insensitive; class names work too).

    Raises
    ------
    ConfigError
        For an unknown name; the message lists the valid ones.

    Examples
    --------
    >>> get_model_class("Basset").__name__
    'Basset'
    """
    if not isinstance(name, str):
        raise ConfigError(f"model name must be a str; got {type(name).__name__}.")
    key = _normalise(name)
    if key in MODELS:
        return MODELS[key]
    for cls in MODELS.values():
        if _normalise(cls.__name__) == key:
            return cls
    raise ConfigError(
        f"unknown model architecture {name!r}; valid names are {sorted(MODELS)}. "
        "For your own architecture use cislens.models.register_model or load_user_model."
    )


def register_model(cls: type[SequenceModel]) -> type[SequenceModel]:
    """Add a ``SequenceModel`` subclass to ``MODELS`` under ``cls.name`` (usable as decorator).

    The class must set ``name``, store its constructor arguments in ``self.hparams`` and accept
    them back as keyword arguments, like the built-in architectures.
    """
    if not (isinstance(cls, type) and issubclass(cls, SequenceModel)) or not cls.name:
        raise TypeError(
            "register_model expects a SequenceModel subclass with a non-empty class attribute "
            f"`name`; got {cls!r}."
        )
    key = _normalise(cls.name)
    if key in MODELS and MODELS[key] is not cls:
        raise ValueError(f"a model named {key!r} is already registered ({MODELS[key].__name__}).")
    MODELS[key] = cls
    return cls


def _hyperparameter_names(cls: type[SequenceModel]) -> list[str]:
    params = inspect.signature(cls.__init__).parameters
    return [name for name in params if name not in ("self", "random_state")]


def build_model(config: Mapping, *, random_state: RandomState = None) -> SequenceModel:
    """Build a freshly initialised model from ``{"name": ..., **hyperparameters}``.

    Parameters
    ----------
    config : mapping
        ``name`` (a key of ``MODELS``) plus the architecture's constructor arguments, e.g.
        ``{"name": "basset", "n_tasks": 5, "input_length": 1000}``.
    random_state : int, numpy.random.Generator or None
        Seed of the weight initialisation.

    Returns
    -------
    SequenceModel
        In train mode, on the CPU.

    Raises
    ------
    ConfigError
        Missing ``name``, an unknown name, or an unknown or missing hyperparameter.

    Examples
    --------
    >>> model = build_model({"name": "labcnn", "n_tasks": 3, "input_length": 200})
    >>> model_config(model)["name"], model_config(model)["n_filters"]
    ('labcnn', [32, 16])
    """
    if not isinstance(config, Mapping):
        raise ConfigError(
            f"config must be a dict like {{'name': 'basset', 'n_tasks': 5}}; "
            f"got {type(config).__name__}."
        )
    if "name" not in config:
        raise ConfigError(
            f"config needs a 'name' key naming the architecture (one of {sorted(MODELS)}); "
            f"got keys {sorted(config)}."
        )
    cls = get_model_class(config["name"])
    kwargs = {key: value for key, value in config.items() if key != "name"}
    valid = _hyperparameter_names(cls)
    unknown = sorted(set(kwargs) - set(valid))
    if unknown:
        raise ConfigError(
            f"unknown hyperparameter(s) {unknown} for model {cls.name!r}; valid ones are {valid}."
        )
    required = [
        name
        for name, param in inspect.signature(cls.__init__).parameters.items()
        if name in valid and param.default is inspect.Parameter.empty and name not in kwargs
    ]
    if required:
        raise ConfigError(f"model {cls.name!r} needs the hyperparameter(s) {required} in config.")
    # Every registered architecture takes random_state (the base class does not).
    return cast(Any, cls)(**kwargs, random_state=random_state)


def model_config(model: nn.Module) -> dict:
    """The config dict of a built-in model: ``{"name": ..., **hyperparameters}`` (a copy).

    Raises
    ------
    TypeError
        For a model that is not a registered cislens architecture.

    Examples
    --------
    >>> from cislens.models import DeepBind
    >>> model_config(DeepBind(n_tasks=1))["filter_width"]
    24
    """
    if not isinstance(model, SequenceModel) or _normalise(model.name) not in MODELS:
        raise TypeError(
            f"model_config needs a registered cislens architecture ({sorted(MODELS)}); got "
            f"{type(model).__name__}. Save your own models' state_dict with "
            "safetensors.torch.save_file and load them with load_user_model."
        )
    return {"name": model.name, **_json_copy(model.hparams)}


def _json_copy(value):
    if isinstance(value, dict):
        return {key: _json_copy(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_copy(item) for item in value]
    return value


__all__ = ["MODELS", "build_model", "get_model_class", "model_config", "register_model"]
