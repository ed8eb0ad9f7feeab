"""``cislens motifs``, ``cislens instances`` and ``cislens filters``: thin shells over
:mod:`cislens.motifs`.

- ``motifs --attributions attr.h5 --out motifs/``: :func:`discover_motifs` on an attribution
  store with hypothetical scores (or an npz / h5 with arrays ``sequences`` and ``hypothetical``,
  or modisco-lite's inputs ``-s ohe.npz -a shap.npz``); writes ``motifs.h5`` (cislens layout),
  ``modisco.h5`` (modisco-lite layout), ``motifs.meme`` (PFMs), ``seqlets.tsv`` and
  ``annotation.tsv`` (TOMTOM against JASPAR CORE vertebrates, or ``--database file.meme``;
  ``--no-annotate`` skips).
- ``motifs --from-model runs/argminn --data data.h5 --out motifs/``: an ARGMINN's readout
  (:func:`cislens.argminn.argminn_motifs`, :func:`cislens.argminn.argminn_instances`) on one
  split; writes ``filters.tsv`` (every filter, passing or not), ``motifs.meme`` (passing
  filters' PFMs), ``instances.tsv`` and ``annotation.tsv``.
- ``instances --motifs motifs/motifs.h5 --attributions attr.h5 --out hits.tsv``:
  :func:`call_instances` (``--method cwm`` on the contribution tracks, ``pwm`` on the sequence).
- ``filters --model runs/x --data data.h5 --out filters/``: :func:`filter_motifs` on one split;
  writes ``filters.meme`` and ``annotation.tsv``.
"""

from __future__ import annotations

from pathlib import Path

import typer

from cislens.cli._app import app, echo, state
from cislens.utils.files import ensure_dir, write_table


def _load_attributions(path: Path, sequences: Path | None = None):
    from cislens.cli.interchange import read_scores

    attributions = read_scores(path, sequences)
    if attributions.hypothetical is None:
        raise ValueError(
            f"'{path}' has no hypothetical scores; motif discovery needs them. Recompute with "
            "a method that has them and the --hypothetical flag, e.g. 'cislens attribute "
            "--method deeplift_shap --hypothetical'."
        )
    return attributions


# The options of `cislens motifs`, named once here so that the command reads as a short shell.
_ATTRIBUTIONS = typer.Option(
    None,
    "--attributions",
    "-a",
    help="Hypothetical scores: a cislens attribution store (.h5/.npz), a Zarr store or an "
    ".npz/.h5 with arrays 'sequences' and 'hypothetical', or (with -s) modisco-lite's "
    "scores npz (arr_0).",
)
_SEQUENCES = typer.Option(
    None, "--sequences", "-s", help="modisco-lite's one-hot npz (arr_0, N x 4 x L) for -a."
)
_OUT = typer.Option(..., "--out", "-o", help="Output folder (created when missing).")
_FROM_MODEL = typer.Option(
    None, "--from-model", help="Read the motifs of an ARGMINN checkpoint instead (with --data)."
)
_DATA = typer.Option(None, "--data", help="Dataset HDF5 for --from-model.")
_SPLIT = typer.Option("test", help="Split whose sequences --from-model reads.")
_WINDOW_SIZE = typer.Option(21, help="Seqlet core width.")
_FLANK = typer.Option(10, help="Seqlet flank width.")
_TARGET_FDR = typer.Option(0.2, help="Seqlet FDR target.")
_MAX_SEQLETS = typer.Option(
    20_000, help="Seqlets per metacluster in the similarity graph; the rest join its clusters."
)
_N_LEIDEN_RUNS = typer.Option(10, help="Leiden seeds (best after 2 iterations goes on).")
_MIN_CLUSTER_SIZE = typer.Option(20, help="Smallest pattern, in seqlets.")
_STRAND_SPECIFIC = typer.Option(
    False, "--strand-specific", help="Do not merge reverse complements."
)
_PARAMS = typer.Option(
    None,
    "--params",
    help="JSON or YAML file of discovery settings (fields of cislens.motifs.DiscoveryParams, "
    "e.g. 'min_overlap: 0.8'); the options above override it when given.",
)
_DATABASE = typer.Option("jaspar", help="'jaspar', 'jaspar:RELEASE' or a MEME file.")
_ANNOTATE_PATTERNS = typer.Option(
    True, "--annotate/--no-annotate", help="Run TOMTOM on the patterns."
)
_SEED = typer.Option(0, "--seed", help="random_state.")


