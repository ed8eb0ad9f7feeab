"""The Dask side: which cluster to use, the model each worker loads once, and the block loop.

:func:`run_blocks` submits one task per unfinished row block, keeps only a bounded number in
flight (so a client that streams its input never holds more than a few blocks), shows a progress
bar over blocks, and when a block fails lets the running ones finish, then raises an error that
says the finished blocks are kept and the same command resumes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import pickle
import resource
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cislens.errors import CislensError
from cislens.scale._deps import require
from cislens.utils.validation import check_positive_int

logger = logging.getLogger(__name__)

DEFAULT_MAX_WORKERS = 8
"""Upper bound of the default number of local workers (one per CPU core up to this)."""
SCATTER_BYTES = 1 << 20
"""Task descriptions larger than this are broadcast to the workers once, not sent per block."""


@dataclass(frozen=True)
class ModelSpec:
    """How a worker loads the model: a checkpoint directory, or ``module.py:Class`` + weights.

    Workers rebuild the model from files (never from a pickled module), once per process.

    Examples
    --------
    >>> ModelSpec("runs/model").weights is None
    True
    """

    spec: str
    weights: str | None = None
    model_args: str = "{}"
    # The weights' SHA-256 once known: part of the worker cache key, so a long-lived worker
    # never reuses a model whose files were replaced at the same path.
    fingerprint: str = ""

    @classmethod
    def from_arguments(cls, model, *, weights=None, model_args=None) -> ModelSpec:
        """Normalise CLI-style arguments (paths made absolute so remote workers agree)."""
        if isinstance(model, ModelSpec):
            return model
        text = str(model)
        if ":" in text and not Path(text).exists():
            module, _, name = text.rpartition(":")
            text = f"{Path(module).resolve()}:{name}"
        else:
            text = str(Path(text).resolve())
        spec = cls(
            text,
            None if weights is None else str(Path(weights).resolve()),
            json.dumps(model_args or {}, sort_keys=True),
        )
        return dataclasses.replace(spec, fingerprint=spec.identity()["weights_sha256"] or "")

    def load(self):
        """Build the model in eval mode (``cislens.models.load_model_from_spec``)."""
        from cislens.models import load_model_from_spec

        return load_model_from_spec(
            self.spec, weights=self.weights, model_args=json.loads(self.model_args)
        ).eval()

    def identity(self) -> dict:
        """Architecture, hyperparameters and the weights' SHA-256, recorded in the store."""
        from cislens.models.checkpoint import read_model_config

        if self.weights is None:
            config = read_model_config(self.spec)
            return {
                "spec": self.spec,
                "architecture": config.get("architecture"),
                "hyperparameters": config.get("hyperparameters"),
                "weights_sha256": config.get("weights_sha256"),
            }
        digest = hashlib.sha256(Path(self.weights).read_bytes()).hexdigest()
        return {
            "spec": self.spec,
            "class": self.spec.rpartition(":")[2],
            "model_args": json.loads(self.model_args),
            "weights": self.weights,
            "weights_sha256": digest,
        }


# One model per worker process: tasks of a run reuse it; a new spec replaces it.
_LOADED: dict[ModelSpec, object] = {}


def worker_model(spec: ModelSpec):
    """The model for ``spec`` in this process, loaded on first use; ``(model, loaded_now)``."""
    if spec in _LOADED:
        return _LOADED[spec], False
    _LOADED.clear()
    _LOADED[spec] = spec.load()
    return _LOADED[spec], True


