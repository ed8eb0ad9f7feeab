"""Tests for cislens.shuffle.references: shapes, values, types, validation, the registry."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cislens.sequence.onehot import one_hot_encode
from cislens.shuffle import (
    REFERENCES,
    dinucleotide_references,
    dinucleotide_shuffle,
    frequency_references,
    get_reference_function,
    shuffle,
    shuffle_references,
    zero_references,
)


@pytest.fixture
def X():
    return one_hot_encode(["ACGTTGCAACGTNA", "TTTTGGGCCCAAAT", "ACACACACACACAC"])


def test_registry_names_and_signature(X):
    assert set(REFERENCES) == {"zeros", "frequencies", "dinucleotide", "shuffle"}
    for name, func in REFERENCES.items():
        assert get_reference_function(name) is func
        out = func(X, 3, 0)  # the common positional signature (X, n, random_state)
        assert isinstance(out, torch.Tensor)
        assert out.shape == (3, 3, 4, 14) and out.dtype == torch.float32
        out_np = func(X.numpy(), 2, 0)
        assert isinstance(out_np, np.ndarray) and out_np.shape == (3, 2, 4, 14)
        assert out_np.dtype == np.float32


def test_registry_error_lists_valid_names():
    with pytest.raises(ValueError, match="unknown reference 'gc'") as info:
        get_reference_function("gc")
    for name in REFERENCES:
        assert repr(name) in str(info.value)
    with pytest.raises(ValueError, match="valid names"):
        get_reference_function(None)


def test_default_n():
    X = one_hot_encode(["ACGTAC"])
    assert zero_references(X).shape[1] == 1
    assert frequency_references(X).shape[1] == 1
    assert dinucleotide_references(X).shape[1] == 20
    assert shuffle_references(X).shape[1] == 20


def test_zero_references(X):
    R = zero_references(X, n=4)
    assert R.shape == (3, 4, 4, 14)
    assert not R.any()


def test_frequency_references_values(X):
    R = frequency_references(X, n=2)
    expected = torch.tensor([0.3, 0.2, 0.2, 0.3]).view(1, 1, 4, 1).expand(3, 2, 4, 14)
    torch.testing.assert_close(R, expected)
    custom = frequency_references(X.numpy(), 1, None, frequencies=np.array([0.1, 0.4, 0.4, 0.1]))
    np.testing.assert_allclose(custom[1, 0, :, 7], [0.1, 0.4, 0.4, 0.1], rtol=1e-6)
    R64 = frequency_references(X.double(), 1, frequencies=[0.25] * 4)
    assert R64.dtype == torch.float64 and bool((R64 == 0.25).all())


@pytest.mark.parametrize(
    ("frequencies", "match"),
    [
        ((0.3, 0.3, 0.3, 0.3), "sum to 1"),
        ((0.5, 0.5, 0.5, -0.5), "non-negative"),
        ((0.5, 0.5), "4 values"),
        ((np.nan, 0.5, 0.25, 0.25), "finite"),
    ],
)
def test_frequency_references_validation(X, frequencies, match):
    with pytest.raises(ValueError, match=match):
        frequency_references(X, frequencies=frequencies)


def test_shuffled_references_equal_the_shuffles(X):
    torch.testing.assert_close(
        dinucleotide_references(X, 5, 3), dinucleotide_shuffle(X, n=5, random_state=3)
    )
    torch.testing.assert_close(shuffle_references(X, 5, 3), shuffle(X, n=5, random_state=3))
    # base counts are kept by both shuffles
    for func in (dinucleotide_references, shuffle_references):
        R = func(X, 4, 1)
        torch.testing.assert_close(R.sum(-1), X.sum(-1)[:, None].expand(3, 4, 4))


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_references_validate_inputs(name, X):
    func = get_reference_function(name)
    with pytest.raises(ValueError, match="n must be a positive int"):
        func(X, 0, None)
    with pytest.raises(ValueError, match="shape"):
        func(X.transpose(1, 2), 1, None)
    with pytest.raises(ValueError, match="only 0 and 1"):
        func(X * 0.5, 1, None)