@app.command("motifs")
def motifs_command(
    ctx: typer.Context,
    attributions: Path = _ATTRIBUTIONS,
    sequences: Path = _SEQUENCES,
    out: Path = _OUT,
    from_model: Path = _FROM_MODEL,
    data: Path = _DATA,
    split: str = _SPLIT,
    window_size: int = _WINDOW_SIZE,
    flank: int = _FLANK,
    target_fdr: float = _TARGET_FDR,
    max_seqlets: int = _MAX_SEQLETS,
    n_leiden_runs: int = _N_LEIDEN_RUNS,
    min_cluster_size: int = _MIN_CLUSTER_SIZE,
    strand_specific: bool = _STRAND_SPECIFIC,
    params: Path = _PARAMS,
    database: str = _DATABASE,
    annotate_patterns: bool = _ANNOTATE_PATTERNS,
    seed: int = _SEED,
) -> None:
    """Discover motifs (TF-MoDISco style) from hypothetical attributions, or read them from an
    ARGMINN model's filters (--from-model runs/argminn --data data.h5)."""
    if (attributions is None) == (from_model is None):
        raise ValueError(
            "pass exactly one of --attributions (TF-MoDISco-style discovery) and --from-model "
            "(an ARGMINN checkpoint, with --data)."
        )
    if from_model is not None:
        _argminn_motifs(from_model, data, split, out, database, annotate_patterns, seed)
        return
    given = {"window_size": window_size, "flank": flank, "target_fdr": target_fdr,
             "max_seqlets_per_metacluster": max_seqlets, "n_leiden_runs": n_leiden_runs,
             "min_cluster_size": min_cluster_size, "revcomp": not strand_specific}  # fmt: skip
    settings = _discovery_params(ctx, params, given)
    store = _load_attributions(attributions, sequences)
    _discover(store, settings, out, database=database, annotate_patterns=annotate_patterns,
              seed=seed)  # fmt: skip


# The command's options for DiscoveryParams fields, by field (strand_specific is not revcomp).
_OPTION_OF_FIELD = {"max_seqlets_per_metacluster": "max_seqlets", "revcomp": "strand_specific"}


def _discovery_params(ctx, params_file: Path | None, given: dict):
    """--params FILE (DiscoveryParams fields) as the base, with the discovery options given on
    the command line over it; without --params, the options (defaults included)."""
    from cislens.motifs import DiscoveryParams

    if params_file is None:
        return DiscoveryParams(**given)
    base = DiscoveryParams.from_file(params_file)
    explicit = {
        name: value
        for name, value in given.items()
        if ctx.get_parameter_source(_OPTION_OF_FIELD.get(name, name)).name != "DEFAULT"
    }
    return base.with_options(**explicit)


def _discover(store, settings, out: Path, *, database, annotate_patterns, seed) -> None:
    """``motifs --attributions``: discovery on the store, written to ``out``."""
    from cislens.motifs import (
        annotate,
        discover_motifs,
        export_modisco_h5,
        save_motifs,
        write_patterns_meme,
    )

    result = discover_motifs(
        store.X, store.hypothetical, settings, random_state=seed, verbose=state.verbose
    )
    ensure_dir(out)
    save_motifs(out / "motifs.h5", result)
    write_table(result.seqlets, out / "seqlets.tsv", sep="\t", index=False)
    echo(result.summary())
    if result.empty_reason is not None:
        # To stderr even with --quiet: an empty result must never pass unnoticed.
        typer.echo(
            f"no motifs found: {result.empty_reason} (recorded as empty_reason in "
            f"{out / 'motifs.h5'})",
            err=True,
        )
    if result.patterns:
        export_modisco_h5(out / "modisco.h5", result, store.X, store.hypothetical)
        write_patterns_meme(out / "motifs.meme", result.patterns)
        if annotate_patterns:
            matches = annotate(result.patterns, database=database)
            write_table(matches, out / "annotation.tsv", sep="\t", index=False)
            best = matches[matches["rank"] == 1]
            for row in best.itertuples():
                echo(_match_line(row))
    echo(f"wrote {out}/")


