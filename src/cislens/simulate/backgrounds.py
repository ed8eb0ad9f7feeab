"""Background sequences: i.i.d., k-th order Markov, and dinucleotide shuffles of given sequences.

Everything works on (N, L) uint8 tokens (0..3 = A, C, G, T) internally; the public
:func:`sample_background` returns one-hot (N, 4, L) float32.

The built-in human table
------------------------
:data:`HUMAN_DINUCLEOTIDE_FREQUENCIES` holds **approximate** genome-wide dinucleotide
frequencies of the human genome (percent, rows = first base, columns = second base, A C G T),
rounded to 0.1 % and made strand-symmetric (XY = complement(Y)complement(X)). They reproduce the
well-known features: ~41 % GC, CpG strongly depleted (~1 %, observed/expected ~0.24), TpG and
CpA enriched, AA/TT the most common pairs. They are in line with published genome-wide counts
(e.g. Karlin & Mrazek 1997; Gentles & Karlin 2001) but are rounded teaching values, not an
exact count of any assembly: fit a Markov model to real sequences (``fit_markov``) when exact
frequencies matter.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from cislens.errors import ConfigError
from cislens.sequence.alphabet import TOKEN_AMBIGUOUS, TOKEN_INVALID, TOKEN_N, TOKEN_TABLE
from cislens.sequence.onehot import one_hot_from_tokens, tokens_from_one_hot
from cislens.utils.random import check_random_state, derive_seed
from cislens.utils.types import RandomState
from cislens.utils.validation import check_positive_int

if TYPE_CHECKING:
    from cislens.simulate.specs import BackgroundSpec

# Percent; rows: first base A, C, G, T; columns: second base A, C, G, T. Approximate (see above).
HUMAN_DINUCLEOTIDE_FREQUENCIES = (
    np.array(
        [
            [9.8, 5.0, 7.0, 7.6],
            [7.3, 5.2, 1.0, 7.0],
            [5.9, 4.3, 5.2, 5.0],
            [6.5, 5.9, 7.3, 9.8],
        ]
    )
    / 99.8
)
HUMAN_DINUCLEOTIDE_FREQUENCIES.setflags(write=False)


@dataclass(frozen=True, eq=False)
class MarkovModel:
    """A k-th order Markov chain over A, C, G, T (order 0 is i.i.d.).

    Attributes
    ----------
    order : int
        k, 0 to 3.
    initial : array (4**k,)
        Probabilities of the first k bases (k-mer index, first base most significant).
    transitions : array (4**k, 4)
        P(next base | previous k bases).
    composition : array (4,)
        Base frequencies (used for log-odds and p-values).
    """

    order: int
    initial: np.ndarray
    transitions: np.ndarray
    composition: np.ndarray

    def sample(self, n: int, length: int, rng: np.random.Generator) -> np.ndarray:
        """(n, length) uint8 tokens."""
        k = self.order
        tokens = np.empty((n, length), dtype=np.uint8)
        if k == 0:
            cum = np.cumsum(self.transitions[0])[:3]
            return (rng.random((n, length))[..., None] > cum).sum(-1).astype(np.uint8)
        head = min(k, length)
        first = _draw(np.cumsum(self.initial), rng.random(n))
        for j in range(head):
            tokens[:, j] = (first // 4 ** (k - 1 - j)) % 4
        cum = np.cumsum(self.transitions, axis=1)[:, :3]
        context = first.astype(np.int64)
        size = 4**k
        for pos in range(k, length):
            nxt = (rng.random(n)[:, None] > cum[context]).sum(1)
            tokens[:, pos] = nxt
            context = (context * 4 + nxt) % size
        return tokens

    def redraw(self, tokens: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> None:
        """Re-draw ``tokens[mask]`` in place, left to right, each given its left context.

        The right-hand junction of a re-drawn stretch is not conditioned on (an approximation
        affecting a few bases); the first k positions of a sequence use the composition.
        """
        k = self.order
        if not mask.any():
            return
        if k == 0:
            cum = np.cumsum(self.transitions[0])[:3]
            tokens[mask] = (rng.random(int(mask.sum()))[:, None] > cum).sum(1)
            return
        cum = np.cumsum(self.transitions, axis=1)[:, :3]
        cum0 = np.cumsum(self.composition)[:3]
        weights = 4 ** np.arange(k - 1, -1, -1)
        for pos in np.flatnonzero(mask.any(axis=0)):
            rows = np.flatnonzero(mask[:, pos])
            u = rng.random(len(rows))
            if pos < k:
                tokens[rows, pos] = (u[:, None] > cum0).sum(1)
                continue
            context = tokens[rows, pos - k : pos].astype(np.int64) @ weights
            tokens[rows, pos] = (u[:, None] > cum[context]).sum(1)


def _draw(cumulative: np.ndarray, u: np.ndarray) -> np.ndarray:
    return np.minimum(np.searchsorted(cumulative, u, side="right"), len(cumulative) - 1)


def iid_model(composition) -> MarkovModel:
    """An order-0 model with base frequencies ``composition`` (A, C, G, T)."""
    comp = np.asarray(composition, dtype=np.float64)
    comp = comp / comp.sum()
    return MarkovModel(0, np.ones(1), comp[None, :].copy(), comp)


def human_markov() -> MarkovModel:
    """Order-1 model from :data:`HUMAN_DINUCLEOTIDE_FREQUENCIES` (approximate, CpG-depleted).

    Examples
    --------
    >>> model = human_markov()
    >>> round(float(model.composition[1] + model.composition[2]), 2)  # GC content
    0.41
    >>> round(float(model.transitions[1, 2]), 3)  # P(G | C): CpG depletion
    0.049
    """
    freq = np.asarray(HUMAN_DINUCLEOTIDE_FREQUENCIES, dtype=np.float64)
    composition = freq.sum(axis=1) / freq.sum()
    transitions = freq / freq.sum(axis=1, keepdims=True)
    return MarkovModel(1, composition.copy(), transitions, composition)


def _tokens_of(sequences, *, where: str) -> list[np.ndarray]:
    """Token arrays (0..3, 4 = N or ambiguous) from strings, one-hot arrays or a file path."""
    if isinstance(sequences, Path):
        sequences = read_sequences(sequences, where=where)
    if isinstance(sequences, str):
        sequences = [sequences]
    if hasattr(sequences, "shape") and len(sequences.shape) == 3:
        tokens = tokens_from_one_hot(sequences)
        return list(tokens)
    out = []
    for index, seq in enumerate(sequences):
        if not isinstance(seq, str):
            raise TypeError(f"{where}[{index}] must be a DNA string; got {type(seq).__name__}.")
        codes = np.frombuffer(seq.encode("ascii", errors="replace"), dtype=np.uint8)
        tok = TOKEN_TABLE[codes].copy()
        if (tok == TOKEN_INVALID).any():
            pos = int(np.flatnonzero(tok == TOKEN_INVALID)[0])
            raise ValueError(
                f"{where}[{index}] has the invalid character {seq[pos]!r} at position {pos}; "
                "use A, C, G, T, N or IUPAC codes."
            )
        tok[tok == TOKEN_AMBIGUOUS] = TOKEN_N
        out.append(tok)
    if not out:
        raise ValueError(f"{where} is empty; give at least one sequence.")
    return out


def read_sequences(path, *, where: str = "sequences") -> list[str]:
    """Sequences from a FASTA file (first non-blank line starts with '>') or one per line."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{where}: the file {str(path)!r} does not exist; check the path.")
    text = path.read_text()
    if text.lstrip().startswith(">"):
        from cislens.sequence.fasta import iter_fasta

        return [record.sequence for record in iter_fasta(path)]
    return [line.strip() for line in text.splitlines() if line.strip() and line[0] != "#"]


