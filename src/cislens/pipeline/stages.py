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

import numpy as np
import pandas as pd

from cislens.utils.files import sha256_file, write_table, write_text

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

MOTIF_FILES = ("motifs.h5", "motifs.meme", "modisco.h5", "matches.csv", "filters.csv", "hits.csv")
GIA_FILES = (
    "gia.csv",
    "gia_grammar.csv",
    "gia_grammar_best.csv",
    "gia_position.csv",
    "gia_count.csv",
    "gia_spacing.csv",
)  # the last: older runs' file, removed
BENCHMARK_FILES = (
    "benchmark.csv",
    "benchmark_per_sequence.csv",
    "motif_recovery.csv",
    "instance_recovery.csv",
    "motif_benchmark.json",
)

OUTPUTS = {
    "data": ("data.h5", "sequences.tsv"),
    "model": ("model",),
    "evaluate": ("metrics.csv",),
    "attribute": ("attributions",),
    "motifs": MOTIF_FILES,
    "gia": GIA_FILES,
    "benchmark": BENCHMARK_FILES,
    "argminn": ("argminn",),
    "report": ("report.html",),
}
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
    >>> book.skip("benchmark", "the data has no ground truth", "benchmark.csv")
    >>> book.skipped
    {'benchmark': 'the data has no ground truth'}
    """

    def __init__(self, out: Path, resume: bool):
        self.out, self.resume = Path(out), resume
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
        path = self.out / f"{record_name}.params.json"
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
        for file in (f"{params_name or name}.params.json", *files):
            path = self.out / file
            if path.is_file():
                path.unlink()


def attribute_stage(
    stages,
    params,
    model,
    dataset,
    names,
    rows,
    *,
    motif_method=MOTIF_METHOD,
    batch_size=None,
    device=None,
    verbose=False,
    view=None,
):
    """Attribute ``rows`` (task name -> test rows) with every method in ``names``; ISM gets the
    first ``params["ism_examples"]`` rows. Writes ``attributions/<method>_t<task>.npz`` and
    ``attributions/timings.json``; returns {method: [AttributionSet, ...]}. ``view`` holds
    ``output`` and ``input_layout`` for every method (recorded in each file's params)."""
    from cislens.benchmark.run import attribute_examples
    from cislens.io import load_attributions, save_attributions

    folder = stages.out / "attributions"
    files = [f"attributions/{m}_t{t}.npz" for m in names for t in range(dataset.n_tasks)]
    if stages.done("attribute", params, "attributions/timings.json"):
        sets = {
            m: [
                load_attributions(stages.out / f"attributions/{m}_t{t}.npz")
                for t in range(dataset.n_tasks)
                if (stages.out / f"attributions/{m}_t{t}.npz").exists()
            ]
            for m in names
        }
        stages.finish("attribute")
        return sets
    folder.mkdir(exist_ok=True)
    for stale in [*files, *(p.relative_to(stages.out) for p in folder.glob("*_t*.npz"))]:
        (stages.out / stale).unlink(missing_ok=True)
    # batch_size changes no number (every method is batch-invariant), only memory and speed.
    options = {} if batch_size is None else {"batch_size": int(batch_size)}
    options.update(view or {})
    sets, timings = {}, {}
    for method in names:
        use = rows
        if method == "ism":
            use = {task: r[: params["ism_examples"]] for task, r in rows.items()}
        logger.info("attribute: %s", method)
        sets[method], timings[method] = attribute_examples(
            model,
            dataset,
            method,
            use,
            options=options,
            hypothetical=method == motif_method,
            random_state=params["random_state"],
            device=device,
            verbose=verbose,
        )
        for result in sets[method]:
            save_attributions(folder / f"{method}_t{int(result.target)}.npz", result)
    write_text(folder / "timings.json", json.dumps(timings))
    stages.finish("attribute", params)
    return sets


def motif_stage(
    stages,
    params,
    model,
    dataset,
    sets,
    *,
    motif_method=MOTIF_METHOD,
    annotate_matches=True,
    filters=True,
    device=None,
    verbose=False,
):
    """Discover motifs on ``motif_method``'s hypothetical scores (all tasks pooled), summarise the
    first-layer filters, match both against JASPAR, and call CWM instances."""
    from cislens.motifs import (
        annotate,
        call_instances,
        discover_motifs,
        export_modisco_h5,
        load_motifs,
        save_motifs,
        write_patterns_meme,
    )

    if stages.done("motifs", params, *MOTIF_FILES):
        discovery = load_motifs(stages.out / "motifs.h5")
        matches = pd.read_csv(stages.out / "matches.csv")
        hits = pd.read_csv(stages.out / "hits.csv")
        stages.finish("motifs")
        return discovery, matches, hits
    X, hyp, _ = pooled(sets.get(motif_method, []))
    if X is None:
        raise ValueError(
            f"motif discovery needs {motif_method!r} among the methods, with at "
            "least one explained sequence."
        )
    discovery = discover_motifs(X, hyp, random_state=params["random_state"], verbose=verbose)
    save_motifs(stages.out / "motifs.h5", discovery)
    # The same patterns for MEME-reading tools and for modisco-lite / Fi-NeMo.
    write_patterns_meme(stages.out / "motifs.meme", discovery.patterns, allow_empty=True)
    export_modisco_h5(stages.out / "modisco.h5", discovery, X, hyp)
    table = pd.DataFrame(columns=["filter", "n_sites", "consensus"])
    if filters:
        table = _filter_table(model, dataset, annotate_matches, device)
    write_table(table, stages.out / "filters.csv", index=False)
    if annotate_matches:
        matches = annotate(discovery.patterns, n_matches=3)
    else:
        matches = pd.DataFrame(columns=["pattern", "target_name", "q_value"])
    write_table(matches, stages.out / "matches.csv", index=False)
    if discovery.patterns:
        hits = call_instances(discovery.patterns, X, hyp)
    else:
        from cislens.motifs import HIT_COLUMNS

        hits = pd.DataFrame(columns=list(HIT_COLUMNS))
    write_table(hits, stages.out / "hits.csv", index=False)
    stages.finish("motifs", params)
    return discovery, matches, hits


def _filter_table(model, dataset, annotate_matches, device):
    from cislens.motifs import annotate, filter_motifs

    try:
        found = filter_motifs(model, dataset.X["test"][:2000], device=device)
    except (TypeError, ValueError) as error:
        # A user model without a first Conv1d on the one-hot input has no filter motifs.
        logger.info("motifs: no first-layer filter motifs (%s)", error)
        found = []
    table = pd.DataFrame(
        {
            "filter": [f.name for f in found],
            "n_sites": [int(f.counts[:, 0].sum()) if f.counts is not None else 0 for f in found],
            "consensus": [f.consensus for f in found],
        }
    )
    matches = annotate(found, n_matches=1) if found and annotate_matches else pd.DataFrame()
    if len(matches):
        best = matches.set_index("pattern")
        table["best_match"] = table["filter"].map(best["target_name"])
        table["q_value"] = table["filter"].map(best["q_value"])
        if "note" in best:
            table["note"] = table["filter"].map(best["note"])
    return table


def pooled(results):
    """Concatenate the X, hypothetical scores and example indices of several sets."""
    if not results:
        return None, None, None
    X = np.concatenate([r.X for r in results])
    hyp = np.concatenate([r.hypothetical for r in results])
    index = np.concatenate([np.asarray(r.example_index) for r in results])
    return X, hyp, index


def gia_stage(
    stages, params, model, dataset, discovery, *, config=None, device=None, verbose=False, view=None
):
    """Marginal effect of each of the first four positive patterns (and each motif named in
    ``config.motifs``) on every task, embedded in dinucleotide-shuffled test sequences; then the
    grammar of pattern pairs, position and count experiments (:mod:`cislens.pipeline._gia`).
    ``config`` is a :class:`~cislens.pipeline._gia.GiaConfig` (default: its defaults); ``view``
    holds ``output`` and ``input_layout`` for the model."""
    from cislens.gia import marginalize, null_backgrounds
    from cislens.pipeline._gia import (
        GRAMMAR_FILES,
        N_MARGINAL_BACKGROUNDS,
        GiaConfig,
        run_grammar,
        write_grammar,
    )
    from cislens.pwm import Motif

    config = config or GiaConfig()
    if stages.done("gia", params, "gia.csv", *GRAMMAR_FILES):
        stages.finish("gia")
        return
    (stages.out / "gia_spacing.csv").unlink(missing_ok=True)  # the old spacing sweep's file
    found = [] if discovery is None else discovery.patterns
    patterns = [(p.name, Motif(p.name, trimmed(p))) for p in found if p.metacluster == "pos"][:4]
    patterns += [(name, name) for name in config.motifs]
    rows, seed = [], params["random_state"]
    backgrounds = null_backgrounds(
        "dinucleotide_shuffle",
        dataset.X["test"][:1000],
        n=max(N_MARGINAL_BACKGROUNDS, config.n_backgrounds),
        random_state=seed,
    )
    for name, pattern in patterns:
        result = marginalize(
            model,
            backgrounds[:N_MARGINAL_BACKGROUNDS],
            pattern,
            device=device,
            random_state=seed,
            verbose=verbose,
            **(view or {}),
        )
        frame = result.to_frame()
        frame["target"] = [
            dataset.task_names[int(t)] if str(t).isdigit() else t for t in frame["target"]
        ]
        frame.insert(0, "pattern", name)
        rows.append(frame)
    table = (
        pd.concat(rows, ignore_index=True)
        if rows
        else pd.DataFrame(columns=["pattern", "target", "effect", "ci_low", "ci_high", "p_value"])
    )
    write_table(table, stages.out / "gia.csv", index=False)
    write_grammar(
        stages.out,
        run_grammar(
            model,
            dataset,
            discovery,
            config,
            backgrounds,
            seed=seed,
            device=device,
            verbose=verbose,
            view=view,
        ),
    )
    stages.finish("gia", params)


def trimmed(pattern, fraction: float = 0.3) -> np.ndarray:
    """The pattern's PFM trimmed to the columns with |CWM| >= fraction * max."""
    energy = np.abs(pattern.contrib).sum(0)
    keep = np.flatnonzero(energy >= fraction * energy.max()) if energy.max() > 0 else []
    if len(keep) == 0:
        return pattern.sequence
    return pattern.sequence[:, keep[0] : keep[-1] + 1]


def benchmark_stage(stages, params, dataset, sets, discovery, hits, *, motif_method=MOTIF_METHOD):
    """Score the attributions and (when discovery ran) the motifs against the ground truth."""
    from cislens.benchmark import benchmark_attributions, benchmark_motifs

    files = ("benchmark.csv",) + (("motif_recovery.csv",) if discovery is not None else ())
    if stages.done("benchmark", params, *files):
        stages.finish("benchmark")
        recovery = stages.out / "motif_recovery.csv"
        return (
            pd.read_csv(stages.out / "benchmark.csv"),
            pd.read_csv(recovery) if discovery is not None else None,
        )
    for stale in BENCHMARK_FILES:
        (stages.out / stale).unlink(missing_ok=True)
    truth = dataset.ground_truth
    timings = json.loads((stages.out / "attributions" / "timings.json").read_text())
    flat = [s for results in sets.values() for s in results]
    bench = benchmark_attributions(flat, truth, timings=timings)
    write_table(bench.summary, stages.out / "benchmark.csv", index=False)
    write_table(bench.per_sequence, stages.out / "benchmark_per_sequence.csv", index=False)
    recovery = None
    if discovery is not None:
        _, _, index = pooled(sets.get(motif_method, []))
        motif_bench = benchmark_motifs(discovery.patterns, truth, hits=hits, example_index=index)
        write_table(motif_bench.motifs, stages.out / "motif_recovery.csv", index=False)
        write_table(motif_bench.instances, stages.out / "instance_recovery.csv", index=False)
        write_text(
            stages.out / "motif_benchmark.json",
            json.dumps(
                {"n_spurious": motif_bench.n_spurious, "pattern_truth": motif_bench.pattern_truth}
            ),
        )
        recovery = motif_bench.motifs
    stages.finish("benchmark", params)
    return bench.summary, recovery


def report_stage(stages, *, model, dataset, device=None) -> Path:
    """Write ``report.html`` from everything in the output folder; with ``resume`` it is kept
    when no stage before it changed (its key chains every earlier stage's) and it is intact.
    ``cislens report`` re-renders it in any case."""
    from cislens._version import __version__
    from cislens.report.directory import render_demo_report

    report = stages.out / "report.html"
    if stages.done("report", {"cislens_version": __version__}, "report.html"):
        stages.finish("report")
        return report
    # The report's own line reads "this run" (it is written while the stage runs).
    table = stages.timing_table()
    report = render_demo_report(
        stages.out, timings=table, model=model, dataset=dataset, device=device
    )
    stages.finish("report", {})
    return report


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
    "attribute_stage",
    "benchmark_stage",
    "check_quality",
    "gia_stage",
    "log_epoch",
    "motif_stage",
    "output_digest",
    "pooled",
    "report_stage",
    "trimmed",
]