def _argminn_motifs(model_path, data, split, out, database, annotate_patterns, seed) -> None:
    """``motifs --from-model``: ARGMINN's readout (filters, instances) written to ``out``."""
    from cislens.argminn import argminn_instances, argminn_motifs
    from cislens.io import load_dataset
    from cislens.models import load_model
    from cislens.pwm import write_meme

    if data is None:
        raise ValueError(
            "--from-model needs --data (a dataset HDF5) whose sequences activate the filters."
        )
    network = load_model(model_path)
    dataset = load_dataset(data, splits=[split])
    result = argminn_motifs(
        network,
        dataset.X[split],
        annotate=annotate_patterns,
        database=database,
        verbose=state.verbose,
    )
    # seed: the shuffles behind the calls' chance floor (argminn_instances' null_quantile)
    hits = argminn_instances(
        network, dataset.X[split], motifs=result, random_state=seed, verbose=state.verbose
    )
    ensure_dir(out)
    write_table(result.filters, out / "filters.tsv", sep="\t", index=False)
    write_table(hits, out / "instances.tsv", sep="\t", index=False)
    # passing filters that read one arrangement together are one unit (docs/argminn.md)
    write_table(result.units, out / "units.tsv", sep="\t", index=False)
    passing = result.filters[result.filters["passing"]]
    echo(
        f"{len(passing)} of {len(result.filters)} filters pass in {len(result.units)} units; "
        f"{len(hits)} instances"
    )
    if result.motifs:
        write_meme(out / "motifs.meme", result.motifs)
        if result.unit_motifs:
            write_meme(out / "units.meme", result.unit_motifs)
        if annotate_patterns:
            write_table(result.annotation, out / "annotation.tsv", sep="\t", index=False)
            unit_table = out / "unit_annotation.tsv"
            write_table(result.unit_annotation, unit_table, sep="\t", index=False)
            best = result.annotation[result.annotation["rank"] == 1]
            for row in best.itertuples():
                echo(_match_line(row))
    echo(f"wrote {out}/")


