"""MEME minimal motif format: read and write DNA motifs as letter-probability matrices.

The subset handled (see ``docs/formats.md``, "MEME motif files")::

    MEME version 4

    ALPHABET= ACGT

    strands: + -

    Background letter frequencies
    A 0.25 C 0.25 G 0.25 T 0.25

    MOTIF MA0139.2 CTCF
    letter-probability matrix: alength= 4 w= 2 nsites= 20 E= 0
    0.9 0.0 0.1 0.0
    0.0 0.0 1.0 0.0

Reading tolerates blank lines (also inside a matrix), Windows line endings, ``#`` comment lines,
header lines it does not know (``strands``, ``URL``, ...) and a missing background section. A
motif's ``matrix_id`` is its MOTIF id and its ``name`` the alternate name when present, else the
id. Only the DNA alphabet ACGT is supported.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cislens.pwm.motif import UNIFORM_BACKGROUND, Motif, check_background
from cislens.sequence.alphabet import ALPHABET
from cislens.utils.files import write_text
from cislens.utils.types import ArrayLike, PathLike
from cislens.utils.validation import check_positive_int

DEFAULT_NSITES = 20
"""``nsites`` written for a motif without counts when ``write_meme(nsites=None)``."""
_ROW_TOLERANCE = 0.01  # rows are renormalised when their sum is within this of 1
_KEY_VALUE = re.compile(r"([A-Za-z]+)\s*=\s*(\S+)")


@dataclass
class _Parsed:
    motifs: list[Motif]
    background: np.ndarray | None


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def _looks_like_row(tokens: list[str]) -> bool:
    return bool(tokens) and _is_number(tokens[0])


def _read_source(path_or_text, source: str | None) -> tuple[str, str | None]:
    """Return (text, source): a path is read (source = its file name), text is used as is."""
    is_text = isinstance(path_or_text, str) and (
        "\n" in path_or_text or path_or_text.lstrip().startswith("MEME version")
    )
    if is_text:
        return path_or_text, source
    if not isinstance(path_or_text, (str, os.PathLike)):
        raise TypeError(
            "path_or_text must be a path (str or pathlib.Path) or the text of a MEME file; "
            f"got {type(path_or_text).__name__}."
        )
    path = Path(path_or_text)
    if not path.is_file():
        raise FileNotFoundError(
            f"path_or_text: no such MEME file: '{path}'. Check the path, or pass the file's text."
        )
    with open(path, encoding="utf-8", errors="replace") as handle:
        text = handle.read()
    return text, path.name if source is None else source


def _parse(text: str, source: str | None) -> _Parsed:
    where = f" in {source}" if source else ""
    lines = [line.strip() for line in text.splitlines()]
    motifs: list[Motif] = []
    background = None
    index = 0
    while index < len(lines):
        line = lines[index]
        number = index + 1
        index += 1
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("ALPHABET"):
            _check_alphabet(line, number, where)
        elif line.startswith("Background letter frequencies"):
            background, index = _parse_background(lines, index, number, where)
        elif line.startswith("MOTIF"):
            motif, index = _parse_motif(lines, index, number, where, source)
            motifs.append(motif)
    if not motifs:
        raise ValueError(
            f"no MOTIF entries found{where}; a MEME file needs at least one 'MOTIF id' line "
            "followed by a 'letter-probability matrix:' line and its rows."
        )
    return _Parsed(motifs, background)


def _check_alphabet(line: str, number: int, where: str) -> None:
    match = re.match(r"ALPHABET\s*=\s*(\S+)\s*$", line, flags=re.IGNORECASE)
    if match is None or match.group(1).upper() != ALPHABET:
        raise ValueError(
            f"line {number}{where}: only the DNA alphabet 'ALPHABET= ACGT' is supported; got "
            f"{line!r}. Convert the motifs to A, C, G, T probabilities."
        )


def _parse_background(lines, index, number, where) -> tuple[np.ndarray, int]:
    tokens: list[str] = []
    while index < len(lines) and len(tokens) < 8:
        line = lines[index]
        if line.startswith("MOTIF"):
            break
        index += 1
        if line and not line.startswith("#"):
            tokens.extend(line.split())
    pairs = dict(zip(tokens[0::2], tokens[1::2], strict=False))
    if (
        len(tokens) != 8
        or sorted(pairs) != sorted(ALPHABET)
        or not all(_is_number(value) for value in pairs.values())
    ):
        raise ValueError(
            f"line {number}{where}: 'Background letter frequencies' must be followed by "
            f"'A p C p G p T p'; got {' '.join(tokens)!r}."
        )
    values = np.array([float(pairs[base]) for base in ALPHABET])
    if (values <= 0).any() or abs(values.sum() - 1) > _ROW_TOLERANCE:
        raise ValueError(
            f"line {number}{where}: background frequencies must be positive and sum to 1; got "
            f"{values.tolist()}."
        )
    return check_background(values / values.sum()), index


def _parse_motif(lines, index, number, where, source) -> tuple[Motif, int]:
    fields = lines[index - 1].split()
    if len(fields) < 2:
        raise ValueError(f"line {number}{where}: a MOTIF line needs an id ('MOTIF id [name]').")
    motif_id = fields[1]
    name = fields[2] if len(fields) > 2 else motif_id
    label = f"motif {motif_id!r} (line {number}{where})"
    # Find the letter-probability header before the next MOTIF.
    while index < len(lines) and not lines[index].startswith("letter-probability matrix"):
        if lines[index].startswith("MOTIF"):
            break
        index += 1
    if index >= len(lines) or not lines[index].startswith("letter-probability matrix"):
        raise ValueError(f"{label} has no 'letter-probability matrix:' line.")
    header_number = index + 1
    keys = {key.lower(): value for key, value in _KEY_VALUE.findall(lines[index])}
    index += 1
    if "alength" in keys and keys["alength"] != "4":
        raise ValueError(
            f"{label}: alength= {keys['alength']} on line {header_number}; only DNA motifs "
            "(alength= 4, columns A C G T) are supported."
        )
    width = None
    if "w" in keys:
        if not keys["w"].isdigit() or int(keys["w"]) < 1:
            raise ValueError(
                f"{label}: w= {keys['w']!r} on line {header_number} must be a positive int."
            )
        width = int(keys["w"])
    rows: list[list[float]] = []
    while index < len(lines) and (width is None or len(rows) < width):
        line = lines[index]
        tokens = line.split()
        if not line or line.startswith("#"):
            index += 1
            continue
        if width is None and not _looks_like_row(tokens):
            break
        if width is not None and not _looks_like_row(tokens):
            raise ValueError(
                f"{label}: line {index + 1} should be row {len(rows) + 1} of w= {width} "
                f"probability rows; got {line!r}."
            )
        rows.append(_parse_row(tokens, index + 1, label))
        index += 1
    if width is not None and len(rows) < width:
        raise ValueError(f"{label}: w= {width} but the file ends after {len(rows)} rows.")
    if not rows:
        raise ValueError(f"{label}: the matrix on line {header_number} has no probability rows.")
    # A numeric line right after the last row means w= understates the rows.
    following = index
    while following < len(lines) and (not lines[following] or lines[following].startswith("#")):
        following += 1
    if following < len(lines) and _looks_like_row(lines[following].split()):
        raise ValueError(
            f"{label}: w= {width} but line {following + 1} holds another probability row "
            f"({lines[following]!r}); fix w= or remove the row."
        )
    probabilities = np.array(rows, dtype=np.float64).T
    try:
        motif = Motif(name, probabilities, matrix_id=motif_id, source=source)
    except ValueError as error:
        raise ValueError(f"{label}: {error}") from None
    return motif, index


def _parse_row(tokens: list[str], number: int, label: str) -> list[float]:
    if len(tokens) != 4:
        raise ValueError(
            f"{label}: line {number} must hold 4 probabilities (A C G T); got {len(tokens)} "
            f"values {' '.join(tokens)!r}."
        )
    bad = [token for token in tokens if not _is_number(token)]
    if bad:
        raise ValueError(f"{label}: line {number} has the non-numeric value {bad[0]!r}.")
    values = [float(token) for token in tokens]
    if not all(np.isfinite(values)) or min(values) < 0:
        raise ValueError(f"{label}: line {number} must hold finite values >= 0; got {values}.")
    total = sum(values)
    if abs(total - 1) > _ROW_TOLERANCE:
        raise ValueError(
            f"{label}: the probabilities on line {number} sum to {total:.4g}, not 1. Is it a "
            "count matrix? Convert it with Motif.from_counts."
        )
    return [value / total for value in values]


def read_meme(path_or_text: PathLike, *, source: str | None = None) -> list[Motif]:
    """Read the motifs of a MEME minimal-format file (or its text).

    Parameters
    ----------
    path_or_text : str or pathlib.Path
        A file path, or the file's text (any str containing a newline or starting with
        "MEME version").
    source : str, optional
        The ``Motif.source`` to record; default the file name (None for text).

    Returns
    -------
    list of Motif
        In file order. ``name`` is the MOTIF line's alternate name when present, else its id;
        ``matrix_id`` is the id. Rows whose sum is within 0.01 of 1 are renormalised.

    Raises
    ------
    FileNotFoundError
        The path does not exist.
    ValueError
        No motifs, an alphabet other than ACGT, ``alength`` other than 4, a row without 4
        values, a non-numeric value, a row count that disagrees with ``w=``, or rows that do
        not sum to 1. The message names the motif and the line number.

    Examples
    --------
    >>> text = '''MEME version 4
    ... ALPHABET= ACGT
    ... MOTIF MA0001.1 toy
    ... letter-probability matrix: alength= 4 w= 2 nsites= 10 E= 0
    ... 1.0 0.0 0.0 0.0
    ... 0.0 0.0 0.5 0.5
    ... '''
    >>> [motif] = read_meme(text)
    >>> motif.name, motif.matrix_id, motif.probabilities[:, 1].tolist()
    ('toy', 'MA0001.1', [0.0, 0.0, 0.5, 0.5])
    """
    text, source = _read_source(path_or_text, source)
    return _parse(text, source).motifs


def read_meme_background(path_or_text: PathLike) -> np.ndarray | None:
    """Return the "Background letter frequencies" of a MEME file as float64 (A, C, G, T).

    Returns None when the file has no background section (MEME tools then assume uniform).
    The whole file is checked as :func:`read_meme` does.

    Examples
    --------
    >>> text = '''MEME version 4
    ... Background letter frequencies
    ... A 0.3 C 0.2 G 0.2 T 0.3
    ... MOTIF m1
    ... letter-probability matrix: alength= 4 w= 1
    ... 0.25 0.25 0.25 0.25
    ... '''
    >>> read_meme_background(text).tolist()
    [0.3, 0.2, 0.2, 0.3]
    """
    text, source = _read_source(path_or_text, None)
    return _parse(text, source).background


def _check_token(value: str, *, what: str) -> str:
    if not value or any(character.isspace() for character in value):
        raise ValueError(
            f"{what} must be a non-empty str without whitespace (MEME splits the MOTIF line on "
            f"spaces); got {value!r}. Rename the motif, e.g. with underscores."
        )
    return value


def _nsites(motif: Motif, nsites: int | None) -> int:
    if nsites is not None:
        return nsites
    if motif.counts is not None:
        return max(1, round(float(motif.counts.sum(axis=0).max())))
    return DEFAULT_NSITES


def write_meme(
    path: PathLike,
    motifs: Iterable[Motif],
    *,
    background: ArrayLike = UNIFORM_BACKGROUND,
    nsites: int | None = None,
    allow_empty: bool = False,
) -> Path:
    """Write motifs to a MEME minimal-format file (MEME suite, memelite and cislens read it).

    Each motif becomes ``MOTIF <matrix_id> <name>`` (just ``MOTIF <name>`` without a matrix_id,
    or when the two are equal) and a ``letter-probability matrix`` with W rows of A C G T
    probabilities written with 8 decimals, so :func:`read_meme` gives them back to 1e-7.

    Parameters
    ----------
    path : str or pathlib.Path
        The output file; missing parent folders are created.
    motifs : sequence of Motif
        At least one, unless ``allow_empty``.
    background : 4 floats
        The "Background letter frequencies" (A, C, G, T), default uniform.
    nsites : int, optional
        ``nsites=`` for every motif. Default: the motif's largest column count total when it has
        counts, else 20.
    allow_empty : bool
        Write the header alone when ``motifs`` is empty (default False: an error), so that a
        run that found nothing still replaces an earlier file.

    Returns
    -------
    pathlib.Path
        The path written.

    Examples
    --------
    >>> import tempfile, os
    >>> motif = Motif("toy", [[0.7, 0.0], [0.1, 0.0], [0.1, 1.0], [0.1, 0.0]], matrix_id="X1")
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = write_meme(os.path.join(folder, "toy.meme"), [motif])
    ...     lines = path.read_text().splitlines()
    ...     [back] = read_meme(path)
    >>> lines[9:11]
    ['MOTIF X1 toy', 'letter-probability matrix: alength= 4 w= 2 nsites= 20 E= 0']
    >>> back.name, back.matrix_id, back.source
    ('toy', 'X1', 'toy.meme')
    """
    if not isinstance(path, (str, os.PathLike)) or not str(path):
        raise TypeError(f"path must be a non-empty str or pathlib.Path; got {path!r}.")
    path = Path(path)
    if isinstance(motifs, Motif):
        motifs = [motifs]
    motifs = list(motifs)
    if not motifs and not allow_empty:
        raise ValueError(
            "motifs is empty; pass at least one Motif to write_meme (or allow_empty=True for "
            "the header alone)."
        )
    for position, motif in enumerate(motifs):
        if not isinstance(motif, Motif):
            raise TypeError(
                f"motifs[{position}] must be a cislens.pwm.Motif; got {type(motif).__name__}. "
                "Wrap (4, W) arrays with Motif(name, probabilities)."
            )
    check_positive_int(nsites, "nsites", allow_none=True)
    bg = check_background(background)
    out = [
        "MEME version 4",
        "",
        f"ALPHABET= {ALPHABET}",
        "",
        "strands: + -",
        "",
        "Background letter frequencies",
        " ".join(f"{base} {value:.6f}" for base, value in zip(ALPHABET, bg, strict=True)),
        "",
    ]
    for motif in motifs:
        name = _check_token(motif.name, what=f"Motif name {motif.name!r}")
        fields = [name]
        if motif.matrix_id is not None:
            _check_token(motif.matrix_id, what=f"matrix_id of motif {motif.name!r}")
            fields = [motif.matrix_id] if motif.matrix_id == name else [motif.matrix_id, name]
        out.append("MOTIF " + " ".join(fields))
        out.append(
            f"letter-probability matrix: alength= 4 w= {motif.width} "
            f"nsites= {int(_nsites(motif, nsites))} E= 0"
        )
        out.extend(" ".join(f"{p:.8f}" for p in column) for column in motif.probabilities.T)
        out.append("")
    write_text(path, "\n".join(out))
    return path


__all__ = ["DEFAULT_NSITES", "read_meme", "read_meme_background", "write_meme"]
