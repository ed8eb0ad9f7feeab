"""The stages shared by ``cislens demo`` and ``cislens run``, and their resume bookkeeping.

Each stage function takes a :class:`Stages` book, the parameters that define its output, and the
objects it works on. Resuming follows one rule, kept in :class:`Stages` alone:

- a stage's record ``<stage>.params.json`` holds its parameters and, under ``"_resume"``, its
  key and the SHA-256 of each of its output files;
- the key hashes the stage's name, its parameters and the output digests of its upstream stages
  (:data:`UPSTREAM`), so the keys form a content hash chain: a stage whose upstream outputs
  changed in any byte is recomputed, even when its own parameters did not change;
- the record is removed before a stage recomputes and written (atomically) after all of its
  outputs, so a stage killed half-way never leaves a record next to its half-written files;
- with ``resume=True`` a stage is loaded instead of recomputed only when its record's key equals
  the key computed now and its files still have the recorded digests.

Attributions are computed on (and rows refer to) the ``test`` split of the dataset.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path

from cislens.run_folder import RunFolder
from cislens.utils.files import sha256_file, write_text

logger = logging.getLogger(__name__)

MOTIF_METHOD = "deeplift_shap"
"""The method whose hypothetical scores feed motif discovery by default."""

UPSTREAM = {
    "data": (),
    "model": ("data",),
    "evaluate": ("data", "model"),
    "attribute": ("data", "model"),
    "motifs": ("data", "model", "attribute"),
    "gia": ("data", "model", "motifs"),
    "benchmark": ("data", "attribute", "motifs"),
    "argminn": ("data", "model"),
}
"""The stages (by record name) whose outputs each stage reads. A stage not listed depends on
every stage recorded before it in the run (the safe default)."""

MOTIF_FILES = RunFolder.MOTIF_FILES
GIA_FILES = RunFolder.GIA_FILES
BENCHMARK_FILES = RunFolder.BENCHMARK_FILES
OUTPUTS = RunFolder.OUTPUTS
"""The files and folders (relative to the run folder) each stage writes, hashed into its
record; a file that does not exist is left out of the digest."""

RESUME_KEY = "_resume"
"""The record's entry that holds the key and output digests (not a parameter: the report leaves
keys starting with ``_`` out of its parameter table)."""


def output_digest(out: Path, outputs) -> dict[str, str]:
    """SHA-256 of every existing file among ``outputs`` (files or folders, relative to
    ``out``), keyed by its path relative to ``out``."""
    digests = {}
    for name in outputs:
        path = out / name
        files = (
            sorted(p for p in path.rglob("*") if p.is_file())
            if path.is_dir()
            else ([path] if path.is_file() else [])
        )
        for file in files:
            digests[file.relative_to(out).as_posix()] = sha256_file(file)
    return digests


def _hash(value) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _read_record(path: Path) -> dict | None:
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None  # no record, or a damaged one: the stage recomputes
    return record if isinstance(record, dict) else None


def _write_record(path: Path, record: dict) -> None:
    # atomic: the record appears whole or not at all
    write_text(path, json.dumps(record))


class Stages:
    """Bookkeeping: which stages can be resumed or are skipped, their timings and records.

    Parameters
    ----------
    out : Path
        The output folder.
    resume : bool
        Whether finished stages with the same key (parameters and upstream outputs) are loaded
        instead of recomputed.

    Examples
    --------
    >>> import tempfile
    >>> book = Stages(Path(tempfile.mkdtemp()), resume=True)
    >>> book.skip("benchmark", "the data has no ground truth", *BENCHMARK_FILES)
    >>> book.skipped
    {'benchmark': 'the data has no ground truth'}
    """

    def __init__(self, out: Path, resume: bool):
        self.folder = RunFolder(out)
        self.out, self.resume = self.folder.root, resume
        self.timings: dict[str, float] = {}
        self.cpu_timings: dict[str, float] = {}  # process CPU seconds, all threads
        self.resumed: list[str] = []
        self.skipped: dict[str, str] = {}
        self.keys: dict[str, str | None] = {}
        self.computed: dict[str, float | None] = {}
        self._started = self._cpu_started = 0.0
        self._pending: dict | None = None

    def _key(self, record_name: str, params: dict) -> tuple[str, dict]:
        names = UPSTREAM.get(record_name, tuple(self.keys))
        upstream = {name: self.keys.get(name) for name in names}
        return _hash({"stage": record_name, "params": params, "upstream": upstream}), upstream

    def done(
        self, name: str, params: dict | None, *files, params_name: str | None = None, outputs=None
    ) -> bool:
        """Start stage ``name``; True when it can be resumed from its files.

        ``files`` must exist to resume; ``outputs`` (default :data:`OUTPUTS` of the record
        name, else ``files``) are hashed into the record. ``params=None`` keeps no record (the
        report). A stage that is not resumed loses its record here, before it writes anything.
        """
        self._started, self._cpu_started = time.perf_counter(), time.process_time()
        self._pending = None
        if params is None:
            logger.info("%s: running", name)
            return False
        record_name = params_name or name
        path = self.folder.record(record_name)
        outputs = tuple(outputs or OUTPUTS.get(record_name, files))
        key, upstream = self._key(record_name, params)
        self._pending = {
            "name": name,
            "record": record_name,
            "path": path,
            "params": params,
            "key": key,
            "upstream": upstream,
            "outputs": outputs,
        }
        stored = _read_record(path) if self.resume else None
        meta = (stored or {}).get(RESUME_KEY) or {}
        ok = (
            meta.get("key") == key
            and all((self.out / f).exists() for f in files)
            and meta.get("outputs") == output_digest(self.out, outputs)
        )
        if ok:
            self._pending["digest"] = meta["outputs"]
            self.resumed.append(name)
            self.computed[name] = meta.get("seconds")  # how long the run that made it took
            logger.info("%s: resumed from %s", name, self.out)
        else:
            path.unlink(missing_ok=True)
            logger.info("%s: running", name)
        return ok

    def finish(
        self, name: str, params: dict | None = None, *, params_name: str | None = None
    ) -> None:
        """Record the stage (when it was recomputed, after all of its outputs) and its time.

        The record holds the parameters given to :meth:`done`; ``params`` is accepted for
        callers that pass them again.
        """
        pending = self._pending
        self.timings[name] = time.perf_counter() - self._started
        self.cpu_timings[name] = time.process_time() - self._cpu_started
        if pending is not None and pending["name"] == name:
            digest = pending.get("digest")
            if digest is None:  # recomputed: hash what was written, then commit the record
                digest = output_digest(self.out, pending["outputs"])
                _write_record(
                    pending["path"],
                    {
                        **pending["params"],
                        RESUME_KEY: {
                            "key": pending["key"],
                            "upstream": pending["upstream"],
                            "outputs": digest,
                            "seconds": round(self.timings[name], 3),
                        },
                    },
                )
            self.keys[pending["record"]] = _hash({"key": pending["key"], "outputs": digest})
            self._pending = None
        logger.info("%s: %.1f s (CPU %.1f s)", name, self.timings[name], self.cpu_timings[name])

    def timing_table(self) -> dict:
        """Stage -> ``{"seconds", "status", "computed_seconds"}`` for the report: a resumed
        stage's seconds are the loading time, its ``computed_seconds`` those of the run that
        computed it (None when that run did not record them)."""
        table = {}
        for name, seconds in self.timings.items():
            resumed = name in self.resumed
            table[name] = {
                "seconds": round(seconds, 3),
                "status": "resumed (loaded)" if resumed else "computed",
                "computed_seconds": self.computed.get(name) if resumed else round(seconds, 3),
            }
        return table

    def skip(
        self, name: str, reason: str, *files, params_name: str | None = None, listed: bool = True
    ) -> None:
        """Skip stage ``name``, logging why, and remove its outputs from an earlier run (so the
        report never shows results that do not belong to this run). ``listed=False`` keeps it
        out of :attr:`skipped` (a stage that does not apply to this kind of run, such as the
        ARGMINN readout for another architecture)."""
        if listed:
            self.skipped[name] = reason
        self.keys[params_name or name] = None
        logger.info("%s: skipped (%s)", name, reason)
        # The record first: a skip interrupted half-way leaves files without a record.
        for path in (self.folder.record(params_name or name), *(self.out / f for f in files)):
            if path.is_file():
                path.unlink()


def check_quality(metrics) -> list[str]:
    """The quality gate (:func:`cislens.train.quality_warnings`): each task whose test metric
    is near chance is logged as a warning, before any interpretation runs; returns the lines."""
    from cislens.train.quality import quality_warnings

    found = quality_warnings(metrics)
    for line in found:
        logger.warning("quality gate: %s", line)
    return found


def log_epoch(record: dict) -> None:
    """Training callback: one log line per epoch."""
    from cislens.train import format_epoch

    logger.info(format_epoch(record))


__all__ = [
    "BENCHMARK_FILES",
    "GIA_FILES",
    "MOTIF_FILES",
    "MOTIF_METHOD",
    "OUTPUTS",
    "RESUME_KEY",
    "UPSTREAM",
    "Stages",
    "check_quality",
    "log_epoch",
    "output_digest",
]
