"""Aligning the activating windows of a strand-symmetric ARGMINN filter.

A filter that reads both strands (``reverse_complement=True``) reports, for each window, the
strand whose score won. That strand aligns the window in the filter's PFM. For most filters it
is the motif's strand. A filter whose weights are (nearly) their own reverse complement scores
a window and its reverse complement alike, so the winning strand is a coin toss: on
``nrf1_zeb1`` the ZEB1 filter's forward and reverse scores on the planted ``CACCTG`` sites were
equal (0.31 and 0.31, one placement apart), and its PFM mixed ``CAGGTG`` with ``CACCTG``
into ``CA[CG][CG]TG``.

For such a filter the model itself cannot tell the two orientations apart: its forward- and
reverse-strand token features are equal on every site. :func:`strand_symmetry` measures that,
and :func:`orient_windows` then aligns every window by its agreement with the others (the most
frequent core, then the PFM) instead of by the winning strand. A filter whose strands differ
keeps the winning strand.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

SHIFTS = 3
"""Placements on either side where :func:`other_strand_scores` looks for the other strand."""

SYMMETRY_THRESHOLD = 0.8
"""A filter counts as strand-symmetric when the median, over its activating windows, of
``min(forward, reverse) / max(forward, reverse)`` (scores clipped at 0) is at least this."""


def strand_scores(model, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The scanner's forward and reverse-strand scores before the ReLU, each (N, F, P).

    Examples
    --------
    >>> from cislens.argminn import ARGMINN
    >>> model = ARGMINN(n_tasks=1, n_filters=2, filter_width=5, random_state=0).eval()
    >>> f, r = strand_scores(model, torch.zeros(1, 4, 12))
    >>> f.shape, r.shape
    (torch.Size([1, 2, 8]), torch.Size([1, 2, 8]))
    """
    weight, bias = model.scanner.weight, model.scanner.bias
    forward = F.conv1d(x, weight, bias)
    # complementing the bases is a flip of the ACGT axis; reversing is a flip of the columns
    reverse = F.conv1d(x, weight.flip(1, 2), bias)
    return forward, reverse


def other_strand_scores(
    forward: torch.Tensor, reverse: torch.Tensor, n, p, minus, *, max_shift: int = SHIFTS
) -> torch.Tensor:
    """The losing strand's scores (n, 2 * max_shift + 1) near each window ``(n, p)``: the
    reverse strand at placements ``p + d`` for a forward-strand window, the forward strand at
    ``p - d`` for a reverse-strand one, ``d`` in ``-max_shift .. max_shift`` (clipped to the
    sequence). A filter that is its own reverse complement up to a shift fires on the other
    strand ``d`` placements away (a 6 bp palindrome read by a 15 bp filter off its centre)."""
    shifts = torch.arange(-max_shift, max_shift + 1)
    sign = torch.where(minus, -1, 1)
    q = (p[:, None] + sign[:, None] * shifts[None]).clamp(0, forward.shape[-1] - 1)
    other = torch.where(minus[:, None], forward[n[:, None], q], reverse[n[:, None], q])
    return other


def strand_symmetry(winning: np.ndarray, other: np.ndarray) -> float:
    """How alike a filter scores its windows on the two strands, in [0, 1]: the largest, over
    the shifts of :func:`other_strand_scores`, of the median over the filter's activating
    windows of ``min / max`` of the winning strand's score and the other strand's (clipped at
    0). 1: every window and its reverse complement score alike; near 0: one strand decides.
    NaN without windows.

    Examples
    --------
    >>> round(strand_symmetry(np.array([1.0, 0.8]), np.array([[0.0, 1.0], [0.1, 0.9]])), 3)
    0.944
    >>> round(strand_symmetry(np.array([2.0, 3.0]), np.array([[-1.0], [0.3]])), 3)
    0.05
    """
    w = np.maximum(np.asarray(winning, dtype=float), 0.0)[:, None]
    if w.size == 0:
        return float("nan")
    o = np.maximum(np.asarray(other, dtype=float).reshape(len(w), -1), 0.0)
    ratio = np.minimum(w, o) / np.maximum(np.maximum(w, o), 1e-12)
    return float(np.median(ratio, axis=0).max())


def _reverse_complement(windows: np.ndarray) -> np.ndarray:
    return windows[:, ::-1, ::-1]


