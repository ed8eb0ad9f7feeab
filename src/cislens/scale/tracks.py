"""Attribution tracks in genome coordinates: a bigWig from a Zarr store of BED windows.

The value at a base is the **projected attribution** of the window position over it: the store's
``attributions`` summed over the four channels (for a one-hot input, the observed base's score).
A minus-strand window was read reverse-complemented, so its position ``p`` lies on base
``window_end - 1 - p``; positions of N-padded windows that lie off the chromosome are dropped.

Where windows overlap, one value per base comes from the **merge rule**:

- ``mean`` (default): the mean over every window that covers the base;
- ``nearest``: the value of the window whose centre (``window_start + length // 2``, the BED
  interval's centre) is nearest to the base; a tie goes to the interval listed first in the BED.

Bases no window covers have no value (bigWig: no data). The track is built without holding the
genome (or the whole store) in memory: windows are sorted by genome position and grouped into
*clusters* (windows that overlap or touch, so a cluster covers one gap-free span), and clusters
into *parts* of about ``part_rows`` windows. Each part reads only its own rows of the store and
is saved to a part file in the hidden folder ``.<out>.parts/`` (written to a temporary name and
renamed). The bigWig, which must be written in genome order in one go, is assembled from the part
files at the end into a temporary file that is renamed onto ``out``: nothing half-written is ever
at ``out``, and a run that is killed resumes from the parts already saved (the folder's manifest
records the store and the rule; a different one starts the parts over). The folder is removed
once the bigWig is in place.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cislens.scale._deps import require
from cislens.scale.store import MARKERS, read_metadata, read_windows
from cislens.utils.types import PathLike
from cislens.utils.validation import check_choice, check_int

MERGE_RULES = ("mean", "nearest")
"""How overlapping windows give one value per base (see the module docstring)."""


@dataclass
class TrackReport:
    """What :func:`write_bigwig` did: the parts computed by this run and those reused."""

    path: Path
    n_parts: int
    computed: list = field(default_factory=list)
    reused: list = field(default_factory=list)
    n_bases: int = 0
    seconds: float = 0.0


def _clipped(windows, sizes):
    limits = np.array([sizes[c] for c in windows["chrom"]], dtype=np.int64)
    first = np.maximum(windows["start"].to_numpy(np.int64), 0)
    last = np.minimum(windows["end"].to_numpy(np.int64), limits)
    return first, last


def plan_parts(windows, sizes: dict, part_rows: int) -> tuple[np.ndarray, list[list[int]]]:
    """Sort the windows by genome position and cut them into parts of whole clusters.

    Returns the sorted row order and, per part, the positions in that order where its clusters
    start (the last entry is where the part ends).

    Examples
    --------
    >>> import pandas as pd
    >>> w = pd.DataFrame({"chrom": ["c", "c", "c"], "start": [50, 0, 5], "end": [60, 10, 15],
    ...                   "strand": ["+"] * 3, "name": list("abc")})
    >>> order, parts = plan_parts(w, {"c": 100}, part_rows=1)
    >>> order.tolist(), parts
    ([1, 2, 0], [[0, 2], [2, 3]])
    """
    rank = {name: i for i, name in enumerate(sizes)}
    first, last = _clipped(windows, sizes)
    chrom_rank = np.array([rank[c] for c in windows["chrom"]], dtype=np.int64)
    order = np.lexsort((np.arange(len(windows)), first, chrom_rank))
    order = order[last[order] > first[order]]  # an N-padded window wholly off its chromosome
    parts, bounds, reach, chrom = [], [0], -1, -1
    for position, row in enumerate(order):
        new_cluster = chrom_rank[row] != chrom or first[row] > reach
        if new_cluster and position > 0:
            if position - bounds[0] >= part_rows:
                parts.append([*bounds, position])
                bounds = [position]
            else:
                bounds.append(position)
        if new_cluster:
            chrom, reach = chrom_rank[row], last[row]
        reach = max(reach, last[row])
    if len(order):
        parts.append([*bounds, len(order)])
    return order, parts


def _projected(group, rows: np.ndarray) -> dict[int, np.ndarray]:
    # One read per part: zarr fetches only the chunks that hold these rows.
    wanted = np.unique(rows)
    block = group["attributions"].get_orthogonal_selection((wanted, slice(None), slice(None)))
    sums = np.asarray(block, dtype=np.float64).sum(axis=1)
    return {int(row): sums[i] for i, row in enumerate(wanted)}


def _cluster_values(rows, windows, sizes, tracks, merge):
    """(chrom, span start, values) of one cluster under the merge rule."""
    chrom = windows["chrom"].iat[int(rows[0])]
    size = sizes[chrom]
    starts = windows["start"].to_numpy(np.int64)[rows]
    ends = windows["end"].to_numpy(np.int64)[rows]
    lo, hi = max(int(starts.min()), 0), min(int(ends.max()), size)
    total = np.zeros(hi - lo)
    count = np.zeros(hi - lo)
    best = np.full(hi - lo, np.inf)
    for row in sorted(int(r) for r in rows):  # by BED order: ties of "nearest" go to the first
        start, end = int(windows["start"].iat[row]), int(windows["end"].iat[row])
        track = tracks[row][::-1] if windows["strand"].iat[row] == "-" else tracks[row]
        keep = slice(max(lo - start, 0), min(hi, end) - start)
        values = track[keep]
        at = slice(max(start, lo) - lo, max(start, lo) - lo + len(values))
        if merge == "mean":
            total[at] += values
            count[at] += 1
        else:
            centre = start + (end - start) // 2
            distance = np.abs(np.arange(at.start, at.stop) + lo - centre)
            closer = distance < best[at]
            best[at] = np.where(closer, distance, best[at])
            total[at] = np.where(closer, values, total[at])
            count[at] = 1
    if (count == 0).any():  # clusters are gap-free by construction; never write a hole as 0
        raise AssertionError(f"cluster {chrom}:{lo}-{hi} has uncovered bases")
    return chrom, lo, (total / count).astype(np.float32)


def _save_part(path: Path, chroms, starts, values) -> None:
    from cislens.utils.files import atomic_open

    with atomic_open(path, "wb", name="--bigwig") as handle:  # a part is whole or absent
        np.savez(handle, chroms=np.asarray(chroms, dtype=str),
                 starts=np.asarray(starts, np.int64),
                 lengths=np.asarray([len(v) for v in values], np.int64),
                 values=np.concatenate(values) if values else np.zeros(0, np.float32))  # fmt: skip


def _manifest(store: Path, merge: str, parts) -> dict:
    meta = read_metadata(store)
    digest = hashlib.sha256(json.dumps(meta, sort_keys=True).encode()).hexdigest()
    layout = hashlib.sha256(json.dumps(parts).encode()).hexdigest()
    return {"store_sha256": digest, "merge": merge, "parts_sha256": layout}


def _parts_folder(out: Path, manifest: dict) -> Path:
    folder = out.with_name(f".{out.name}.parts")
    record = folder / "manifest.json"
    if folder.exists():
        try:
            same = json.loads(record.read_text()) == manifest
        except (OSError, ValueError):
            same = False
        if not same:  # another store or rule: its parts are of no use here
            shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if not record.exists():
        from cislens.utils.files import write_text

        write_text(record, json.dumps(manifest), name="--bigwig")
    return folder


def _check_store(store: Path, merge: str):
    zarr = require("zarr")
    check_choice(merge, MERGE_RULES, name="merge (--bigwig-merge)")
    if not store.exists():
        raise FileNotFoundError(f"attribution store not found: {str(store)!r}.")
    meta = read_metadata(store)
    if meta.get("format") != "cislens-zarr-attributions":
        raise ValueError(f"{str(store)!r} is not an attribution store ({meta.get('format')!r}).")
    group = zarr.open_group(str(store), mode="r")
    done = np.asarray(group[MARKERS][:]) == 1
    if not done.all():
        raise ValueError(
            f"{str(store)!r} has {int((~done).sum())} of {done.size} chunks unfinished; re-run "
            "the same `cislens attribute` command to finish them before writing a track."
        )
    return group


def write_bigwig(
    store: PathLike,
    out: PathLike,
    *,
    merge: str = "mean",
    part_rows: int | None = None,
    zooms: int = 10,
    verbose: bool = False,
) -> TrackReport:
    """Write the projected attributions of a BED + genome store as a bigWig (resumable).

    Parameters
    ----------
    store : str or Path
        A finished attribution store written from BED + genome (:func:`attribute_to_zarr`).
    out : str or Path
        The bigWig file (``.bw``).
    merge : {"mean", "nearest"}
        The rule for bases covered by several windows (module docstring).
    part_rows : int, optional
        Windows per part file (whole clusters; default the store's chunk size). Memory grows
        with it, not with the genome.
    zooms : int
        Zoom levels (pre-computed summaries genome browsers read when zoomed out; pyBigWig's
        default 10). libBigWig builds them when the file is closed and holds about 15 bytes
        per written base while doing so (105 MB for 7 Mb of windows); 0 writes none and keeps
        the assembly's memory constant.
    verbose : bool
        Progress bar over parts.

    Returns
    -------
    TrackReport

    Examples
    --------
    >>> write_bigwig("missing.zarr", "x.bw")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    FileNotFoundError: attribution store not found: ...
    """
    from tqdm.auto import tqdm

    pybigwig = require("pyBigWig")
    check_int(zooms, "zooms (--bigwig-zooms)", minimum=0, maximum=10)
    store, out = Path(store).resolve(), Path(out)
    started = time.perf_counter()
    group = _check_store(store, merge)
    windows, sizes = read_windows(store)
    part_rows = int(part_rows or read_metadata(store)["chunk_size"])
    order, parts = plan_parts(windows, sizes, part_rows)
    folder = _parts_folder(out, _manifest(store, merge, parts))
    report = TrackReport(out, len(parts))
    for index in tqdm(range(len(parts)), unit="part", disable=not verbose):
        path = folder / f"part-{index:06d}.npz"
        if path.exists():
            report.reused.append(index)
            continue
        bounds = parts[index]
        tracks = _projected(group, order[bounds[0] : bounds[-1]])
        pieces = [_cluster_values(order[a:b], windows, sizes, tracks, merge)
                  for a, b in itertools.pairwise(bounds)]  # fmt: skip
        _save_part(path, *zip(*pieces, strict=True))
        report.computed.append(index)
    report.n_bases = _assemble(pybigwig, folder, len(parts), sizes, out, zooms)
    shutil.rmtree(folder, ignore_errors=True)
    report.seconds = time.perf_counter() - started
    return report


def _assemble(pybigwig, folder: Path, n_parts: int, sizes: dict, out: Path, zooms: int) -> int:
    from cislens.utils.files import atomic_output

    n_bases = 0
    with atomic_output(out, name="--bigwig") as temporary:
        track = pybigwig.open(str(temporary), "w")
        try:
            track.addHeader([(name, int(size)) for name, size in sizes.items()],
                            maxZooms=int(zooms))  # fmt: skip
            for index in range(n_parts):
                with np.load(folder / f"part-{index:06d}.npz") as part:
                    offsets = np.concatenate([[0], np.cumsum(part["lengths"])])
                    for i, chrom in enumerate(part["chroms"]):
                        values = part["values"][offsets[i] : offsets[i + 1]].astype(np.float64)
                        track.addEntries(str(chrom), int(part["starts"][i]), values=values,
                                         span=1, step=1)  # fmt: skip
                        n_bases += len(values)
        finally:
            track.close()
    return n_bases


__all__ = ["MERGE_RULES", "TrackReport", "plan_parts", "write_bigwig"]
