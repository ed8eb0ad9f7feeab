"""What ``cislens attribute`` does once its options are read: checks, loading, writing.

:class:`AttributeRequest` holds the command's options under their parameter names;
:func:`run_attribute` runs it: an HDF5 / npz ``--out`` through
:func:`cislens.attribution.ensemble_attribution_set` and :func:`cislens.io.save_attributions`,
a ``.zarr`` ``--out`` through the chunked engine :func:`cislens.scale.attribute_to_zarr`.
Errors are ValueErrors naming the option, which the command line prints as one line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cislens.attribution import parse_target, resolve_methods
from cislens.cli._app import echo, state
from cislens.cli._model import check_view, model_view

# Options the command sets itself; --method-args must not set them behind its back.
RESERVED_OPTIONS = ("target", "hypothetical", "random_state", "batch_size", "device", "verbose",
                    "output", "input_layout", "max_positions")  # fmt: skip


@dataclass(frozen=True)
class AttributeRequest:
    """The options of ``cislens attribute``, by parameter name (see its ``--help``)."""

    model: list[str]
    out: Path
    method: str
    data: Path | None = None
    split: str = "test"
    target: str | None = None
    output: str | None = None
    input_layout: str = "NCL"
    n_examples: int | None = None
    positives_only: bool = False
    hypothetical: bool = False
    batch_size: int | None = None
    seed: int | None = None
    device: str | None = None
    method_args: str | None = None
    weights: list[Path] | None = None
    normalise: str = "none"
    normalise_percentile: float = 99.0
    model_args: str | None = None
    fasta: Path | None = None
    bed: Path | None = None
    genome: Path | None = None
    pad_with_n: bool = False
    bigwig: Path | None = None
    bigwig_merge: str = "mean"
    bigwig_zooms: int = 10
    overwrite: bool = False
    length: int | None = None
    chunk_size: int = 1024
    scheduler: str | None = None
    workers: int | None = None
    allow_long: bool = False

    @property
    def chunked(self) -> bool:
        """A ``.zarr`` ``--out``: the chunked, resumable engine."""
        return Path(self.out).suffix.lower() == ".zarr"


def parse_json_object(text: str | None, option: str) -> dict:
    """The JSON object given to ``option`` (``{}`` when empty), or a ValueError naming it.

    Examples
    --------
    >>> parse_json_object('{"n_steps": 20}', "--method-args")
    {'n_steps': 20}
    """
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


def model_specs(models: list[str], weights: list[Path] | None) -> list[tuple[str, Path]]:
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


def announce_cost(methods, shape, options: dict, allow_long: bool) -> float | None:
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


def run_attribute(request: AttributeRequest) -> None:
    """Run ``cislens attribute``: check every option, then attribute and write each method."""
    methods = resolve_methods(request.method, where="--method")
    options = parse_json_object(request.method_args, "--method-args")
    for key in RESERVED_OPTIONS:
        if key in options:
            raise ValueError(
                f"--method-args must not set {key!r}; use its own option"
                f"{' (--allow-long)' if key == 'max_positions' else ''}."
            )
    view = model_view(request.output, request.input_layout)
    if (request.bigwig is not None or request.pad_with_n or request.overwrite) and (
        not request.chunked
    ):
        raise ValueError(
            "--bigwig, --pad-with-n and --overwrite belong to chunked runs from --bed + --genome "
            f"(a .zarr --out); got --out {str(request.out)!r}."
        )
    specs = model_specs(request.model, request.weights)
    if request.chunked:
        _check_chunked(request, specs)
        _attribute_chunked(request, specs[0], methods, options, view)
    else:
        _check_in_memory(request, methods)
        _attribute_in_memory(request, specs, methods, options, view)


def _check_chunked(request: AttributeRequest, specs) -> None:
    if len(specs) > 1:
        raise ValueError(
            "an ensemble (several --model / --weights) needs a .h5 or .npz "
            "--out; the chunked .zarr engine runs one model."
        )
    if request.n_examples is not None or request.positives_only:
        raise ValueError(
            "--n-examples and --positives-only are not available with a .zarr --out (the "
            "chunked engine streams whole inputs); subset the input file instead."
        )


def _check_in_memory(request: AttributeRequest, methods: list[str]) -> None:
    from cislens.attribution import METHODS
    from cislens.io.attributions import SUFFIXES

    if request.fasta is not None or request.bed is not None:
        raise ValueError("--fasta and --bed inputs need a chunked run: give --out a .zarr path.")
    if request.data is None:
        raise ValueError("--data (a dataset HDF5) is required; or give a .zarr --out with --fasta.")
    if Path(request.out).suffix.lower() not in SUFFIXES:
        raise ValueError(
            f"--out must end in one of {[*SUFFIXES, '.zarr']}; got {str(request.out)!r}."
        )
    if request.n_examples is not None and request.n_examples < 1:
        raise ValueError(f"--n-examples must be a positive int; got {request.n_examples}.")
    if request.hypothetical:
        lacking = [name for name in methods if not METHODS[name].supports_hypothetical]
        if lacking:
            raise ValueError(
                f"--hypothetical: {lacking} have no hypothetical scores (they return a map on "
                "all four channels); drop --hypothetical or those methods."
            )


def _load_models(request: AttributeRequest, specs, dataset) -> list:
    """The ensemble's models, each checked to be trained on the dataset's tasks."""
    from cislens.models import load_model_from_spec

    model_args = parse_json_object(request.model_args, "--model-args")
    nets = [load_model_from_spec(spec, weights=w, model_args=model_args) for spec, w in specs]
    task_names = list(dataset.task_names)
    for net in nets:
        model_tasks = getattr(net, "task_names", None)
        if model_tasks is not None and list(model_tasks) != task_names:
            raise ValueError(
                f"the model was trained on tasks {list(model_tasks)} but {request.data} has tasks "
                f"{task_names}; attribute it on data with the same tasks in that order."
            )
    return nets


def _select_rows(request: AttributeRequest, dataset, target_index, n_rows: int) -> np.ndarray:
    """The rows of the split to explain: --positives-only, then the first --n-examples."""
    rows = np.arange(n_rows)
    if request.positives_only:
        if target_index is None:
            raise ValueError("--positives-only needs --target (whose label selects the rows).")
        labels = np.asarray(dataset.Y[request.split])
        if not 0 <= target_index < labels.shape[1]:
            raise ValueError(
                f"--target {target_index} is out of range for {labels.shape[1]} tasks."
            )
        rows = rows[labels[:, target_index] == 1]
        if rows.size == 0:
            raise ValueError(
                f"--positives-only: no row of split {request.split!r} has label 1 for task "
                f"{list(dataset.task_names)[target_index]!r}."
            )
    if request.n_examples is not None:
        rows = rows[: request.n_examples]
    return rows


def _attribute_in_memory(request: AttributeRequest, specs, methods, options, view) -> None:
    """An .h5 / .npz ``--out``: the (ensemble) attribution set of each method, saved."""
    from cislens.attribution import ensemble_attribution_set
    from cislens.io.attributions import save_attributions
    from cislens.io.dataset import load_dataset
    from cislens.utils.random import resolve_seed

    dataset = load_dataset(request.data)
    split = request.split
    if split not in dataset.X:
        raise ValueError(f"--split {split!r} is not in {request.data}; it has {dataset.splits}.")
    nets = _load_models(request, specs, dataset)
    task_names = list(dataset.task_names)
    target_index = parse_target(request.target, task_names)
    X = np.asarray(dataset.X[split])
    for net in nets:
        check_view(net, view, X.shape[2])
    rows = _select_rows(request, dataset, target_index, X.shape[0])
    random_state = resolve_seed(request.seed)
    extra = {"verbose": state.verbose}
    if request.batch_size is not None:
        extra["batch_size"] = request.batch_size
    if request.device is not None:
        extra["device"] = request.device
    shape = (len(rows), *X.shape[1:])
    extra["max_positions"] = announce_cost(
        methods, shape, {**extra, **options, "hypothetical": request.hypothetical},
        request.allow_long,
    )  # fmt: skip
    for name, path in output_paths(Path(request.out), methods).items():
        result = ensemble_attribution_set(
            nets,
            X[rows],
            method=name,
            normalise=request.normalise,
            percentile=request.normalise_percentile,
            target=target_index,
            hypothetical=request.hypothetical,
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


def _attribute_chunked(request: AttributeRequest, spec, methods, options, view) -> None:
    """``--out *.zarr``: one resumable chunked store per method (cislens.scale)."""
    from cislens.models import load_model_from_spec
    from cislens.scale import attribute_to_zarr, open_source

    model, weights = spec
    model_args = parse_json_object(request.model_args, "--model-args")
    net = load_model_from_spec(model, weights=weights, model_args=model_args)
    length = request.length
    if length is None and request.bed is not None:
        length = getattr(net, "input_length", None)
    tracks = _bigwig_paths(request.bigwig, request.bigwig_merge, request.bed, methods)
    # BedSource places and checks every window here, before any worker starts.
    source = open_source(data=request.data, split=request.split, fasta=request.fasta,
                         bed=request.bed, genome=request.genome, length=length,
                         pad_with_n=request.pad_with_n)  # fmt: skip
    task_names = list(getattr(net, "task_names", None) or [])
    target_index = parse_target(request.target, task_names)
    check_view(net, view, source.length)
    sizes = {"batch_size": request.batch_size} if request.batch_size else {}
    limit = announce_cost(methods, (source.n, 4, source.length),
                          {**sizes, **options, "hypothetical": request.hypothetical},
                          request.allow_long)  # fmt: skip
    for name, path in output_paths(Path(request.out), methods).items():
        report = attribute_to_zarr(
            model,
            source,
            path,
            method=name,
            target=target_index,
            hypothetical=request.hypothetical,
            chunk_size=request.chunk_size,
            random_state=request.seed,
            batch_size=request.batch_size,
            device=request.device,
            weights=weights,
            model_args=model_args,
            scheduler=request.scheduler,
            n_workers=request.workers,
            verbose=state.verbose,
            max_positions=limit,
            overwrite=request.overwrite,
            **view,
            **options,
        )
        echo(
            f"wrote {path} ({name}, {source.n} sequences in {report.n_blocks} chunks: "
            f"{len(report.computed)} computed, {len(report.skipped)} already done; "
            f"{report.seconds:.1f} s)"
        )
        if tracks:
            _write_track(path, tracks[name], request)


def _write_track(store: Path, track: Path, request: AttributeRequest) -> None:
    from cislens.scale import write_bigwig

    made = write_bigwig(store, track, merge=request.bigwig_merge, zooms=request.bigwig_zooms,
                        verbose=state.verbose)  # fmt: skip
    echo(f"wrote {track} ({made.n_bases} bases, merge "
         f"{request.bigwig_merge!r}; {len(made.reused)} of {made.n_parts} parts "
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


__all__ = ["AttributeRequest", "model_specs", "output_paths", "parse_json_object", "run_attribute"]
