"""Tests for cislens.shuffle: exact counts, uniformity (chi-square), seeding rule, types, errors."""

from __future__ import annotations

import math
from collections import Counter
from functools import cache, partial
from itertools import pairwise

import numba
import numpy as np
import pytest
import torch
from scipy.stats import chisquare

from cislens.sequence.onehot import (
    decode,
    one_hot_encode,
    one_hot_from_tokens,
    tokens_from_one_hot,
)
from cislens.shuffle import dinucleotide_shuffle, shuffle
from cislens.shuffle._prng import randbelow, seed_for, seed_state
from cislens.utils.random import derive_seed

SHUFFLES = [shuffle, dinucleotide_shuffle]
TOKEN_N = 4


# ----------------------------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------------------------


def random_tokens(rng, n_seqs, length, *, n_prob=0.0, low_complexity=0.0):
    """(n_seqs, length) tokens with a per-sequence GC content in [0.1, 0.9], optional N blocks."""
    rows = []
    for _ in range(n_seqs):
        gc = rng.uniform(0.1, 0.9)
        p = np.array([1 - gc, gc, gc, 1 - gc]) / 2
        row = rng.choice(4, size=length, p=p).astype(np.uint8)
        kind = rng.uniform()
        if kind < low_complexity / 2:
            row[:] = rng.integers(4)  # homopolymer
        elif kind < low_complexity:
            a, b = rng.choice(4, size=2, replace=False)
            row[:] = np.where(np.arange(length) % 2 == 0, a, b)  # dinucleotide repeat
        if rng.uniform() < n_prob:
            for _ in range(rng.integers(1, 4)):
                lo = rng.integers(length)
                row[lo : lo + rng.integers(1, 6)] = TOKEN_N
        rows.append(row)
    return np.stack(rows)


def dinucleotide_counts(tokens):
    """(..., L) tokens in 0..4 -> (..., 25) counts of every ordered pair over A, C, G, T, N."""
    tokens = np.asarray(tokens, dtype=np.int64)
    pairs = tokens[..., :-1] * 5 + tokens[..., 1:]
    return (pairs[..., None] == np.arange(25)).sum(axis=-2)


def run_ends(tokens):
    """Mask of the first and last letter of every maximal N-free run of each row."""
    letter = tokens != TOKEN_N
    prev = np.concatenate([np.zeros_like(letter[..., :1]), letter[..., :-1]], axis=-1)
    nxt = np.concatenate([letter[..., 1:], np.zeros_like(letter[..., :1])], axis=-1)
    return letter & (~prev | ~nxt)


def shuffled_tokens(func, tokens, **kwargs):
    X = one_hot_from_tokens(tokens)
    out = func(X, **kwargs)
    assert isinstance(out, np.ndarray) and out.shape == (X.shape[0], kwargs["n"], 4, X.shape[2])
    return tokens_from_one_hot(out.reshape(-1, 4, X.shape[2])).reshape(out.shape[0], -1, X.shape[2])


def enumerate_dinucleotide_shuffles(seq: str) -> set[str]:
    """All sequences with the dinucleotide counts and first letter of ``seq`` (Euler trails)."""
    counts = Counter(pairwise(seq))
    found = set()

    def extend(prefix):
        if len(prefix) == len(seq):
            found.add("".join(prefix))
            return
        for letter in "ACGT":
            if counts[prefix[-1], letter] > 0:
                counts[prefix[-1], letter] -= 1
                prefix.append(letter)
                extend(prefix)
                prefix.pop()
                counts[prefix[-1], letter] += 1

    extend([seq[0]])
    return found


def shortcut_dinucleotide_shuffle(seq: str, rng) -> str:
    """The non-uniform shortcut (keep each letter's original last successor, permute the rest)."""
    successors = {c: [seq[k + 1] for k in range(len(seq) - 1) if seq[k] == c] for c in "ACGT"}
    for letters in successors.values():
        if len(letters) > 1:
            head = letters[:-1]
            rng.shuffle(head)
            letters[:-1] = head
    return euler_walk(seq[0], len(seq), successors)


