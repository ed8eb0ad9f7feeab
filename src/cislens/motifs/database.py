"""Motif databases for annotation: all JASPAR CORE vertebrate motifs, or a MEME file."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from cislens.pwm import Motif, read_meme
from cislens.pwm.jaspar import DEFAULT_PSEUDOCOUNT, check_release
from cislens.sequence.alphabet import ALPHABET


@functools.cache
def _jaspar_counts(release: str, collection: str, tax_group: str):
    from pyjaspar import jaspardb

    db = jaspardb(release=release)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        records = db.fetch_motifs(collection=collection, tax_group=[tax_group], all_versions=False)
    db.conn.close()
    return tuple(
        (r.matrix_id, r.name, np.array([list(r.counts[b]) for b in ALPHABET], dtype=np.float64))
        for r in records
    )


def jaspar_database(
    *,
    release: str | None = None,
    collection: str = "CORE",
    tax_group: str = "vertebrates",
    pseudocount: float = DEFAULT_PSEUDOCOUNT,
) -> list[Motif]:
    """Every motif of a JASPAR collection and taxonomic group (latest versions), via pyjaspar.

    Parameters
    ----------
    release : str, optional
        A release shipped with pyjaspar (default: the newest).
    collection, tax_group : str
        Default "CORE" and "vertebrates".
    pseudocount : float
        Pseudo-sites per column spread uniformly (default 1.0).

    Returns
    -------
    list of Motif
        ``matrix_id`` (e.g. "MA0139.2"), ``name`` (e.g. "CTCF"), ``source`` the release. Cached
        per (release, collection, tax_group); no network is needed.

    Examples
    --------
    >>> motifs = jaspar_database(release="JASPAR2024")
    >>> len(motifs) > 800, any(m.name == "CTCF" for m in motifs)
    (True, True)
    """
    release = check_release(release)
    entries = _jaspar_counts(release, collection, tax_group)
    if not entries:
        raise ValueError(
            f"JASPAR {release} has no {collection} motifs for tax_group "
            f"{tax_group!r}; check the spelling (e.g. 'vertebrates')."
        )
    return [
        Motif.from_counts(
            name, counts, pseudocount=pseudocount, matrix_id=matrix_id, source=release
        )
        for matrix_id, name, counts in entries
    ]


def load_database(database: str | Path | Sequence[Motif] | None = None) -> list[Motif]:
    """A motif database from a spec: None / "jaspar" (JASPAR CORE vertebrates), "jaspar:RELEASE",
    a MEME file path, or a list of :class:`Motif` (returned as a list).

    Examples
    --------
    >>> from cislens.pwm import Motif
    >>> len(load_database([Motif("a", np.full((4, 3), 0.25))]))
    1
    """
    if database is None:
        return jaspar_database()
    if isinstance(database, (str, Path)):
        text = str(database)
        if text.lower() == "jaspar":
            return jaspar_database()
        if text.lower().startswith("jaspar:"):
            return jaspar_database(release=text.split(":", 1)[1])
        path = Path(text)
        if not path.is_file():
            raise FileNotFoundError(
                f"database: no such MEME file '{path}'. Pass 'jaspar', "
                "'jaspar:JASPAR2024', a MEME file or a list of Motif."
            )
        return read_meme(path)
    motifs = list(database)
    if not motifs or not all(isinstance(m, Motif) for m in motifs):
        raise TypeError(
            "database must be None, 'jaspar', 'jaspar:RELEASE', a MEME file path or "
            "a non-empty list of cislens.pwm.Motif."
        )
    return motifs


__all__ = ["jaspar_database", "load_database"]
