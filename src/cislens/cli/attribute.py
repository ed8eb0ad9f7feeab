"""``cislens attribute``: attribution maps of a model on one split of a dataset, to the store.

A thin shell over :func:`cislens.attribution.ensemble_attribution_set` (which runs a method
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

import json
from pathlib import Path

import numpy as np
import typer

from cislens.cli._app import app, echo, state
from cislens.cli._model import INPUT_LAYOUT_HELP, OUTPUT_HELP, check_view, model_view


def _parse_json_object(text: str | None, option: str) -> dict:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(
            f"{option} must be a JSON object such as '{{\"n_steps\": 20}}'; got {text!r} ({error})."
        ) from None
    if not isinstance(value, dict):
        raise ValueError(f"{option} must be a JSON object; got {type(value).__name__}.")
    return value


def _parse_methods(text: str) -> list[str]:
    from cislens.attribution import METHODS, get_method

    names = [name.strip() for name in text.split(",") if name.strip()]
    if names == ["all"]:
        return list(METHODS)
    if not names:
        raise ValueError(f"--method must name at least one method; valid: {sorted(METHODS)}.")
    for name in names:
        get_method(name)  # raises, listing the valid names
    if len(set(names)) != len(names):
        raise ValueError(f"--methods lists a method twice: {text!r}.")
    return names


def _parse_target(text: str | None, task_names: list[str]) -> int | None:
    if text is None:
        return None
    if text.lstrip("-").isdigit():
        return int(text)
    if text in task_names:
        return task_names.index(text)
    raise ValueError(
        f"--target must be an output index or a task name; {text!r} is neither (tasks: "
        f"{task_names})."
    )


def _announce_cost(methods, shape, options: dict, allow_long: bool) -> float | None:
    """Print each method's estimated cost and refuse one over the limit, before any work.

    Every method is checked before the first runs, so a refused command writes nothing. Returns
    the ``max_positions`` to pass on (None with --allow-long).
    """
    from cislens.attribution.cost import DEFAULT_MAX_POSITIONS, check_cost, estimate_cost

    limit = None if allow_long else DEFAULT_MAX_POSITIONS
    for name in methods:
        cost = estimate_cost(name, tuple(shape), **options)
        echo(f"estimated cost: {cost.summary()}")
        check_cost(cost, limit)
    return limit


def output_paths(out: Path, methods: list[str]) -> dict[str, Path]:
    """Where each method's file goes: ``out`` for one method, ``out`` + ``.<method>`` otherwise.

    Examples
    --------
    >>> output_paths(Path("attr.h5"), ["ism"])
    {'ism': PosixPath('attr.h5')}
    >>> output_paths(Path("run/attr.npz"), ["ism", "saliency"])["saliency"]
    PosixPath('run/attr.saliency.npz')
    """
    if len(methods) == 1:
        return {methods[0]: out}
    return {name: out.with_name(f"{out.stem}.{name}{out.suffix}") for name in methods}


def _model_specs(models: list[str], weights: list[Path] | None) -> list[tuple[str, Path]]:
    """``(spec, weights)`` per ensemble member from repeated --model / --weights."""
    weights = list(weights or [])
    if len(models) == 1 and len(weights) <= 1:
        return [(models[0], weights[0] if weights else None)]
    if len(models) == 1:
        return [(models[0], w) for w in weights]
    if not weights:
        return [(m, None) for m in models]
    if len(weights) == len(models):
        return list(zip(models, weights, strict=True))
    raise ValueError(
        f"--weights must be given once per --model ({len(models)}), or not at all for "
        f"checkpoint folders; got {len(weights)}."
    )


@app.command("attribute")
def attribute_command(
    model: list[str] = typer.Option(
        ...,
        "--model",
        help="Checkpoint directory, or module.py:ClassName with --weights. Repeat it (or "
        "--weights) for an ensemble, e.g. one model per fold: the maps are averaged.",
    ),
    data: Path = typer.Option(None, "--data", help="Dataset HDF5."),
    out: Path = typer.Option(
        ...,
        "--out",
        "-o",
        help="Output file (.h5, .npz, or .zarr for a chunked run); several methods: "
        "OUT.<method>.h5.",
    ),
    method: str = typer.Option(
        ..., "--method", "--methods", help="Method name, a comma list, or 'all'."
    ),
    split: str = typer.Option("test", "--split", help="Split to explain: train, valid or test."),
    target: str = typer.Option(
        None, "--target", help="Output index or task name (required for multi-task models)."
    ),
    output: str = typer.Option(None, "--output", help=OUTPUT_HELP),
    input_layout: str = typer.Option("NCL", "--input-layout", help=INPUT_LAYOUT_HELP),
    n_examples: int = typer.Option(None, "--n-examples", help="Explain the first N rows only."),
    positives_only: bool = typer.Option(
        False, "--positives-only", help="Only rows whose label for the target is 1."
    ),
    hypothetical: bool = typer.Option(
        False, "--hypothetical", help="Also store hypothetical scores (all four bases)."
    ),
    batch_size: int = typer.Option(
        None, "--batch-size", help="Forward-pass rows per batch (default: the method's)."
    ),
    seed: int = typer.Option(None, "--seed", help="random_state (default: drawn and recorded)."),
    device: str = typer.Option(None, "--device", help="cpu, cuda, cuda:1 (default: auto)."),
    method_args: str = typer.Option(
        None, "--method-args", help="Method options as JSON, e.g. '{\"n_steps\": 20}'."
    ),
    weights: list[Path] = typer.Option(
        None,
        "--weights",
        help="State dict (.safetensors or torch file) for a class spec; "
        "one per --model, or several for one class spec (an ensemble).",
    ),
    normalise: str = typer.Option(
        "none",
        "--normalise",
        help="Ensemble: 'none' (plain mean) or 'percentile' (each "
        "model's maps divided by a percentile of its |projected attribution| first).",
    ),
    normalise_percentile: float = typer.Option(
        99.0, "--normalise-percentile", help="The percentile of --normalise percentile."
    ),
    model_args: str = typer.Option(
        None, "--model-args", help="Constructor arguments (JSON) for a class spec."
    ),
    fasta: Path = typer.Option(None, "--fasta", help="Input FASTA (with a .zarr --out)."),
    bed: Path = typer.Option(None, "--bed", help="Input BED intervals (with --genome, .zarr)."),
    genome: Path = typer.Option(None, "--genome", help="Genome FASTA for --bed."),
    pad_with_n: bool = typer.Option(
        False, "--pad-with-n", help="--bed: pad windows that run off a chromosome end with N."
    ),
    bigwig: Path = typer.Option(
        None,
        "--bigwig",
        help="--bed .zarr runs: also write the projected attributions as a "
        "bigWig in genome coordinates (several methods: OUT.<method>.bw).",
    ),
    bigwig_merge: str = typer.Option(
        "mean",
        "--bigwig-merge",
        help="Overlapping windows in --bigwig: 'mean' (of the windows "
        "covering a base) or 'nearest' (the window whose centre is nearest).",
    ),
    bigwig_zooms: int = typer.Option(
        10,
        "--bigwig-zooms",
        help="Zoom levels of --bigwig (0: none; the file is assembled in "
        "constant memory, zoomed-out browser views are slower).",
    ),
    overwrite: bool = typer.Option(
        False,
        "--overwrite",
        help="Replace an existing .zarr store made with other settings or "
        "inputs instead of resuming it.",
    ),
    length: int = typer.Option(
        None, "--length", help="Window length: --bed (default: the model's), --fasta (trim/pad)."
    ),
    chunk_size: int = typer.Option(
        1024, "--chunk-size", help="Sequences per chunk (task and Zarr chunk) of a .zarr run."
    ),
    scheduler: str = typer.Option(
        None, "--scheduler", help="Dask scheduler address, e.g. tcp://host:8786 (.zarr runs)."
    ),
    workers: int = typer.Option(
        None, "--workers", help="Local Dask worker processes (.zarr runs; default: CPU cores)."
    ),
    allow_long: bool = typer.Option(
        False,
        "--allow-long",
        help="Run even when the estimated cost (forward rows x length) is over the limit, 1e10.",
    ),
) -> None:
    """Attribute a model's predictions on one split; write the attribution store.

    Each file holds X, the projected attributions (and the hypothetical
    scores with --hypothetical), the method, target, options (--output and
    --input-layout among them), random_state, cislens version, the rows'
    indices in the split and the task names.
    """
    from cislens.attribution import ensemble_attribution_set
    from cislens.io.attributions import SUFFIXES, save_attributions
    from cislens.io.dataset import load_dataset
    from cislens.models import load_model_from_spec
    from cislens.utils.random import resolve_seed

    methods = _parse_methods(method)
    options = _parse_json_object(method_args, "--method-args")
    reserved = ("target", "hypothetical", "random_state", "batch_size", "device", "verbose",
                "output", "input_layout", "max_positions")  # fmt: skip
    for key in reserved:
        if key in options:
            raise ValueError(
                f"--method-args must not set {key!r}; use its own option"
                f"{' (--allow-long)' if key == 'max_positions' else ''}."
            )
    view = model_view(output, input_layout)
    if (bigwig is not None or pad_with_n or overwrite) and Path(out).suffix.lower() != ".zarr":
        raise ValueError(
            "--bigwig, --pad-with-n and --overwrite belong to chunked runs from --bed + --genome "
            f"(a .zarr --out); got --out {str(out)!r}."
        )
    specs = _model_specs(model, weights)
    if Path(out).suffix.lower() == ".zarr":
        if len(specs) > 1:
            raise ValueError(
                "an ensemble (several --model / --weights) needs a .h5 or .npz "
                "--out; the chunked .zarr engine runs one model."
            )
        model, weights = specs[0]
        if n_examples is not None or positives_only:
            raise ValueError(
                "--n-examples and --positives-only are not available with a .zarr --out (the "
                "chunked engine streams whole inputs); subset the input file instead."
            )
        _attribute_chunked(
            model,
            weights,
            _parse_json_object(model_args, "--model-args"),
            methods,
            options,
            view,
            out=Path(out),
            data=data,
            split=split,
            fasta=fasta,
            bed=bed,
            genome=genome,
            length=length,
            pad_with_n=pad_with_n,
            overwrite=overwrite,
            bigwig=bigwig,
            bigwig_merge=bigwig_merge,
            bigwig_zooms=bigwig_zooms,
            target=target,
            hypothetical=hypothetical,
            batch_size=batch_size,
            seed=seed,
            device=device,
            chunk_size=chunk_size,
            scheduler=scheduler,
            workers=workers,
            allow_long=allow_long,
        )
        return
    if fasta is not None or bed is not None:
        raise ValueError("--fasta and --bed inputs need a chunked run: give --out a .zarr path.")
    if data is None:
        raise ValueError("--data (a dataset HDF5) is required; or give a .zarr --out with --fasta.")
    if Path(out).suffix.lower() not in SUFFIXES:
        raise ValueError(f"--out must end in one of {[*SUFFIXES, '.zarr']}; got {str(out)!r}.")
    if n_examples is not None and n_examples < 1:
        raise ValueError(f"--n-examples must be a positive int; got {n_examples}.")
    if hypothetical:
        from cislens.attribution import METHODS

        lacking = [name for name in methods if not METHODS[name].supports_hypothetical]
        if lacking:
            raise ValueError(
                f"--hypothetical: {lacking} have no hypothetical scores (they return a map on "
                "all four channels); drop --hypothetical or those methods."
            )

    dataset = load_dataset(data)
    if split not in dataset.X:
        raise ValueError(f"--split {split!r} is not in {data}; it has {dataset.splits}.")
    nets = [
        load_model_from_spec(
            spec, weights=w, model_args=_parse_json_object(model_args, "--model-args")
        )
        for spec, w in specs
    ]
    task_names = list(dataset.task_names)
    for net in nets:
        model_tasks = getattr(net, "task_names", None)
        if model_tasks is not None and list(model_tasks) != task_names:
            raise ValueError(
                f"the model was trained on tasks {list(model_tasks)} but {data} has tasks "
                f"{task_names}; attribute it on data with the same tasks in that order."
            )
    target_index = _parse_target(target, task_names)

    X = np.asarray(dataset.X[split])
    for net in nets:
        check_view(net, view, X.shape[2])
    rows = np.arange(X.shape[0])
    if positives_only:
        if target_index is None:
            raise ValueError("--positives-only needs --target (whose label selects the rows).")
        labels = np.asarray(dataset.Y[split])
        if not 0 <= target_index < labels.shape[1]:
            raise ValueError(
                f"--target {target_index} is out of range for {labels.shape[1]} tasks."
            )
        rows = rows[labels[:, target_index] == 1]
        if rows.size == 0:
            raise ValueError(
                f"--positives-only: no row of split {split!r} has label 1 for task "
                f"{task_names[target_index]!r}."
            )
    if n_examples is not None:
        rows = rows[:n_examples]

    random_state = resolve_seed(seed)
    extra = {"verbose": state.verbose}
    if batch_size is not None:
        extra["batch_size"] = batch_size
    if device is not None:
        extra["device"] = device
    shape = (len(rows), *X.shape[1:])
    extra["max_positions"] = _announce_cost(
        methods, shape, {**extra, **options, "hypothetical": hypothetical}, allow_long
    )
    for name, path in output_paths(Path(out), methods).items():
        result = ensemble_attribution_set(
            nets,
            X[rows],
            method=name,
            normalise=normalise,
            percentile=normalise_percentile,
            target=target_index,
            hypothetical=hypothetical,
            random_state=random_state,
            example_index=rows,
            task_names=task_names,
            **view,
            **extra,
            **options,
        )
        save_attributions(path, result)
        echo(
            f"wrote {path} ({name}, {len(rows)} sequences of split {split!r}, target "
            f"{target_index}, random_state {random_state})"
        )


def _attribute_chunked(model, weights, model_args, methods, options, view, *, out, **settings):
    """``--out *.zarr``: one resumable chunked store per method (cislens.scale)."""
    from cislens.models import load_model_from_spec
    from cislens.scale import attribute_to_zarr, open_source

    net = load_model_from_spec(model, weights=weights, model_args=model_args)
    length = settings["length"]
    if length is None and (settings["bed"] is not None):
        length = getattr(net, "input_length", None)
    tracks = _bigwig_paths(settings["bigwig"], settings["bigwig_merge"], settings["bed"], methods)
    # BedSource places and checks every window here, before any worker starts.
    source = open_source(
        data=settings["data"],
        split=settings["split"],
        fasta=settings["fasta"],
        bed=settings["bed"],
        genome=settings["genome"],
        length=length,
        pad_with_n=settings["pad_with_n"],
    )
    task_names = list(getattr(net, "task_names", None) or [])
    target_index = _parse_target(settings["target"], task_names)
    check_view(net, view, source.length)
    sizes = {"batch_size": settings["batch_size"]} if settings["batch_size"] else {}
    limit = _announce_cost(methods, (source.n, 4, source.length),
                           {**sizes, **options, "hypothetical": settings["hypothetical"]},
                           settings["allow_long"])  # fmt: skip
    for name, path in output_paths(out, methods).items():
        report = attribute_to_zarr(
            model,
            source,
            path,
            method=name,
            target=target_index,
            hypothetical=settings["hypothetical"],
            chunk_size=settings["chunk_size"],
            random_state=settings["seed"],
            batch_size=settings["batch_size"],
            device=settings["device"],
            weights=weights,
            model_args=model_args,
            scheduler=settings["scheduler"],
            n_workers=settings["workers"],
            verbose=state.verbose,
            max_positions=limit,
            overwrite=settings["overwrite"],
            **view,
            **options,
        )
        echo(
            f"wrote {path} ({name}, {source.n} sequences in {report.n_blocks} chunks: "
            f"{len(report.computed)} computed, {len(report.skipped)} already done; "
            f"{report.seconds:.1f} s)"
        )
        if tracks:
            from cislens.scale import write_bigwig

            made = write_bigwig(path, tracks[name], merge=settings["bigwig_merge"],
                                zooms=settings["bigwig_zooms"], verbose=state.verbose)  # fmt: skip
            echo(f"wrote {tracks[name]} ({made.n_bases} bases, merge "
                 f"{settings['bigwig_merge']!r}; {len(made.reused)} of {made.n_parts} parts "
                 "reused from an interrupted run)")  # fmt: skip


def _bigwig_paths(bigwig, merge, bed, methods) -> dict:
    """``--bigwig``: one track per method (``OUT.<method>.bw`` for several), checked up front."""
    from cislens.scale.tracks import MERGE_RULES

    if bigwig is None:
        return {}
    if bed is None:
        raise ValueError("--bigwig needs --bed with --genome: a track needs genome coordinates.")
    if merge not in MERGE_RULES:
        raise ValueError(f"--bigwig-merge must be one of {list(MERGE_RULES)}; got {merge!r}.")
    if Path(bigwig).suffix.lower() not in (".bw", ".bigwig"):
        raise ValueError(f"--bigwig must end in .bw or .bigWig; got {str(bigwig)!r}.")
    return output_paths(Path(bigwig), methods)
