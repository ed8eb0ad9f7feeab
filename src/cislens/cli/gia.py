"""``cislens gia``: global importance analysis of a trained model (a thin shell over cislens.gia).

Backgrounds are drawn from one split of the dataset with the chosen null; motifs are JASPAR
names or IDs, MEME files (``file.meme:NAME``) or consensus strings. Every run writes, into the
``--out`` directory, ``gia_<experiment>.csv`` (the table), ``gia_<experiment>.png`` (its plot)
and ``gia_<experiment>.json`` (the parameters, seed and cislens version). ``occlude`` also
writes ``gia_occlude_summary.csv`` (per motif); ``grammar`` (every orientation x gap of a pair,
``docs/gia.md``) writes ``gia_grammar_best.csv`` (the best arrangement and the no-preference test)
and draws the orientation x gap heat map.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import typer

from cislens.cli._app import app, echo, state
from cislens.cli._model import INPUT_LAYOUT_HELP, OUTPUT_HELP, check_view, model_view
from cislens.utils.files import ensure_dir, save_figure, write_table, write_text

EXPERIMENTS = ("marginalize", "position", "count", "spacing", "interaction", "grammar", "occlude")


def parse_spacings(text: str, option: str = "--spacings") -> list[int]:
    """``"0:30"`` (inclusive: 0, 1, ..., 30), ``"0:30:2"`` (step) or ``"2,6,10"``.

    Examples
    --------
    >>> parse_spacings("0:4"), parse_spacings("0:10:5"), parse_spacings("3, 7")
    ([0, 1, 2, 3, 4], [0, 5, 10], [3, 7])
    """
    try:
        if ":" in text:
            parts = [int(p) for p in text.split(":")]
            if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] < 1):
                raise ValueError
            step = parts[2] if len(parts) == 3 else 1
            values = list(range(parts[0], parts[1] + 1, step))
        else:
            values = [int(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise ValueError(
            f"{option} must be 'start:stop' (inclusive), 'start:stop:step' or a comma list "
            f"such as '2,6,10'; got {text!r}."
        ) from None
    if not values:
        raise ValueError(f"{option} selects nothing: {text!r}.")
    return values


def _need(value, option: str, experiment: str):
    if value is None:
        raise ValueError(f"--experiment {experiment} needs {option}.")
    return value


def _run(experiment, net, X, dataset, split, args: dict):
    """(table, plot function or None, extra tables) for one experiment."""
    import cislens.gia as gia

    common = {
        k: args[k]
        for k in (
            "target",
            "batch_size",
            "device",
            "random_state",
            "verbose",
            "output",
            "input_layout",
        )
    }
    a, b = args["motif_a"], args["motif_b"]
    if experiment == "occlude":
        return _occlude(net, X, dataset, split, a, args, common)
    background = gia.null_backgrounds(
        args["null"],
        X,
        n=args["n_backgrounds"],
        model=net,
        target=args["target"],
        batch_size=args["batch_size"],
        device=args["device"],
        random_state=args["random_state"],
        output=args["output"],
        input_layout=args["input_layout"],
    )
    a = _need(a, "--motif-a", experiment)
    options = {**common, "sample": args["sample"]}
    if experiment == "marginalize":
        result = gia.marginalize(net, background, a, position=args["position"], **options)
        return result.to_frame(), None, {}
    if experiment == "position":
        table = gia.position_effect(net, background, a, positions=args["positions"], **options)
        return table, gia.plot_position, {}
    if experiment == "count":
        table = gia.count_effect(net, background, a, max_count=args["max_count"], **options)
        return table, gia.plot_count, {}
    b = _need(b, "--motif-b", experiment)
    if experiment == "grammar":
        result = gia.grammar(
            net,
            background,
            a,
            b,
            gaps=args["spacings"],
            orientations=args["orientations"] or gia.ORIENTATIONS,
            **options,
        )
        return result.table, None, {"best": result.best}
    orientations = args["orientations"] or ["++"]
    if experiment == "spacing":
        table = gia.spacing(
            net, background, a, b, args["spacings"], orientations=orientations, **options
        )
        return table, gia.plot_spacing, {}
    table = _interaction_table(net, background, a, b, args["spacings"], orientations, options)
    return table, gia.plot_spacing, {}


def _occlude(net, X, dataset, split, motif, args, common):
    """``--experiment occlude``: the dataset's recorded instances (of ``motif``) occluded."""
    import cislens.gia as gia

    truth = dataset.ground_truth
    if truth is None:
        raise ValueError(
            f"--experiment occlude needs a dataset with ground truth; {split!r} has none."
        )
    instances = truth.instances[truth.instances["split"] == split]
    if motif is not None:
        instances = instances[instances["motif"] == motif]
    if instances.empty:
        known = sorted(set(truth.instances["motif"]))
        raise ValueError(f"no recorded instance of {motif!r} in split {split!r}; motifs: {known}.")
    table = gia.occlude(net, X, instances, n_occlusions=args["n_occlusions"], **common)
    summary = gia.occlusion_summary(table, random_state=args["random_state"])
    return table, None, {"summary": summary}


