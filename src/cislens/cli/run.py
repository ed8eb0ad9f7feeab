"""``cislens run config.yaml``: the demo's pipeline on your own data and model."""

from __future__ import annotations

from pathlib import Path

import typer

from cislens.cli._app import app, echo, state


@app.command()
def run(
    config: Path = typer.Argument(..., help="YAML config (see docs/run.md)."),
    out: Path = typer.Option(
        None, "--out", "-o", help="Output folder (overrides the config's 'out')."
    ),
    resume: bool = typer.Option(False, "--resume", help="Reuse finished stages' outputs."),
) -> None:
    """Run data -> (train) -> attribute -> motifs -> GIA -> (benchmark) -> report on your data."""
    from cislens.pipeline import load_run_config, run_pipeline

    result = run_pipeline(load_run_config(config), out=out, resume=resume,
                          verbose=state.verbose)
    echo(result.summary())
