"""The shared test helpers (tests/testkit.py) build what they promise, and no test file imports
from another test file."""

from __future__ import annotations

import re
from pathlib import Path

import torch
from testkit import SmallConv, SmoothConv, random_one_hot, small_labcnn


def test_helpers_build_what_they_promise():
    X = random_one_hot(3, 24, 0, n_columns=2)
    assert X.shape == (3, 4, 24) and (X.sum(1)[0] == 0).sum() == 2
    assert SmallConv()(X).shape == (3, 3)
    assert SmoothConv(length=24)(X).shape == (3, 2)
    assert small_labcnn()(random_one_hot(2, 60, 0)).shape == (2, 2)


def test_conftest_fixtures_hand_out_the_testkit_models(
    one_hot, small_conv, smooth_conv, tiny_labcnn
):
    X = one_hot(3, 24, 0, n_columns=2)
    assert torch.equal(X, random_one_hot(3, 24, 0, n_columns=2))
    assert torch.equal(small_conv(X), SmallConv()(X))
    assert torch.equal(smooth_conv(one_hot(2, 20)), SmoothConv()(random_one_hot(2, 20, 0)))
    X60 = one_hot(2, 60)
    assert torch.equal(tiny_labcnn(X60), small_labcnn()(X60))


def test_no_test_file_imports_from_another():
    folder = Path(__file__).parent
    pattern = re.compile(r"^\s*(from|import)\s+(tests\.)?test_\w+", re.M)
    files = [*sorted(folder.glob("test_*.py")), folder / "conftest.py"]
    offenders = [p.name for p in files if pattern.search(p.read_text())]
    assert offenders == []
