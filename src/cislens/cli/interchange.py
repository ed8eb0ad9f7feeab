"""``cislens export`` and ``cislens merge-motifs``: files for modisco-lite / Fi-NeMo, and one
motif set from several runs. Thin shells over :mod:`cislens.io.interchange`,
:mod:`cislens.motifs.peers` and :func:`cislens.motifs.merge_motif_sets`.

- ``export -a attr.h5 -o out/``: ``sequences.npz`` and ``scores.npz`` (``arr_0``, (N, 4, L):
  ``modisco motifs -s out/sequences.npz -a out/scores.npz``, ``finemo
  extract-regions-modisco-fmt``), ``contributions.h5`` (ChromBPNet layout: ``finemo
  extract-regions-chrombpnet-h5``, ``modisco motifs -i``) and ``regions.npz`` (``finemo
  call-hits -r``); with
  ``--motifs motifs.h5`` also ``modisco.h5`` (``modisco report``, ``finemo call-hits -m``) and
  ``motifs.meme``.
- ``merge-motifs runA/motifs.h5 runB/modisco_results.h5 -o merged/``: ``motifs.h5``,
  ``motifs.meme`` and ``provenance.tsv``. Inputs are cislens motif files or modisco-lite
  results files (told apart by their ``format`` attribute).
"""

from __future__ import annotations

from pathlib import Path

import typer

from cislens.cli._app import app, echo
from cislens.utils.files import ensure_dir, write_table

EXPORT_TARGETS = ("all", "modisco", "finemo")


def read_scores(attributions: Path, sequences: Path | None):
    """The arrays ``cislens motifs -a`` and ``export -a`` accept (``X``, ``hypothetical``, ...).

    A cislens attribution store; a Zarr store; an ``.npz`` / ``.h5`` with arrays ``sequences``
    and ``hypothetical``; or, with ``sequences`` (``-s``), a modisco-lite pair of ``arr_0``
    files. Stores without hypothetical scores come back with ``hypothetical`` None.
    """
    from cislens.io import load_attributions
    from cislens.io.interchange import load_modisco_arrays, load_plain_arrays

    if sequences is not None:
        return load_modisco_arrays(sequences, attributions)
    if attributions.is_dir():  # a Zarr store: read in chunks by discovery, never loaded whole
        from cislens.motifs.source import open_zarr_attributions

        return open_zarr_attributions(attributions)
    if _is_cislens_store(attributions):
        return load_attributions(attributions)
    return load_plain_arrays(attributions)


def _is_cislens_store(path: Path) -> bool:
    """True when ``path`` carries the cislens attribution store's marks (or cannot be peeked)."""
    import h5py
    import numpy as np

    if not path.is_file():
        return True  # let the store's reader name the problem
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as archive:
                return "metadata" in archive.files
        with h5py.File(path, "r") as handle:
            return "format" in handle.attrs
    except (OSError, ValueError):
        return True


@app.command("export")
def export_command(
    attributions: Path = typer.Option(
        ..., "--attributions", "-a", help="Attribution store (.h5/.npz) to export."
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder (created when missing)."),
    to: str = typer.Option("all", "--to", help="'all', 'modisco' or 'finemo'."),
    motifs: Path = typer.Option(
        None, "--motifs", "-m", help="motifs.h5 from 'cislens motifs': also modisco.h5 + MEME."
    ),
    scores: str = typer.Option(
        "hypothetical", "--scores", help="'hypothetical' (modisco-lite's input) or 'projected'."
    ),
) -> None:
    """Write the inputs modisco-lite and Fi-NeMo read (see docs/formats.md)."""
    from cislens.io.interchange import (
        save_chrombpnet_h5,
        save_finemo_regions,
        save_modisco_arrays,
    )

    if to not in EXPORT_TARGETS:
        raise ValueError(f"--to must be one of {list(EXPORT_TARGETS)}; got {to!r}.")
    if scores not in ("hypothetical", "projected"):
        raise ValueError(f"--scores must be 'hypothetical' or 'projected'; got {scores!r}.")
    store = read_scores(attributions, None)
    values = store.hypothetical if scores == "hypothetical" else store.attributions
    if values is None:
        raise ValueError(
            f"'{attributions}' has no hypothetical scores; export --scores projected, or "
            "recompute with 'cislens attribute --hypothetical'."
        )
    ensure_dir(out)
    length = int(store.X.shape[2])
    if to in ("all", "modisco"):
        save_modisco_arrays(out / "sequences.npz", out / "scores.npz", store.X, values)
        echo(f"modisco motifs -s {out}/sequences.npz -a {out}/scores.npz -n 20000 -w {length}")
    if to in ("all", "finemo") and store.hypothetical is not None:
        save_chrombpnet_h5(out / "contributions.h5", store.X, store.hypothetical)
    if to in ("all", "finemo"):
        save_finemo_regions(out / "regions.npz", store.X, values)
        mode = "hh" if scores == "hypothetical" else "pp"
        echo(f"finemo call-hits -r {out}/regions.npz -m MODISCO_H5 -o HITS_DIR -M {mode}")
    if motifs is not None:
        _export_motifs(motifs, out, store)
    echo(f"wrote {out}/")


def _export_motifs(motifs: Path, out: Path, store) -> None:
    from cislens.motifs import export_modisco_h5, load_motifs, write_patterns_meme

    result = load_motifs(motifs)
    if store.hypothetical is None:
        raise ValueError("--motifs needs hypothetical scores in --attributions (for the seqlets).")
    export_modisco_h5(out / "modisco.h5", result, store.X, store.hypothetical)
    write_patterns_meme(out / "motifs.meme", result.patterns, allow_empty=True)


def read_motif_set(path: Path):
    """A cislens ``motifs.h5`` or a modisco-lite results file, as a MotifDiscoveryResult."""
    import h5py

    from cislens.motifs import load_modisco_h5, load_motifs

    with h5py.File(path, "r") as handle:
        cislens = "format" in handle.attrs
    return load_motifs(path) if cislens else load_modisco_h5(path)


@app.command("merge-motifs")
def merge_motifs_command(
    inputs: list[Path] = typer.Argument(
        ..., help="Motif files: cislens motifs.h5 or modisco-lite results h5, one per run."
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder (created when missing)."),
    labels: str = typer.Option(
        None, "--labels", help="Comma list of run names (default: run0, run1, ...)."
    ),
    threshold: float = typer.Option(0.7, "--threshold", help="Similarity that merges two."),
) -> None:
    """Merge the patterns of several discovery runs into one non-redundant set."""
    from cislens.motifs import (
        merge_motif_sets,
        provenance_table,
        save_motifs,
        write_patterns_meme,
    )
    from cislens.utils.files import check_output_dir

    names = None if labels is None else [x.strip() for x in labels.split(",")]
    check_output_dir(out)
    for path in inputs:
        if not path.is_file():
            raise ValueError(f"motif file '{path}' does not exist.")
    merged = merge_motif_sets(
        [read_motif_set(p) for p in inputs], labels=names, threshold=threshold
    )
    ensure_dir(out)
    save_motifs(out / "motifs.h5", merged)
    write_patterns_meme(out / "motifs.meme", merged.patterns, allow_empty=True)
    write_table(provenance_table(merged), out / "provenance.tsv", sep="\t", index=False)
    total = sum(len(p.stats["provenance"]) for p in merged.patterns)
    echo(f"{total} patterns of {len(inputs)} runs -> {len(merged.patterns)} motifs; wrote {out}/")
