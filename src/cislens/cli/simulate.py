"""``cislens simulate``: write a simulated dataset (HDF5 with ground truth) from a preset or a
config file."""

from __future__ import annotations

from pathlib import Path

import typer

from cislens.cli._app import app, echo, state


@app.command()
def simulate(
    preset: str = typer.Option(None, "--preset", "-p", help="A preset name (see --list)."),
    config: Path = typer.Option(None, "--config", "-c", help="A YAML or JSON simulation config."),
    out: Path = typer.Option(None, "--out", "-o", help="Output dataset file (.h5)."),
    seed: int = typer.Option(
        None, "--seed", help="Random seed (default: fresh; the seed used is printed and saved)."
    ),
    n_sequences: int = typer.Option(
        None, "--n-sequences", "-n", help="Total sequences; scales the splits proportionally."
    ),
    list_presets: bool = typer.Option(False, "--list", help="List the presets and exit."),
) -> None:
    """Simulate sequences with planted motifs, labels from rules, and the full ground truth."""
    from cislens.simulate import list_presets as preset_descriptions

    if list_presets:
        for name, description in preset_descriptions().items():
            typer.echo(f"{name:<12} {description}")
        return
    if (preset is None) == (config is None):
        raise ValueError(
            "give exactly one of --preset NAME or --config FILE "
            "(`cislens simulate --list` shows the presets)."
        )
    if out is None:
        raise ValueError("--out is required: the dataset file to write, e.g. --out data.h5.")
    from cislens.io.dataset import save_dataset
    from cislens.simulate import load_config, load_preset
    from cislens.simulate import simulate as run_simulation
    from cislens.utils.random import resolve_seed

    source = load_preset(preset) if preset is not None else load_config(config)
    random_state = resolve_seed(seed)
    dataset = run_simulation(
        source, n=n_sequences, random_state=random_state, verbose=state.verbose
    )
    if preset is not None:
        dataset.attrs["preset"] = preset
    path = save_dataset(out, dataset)
    sizes = ", ".join(f"{split} {len(dataset.X[split])}" for split in dataset.splits)
    n_instances = len(dataset.ground_truth.instances)
    echo(
        f"wrote {path}: {sizes} sequences of {dataset.length} bp, {dataset.n_tasks} tasks, "
        f"{n_instances} motif instances (seed {random_state})"
    )
    if state.steps:
        echo(dataset.summary())
