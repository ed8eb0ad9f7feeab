"""``cislens run config.yaml``: the demo's pipeline on your own data and model."""

from __future__ import annotations

from pathlib import Path

import typer

from cislens.cli._app import app, echo, state
from cislens.cli._model import INPUT_LAYOUT_HELP, OUTPUT_HELP, model_view


@app.command()
def run(
    config: Path = typer.Argument(..., help="YAML config (see docs/run.md)."),
    out: Path = typer.Option(
        None, "--out", "-o", help="Output folder (overrides the config's 'out')."
    ),
    resume: bool = typer.Option(False, "--resume", help="Reuse finished stages' outputs."),
    output: str = typer.Option(
        None, "--output", help=f"Overrides the config's model.output. {OUTPUT_HELP}"
    ),
    input_layout: str = typer.Option(
        None,
        "--input-layout",
        help=f"Overrides the config's model.input_layout. {INPUT_LAYOUT_HELP}",
    ),
    threads: int = typer.Option(
        None,
        "--threads",
        help="Torch CPU threads while training (overrides the config's "
        "threads; default: torch's count, at most the free cores).",
    ),
) -> None:
    """Run data -> (train) -> attribute -> motifs -> GIA -> (benchmark) -> report on your data."""
    from cislens.pipeline import load_run_config, run_pipeline

    # Checked here so that a bad value is named as the option; the config layer then validates
    # the overrides like the file's own fields (and records them in run_config.json).
    model_view(output, input_layout or "NCL")
    overrides = {
        key: value
        for key, value in (("output", output), ("input_layout", input_layout))
        if value is not None
    }
    from cislens.utils.threads import check_threads

    run_config = load_run_config(config, model_overrides=overrides)
    if threads is not None:
        run_config.threads = check_threads(threads, "--threads")
    result = run_pipeline(run_config, out=out, resume=resume, verbose=state.verbose)
    echo(result.summary())
