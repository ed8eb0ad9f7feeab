"""The end-to-end demo on built-in simulated data (``cislens demo``, ``make demo``).

Every stage runs for real and writes its output under ``out_dir``:

=============  ==================================================================================
``simulate``   a preset with recorded ground truth -> ``data.h5``
``train``      LabCNN, early stopping on the validation split -> ``model/``
``evaluate``   per-task test metrics -> ``metrics.csv``
``attribute``  every registered method on ``n_examples`` test positives per task (ISM on
               ``ism_examples``) -> ``attributions/<method>_t<task>.npz``, ``timings.json``
``motifs``     discovery on the DeepLiftShap hypothetical scores (all tasks pooled), first-layer
               filter motifs, TOMTOM against JASPAR, CWM instance calls -> ``motifs.h5``,
               ``matches.csv``, ``filters.csv``, ``hits.csv``
``gia``        marginal effect of each discovered pattern on every task, and the spacing of the
               top two -> ``gia.csv``, ``gia_spacing.csv``
``benchmark``  attributions and motifs against the ground truth -> ``benchmark.csv``,
               ``benchmark_per_sequence.csv``, ``motif_recovery.csv``, ``instance_recovery.csv``
``report``     ``report.html`` (one self-contained file)
=============  ==================================================================================

With ``resume=True`` a stage whose outputs exist and whose recorded parameters
(``<stage>.params.json``, which include the upstream stages' parameters) match is loaded instead
of recomputed. The same ``random_state`` gives the same numbers.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from cislens._version import __version__

logger = logging.getLogger(__name__)

DEFAULT_PRESET = "lab3"
STAGES = ("simulate", "train", "evaluate", "attribute", "motifs", "gia", "benchmark", "report")
MOTIF_METHOD = "deeplift_shap"


@dataclass
class DemoResult:
    """What the demo produced: output paths, per-task test metrics, stage timings (s), and the
    benchmark tables."""

    out_dir: Path
    dataset_summary: str
    metrics: pd.DataFrame
    timings: dict[str, float] = field(default_factory=dict)
    resumed: list[str] = field(default_factory=list)
    benchmark: pd.DataFrame | None = None
    motif_recovery: pd.DataFrame | None = None
    report: Path | None = None

    def summary(self) -> str:
        lines = [self.dataset_summary, "", "test metrics (LabCNN):", self.metrics.to_string()]
        if self.benchmark is not None:
            cols = ["method", "auroc", "auprc", "auroc_abs", "seconds_per_sequence"]
            lines += ["", "attribution benchmark (signed score; per-sequence means):",
                      self.benchmark[cols].to_string(index=False, float_format="%.3f")]
        if self.motif_recovery is not None:
            lines += ["", "simulated motifs:", self.motif_recovery.to_string(index=False)]
        stages = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in self.timings.items())
        lines += ["", f"stages: {stages}"]
        if self.resumed:
            lines.append(f"resumed (loaded, not recomputed): {', '.join(self.resumed)}")
        if self.report is not None:
            lines.append(f"report: {self.report}")
        lines.append(f"outputs in {self.out_dir}")
        return "\n".join(lines)


def _stage_params_match(path: Path, params: dict) -> bool:
    if not path.exists():
        return False
    return json.loads(path.read_text()) == params


class _Stages:
    """Bookkeeping: which stages can be resumed, their timings and parameter files."""

    def __init__(self, out: Path, resume: bool):
        self.out, self.resume = out, resume
        self.timings: dict[str, float] = {}
        self.resumed: list[str] = []
        self._started = 0.0

    def done(self, name: str, params: dict, *files, params_name: str | None = None) -> bool:
        self._started = time.perf_counter()
        record = self.out / f"{params_name or name}.params.json"
        ok = (self.resume and all((self.out / f).exists() for f in files)
              and _stage_params_match(record, params))
        if ok:
            self.resumed.append(name)
            logger.info("%s: resumed from %s", name, self.out)
        else:
            logger.info("%s: running", name)
        return ok

    def finish(self, name: str, params: dict | None = None, *,
               params_name: str | None = None) -> None:
        if params is not None:
            record = self.out / f"{params_name or name}.params.json"
            record.write_text(json.dumps(params))
        self.timings[name] = time.perf_counter() - self._started
        logger.info("%s: %.1f s", name, self.timings[name])


def run_demo(
    out_dir,
    *,
    preset: str = DEFAULT_PRESET,
    n_sequences: int | None = None,
    epochs: int = 25,
    train_batch_size: int = 100,
    n_examples: int = 100,
    ism_examples: int = 20,
    methods="all",
    random_state: int = 0,
    resume: bool = False,
    device=None,
    verbose: bool = False,
) -> DemoResult:
    """Simulate, train, attribute, discover motifs, run GIA, benchmark, and write a report.

    Parameters
    ----------
    out_dir : str or Path
        Where the outputs go (created if needed).
    preset : str
        Simulation preset (default "lab3"; see ``cislens simulate --list``).
    n_sequences : int, optional
        Scale the preset down to this many sequences (split proportions kept).
    epochs : int
        Maximum training epochs (early stopping on the validation loss, patience 5; default 25).
    train_batch_size : int
        Training rows per optimiser step (default 100).
    n_examples : int
        Test positives per task explained by each attribution method (default 100).
    ism_examples : int
        Of those, how many ISM explains (default 20; ISM costs 3 L forward passes each).
    methods : "all" or list of str
        Attribution methods (default every registered one).
    random_state : int
        Seed for every stage; the same seed gives the same numbers.
    resume : bool
        Reuse the outputs of finished stages with the same parameters.
    device : str, torch.device or None
        Where to compute (None: CUDA if available, else CPU).
    verbose : bool
        Progress bars and per-stage log lines.

    Returns
    -------
    DemoResult

    Examples
    --------
    >>> import tempfile
    >>> result = run_demo(tempfile.mkdtemp(), n_sequences=300, epochs=1)  # doctest: +SKIP
    """
    from cislens.benchmark import resolve_methods
    from cislens.io import load_dataset, save_dataset
    from cislens.models import LabCNN, load_model, save_model
    from cislens.simulate import simulate
    from cislens.train import evaluate, fit

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stages = _Stages(out, resume)
    params = {"preset": preset, "n_sequences": n_sequences, "random_state": random_state,
              "cislens_version": __version__}

    if not stages.done("simulate", params, "data.h5", params_name="data"):
        dataset = simulate(preset, n=n_sequences, random_state=random_state, verbose=verbose)
        save_dataset(out / "data.h5", dataset)
    dataset = load_dataset(out / "data.h5")  # always work on exactly what is on disk
    stages.finish("simulate", params, params_name="data")

    train_params = {**params, "model": "labcnn", "epochs": epochs,
                    "train_batch_size": train_batch_size}
    if stages.done("train", train_params, "model/config.json", params_name="model"):
        model = load_model(out / "model")
    else:
        model = LabCNN(n_tasks=dataset.n_tasks, input_length=dataset.length,
                       random_state=random_state)
        history = fit(model, dataset, epochs=epochs, batch_size=train_batch_size,
                      random_state=random_state, device=device,
                      verbose=verbose, callback=_log_epoch)
        save_model(model, out / "model", task_names=dataset.task_names,
                   training_summary=history)
    stages.finish("train", train_params, params_name="model")
    model.eval()

    if stages.done("evaluate", train_params, "metrics.csv"):
        metrics = pd.read_csv(out / "metrics.csv")
    else:
        metrics = evaluate(model, dataset.X["test"], dataset.Y["test"],
                           task_names=dataset.task_names, device=device)
        metrics.to_csv(out / "metrics.csv", index=False)
    stages.finish("evaluate", train_params)

    names = resolve_methods(methods)
    attr_params = {**train_params, "methods": names, "n_examples": n_examples,
                   "ism_examples": ism_examples}
    sets = _attribute_stage(stages, attr_params, model, dataset, names, device, verbose)

    motif_params = {**attr_params, "motif_method": MOTIF_METHOD}
    discovery, matches, hits = _motif_stage(stages, motif_params, model, dataset, sets,
                                            device, verbose)
    _gia_stage(stages, {**motif_params, "stage": "gia"}, model, dataset, discovery, device,
               verbose)
    bench, recovery = _benchmark_stage(stages, motif_params, dataset, sets, discovery, matches,
                                       hits)

    from cislens.report.directory import render_demo_report

    stages.done("report", {})
    report = render_demo_report(out, timings=dict(stages.timings), model=model,
                                dataset=dataset, device=device)
    stages.finish("report")
    return DemoResult(out, dataset.summary(), metrics, stages.timings, stages.resumed,
                      bench, recovery, report)


def _attribute_stage(stages, params, model, dataset, names, device, verbose):
    from cislens.benchmark.run import attribute_examples, select_positives
    from cislens.io import load_attributions, save_attributions

    folder = stages.out / "attributions"
    files = [f"attributions/{m}_t{t}.npz" for m in names for t in range(dataset.n_tasks)]
    rows = select_positives(dataset, n_examples=params["n_examples"])
    if stages.done("attribute", params, "attributions/timings.json"):
        sets = {m: [load_attributions(stages.out / f"attributions/{m}_t{t}.npz")
                    for t in range(dataset.n_tasks)
                    if (stages.out / f"attributions/{m}_t{t}.npz").exists()] for m in names}
        stages.finish("attribute")
        return sets
    folder.mkdir(exist_ok=True)
    for stale in files:
        (stages.out / stale).unlink(missing_ok=True)
    sets, timings = {}, {}
    for method in names:
        use = rows
        if method == "ism":
            use = {task: r[: params["ism_examples"]] for task, r in rows.items()}
        logger.info("attribute: %s", method)
        sets[method], timings[method] = attribute_examples(
            model, dataset, method, use, hypothetical=method == MOTIF_METHOD,
            random_state=params["random_state"], device=device, verbose=verbose)
        for result in sets[method]:
            save_attributions(folder / f"{method}_t{int(result.target)}.npz", result)
    (folder / "timings.json").write_text(json.dumps(timings))
    stages.finish("attribute", params)
    return sets


def _motif_stage(stages, params, model, dataset, sets, device, verbose):
    from cislens.motifs import (
        annotate,
        call_instances,
        discover_motifs,
        filter_motifs,
        load_motifs,
        save_motifs,
    )

    files = ("motifs.h5", "matches.csv", "filters.csv", "hits.csv")
    if stages.done("motifs", params, *files):
        discovery = load_motifs(stages.out / "motifs.h5")
        matches = pd.read_csv(stages.out / "matches.csv")
        hits = pd.read_csv(stages.out / "hits.csv")
        stages.finish("motifs")
        return discovery, matches, hits
    X, hyp, _ = _pooled(sets.get(MOTIF_METHOD, []))
    if X is None:
        raise ValueError(f"motif discovery needs {MOTIF_METHOD!r} among the methods.")
    discovery = discover_motifs(X, hyp, random_state=params["random_state"], verbose=verbose)
    save_motifs(stages.out / "motifs.h5", discovery)
    filters = filter_motifs(model, dataset.X["test"][:2000], device=device)
    filter_matches = annotate(filters, n_matches=1) if filters else pd.DataFrame()
    table = pd.DataFrame({
        "filter": [f.name for f in filters],
        "n_sites": [int(f.counts[:, 0].sum()) if f.counts is not None else 0 for f in filters],
        "consensus": [f.consensus for f in filters],
    })
    if len(filter_matches):
        best = filter_matches.set_index("pattern")
        table["best_match"] = table["filter"].map(best["target_name"])
        table["q_value"] = table["filter"].map(best["q_value"])
    table.to_csv(stages.out / "filters.csv", index=False)
    matches = annotate(discovery.patterns, n_matches=3)
    matches.to_csv(stages.out / "matches.csv", index=False)
    if discovery.patterns:
        hits = call_instances(discovery.patterns, X, hyp)
    else:
        from cislens.motifs import HIT_COLUMNS

        hits = pd.DataFrame(columns=list(HIT_COLUMNS))
    hits.to_csv(stages.out / "hits.csv", index=False)
    stages.finish("motifs", params)
    return discovery, matches, hits


def _pooled(results):
    """Concatenate the X, hypothetical scores and example indices of several sets."""
    if not results:
        return None, None, None
    X = np.concatenate([r.X for r in results])
    hyp = np.concatenate([r.hypothetical for r in results])
    index = np.concatenate([np.asarray(r.example_index) for r in results])
    return X, hyp, index


def _gia_stage(stages, params, model, dataset, discovery, device, verbose):
    from cislens.gia import marginalize, null_backgrounds, spacing
    from cislens.pwm import Motif

    if stages.done("gia", params, "gia.csv"):
        stages.finish("gia")
        return
    patterns = [p for p in discovery.patterns if p.metacluster == "pos"][:4]
    rows, seed = [], params["random_state"]
    if patterns:
        backgrounds = null_backgrounds("dinucleotide_shuffle", dataset.X["test"][:1000], n=200,
                                       random_state=seed)
        for pattern in patterns:
            motif = Motif(pattern.name, _trimmed(pattern))
            result = marginalize(model, backgrounds, motif, device=device, random_state=seed,
                                 verbose=verbose)
            frame = result.to_frame()
            frame["target"] = [dataset.task_names[int(t)] if str(t).isdigit() else t
                               for t in frame["target"]]
            frame.insert(0, "pattern", pattern.name)
            rows.append(frame)
    table = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(
        columns=["pattern", "target", "effect", "ci_low", "ci_high", "p_value"])
    table.to_csv(stages.out / "gia.csv", index=False)
    spacing_file = stages.out / "gia_spacing.csv"
    spacing_file.unlink(missing_ok=True)
    if len(patterns) >= 2:
        a, b = (Motif(p.name, _trimmed(p)) for p in patterns[:2])
        room = dataset.length - a.width - b.width
        gaps = [g for g in (0, 2, 5, 10, 20, 40) if g <= room]
        if gaps:
            frame = spacing(model, backgrounds, a, b, gaps, device=device, random_state=seed,
                            verbose=verbose)
            frame.to_csv(spacing_file, index=False)
    stages.finish("gia", params)


def _trimmed(pattern, fraction: float = 0.3) -> np.ndarray:
    """The pattern's PFM trimmed to the columns with |CWM| >= fraction * max."""
    energy = np.abs(pattern.contrib).sum(0)
    keep = np.flatnonzero(energy >= fraction * energy.max()) if energy.max() > 0 else []
    if len(keep) == 0:
        return pattern.sequence
    return pattern.sequence[:, keep[0]: keep[-1] + 1]


