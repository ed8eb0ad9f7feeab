"""Chunked, resumable attribution (any registered method, ISM included) into a Zarr store.

Each row block of ``chunk_size`` sequences is one Dask task: the worker reads its rows from the
source, runs :func:`cislens.attribution.attribution_set` on them with the run's seed (the same
call as the single-process ``cislens attribute``), writes the block's rows of every array and
then its completion marker. Results do not depend on the chunking: every method's randomness is
derived per example (DeepLiftShap's shuffles from the seed, the sequence's tokens and the shuffle
index), so a chunked run equals the single-process run.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cislens.attribution.cost import DEFAULT_MAX_POSITIONS, check_cost, estimate_cost
from cislens.attribution.heads import HEADS, check_input_layout, check_output
from cislens.scale.engine import (
    Block,
    ModelSpec,
    RunReport,
    check_cluster,
    dask_client,
    run_blocks,
    worker_model,
)
from cislens.scale.sources import FastaSource, HDF5Source
from cislens.scale.store import open_store, read_metadata, write_block, write_windows
from cislens.utils.random import resolve_seed
from cislens.utils.types import PathLike, RandomState
from cislens.utils.validation import check_positive_int

FORMAT = "cislens-zarr-attributions"
FORMAT_VERSION = 1
# Options with their own argument (and batch_size / device, which do not change results).
_RESERVED = ("target", "hypothetical", "random_state", "batch_size", "device", "verbose",
             "max_positions")  # fmt: skip


@dataclass(frozen=True)
class AttributeTask:
    """Everything a worker needs for a block (small: paths and settings, no arrays)."""

    store: str
    source: HDF5Source | FastaSource
    model: ModelSpec
    method: str
    target: int | None
    hypothetical: bool
    random_state: int
    options: str  # JSON
    runtime: str  # JSON: batch_size, device, max_positions


def attribute_block(block: Block, task: AttributeTask) -> dict:
    """Worker side: attribute one block and write it (data first, completion marker last)."""
    import torch
    import zarr

    from cislens.attribution import attribution_set

    model, loaded = worker_model(task.model)
    rows = block.data if block.data is not None else task.source.read(block.start, block.stop)
    X = torch.from_numpy(np.asarray(rows, dtype=np.float32))
    result = attribution_set(
        model,
        X,
        method=task.method,
        target=task.target,
        hypothetical=task.hypothetical,
        random_state=task.random_state,
        **json.loads(task.runtime),
        **json.loads(task.options),
    )
    values = {"sequences": np.asarray(rows, dtype=np.int8), "attributions": result.attributions}
    if task.hypothetical and result.hypothetical is not None:  # always set when asked for
        values["hypothetical"] = result.hypothetical
    write_block(
        zarr.open_group(task.store, mode="r+"), block.index, block.start, block.stop, values
    )
    return {"model_loaded": loaded}


def _as_source(source) -> HDF5Source | FastaSource:
    if hasattr(source, "read") and hasattr(source, "identity"):
        return source
    path = Path(source)
    if path.suffix.lower() in (".h5", ".hdf5"):
        return HDF5Source(path)
    return FastaSource(path)


def _recorded_options(method: str, options: dict) -> dict:
    from cislens.attribution import get_method

    for key in _RESERVED:
        if key in options:
            raise ValueError(f"options must not set {key!r}; it has its own argument.")
    record = get_method(method)
    merged = {**record.defaults(), **options}
    for key in _RESERVED:
        merged.pop(key, None)
    for key, value in merged.items():
        if isinstance(value, tuple):
            merged[key] = list(value)
        elif hasattr(value, "item") and np.ndim(value) == 0:
            merged[key] = value.item()
        elif not isinstance(value, (str, int, float, bool, list, dict, type(None))):
            if key in options:
                raise TypeError(
                    f"option {key!r} must be a JSON value in a chunked run (it is recorded in the "
                    f"store and sent to the workers); got {type(value).__name__}. Use a named "
                    "value, e.g. baselines='dinucleotide'."
                )
            merged[key] = str(value)  # a default such as torch.float32: recorded by name
    return merged


def chunked_output(output):
    """``output=`` as JSON (a pair as a list): what the store records and the workers receive.

    A callable cannot be recorded or sent to a worker process, so it is refused.

    Examples
    --------
    >>> chunked_output((0, "profile")), chunked_output("counts"), chunked_output(None)
    ([0, 'profile'], 'counts', None)
    """
    if isinstance(output, tuple | list) and len(output) == 2 and output[1] in HEADS:
        if isinstance(output[0], int | str) and not isinstance(output[0], bool):
            return list(output)
    elif output is None or (isinstance(output, int | str) and not isinstance(output, bool)):
        return output
    raise TypeError(
        f"output must be an index, a dict key, a head {HEADS} or (index or key, head) in a "
        "chunked run (it is recorded in the store and sent to the workers); got "
        f"{type(output).__name__}. Name the head, or make the selection part of your model class."
    )


def check_model(
    model, *, length: int, target, require_target: bool = True, output=None,
    input_layout: str = "NCL",
) -> int:  # fmt: skip
    """Run the model once on an all-N batch of ``length``; check ``target``; return n outputs.

    ``require_target=False`` accepts ``target=None`` on a multi-output model (nothing is
    explained, as in variant scoring without attributions). ``output`` and ``input_layout``
    (:mod:`cislens.attribution.heads`) say how the model is read; a wrong one fails here,
    before any block runs.
    """
    n_outputs = check_output(model, length=length, output=output, input_layout=input_layout)
    if target is None and n_outputs > 1 and require_target:
        raise ValueError(
            f"target is required for a model with {n_outputs} outputs; pass --target (an index "
            f"in [0, {n_outputs}) or a task name)."
        )
    if target is not None and not (isinstance(target, int) and 0 <= target < n_outputs):
        raise ValueError(
            f"target must be an int in [0, {n_outputs}) for a model with {n_outputs} outputs; "
            f"got {target!r}."
        )
    return n_outputs


def attribute_to_zarr(
    model: PathLike | ModelSpec,
    source: PathLike | HDF5Source | FastaSource,
    out: PathLike,
    *,
    method: str,
    target: int | None = None,
    hypothetical: bool = False,
    output: int | str | tuple | None = None,
    input_layout: str = "NCL",
    chunk_size: int = 1024,
    random_state: RandomState = None,
    batch_size: int | None = None,
    device: str | None = None,
    weights: PathLike | None = None,
    model_args: dict | None = None,
    client: Any = None,
    scheduler: str | None = None,
    n_workers: int | None = None,
    verbose: bool = False,
    max_positions: float | None = DEFAULT_MAX_POSITIONS,
    overwrite: bool = False,
    **options,
) -> RunReport:
    """Attribute every sequence of ``source`` on a Dask cluster into the Zarr store ``out``.

    Resumable: if ``out`` exists it must have been written with the same settings (otherwise
    :class:`~cislens.errors.ConfigError` names what differs), and only the blocks without a
    completion marker are computed.

    Parameters
    ----------
    model : str, Path or ModelSpec
        A cislens checkpoint directory, or ``module.py:ClassName`` with ``weights``.
    source : HDF5Source, FastaSource, BedSource, or a path
        The input (a path ending in .h5/.hdf5 is a dataset's test split, anything else FASTA).
    out : str or Path
        The store directory, e.g. ``attr.zarr``.
    method : str
        A name in :data:`cislens.attribution.METHODS` (``ism``, ``deeplift_shap``, ...).
    target : int or None
        Output to explain (required for multi-output models).
    hypothetical : bool
        Also store the hypothetical scores (methods that have them).
    output : None, int, str or (index or key, head)
        Which model output ``target`` indexes when the model does not return one (N, T)
        tensor (:mod:`cislens.attribution.heads`); not a callable here (it is recorded and sent
        to the workers). Recorded in the store's ``params`` (a pair as a list).
    input_layout : {"NCL", "NLC"}
        The layout the model takes, (N, 4, L) (default) or (N, L, 4); recorded in ``params``.
    chunk_size : int
        Sequences per block (task and Zarr chunk). Worker memory scales with it, not with N.
    random_state : int, Generator or None
        Seed. None draws one for a new store and reuses the recorded one when resuming.
    batch_size, device
        Passed to the method on the workers (they do not change the results).
    weights, model_args
        For a ``module.py:ClassName`` model.
    client : distributed.Client, optional
        Use this client. Otherwise ``scheduler`` (an address such as ``tcp://host:8786``) or a
        local cluster of ``n_workers`` processes.
    verbose : bool
        Progress bar over blocks.
    max_positions : float or None
        Refuse a run whose estimated cost over the whole source (forward rows x length, see
        :mod:`cislens.attribution.cost`) exceeds this, before anything is written; None lifts
        the limit. Not recorded (it does not change results).
    overwrite : bool
        Replace an existing store at ``out`` (written with any settings) instead of resuming
        it; the old store is removed once the new one is created.
    **options
        The method's options (JSON values: ``n_shuffles``, ``n_steps``, ``baselines`` by name).

    Returns
    -------
    RunReport
        Which blocks were computed and skipped, timings and per-task worker memory.

    Examples
    --------
    >>> import tempfile, os
    >>> from distributed import Client, LocalCluster
    >>> from cislens.models import LabCNN, save_model
    >>> from cislens.sequence.fasta import write_fasta
    >>> folder = tempfile.mkdtemp()
    >>> net = LabCNN(n_tasks=1, input_length=40, n_filters=(4, 4), filter_widths=(5, 3),
    ...              pool_sizes=(2, 2), n_hidden=8, random_state=0)
    >>> checkpoint = save_model(net, os.path.join(folder, "model"))
    >>> write_fasta(os.path.join(folder, "x.fa"), ["ACGT" * 10, "AACC" * 10, "GATC" * 10])
    >>> with LocalCluster(n_workers=1, processes=False, dashboard_address=":0") as cluster, \\
    ...         Client(cluster) as client:
    ...     report = attribute_to_zarr(checkpoint, os.path.join(folder, "x.fa"),
    ...         os.path.join(folder, "a.zarr"), method="ism", chunk_size=2, client=client)
    >>> report.n_blocks, report.computed
    (2, [0, 1])
    """
    check_positive_int(chunk_size, "chunk_size (--chunk-size)")
    # Before the store is created: a refused cluster must not leave an empty store behind.
    check_cluster(client=client, scheduler=scheduler, n_workers=n_workers)
    options = _worker_options(method, hypothetical, options, output, input_layout)
    source = _as_source(source)
    spec = ModelSpec.from_arguments(model, weights=weights, model_args=model_args)
    out = Path(out).resolve()
    if random_state is None and out.exists() and not overwrite:
        random_state = read_metadata(out).get("random_state")  # resume with the recorded seed
    seed = resolve_seed(random_state)
    recorded = _recorded_options(method, options)
    # Before the store exists: a refused run writes nothing.
    _check_run_cost(method, source, hypothetical, batch_size, options, max_positions)
    check_model(spec.load(), length=source.length, target=target, output=output,
                input_layout=input_layout)  # fmt: skip

    n = source.n
    n_blocks = -(-n // chunk_size)
    metadata = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "method": method,
        "target": target,
        "hypothetical": bool(hypothetical),
        "params": recorded,
        "random_state": seed,
        "chunk_size": chunk_size,
        "n": n,
        "length": source.length,
        "model": spec.identity(),
        "input": source.identity(),
        "runtime": {"batch_size": batch_size, "device": device},
    }
    started = time.perf_counter()
    arrays = _store_arrays(source, chunk_size, hypothetical)
    initialize = _initializer(source, chunk_size)
    _, done = open_store(out, metadata=metadata, arrays=arrays, n_chunks=n_blocks,
                         initialize=initialize, overwrite=overwrite)  # fmt: skip
    report = RunReport(out, n_blocks, skipped=[int(i) for i in np.flatnonzero(done)])
    task = AttributeTask(str(out), source, spec, method, target, bool(hypothetical), seed,
                         json.dumps(options), _runtime(batch_size, device))  # fmt: skip
    todo = [int(i) for i in np.flatnonzero(~done)]
    if todo:
        with dask_client(client=client, scheduler=scheduler, n_workers=n_workers) as active:
            report.tasks = run_blocks(
                active,
                attribute_block,
                _blocks(source, todo, chunk_size, n),
                task,
                total=n_blocks,
                done=int(done.sum()),
                verbose=verbose,
                path=out,
            )
    report.computed = sorted(item["index"] for item in report.tasks)
    report.seconds = time.perf_counter() - started
    return report


def _check_run_cost(method, source, hypothetical, batch_size, options, max_positions) -> None:
    """Refuse a run whose estimated cost over the whole source exceeds ``max_positions``."""
    sizes = {"batch_size": batch_size} if batch_size is not None else {}
    cost = estimate_cost(method, (source.n, 4, source.length), hypothetical=hypothetical,
                         **sizes, **options)  # fmt: skip
    check_cost(cost, max_positions)


def _worker_options(method: str, hypothetical: bool, options: dict, output, input_layout) -> dict:
    """The method's options with ``output`` and ``input_layout``, checked; sent to the workers
    and recorded, so that a resume with another output or layout is refused like any other
    changed parameter."""
    from cislens.attribution import get_method

    record = get_method(method)
    if hypothetical and not record.supports_hypothetical:
        raise ValueError(
            f"method {method!r} has no hypothetical scores; drop hypothetical (--hypothetical)."
        )
    return {
        **options,
        "output": chunked_output(output),
        "input_layout": check_input_layout(input_layout),
    }


def _store_arrays(source, chunk_size: int, hypothetical: bool) -> dict:
    """The store's arrays: ``name: (shape, chunks, dtype, fill value)``."""
    n, length = source.n, source.length
    rows = (chunk_size, 4, length)
    arrays = {
        "sequences": ((n, 4, length), rows, "int8", 0),
        "attributions": ((n, 4, length), rows, "float32", np.nan),
        "example_ids": ((n,), (chunk_size,), str, ""),
        "example_index": ((n,), (chunk_size,), "int64", -1),
    }
    if hypothetical:
        arrays["hypothetical"] = ((n, 4, length), rows, "float32", np.nan)
    return arrays


def _initializer(source, chunk_size: int):
    """Writes the example ids and indices (and genome windows) of a new store."""
    n = source.n

    def initialize(group):
        for start in range(0, n, chunk_size):
            stop = min(start + chunk_size, n)
            group["example_ids"][start:stop] = np.asarray(source.example_ids(start, stop))
            group["example_index"][start:stop] = source.example_index(start, stop)
        if hasattr(source, "windows"):  # BED + genome: genome coordinates of every row
            write_windows(group, source.windows(), source.chrom_sizes(), chunk_size)

    return initialize


def _runtime(batch_size, device) -> str:
    """The runtime options sent to the workers (JSON): those given, and no cost limit."""
    runtime: dict[str, object] = {
        key: value
        for key, value in (("batch_size", batch_size), ("device", device))
        if value is not None
    }
    runtime["max_positions"] = None  # the whole run passed check_cost above; chunks are smaller
    return json.dumps(runtime)


def _blocks(source, todo: list[int], chunk_size: int, n: int):
    if source.random_access:
        for index in todo:
            yield Block(index, index * chunk_size, min((index + 1) * chunk_size, n))
        return
    wanted = set(todo)  # a stream: read every block in order, ship the missing ones
    for start, rows in source.iter_chunks(chunk_size):
        index = start // chunk_size
        if index in wanted:
            yield Block(index, start, start + len(rows), rows)


__all__ = [
    "FORMAT",
    "AttributeTask",
    "attribute_block",
    "attribute_to_zarr",
    "check_model",
    "chunked_output",
]