@app.command("instances")
def instances_command(
    motifs: Path = typer.Option(None, "--motifs", "-m", help="motifs.h5 from 'cislens motifs'."),
    attributions: Path = typer.Option(
        ...,
        "--attributions",
        "-a",
        help="Attribution store (.h5/.npz or .zarr) with the sequences to scan.",
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Hit table (.tsv)."),
    method: str = typer.Option("cwm", help="'cwm' (contribution tracks) or 'pwm' (FIMO)."),
    p_threshold: float = typer.Option(1e-4, help="FIMO p-value threshold (--method pwm)."),
    bed_out: Path = typer.Option(
        None,
        "--bed-out",
        help="Hits in genome coordinates (BED6+) for a .zarr store made from "
        "--bed + --genome (default: OUT with .bed), and a per-motif summary (.summary.tsv).",
    ),
    annotation: Path = typer.Option(
        None,
        "--annotation",
        help="TOMTOM table of the motifs for the BED's match columns "
        "(default: annotation.tsv next to --motifs, when there).",
    ),
    finemo: Path = typer.Option(
        None,
        "--finemo",
        help="Convert Fi-NeMo's hits.tsv (called on this store's windows) "
        "instead of calling instances.",
    ),
) -> None:
    """Call motif instances with the discovered patterns; in genome coordinates for BED inputs."""
    import pandas as pd

    if (motifs is None) == (finemo is None):
        raise ValueError("pass exactly one of --motifs (call instances) and --finemo (convert "
                         "Fi-NeMo's hits.tsv).")  # fmt: skip
    if finemo is not None:
        from cislens.motifs.genome import read_finemo_hits

        hits, n_patterns = read_finemo_hits(finemo), "Fi-NeMo"
    else:
        hits, n_patterns = _call_hits(motifs, attributions, method, p_threshold)
    ensure_dir(out.parent)
    write_table(hits, out, sep="\t", index=False)
    echo(f"{len(hits)} hits of {n_patterns} patterns; wrote {out}")
    if attributions.is_dir():
        beside = None if motifs is None else motifs.parent / "annotation.tsv"
        if annotation is None and beside is not None and beside.is_file():
            annotation = beside
        table = None if annotation is None else pd.read_csv(annotation, sep="\t")
        _write_genome_hits(hits, attributions, bed_out or out.with_suffix(".bed"), table,
                           required=bed_out is not None)  # fmt: skip
    elif bed_out is not None:
        raise ValueError("--bed-out needs a .zarr --attributions store made from --bed + --genome "
                         "(it knows where each window lies in the genome).")  # fmt: skip


def _call_hits(motifs, attributions, method, p_threshold):
    from cislens.io import load_attributions
    from cislens.motifs import call_instances, load_motifs

    result = load_motifs(motifs)
    if not result.patterns:
        raise ValueError(f"'{motifs}' holds no patterns; there is nothing to scan for.")
    if attributions.is_dir():  # a Zarr store: scanned chunk by chunk
        from cislens.motifs.genome import call_store_instances

        hits = call_store_instances(result.patterns, attributions, method=method,
                                    p_threshold=p_threshold)  # fmt: skip
        return hits, len(result.patterns)
    store = load_attributions(attributions)
    scores = store.hypothetical if store.hypothetical is not None else store.attributions
    hits = call_instances(result.patterns, store.X, scores, method=method, p_threshold=p_threshold)
    return hits, len(result.patterns)


def _write_genome_hits(hits, store, bed_path, annotation, *, required: bool) -> None:
    from cislens.motifs.genome import hit_summary, hits_to_bed, write_hits_bed
    from cislens.scale.store import read_windows

    try:
        windows, sizes = read_windows(store)
    except ValueError:
        if required:
            raise
        return  # a store of FASTA / HDF5 inputs: there are no genome coordinates
    bed = hits_to_bed(hits, windows, sizes=sizes, annotation=annotation)
    write_hits_bed(bed, bed_path)
    summary = bed_path.with_suffix(".summary.tsv")
    write_table(hit_summary(bed), summary, sep="\t", index=False)
    echo(f"wrote {bed_path} ({len(bed)} hits in genome coordinates) and {summary}")


@app.command("filters")
def filters_command(
    model: Path = typer.Option(..., "--model", help="Model checkpoint folder."),
    data: Path = typer.Option(..., "--data", help="Dataset HDF5."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder."),
    split: str = typer.Option("test", help="Split whose sequences are used."),
    threshold: float = typer.Option(0.5, help="Fraction of the filter's max activation."),
    database: str = typer.Option("jaspar", help="'jaspar', 'jaspar:RELEASE' or a MEME file."),
) -> None:
    """First-layer filters as PFMs (activation-aligned windows), annotated with TOMTOM."""
    from cislens.io import load_dataset
    from cislens.models import load_model
    from cislens.motifs import annotate, filter_motifs
    from cislens.pwm import write_meme

    network = load_model(model)
    dataset = load_dataset(data, splits=[split])
    motifs = filter_motifs(network, dataset.X[split], threshold=threshold)
    if not motifs:
        # Said on stderr (even with --quiet), and before the folder exists: nothing is written.
        typer.echo(
            f"no filter has activating windows in split {split!r}; nothing written.", err=True
        )
        return
    ensure_dir(out)
    write_meme(out / "filters.meme", motifs)
    matches = annotate(motifs, database=database)
    write_table(matches, out / "annotation.tsv", sep="\t", index=False)
    best = matches[matches["rank"] == 1]
    for row in best.itertuples():
        echo(_match_line(row))
    echo(f"wrote {out}/")


def _match_line(row) -> str:
    """One line per query: its best match, or why it was not annotated."""
    note = getattr(row, "note", "")
    if isinstance(note, str) and note:
        return f"{row.pattern}: not annotated ({note})"
    return f"{row.pattern}: {row.target_id} {row.target_name} (q={row.q_value:.2g})"
