"""Checkpoints: save -> load round trips, and loading never unpickles anything."""

from __future__ import annotations

import importlib.util
import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from cislens._version import __version__
from cislens.errors import ConfigError
from cislens.models import (
    build_model,
    load_model,
    load_model_from_spec,
    load_user_model,
    read_model_config,
    read_state_dict,
    save_model,
)
from cislens.train import fit, predict

TINY = {
    "labcnn": {"n_tasks": 3, "input_length": 60},
    "deepbind": {"n_tasks": 3, "n_filters": 3, "filter_width": 5, "n_hidden": 4},
    "basset": {"n_tasks": 3, "input_length": 60, "n_filters": [4, 5, 6], "n_hidden": [7, 8]},
    "beluga": {"n_tasks": 3, "input_length": 60, "n_filters": [3, 4, 5], "filter_width": 7},
    "bpnet": {"n_tasks": 3, "n_filters": 4, "n_layers": 3},
}
TASKS = ["CTCF", "ARID3A", "MAFK"]


def one_hot(n: int, length: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    X = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (n, length))]
    return np.ascontiguousarray(X.transpose(0, 2, 1))


def _touch(path: str) -> None:
    Path(path).write_text("pwned")


class Malicious:
    """Unpickling this object would create a marker file."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (_touch, (self.marker,))


@pytest.mark.parametrize("name", sorted(TINY))
def test_save_load_gives_identical_predictions(name, tmp_path):
    model = build_model({"name": name, **TINY[name]}, random_state=0)
    X = one_hot(40, 60)
    Y = (np.random.default_rng(1).random((40, 3)) < 0.5).astype(np.float32)
    # one short training run so that batch-norm running statistics differ from their init
    fit(model, (X[:30], Y[:30], X[30:], Y[30:]), epochs=1, batch_size=10, random_state=0)
    before = predict(model, X)
    save_model(model, tmp_path / "run", task_names=TASKS, training_summary={"note": "tiny"})
    loaded = load_model(tmp_path / "run")
    assert type(loaded) is type(model)
    assert not loaded.training
    assert loaded.task_names == TASKS
    assert np.array_equal(predict(loaded, X), before)
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key


def test_config_json_records_what_is_needed(tmp_path):
    model = build_model({"name": "basset", **TINY["basset"]}, random_state=0)
    model.task_names = TASKS  # what fit sets; save_model uses it by default
    save_model(
        model,
        tmp_path,
        training_summary={"best_epoch": 3, "auroc": np.float32(0.5), "nan": float("nan")},
    )
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["format"] == "cislens-model" and config["format_version"] == 1
    assert config["cislens_version"] == __version__
    assert config["architecture"] == "basset"
    assert config["hyperparameters"]["n_filters"] == [4, 5, 6]
    assert config["hyperparameters"]["padding"] == "same"  # resolved, not None
    assert config["input_length"] == 60 and config["n_tasks"] == 3
    assert config["task_names"] == TASKS
    assert config["training_summary"] == {"best_epoch": 3, "auroc": 0.5, "nan": None}
    assert len(config["weights_sha256"]) == 64
    assert read_model_config(tmp_path)["architecture"] == "basset"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "weights.safetensors"]


def test_unknown_architecture_is_a_clear_error(tmp_path):
    save_model(build_model({"name": "deepbind", **TINY["deepbind"]}), tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config["architecture"] = "transformer9000"
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ConfigError, match=r"unknown model architecture 'transformer9000'.*labcnn"):
        load_model(tmp_path)


def test_bad_checkpoints(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_model(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match=r"no config\.json"):
        load_model(tmp_path)
    save_model(build_model({"name": "deepbind", **TINY["deepbind"]}), tmp_path / "a")
    config = json.loads((tmp_path / "a" / "config.json").read_text())
    (tmp_path / "a" / "config.json").write_text(json.dumps({**config, "format_version": 99}))
    with pytest.raises(ConfigError, match="format_version 99"):
        load_model(tmp_path / "a")
    hyper = {**config["hyperparameters"], "n_layers": 3}
    (tmp_path / "a" / "config.json").write_text(json.dumps({**config, "hyperparameters": hyper}))
    with pytest.raises(ConfigError, match=r"unknown hyperparameter\(s\) \['n_layers'\]"):
        load_model(tmp_path / "a")
    with pytest.raises(TypeError, match="registered cislens architecture"):
        save_model(nn.Linear(2, 2), tmp_path / "b")
    with pytest.raises(ValueError, match="one name per model output"):
        save_model(
            build_model({"name": "deepbind", **TINY["deepbind"]}), tmp_path / "c", task_names=["x"]
        )


def test_changed_weights_are_detected(tmp_path):
    model = build_model({"name": "deepbind", **TINY["deepbind"]}, random_state=0)
    save_model(model, tmp_path)
    other = build_model({"name": "deepbind", **TINY["deepbind"]}, random_state=1)
    save_file(other.state_dict(), str(tmp_path / "weights.safetensors"))
    with pytest.raises(ValueError, match="does not match the weights_sha256"):
        load_model(tmp_path)


def test_pickle_payload_is_live(tmp_path):
    """Sanity check of the fixture: unpickling the payload really would create the marker."""
    marker = tmp_path / "marker"
    pickle.loads(pickle.dumps(Malicious(marker)))
    assert marker.exists()


@pytest.mark.parametrize("keep_checksum", [True, False])
def test_load_model_never_unpickles(tmp_path, keep_checksum):
    save_model(build_model({"name": "deepbind", **TINY["deepbind"]}), tmp_path)
    marker = tmp_path / "marker"
    (tmp_path / "weights.safetensors").write_bytes(pickle.dumps(Malicious(marker)))
    if not keep_checksum:
        config = json.loads((tmp_path / "config.json").read_text())
        del config["weights_sha256"]
        (tmp_path / "config.json").write_text(json.dumps(config))
    match = "weights_sha256" if keep_checksum else "not a valid safetensors file"
    with pytest.raises(ValueError, match=match):
        load_model(tmp_path)
    assert not marker.exists()


def test_a_torch_pickle_renamed_to_safetensors_is_refused(tmp_path):
    save_model(build_model({"name": "deepbind", **TINY["deepbind"]}), tmp_path)
    marker = tmp_path / "marker"
    torch.save(
        {"conv.weight": torch.zeros(1), "x": Malicious(marker)}, tmp_path / "weights.safetensors"
    )
    config = json.loads((tmp_path / "config.json").read_text())
    del config["weights_sha256"]
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="not a valid safetensors file"):
        load_model(tmp_path)
    assert not marker.exists()


# --- Bring your own model ---------------------------------------------------------------------

USER_MODULE = """
import torch
from torch import nn


