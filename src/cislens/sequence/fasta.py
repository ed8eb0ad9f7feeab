"""FASTA files and genomic intervals: streaming reads, writes, and BED + genome extraction.

``iter_fasta`` streams records one at a time (plain or gzip, detected from the file's first
bytes), so files larger than memory can be encoded chunk by chunk. ``extract_intervals`` cuts
fixed-length windows centred on BED intervals out of an indexed genome (pyfaidx).
"""

from __future__ import annotations

import gzip
import io
import os
import re
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import torch

from cislens.sequence.onehot import decode, one_hot_encode, reverse_complement
from cislens.utils.files import atomic_output
from cislens.utils.types import Array, PathLike
from cislens.utils.validation import check_choice, check_positive_int

_GZIP_MAGIC = b"\x1f\x8b"
BED_COLUMNS = ["chrom", "start", "end", "name", "score", "strand"]
_DUPLICATE_MODES = ("raise", "keep")
# A sequence line holds only the letters one_hot_encode accepts (A, C, G, T, N and the IUPAC
# codes, any case). Anything else, a space inside the line included, is refused rather than
# dropped: a silently edited sequence shifts every position after it.
_NOT_SEQUENCE = re.compile(r"[^ABCDGHKMNRSTVWYabcdghkmnrstvwy]")


class FastaRecord(NamedTuple):
    """One FASTA record: the header's first word as ``name``, the full header, the sequence."""

    name: str
    sequence: str
    description: str = ""


def open_text(path, mode: str = "rt"):
    path = Path(path)
    if "r" in mode:
        if not path.exists():
            raise FileNotFoundError(f"FASTA file not found: {path}")
        with open(path, "rb") as handle:
            magic = handle.read(2)
        if magic == _GZIP_MAGIC:
            return gzip.open(path, mode, encoding="ascii", errors="replace")
        return open(path, mode, encoding="ascii", errors="replace")
    if path.suffix == ".gz":
        return gzip.open(path, mode, encoding="ascii")
    return open(path, mode, encoding="ascii")


def check_sequence_line(line: str, *, path, line_number: int, record: str) -> None:
    """Refuse a FASTA sequence line (already stripped at both ends) with a non-sequence character.

    The one rule for every FASTA reader in cislens (:func:`iter_fasta` and the chunked
    ``FastaSource``): a space, tab, digit, gap or any letter that is not an IUPAC base is an
    error naming the file, line, column and record, never silently removed.
    """
    bad = _NOT_SEQUENCE.search(line)
    if bad is not None:
        raise ValueError(
            f"{path}: line {line_number} (record {record!r}) has {bad.group()!r} at column "
            f"{bad.start() + 1}; sequence lines may hold only IUPAC bases (A, C, G, T, N, R, Y, "
            "...) with no spaces. Remove or replace the character in the file."
        )


def check_unique_name(seen: dict, name: str, *, path, line_number: int) -> None:
    """Record ``name`` (header on ``line_number``) in ``seen``; refuse a name seen before.

    Duplicate record names would make name-keyed outputs (a shuffled FASTA, a Zarr store's ids,
    labels matched by name) keep one record and drop or mislabel the other.
    """
    if name in seen:
        raise ValueError(
            f"{path}: the record name {name!r} appears twice (headers on lines {seen[name]} and "
            f"{line_number}); record names (the header's first word) must be unique. Rename one "
            "of them."
        )
    seen[name] = line_number


def iter_fasta(path: PathLike, *, duplicate_names: str = "raise") -> Iterator[FastaRecord]:
    """Stream the records of a FASTA file (plain or gzip) without loading it whole.

    Parameters
    ----------
    path : str or Path
        The file. Gzip is detected from its content, not its name.
    duplicate_names : {"raise", "keep"}
        A record name (the header's first word) seen twice raises ``ValueError`` naming both
        header lines (default); "keep" yields every record, for callers that work by position.

    Yields
    ------
    FastaRecord
        ``(name, sequence, description)``; line breaks and the whitespace at both ends of a line
        removed.

    Raises
    ------
    FileNotFoundError, ValueError
        A missing file; sequence text before the first ``>`` header; a character other than an
        IUPAC base inside a sequence line (a space included); a repeated record name. Each names
        the line.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "x.fa"
    >>> _ = path.write_text(">s1 first\\nACGT\\nAC\\n>s2\\nGG\\n")
    >>> [(r.name, r.sequence) for r in iter_fasta(path)]
    [('s1', 'ACGTAC'), ('s2', 'GG')]
    """
    check_choice(duplicate_names, _DUPLICATE_MODES, name="duplicate_names")
    seen: dict[str, int] = {}
    with open_text(path) as handle:
        header = None
        chunks: list[str] = []
        for line_number, line in enumerate(handle, start=1):
            line = line.strip()
            if not line or line.startswith(";"):
                continue
            if line.startswith(">"):
                if header is not None:
                    yield _record(header, chunks)
                header, chunks = line[1:].strip(), []
                if duplicate_names == "raise":
                    check_unique_name(seen, _name(header), path=path, line_number=line_number)
            elif header is None:
                raise ValueError(
                    f"{path}: line {line_number} has sequence text before any '>' header; "
                    "is this a FASTA file?"
                )
            else:
                check_sequence_line(line, path=path, line_number=line_number, record=_name(header))
                chunks.append(line)
        if header is not None:
            yield _record(header, chunks)


