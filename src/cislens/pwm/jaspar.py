"""Motifs from the JASPAR database (through ``pyjaspar``), and one loader for every motif spec.

``pyjaspar`` ships the JASPAR releases as SQLite files inside the package, so no network is
needed. :func:`load_jaspar_motif` resolves a TF name or a matrix ID; :func:`load_motif` accepts
anything a user may type where a motif is expected (a JASPAR name or ID, a MEME file, an IUPAC
consensus). Loaded motifs are cached in-process.

How a **name** is resolved (``pyjaspar``'s own ``fetch_motifs_by_name`` is case-sensitive and
misses matrices renamed between versions, e.g. SPI1 / Spi1):

1. Every matrix of the release whose name equals the query, ignoring case, is a candidate.
2. Candidates are ranked: collection CORE before UNVALIDATED, taxonomic group vertebrates before
   the others, then the lowest base ID (the original profile of a TF; e.g. CTCF -> MA0139
   rather than the later MA1929 / MA1930).
3. The **latest version** of the winning base ID is returned (MA0139 -> MA0139.2).

An unknown name raises ``ValueError`` listing close matches (``difflib``) and the dimers that
contain the name (``TAL1`` -> ``TAL1::TCF3``).
"""

from __future__ import annotations

import difflib
import functools
import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cislens.pwm.motif import UNIFORM_BACKGROUND, Motif
from cislens.sequence.alphabet import ALPHABET, IUPAC_CODES
from cislens.utils.types import PathLike
from cislens.utils.validation import check_number

DEFAULT_PSEUDOCOUNT = 1.0
"""Pseudo-sites added to JASPAR counts (spread by the uniform background) by default."""

_MATRIX_ID = re.compile(r"^(MA|UN|PB|PF|PH|CN|POL|CI)\d{4}(\.\d+)?$", re.IGNORECASE)
_IUPAC_LETTERS = set(ALPHABET) | set(IUPAC_CODES)
_CONSENSUS_SITES = 100.0  # sites per column when a consensus string becomes a count matrix


@dataclass(frozen=True)
class _Entry:
    base_id: str
    version: int
    collection: str
    name: str
    tax_group: str

    @property
    def matrix_id(self) -> str:
        return f"{self.base_id}.{self.version}"


def jaspar_releases() -> list[str]:
    """The JASPAR releases shipped with the installed ``pyjaspar``, newest first.

    Examples
    --------
    >>> releases = jaspar_releases()
    >>> releases == sorted(releases, reverse=True) and all(r.startswith("JASPAR") for r in releases)
    True
    """
    import pyjaspar

    return sorted(pyjaspar.jaspar_releases, reverse=True)


def default_release() -> str:
    """The newest JASPAR release ``pyjaspar`` ships (used when ``release=None``)."""
    return jaspar_releases()[0]


def check_release(release) -> str:
    if release is None:
        return default_release()
    releases = jaspar_releases()
    if not isinstance(release, str) or release not in releases:
        raise ValueError(
            f"release must be one of the JASPAR releases shipped with pyjaspar {releases}; "
            f"got {release!r}. Pass release=None for the newest."
        )
    return release


def _connect(release: str):
    from pyjaspar import jaspardb

    return jaspardb(release=release)


@functools.cache
def _catalogue(release: str) -> tuple[_Entry, ...]:
    """Every matrix of ``release`` with its collection and taxonomic group (cached)."""
    db = _connect(release)
    cursor = db.conn.cursor()
    cursor.execute("SELECT ID, BASE_ID, VERSION, COLLECTION, NAME FROM MATRIX")
    rows = cursor.fetchall()
    cursor.execute("SELECT ID, VAL FROM MATRIX_ANNOTATION WHERE TAG = 'tax_group'")
    tax = dict(cursor.fetchall())
    db.conn.close()
    return tuple(
        _Entry(str(base), int(version), str(collection), str(name), str(tax.get(int_id, "")))
        for int_id, base, version, collection, name in rows
    )


def _latest(release: str, base_id: str) -> _Entry | None:
    versions = [e for e in _catalogue(release) if e.base_id.upper() == base_id.upper()]
    return max(versions, key=lambda e: e.version) if versions else None


