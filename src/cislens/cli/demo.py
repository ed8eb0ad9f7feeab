"""``cislens demo``: the end-to-end job on built-in simulated data (``make demo``)."""

from __future__ import annotations

from pathlib import Path

import typer

from cislens.cli._app import app, echo, state


@app.command()
def demo(
    out: Path = typer.Option(Path("demo_out"), "--out", "-o", help="Output folder."),
    preset: str = typer.Option("lab3", "--preset", help="Simulation preset to run on."),
    n_sequences: int = typer.Option(
        None, "--n-sequences", "-n", help="Scale the preset down to this many sequences."
    ),
    epochs: int = typer.Option(20, "--epochs", help="Maximum training epochs."),
    seed: int = typer.Option(0, "--seed", help="Random seed (same seed, same numbers)."),
    resume: bool = typer.Option(False, "--resume", help="Reuse finished stages' outputs."),
    device: str = typer.Option(None, "--device", help="cpu, cuda, ... (default: auto)."),
) -> None:
    """Simulate data with ground truth, train a model on it, and evaluate it."""
    from cislens.demo import run_demo

    result = run_demo(out, preset=preset, n_sequences=n_sequences, epochs=epochs,
                      random_state=seed, resume=resume, device=device, verbose=state.verbose)
    echo(result.summary())