def tree_dinucleotide_shuffle(seq: str, rng, *, weighted: bool = True) -> str:
    """A slow pure-Python version of the algorithm; ``weighted=False`` is the classic mistake
    of drawing the last-exit tree without the edge multiplicities (not uniform)."""
    counts = Counter(pairwise(seq))
    root, nxt, in_tree = seq[-1], {}, {seq[-1]}
    for u in sorted(set(seq[:-1])):
        cur = u
        while cur not in in_tree:  # Wilson's loop-erased random walk
            options = [v for v in "ACGT" if v != cur and counts[cur, v] > 0]
            w = np.array([counts[cur, v] if weighted else 1 for v in options], dtype=float)
            nxt[cur] = options[rng.choice(len(options), p=w / w.sum())]
            cur = nxt[cur]
        cur = u
        while cur not in in_tree:
            in_tree.add(cur)
            cur = nxt[cur]
    successors = {}
    for u in set(seq[:-1]):
        letters = [v for v in "ACGT" for _ in range(counts[u, v])]
        if u != root:
            letters.remove(nxt[u])
        rng.shuffle(letters)
        successors[u] = letters + ([nxt[u]] if u != root else [])
    return euler_walk(seq[0], len(seq), successors)


def euler_walk(first: str, length: int, successors: dict) -> str:
    out, used = [first], Counter()
    while len(out) < length:
        cur = out[-1]
        out.append(successors[cur][used[cur]])
        used[cur] += 1
    return "".join(out)


def chisquare_uniform(draws, support):
    counts = Counter(draws)
    observed = np.array([counts[s] for s in sorted(support)])
    return chisquare(observed).pvalue


# ----------------------------------------------------------------------------------------------
# Exactness: counts, fixed letters, N positions, windows
# ----------------------------------------------------------------------------------------------

SPECIAL = [
    "AAAAAAAAAC",
    "A" * 50,
    "ACACACAC",
    "NNNACGTNNACG",
    "NNNNNN",
    "A",
    "G",
    "AC",
    "TT",
    "N",
    "ACGTN",
    "NACGTTGCAN",
    "CGNACNTTTTNG",
]


@pytest.mark.parametrize("seq", SPECIAL)
def test_dinucleotide_special_sequences(seq):
    X = one_hot_encode([seq])
    S = dinucleotide_shuffle(X, n=8, random_state=1)
    for s in decode(S[0]):
        assert Counter(pairwise(s)) == Counter(pairwise(seq))
        assert [i for i, c in enumerate(s) if c == "N"] == [
            i for i, c in enumerate(seq) if c == "N"
        ]


@pytest.mark.parametrize("seq", ["AAAA", "ACACACACAC", "A" * 50, "NNNN", "AC", "T", "ANCNG"])
def test_unique_shuffle_returns_copies(seq):
    X = one_hot_encode([seq])
    S = dinucleotide_shuffle(X, n=5, random_state=0)
    assert decode(S[0]) == [seq] * 5


def test_dinucleotide_counts_exact_on_many_sequences():
    rng = np.random.default_rng(12345)
    lengths = [1, 2, 3, 4, 5, *rng.integers(6, 301, size=45).tolist()]
    total = 0
    for length in lengths:
        tokens = random_tokens(rng, 20, length, n_prob=0.3, low_complexity=0.1)
        out = shuffled_tokens(dinucleotide_shuffle, tokens, n=3, random_state=int(length))
        total += len(tokens)
        np.testing.assert_array_equal(
            dinucleotide_counts(out),
            np.broadcast_to(dinucleotide_counts(tokens)[:, None], (20, 3, 25)),
        )
        ends = np.broadcast_to(run_ends(tokens)[:, None], out.shape)
        base = np.broadcast_to(tokens[:, None], out.shape)
        np.testing.assert_array_equal(out[ends], base[ends])  # first/last letters of runs
        is_n = base == TOKEN_N
        np.testing.assert_array_equal(out == TOKEN_N, is_n)  # N positions unchanged
    assert total >= 1000


def test_dinucleotide_shuffle_changes_sequences():
    rng = np.random.default_rng(0)
    tokens = random_tokens(rng, 10, 200)
    out = shuffled_tokens(dinucleotide_shuffle, tokens, n=5, random_state=0)
    assert (out != tokens[:, None]).mean() > 0.3