def _resolve_id(release: str, query: str) -> _Entry:
    base, _, version = query.upper().partition(".")
    if not version:
        entry = _latest(release, base)
    else:
        matches = [
            e
            for e in _catalogue(release)
            if e.base_id.upper() == base and str(e.version) == version
        ]
        entry = matches[0] if matches else None
    if entry is None:
        known = sorted({e.matrix_id for e in _catalogue(release) if e.base_id.upper() == base})
        hint = f" Versions there: {known}." if known else ""
        raise ValueError(
            f"JASPAR matrix ID {query!r} is not in {release}.{hint} "
            "Check the ID, or pass a TF name such as 'CTCF'."
        )
    return entry


def _base_number(base_id: str) -> tuple[str, int]:
    digits = re.sub(r"\D", "", base_id)
    return (re.sub(r"\d", "", base_id), int(digits) if digits else 0)


def _resolve_name(release: str, query: str) -> _Entry:
    entries = _catalogue(release)
    wanted = query.strip().upper()
    candidates = [e for e in entries if e.name.upper() == wanted]
    if not candidates:
        names = sorted({e.name for e in entries})
        by_upper: dict[str, str] = {}
        for name in names:
            by_upper.setdefault(name.upper(), name)
        close = difflib.get_close_matches(wanted, list(by_upper), n=8, cutoff=0.6)

        def closeness(candidate):  # transpositions (same letters) first, then similarity
            ratio = difflib.SequenceMatcher(None, wanted, candidate).ratio()
            return (sorted(candidate) != sorted(wanted), -ratio)

        close = [by_upper[c] for c in sorted(close, key=closeness)[:5]]
        dimers = [n for n in names if wanted in n.upper().split("::") and "::" in n]
        suggestions = list(dict.fromkeys([*dimers, *close]))
        hint = f" Close matches: {suggestions}." if suggestions else ""
        raise ValueError(
            f"motif name {query!r} is not in {release}.{hint} Pass a JASPAR TF name (e.g. "
            "'CTCF'), a matrix ID (e.g. 'MA0139.2'), a MEME file or a consensus string."
        )

    def rank(entry: _Entry):
        return (
            entry.collection != "CORE",
            entry.tax_group != "vertebrates",
            _base_number(entry.base_id),
        )

    best = min(candidates, key=rank)
    return _latest(release, best.base_id) or best


@functools.cache
def _counts(release: str, matrix_id: str) -> np.ndarray:
    db = _connect(release)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pyjaspar warns (BiopythonWarning) on misses
        record = db.fetch_motif_by_id(matrix_id)
    db.conn.close()
    if record is None:  # pragma: no cover - _resolve_* checked the ID already
        raise ValueError(f"JASPAR matrix {matrix_id!r} could not be read from {release}.")
    counts = np.array([list(record.counts[base]) for base in ALPHABET], dtype=np.float64)
    counts.setflags(write=False)
    return counts


@functools.lru_cache(maxsize=512)
def _load_cached(query: str, release: str, pseudocount: float) -> Motif:
    if _MATRIX_ID.match(query):
        entry = _resolve_id(release, query)
    else:
        entry = _resolve_name(release, query)
    return Motif.from_counts(
        entry.name,
        _counts(release, entry.matrix_id),
        pseudocount=pseudocount,
        matrix_id=entry.matrix_id,
        source=release,
    )


def _check_pseudocount(pseudocount) -> float:
    return check_number(
        pseudocount,
        "pseudocount",
        minimum=0,
        what="a finite number",
        detail=" (pseudo-sites per column)",
        fix=f"The default is {DEFAULT_PSEUDOCOUNT}.",
    )