def worker_stats(started: float, cpu_started: float) -> dict:
    """Facts a task reports: its process, wall and CPU seconds, the process's peak memory."""
    return {
        "pid": os.getpid(),
        "started": started,  # time.perf_counter() of that process: compare within one pid only
        "seconds": time.perf_counter() - started,
        # CPU time of the whole worker process (all its threads) during the task: unlike wall
        # time it does not grow when other programs compete for the cores.
        "cpu_seconds": time.process_time() - cpu_started,
        # ru_maxrss is in KiB on Linux: the high-water mark of this worker process so far.
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def check_cluster(*, client=None, scheduler: str | None = None, n_workers: int | None = None):
    """Validate the arguments of :func:`dask_client` without starting anything.

    The chunked runs call it before they create their store, so a refused ``--workers 0`` (or
    a missing ``distributed``) leaves no empty store behind.

    Raises
    ------
    ValueError
        ``client`` together with ``scheduler`` / ``n_workers``, ``scheduler`` together with
        ``n_workers``, or ``n_workers`` not a positive int.
    ImportError
        ``distributed`` is not installed and no ``client`` is given.
    """
    if client is not None:
        if scheduler is not None or n_workers is not None:
            raise ValueError("pass either client, or scheduler / n_workers; not both.")
        return
    require("distributed")
    if scheduler is not None and n_workers is not None:
        raise ValueError(
            "--workers sizes a local cluster; with --scheduler the cluster is already "
            "running (size it there). Drop one of them."
        )
    check_positive_int(n_workers, "n_workers (--workers)", allow_none=True)


@contextmanager
def dask_client(
    *, client: Any = None, scheduler: str | None = None, n_workers: int | None = None
) -> Iterator[Any]:
    """Yield a ``distributed.Client``: the one given, one on ``scheduler``, or a local cluster.

    The local cluster has ``n_workers`` worker processes with one thread each (default: one
    per CPU core, at most :data:`DEFAULT_MAX_WORKERS`); it is shut down on exit. The arguments
    are checked by :func:`check_cluster`.
    """
    check_cluster(client=client, scheduler=scheduler, n_workers=n_workers)
    if client is not None:
        yield client
        return
    distributed = require("distributed")
    if scheduler is not None:
        with distributed.Client(scheduler) as remote:
            yield remote
        return
    if n_workers is None:
        n_workers = min(os.cpu_count() or 1, DEFAULT_MAX_WORKERS)
    with (
        _quiet_logger("distributed"),
        distributed.LocalCluster(
            n_workers=n_workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",  # any free port: never clash on 8787
            silence_logs=logging.ERROR,  # not the nanny's shutdown chatter
        ) as cluster,
        distributed.Client(cluster) as local,
    ):
        yield local


@contextmanager
def _quiet_logger(name: str, level: int = logging.ERROR):
    # The scheduler and nannies of a local cluster log every start, connection and shutdown at
    # INFO/WARNING; a command line user should see progress and errors, not that.
    target = logging.getLogger(name)
    previous = target.level
    target.setLevel(level)
    try:
        yield
    finally:
        target.setLevel(previous)


@dataclass
class Block:
    """One unit of work: row block ``index`` covering rows ``[start, stop)``.

    ``data`` carries the input rows when the source cannot be read on the workers.
    """

    index: int
    start: int
    stop: int
    data: object = None


@dataclass
class RunReport:
    """What a chunked run did.

    Attributes
    ----------
    path : Path
        The store.
    n_blocks : int
        Row blocks in the store.
    computed : list of int
        Blocks computed by this run (sorted).
    skipped : list of int
        Blocks found complete and left alone.
    seconds : float
        Wall time of the run.
    tasks : list of dict
        One per computed block: index, pid, started (the worker process's perf_counter), seconds,
        cpu_seconds, peak_rss_mb, model_loaded.
    """

    path: Path
    n_blocks: int
    computed: list = field(default_factory=list)
    skipped: list = field(default_factory=list)
    seconds: float = 0.0
    tasks: list = field(default_factory=list)


def run_blocks(
    client,
    function: Callable,
    blocks: Iterable[Block],
    task,
    *,
    total: int,
    done: int = 0,
    in_flight: int | None = None,
    verbose: bool = False,
    path=None,
) -> list[dict]:
    """Run ``function(block, task)`` on the cluster for every block; return the task reports.

    At most ``in_flight`` blocks (default twice the number of workers, at least 2) are
    submitted at a time. After the first failure no new block starts; the error raised names
    the failed block and is chained to the worker's exception.
    """
    from tqdm.auto import tqdm

    distributed = require("distributed")
    if in_flight is None:
        in_flight = max(2, 2 * len(client.scheduler_info().get("workers", {})))
    run_id = uuid.uuid4().hex[:8]
    # A large task description (a FASTA offsets index of millions of records) goes to every
    # worker once instead of inside each block's task. Small ones travel by value, so a lost
    # worker never takes the only copy with it.
    shared = task
    if len(pickle.dumps(task)) > SCATTER_BYTES:
        shared = client.scatter(task, broadcast=True, hash=False)
    pending = iter(blocks)
    futures = distributed.as_completed()
    blocks_of = {}
    reports, failures = [], []

    def submit_next() -> bool:
        block = next(pending, None)
        if block is None:
            return False
        data = None
        if block.data is not None:  # ship client-read rows as data, not inside the task graph
            data, block.data = client.scatter(block.data, direct=False), None
        future = client.submit(
            _call,
            function,
            block,
            shared,
            data,
            key=f"cislens-block-{run_id}-{block.index}",
            pure=False,
        )
        blocks_of[future.key] = block
        futures.add(future)
        return True

    for _ in range(in_flight):
        if not submit_next():
            break
    with tqdm(total=total, initial=done, unit="chunk", disable=not verbose) as bar:
        for future in futures:
            block = blocks_of.pop(future.key)
            try:
                reports.append(future.result())
            except Exception as error:  # the worker's exception, re-raised here
                failures.append((block, error))
            else:
                bar.update(1)
            future.release()
            if not failures:
                submit_next()
    if failures:
        block, cause = failures[0]
        raise CislensError(
            f"chunk {block.index} (rows {block.start}-{block.stop}) failed: "
            f"{type(cause).__name__}: {cause}. The {len(reports)} chunks finished in this run are "
            f"kept in {str(path)!r}; fix the cause and re-run the same command to compute the "
            "remaining ones."
        ) from cause
    return reports


# One block at a time per worker process. A worker with several threads shares one model
# object between them, and the attribution code is not thread-safe: a method borrows the model in
# eval mode and restores it afterwards, and the capture of DeepLIFT and fast ISM installs
# process-wide module hooks while it records, so a forward pass in another thread would be
# recorded into the capture or fail. Parallelism comes from worker processes (one thread each,
# the documented setup); extra threads of a worker wait here.
_BLOCK_LOCK = threading.Lock()


def _call(function, block: Block, task, data):
    # Scattered rows arrive here as the future's value; put them back on the block.
    with _BLOCK_LOCK:
        started, cpu_started = time.perf_counter(), time.process_time()
        block.data = data
        report = function(block, task)
    report.update(worker_stats(started, cpu_started), index=block.index)
    return report


__all__ = ["Block", "ModelSpec", "RunReport", "dask_client", "run_blocks", "worker_model"]
