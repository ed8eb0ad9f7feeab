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
    epochs: int = typer.Option(25, "--epochs", help="Maximum training epochs."),
    n_examples: int = typer.Option(
        100, "--n-examples", help="Test positives per task explained by each method."
    ),
    ism_examples: int = typer.Option(20, "--ism-examples", help="Of those, how many for ISM."),
    methods: str = typer.Option("all", "--methods", help="'all' or comma-separated names."),
    seed: int = typer.Option(0, "--seed", help="Random seed (same seed, same numbers)."),
    resume: bool = typer.Option(False, "--resume", help="Reuse finished stages' outputs."),
    device: str = typer.Option(None, "--device", help="cpu, cuda, ... (default: auto)."),
) -> None:
    """Simulate data with ground truth, train, attribute, find motifs, benchmark, report."""
    from cislens.demo import run_demo

    result = run_demo(
        out,
        preset=preset,
        n_sequences=n_sequences,
        epochs=epochs,
        n_examples=n_examples,
        ism_examples=ism_examples,
        methods=methods,
        random_state=seed,
        resume=resume,
        device=device,
        verbose=state.verbose,
    )
    echo(result.summary())