def orient_windows(
    X: np.ndarray, hits: np.ndarray, minus: np.ndarray, span: tuple[int, int], width: int
) -> tuple[np.ndarray, np.ndarray]:
    """Align a strand-symmetric filter's windows by agreement instead of by winning strand.

    Parameters
    ----------
    X : array (N, 4, L)
        The one-hot sequences.
    hits : int array (n, 2)
        ``(sequence, placement)`` of the filter's activating windows.
    minus : bool array (n,)
        Where the reverse strand won (the alignment the PFM used so far).
    span : (int, int)
        The filter's trimmed core ``[start, end)`` in PFM columns under that alignment.
    width : int
        The filter width W.

    Returns
    -------
    windows : array (n, 4, W)
        Each window in its chosen orientation, with its core at columns ``span`` either way
        (a flipped window is read from the placement that puts the core's reverse complement
        there; one that would leave the sequence keeps its winning strand).
    flipped : bool array (n,)
        Windows oriented against their winning strand.

    Two rounds: each window takes the orientation whose core agrees best with the most
    frequent core (counted up to reverse complement, ties keep the winning strand), then the
    orientation with the higher log-likelihood under the PFM of that alignment.

    Examples
    --------
    >>> from cislens.sequence import one_hot_encode
    >>> X = one_hot_encode(["TTCAGGTGTT", "AACACCTGAA", "GGCAGGTGCC"]).numpy()
    >>> hits = np.array([[0, 1], [1, 1], [2, 1]])
    >>> w, flipped = orient_windows(X, hits, np.zeros(3, bool), (1, 7), 8)
    >>> ["".join("ACGT"[i] for i in x.argmax(0))[1:7] for x in w]
    ['CACCTG', 'CACCTG', 'CACCTG']
    """
    start, end = span
    n, p = hits[:, 0], hits[:, 1]
    length = X.shape[2]
    core_first = np.where(minus, p + width - end, p + start)  # sequence start of the core
    plus_at = core_first - start  # forward window with the core at columns [start, end)
    minus_at = core_first + end - width  # its reverse complement does the same
    windows = {}
    for strand, at in (("+", plus_at), ("-", minus_at)):
        ok = (at >= 0) & (at <= length - width)
        idx = at[:, None] + np.arange(width)[None]
        w = X[n[:, None], :, np.clip(idx, 0, length - 1)].transpose(0, 2, 1)
        windows[strand] = (w if strand == "+" else _reverse_complement(w)), ok
    (plus, plus_ok), (minus_w, minus_ok) = windows["+"], windows["-"]
    both = plus_ok & minus_ok

    def cores(w):
        return [bytes(row) for row in w[:, :, start:end].argmax(1).astype(np.uint8)]

    core_plus, core_minus = cores(plus), cores(minus_w)
    canonical: dict[bytes, int] = {}
    for a, b in zip(core_plus, core_minus, strict=True):
        key = min(a, b)
        canonical[key] = canonical.get(key, 0) + 1
    seed = np.frombuffer(max(canonical, key=lambda k: (canonical[k], k)), dtype=np.uint8)
    agree_plus = plus[:, :, start:end].argmax(1) == seed
    agree_minus = minus_w[:, :, start:end].argmax(1) == seed
    score = agree_minus.sum(1).astype(float) - agree_plus.sum(1)
    use_minus = np.where(score == 0, minus, score > 0)
    for _ in range(2):  # refine with the PFM over the whole window
        use_minus = np.where(both, use_minus, np.where(plus_ok, False, True))
        chosen = np.where(use_minus[:, None, None], minus_w, plus)
        log_pfm = np.log(chosen.mean(0) + 0.01)
        diff = (minus_w * log_pfm).sum((1, 2)) - (plus * log_pfm).sum((1, 2))
        use_minus = np.where(np.abs(diff) < 1e-9, use_minus, diff > 0)
    use_minus = np.where(both, use_minus, np.where(plus_ok, False, True))
    chosen = np.where(use_minus[:, None, None], minus_w, plus)
    return np.ascontiguousarray(chosen), use_minus != minus


__all__ = [
    "SYMMETRY_THRESHOLD",
    "orient_windows",
    "other_strand_scores",
    "strand_scores",
    "strand_symmetry",
]