def _benchmark_stage(stages, params, dataset, sets, discovery, matches, hits):
    from cislens.benchmark import benchmark_attributions, benchmark_motifs

    files = ("benchmark.csv", "motif_recovery.csv", "instance_recovery.csv")
    if stages.done("benchmark", params, *files):
        stages.finish("benchmark")
        return (pd.read_csv(stages.out / "benchmark.csv"),
                pd.read_csv(stages.out / "motif_recovery.csv"))
    truth = dataset.ground_truth
    timings = json.loads((stages.out / "attributions" / "timings.json").read_text())
    flat = [s for results in sets.values() for s in results]
    bench = benchmark_attributions(flat, truth, timings=timings)
    bench.summary.to_csv(stages.out / "benchmark.csv", index=False)
    bench.per_sequence.to_csv(stages.out / "benchmark_per_sequence.csv", index=False)
    _, _, index = _pooled(sets.get(MOTIF_METHOD, []))
    motif_bench = benchmark_motifs(discovery.patterns, truth, hits=hits, example_index=index)
    motif_bench.motifs.to_csv(stages.out / "motif_recovery.csv", index=False)
    motif_bench.instances.to_csv(stages.out / "instance_recovery.csv", index=False)
    (stages.out / "motif_benchmark.json").write_text(json.dumps({
        "n_spurious": motif_bench.n_spurious, "pattern_truth": motif_bench.pattern_truth}))
    stages.finish("benchmark", params)
    return bench.summary, motif_bench.motifs


def _log_epoch(record: dict) -> None:
    from cislens.train import format_epoch

    logger.info(format_epoch(record))


__all__ = ["STAGES", "DemoResult", "run_demo"]