@pytest.mark.parametrize("func", SHUFFLES)
def test_window_only_shuffles_inside(func):
    rng = np.random.default_rng(7)
    tokens = random_tokens(rng, 30, 120, n_prob=0.5)
    for start, end in [(10, 90), (0, 50), (-40, None), (None, 7), (59, 60)]:
        out = shuffled_tokens(func, tokens, n=4, random_state=3, start=start, end=end)
        lo, hi = slice(start, end).indices(120)[:2]
        outside = np.ones(120, dtype=bool)
        outside[lo:hi] = False
        np.testing.assert_array_equal(
            out[..., outside], np.broadcast_to(tokens[:, None], out.shape)[..., outside]
        )
        inside_counts = (tokens[:, None, lo:hi, None] == np.arange(5)).sum(-2)
        np.testing.assert_array_equal(
            (out[..., lo:hi, None] == np.arange(5)).sum(-2),
            np.broadcast_to(inside_counts, (30, 4, 5)),
        )
        if func is dinucleotide_shuffle:  # window ends are run ends: every count is kept
            np.testing.assert_array_equal(
                dinucleotide_counts(out),
                np.broadcast_to(dinucleotide_counts(tokens)[:, None], (30, 4, 25)),
            )


def test_mononucleotide_counts_and_n_fixed():
    rng = np.random.default_rng(1)
    for length in [1, 2, 17, 150]:
        tokens = random_tokens(rng, 25, length, n_prob=0.4)
        out = shuffled_tokens(shuffle, tokens, n=4, random_state=0)
        base = np.broadcast_to(tokens[:, None], out.shape)
        np.testing.assert_array_equal(out == TOKEN_N, base == TOKEN_N)
        np.testing.assert_array_equal(
            (out[..., None] == np.arange(5)).sum(-2), (base[..., None] == np.arange(5)).sum(-2)
        )


def test_mononucleotide_permutations_are_independent_across_batch():
    # Sequence i is all C with one A at position i. One permutation shared by the batch (as in
    # tangermeme's ersatz.shuffle) would send the ten A's to ten distinct positions every time;
    # independent permutations put two A's at the same position most of the time.
    seqs = ["C" * i + "A" + "C" * (9 - i) for i in range(10)]
    out = shuffle(one_hot_encode(seqs), n=20, random_state=0)
    a_positions = out[:, :, 0].argmax(-1)  # (10 sequences, 20 shuffles)
    collisions = [len(set(a_positions[:, j].tolist())) < 10 for j in range(20)]
    assert sum(collisions) >= 15


# ----------------------------------------------------------------------------------------------
# Uniformity
# ----------------------------------------------------------------------------------------------

# Sequences whose distinct dinucleotide shuffles are enumerated exactly (Euler trails).
UNIFORM_CASES = [
    ("AAACGGGATTTGC", 27),  # a 13-mer with 27 distinct shuffles (cf. tangermeme issue #27)
    ("GCTACAACACATG", 28),
    ("ACGTTGCAAGT", 24),
    ("ACACAGAGTCTCTG", 90),  # multiplicities > 1: an unweighted tree would be far from uniform
]


def draws_of(func, seq, n, random_state=0, **kwargs):
    S = func(one_hot_encode([seq]), n=n, random_state=random_state, **kwargs)
    return decode(S[0])


@pytest.mark.parametrize(("seq", "expected_size"), UNIFORM_CASES)
def test_dinucleotide_shuffle_is_uniform(seq, expected_size):
    support = enumerate_dinucleotide_shuffles(seq)
    if expected_size is not None:
        assert len(support) == expected_size
    draws = draws_of(dinucleotide_shuffle, seq, n=200 * len(support), random_state=2024)
    assert set(draws) <= support  # every draw is a valid shuffle
    assert set(draws) == support  # every shuffle is reached
    assert chisquare_uniform(draws, support) > 1e-3


def test_dinucleotide_uniform_per_run_with_n():
    # Two N-separated runs are shuffled independently: the outcome is uniform on the product.
    left, right = "ACGTTGCA", "TTACAGTA"
    support = {
        a + "N" + b
        for a in enumerate_dinucleotide_shuffles(left)
        for b in enumerate_dinucleotide_shuffles(right)
    }
    draws = draws_of(dinucleotide_shuffle, left + "N" + right, n=100 * len(support))
    assert set(draws) == support
    assert chisquare_uniform(draws, support) > 1e-3


@cache
def sorted_support(seq: str) -> tuple[str, ...]:
    return tuple(sorted(enumerate_dinucleotide_shuffles(seq)))


def double_first_outcome(seq, rng):
    outcomes = sorted_support(seq)
    weights = np.ones(len(outcomes))
    weights[0] = 2.0
    return outcomes[rng.choice(len(outcomes), p=weights / weights.sum())]