def load_jaspar_motif(
    name_or_id: str, *, release: str | None = None, pseudocount: float = DEFAULT_PSEUDOCOUNT
) -> Motif:
    """Load one JASPAR motif by TF name or matrix ID.

    Parameters
    ----------
    name_or_id : str
        A TF name (case-insensitive, e.g. "CTCF", "Spi1") or a matrix ID ("MA0139.2"; a base ID
        such as "MA0139" means its latest version). Names resolve as described in the module
        docstring: CORE vertebrates preferred, the lowest base ID, its latest version.
    release : str, optional
        A release shipped with pyjaspar (e.g. "JASPAR2024"). Default None: the newest.
    pseudocount : float
        Pseudo-sites per column, spread by the uniform background
        (``p = (c + a/4) / (n + a)``); default 1.0.

    Returns
    -------
    Motif
        ``name`` is the matrix's JASPAR name, ``matrix_id`` its ID, ``counts`` the JASPAR counts
        and ``source`` the release (e.g. "JASPAR2026"). Cached: repeated calls are free.

    Raises
    ------
    ValueError
        Unknown name (close matches are listed), unknown ID, unknown release, bad pseudocount.

    Examples
    --------
    >>> motif = load_jaspar_motif("CTCF", release="JASPAR2024")
    >>> motif.matrix_id, motif.source, motif.width
    ('MA0139.2', 'JASPAR2024', 15)
    >>> load_jaspar_motif("MA0139", release="JASPAR2024").matrix_id
    'MA0139.2'
    """
    if not isinstance(name_or_id, str) or not name_or_id.strip():
        raise TypeError(
            f"name_or_id must be a non-empty str (a TF name or a JASPAR matrix ID); "
            f"got {name_or_id!r}."
        )
    key = name_or_id.strip()
    return _load_cached(key, check_release(release), _check_pseudocount(pseudocount))


def load_jaspar_motifs(
    names: str | Iterable[str],
    *,
    release: str | None = None,
    pseudocount: float = DEFAULT_PSEUDOCOUNT,
) -> list[Motif]:
    """Load several JASPAR motifs (see :func:`load_jaspar_motif`), in the order given.

    Examples
    --------
    >>> [m.name for m in load_jaspar_motifs(["MAFK", "MA0139.2"], release="JASPAR2024")]
    ['MAFK', 'CTCF']
    """
    if isinstance(names, str):
        names = [names]
    return [load_jaspar_motif(n, release=release, pseudocount=pseudocount) for n in names]


def motif_from_consensus(
    consensus: str, *, name: str | None = None, pseudocount: float = DEFAULT_PSEUDOCOUNT
) -> Motif:
    """A motif from a consensus string; IUPAC codes spread the column over their bases.

    Each column gets 100 sites shared equally by the bases its letter stands for ("N": all four),
    then ``pseudocount`` pseudo-sites spread uniformly, so log-odds stay finite.

    Examples
    --------
    >>> m = motif_from_consensus("TGASTCA")
    >>> m.consensus[:3], m.width, round(float(m.probabilities[1, 3]), 3)
    ('TGA', 7, 0.498)
    """
    if not isinstance(consensus, str) or not consensus:
        raise ValueError(f"consensus must be a non-empty str of IUPAC letters; got {consensus!r}.")
    letters = consensus.upper()
    bad = [(i, c) for i, c in enumerate(letters) if c not in _IUPAC_LETTERS]
    if bad:
        position, char = bad[0]
        raise ValueError(
            f"consensus {consensus!r} has {char!r} at position {position}; use A, C, G, T or "
            f"the IUPAC codes {''.join(IUPAC_CODES)}."
        )
    counts = np.zeros((4, len(letters)))
    for column, char in enumerate(letters):
        bases = IUPAC_CODES.get(char, char)
        for base in bases:
            counts[ALPHABET.index(base), column] = _CONSENSUS_SITES / len(bases)
    return Motif.from_counts(
        name or consensus,
        counts,
        pseudocount=_check_pseudocount(pseudocount),
        background=UNIFORM_BACKGROUND,
        source="consensus",
    )


def _looks_like_consensus(text: str) -> bool:
    """An IUPAC-only string of >= 4 letters, at least half of them A/C/G/T."""
    upper = text.upper()
    return (
        len(upper) >= 4
        and all(c in _IUPAC_LETTERS for c in upper)
        and sum(c in ALPHABET for c in upper) * 2 >= len(upper)
    )


