"""Where discovery reads its windows from: in-memory arrays, array-likes, or kept windows only.

Discovery reads one-hot and hypothetical windows around seqlets many times (alignment,
aggregation, splitting, merging, the significance test). :class:`SeqletSource` reads them from
in-memory (N, 4, L) arrays. For inputs that should not be loaded whole (a Zarr array, an h5py
dataset: anything with ``.shape`` and slicing along the first axis), :func:`iter_chunks` walks
them ``chunk_size`` sequences at a time, and :class:`WindowSource` keeps only the stretches of
sequence around the seqlets (each seqlet padded by ``pad`` bases on both sides, overlapping
stretches merged), so memory grows with the seqlets, not with the input. A window that reaches
past the kept stretches is read from a fallback source (rare; the default padding covers every
alignment the aggregation makes), so the windows are always exactly those of the full arrays.
"""

from __future__ import annotations

import numpy as np

from cislens.motifs.aggregate import SeqletSource, oriented


def is_in_memory(values) -> bool:
    """True for NumPy arrays and torch tensors (read whole), False for other array-likes."""
    return isinstance(values, np.ndarray) or hasattr(values, "numpy")


def iter_chunks(values, chunk_size: int):
    """``(start, float32 array)`` for consecutive blocks of ``chunk_size`` rows of an array-like.

    Examples
    --------
    >>> [(start, block.shape) for start, block in iter_chunks(np.zeros((5, 4, 3)), 2)]
    [(0, (2, 4, 3)), (2, (2, 4, 3)), (4, (1, 4, 3))]
    """
    n = int(values.shape[0])
    for start in range(0, n, chunk_size):
        block = values[start : min(start + chunk_size, n)]
        if hasattr(block, "numpy"):  # a torch tensor
            block = block.detach().cpu().numpy()
        yield start, np.asarray(block, dtype=np.float32)


class RowSource:
    """Windows read straight from array-likes X and H, only the rows asked for (a fallback)."""

    def __init__(self, X, H):
        self.X, self.H = X, H
        self.length = int(X.shape[2])

    def windows(self, example, gstart, rc, width):
        """Like :meth:`SeqletSource.windows`."""
        example = np.asarray(example, dtype=np.int64)
        rows, local = np.unique(example, return_inverse=True)
        X = np.stack([np.asarray(self.X[int(r)], dtype=np.float32) for r in rows])
        H = np.stack([np.asarray(self.H[int(r)], dtype=np.float32) for r in rows])
        return SeqletSource(X, H).windows(local, gstart, rc, width)


def merged_segments(example, start, end, pad: int, length: int):
    """Sorted, disjoint ``(example, lo, hi)`` stretches covering each ``[start - pad, end + pad)``.

    Examples
    --------
    >>> merged_segments(np.array([0, 0, 1]), np.array([10, 20, 5]), np.array([15, 25, 9]), 3, 30)
    (array([0, 1]), array([7, 2]), array([28, 12]))
    """
    example = np.asarray(example, dtype=np.int64)
    lo = np.clip(np.asarray(start, dtype=np.int64) - pad, 0, length)
    hi = np.clip(np.asarray(end, dtype=np.int64) + pad, 0, length)
    order = np.lexsort((lo, example))
    example, lo, hi = example[order], lo[order], hi[order]
    if example.size == 0:
        return example, lo, hi
    # Along one axis (example-major), a new stretch starts where no earlier interval reaches lo;
    # a new example always starts a new stretch because its coordinates are larger.
    g_lo = lo + example * (length + 1)
    reach = np.maximum.accumulate(hi + example * (length + 1))
    new = np.ones(example.size, dtype=bool)
    new[1:] = g_lo[1:] > reach[:-1]
    groups = np.cumsum(new) - 1
    seg_hi = np.zeros(groups[-1] + 1, dtype=np.int64)
    np.maximum.at(seg_hi, groups, hi)
    return example[new], lo[new], seg_hi


def _kept_segments(table, pad: int, length: int):
    """The merged stretches around the seqlets of ``table`` (example, lo, hi), their offsets in
    the kept buffers, and the zeroed (4, total) buffers for X and H."""
    example, lo, hi = merged_segments(
        table["example"].to_numpy(),
        table["start"].to_numpy(),
        table["end"].to_numpy(),
        pad,
        length,
    )
    offsets = np.concatenate([[0], np.cumsum(hi - lo)]).astype(np.int64)
    keep_x = np.zeros((4, int(offsets[-1])), dtype=np.float32)
    return example, lo, hi, offsets, keep_x, np.zeros_like(keep_x)


