"""Writing output files: the one atomic-write helper every cislens writer goes through.

Every file cislens writes is first written to a temporary name in the folder of its final path,
flushed to disk (``fsync``) and then moved onto the final path with :func:`os.replace`, which is
atomic on POSIX and Windows. So a reader sees either the previous file or the complete new one;
a failed or interrupted write (full disk, Ctrl-C, SIGTERM, a bug) leaves no file at the final path
and no temporary file behind. The final file's mode follows the umask (``0o666 & ~umask``, like
``open``), not the ``0o600`` of :func:`tempfile.mkstemp`.

Every :class:`OSError` raised on the way names the path it concerns, so the command line reports
it as one line (exit 2): an error without a file name (HDF5's, a full disk inside a library) is
re-raised naming the final path.

Output folders are checked with :func:`check_output_dir` before any work starts, created with
:func:`ensure_dir`, and :func:`new_output_dir` removes a folder it created when the command
that fills it fails.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

_NOT_A_FOLDER = "Not a directory (a regular file is in the way of an output folder)"


def _umask() -> int:
    # os.umask can only be read by setting it; set it straight back.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _naming(error: OSError, path: Path) -> OSError:
    """``error`` when it names a file already; else an OSError of the same errno naming ``path``."""
    if error.filename is not None:
        return error
    cause = " ".join(str(error.strerror or error).split()) or type(error).__name__
    named = OSError(error.errno, cause, str(path))
    return named


def check_output_dir(path, *, name: str = "--out") -> Path:
    """Check that ``path`` is, or can become, a folder; raise before any work starts.

    Raises :class:`NotADirectoryError` naming the path when ``path`` or one of its ancestors is a
    regular file. Nothing is created.

    Examples
    --------
    >>> import tempfile
    >>> check_output_dir(tempfile.gettempdir() + "/new/sub").name
    'sub'
    """
    path = Path(path)
    for ancestor in (path, *path.parents):
        if ancestor.exists() or ancestor.is_symlink():
            if not ancestor.is_dir():
                raise NotADirectoryError(errno.ENOTDIR, f"{name}: {_NOT_A_FOLDER}", str(ancestor))
            break
    return path


def _first_missing(path: Path) -> Path | None:
    """The topmost missing folder on the way to ``path``: what creating ``path`` creates."""
    missing = [p for p in (path, *path.parents) if not p.exists() and not p.is_symlink()]
    return missing[-1] if missing else None


def _remove_empty(folder: Path, top: Path | None) -> None:
    """Remove ``folder`` and its parents up to ``top`` while they are empty (best effort)."""
    if top is None:
        return
    for candidate in (folder, *folder.parents):
        try:
            candidate.rmdir()
        except OSError:  # not empty (another writer's file), or already gone
            return
        if candidate == top:
            return


def ensure_dir(path, *, name: str = "--out") -> Path:
    """Create the folder ``path`` (and its parents) when missing; return it as a Path.

    Raises :class:`NotADirectoryError` naming the regular file that is in the way, and any other
    :class:`OSError` (permission denied, full disk) naming the folder.
    """
    path = check_output_dir(path, name=name)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise _naming(error, path) from error
    return path


@contextlib.contextmanager
def new_output_dir(path, *, name: str = "--out") -> Iterator[Path]:
    """Create the folder ``path`` for the block; remove it again if the block fails.

    A folder that existed before is kept as it was found (its files are replaced one by one,
    atomically); one this call created is removed with everything in it when the block raises,
    so a failed command leaves no empty or partial folder behind.
    """
    path = check_output_dir(path, name=name)
    created = _first_missing(path)
    ensure_dir(path, name=name)
    try:
        yield path
    except BaseException:
        if created is not None:
            shutil.rmtree(created, ignore_errors=True)
        raise


def _commit(temporary: Path, path: Path) -> None:
    """fsync ``temporary``, give it the umask's mode and move it onto ``path``."""
    descriptor = os.open(temporary, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    os.chmod(temporary, 0o666 & ~_umask())
    os.replace(temporary, path)
    # Make the rename itself durable; not every platform or file system can fsync a folder.
    with contextlib.suppress(OSError):
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


@contextlib.contextmanager
def atomic_output(path, *, name: str = "--out") -> Iterator[Path]:
    """Yield a temporary path next to ``path``; move it onto ``path`` when the block succeeds.

    The temporary file is created empty in the folder of ``path`` (created when missing), so the
    final :func:`os.replace` never crosses file systems. On any exception, ``KeyboardInterrupt``
    included, the temporary file is removed and ``path`` is left as it was.

    Parameters
    ----------
    path : str or Path
        The final path.
    name : str
        What ``path`` is called in errors about its folder (an option or parameter name).

    Yields
    ------
    pathlib.Path
        The temporary path to write; it keeps the suffix of ``path`` (``.x.h5.*.tmp.h5``)
        for writers that choose a format by suffix.

    Raises
    ------
    OSError
        Naming ``path`` (or the file in the way): full disk, permission denied, a regular file
        where a folder should be.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> with atomic_output(folder / "out.txt") as temporary:
    ...     _ = temporary.write_text("done")
    >>> (folder / "out.txt").read_text(), sorted(p.name for p in folder.iterdir())
    ('done', ['out.txt'])
    """
    path = Path(path)
    created = _first_missing(path.parent)  # removed again, when empty, if the write fails
    ensure_dir(path.parent, name=name)
    try:
        handle, temporary = tempfile.mkstemp(
            prefix=f".{path.name}.", suffix=".tmp" + path.suffix, dir=path.parent
        )
    except OSError as error:
        _remove_empty(path.parent, created)
        raise _naming(error, path) from error
    os.close(handle)
    temporary_path = Path(temporary)
    try:
        try:
            yield temporary_path
            _commit(temporary_path, path)
        except OSError as error:
            raise _naming(error, path) from error
    except BaseException:
        temporary_path.unlink(missing_ok=True)
        _remove_empty(path.parent, created)
        raise


@contextlib.contextmanager
def atomic_open(path, mode: str = "w", *, name: str = "--out", **kwargs) -> Iterator:
    """Open a stream whose content replaces ``path`` atomically when the block succeeds.

    ``mode`` is ``"w"`` (text, UTF-8 unless ``encoding`` is given) or ``"wb"``; other keyword
    arguments go to :func:`open`. See :func:`atomic_output`.

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "table.tsv"
    >>> with atomic_open(path) as stream:
    ...     _ = stream.write("a\\tb\\n")
    >>> path.read_text()
    'a\\tb\\n'
    """
    if mode not in ("w", "wt", "wb"):
        raise ValueError(f"mode must be 'w', 'wt' or 'wb'; got {mode!r}.")
    if "b" not in mode:
        kwargs.setdefault("encoding", "utf-8")
    with atomic_output(path, name=name) as temporary, open(temporary, mode, **kwargs) as stream:
        yield stream


def write_text(path, text: str, *, name: str = "--out") -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; return the path."""
    with atomic_open(path, "w", name=name) as stream:
        stream.write(text)
    return Path(path)


def write_bytes(path, data: bytes, *, name: str = "--out") -> Path:
    """Write ``data`` to ``path`` atomically; return the path."""
    with atomic_open(path, "wb", name=name) as stream:
        stream.write(data)
    return Path(path)


def write_table(frame, path, *, name: str = "--out", **kwargs) -> Path:
    """Write a DataFrame with ``frame.to_csv(..., **kwargs)`` to ``path`` atomically.

    Examples
    --------
    >>> import tempfile, pandas as pd
    >>> path = Path(tempfile.mkdtemp()) / "t.csv"
    >>> write_table(pd.DataFrame({"a": [1]}), path, index=False).read_text()
    'a\\n1\\n'
    """
    with atomic_open(path, "w", name=name, newline="") as stream:
        frame.to_csv(stream, **kwargs)
    return Path(path)


def save_figure(figure, path, *, name: str = "--out", **kwargs) -> Path:
    """Save a Matplotlib figure to ``path`` atomically (format from the suffix of ``path``)."""
    path = Path(path)
    kwargs.setdefault("format", path.suffix.lstrip(".").lower() or None)
    with atomic_output(path, name=name) as temporary:
        figure.savefig(temporary, **kwargs)
    return path


def sha256_file(path) -> str:
    """The SHA-256 hex digest of a file's bytes, read in 1 MiB blocks.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     sha256_file(write_text(Path(folder) / "a.txt", "abc"))[:16]
    'ba7816bf8f01cfea'
    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


__all__ = [
    "atomic_open",
    "atomic_output",
    "check_output_dir",
    "ensure_dir",
    "new_output_dir",
    "save_figure",
    "sha256_file",
    "write_bytes",
    "write_table",
    "write_text",
]