class TinyNet(nn.Module):
    def __init__(self, n_tasks=2, width=5):
        super().__init__()
        self.conv = nn.Conv1d(4, 3, width)
        self.pool = nn.AdaptiveMaxPool1d(1)
        self.flatten = nn.Flatten()
        self.out = nn.Linear(3, n_tasks)

    def forward(self, x):
        return self.out(self.flatten(self.pool(self.conv(x))))
"""


@pytest.fixture
def user_module(tmp_path) -> Path:
    path = tmp_path / "my_model.py"
    path.write_text(USER_MODULE)
    return path


def _reference(user_module: Path, n_tasks: int = 2) -> nn.Module:
    spec = importlib.util.spec_from_file_location("reference_tiny_net", user_module)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.TinyNet(n_tasks=n_tasks)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.linspace(-1, 1, p.numel()).reshape(p.shape))
    return model.eval()


@pytest.mark.parametrize("kind", ["safetensors", "torch", "torch-nested"])
def test_load_user_model(user_module, tmp_path, kind):
    reference = _reference(user_module, n_tasks=3)
    if kind == "safetensors":
        weights = tmp_path / "w.safetensors"
        save_file(reference.state_dict(), str(weights))
    elif kind == "torch":
        weights = tmp_path / "w.pt"
        torch.save(reference.state_dict(), weights)
    else:
        weights = tmp_path / "ckpt.pt"
        torch.save({"epoch": 3, "state_dict": reference.state_dict()}, weights)
    model = load_user_model(f"{user_module}:TinyNet", weights, n_tasks=3)
    assert not model.training
    X = torch.from_numpy(one_hot(4, 20))
    assert torch.equal(model(X), reference(X))
    spec_model = load_model_from_spec(
        f"{user_module}:TinyNet", weights=weights, model_args={"n_tasks": 3}
    )
    assert torch.equal(spec_model(X), reference(X))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_load_user_model_refuses_pickled_objects(user_module, tmp_path):
    marker = tmp_path / "marker"
    weights = tmp_path / "evil.pt"
    torch.save({"conv.weight": torch.zeros(3, 4, 5), "payload": Malicious(marker)}, weights)
    with pytest.raises(ValueError, match="never unpickles arbitrary objects"):
        load_user_model(f"{user_module}:TinyNet", weights)
    assert not marker.exists()
    raw = tmp_path / "evil.bin"
    raw.write_bytes(pickle.dumps(Malicious(marker)))
    with pytest.raises(ValueError, match="refused"):
        read_state_dict(raw)
    assert not marker.exists()


def test_load_user_model_errors(user_module, tmp_path):
    weights = tmp_path / "w.safetensors"
    save_file(_reference(user_module).state_dict(), str(weights))
    with pytest.raises(ValueError, match=r"no torch.nn.Module subclass named 'Nope'.*TinyNet"):
        load_user_model(f"{user_module}:Nope", weights)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_user_model(f"{tmp_path / 'absent.py'}:TinyNet", weights)
    with pytest.raises(ValueError, match=r"module\.py:ClassName"):
        load_user_model(str(user_module), weights)
    with pytest.raises(ValueError, match="could not construct"):
        load_user_model(f"{user_module}:TinyNet", weights, depth=3)
    with pytest.raises(ValueError, match="do not fit the model TinyNet"):
        load_user_model(f"{user_module}:TinyNet", weights, n_tasks=5)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_user_model(f"{user_module}:TinyNet", tmp_path / "none.safetensors")
    with pytest.raises(ValueError, match="pass its state-dict file"):
        load_model_from_spec(f"{user_module}:TinyNet")
    with pytest.raises(FileNotFoundError, match="neither a checkpoint directory"):
        load_model_from_spec(tmp_path / "nowhere")
