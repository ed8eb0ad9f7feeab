"""Inputs for chunked runs, read chunk by chunk: an HDF5 dataset split, a FASTA file, BED + genome.

A source knows its size ``n`` and length ``L`` after one cheap pass (the HDF5 header; a streaming
pass over a FASTA file that records where each record starts), reads rows ``[start, stop)`` as an
int8 one-hot block (stop - start, 4, L) without loading the rest, and describes itself by an
``identity`` dict (kind, size, length and a SHA-256 of the file content) that a Zarr store records
so that a resumed run can refuse different inputs.

Sources are pickled to the Dask workers: they carry paths, not data, and a worker reads its own
chunk (the paths must be visible from the workers, e.g. on a shared file system). A gzip FASTA
cannot be read from the middle, so it is read on the client and its chunks are shipped to the
workers (``random_access`` is False).
"""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path
from typing import cast

import numpy as np

from cislens.sequence.onehot import one_hot_encode
from cislens.sequence.windows import bed_windows, chrom_sizes
from cislens.utils.types import PathLike
from cislens.utils.validation import check_positive_int

_GZIP_MAGIC = b"\x1f\x8b"
_BLOCK = 1 << 20
_BED_CACHE: dict = {}  # per worker process: the intervals of the BED file in use


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def _existing(path, what: str) -> Path:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {str(path)!r}.")
    return path.resolve()


def _as_int8(X) -> np.ndarray:
    return np.asarray(X.numpy() if hasattr(X, "numpy") else X).astype(np.int8)


class HDF5Source:
    """One split (``X_<split>``) of a cislens dataset file (see ``docs/formats.md``).

    Examples
    --------
    >>> import tempfile, os
    >>> from cislens.io import Dataset, save_dataset
    >>> X = np.eye(4, dtype=np.float32)[None].repeat(3, 0)
    >>> path = save_dataset(os.path.join(tempfile.mkdtemp(), "d.h5"),
    ...                     Dataset({"test": X}, {"test": np.zeros((3, 1))}, ["tf"]))
    >>> source = HDF5Source(path, split="test")
    >>> source.n, source.length, source.read(1, 3).shape, source.example_ids(0, 2)
    (3, 4, (2, 4, 4), ['test/0', 'test/1'])
    """

    random_access = True

    def __init__(self, path: PathLike, *, split: str = "test") -> None:
        import h5py

        self.path = _existing(path, "dataset HDF5")
        self.split = str(split)
        self.key = f"X_{self.split}"
        with h5py.File(self.path, "r") as handle:
            if handle.attrs.get("format") not in ("cislens-dataset", b"cislens-dataset"):
                raise ValueError(
                    f"{str(self.path)!r} is not a cislens dataset (no format attribute "
                    "'cislens-dataset'); convert it with cislens.io.save_dataset."
                )
            if self.key not in handle:
                splits = sorted(k[2:] for k in handle if k.startswith("X_"))
                raise ValueError(
                    f"split {self.split!r} is not in {str(self.path)!r}; it has {splits}."
                )
            shape = handle[self.key].shape
        self.n, self.length = int(shape[0]), int(shape[2])
        self._identity: dict | None = None

    def identity(self) -> dict:
        """What the input is: kind, split, n, L and the file's SHA-256 (computed once)."""
        if self._identity is None:
            self._identity = {
                "kind": "hdf5",
                "path": str(self.path),
                "split": self.split,
                "n": self.n,
                "length": self.length,
                "sha256": _sha256(self.path),
            }
        return self._identity

    def read(self, start: int, stop: int) -> np.ndarray:
        """Rows ``[start, stop)`` as int8 (stop - start, 4, L)."""
        import h5py

        with h5py.File(self.path, "r") as handle:
            return np.asarray(handle[self.key][start:stop], dtype=np.int8)

    def example_ids(self, start: int, stop: int) -> list[str]:
        """``"<split>/<row>"`` for rows ``[start, stop)``."""
        return [f"{self.split}/{i}" for i in range(start, stop)]

    def example_index(self, start: int, stop: int) -> np.ndarray:
        """The rows' indices in the split."""
        return np.arange(start, stop, dtype=np.int64)


