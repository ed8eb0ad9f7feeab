"""``cislens benchmark`` (attribution methods against simulated ground truth) and
``cislens report`` (the HTML report of a demo output folder)."""

from __future__ import annotations

from pathlib import Path

import typer

from cislens.cli._app import app, echo, state
from cislens.utils.files import ensure_dir, write_table


@app.command()
def benchmark(
    data: Path = typer.Option(..., "--data", help="Simulated dataset (.h5) with ground truth."),
    model: Path = typer.Option(..., "--model", help="Model folder (cislens train output)."),
    methods: str = typer.Option("all", "--methods", help="'all' or comma-separated names."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder for the CSV tables."),
    n_examples: int = typer.Option(100, "--n-examples", help="Test positives per task."),
    ism_examples: int = typer.Option(50, "--ism-examples", help="Test positives for ISM."),
    split: str = typer.Option("test", "--split", help="Split to explain."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    device: str = typer.Option(None, "--device", help="cpu, cuda, ... (default: auto)."),
) -> None:
    """Score attribution methods against the planted motifs: one CSV per method + summary."""
    from cislens.io import load_dataset
    from cislens.models import load_model
    from cislens.pipeline.attribution import run_benchmark

    dataset = load_dataset(data)
    net = load_model(model)
    result, _, _ = run_benchmark(
        dataset,
        net,
        methods=methods,
        n_examples=n_examples,
        ism_examples=ism_examples,
        split=split,
        random_state=seed,
        device=device,
        verbose=state.verbose,
    )
    ensure_dir(out)
    for method, rows in result.per_sequence.groupby("method", sort=False):
        summary = result.summary[result.summary["method"] == method]
        write_table(summary, out / f"{method}.csv", index=False)
        write_table(rows, out / f"{method}_per_sequence.csv", index=False)
    write_table(result.summary, out / "summary.csv", index=False)
    cols = ["method", "auroc", "auprc", "auroc_abs", "auprc_abs", "seconds_per_sequence"]
    echo(result.summary[cols].to_string(index=False, float_format="%.3f"))
    echo(f"tables in {out}")


@app.command()
def report(
    folder: Path = typer.Argument(..., help="A demo output folder (cislens demo --out)."),
    out: Path = typer.Option(None, "--out", "-o", help="HTML file (default FOLDER/report.html)."),
    device: str = typer.Option(
        None,
        "--device",
        hidden=True,
        help="Accepted for old scripts and unused: the report runs no model.",
    ),
) -> None:
    """Render the self-contained HTML report of a run or demo output folder (no model is run:
    the run saved what the report needs)."""
    from cislens.report.directory import render_demo_report

    path = render_demo_report(folder, output=out)
    echo(f"report: {path}")
