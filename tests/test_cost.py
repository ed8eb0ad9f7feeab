"""Cost before work (issue 24, item 8): estimates from shapes, refusal past the limit.

ISM on a 1 Mb sequence is ~3 million forward rows of 1 Mb each (3e12 positions, an estimated
142 h): it must be refused at once, with the estimate in the message, and never touch the model.
Small calls run exactly as before.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from torch import nn

from cislens.attribution import (
    DEFAULT_MAX_POSITIONS,
    CostLimitError,
    attribute,
    attribution_set,
    estimate_cost,
    ism,
)
from cislens.cli import main

MODEL_SOURCE = '''
import torch
from torch import nn


class Net(nn.Module):
    """Convolution and global mean: any input length."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(4, 2, 5)

    def forward(self, x):
        return self.conv(x).mean(-1)
'''


class Untouchable(nn.Module):
    """A model that fails the test if a refused call ever runs it."""

    def forward(self, x):
        raise AssertionError("the model was called although the cost check should refuse")


def _one_hot(n: int, length: int, seed: int = 0) -> torch.Tensor:
    bases = np.random.default_rng(seed).integers(0, 4, (n, length))
    return torch.nn.functional.one_hot(torch.from_numpy(bases), 4).transpose(1, 2).float()


def _megabase() -> torch.Tensor:
    X = torch.zeros(1, 4, 1_000_000)
    X[0, 0] = 1
    return X


def test_estimates_follow_the_methods_row_counts():
    assert estimate_cost("ism", (2, 4, 100)).forward_rows == 2 * (1 + 3 * 100)
    assert estimate_cost("ism", (2, 4, 100), start=10, end=30).forward_rows == 2 * (1 + 3 * 20)
    assert estimate_cost("ism", (2, 4, 100), start=-5, end=None).forward_rows == 2 * 16
    refs = torch.zeros(3, 7, 4, 100)
    ig = estimate_cost("integrated_gradients", (3, 4, 100), baselines=refs, n_steps=10)
    assert ig.forward_rows == 3 * 7 * 10 and ig.positions == 3 * 7 * 10 * 100
    assert estimate_cost("integrated_gradients", (3, 4, 100)).forward_rows == 3 * 50
    assert estimate_cost("deeplift_shap", (3, 4, 100)).forward_rows == 3 * 2 * 20
    assert estimate_cost("deeplift", (3, 4, 100), n_baselines=4).forward_rows == 3 * 2 * 4
    assert estimate_cost("saliency", (3, 4, 100)).forward_rows == 3
    small = estimate_cost("ism", (1, 4, 10), batch_size=128, dtype=torch.float64)
    assert small.batch_bytes == 31 * 4 * 10 * 8  # a batch never exceeds the rows there are
    assert estimate_cost("ism", (5, 4, 10), hypothetical=True).result_bytes == 2 * 5 * 4 * 10 * 4


@pytest.mark.parametrize("call", ["attribute", "attribution_set"])
def test_megabase_ism_is_refused_at_once_with_the_estimate(call):
    X = _megabase()
    function = attribute if call == "attribute" else attribution_set
    started = time.perf_counter()
    with pytest.raises(CostLimitError) as caught:
        function(Untouchable(), X, method="ism", target=0)
    assert time.perf_counter() - started < 0.5
    message = str(caught.value)
    for fragment in ("ism on 1 sequence(s) of 1,000,000 bp", "3,000,001 forward rows",
                     "3.0e+12 positions", "max_positions=1e+10", "--allow-long",
                     "max_positions=None"):  # fmt: skip
        assert fragment in message, message
    assert "\n" not in message
    assert isinstance(caught.value, ValueError)  # the CLI's one-line, exit-2 class


def test_small_calls_run_unchanged_and_the_limit_can_be_lifted(caplog):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv1d(4, 2, 3), nn.Flatten(), nn.Linear(2 * 18, 1))
    X = _one_hot(3, 20)
    expected = ism(model, X)
    with caplog.at_level("INFO", logger="cislens.attribution.cost"):
        torch.testing.assert_close(attribute(model, X, method="ism"), expected)
    assert "cost: ism on 3 sequence(s) of 20 bp: an estimated 183 forward rows" in caplog.text
    with pytest.raises(CostLimitError, match="183 forward rows"):
        attribute(model, X, method="ism", max_positions=100)
    lifted = attribute(model, X, method="ism", max_positions=None)
    torch.testing.assert_close(lifted, expected)
    result = attribution_set(model, X, method="ism", max_positions=None, random_state=0)
    assert "max_positions" not in result.params  # it does not change results
    with pytest.raises(ValueError, match="max_positions must be a positive number or None"):
        attribute(model, X, method="ism", max_positions=0)


def test_limit_is_documented_value():
    assert DEFAULT_MAX_POSITIONS == 10**10


@pytest.fixture()
def class_model(tmp_path):
    from safetensors.torch import save_file

    (tmp_path / "net.py").write_text(MODEL_SOURCE)
    torch.manual_seed(0)
    conv = nn.Conv1d(4, 2, 5)
    save_file({"conv.weight": conv.weight.detach(), "conv.bias": conv.bias.detach()},
              str(tmp_path / "net.safetensors"))  # fmt: skip
    return ["--model", f"{tmp_path / 'net.py'}:Net", "--weights", str(tmp_path / "net.safetensors")]


def _dataset(path, X):
    from cislens.io import Dataset, save_dataset

    Y = np.zeros((X.shape[0], 2), np.float32)
    return save_dataset(path, Dataset({"test": X.numpy()}, {"test": Y}, ["a", "b"]))


def test_cli_refuses_megabase_ism_in_one_line(tmp_path, class_model, capsys):
    data = _dataset(tmp_path / "big.h5", _megabase())
    out = tmp_path / "a.h5"
    started = time.perf_counter()
    code = main(["attribute", *class_model, "--data", str(data), "--out", str(out),
                 "--method", "ism", "--target", "0"])  # fmt: skip
    assert time.perf_counter() - started < 5  # loading and one check forward pass included
    assert code == 2
    captured = capsys.readouterr()
    assert "estimated cost: ism on 1 sequence(s) of 1,000,000 bp" in captured.out
    err = captured.err.strip()
    assert err.startswith("cislens: error: ") and len(err.splitlines()) == 1
    assert "3,000,001 forward rows" in err and "--allow-long" in err
    assert not out.exists()


def test_cli_allow_long_runs_past_the_limit(tmp_path, class_model, capsys, monkeypatch):
    import cislens.attribution.cost as cost

    monkeypatch.setattr(cost, "DEFAULT_MAX_POSITIONS", 100)  # make a tiny job "long"
    data = _dataset(tmp_path / "small.h5", _one_hot(2, 12))
    args = ["attribute", *class_model, "--data", str(data), "--method", "ism,saliency",
            "--target", "0"]  # fmt: skip
    assert main([*args, "--out", str(tmp_path / "a.h5")]) == 2
    assert "over the limit" in capsys.readouterr().err
    assert not list(tmp_path.glob("a*.h5"))  # every method is checked before the first runs
    assert main([*args, "--out", str(tmp_path / "b.h5"), "--allow-long"]) == 0
    assert (tmp_path / "b.ism.h5").exists() and (tmp_path / "b.saliency.h5").exists()
    assert main([*args, "--out", str(tmp_path / "c.h5"), "--method-args",
                 '{"max_positions": null}']) == 2  # fmt: skip
    assert "use its own option (--allow-long)" in capsys.readouterr().err


def test_zarr_engine_refuses_before_creating_the_store(tmp_path):
    pytest.importorskip("zarr")
    pytest.importorskip("distributed")
    from testkit import small_labcnn

    from cislens.models import save_model
    from cislens.scale import HDF5Source, attribute_to_zarr

    checkpoint = save_model(small_labcnn(n_tasks=1, length=20), tmp_path / "model")
    data = _dataset(tmp_path / "d.h5", _one_hot(4, 20))
    out = tmp_path / "a.zarr"
    with pytest.raises(CostLimitError, match=r"4 sequence\(s\) of 20 bp: an estimated 244"):
        attribute_to_zarr(checkpoint, HDF5Source(data), out, method="ism", target=0,
                          max_positions=1000)  # fmt: skip
    assert not out.exists()


def test_ism_called_directly_states_its_cost_and_refuses_a_megabase():
    """ISM is quadratic in the length: it checks its own cost, also outside the registry."""
    from cislens.attribution import ism
    from cislens.attribution.cost import CostLimitError

    calls = []

    class Counting(torch.nn.Module):
        def forward(self, x):
            calls.append(1)
            return x.sum((1, 2))[:, None]

    X = torch.zeros(1, 4, 1_000_000)
    X[:, 0] = 1
    start = time.process_time()
    with pytest.raises(CostLimitError, match=r"ism on 1 sequence.* max_positions=None"):
        ism(Counting(), X)
    assert time.process_time() - start < 2.0 and not calls
    small = torch.zeros(2, 4, 20)
    small[:, 1] = 1
    torch.testing.assert_close(ism(Counting(), small, max_positions=None), ism(Counting(), small))
