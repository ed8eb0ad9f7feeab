"""Where BED windows lie in the genome, checked before any sequence is read.

Every command that cuts fixed-length windows centred on BED intervals (``cislens extract``,
``cislens attribute --bed``, ``cislens run`` with ``data.bed``) places them by one rule: the
window of an interval ``[start, end)`` starts at ``(start + end) // 2 - length // 2`` and is
``length`` bp long; a minus-strand interval's window is read reverse-complemented.
:func:`bed_windows` computes every window from the BED file and the genome's index alone and
refuses, in one line naming the interval (``file:line``, ``chrom:start-end``, the chromosome's
length) and the fix, a window that runs off its chromosome, unless ``pad_with_n``. The same
table maps positions of a window back to the genome (:func:`to_genome`), which is how bigWig
tracks and hit BED files get genome coordinates.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from cislens.utils.validation import check_positive_int

WINDOW_COLUMNS = ("chrom", "start", "end", "strand", "name")
"""Columns of a window table: chrom, start / end (0-based, end exclusive; may lie beyond the
chromosome when N-padded), strand (``+`` or ``-``: ``-`` windows were reverse-complemented) and
name (the interval's name, :func:`cislens.sequence.fasta.interval_names`)."""


def chrom_sizes(genome) -> dict[str, int]:
    """The genome's chromosome names and lengths, in file order (pyfaidx's ``.fai`` index).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> genome = pathlib.Path(tempfile.mkdtemp()) / "g.fa"
    >>> _ = genome.write_text(">chr1\\nACGTACGT\\n>chr2\\nAC\\n")
    >>> chrom_sizes(genome)
    {'chr1': 8, 'chr2': 2}
    """
    import pyfaidx

    if not os.path.exists(genome):
        raise FileNotFoundError(f"genome FASTA not found: {genome}")
    with pyfaidx.Fasta(str(genome), as_raw=True) as handle:
        return {str(name): len(handle[name]) for name in handle.keys()}


def _where(source, label: str) -> str:
    # read_bed_lines labels rows "line 12" (a file) or "row 3" (a DataFrame).
    if isinstance(source, (str, Path)) and label.startswith("line "):
        return f"{source}:{label[5:]}"
    return f"BED intervals {label}"


def bed_windows(
    bed,
    genome,
    *,
    length: int,
    pad_with_n: bool = False,
    use_strand: bool = True,
    fix: str = "pass pad_with_n=True to pad it with N",
) -> pd.DataFrame:
    """The window of every BED interval, checked against the genome before anything is read.

    Parameters
    ----------
    bed : str, Path or pandas.DataFrame
        Intervals (:func:`cislens.sequence.read_bed`).
    genome : str or Path
        The genome FASTA (its ``.fai`` index is built if missing).
    length : int
        Window length.
    pad_with_n : bool
        Accept windows that run off a chromosome (the missing part is read as N).
    use_strand : bool
        Minus-strand intervals' windows are reverse-complemented (strand ``-``); False: all ``+``.
    fix : str
        How the caller's user turns padding on (``"pass --pad-with-n"``, ``"set
        data.pad_with_n: true"``): the error says it.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`WINDOW_COLUMNS`, one row per interval in file order.

    Raises
    ------
    ValueError
        One line: a chromosome missing from the genome, or a window running off its chromosome
        without ``pad_with_n``, naming ``file:line``, the interval, the window, the chromosome's
        length and the fix.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "g.fa").write_text(">chr1\\nAAAACCCCGGGGTTTT\\n")
    >>> _ = (folder / "r.bed").write_text("chr1\\t4\\t8\\tp1\\t0\\t-\\nchr1\\t12\\t16\\tp2\\n")
    >>> bed_windows(folder / "r.bed", folder / "g.fa", length=4).values.tolist()
    [['chr1', 4, 8, '-', 'p1'], ['chr1', 12, 16, '+', 'p2']]
    >>> try:
    ...     bed_windows(folder / "r.bed", folder / "g.fa", length=8)
    ... except ValueError as error:
    ...     print(str(error).split("r.bed")[1].split(";")[0])
    :2: interval chr1:12-16: its 8 bp window chr1:10-18 runs off chr1 (length 16)
    """
    from cislens.sequence.fasta import interval_names, read_bed_lines

    check_positive_int(length, "length")
    frame, lines = read_bed_lines(bed)
    sizes = chrom_sizes(genome)
    chroms = frame["chrom"].astype(str).to_numpy()
    unknown = np.flatnonzero(~np.isin(chroms, list(sizes)))
    if unknown.size:
        i = int(unknown[0])
        raise ValueError(
            f"{_where(bed, lines[i])}: chromosome {chroms[i]!r} is not in the genome {genome} "
            f"(it has {list(sizes)[:5]}{' ...' if len(sizes) > 5 else ''}); use the genome the "
            "BED file refers to, or drop the interval."
        )
    starts = frame["start"].to_numpy(np.int64)
    ends = frame["end"].to_numpy(np.int64)
    begin = (starts + ends) // 2 - int(length) // 2
    stop = begin + int(length)
    limits = np.array([sizes[c] for c in chroms], dtype=np.int64)
    if not pad_with_n:
        off = np.flatnonzero((begin < 0) | (stop > limits))
        if off.size:
            i = int(off[0])
            more = f" ({off.size - 1} more intervals do too)" if off.size > 1 else ""
            raise ValueError(
                f"{_where(bed, lines[i])}: interval {chroms[i]}:{starts[i]}-{ends[i]}: its "
                f"{length} bp window {chroms[i]}:{begin[i]}-{stop[i]} runs off {chroms[i]} "
                f"(length {limits[i]}){more}; {fix}, or drop the interval."
            )
    if use_strand and "strand" in frame.columns:
        strands = np.where(frame["strand"].astype(str).to_numpy() == "-", "-", "+")
    else:
        strands = np.full(len(frame), "+")
    return pd.DataFrame(
        {
            "chrom": chroms,
            "start": begin,
            "end": stop,
            "strand": strands,
            "name": interval_names(frame),
        }
    )


def to_genome(windows: pd.DataFrame, rows, start, end, strand=None):
    """Map ``[start, end)`` positions of windows ``rows`` (and a strand) to genome coordinates.

    A position ``p`` of a ``+`` window is base ``window_start + p``; a ``-`` window was read
    reverse-complemented, so its position ``p`` is base ``window_end - 1 - p`` and a hit on its
    ``+`` strand lies on the genome's ``-`` strand.

    Returns
    -------
    (chrom, start, end, strand) : numpy arrays
        ``strand`` is None when none was given.

    Examples
    --------
    >>> w = pd.DataFrame({"chrom": ["c1", "c1"], "start": [100, 200], "end": [110, 210],
    ...                   "strand": ["+", "-"], "name": ["a", "b"]})
    >>> [x.tolist() for x in to_genome(w, [0, 1], [2, 2], [5, 5], ["+", "+"])]
    [['c1', 'c1'], [102, 205], [105, 208], ['+', '-']]
    """
    rows = np.asarray(rows, dtype=np.int64)
    start, end = np.asarray(start, dtype=np.int64), np.asarray(end, dtype=np.int64)
    minus = windows["strand"].to_numpy()[rows] == "-"
    first = windows["start"].to_numpy(np.int64)[rows]
    last = windows["end"].to_numpy(np.int64)[rows]
    g_start = np.where(minus, last - end, first + start)
    g_end = np.where(minus, last - start, first + end)
    chrom = windows["chrom"].to_numpy()[rows]
    if strand is None:
        return chrom, g_start, g_end, None
    strand = np.asarray(strand).astype(str)
    flipped = np.where(strand == "+", "-", np.where(strand == "-", "+", strand))
    return chrom, g_start, g_end, np.where(minus, flipped, strand)


__all__ = ["WINDOW_COLUMNS", "bed_windows", "chrom_sizes", "to_genome"]