def fit_markov(
    sequences: Iterable[str], *, order: int = 1, pseudocount: float = 1.0
) -> MarkovModel:
    """Fit a k-th order Markov model to sequences (k-mers containing N are skipped).

    Parameters
    ----------
    sequences : list of str, one-hot array (N, 4, L), or pathlib.Path
        Strings, a one-hot batch, or a FASTA / one-sequence-per-line text file.
    order : int
        k, 0 to 3.
    pseudocount : float
        Added to every (k+1)-mer count.

    Examples
    --------
    >>> model = fit_markov(["ACACACACAC"], order=1, pseudocount=0.0)
    >>> model.transitions[0].tolist()  # after A always comes C
    [0.0, 1.0, 0.0, 0.0]
    """
    if isinstance(order, bool) or not isinstance(order, int) or not 0 <= order <= 3:
        raise ValueError(f"order must be an int from 0 to 3; got {order!r}.")
    if pseudocount < 0:
        raise ValueError(f"pseudocount must be >= 0; got {pseudocount}.")
    k = order
    counts = np.zeros(4 ** (k + 1))
    base_counts = np.zeros(4)
    for tok in _tokens_of(sequences, where="sequences"):
        base_counts += np.bincount(tok[tok < 4], minlength=4)[:4]
        if len(tok) <= k:
            continue
        windows = np.lib.stride_tricks.sliding_window_view(tok, k + 1)
        windows = windows[(windows < 4).all(axis=1)].astype(np.int64)
        index = windows @ (4 ** np.arange(k, -1, -1))
        counts += np.bincount(index, minlength=4 ** (k + 1))
    if base_counts.sum() == 0:
        raise ValueError("sequences hold no A, C, G or T; cannot fit a background.")
    table = counts.reshape(4**k, 4) + pseudocount
    rows = table.sum(axis=1, keepdims=True)
    transitions = np.where(rows > 0, table / np.where(rows > 0, rows, 1), 0.25)
    initial = table.sum(axis=1) / table.sum() if table.sum() > 0 else np.full(4**k, 4.0**-k)
    composition = (base_counts + pseudocount) / (base_counts + pseudocount).sum()
    if k == 0:
        return MarkovModel(0, np.ones(1), composition[None, :].copy(), composition)
    return MarkovModel(k, initial, transitions, composition)