def _split_meme_spec(spec: str) -> tuple[str, str | None]:
    lowered = spec.lower()
    index = lowered.rfind(".meme")
    if index >= 0:
        path, rest = spec[: index + 5], spec[index + 5 :]
        if rest.startswith(":") and rest[1:]:
            return path, rest[1:]
        if not rest:
            return path, None
    if ":" in spec and not Path(spec).exists():
        path, _, name = spec.rpartition(":")
        return path, name or None
    return spec, None


def _load_meme(path: str, name: str | None, spec: str) -> Motif:
    from cislens.pwm.meme import read_meme

    motifs = read_meme(Path(path))
    if name is None:
        if len(motifs) != 1:
            names = [m.name for m in motifs]
            raise ValueError(
                f"motif spec {spec!r}: the MEME file holds {len(motifs)} motifs {names[:10]}; "
                f"name one as '{path}:NAME'."
            )
        return motifs[0]
    for motif in motifs:
        if name in (motif.name, motif.matrix_id):
            return motif
    names = [m.name for m in motifs]
    close = difflib.get_close_matches(name, names, n=5, cutoff=0.5)
    raise ValueError(
        f"motif spec {spec!r}: no motif named {name!r} in {path}"
        + (f"; close matches: {close}" if close else f"; it holds {names[:10]}")
        + "."
    )


def load_motif(
    spec: str | Motif | PathLike,
    *,
    release: str | None = None,
    pseudocount: float = DEFAULT_PSEUDOCOUNT,
) -> Motif:
    """Load a motif from any spec a user may write.

    Parameters
    ----------
    spec : str or Motif
        Resolved in this order:

        - a :class:`Motif`: returned as is;
        - ``"jaspar:NAME_OR_ID"``, ``"meme:PATH[:NAME]"``, ``"consensus:IUPAC"``: explicit;
        - a JASPAR matrix ID (``MA0139.2``, ``MA0139``);
        - a MEME file ``path.meme`` or ``path.meme:NAME`` (NAME: a motif's name or ID; optional
          when the file holds one motif), a ``pathlib.Path``, or an existing file path with a
          ``/`` in it;
        - an IUPAC consensus: 4+ letters from ``ACGTRYSWKMBDHVN``, at least half of them A/C/G/T
          (``"TGASTCA"``); use ``"jaspar:NAME"`` for a TF whose name looks like one;
        - otherwise a JASPAR TF name (``"CTCF"``).
    release, pseudocount
        For JASPAR motifs (see :func:`load_jaspar_motif`); ``pseudocount`` also applies to
        consensus strings.

    Examples
    --------
    >>> load_motif("jaspar:MAFK", release="JASPAR2024").matrix_id
    'MA0496.4'
    >>> load_motif("TGASTCA").source
    'consensus'
    """
    if isinstance(spec, Motif):
        return spec
    if not isinstance(spec, (str, Path)) or not str(spec).strip():
        raise TypeError(
            "a motif spec must be a Motif or a non-empty str (JASPAR name or ID, "
            f"'file.meme[:NAME]' or an IUPAC consensus); got {spec!r}."
        )
    text = str(spec).strip()
    prefix, _, rest = text.partition(":")
    kind = prefix.lower()
    if rest and kind == "jaspar":
        return load_jaspar_motif(rest, release=release, pseudocount=pseudocount)
    if rest and kind == "consensus":
        return motif_from_consensus(rest, pseudocount=pseudocount)
    if rest and kind == "meme":
        path, name = _split_meme_spec(rest)
        return _load_meme(path, name, text)
    if _MATRIX_ID.match(text):
        return load_jaspar_motif(text, release=release, pseudocount=pseudocount)
    is_path = isinstance(spec, Path) or ("/" in text and Path(text).is_file())
    if ".meme" in text.lower() or is_path:
        path, name = _split_meme_spec(text)
        return _load_meme(path, name, text)
    if _looks_like_consensus(text):
        return motif_from_consensus(text, pseudocount=pseudocount)
    return load_jaspar_motif(text, release=release, pseudocount=pseudocount)


__all__ = [
    "DEFAULT_PSEUDOCOUNT",
    "default_release",
    "jaspar_releases",
    "load_jaspar_motif",
    "load_jaspar_motifs",
    "load_motif",
    "motif_from_consensus",
]