class WindowSource:
    """One-hot and hypothetical values kept only over given stretches of given sequences.

    Parameters
    ----------
    length : int
        Sequence length L of the full input.
    example, lo, hi : int arrays
        The kept stretches (sorted by example then ``lo``, disjoint; see
        :func:`merged_segments`).
    X, H : float32 arrays (4, T)
        Their values, stretch after stretch (``T = sum(hi - lo)``).
    fallback : object with ``windows``
        Where windows reaching past the kept stretches are read.
    """

    def __init__(self, length, example, lo, hi, X, H, fallback):
        self.length = int(length)
        self.example, self.lo, self.hi = example, lo, hi
        self.offsets = np.concatenate([[0], np.cumsum(hi - lo)]).astype(np.int64)
        self.X, self.H = X, H
        self.fallback = fallback
        self.n_fallback = 0
        self._keys = example * (self.length + 1) + lo

    @property
    def nbytes(self) -> int:
        """Memory held by the kept values, in bytes."""
        return int(self.X.nbytes + self.H.nbytes)

    @classmethod
    def from_chunks(cls, X, H, table, *, pad: int, chunk_size: int = 1024):
        """Keep the stretches around the seqlets of ``table``, reading X and H in chunks."""
        length = int(X.shape[2])
        example, lo, hi, offsets, keep_x, keep_h = _kept_segments(table, pad, length)
        needed = np.unique(example)
        for begin in range(0, int(X.shape[0]), chunk_size):
            end = min(begin + chunk_size, int(X.shape[0]))
            segments = np.flatnonzero((example >= begin) & (example < end))
            if segments.size == 0:
                continue
            # read only the rows of this chunk that hold a seqlet
            rows = needed[(needed >= begin) & (needed < end)]
            first, last = int(rows[0]), int(rows[-1]) + 1
            x_block = np.asarray(X[first:last], dtype=np.float32)
            h_block = np.asarray(H[first:last], dtype=np.float32)
            for s in segments:
                row = example[s] - first
                keep_x[:, offsets[s] : offsets[s + 1]] = x_block[row, :, lo[s] : hi[s]]
                keep_h[:, offsets[s] : offsets[s + 1]] = h_block[row, :, lo[s] : hi[s]]
            del x_block, h_block
        return cls(length, example, lo, hi, keep_x, keep_h, RowSource(X, H))

    @classmethod
    def from_source(cls, source, table, *, pad: int, length: int, batch: int = 256):
        """Keep the stretches around the seqlets of ``table``, read from another source."""
        example, lo, hi, offsets, keep_x, keep_h = _kept_segments(table, pad, length)
        for begin in range(0, example.size, batch):
            part = slice(begin, min(begin + batch, example.size))
            width = int((hi[part] - lo[part]).max())
            rc = np.zeros(hi[part].size, dtype=bool)
            onehot, hyp, _ = source.windows(example[part], lo[part], rc, width)
            for j, s in enumerate(range(part.start, part.stop)):
                span = hi[s] - lo[s]
                keep_x[:, offsets[s] : offsets[s + 1]] = onehot[j, :, :span]
                keep_h[:, offsets[s] : offsets[s + 1]] = hyp[j, :, :span]
        return cls(length, example, lo, hi, keep_x, keep_h, source)

    def locate(self, example, start, end):
        """Stretch index holding ``[start, end)`` of ``example`` for each row, -1 if none."""
        keys = np.asarray(example, dtype=np.int64) * (self.length + 1) + start
        index = np.searchsorted(self._keys, keys, side="right") - 1
        safe = np.clip(index, 0, max(self._keys.size - 1, 0))
        if self._keys.size == 0:
            return np.full(keys.size, -1)
        inside = (
            (index >= 0)
            & (self.example[safe] == example)
            & (self.lo[safe] <= start)
            & (self.hi[safe] >= end)
        )
        return np.where(inside, index, -1)

    def windows(self, example, gstart, rc, width):
        """Like :meth:`SeqletSource.windows`, and equal to it on the full arrays."""
        example = np.asarray(example, dtype=np.int64)
        gstart = np.asarray(gstart, dtype=np.int64)
        flip = np.asarray(rc, dtype=bool)
        length = self.length
        steps = np.arange(width)
        positions = np.where(
            flip[:, None], gstart[:, None] + width - 1 - steps, gstart[:, None] + steps
        )
        mask = (positions >= 0) & (positions < length)
        start = np.clip(gstart, 0, length)
        end = np.clip(gstart + width, 0, length)
        segment = self.locate(example, start, end)
        empty = end <= start  # wholly outside the sequence: all masked, nothing to read
        segment = np.where(empty, 0, segment)
        miss = np.flatnonzero(segment < 0)
        seg = np.maximum(segment, 0)
        if self.offsets[-1] > 0:
            flat = self.offsets[seg][:, None] + np.clip(
                positions - self.lo[np.minimum(seg, self.lo.size - 1)][:, None], 0, None
            )
            flat = np.clip(flat, 0, self.offsets[-1] - 1)
            onehot = self.X[:, flat].transpose(1, 0, 2)
            hyp = self.H[:, flat].transpose(1, 0, 2)
        else:
            onehot = np.zeros((example.size, 4, width), dtype=np.float32)
            hyp = np.zeros_like(onehot)
        onehot, hyp = oriented(onehot, hyp, flip, mask)
        if miss.size:
            self.n_fallback += int(miss.size)
            onehot[miss], hyp[miss], _ = self.fallback.windows(
                example[miss], gstart[miss], flip[miss], width
            )
        return onehot, hyp, mask


