"""``cislens attribute``: attribution maps of a model on one split of a dataset, to the store.

A thin shell: the options become a :class:`cislens.cli.attribute_job.AttributeRequest`, which
:func:`cislens.cli.attribute_job.run_attribute` runs over
:func:`cislens.attribution.ensemble_attribution_set` (which runs a method
from :data:`cislens.attribution.METHODS` with each ``--model`` and packages the mean; one model
gives exactly :func:`cislens.attribution.attribution_set`'s result) and
:func:`cislens.io.save_attributions`. Repeated ``--model`` (or ``--weights``) makes an ensemble,
e.g. one model per training fold, averaged after the optional ``--normalise percentile``.

Output naming: with one method the file is exactly ``--out``; with several
(``--methods a,b,c`` or ``--methods all``) each goes to ``--out`` with the method name inserted
before the suffix: ``--out attr.h5`` writes ``attr.a.h5``, ``attr.b.h5``, ``attr.c.h5``.

An ``--out`` ending in ``.zarr`` runs the chunked, resumable engine of :mod:`cislens.scale`
instead (:func:`cislens.scale.attribute_to_zarr`): inputs from ``--data`` (HDF5), ``--fasta``
or ``--bed`` + ``--genome``, streamed in ``--chunk-size`` blocks on a local Dask cluster
(``--workers``) or an existing one (``--scheduler``); see ``docs/scale.md``.
"""

from __future__ import annotations

from pathlib import Path

import typer

from cislens.cli._app import app
from cislens.cli._model import INPUT_LAYOUT_HELP, OUTPUT_HELP

# The options, named once here so that the command below reads as a short shell.
_MODEL = typer.Option(
    ...,
    "--model",
    help="Checkpoint directory, or module.py:ClassName with --weights. Repeat it (or "
    "--weights) for an ensemble, e.g. one model per fold: the maps are averaged.",
)
_DATA = typer.Option(None, "--data", help="Dataset HDF5.")
_OUT = typer.Option(
    ...,
    "--out",
    "-o",
    help="Output file (.h5, .npz, or .zarr for a chunked run); several methods: OUT.<method>.h5.",
)
_METHOD = typer.Option(..., "--method", "--methods", help="Method name, a comma list, or 'all'.")
_SPLIT = typer.Option("test", "--split", help="Split to explain: train, valid or test.")
_TARGET = typer.Option(
    None, "--target", help="Output index or task name (required for multi-task models)."
)
_OUTPUT = typer.Option(None, "--output", help=OUTPUT_HELP)
_INPUT_LAYOUT = typer.Option("NCL", "--input-layout", help=INPUT_LAYOUT_HELP)
_N_EXAMPLES = typer.Option(None, "--n-examples", help="Explain the first N rows only.")
_POSITIVES_ONLY = typer.Option(
    False, "--positives-only", help="Only rows whose label for the target is 1."
)
_HYPOTHETICAL = typer.Option(
    False, "--hypothetical", help="Also store hypothetical scores (all four bases)."
)
_BATCH_SIZE = typer.Option(
    None, "--batch-size", help="Forward-pass rows per batch (default: the method's)."
)
_SEED = typer.Option(None, "--seed", help="random_state (default: drawn and recorded).")
_DEVICE = typer.Option(None, "--device", help="cpu, cuda, cuda:1 (default: auto).")
_METHOD_ARGS = typer.Option(
    None, "--method-args", help="Method options as JSON, e.g. '{\"n_steps\": 20}'."
)
_WEIGHTS = typer.Option(
    None,
    "--weights",
    help="State dict (.safetensors or torch file) for a class spec; "
    "one per --model, or several for one class spec (an ensemble).",
)
_NORMALISE = typer.Option(
    "none",
    "--normalise",
    help="Ensemble: 'none' (plain mean) or 'percentile' (each "
    "model's maps divided by a percentile of its |projected attribution| first).",
)
_NORMALISE_PERCENTILE = typer.Option(
    99.0, "--normalise-percentile", help="The percentile of --normalise percentile."
)
_MODEL_ARGS = typer.Option(
    None, "--model-args", help="Constructor arguments (JSON) for a class spec."
)
_FASTA = typer.Option(None, "--fasta", help="Input FASTA (with a .zarr --out).")
_BED = typer.Option(None, "--bed", help="Input BED intervals (with --genome, .zarr).")
_GENOME = typer.Option(None, "--genome", help="Genome FASTA for --bed.")
_PAD_WITH_N = typer.Option(
    False, "--pad-with-n", help="--bed: pad windows that run off a chromosome end with N."
)
_BIGWIG = typer.Option(
    None,
    "--bigwig",
    help="--bed .zarr runs: also write the projected attributions as a "
    "bigWig in genome coordinates (several methods: OUT.<method>.bw).",
)
_BIGWIG_MERGE = typer.Option(
    "mean",
    "--bigwig-merge",
    help="Overlapping windows in --bigwig: 'mean' (of the windows "
    "covering a base) or 'nearest' (the window whose centre is nearest).",
)
_BIGWIG_ZOOMS = typer.Option(
    10,
    "--bigwig-zooms",
    help="Zoom levels of --bigwig (0: none; the file is assembled in "
    "constant memory, zoomed-out browser views are slower).",
)
_OVERWRITE = typer.Option(
    False,
    "--overwrite",
    help="Replace an existing .zarr store made with other settings or "
    "inputs instead of resuming it.",
)
_LENGTH = typer.Option(
    None, "--length", help="Window length: --bed (default: the model's), --fasta (trim/pad)."
)
_CHUNK_SIZE = typer.Option(
    1024, "--chunk-size", help="Sequences per chunk (task and Zarr chunk) of a .zarr run."
)
_SCHEDULER = typer.Option(
    None, "--scheduler", help="Dask scheduler address, e.g. tcp://host:8786 (.zarr runs)."
)
_WORKERS = typer.Option(
    None, "--workers", help="Local Dask worker processes (.zarr runs; default: CPU cores)."
)
_ALLOW_LONG = typer.Option(
    False,
    "--allow-long",
    help="Run even when the estimated cost (forward rows x length) is over the limit, 1e10.",
)