class FastaSource:
    """A FASTA file (plain or gzip), indexed by one streaming pass that keeps only offsets.

    Parameters
    ----------
    path : str or Path
        The FASTA file.
    length : int, optional
        Window length: longer records are centre-trimmed and shorter ones N-padded (as in
        :func:`cislens.one_hot_encode`). Default: every record must have the same length.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "x.fa"
    >>> _ = path.write_text(">a\\nACGT\\n>b\\nGG\\nTT\\n>c\\nAAAA\\n")
    >>> source = FastaSource(path)
    >>> source.n, source.length, source.example_ids(1, 3)
    (3, 4, ['b', 'c'])
    >>> source.read(1, 2).argmax(1).tolist()  # GGTT
    [[2, 2, 3, 3]]
    """

    def __init__(self, path: PathLike, *, length: int | None = None) -> None:
        self.path = _existing(path, "FASTA file")
        with open(self.path, "rb") as handle:
            self.random_access = handle.read(2) != _GZIP_MAGIC
        check_positive_int(length, "length", allow_none=True)
        self._fixed = length
        self._index()

    def _open(self):
        return open(self.path, "rb") if self.random_access else gzip.open(self.path, "rb")

    def _index(self) -> None:
        # One pass: record offsets (plain files), names and lengths, and hash the content. The
        # lines are checked by the same rules as iter_fasta (unique names, sequence letters only),
        # so ids in a store are unique and no character is dropped from a sequence.
        from cislens.sequence.fasta import check_sequence_line, check_unique_name

        digest = hashlib.sha256()
        names, offsets, lengths = [], [], []
        seen: dict[str, int] = {}
        position, current = 0, -1
        with self._open() as handle:
            for line_number, line in enumerate(handle, start=1):
                digest.update(line)
                if line.startswith(b">"):
                    header = line[1:].decode("ascii", "replace").split()
                    names.append(header[0] if header else "")
                    check_unique_name(seen, names[-1], path=self.path, line_number=line_number)
                    offsets.append(position)
                    lengths.append(0)
                    current += 1
                elif line.strip() and not line.startswith(b";"):
                    if current < 0:
                        raise ValueError(
                            f"{str(self.path)!r} has sequence text before any '>' header; is it a "
                            "FASTA file?"
                        )
                    text = line.strip().decode("ascii", "replace")
                    check_sequence_line(
                        text, path=self.path, line_number=line_number, record=names[current]
                    )
                    lengths[current] += len(text)
                position += len(line)
        if not names:
            raise ValueError(f"{str(self.path)!r} holds no FASTA record.")
        offsets.append(position)
        self.n = len(names)
        if self._fixed is None:
            distinct = sorted(set(lengths))
            if len(distinct) > 1:
                first = next(i for i, size in enumerate(lengths) if size != lengths[0])
                raise ValueError(
                    f"the records of {str(self.path)!r} differ in length ({lengths[0]} for "
                    f"{names[0]!r}, {lengths[first]} for {names[first]!r}); pass length (--length) "
                    "to centre-trim / N-pad them to one window length."
                )
            self.length = int(distinct[0])
        else:
            self.length = int(self._fixed)
        self._names = names
        self._offsets = np.asarray(offsets, dtype=np.int64)
        self._sha = digest.hexdigest()

    def identity(self) -> dict:
        """Kind, n, L, the window rule and the SHA-256 of the (decompressed) content."""
        return {
            "kind": "fasta",
            "path": str(self.path),
            "n": self.n,
            "length": self.length,
            "fixed_length": self._fixed,
            "sha256": self._sha,
        }

    def _encode(self, sequences: list[str]) -> np.ndarray:
        return _as_int8(one_hot_encode(sequences, length=self._fixed))

    def read(self, start: int, stop: int) -> np.ndarray:
        """Records ``[start, stop)`` one-hot encoded, int8 (stop - start, 4, L)."""
        if self.random_access:
            with open(self.path, "rb") as handle:
                handle.seek(int(self._offsets[start]))
                text = handle.read(int(self._offsets[stop] - self._offsets[start]))
            records = text.decode("ascii", "replace").split("\n>")
            sequences = [
                "".join(
                    "".join(line.split())
                    for line in record.split("\n")[1:]
                    if not line.startswith(";")
                )
                for record in records
            ]
            return self._encode(sequences)
        return next(self.iter_chunks(stop - start, start=start))[1]

    def iter_chunks(self, chunk_size: int, *, start: int = 0):
        """Stream ``(first_row, block)`` pairs of ``chunk_size`` records from row ``start`` on."""
        from cislens.sequence.fasta import iter_fasta_batches

        first = start
        batches = iter_fasta_batches(
            self.path, batch_size=chunk_size, length=self._fixed, start=start
        )
        for _, block in batches:
            yield first, _as_int8(block)
            first += block.shape[0]

    def example_ids(self, start: int, stop: int) -> list[str]:
        """The records' names (the header's first word)."""
        return self._names[start:stop]

    def example_index(self, start: int, stop: int) -> np.ndarray:
        """The records' ordinals in the file."""
        return np.arange(start, stop, dtype=np.int64)

    def __getstate__(self):
        # Workers need the offsets but not the names (ids are written by the client).
        state = dict(self.__dict__)
        state["_names"] = []
        return state