def check_array_like(values, name):
    """An array-like read in chunks (Zarr, h5py): (N, 4, L), sliceable along the first axis."""
    shape = tuple(getattr(values, "shape", ()))
    if len(shape) != 3 or shape[1] != 4 or not hasattr(values, "__getitem__"):
        raise ValueError(
            f"{name} must be an (N, 4, L) array or array-like with .shape and slicing (a NumPy "
            f"array, torch tensor, Zarr array or h5py dataset); got {type(values).__name__} "
            f"with shape {shape}."
        )
    if shape[0] == 0:
        raise ValueError(f"{name} is empty; pass at least one sequence.")
    return values


def scan(X, H, chunk_size, *, window_size: int | None = None):
    """One pass over the inputs, ``chunk_size`` sequences at a time.

    Returns the per-position projected scores ``sum_b X * H`` (N, L) float64 (what seqlet
    calling needs), the largest ``|X * H|`` and the base counts (4,) float64; raises on NaN or
    inf. Chunking keeps the full ``X * H`` product, and its float64 copy, from ever being held.
    With ``window_size``, the first value is instead their window sums (N, L - W + 1)
    (:func:`cislens.motifs.seqlets.window_sums`, the same values), made chunk by chunk, so the
    (N, L) scores never exist whole.
    """
    from cislens.motifs.seqlets import window_sums

    n, _, length = (int(d) for d in X.shape)
    width = length if window_size is None else length - window_size + 1
    scores = np.empty((n, width), dtype=np.float64)
    largest = 0.0
    counts = np.zeros(4, dtype=np.float64)
    for (start, x), (_, h) in zip(
        iter_chunks(X, chunk_size), iter_chunks(H, chunk_size), strict=True
    ):
        for name, block in (("X", x), ("hypothetical", h)):
            if not np.isfinite(block).all():
                raise ValueError(f"{name} contains NaN or infinite values.")
        contrib = x * h
        per_position = contrib.astype(np.float64).sum(axis=1)
        rows = slice(start, start + x.shape[0])
        if window_size is None:
            scores[rows] = per_position
        else:
            window_sums(per_position, window_size, out=scores[rows])
        largest = max(largest, float(np.abs(contrib).max()))
        counts += x.sum(axis=2, dtype=np.float64).sum(axis=0)
    return scores, largest, counts


def open_zarr_attributions(path):
    """A Zarr attribution store for motif discovery, opened read-only.

    Returns the :class:`~cislens.io.AttributionSet` of
    :func:`cislens.scale.read.load_zarr_attributions` (``X``, ``hypothetical`` and
    ``attributions`` are Zarr arrays, read lazily). A store without hypothetical scores, or
    one written by ``cislens attribute --out attr.zarr`` whose ``completed`` markers show
    unfinished row blocks, is refused.
    """
    from cislens.scale.read import load_zarr_attributions

    result = load_zarr_attributions(path)
    if result.hypothetical is None:
        raise ValueError(
            f"the Zarr store '{path}' has no array 'hypothetical'; motif discovery needs "
            "'sequences' (one-hot, N x 4 x L) and 'hypothetical' scores. Compute them with a "
            "method that has hypothetical scores."
        )
    return result


__all__ = [
    "RowSource",
    "WindowSource",
    "check_array_like",
    "is_in_memory",
    "iter_chunks",
    "merged_segments",
    "open_zarr_attributions",
    "scan",
]