class ShuffleSource:
    """Windows of given sequences, dinucleotide-shuffled (N-free windows only)."""

    def __init__(self, sequences, length: int, *, where: str = "background.sequences"):
        self.tokens = [t for t in _tokens_of(sequences, where=where) if len(t) >= length]
        if not self.tokens:
            raise ConfigError(
                f"{where}: no sequence is at least {length} bp long; give longer sequences or "
                "shorten length."
            )
        self.length = length
        self.n_windows = np.array([len(t) - length + 1 for t in self.tokens], dtype=np.float64)
        self.model = fit_markov([_as_str(t) for t in self.tokens], order=1)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        from cislens.shuffle import dinucleotide_shuffle

        L = self.length
        prob = self.n_windows / self.n_windows.sum()
        windows = np.empty((n, L), dtype=np.uint8)
        picks = np.empty((n, 2), dtype=np.int64)
        todo = np.arange(n)
        for _ in range(200):
            src = rng.choice(len(self.tokens), size=len(todo), p=prob)
            off = (rng.random(len(todo)) * self.n_windows[src]).astype(np.int64)
            bad = []
            for i, s, o in zip(todo, src, off, strict=True):
                window = self.tokens[s][o : o + L]
                if (window >= 4).any():
                    bad.append(i)
                else:
                    windows[i] = window
                    picks[i] = (s, o)
            todo = np.array(bad, dtype=np.int64)
            if not len(todo):
                break
        else:
            raise ConfigError(
                f"background.sequences: could not find {L}-bp windows without N; give sequences "
                "with longer N-free stretches."
            )
        # Identical windows get identical shuffles for one seed: give each repeat its own seed.
        _, inverse = np.unique(picks, axis=0, return_inverse=True)
        inverse = inverse.ravel()
        rank = np.zeros(n, dtype=np.int64)
        seen: dict[int, int] = {}
        for row, group in enumerate(inverse.tolist()):
            rank[row] = seen.get(group, 0)
            seen[group] = int(rank[row]) + 1
        base = int(rng.integers(0, 2**62))
        out = np.empty_like(windows)
        for r in range(int(rank.max()) + 1):
            rows = np.flatnonzero(rank == r)
            onehot = one_hot_from_tokens(windows[rows])
            shuffled = dinucleotide_shuffle(onehot, n=1, random_state=derive_seed(base, r))
            out[rows] = tokens_from_one_hot(shuffled[:, 0])
        return out


def _as_str(tokens: np.ndarray) -> str:
    return np.frombuffer(b"ACGTN", dtype=np.uint8)[tokens].tobytes().decode("ascii")


class Background:
    """A compiled background: draws sequences and re-draws positions."""

    def __init__(self, spec, length: int):
        self.spec = spec
        self.length = length
        self.source = None
        if spec.kind == "iid":
            self.model = iid_model(spec.composition)
        elif spec.kind == "markov" and spec.table == "human":
            self.model = human_markov()
        elif spec.kind == "markov":
            self.model = fit_markov(
                read_sequences(spec.sequences, where="background.sequences"), order=spec.order
            )
        else:
            seqs = read_sequences(spec.sequences, where="background.sequences")
            self.source = ShuffleSource(seqs, length)
            self.model = self.source.model

    @property
    def composition(self) -> np.ndarray:
        return self.model.composition

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        if self.source is not None:
            return self.source.sample(n, rng)
        return self.model.sample(n, self.length, rng)

    def redraw(self, tokens: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> None:
        self.model.redraw(tokens, mask, rng)


def sample_background(
    background: str | Mapping | BackgroundSpec = "uniform",
    *,
    n: int,
    length: int,
    random_state: RandomState = None,
) -> np.ndarray:
    """Draw ``n`` background sequences of ``length`` bp as one-hot (n, 4, length) float32.

    Parameters
    ----------
    background : str, mapping or BackgroundSpec
        As the ``background`` field of a simulation config: ``"uniform"``, ``"human"``,
        ``{kind: iid, gc: 0.4}``, ``{kind: markov, order: 2, sequences: path}``,
        ``{kind: shuffle, sequences: path}``.
    n, length : int
        Number of sequences and their length.
    random_state : int, numpy.random.Generator or None

    Examples
    --------
    >>> X = sample_background({"kind": "iid", "gc": 0.6}, n=100, length=50, random_state=0)
    >>> X.shape, round(float(X[:, 1:3].sum() / X.sum()), 1)
    ((100, 4, 50), 0.6)
    """
    from cislens.simulate.specs import BackgroundSpec, _parse_background

    spec = (
        background
        if isinstance(background, BackgroundSpec)
        else _parse_background(background, None)
    )
    n = check_positive_int(n, "n")
    length = check_positive_int(length, "length")
    tokens = Background(spec, length).sample(n, check_random_state(random_state))
    return one_hot_from_tokens(tokens)


__all__ = [
    "HUMAN_DINUCLEOTIDE_FREQUENCIES",
    "Background",
    "MarkovModel",
    "fit_markov",
    "human_markov",
    "iid_model",
    "read_sequences",
    "sample_background",
]