@pytest.mark.parametrize(
    ("sampler", "seq"),
    [
        (shortcut_dinucleotide_shuffle, "AAACGGGATTTGC"),  # keeps the original last exits
        (partial(tree_dinucleotide_shuffle, weighted=False), "GCTACAACACATG"),  # unweighted tree
        (double_first_outcome, "AAACGGGATTTGC"),  # one outcome twice as likely
    ],
)
def test_chisquare_check_rejects_biased_samplers(sampler, seq):
    # The uniformity check above must be able to fail: it rejects these non-uniform samplers.
    support = enumerate_dinucleotide_shuffles(seq)
    rng = np.random.default_rng(0)
    draws = [sampler(seq, rng) for _ in range(200 * len(support))]
    assert set(draws) <= support
    assert chisquare_uniform(draws, support) < 1e-3


def test_python_reference_algorithm_is_uniform():
    # The slow reference with weighted trees passes the same check (so the check is fair).
    seq = "GCTACAACACATG"
    support = enumerate_dinucleotide_shuffles(seq)
    rng = np.random.default_rng(0)
    draws = [tree_dinucleotide_shuffle(seq, rng) for _ in range(200 * len(support))]
    assert set(draws) == support
    assert chisquare_uniform(draws, support) > 1e-3


def test_mononucleotide_shuffle_is_uniform():
    seq = "AACNGT"  # N stays; the 5 letters have 5!/2! = 60 distinct arrangements
    draws = draws_of(shuffle, seq, n=200 * 60, random_state=5)
    support = {s for s in draws}
    assert len(support) == 60
    assert all(s[3] == "N" and sorted(s) == sorted(seq) for s in support)
    assert chisquare_uniform(draws, support) > 1e-3


def test_randbelow_is_uniform():
    state = np.empty(4, dtype=np.uint64)
    seed_state(state, np.uint64(99))
    for bound in (1, 3, 7, 1000):
        draws = [randbelow(state, bound) for _ in range(20 * bound if bound > 1 else 10)]
        assert min(draws) >= 0 and max(draws) < bound
        if bound > 1:
            assert chisquare(np.bincount(draws, minlength=bound)).pvalue > 1e-3


# ----------------------------------------------------------------------------------------------
# Seeding rule and determinism
# ----------------------------------------------------------------------------------------------


def test_stream_seed_matches_derive_seed():
    for base, key, j in [(0, 0, 0), (7, 2**63 + 5, 3), (2**63 - 2, 2**64 - 1, 19)]:
        assert int(seed_for(np.uint64(base), np.uint64(key), j)) == derive_seed(base, key, j)


@pytest.fixture(scope="module")
def batch():
    rng = np.random.default_rng(3)
    return one_hot_from_tokens(random_tokens(rng, 12, 64, n_prob=0.3))


@pytest.mark.parametrize("func", SHUFFLES)
def test_same_seed_same_output_different_seed_different(func, batch):
    a = func(batch, n=5, random_state=11)
    np.testing.assert_array_equal(a, func(batch, n=5, random_state=11))
    assert not np.array_equal(a, func(batch, n=5, random_state=12))
    gen_a = func(batch, n=5, random_state=np.random.default_rng(4))
    gen_b = func(batch, n=5, random_state=np.random.default_rng(4))
    np.testing.assert_array_equal(gen_a, gen_b)
    assert not np.array_equal(func(batch, n=5), func(batch, n=5))  # None: fresh entropy


@pytest.mark.parametrize("func", SHUFFLES)
def test_independent_of_batch_position_chunking_and_n(func, batch):
    full = func(batch, n=20, random_state=8)
    for i in range(len(batch)):
        np.testing.assert_array_equal(func(batch[i : i + 1], n=20, random_state=8)[0], full[i])
    chunks = [func(batch[lo : lo + 5], n=20, random_state=8) for lo in range(0, len(batch), 5)]
    np.testing.assert_array_equal(np.concatenate(chunks), full)
    order = np.random.default_rng(0).permutation(len(batch))
    np.testing.assert_array_equal(func(batch[order], n=20, random_state=8), full[order])
    for k in (1, 7):
        np.testing.assert_array_equal(func(batch, n=k, random_state=8), full[:, :k])


