"""``cislens variants``: reference vs alternative predictions of VCF variants, chunked on Dask.

A thin shell over :func:`cislens.scale.score_variants` (predictions of both alleles and their
difference into a resumable Zarr store, DeepLIFT attributions of the top variants) and
:func:`cislens.scale.variants.variant_table` (the optional TSV table).
"""

from __future__ import annotations

from pathlib import Path

import typer

from cislens.cli._app import app, echo, state
from cislens.cli._model import INPUT_LAYOUT_HELP, OUTPUT_HELP, check_view, model_view
from cislens.utils.files import ensure_dir, write_table


@app.command("variants")
def variants_command(
    vcf: Path = typer.Option(..., "--vcf", help="Variants (VCF, plain or gzip): SNVs, indels."),
    genome: Path = typer.Option(..., "--genome", help="Genome FASTA the VCF refers to."),
    model: str = typer.Option(
        ..., "--model", help="Checkpoint directory, or module.py:ClassName with --weights."
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Output Zarr store (e.g. variants.zarr)."),
    table: Path = typer.Option(None, "--table", help="Also write the scores as a TSV table."),
    target: str = typer.Option(
        None, "--target", help="Output index or task name ranking the top variants."
    ),
    output: str = typer.Option(None, "--output", help=OUTPUT_HELP),
    input_layout: str = typer.Option("NCL", "--input-layout", help=INPUT_LAYOUT_HELP),
    top: int = typer.Option(10, "--top", help="DeepLIFT the N variants with largest |delta|."),
    length: int = typer.Option(None, "--length", help="Window length (default: model's)."),
    chunk_size: int = typer.Option(1024, "--chunk-size", help="Variants per chunk."),
    batch_size: int = typer.Option(256, "--batch-size", help="Forward-pass rows per batch."),
    scheduler: str = typer.Option(None, "--scheduler", help="Dask scheduler address."),
    workers: int = typer.Option(None, "--workers", help="Local Dask worker processes."),
    seed: int = typer.Option(0, "--seed", help="random_state recorded for the DeepLIFT step."),
    weights: Path = typer.Option(None, "--weights", help="State dict for a class spec."),
    overwrite: bool = typer.Option(
        False,
        "--overwrite",
        help="Replace an existing store made with other settings or inputs instead of resuming it.",
    ),
) -> None:
    """Score variants: predictions for REF and ALT windows, their difference, top attributions.

    The store holds ref_predictions, alt_predictions and delta (N, T), the variants (chrom,
    pos, id, ref, alt) and, for the --top variants, DeepLIFT attributions of both alleles.
    """
    from cislens.attribution import parse_target
    from cislens.models import load_model_from_spec
    from cislens.scale import score_variants
    from cislens.scale.variants import variant_table

    if Path(out).suffix.lower() != ".zarr":
        raise ValueError(f"--out must be a .zarr store path; got {str(out)!r}.")
    view = model_view(output, input_layout)
    net = load_model_from_spec(model, weights=weights)
    target_index = parse_target(target, list(getattr(net, "task_names", None) or []))
    if length or getattr(net, "input_length", None):
        check_view(net, view, length or net.input_length)
    report = score_variants(
        model,
        vcf,
        genome,
        out,
        length=length,
        target=target_index,
        n_top=top,
        **view,
        chunk_size=chunk_size,
        batch_size=batch_size,
        weights=weights,
        scheduler=scheduler,
        n_workers=workers,
        random_state=seed,
        verbose=state.verbose,
        overwrite=overwrite,
    )
    frame = variant_table(out)
    if table is not None:
        ensure_dir(table.parent)
        write_table(frame, table, sep="\t", index=False)
    echo(
        f"wrote {out} ({len(frame)} variants in {report.n_blocks} chunks: "
        f"{len(report.computed)} computed, {len(report.skipped)} already done)"
        + (f" and {table}" if table is not None else "")
    )
    column = [name for name in frame.columns if name.startswith("delta_")][target_index or 0]
    ranked = frame.loc[frame[column].abs().sort_values(ascending=False, kind="stable").index]
    for _, row in ranked.head(min(top, 5)).iterrows():
        echo(
            f"  {row['id']}\t{row['chrom']}:{row['pos']}\t{row['ref']}>{row['alt']}\t"
            f"{column}={row[column]:+.4f}"
        )
