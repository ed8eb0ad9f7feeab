"""Motif discovery results on disk: cislens HDF5, modisco-lite's HDF5 layout, and MEME files.

Layouts are documented in ``docs/formats.md`` ("Motif discovery results"). The cislens file
keeps everything needed to reload a :class:`MotifDiscoveryResult`; the modisco-lite export is
for tools that read ``modisco motifs`` output (``modisco report``, Fi-NeMo, tangermeme); its
arrays are (W, 4) / (n, W, 4) because that layout is modisco-lite's file format.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np

from cislens._version import __version__
from cislens.io.hdf5 import (
    as_path,
    attr_value,
    check_format,
    existing_file,
    from_json,
    hdf5_output,
    open_hdf5,
    read_table,
    to_json,
    write_table,
)
from cislens.motifs.aggregate import Pattern
from cislens.motifs.discover import MotifDiscoveryResult
from cislens.utils.types import ArrayLike, PathLike
from cislens.utils.validation import check_choice

FORMAT = "cislens-motifs"
FORMAT_VERSION = 1
MEME_KINDS = ("pfm", "cwm-pfm", "hcwm-pfm")


def _write_pattern(group: h5py.Group, pattern: Pattern) -> None:
    group.attrs["metacluster"] = pattern.metacluster
    group.attrs["stats"] = to_json(pattern.stats, name="pattern stats")
    for key, values in (
        ("sequence", pattern.sequence),
        ("contrib", pattern.contrib),
        ("hypothetical", pattern.hypothetical),
    ):
        group.create_dataset(key, data=np.asarray(values, dtype=np.float32))
    write_table(group.create_group("seqlets"), pattern.seqlets, name="pattern seqlets")


def _read_pattern(group: h5py.Group, name: str, path) -> Pattern:
    stats = from_json(group.attrs.get("stats", "{}"), name="pattern stats", path=path)
    return Pattern(
        name,
        group["sequence"][()].astype(np.float64),
        group["contrib"][()].astype(np.float64),
        group["hypothetical"][()].astype(np.float64),
        read_table(group["seqlets"], path=path, name="pattern seqlets"),
        metacluster=attr_value(group.attrs["metacluster"]),
        stats=stats,
    )


def save_motifs(path: PathLike, result: MotifDiscoveryResult) -> Path:
    """Write a :class:`MotifDiscoveryResult` to an HDF5 file (see ``docs/formats.md``).

    Examples
    --------
    >>> import tempfile, pandas as pd
    >>> from cislens.motifs.seqlets import SEQLET_COLUMNS
    >>> empty = MotifDiscoveryResult([], pd.DataFrame({c: [] for c in SEQLET_COLUMNS}))
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     out = save_motifs(f"{folder}/m.h5", empty)
    ...     len(load_motifs(out).patterns)
    0
    """
    path = as_path(path)
    if not isinstance(result, MotifDiscoveryResult):
        raise TypeError(f"result must be a MotifDiscoveryResult; got {type(result).__name__}.")
    with hdf5_output(path) as handle:
        handle.attrs["format"] = FORMAT
        handle.attrs["format_version"] = FORMAT_VERSION
        handle.attrs["cislens_version"] = result.cislens_version or __version__
        if result.random_state is not None:
            handle.attrs["random_state"] = int(result.random_state)
        handle.attrs["params"] = to_json(result.params, name="params")
        handle.attrs["thresholds"] = to_json(result.thresholds, name="thresholds")
        if result.empty_reason is not None:  # the documented "nothing found" outcome
            handle.attrs["empty_reason"] = str(result.empty_reason)
        table = result.seqlets.copy()
        for column in ("strand", "metacluster", "pattern"):
            if column in table:
                table[column] = table[column].astype(str)
        write_table(handle.create_group("seqlets"), table, name="seqlets")
        for group_name, patterns in (("patterns", result.patterns), ("rejected", result.rejected)):
            group = handle.create_group(group_name)
            group.attrs["names"] = to_json([p.name for p in patterns], name="pattern names")
            for pattern in patterns:
                _write_pattern(group.create_group(pattern.name), pattern)
    return path


def load_motifs(path: PathLike) -> MotifDiscoveryResult:
    """Read a file written by :func:`save_motifs`."""
    path = existing_file(path)
    with open_hdf5(path, what=FORMAT + " file") as handle:
        check_format(
            handle.attrs.get("format"),
            handle.attrs.get("format_version"),
            path=path,
            expected=FORMAT,
            supported_version=FORMAT_VERSION,
            hint=" Motif results are written by cislens.motifs.save_motifs.",
        )
        groups = {}
        for group_name in ("patterns", "rejected"):
            group = handle[group_name]
            names = from_json(group.attrs["names"], name="pattern names", path=path)
            groups[group_name] = [_read_pattern(group[n], n, path) for n in names]
        seqlets = read_table(handle["seqlets"], path=path, name="seqlets")
        random_state = attr_value(handle.attrs.get("random_state"))
        return MotifDiscoveryResult(
            groups["patterns"],
            seqlets,
            groups["rejected"],
            thresholds=from_json(handle.attrs["thresholds"], name="thresholds", path=path),
            params=from_json(handle.attrs["params"], name="params", path=path),
            random_state=random_state,
            cislens_version=attr_value(handle.attrs.get("cislens_version")),
            empty_reason=attr_value(handle.attrs.get("empty_reason")),
        )


def export_modisco_h5(
    path: PathLike, result: MotifDiscoveryResult, X: ArrayLike, hypothetical: ArrayLike
) -> Path:
    """Write the patterns in modisco-lite's ``modisco motifs`` HDF5 layout.

    ``pos_patterns/pattern_<i>`` and ``neg_patterns/pattern_<i>`` hold ``sequence``,
    ``contrib_scores`` and ``hypothetical_contribs`` (W, 4) and ``seqlets/{n_seqlets, start,
    end, example_idx, is_revcomp, sequence, contrib_scores, hypothetical_contribs}`` with the
    seqlet arrays (n, W, 4) in the pattern's orientation. ``X`` and ``hypothetical`` (N, 4, L)
    are the arrays the result was computed from (needed for the per-seqlet arrays); array-likes
    (Zarr, h5py) are read in chunks, keeping only the patterns' seqlet windows.
    """
    import pandas as pd

    from cislens.motifs.aggregate import SeqletSource, member_tracks
    from cislens.motifs.source import WindowSource, is_in_memory

    path = as_path(path)
    if is_in_memory(X) and is_in_memory(hypothetical):
        source = SeqletSource(np.asarray(X, dtype=np.float32), np.asarray(hypothetical, np.float32))
    else:
        tables = [p.seqlets for p in result.patterns]
        source = WindowSource.from_chunks(
            X,
            hypothetical,
            pd.concat(tables) if tables else pd.DataFrame({"example": [], "start": [], "end": []}),
            pad=0,
        )
    with hdf5_output(path) as handle:
        for metacluster in ("pos", "neg"):
            patterns = [p for p in result.patterns if p.metacluster == metacluster]
            if not patterns:
                continue
            group = handle.create_group(f"{metacluster}_patterns")
            for i, pattern in enumerate(patterns):
                sub = group.create_group(f"pattern_{i}")
                sub.create_dataset("sequence", data=pattern.sequence.T)
                sub.create_dataset("contrib_scores", data=pattern.contrib.T)
                sub.create_dataset("hypothetical_contribs", data=pattern.hypothetical.T)
                table = pattern.seqlets
                onehot, hyp = member_tracks(source, pattern)
                seqlets = sub.create_group("seqlets")
                seqlets.create_dataset("n_seqlets", data=np.array([len(table)]))
                seqlets.create_dataset("start", data=table["start"].to_numpy(np.int64))
                seqlets.create_dataset("end", data=table["end"].to_numpy(np.int64))
                seqlets.create_dataset("example_idx", data=table["example"].to_numpy(np.int64))
                seqlets.create_dataset("is_revcomp", data=(table["strand"] == "-").to_numpy())
                seqlets.create_dataset("sequence", data=onehot.transpose(0, 2, 1))
                seqlets.create_dataset("contrib_scores", data=(onehot * hyp).transpose(0, 2, 1))
                seqlets.create_dataset("hypothetical_contribs", data=hyp.transpose(0, 2, 1))
    return path


def write_patterns_meme(
    path: PathLike,
    patterns: Sequence[Pattern],
    *,
    kind: str = "pfm",
    trim: float | None = 0.3,
    allow_empty: bool = False,
) -> Path:
    """Write patterns to a MEME motif file.

    ``kind``: "pfm" (base frequencies of the seqlets), "cwm-pfm" (softmax of the CWM) or
    "hcwm-pfm" (softmax of the hCWM); ``trim`` as in :meth:`Pattern.to_motif`. The number of
    seqlets is written as ``nsites``. No patterns is an error unless ``allow_empty=True``, which
    writes the MEME header alone (what the pipeline's motifs stage does when nothing is found,
    so the file never lingers from an earlier run).
    """
    from cislens.pwm import write_meme

    check_choice(kind, MEME_KINDS, name="kind")
    patterns = list(getattr(patterns, "patterns", patterns))
    if not patterns and allow_empty:
        return write_meme(as_path(path), [], allow_empty=True)
    if not patterns:
        raise ValueError("there are no patterns to write; discovery found none.")
    motifs = [p.to_motif(kind=kind, trim=trim) for p in patterns]
    nsites = min(p.n_seqlets for p in patterns)
    return write_meme(as_path(path), motifs, nsites=max(nsites, 1))


__all__ = ["FORMAT", "export_modisco_h5", "load_motifs", "save_motifs", "write_patterns_meme"]
