"""Safe model checkpoints: a directory with ``weights.safetensors`` and ``config.json``.

Nothing here ever unpickles a file: weights are read with ``safetensors`` (a JSON header plus raw
tensor bytes), and user state-dict files in torch's format with
``torch.load(..., weights_only=True)``, which refuses any pickled object that is not a tensor or
a plain container. The on-disk schema is described in ``docs/formats.md`` ("Model checkpoints").
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import json
import math
import os
import pickle
import sys
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save
from torch import nn

from cislens._version import __version__
from cislens.errors import ConfigError
from cislens.models._base import SequenceModel
from cislens.models.registry import MODELS, build_model, get_model_class, model_config
from cislens.models.utils import count_parameters
from cislens.utils.files import ensure_dir, sha256_file, write_bytes, write_text
from cislens.utils.types import PathLike

FORMAT = "cislens-model"
FORMAT_VERSION = 1
WEIGHTS_FILE = "weights.safetensors"
CONFIG_FILE = "config.json"


def _json_ready(value):
    if hasattr(value, "to_dict") and callable(value.to_dict):
        value = value.to_dict()
    if isinstance(value, dict):
        return {str(key): _json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(item) for item in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, (np.integer, np.bool_)):
        return value.item()
    return value


def save_model(
    model: nn.Module,
    path: PathLike,
    *,
    task_names: Sequence[str] | None = None,
    training_summary: Any = None,
) -> Path:
    """Write a trained built-in model to the directory ``path`` (created when missing).

    Writes ``path/weights.safetensors`` (the state dict, on the CPU) and ``path/config.json``
    (architecture, hyperparameters, task names, input length, cislens version, checksum and the
    training summary). Other files in ``path`` are left alone; these two are replaced.

    Parameters
    ----------
    model : SequenceModel
        A registered cislens architecture (see ``cislens.models.MODELS``).
    path : str or os.PathLike
        The checkpoint directory.
    task_names : list of str, optional
        One name per output; default ``model.task_names`` (set by ``fit``).
    training_summary : dict or History, optional
        JSON-ready facts about the training (``History`` objects are converted with
        ``to_dict()``; NaN becomes null).

    Returns
    -------
    pathlib.Path
        The directory.

    Raises
    ------
    TypeError
        For a model that is not a registered architecture.
    ValueError
        When ``task_names`` does not have one name per output, or the summary is not JSON.
    OSError
        Naming the file: ``path`` is a regular file, the disk is full, permission is denied.
        Each file is written atomically, so a failed save leaves the previous files intact.

    Examples
    --------
    >>> import tempfile
    >>> from cislens.models import LabCNN
    >>> model = LabCNN(n_tasks=3, random_state=0)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     _ = save_model(model, tmp, task_names=["CTCF", "ARID3A", "MAFK"])
    ...     loaded = load_model(tmp)
    >>> loaded.task_names, loaded.training
    (['CTCF', 'ARID3A', 'MAFK'], False)
    """
    config = model_config(model)  # raises TypeError for unregistered models
    name = config.pop("name")
    if task_names is None:
        task_names = getattr(model, "task_names", None)
    if task_names is not None:
        if isinstance(task_names, str) or len(task_names) != model.n_tasks:
            raise ValueError(
                f"task_names must have one name per model output ({model.n_tasks}); got "
                f"{task_names!r}."
            )
        task_names = [str(task) for task in task_names]
    directory = ensure_dir(path, name="path")
    state = {
        key: value.detach().cpu().contiguous().clone() for key, value in model.state_dict().items()
    }
    weights_path = directory / WEIGHTS_FILE
    metadata = {"format": "pt", "cislens_version": __version__}
    # Serialised in memory and written by Python: safetensors' own file writer reports a full
    # disk as a SafetensorError, not as an OSError naming the file.
    write_bytes(weights_path, save(state, metadata=metadata), name="path")
    document = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "cislens_version": __version__,
        "torch_version": torch.__version__.split("+")[0],
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "architecture": name,
        "hyperparameters": config,
        "n_tasks": model.n_tasks,
        "input_length": model.input_length,
        "task_names": task_names,
        "n_parameters": count_parameters(model),
        "weights_file": WEIGHTS_FILE,
        "weights_sha256": sha256_file(weights_path),
        "training_summary": _json_ready(training_summary),
    }
    try:
        text = json.dumps(document, indent=2, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"training_summary must be JSON-serialisable (dicts, lists, str, numbers); {error}."
        ) from None
    write_text(directory / CONFIG_FILE, text + "\n", name="path")
    return directory


def _checkpoint_dir(path) -> Path:
    directory = Path(path)
    if directory.is_file() and directory.name == CONFIG_FILE:
        directory = directory.parent
    if not directory.is_dir():
        raise FileNotFoundError(
            f"model checkpoint directory {str(directory)!r} does not exist; pass the directory "
            f"written by save_model / `cislens train --out` (it holds {CONFIG_FILE} and "
            f"{WEIGHTS_FILE})."
        )
    if not (directory / CONFIG_FILE).is_file():
        raise FileNotFoundError(
            f"{str(directory)!r} has no {CONFIG_FILE}; it is not a cislens model checkpoint. For "
            "your own architecture use load_user_model('module.py:ClassName', weights)."
        )
    return directory


def read_model_config(path: PathLike) -> dict:
    """Read and check ``config.json`` of the checkpoint directory ``path``; return it as a dict.

    Raises
    ------
    FileNotFoundError
        When the directory or its config is missing.
    ConfigError
        When the config is not a cislens model config, is newer than this cislens, or names an
        unknown architecture.
    """
    directory = _checkpoint_dir(path)
    try:
        config = json.loads((directory / CONFIG_FILE).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"{directory / CONFIG_FILE} is not valid JSON: {error}.") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ConfigError(
            f"{directory / CONFIG_FILE} is not a cislens model config (its 'format' must be "
            f"{FORMAT!r})."
        )
    version = config.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ConfigError(
            f"{directory / CONFIG_FILE} has format_version {version!r}; this cislens "
            f"({__version__}) reads up to {FORMAT_VERSION}. Upgrade cislens."
        )
    for key in ("architecture", "hyperparameters"):
        if key not in config:
            raise ConfigError(f"{directory / CONFIG_FILE} lacks the field {key!r}.")
    if not isinstance(config["hyperparameters"], dict):
        raise ConfigError(f"{directory / CONFIG_FILE}: 'hyperparameters' must be an object.")
    try:
        get_model_class(config["architecture"])
    except ConfigError as error:
        raise ConfigError(f"{directory / CONFIG_FILE}: {error}") from None
    return config


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError, RuntimeError) as error:
        raise ValueError(
            f"{str(path)!r} is not a valid safetensors file ({error}); cislens reads weights only "
            "as safetensors and never unpickles them. Re-save it with "
            "safetensors.torch.save_file(model.state_dict(), path)."
        ) from None


def _load_state(model: nn.Module, state: dict, source: str, *, strict: bool = True) -> None:
    try:
        model.load_state_dict(state, strict=strict)
    except RuntimeError as error:
        raise ValueError(
            f"the weights in {source} do not fit the model {type(model).__name__}: "
            f"{_state_mismatch(model.state_dict(), state, error, strict=strict)}. Build the model "
            "with the hyperparameters it was trained with (--model-args for a class spec)."
        ) from None


def _shape(value) -> tuple:
    return tuple(getattr(value, "shape", ()))


def _state_mismatch(expected: dict, state: dict, error: Exception, *, strict: bool) -> str:
    """The tensors that differ, with both shapes, on one line; torch's own text names them only
    after its first line, which says no more than 'Error(s) in loading state_dict'."""
    parts = [
        f"{key} has shape {_shape(state[key])} in the weights but {_shape(value)} in the model"
        for key, value in expected.items()
        if key in state and _shape(state[key]) != _shape(value)
    ][:5]
    if strict:
        missing = sorted(set(expected) - set(state))
        unexpected = sorted(set(state) - set(expected))
        parts += [f"missing keys {missing[:5]}"] * bool(missing)
        parts += [f"unexpected keys {unexpected[:5]}"] * bool(unexpected)
    if not parts:  # some other failure of load_state_dict: keep all its lines
        parts = [line.strip() for line in str(error).splitlines() if line.strip()]
    return "; ".join(parts)


def load_model(path: PathLike) -> SequenceModel:
    """Rebuild a model saved by :func:`save_model`, in eval mode on the CPU.

    Parameters
    ----------
    path : str or os.PathLike
        The checkpoint directory (or its ``config.json``).

    Returns
    -------
    SequenceModel
        With ``task_names`` set from the config.

    Raises
    ------
    FileNotFoundError, ConfigError, ValueError
        Missing files, an unknown architecture (the message lists the valid names), a checksum
        mismatch, a weights file that is not safetensors (never unpickled), or weights that do not
        fit the architecture.
    """
    directory = _checkpoint_dir(path)
    config = read_model_config(directory)
    weights_path = directory / str(config.get("weights_file") or WEIGHTS_FILE)
    if weights_path.parent != directory or not weights_path.is_file():
        raise FileNotFoundError(f"weights file {str(weights_path)!r} of the checkpoint is missing.")
    expected = config.get("weights_sha256")
    if expected is not None and sha256_file(weights_path) != expected:
        raise ValueError(
            f"{str(weights_path)!r} does not match the weights_sha256 recorded in {CONFIG_FILE}: "
            "the file was changed or corrupted. Re-save the model, or remove weights_sha256 from "
            "the config if you replaced the weights on purpose."
        )
    try:
        model = build_model(
            {**config["hyperparameters"], "name": config["architecture"]}, random_state=0
        )
    except (ConfigError, TypeError, ValueError) as error:
        raise ConfigError(f"{directory / CONFIG_FILE}: {error}") from None
    _load_state(model, _read_safetensors(weights_path), repr(str(weights_path)))
    task_names = config.get("task_names")
    model.task_names = list(task_names) if task_names is not None else None
    return model.eval()


# ---------------------------------------------------------------------------------------------
# Bring your own model


def _import_class(spec: str) -> type:
    if not isinstance(spec, str) or ":" not in spec:
        raise ValueError(
            f"model spec must look like 'path/to/module.py:ClassName' or 'package.module:ClassName'"
            f"; got {spec!r}."
        )
    module_part, class_name = spec.rsplit(":", 1)
    if not module_part or not class_name.isidentifier():
        raise ValueError(f"model spec {spec!r} must end with ':ClassName' (a Python identifier).")
    if module_part.endswith(".py") or os.sep in module_part or "/" in module_part:
        file_path = Path(module_part).expanduser().resolve()
        if not file_path.is_file():
            raise FileNotFoundError(f"model module {module_part!r} (from {spec!r}) does not exist.")
        digest = hashlib.sha1(str(file_path).encode()).hexdigest()[:12]
        module_name = f"_cislens_user_{file_path.stem}_{digest}"
        module_spec = importlib.util.spec_from_file_location(module_name, file_path)
        if module_spec is None or module_spec.loader is None:
            raise ValueError(f"cannot import {str(file_path)!r} as a Python module.")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[module_name] = module
        try:
            module_spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(module_name, None)
            raise
    else:
        module = importlib.import_module(module_part)
    cls = getattr(module, class_name, None)
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        available = sorted(
            name
            for name, obj in vars(module).items()
            if isinstance(obj, type)
            and issubclass(obj, nn.Module)
            and obj.__module__ == module.__name__
        )
        raise ValueError(
            f"{module_part!r} has no torch.nn.Module subclass named {class_name!r}; its modules "
            f"are {available}."
        )
    return cls


def read_state_dict(path: PathLike) -> dict[str, torch.Tensor]:
    """Read a state dict from safetensors (``.safetensors``) or a torch file, without unpickling.

    Torch files are read with ``torch.load(..., weights_only=True)``: tensors and plain
    containers only. A checkpoint dict holding the weights under ``"state_dict"`` or
    ``"model_state_dict"`` is accepted too.

    Raises
    ------
    FileNotFoundError, ValueError
        A missing file, or a file that is not a state dict (including any file with pickled
        objects, which is refused without running them).
    """
    file_path = Path(path)
    if not file_path.is_file():
        raise FileNotFoundError(f"weights file {str(file_path)!r} does not exist.")
    if file_path.suffix == ".safetensors":
        return _read_safetensors(file_path)
    try:
        obj = torch.load(file_path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, AttributeError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ValueError(
            f"refused to load {str(file_path)!r}: it is not a plain torch state dict ({first}). "
            "cislens never unpickles arbitrary objects; save the weights with "
            "safetensors.torch.save_file(model.state_dict(), 'weights.safetensors') or "
            "torch.save(model.state_dict(), path)."
        ) from None
    if isinstance(obj, dict) and not all(isinstance(v, torch.Tensor) for v in obj.values()):
        for key in ("state_dict", "model_state_dict"):
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()
    ):
        raise ValueError(
            f"{str(file_path)!r} does not hold a state dict (a mapping of names to tensors); save "
            "model.state_dict()."
        )
    return obj


def load_user_model(
    spec: str, weights: PathLike, *, strict: bool = True, **init_kwargs: Any
) -> nn.Module:
    """Build your own architecture from ``'module.py:ClassName'`` and load its weights.

    This imports (runs) the module you name, as any Python import does; the weights file is only
    read as data, never unpickled.

    Parameters
    ----------
    spec : str
        ``'path/to/module.py:ClassName'`` or ``'package.module:ClassName'``; the class must be a
        ``torch.nn.Module`` mapping (N, 4, L) to (N, T).
    weights : str or os.PathLike
        A state dict as ``.safetensors``, or a torch file read with ``weights_only=True``.
    strict : bool
        Require the keys of the state dict and the model to match exactly (default True).
    **init_kwargs
        Passed to the class constructor.

    Returns
    -------
    torch.nn.Module
        In eval mode on the CPU.

    Raises
    ------
    FileNotFoundError, ValueError
        Missing files, a class that does not exist, a refused weights file, or keys that do not
        match.
    """
    cls = _import_class(spec)
    try:
        model = cls(**init_kwargs)
    except TypeError as error:
        raise ValueError(
            f"could not construct {spec} with arguments {init_kwargs}: {error}. Its signature is "
            f"{cls.__name__}{inspect.signature(cls)}; pass the constructor arguments "
            "(--model-args '{...}' on the command line)."
        ) from None
    _load_state(model, read_state_dict(weights), repr(str(weights)), strict=strict)
    return model.eval()


def load_model_from_spec(
    spec: PathLike, *, weights: PathLike | None = None, model_args: dict | None = None
) -> nn.Module:
    """What the command line calls: a checkpoint directory, or ``module.py:ClassName`` + weights.

    Raises
    ------
    ValueError
        For a checkpoint directory given with ``weights``, or a class spec without them.
    """
    text = str(spec)
    if Path(text).is_dir() or Path(text).name == CONFIG_FILE:
        if weights is not None or model_args:
            raise ValueError(
                f"{text!r} is a checkpoint directory: it carries its own weights and config; drop "
                "--weights and --model-args."
            )
        return load_model(text)
    if ":" in text and not Path(text).exists():
        if weights is None:
            raise ValueError(
                f"model {text!r} names a class; pass its state-dict file with --weights "
                "(.safetensors or a torch state dict)."
            )
        return load_user_model(text, weights, **(model_args or {}))
    raise FileNotFoundError(
        f"model {text!r} is neither a checkpoint directory (with {CONFIG_FILE}) nor a class spec "
        f"'module.py:ClassName'. Built-in architectures: {sorted(MODELS)}."
    )


__all__ = [
    "CONFIG_FILE",
    "FORMAT",
    "FORMAT_VERSION",
    "WEIGHTS_FILE",
    "load_model",
    "load_model_from_spec",
    "load_user_model",
    "read_model_config",
    "read_state_dict",
    "save_model",
]