@app.command("attribute")
def attribute_command(
    model: list[str] = _MODEL,
    data: Path = _DATA,
    out: Path = _OUT,
    method: str = _METHOD,
    split: str = _SPLIT,
    target: str = _TARGET,
    output: str = _OUTPUT,
    input_layout: str = _INPUT_LAYOUT,
    n_examples: int = _N_EXAMPLES,
    positives_only: bool = _POSITIVES_ONLY,
    hypothetical: bool = _HYPOTHETICAL,
    batch_size: int = _BATCH_SIZE,
    seed: int = _SEED,
    device: str = _DEVICE,
    method_args: str = _METHOD_ARGS,
    weights: list[Path] = _WEIGHTS,
    normalise: str = _NORMALISE,
    normalise_percentile: float = _NORMALISE_PERCENTILE,
    model_args: str = _MODEL_ARGS,
    fasta: Path = _FASTA,
    bed: Path = _BED,
    genome: Path = _GENOME,
    pad_with_n: bool = _PAD_WITH_N,
    bigwig: Path = _BIGWIG,
    bigwig_merge: str = _BIGWIG_MERGE,
    bigwig_zooms: int = _BIGWIG_ZOOMS,
    overwrite: bool = _OVERWRITE,
    length: int = _LENGTH,
    chunk_size: int = _CHUNK_SIZE,
    scheduler: str = _SCHEDULER,
    workers: int = _WORKERS,
    allow_long: bool = _ALLOW_LONG,
) -> None:
    """Attribute a model's predictions on one split; write the attribution store.

    Each file holds X, the projected attributions (and the hypothetical
    scores with --hypothetical), the method, target, options (--output and
    --input-layout among them), random_state, cislens version, the rows'
    indices in the split and the task names.
    """
    options = dict(locals())  # the parameters above, by name
    from cislens.cli.attribute_job import AttributeRequest, run_attribute

    run_attribute(AttributeRequest(**options))
