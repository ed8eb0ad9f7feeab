"""One-hot encoding, decoding, reverse complements and validation."""

import numpy as np
import pytest
import torch

from cislens import check_one_hot, decode, one_hot_encode, reverse_complement
from cislens.sequence import tokens_from_one_hot


def random_sequences(rng, n, length, alphabet="ACGTN"):
    return ["".join(rng.choice(list(alphabet), size=length)) for _ in range(n)]


def test_encode_shape_order_and_n_column():
    X = one_hot_encode(["ACGTN"])
    assert X.shape == (1, 4, 5)
    assert X.dtype == torch.float32
    np.testing.assert_array_equal(X[0, :, :4].numpy(), np.eye(4))
    assert X[0, :, 4].sum() == 0


def test_single_string_gives_a_batch_and_lowercase_is_accepted():
    assert one_hot_encode("acgt").shape == (1, 4, 4)
    assert torch.equal(one_hot_encode("acgt"), one_hot_encode("ACGT"))


def test_round_trip_encode_decode():
    rng = np.random.default_rng(0)
    seqs = random_sequences(rng, 50, 37)
    assert decode(one_hot_encode(seqs)) == seqs
    assert decode(one_hot_encode(seqs).numpy()) == seqs


def test_reverse_complement_twice_is_identity_and_matches_strings():
    rng = np.random.default_rng(1)
    seqs = random_sequences(rng, 20, 25)
    X = one_hot_encode(seqs)
    assert torch.equal(reverse_complement(reverse_complement(X)), X)
    assert decode(reverse_complement(X)) == reverse_complement(seqs)
    assert np.array_equal(reverse_complement(reverse_complement(X.numpy())), X.numpy())
    assert reverse_complement("ACGTRYN") == "NRYACGT"
    assert reverse_complement(reverse_complement("acgtRyKm")) == "acgtRyKm"


def test_iupac_codes_default_to_all_zero_columns():
    X = one_hot_encode(["ARN"])
    assert X[0, :, 1].sum() == 0
    assert decode(X) == ["ANN"]  # documented: ambiguity codes decode as N


def test_iupac_fraction_and_error_modes():
    X = one_hot_encode(["R"], ambiguous="fraction")
    assert X[0, :, 0].tolist() == [0.5, 0.0, 0.5, 0.0]
    with pytest.raises(ValueError, match=r"IUPAC ambiguity code 'R' at position 1"):
        one_hot_encode(["AR"], ambiguous="error")
    with pytest.raises(ValueError, match=r"not binary|only 0 and 1"):
        check_one_hot(X)


@pytest.mark.parametrize(
    ("seqs", "message"),
    [
        (["ACGT", "ACXT"], r"seqs\[1\] has the invalid character 'X' at position 2"),
        (["AC-T"], r"seqs\[0\] has the invalid character '-' at position 2"),
        (["ACGÜ"], r"invalid character 'Ü' at position 3"),
        (["ACGT", "ACG"], "same length"),
        ([], "empty"),
        ([""], "empty"),
    ],
)
def test_bad_sequences_raise_clear_errors(seqs, message):
    with pytest.raises(ValueError, match=message):
        one_hot_encode(seqs)


def test_non_string_input_raises_type_error():
    with pytest.raises(TypeError, match="seqs"):
        one_hot_encode(5)
    with pytest.raises(TypeError, match=r"seqs\[1\]"):
        one_hot_encode(["ACGT", 7])


def test_length_centres_trims_and_pads():
    X = one_hot_encode(["ACGTAC", "GG", "TTTT"], length=4)
    assert decode(X) == ["CGTA", "NGGN", "TTTT"]
    # odd differences put the extra base on the right
    assert decode(one_hot_encode(["ACGTA"], length=4)) == ["ACGT"]
    assert decode(one_hot_encode(["A"], length=4)) == ["NANN"]
    with pytest.raises(ValueError, match="length must be a positive int"):
        one_hot_encode(["A"], length=0)


def test_check_one_hot_accepts_valid_numpy_and_torch():
    X = one_hot_encode(["ACGTN", "TTTTT"])
    assert check_one_hot(X) is X
    assert check_one_hot(X.numpy().astype(np.int8)) is not None
    check_one_hot(X.bool())


@pytest.mark.parametrize(
    ("X", "message"),
    [
        (torch.zeros(4, 10), r"shape \(N, 4, L\).*X\[None\]"),
        (torch.zeros(2, 10, 4), r"\(N, L, 4\)"),
        (torch.zeros(0, 4, 10), "empty"),
        (torch.zeros(2, 4, 0), "empty"),
        (torch.full((1, 4, 3), float("nan")), "NaN"),
        (torch.full((1, 4, 3), 0.5), "only 0 and 1"),
        (torch.ones(1, 4, 3), "at most one 1 per column"),
        ([[1, 0, 0, 0]], "numpy.ndarray or torch.Tensor"),
    ],
)
def test_check_one_hot_rejects_bad_inputs(X, message):
    with pytest.raises((ValueError, TypeError), match=message):
        check_one_hot(X)


def test_check_one_hot_names_the_parameter_and_checks_n_and_length():
    X = one_hot_encode(["ACNT"])
    with pytest.raises(ValueError, match=r"^references must not contain unknown bases"):
        check_one_hot(X, name="references", allow_N=False)
    with pytest.raises(ValueError, match=r"length L=5"):
        check_one_hot(X, length=5)


def test_tokens_from_one_hot():
    assert tokens_from_one_hot(one_hot_encode(["TGCAN"])).tolist() == [[3, 2, 1, 0, 4]]
