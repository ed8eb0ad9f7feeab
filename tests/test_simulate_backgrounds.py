"""Backgrounds: i.i.d. composition, Markov chains (fitted, built-in human table), shuffles."""

import numpy as np
import pytest

from cislens.errors import ConfigError
from cislens.sequence.onehot import tokens_from_one_hot
from cislens.simulate import (
    HUMAN_DINUCLEOTIDE_FREQUENCIES,
    fit_markov,
    human_markov,
    sample_background,
)
from cislens.simulate.backgrounds import Background, iid_model
from cislens.simulate.specs import BackgroundSpec


def dinucleotide_frequencies(tokens):
    pairs = tokens[:, :-1].astype(int) * 4 + tokens[:, 1:]
    return np.bincount(pairs.ravel(), minlength=16).reshape(4, 4) / pairs.size


def test_iid_composition_and_gc():
    X = sample_background(
        {"kind": "iid", "composition": [0.1, 0.2, 0.3, 0.4]}, n=400, length=250, random_state=0
    )
    assert X.shape == (400, 4, 250) and X.dtype == np.float32
    assert (X.sum(axis=1) == 1).all()
    assert np.allclose(X.mean(axis=(0, 2)), [0.1, 0.2, 0.3, 0.4], atol=0.005)
    gc = sample_background({"kind": "iid", "gc": 0.6}, n=400, length=250, random_state=1)
    assert abs(gc[:, 1:3].sum() / gc.sum() - 0.6) < 0.005


def test_human_table_is_approximate_but_cpg_depleted():
    table = HUMAN_DINUCLEOTIDE_FREQUENCIES
    assert abs(table.sum() - 1) < 1e-9
    assert np.allclose(table, table[::-1, ::-1].T)  # strand-symmetric
    model = human_markov()
    gc = model.composition[1] + model.composition[2]
    assert 0.40 < gc < 0.42
    assert table[1, 2] / (model.composition[1] * model.composition[2]) < 0.3  # CpG o/e
    X = sample_background("human", n=500, length=400, random_state=0)
    observed = dinucleotide_frequencies(tokens_from_one_hot(X))
    assert np.abs(observed - table).max() < 0.004
    assert observed[1, 2] < 0.013  # CpG ~ 1 %


def test_fitted_markov_recovers_its_source():
    rng = np.random.default_rng(0)
    truth = rng.dirichlet(np.ones(4) * 0.7, size=16)  # order 2: 16 contexts
    from cislens.simulate.backgrounds import MarkovModel

    model = MarkovModel(2, np.full(16, 1 / 16), truth, np.full(4, 0.25))
    tokens = model.sample(300, 1000, rng)
    letters = np.frombuffer(b"ACGT", dtype=np.uint8)
    seqs = [letters[t].tobytes().decode() for t in tokens]
    fitted = fit_markov(seqs, order=2, pseudocount=0.0)
    assert np.abs(fitted.transitions - truth).max() < 0.03
    order0 = fit_markov(seqs, order=0)
    assert order0.order == 0 and np.isclose(order0.composition.sum(), 1)
    with pytest.raises(ValueError, match="order must be an int from 0 to 3"):
        fit_markov(seqs, order=4)
    with pytest.raises(ValueError, match="invalid character"):
        fit_markov(["ACGU"])


def test_markov_background_from_a_fasta(tmp_path):
    path = tmp_path / "train.fa"
    path.write_text(">a\n" + "ACGT" * 50 + "\n>b\n" + "AACCGGTT" * 25 + "\n")
    X = sample_background(
        {"kind": "markov", "order": 1, "sequences": str(path)}, n=50, length=60, random_state=0
    )
    assert X.shape == (50, 4, 60)
    with pytest.raises(ConfigError, match=r"background\.sequences: the file"):
        sample_background(
            {"kind": "markov", "sequences": str(tmp_path / "none.fa")}, n=5, length=10
        )


def test_shuffle_background_keeps_dinucleotide_counts(tmp_path):
    rng = np.random.default_rng(0)
    source = "".join(rng.choice(list("ACGT"), 80))
    path = tmp_path / "src.txt"
    path.write_text(source + "\n")
    X = sample_background(
        {"kind": "shuffle", "sequences": str(path)}, n=30, length=80, random_state=1
    )
    tokens = tokens_from_one_hot(X)
    src = np.searchsorted(
        np.frombuffer(b"ACGT", dtype=np.uint8), np.frombuffer(source.encode(), dtype=np.uint8)
    )
    expected = dinucleotide_frequencies(src[None])
    for row in tokens:
        assert np.allclose(dinucleotide_frequencies(row[None]), expected)
    assert len({row.tobytes() for row in tokens}) > 20  # repeats of one window still differ
    with pytest.raises(ConfigError, match="no sequence is at least 100 bp"):
        sample_background({"kind": "shuffle", "sequences": str(path)}, n=3, length=100)


def test_redraw_changes_only_masked_positions():
    background = Background(BackgroundSpec("markov", order=1, table="human"), 50)
    rng = np.random.default_rng(0)
    tokens = background.sample(20, rng)
    before = tokens.copy()
    mask = np.zeros_like(tokens, dtype=bool)
    mask[:, 10:20] = True
    background.redraw(tokens, mask, rng)
    assert (tokens[~mask] == before[~mask]).all()
    assert (tokens[mask] != before[mask]).any()
    iid = iid_model([0.25] * 4)
    iid.redraw(tokens, mask, rng)
    assert (tokens[~mask] == before[~mask]).all()


def test_bad_arguments():
    with pytest.raises(ConfigError, match=r"background\.kind: expected one of"):
        sample_background({"kind": "gc"}, n=2, length=10)
    with pytest.raises(ValueError, match="n must be a positive int"):
        sample_background("uniform", n=0, length=10)
    with pytest.raises(ValueError, match="length must be a positive int"):
        sample_background("uniform", n=2, length=0)