def _name(header: str) -> str:
    return header.split()[0] if header.split() else ""


def _record(header: str, chunks: list[str]) -> FastaRecord:
    return FastaRecord(_name(header), "".join(chunks), header)


def read_fasta(path: PathLike) -> dict[str, str]:
    """Read a whole FASTA file into an ordered ``{name: sequence}`` dict.

    Raises ``ValueError`` on duplicate names (``iter_fasta(path, duplicate_names="keep")``
    keeps them) and on non-sequence characters, as :func:`iter_fasta`.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "x.fa"
    >>> _ = path.write_text(">a\\nAC\\n>b\\nGT\\n")
    >>> read_fasta(path)
    {'a': 'AC', 'b': 'GT'}
    """
    return {record.name: record.sequence for record in iter_fasta(path)}


def iter_fasta_batches(
    path: PathLike, *, batch_size: int = 1024, length: int | None = None, start: int = 0
) -> Iterator[tuple[list[str], torch.Tensor]]:
    """Stream a FASTA file as one-hot batches: ``(names, X)`` with X of shape (B, 4, L).

    Memory stays bounded by ``batch_size`` however large the file. Sequences of different lengths
    need ``length`` (centre-trim or N-pad, as in :func:`one_hot_encode`). ``start`` skips the
    first records (a resumed run that already holds them).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "x.fa"
    >>> _ = path.write_text(">a\\nACGT\\n>b\\nGGTT\\n>c\\nAAAA\\n")
    >>> [(names, tuple(X.shape)) for names, X in iter_fasta_batches(path, batch_size=2)]
    [(['a', 'b'], (2, 4, 4)), (['c'], (1, 4, 4))]
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1; got {batch_size}.")
    if start < 0:
        raise ValueError(f"start must be >= 0 (records to skip); got {start}.")
    names: list[str] = []
    seqs: list[str] = []
    for record in islice(iter_fasta(path), start, None):
        names.append(record.name)
        seqs.append(record.sequence)
        if len(seqs) == batch_size:
            yield names, one_hot_encode(seqs, length=length)
            names, seqs = [], []
    if seqs:
        yield names, one_hot_encode(seqs, length=length)


def write_fasta(
    path: PathLike,
    sequences: dict[str, str] | Iterable[str] | Array,
    *,
    names: Iterable[str] | None = None,
    line_width: int = 60,
) -> None:
    """Write sequences to a FASTA file (gzip when the name ends in ``.gz``).

    Parameters
    ----------
    path : str or Path
        Output file.
    sequences : dict, list of str, or one-hot array (N, 4, L)
        A ``{name: sequence}`` dict, a list of strings, or a one-hot batch (decoded, N for
        all-zero columns).
    names : iterable of str, optional
        Record names for list or array input; default ``seq0``, ``seq1``, ...
    line_width : int
        Bases per line; 0 writes each sequence on one line.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "x.fa"
    >>> write_fasta(path, ["ACGT", "TTNA"], names=["a", "b"])
    >>> read_fasta(path)
    {'a': 'ACGT', 'b': 'TTNA'}
    """
    if isinstance(sequences, dict):
        if names is not None:
            raise ValueError("names must not be given when sequences is a dict (it has names).")
        items = list(sequences.items())
    else:
        if isinstance(sequences, (np.ndarray, torch.Tensor)):
            sequences = decode(sequences)
        elif isinstance(sequences, str):
            sequences = [sequences]
        sequences = list(sequences)
        names = [f"seq{i}" for i in range(len(sequences))] if names is None else list(names)
        if len(names) != len(sequences):
            raise ValueError(
                f"names has {len(names)} entries but there are {len(sequences)} sequences."
            )
        items = list(zip(names, sequences, strict=True))
    if line_width < 0:
        raise ValueError(f"line_width must be >= 0; got {line_width}.")
    # A temporary file moved into place: a failed write never leaves a truncated FASTA at path.
    with atomic_output(path) as temporary, open_text(temporary, "wt") as handle:
        for name, seq in items:
            handle.write(f">{name}\n")
            if line_width == 0 or len(seq) <= line_width:
                handle.write(f"{seq}\n")
            else:
                for offset in range(0, len(seq), line_width):
                    handle.write(f"{seq[offset : offset + line_width]}\n")


def interval_names(intervals: pd.DataFrame) -> list[str]:
    """The name of each BED interval: column 4, or ``chrom:start-end(strand)`` where it is absent.

    A missing name column, an empty name or BED's placeholder ``.`` falls back to the
    coordinates (``(strand)`` only when there is a strand column). Every command that names
    intervals (``extract``, ``run``, the Zarr engine) uses these names.

    Examples
    --------
    >>> interval_names(pd.DataFrame({"chrom": ["chr1", "chr2"], "start": [10, 5],
    ...                              "end": [20, 9], "name": ["p1", "."]}))
    ['p1', 'chr2:5-9']
    """
    strands = intervals["strand"] if "strand" in intervals.columns else None
    names = intervals["name"] if "name" in intervals.columns else None
    out = []
    for index, (chrom, start, end) in enumerate(
        zip(intervals["chrom"], intervals["start"], intervals["end"], strict=True)
    ):
        name = "" if names is None or pd.isna(names.iloc[index]) else str(names.iloc[index])
        if name in ("", "."):
            name = f"{chrom}:{start}-{end}"
            if strands is not None and not pd.isna(strands.iloc[index]):
                name += f"({strands.iloc[index]})"
        out.append(name)
    return out


def _check_unique_intervals(frame: pd.DataFrame, line_numbers: list[str], source) -> None:
    names = pd.Series(interval_names(frame))
    repeated = names[names.duplicated(keep=False)]
    if repeated.empty:
        return
    where = [
        f"{name!r} on {', '.join(line_numbers[i] for i in rows.index)}"
        for name, rows in list(repeated.groupby(repeated, sort=False))[:3]
    ]
    more = repeated.nunique() - len(where)
    raise ValueError(
        f"{source}: interval names must be unique (they key labels and outputs); "
        f"{'; '.join(where)}{f' and {more} more' if more > 0 else ''}. Give each interval its own "
        "name in column 4, or '.' to name it by its coordinates, and drop repeated intervals."
    )


def read_bed(bed: PathLike | pd.DataFrame) -> pd.DataFrame:
    """Read BED intervals into a DataFrame with columns chrom, start, end[, name, score, strand].

    Accepts a path (plain or gzip; ``track``/``browser``/``#`` lines skipped) or a DataFrame with
    at least chrom, start and end columns. Coordinates are 0-based, end-exclusive. Interval
    names (:func:`interval_names`) must be unique: a repeated name raises ``ValueError`` naming
    the lines, since name-keyed labels and outputs would otherwise merge the two intervals.

    Examples
    --------
    >>> read_bed(pd.DataFrame({"chrom": ["chr1"], "start": [10], "end": [20]})).shape
    (1, 3)
    """
    return read_bed_lines(bed)[0]


def read_bed_lines(bed) -> tuple[pd.DataFrame, list[str]]:
    """:func:`read_bed`, and where each interval came from: ``"line 12"`` (a file) or ``"row 3"``.

    Errors about one interval name its line this way (``peaks.bed:12``).

    Examples
    --------
    >>> read_bed_lines(pd.DataFrame({"chrom": ["chr1"], "start": [10], "end": [20]}))[1]
    ['row 0']
    """
    if isinstance(bed, pd.DataFrame):
        frame = bed.copy()
        source: str | Path = "BED intervals"
        line_numbers = [f"row {i}" for i in range(len(frame))]
    else:
        path = Path(bed)
        if not path.exists():
            raise FileNotFoundError(f"BED file not found: {path}")
        with open_text(path) as handle:
            numbered = [
                (number, line)
                for number, line in enumerate(handle, start=1)
                if line.strip() and not line.startswith(("#", "track", "browser"))
            ]
        if not numbered:
            raise ValueError(f"{path}: no intervals found in the BED file.")
        source, line_numbers = path, [f"line {number}" for number, _ in numbered]
        text = "".join(line for _, line in numbered)
        frame = pd.read_csv(io.StringIO(text), sep="\t", header=None, dtype=str)
        frame = frame.iloc[:, : len(BED_COLUMNS)]
        frame.columns = BED_COLUMNS[: frame.shape[1]]
        for column in ("start", "end"):
            try:
                frame[column] = frame[column].astype(np.int64)
            except ValueError as error:
                raise ValueError(f"{path}: BED column {column!r} must hold integers.") from error
    missing = {"chrom", "start", "end"} - set(frame.columns)
    if missing:
        raise ValueError(
            f"BED intervals need columns chrom, start, end; missing {sorted(missing)}."
        )
    bad = frame.index[(frame["end"] <= frame["start"]) | (frame["start"] < 0)]
    if len(bad):
        row = frame.loc[bad[0]]
        raise ValueError(
            f"BED interval {bad[0]} ({row['chrom']}:{row['start']}-{row['end']}) is invalid: "
            "start must be >= 0 and end > start."
        )
    frame = frame.reset_index(drop=True)
    _check_unique_intervals(frame, line_numbers, source)
    return frame, line_numbers


def extract_intervals(
    genome_fasta: PathLike,
    bed: PathLike | pd.DataFrame,
    *,
    length: int,
    pad_with_n: bool = False,
    use_strand: bool = True,
) -> torch.Tensor:
    """One-hot windows of ``length`` bp centred on BED intervals of an indexed genome.

    The window of an interval [start, end) starts at ``(start + end) // 2 - length // 2``.
    Intervals on the minus strand (BED column 6 is "-") are reverse-complemented, so every window
    reads 5' to 3' on the interval's strand.

    Parameters
    ----------
    genome_fasta : str or Path
        The genome FASTA (uncompressed or bgzip); pyfaidx builds the ``.fai`` index if missing.
    bed : str, Path or pandas.DataFrame
        Intervals (see :func:`read_bed`).
    length : int
        Window length L.
    pad_with_n : bool
        A window that runs off a chromosome end raises ``ValueError`` by default; with
        ``pad_with_n=True`` the missing part is N (all-zero columns).
    use_strand : bool
        Reverse-complement minus-strand intervals (default True).

    Returns
    -------
    torch.Tensor
        Shape (n_intervals, 4, length), float32.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> genome = pathlib.Path(tempfile.mkdtemp()) / "g.fa"
    >>> _ = genome.write_text(">chr1\\nAAAACCCCGGGGTTTT\\n")
    >>> bed = pd.DataFrame({"chrom": ["chr1", "chr1"], "start": [4, 4], "end": [8, 8],
    ...                     "name": ["a", "b"], "score": [0, 0], "strand": ["+", "-"]})
    >>> decode(extract_intervals(genome, bed, length=6))
    ['ACCCCG', 'CGGGGT']
    """
    import pyfaidx

    check_positive_int(length, "length")
    intervals = read_bed(bed)
    if not os.path.exists(genome_fasta):
        raise FileNotFoundError(f"genome FASTA not found: {genome_fasta}")
    sequences = []
    with pyfaidx.Fasta(str(genome_fasta), as_raw=True, sequence_always_upper=True) as genome:
        for row_index, row in enumerate(intervals.itertuples(index=False)):
            chrom = str(row.chrom)
            if chrom not in genome:
                raise ValueError(
                    f"BED interval {row_index}: chromosome {chrom!r} is not in {genome_fasta}."
                )
            chrom_length = len(genome[chrom])
            begin = (int(row.start) + int(row.end)) // 2 - length // 2
            stop = begin + length
            if begin < 0 or stop > chrom_length:
                if not pad_with_n:
                    raise ValueError(
                        f"BED interval {row_index} ({chrom}:{row.start}-{row.end}): the "
                        f"{length} bp window {begin}-{stop} runs off {chrom} (length "
                        f"{chrom_length}). Pass pad_with_n=True to pad with N, or drop it."
                    )
                left_pad, right_pad = max(0, -begin), max(0, stop - chrom_length)
                seq = "N" * left_pad + genome[chrom][max(0, begin) : min(stop, chrom_length)]
                seq += "N" * right_pad
            else:
                seq = genome[chrom][begin:stop]
            if use_strand and getattr(row, "strand", "+") == "-":
                seq = reverse_complement(seq)
            sequences.append(seq)
    return one_hot_encode(sequences)


__all__ = [
    "FastaRecord",
    "check_sequence_line",
    "check_unique_name",
    "extract_intervals",
    "interval_names",
    "iter_fasta",
    "iter_fasta_batches",
    "read_bed",
    "read_bed_lines",
    "read_fasta",
    "write_fasta",
]
