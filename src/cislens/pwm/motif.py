"""The ``Motif`` class: a position probability matrix with the operations every stage needs.

A motif is stored as probabilities of shape (4, W), channels A, C, G, T, columns summing to 1,
the same channel-first layout as one-hot DNA. Counts are converted with a pseudocount spread by
the background (``p = (c + a * bg) / (n + a)``), so no probability is zero and log-odds are finite.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cislens.sequence.alphabet import ALPHABET, N_CHANNELS
from cislens.utils.random import check_random_state
from cislens.utils.types import ArrayLike

UNIFORM_BACKGROUND = (0.25, 0.25, 0.25, 0.25)


def check_background(background: ArrayLike, *, name: str = "background") -> np.ndarray:
    """Validate a background base-frequency vector (A, C, G, T) and return it as float64.

    Examples
    --------
    >>> check_background((0.3, 0.2, 0.2, 0.3)).tolist()
    [0.3, 0.2, 0.2, 0.3]
    """
    values = np.asarray(background, dtype=np.float64)
    if values.shape != (N_CHANNELS,) or not np.isfinite(values).all() or (values <= 0).any():
        raise ValueError(
            f"{name} must be 4 positive frequencies for A, C, G, T; got {background!r}."
        )
    if abs(values.sum() - 1.0) > 1e-6:
        raise ValueError(f"{name} must sum to 1; got {background!r} (sum {values.sum():.6g}).")
    return values


@dataclass(frozen=True, eq=False)
class Motif:
    """A DNA motif as a (4, W) position probability matrix.

    Parameters
    ----------
    name : str
        Display name (for JASPAR, the TF name, e.g. "CTCF").
    probabilities : array (4, W)
        Columns sum to 1, channels A, C, G, T.
    matrix_id : str, optional
        Database identifier, e.g. "MA0139.2".
    counts : array (4, W), optional
        The site counts the probabilities were made from, when known.
    source : str, optional
        Where the motif came from (e.g. "JASPAR2024", a file name).

    Examples
    --------
    >>> m = Motif.from_counts("toy", [[9, 0], [0, 0], [0, 9], [0, 0]], pseudocount=0.0)
    >>> m.consensus, m.width
    ('AG', 2)
    >>> m.reverse_complement().consensus
    'CT'
    """

    name: str
    probabilities: np.ndarray
    matrix_id: str | None = None
    counts: np.ndarray | None = field(default=None, repr=False)
    source: str | None = None

    def __post_init__(self):
        probabilities = np.asarray(self.probabilities, dtype=np.float64)
        if probabilities.ndim != 2 or probabilities.shape[0] != N_CHANNELS:
            raise ValueError(
                f"Motif {self.name!r}: probabilities must have shape (4, W); "
                f"got {probabilities.shape}. Transpose a (W, 4) matrix first."
            )
        if probabilities.shape[1] == 0:
            raise ValueError(f"Motif {self.name!r}: probabilities has width 0.")
        if not np.isfinite(probabilities).all() or (probabilities < 0).any():
            raise ValueError(f"Motif {self.name!r}: probabilities must be finite and >= 0.")
        sums = probabilities.sum(axis=0)
        if np.abs(sums - 1.0).max() > 1e-3:
            column = int(np.abs(sums - 1.0).argmax())
            raise ValueError(
                f"Motif {self.name!r}: every column must sum to 1; column {column} sums to "
                f"{sums[column]:.4g}. Use Motif.from_counts for count matrices."
            )
        probabilities = probabilities / sums
        probabilities.setflags(write=False)
        object.__setattr__(self, "probabilities", probabilities)
        if self.counts is not None:
            counts = np.asarray(self.counts, dtype=np.float64)
            counts.setflags(write=False)
            object.__setattr__(self, "counts", counts)

    @classmethod
    def from_counts(
        cls,
        name: str,
        counts,
        *,
        pseudocount: float = 1.0,
        background=UNIFORM_BACKGROUND,
        matrix_id: str | None = None,
        source: str | None = None,
    ) -> Motif:
        """Build a motif from a (4, W) count matrix.

        ``p[b, i] = (counts[b, i] + pseudocount * background[b]) / (n_i + pseudocount)``, where
        ``n_i`` is the column total: ``pseudocount`` pseudo-sites spread by the background.
        """
        counts = np.asarray(counts, dtype=np.float64)
        if counts.ndim != 2 or counts.shape[0] != N_CHANNELS:
            raise ValueError(f"Motif {name!r}: counts must have shape (4, W); got {counts.shape}.")
        if (counts < 0).any() or not np.isfinite(counts).all():
            raise ValueError(f"Motif {name!r}: counts must be finite and >= 0.")
        if pseudocount < 0:
            raise ValueError(f"pseudocount must be >= 0; got {pseudocount}.")
        bg = check_background(background)
        totals = counts.sum(axis=0)
        if ((totals + pseudocount) <= 0).any():
            raise ValueError(f"Motif {name!r}: a column has no counts and pseudocount is 0.")
        probabilities = (counts + pseudocount * bg[:, None]) / (totals + pseudocount)
        return cls(name, probabilities, matrix_id=matrix_id, counts=counts, source=source)

    @property
    def width(self) -> int:
        """Number of positions W."""
        return int(self.probabilities.shape[1])

    @property
    def consensus(self) -> str:
        """The most probable base at each position."""
        return "".join(ALPHABET[i] for i in self.probabilities.argmax(axis=0))

    def log_odds(self, background=UNIFORM_BACKGROUND) -> np.ndarray:
        """Position weight matrix ``log2(p / background)``, shape (4, W)."""
        bg = check_background(background)
        with np.errstate(divide="ignore"):
            return np.log2(self.probabilities / bg[:, None])

    def information_content(self, background=UNIFORM_BACKGROUND) -> np.ndarray:
        """Per-position information content in bits: ``sum_b p log2(p / bg)``, shape (W,)."""
        p = self.probabilities
        bg = check_background(background)
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(p > 0, p * np.log2(p / bg[:, None]), 0.0)
        return terms.sum(axis=0)

    def reverse_complement(self) -> Motif:
        """The motif on the other strand (ACGT order makes complementing a channel flip)."""
        counts = None if self.counts is None else self.counts[::-1, ::-1].copy()
        return Motif(
            self.name,
            self.probabilities[::-1, ::-1].copy(),
            matrix_id=self.matrix_id,
            counts=counts,
            source=self.source,
        )

    def consensus_one_hot(self) -> np.ndarray:
        """The consensus as a (4, W) float32 one-hot array."""
        onehot = np.zeros((N_CHANNELS, self.width), dtype=np.float32)
        onehot[self.probabilities.argmax(axis=0), np.arange(self.width)] = 1.0
        return onehot

    def sample(self, n: int, *, random_state=None) -> np.ndarray:
        """Draw ``n`` instances, each base independently from its column: (n, 4, W) float32.

        Examples
        --------
        >>> Motif("A", [[1.0], [0.0], [0.0], [0.0]]).sample(2, random_state=0)[:, :, 0].tolist()
        [[1.0, 0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]]
        """
        rng = check_random_state(random_state)
        cumulative = np.cumsum(self.probabilities, axis=0)
        draws = rng.random((n, 1, self.width))
        tokens = np.minimum((draws > cumulative[None]).sum(axis=1), N_CHANNELS - 1)
        onehot = np.zeros((n, N_CHANNELS, self.width), dtype=np.float32)
        rows, cols = np.indices(tokens.shape)
        onehot[rows, tokens, cols] = 1.0
        return onehot

    def score(self, onehot, background=UNIFORM_BACKGROUND) -> np.ndarray:
        """Log-odds score of (n, 4, W) one-hot windows under this motif: shape (n,)."""
        window = np.asarray(onehot, dtype=np.float64)
        return np.einsum("nbw,bw->n", window, self.log_odds(background))

    def max_score(self, background=UNIFORM_BACKGROUND) -> float:
        """The highest log-odds score any window can reach."""
        return float(self.log_odds(background).max(axis=0).sum())

    def __repr__(self) -> str:
        ident = f", matrix_id={self.matrix_id!r}" if self.matrix_id else ""
        return f"Motif({self.name!r}{ident}, width={self.width}, consensus={self.consensus!r})"


__all__ = ["UNIFORM_BACKGROUND", "Motif", "check_background"]
