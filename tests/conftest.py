"""Pytest fixtures shared by the test files: the toy models and inputs of ``testkit``.

``testkit`` stays the plain-function module (``from testkit import SmallConv`` keeps working,
for helpers called with arguments); the fixtures below hand out its default-sized instances,
fresh for each test. The opt-in ``single_thread`` fixture stays in ``testkit``: a test module
imports it to run single-threaded, so it is deliberately not an autouse fixture here.
"""

from __future__ import annotations

import pytest
import torch
from testkit import SmallConv, SmoothConv, random_one_hot, small_labcnn
from torch import nn


@pytest.fixture
def one_hot():
    """``one_hot(n, length, seed=0, n_columns=0)``: a random one-hot batch (testkit)."""

    def make(n: int, length: int, seed: int = 0, *, n_columns: int = 0) -> torch.Tensor:
        return random_one_hot(n, length, seed, n_columns=n_columns)

    return make


@pytest.fixture
def small_conv() -> nn.Module:
    """A fresh :class:`testkit.SmallConv` (length 24, 3 outputs, seed 0), in eval mode."""
    return SmallConv()


@pytest.fixture
def smooth_conv() -> nn.Module:
    """A fresh :class:`testkit.SmoothConv` (length 20, 2 outputs, seed 1), in eval mode."""
    return SmoothConv()


@pytest.fixture
def tiny_labcnn() -> nn.Module:
    """A shrunk LabCNN (2 tasks, length 60, seed 0) from :func:`testkit.small_labcnn`."""
    return small_labcnn()