def _interaction_table(net, background, a, b, spacings, orientations, options):
    """``--experiment interaction``: one row per orientation x gap, with BH-adjusted p-values
    per target."""
    import cislens.gia as gia
    from cislens.gia.stats import benjamini_hochberg

    rows = []
    for orientation in orientations:
        for gap in spacings:
            result = gia.interaction(net, background, a, b, gap, orientation=orientation, **options)
            frame = result.to_frame()
            frame.insert(0, "orientation", orientation)
            frame.insert(0, "spacing", gap)
            rows.append(frame)
    table = pd.concat(rows, ignore_index=True)
    table.insert(table.columns.get_loc("p_value") + 1, "p_adj", np.nan)
    for label in table["target"].unique():
        mask = table["target"] == label
        table.loc[mask, "p_adj"] = benjamini_hochberg(table.loc[mask, "p_value"].to_numpy())
    return table


def _plot(experiment, table, plot, extra, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from cislens.gia import plot_curve

    if experiment == "grammar":
        from cislens.report.grammar import heatmap_figure

        best = extra["best"].iloc[0]
        rows = table[table["target"] == best["target"]]
        fig = heatmap_figure(rows, best, best["value"])
        save_figure(fig, path, dpi=120)
        plt.close(fig)
        return
    fig, ax = plt.subplots(figsize=(6, 3.5))
    frame = extra.get("summary", table)
    first = frame["target"].iloc[0]
    if experiment == "interaction":
        group = "orientation" if table["orientation"].nunique() > 1 else None
        plot_curve(table, "spacing", group=group, target=first, ax=ax)
        ax.set_ylabel(f"interaction (target {first})")
    elif plot is not None:
        plot(table, target=first, ax=ax)
    else:
        frame = frame[frame["target"] == first]
        labels = frame["motif"] if "motif" in frame else frame["target"]
        ax.bar(
            labels.astype(str),
            frame["effect"],
            yerr=[frame["effect"] - frame["ci_low"], frame["ci_high"] - frame["effect"]],
        )
        ax.axhline(0, color="0.5", linewidth=0.8)
        ax.set_ylabel("occlusion drop" if experiment == "occlude" else "effect")
    fig.tight_layout()
    save_figure(fig, path, dpi=120)
    plt.close(fig)


# The options of `cislens gia`, named once here so that the command reads as a short shell.
_MODEL = typer.Option(..., "--model", help="Checkpoint directory (or module.py:Class).")
_DATA = typer.Option(..., "--data", help="Dataset HDF5.")
_EXPERIMENT = typer.Option(..., "--experiment", "-e", help=f"One of {', '.join(EXPERIMENTS)}.")
_OUT = typer.Option(..., "--out", "-o", help="Output directory (created).")
_MOTIF_A = typer.Option(
    None, "--motif-a", help="JASPAR name/ID, file.meme[:NAME] or consensus string."
)
_MOTIF_B = typer.Option(None, "--motif-b", help="Second motif (spacing, interaction).")
_SPLIT = typer.Option("test", "--split", help="Split the backgrounds come from.")
_TARGET = typer.Option(None, "--target", help="Output index or task name (default: every output).")
_OUTPUT = typer.Option(None, "--output", help=OUTPUT_HELP)
_INPUT_LAYOUT = typer.Option("NCL", "--input-layout", help=INPUT_LAYOUT_HELP)
_NULL = typer.Option(
    "dinucleotide_shuffle",
    "--null",
    help="dinucleotide_shuffle, shuffle, profile, random or negatives.",
)
_N_BACKGROUNDS = typer.Option(200, "--n-backgrounds", help="Background sequences.")
_SPACINGS = typer.Option(
    "0:30", "--spacings", help="Gaps: 'start:stop' (inclusive), 'start:stop:step' or '2,6,10'."
)
_ORIENTATIONS = typer.Option(
    None,
    "--orientations",
    help="Strands of a then b, comma list of ++, +-, -+, -- (default ++; grammar: all four).",
)
_POSITION = typer.Option(None, "--position", help="Start for marginalize (centred).")
_POSITIONS = typer.Option(
    None, "--positions", help="Starts for position, e.g. '0:490:10' (default: every W)."
)
_MAX_COUNT = typer.Option(3, "--max-count", help="Copies for --experiment count.")
_N_OCCLUSIONS = typer.Option(20, "--n-occlusions", help="Replacements per instance.")
_SAMPLE = typer.Option(False, "--sample", help="Embed PWM samples, not the consensus.")
_BATCH_SIZE = typer.Option(256, "--batch-size", help="Forward-pass rows per batch.")
_SEED = typer.Option(None, "--seed", help="random_state (default: drawn and recorded).")
_DEVICE = typer.Option(None, "--device", help="cpu, cuda, cuda:1 (default: auto).")
_WEIGHTS = typer.Option(None, "--weights", help="State dict for a class spec.")


@app.command("gia")
def gia_command(
    model: str = _MODEL,
    data: Path = _DATA,
    experiment: str = _EXPERIMENT,
    out: Path = _OUT,
    motif_a: str = _MOTIF_A,
    motif_b: str = _MOTIF_B,
    split: str = _SPLIT,
    target: str = _TARGET,
    output: str = _OUTPUT,
    input_layout: str = _INPUT_LAYOUT,
    null: str = _NULL,
    n_backgrounds: int = _N_BACKGROUNDS,
    spacings: str = _SPACINGS,
    orientations: str = _ORIENTATIONS,
    position: int = _POSITION,
    positions: str = _POSITIONS,
    max_count: int = _MAX_COUNT,
    n_occlusions: int = _N_OCCLUSIONS,
    sample: bool = _SAMPLE,
    batch_size: int = _BATCH_SIZE,
    seed: int = _SEED,
    device: str = _DEVICE,
    weights: Path = _WEIGHTS,
) -> None:
    """Run one GIA experiment; write its table (CSV), plot (PNG) and parameters (JSON)."""
    from cislens._version import __version__
    from cislens.attribution import parse_target
    from cislens.io.dataset import load_dataset
    from cislens.models import load_model_from_spec
    from cislens.utils.random import resolve_seed

    if experiment not in EXPERIMENTS:
        raise ValueError(f"--experiment must be one of {list(EXPERIMENTS)}; got {experiment!r}.")
    from cislens.gia import NULLS

    if null not in NULLS:
        raise ValueError(f"--null must be one of {list(NULLS)}; got {null!r}.")
    view = model_view(output, input_layout)
    dataset = load_dataset(data)
    if split not in dataset.X:
        raise ValueError(f"--split {split!r} is not in {data}; it has {dataset.splits}.")
    net = load_model_from_spec(model, weights=weights)
    random_state = resolve_seed(seed)
    args = {
        "target": parse_target(target, list(dataset.task_names)),
        "batch_size": batch_size,
        "device": device,
        "random_state": random_state,
        "verbose": state.verbose,
        "motif_a": motif_a,
        "motif_b": motif_b,
        "null": null,
        "n_backgrounds": n_backgrounds,
        "spacings": parse_spacings(spacings),
        "orientations": None
        if orientations is None
        else [o.strip() for o in orientations.split(",") if o.strip()],
        "position": position,
        "positions": None if positions is None else parse_spacings(positions, "--positions"),
        "max_count": max_count,
        "n_occlusions": n_occlusions,
        "sample": sample,
        **view,
    }
    X = np.asarray(dataset.X[split])
    check_view(net, view, X.shape[2])
    table, plot, extra = _run(experiment, net, X, dataset, split, args)

    record = {
        "cislens_version": __version__,
        "experiment": experiment,
        "model": model,
        "data": str(data),
        "split": split,
        "random_state": random_state,
        "params": {k: v for k, v in args.items() if k not in ("verbose",)},
    }
    _write(Path(out), experiment, table, plot, extra, record)


def _write(out: Path, experiment, table, plot, extra, record) -> None:
    """The table, extra tables, plot and parameters of one experiment, and what was written."""
    ensure_dir(out)
    stem = out / f"gia_{experiment}"
    write_table(table, stem.with_suffix(".csv"), index=False)
    written = [stem.with_suffix(".csv")]
    for name, frame in extra.items():
        path = out / f"gia_{experiment}_{name}.csv"
        write_table(frame, path, index=False)
        written.append(path)
    _plot(experiment, table, plot, extra, stem.with_suffix(".png"))
    written.append(stem.with_suffix(".png"))
    write_text(stem.with_suffix(".json"), json.dumps(record, indent=2, default=str))
    written.append(stem.with_suffix(".json"))
    shown = extra.get("summary", table)
    best = shown.loc[shown["effect"].abs().idxmax()]
    echo(
        f"gia {experiment}: {len(table)} rows; largest |effect| {best['effect']:+.4g} "
        f"[{best['ci_low']:+.4g}, {best['ci_high']:+.4g}]"
    )
    for path in written:
        echo(f"wrote {path}")


__all__ = ["EXPERIMENTS", "gia_command", "parse_spacings"]