@pytest.mark.parametrize("func", SHUFFLES)
def test_independent_of_thread_count(func, batch):
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        single = func(batch, n=6, random_state=2)
    finally:
        numba.set_num_threads(before)
    np.testing.assert_array_equal(single, func(batch, n=6, random_state=2))


def test_identical_sequences_get_identical_shuffles():
    X = one_hot_encode(["ACGTTGCAACGTAC"] * 3)
    S = dinucleotide_shuffle(X, n=4, random_state=0)
    np.testing.assert_array_equal(S[0], S[2])


# ----------------------------------------------------------------------------------------------
# Types
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("func", SHUFFLES)
def test_numpy_and_torch_types(func, batch):
    out_np = func(batch, n=3, random_state=0)
    assert isinstance(out_np, np.ndarray) and out_np.dtype == np.float32
    out_t = func(torch.from_numpy(batch), n=3, random_state=0)
    assert isinstance(out_t, torch.Tensor) and out_t.dtype == torch.float32
    np.testing.assert_array_equal(out_t.numpy(), out_np)
    assert func(batch.astype(np.float64), n=2, random_state=0).dtype == np.float64
    assert func(batch.astype(np.int8), n=2, random_state=0).dtype == np.float32
    assert func(batch.astype(bool), n=2, random_state=0).dtype == np.float32
    assert func(torch.from_numpy(batch).double(), n=2, random_state=0).dtype == torch.float64
    assert func(torch.from_numpy(batch).bool(), n=2, random_state=0).dtype == torch.float32
    half = func(torch.from_numpy(batch).half(), n=2, random_state=0)
    assert half.dtype == torch.float16
    np.testing.assert_array_equal(half.float().numpy(), out_np[:, :2])


# ----------------------------------------------------------------------------------------------
# Errors
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("func", SHUFFLES)
def test_invalid_inputs(func):
    X = one_hot_encode(["ACGTACGTAC", "TTGACCAGTA"]).numpy()
    with pytest.raises(ValueError, match="shape"):
        func(X.transpose(0, 2, 1))
    with pytest.raises(ValueError, match="shape"):
        func(X[0])
    bad = X.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        func(bad)
    bad = X * 0.5
    with pytest.raises(ValueError, match="only 0 and 1"):
        func(bad)
    with pytest.raises(TypeError):
        func(X.tolist())
    for n in (0, -1, 1.5, True, None):
        with pytest.raises(ValueError, match="n must be a positive int"):
            func(X, n=n)
    with pytest.raises(ValueError, match="start must be less than end"):
        func(X, start=5, end=5)
    with pytest.raises(ValueError, match="start must be less than end"):
        func(X, start=6, end=2)
    with pytest.raises(ValueError, match=r"end must lie in \[-L, L\].*got end=11"):
        func(X, end=11)
    with pytest.raises(ValueError, match="start must lie"):
        func(X, start=-11)
    with pytest.raises(TypeError, match="start must be an int or None"):
        func(X, start=1.0)
    with pytest.raises(ValueError, match="random_state"):
        func(X, random_state=-1)


def test_large_batch_runs(benchmark_size=(200, 500)):
    n_seqs, length = benchmark_size
    rng = np.random.default_rng(0)
    X = one_hot_from_tokens(random_tokens(rng, n_seqs, length))
    S = dinucleotide_shuffle(X, n=5, random_state=0)
    assert S.shape == (n_seqs, 5, 4, length)
    assert math.isclose(float(S.sum()), n_seqs * 5 * length)


def test_tangermeme_shuffles_are_valid_but_reach_fewer_outcomes():
    ersatz = pytest.importorskip("tangermeme.ersatz")
    seq = "AAACGGGATTTGC"
    support = enumerate_dinucleotide_shuffles(seq)
    theirs = set(
        decode(ersatz.dinucleotide_shuffle(one_hot_encode([seq]), n=1000, random_state=0)[0])
    )
    ours = set(draws_of(dinucleotide_shuffle, seq, n=1000))
    assert theirs <= support
    assert ours == support
    assert len(theirs) < len(ours)  # tangermeme issue #27: 9 of 27


@pytest.mark.parametrize("shuffler", [dinucleotide_shuffle, shuffle])
def test_shuffles_keep_the_callers_torch_thread_count(shuffler):
    # numba's OpenMP layer would otherwise reset torch to all cores after each parallel kernel
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        shuffler(one_hot_encode(["ACGTTGCAAC" * 6] * 3), n=4, random_state=0)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