class BedSource:
    """Windows of ``length`` bp centred on BED intervals of an indexed genome FASTA.

    Minus-strand intervals are reverse-complemented (see
    :func:`cislens.sequence.fasta.extract_intervals`). Every window is placed and checked here,
    on the client, before any worker starts: one running off a chromosome raises a one-line
    ``ValueError`` naming ``file:line``, the interval and the chromosome's length, unless
    ``pad_with_n`` (the part off the chromosome is read as N).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "g.fa").write_text(">chr1\\nAAAACCCCGGGGTTTT\\n")
    >>> _ = (folder / "r.bed").write_text("chr1\\t4\\t8\\tp1\\nchr1\\t6\\t10\\tp2\\n")
    >>> source = BedSource(folder / "r.bed", folder / "g.fa", length=4)
    >>> source.n, source.example_ids(0, 2), source.read(1, 2).argmax(1).tolist()
    (2, ['p1', 'p2'], [[1, 1, 2, 2]])
    """

    random_access = True

    def __init__(
        self, bed: PathLike, genome: PathLike, *, length: int | None, pad_with_n: bool = False
    ) -> None:
        from cislens.sequence.fasta import read_bed

        length = check_positive_int(
            length,
            "length",
            detail=" (the window around each BED interval)",
            fix="Pass --length, e.g. the model's input length.",
        )
        self.bed = _existing(bed, "BED file")
        self.genome = _existing(genome, "genome FASTA")
        self.length = length
        self.pad_with_n = bool(pad_with_n)
        self._frame = read_bed(self.bed)
        self.n = len(self._frame)
        self._identity: dict | None = None
        # Before any worker starts: a window off a chromosome fails here, in one line.
        self._windows = bed_windows(
            self.bed,
            self.genome,
            length=self.length,
            pad_with_n=self.pad_with_n,
            fix="pass --pad-with-n (pad_with_n=True) to pad it with N",
        )

    def windows(self):
        """Where each row's window lies in the genome (see
        :func:`cislens.sequence.windows.bed_windows`)."""
        return self._windows

    def chrom_sizes(self) -> dict[str, int]:
        """The genome's chromosome lengths, in file order."""
        return chrom_sizes(self.genome)

    def _intervals(self):
        if self._frame is None:  # on a worker: each task gets a fresh copy; read once per process
            from cislens.sequence.fasta import read_bed

            stat = self.bed.stat()
            key = (str(self.bed), stat.st_size, stat.st_mtime_ns)
            if key not in _BED_CACHE:
                _BED_CACHE.clear()
                _BED_CACHE[key] = read_bed(self.bed)
            self._frame = _BED_CACHE[key]
        return self._frame

    def identity(self) -> dict:
        """Kind, n, L, and SHA-256 of the BED file and of the genome's name/length index."""
        if self._identity is None:
            import pyfaidx

            with pyfaidx.Fasta(str(self.genome), as_raw=True) as genome:
                index = "\n".join(f"{name}\t{len(genome[name])}" for name in genome.keys())
            self._identity = {
                "kind": "bed",
                "path": str(self.bed),
                "genome": str(self.genome),
                "n": self.n,
                "length": self.length,
                "pad_with_n": self.pad_with_n,
                "sha256": _sha256(self.bed),
                "genome_index_sha256": hashlib.sha256(index.encode()).hexdigest(),
            }
        return self._identity

    def read(self, start: int, stop: int) -> np.ndarray:
        """Windows of intervals ``[start, stop)``, int8 (stop - start, 4, L)."""
        from cislens.sequence.fasta import extract_intervals

        rows = self._intervals().iloc[start:stop]
        return _as_int8(
            extract_intervals(self.genome, rows, length=self.length, pad_with_n=self.pad_with_n)
        )

    def example_ids(self, start: int, stop: int) -> list[str]:
        """The BED name column, or ``chrom:start-end(strand)`` where a row has none.

        Unique, as :func:`cislens.sequence.fasta.read_bed` refuses repeated names.
        """
        from cislens.sequence.fasta import interval_names

        return interval_names(self._intervals().iloc[start:stop])

    def example_index(self, start: int, stop: int) -> np.ndarray:
        """The intervals' rows in the BED file."""
        return np.arange(start, stop, dtype=np.int64)

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_frame"] = None  # re-read on the worker instead of shipping it with every task
        state["_windows"] = None  # the client's business only
        return state


def open_source(
    *,
    data: PathLike | None = None,
    split: str = "test",
    fasta: PathLike | None = None,
    bed: PathLike | None = None,
    genome: PathLike | None = None,
    length: int | None = None,
    pad_with_n: bool = False,
) -> HDF5Source | FastaSource | BedSource:
    """The source named by exactly one of ``data`` (HDF5), ``fasta``, or ``bed`` + ``genome``.

    Examples
    --------
    >>> open_source()  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: name exactly one input: data (--data, a dataset HDF5), fasta (--fasta) or ...
    """
    given = [name for name, value in (("data", data), ("fasta", fasta), ("bed", bed)) if value]
    if pad_with_n and not bed:
        raise ValueError("pad_with_n (--pad-with-n) applies to BED windows only; drop it.")
    if len(given) != 1:
        raise ValueError(
            "name exactly one input: data (--data, a dataset HDF5), fasta (--fasta) or bed with "
            f"genome (--bed with --genome); got {given or 'none'}."
        )
    if data:
        return HDF5Source(data, split=split)
    if fasta:
        return FastaSource(fasta, length=length)
    if not genome:
        raise ValueError("bed (--bed) needs genome (--genome), the genome FASTA it refers to.")
    return BedSource(cast("PathLike", bed), genome, length=length, pad_with_n=pad_with_n)


__all__ = ["BedSource", "FastaSource", "HDF5Source", "open_source"]
