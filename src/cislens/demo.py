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
``gia``        marginal effect of each discovered pattern on every task, the grammar of the top
               three (every orientation x gap 0-20, docs/gia.md), position and count ->
               ``gia.csv``, ``gia_grammar.csv``, ``gia_grammar_best.csv``, ``gia_position.csv``,
               ``gia_count.csv``
``benchmark``  attributions and motifs against the ground truth -> ``benchmark.csv``,
               ``benchmark_per_sequence.csv``, ``motif_recovery.csv``, ``instance_recovery.csv``
``report``     ``report.html`` (one self-contained file)
=============  ==================================================================================

With ``resume=True`` a stage whose record (``<stage>.params.json``) holds the key computed now
(its parameters and the digests of its upstream outputs) and whose files still have the
recorded digests is loaded instead of recomputed (:mod:`cislens.pipeline.stages`). The same
``random_state`` gives the same numbers. The stages after training are the ones
:mod:`cislens.pipeline` runs on a user's own data and model (``cislens run``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from cislens._version import __version__
from cislens.pipeline.attribution import attribute_stage
from cislens.pipeline.discovery import motif_stage
from cislens.pipeline.gia import gia_stage
from cislens.pipeline.report import report_stage
from cislens.pipeline.scoring import benchmark_stage
from cislens.pipeline.stages import MOTIF_METHOD, Stages, check_quality, log_epoch
from cislens.run_folder import RunFolder
from cislens.utils.files import ensure_dir
from cislens.utils.reprs import compact_repr

logger = logging.getLogger(__name__)

DEFAULT_PRESET = "lab3"
STAGES = ("simulate", "train", "evaluate", "attribute", "motifs", "gia", "benchmark", "report")


@dataclass
class DemoResult:
    """What the demo produced: output paths, per-task test metrics, stage timings (s), and the
    benchmark tables."""

    __repr__ = compact_repr

    out_dir: Path
    dataset_summary: str
    metrics: pd.DataFrame
    timings: dict[str, float] = field(default_factory=dict)
    resumed: list[str] = field(default_factory=list)
    benchmark: pd.DataFrame | None = None
    motif_recovery: pd.DataFrame | None = None
    report: Path | None = None
    cpu_timings: dict[str, float] = field(default_factory=dict)  # process CPU s, all threads

    def summary(self) -> str:
        lines = [self.dataset_summary, "", "test metrics (LabCNN):", self.metrics.to_string()]
        if self.benchmark is not None:
            cols = ["method", "auroc", "auprc", "auroc_abs", "seconds_per_sequence"]
            lines += [
                "",
                "attribution benchmark (signed score; per-sequence means):",
                self.benchmark[cols].to_string(index=False, float_format="%.3f"),
            ]
        if self.motif_recovery is not None:
            lines += ["", "simulated motifs:", self.motif_recovery.to_string(index=False)]
        stages = ", ".join(
            f"{name} {seconds:.1f} s"
            + (f" (CPU {self.cpu_timings[name]:.1f} s)" if name in self.cpu_timings else "")
            for name, seconds in self.timings.items()
        )
        lines += ["", f"stages: {stages}"]
        if self.resumed:
            lines.append(f"resumed (loaded, not recomputed): {', '.join(self.resumed)}")
        if self.report is not None:
            lines.append(f"report: {self.report}")
        lines.append(f"outputs in {self.out_dir}")
        return "\n".join(lines)


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
    from cislens.benchmark.run import select_positives
    from cislens.io import save_dataset
    from cislens.models import LabCNN, load_model, save_model
    from cislens.simulate import simulate
    from cislens.simulate.config import as_config
    from cislens.train import evaluate, fit

    # Refusals come before the first write (and before minutes of training): an unknown method
    # or preset, or a preset that cannot be scaled to n_sequences, leaves no folder behind.
    names = resolve_methods(methods)
    sim_config = as_config(preset)
    if n_sequences is not None:
        sim_config.with_n(n_sequences)
    out = Path(out_dir)
    ensure_dir(out)
    stages = Stages(out, resume)
    params = {
        "preset": preset,
        "n_sequences": n_sequences,
        "random_state": random_state,
        "cislens_version": __version__,
    }

    folder = stages.folder
    if not stages.done("simulate", params, RunFolder.DATA, params_name="data"):
        dataset = simulate(preset, n=n_sequences, random_state=random_state, verbose=verbose)
        save_dataset(folder / RunFolder.DATA, dataset)
    dataset = folder.dataset()  # always work on exactly what is on disk
    stages.finish("simulate", params, params_name="data")

    train_params = {
        **params,
        "model": "labcnn",
        "epochs": epochs,
        "train_batch_size": train_batch_size,
    }
    if stages.done("train", train_params, RunFolder.MODEL_CONFIG, params_name="model"):
        model = load_model(folder / RunFolder.MODEL)
    else:
        model = LabCNN(
            n_tasks=dataset.n_tasks, input_length=dataset.length, random_state=random_state
        )
        # The demo's own documented settings (lab3 at 200 bp learns with them), kept
        # explicit: fit's defaults are those of `cislens train` / `run` (cislens.train.defaults).
        history = fit(
            model,
            dataset,
            epochs=epochs,
            batch_size=train_batch_size,
            lr=1e-3,
            patience=5,
            random_state=random_state,
            device=device,
            verbose=verbose,
            callback=log_epoch,
        )
        save_model(
            model, folder / RunFolder.MODEL, task_names=dataset.task_names, training_summary=history
        )
    stages.finish("train", train_params, params_name="model")
    model.eval()

    if stages.done("evaluate", train_params, RunFolder.METRICS):
        metrics = folder.read_table(RunFolder.METRICS)
    else:
        metrics = evaluate(
            model,
            dataset.X["test"],
            dataset.Y["test"],
            task_names=dataset.task_names,
            device=device,
        )
        folder.write_table(RunFolder.METRICS, metrics)
    stages.finish("evaluate", train_params)
    check_quality(metrics)

    attr_params = {
        **train_params,
        "methods": names,
        "n_examples": n_examples,
        "ism_examples": ism_examples,
    }
    rows = select_positives(dataset, n_examples=n_examples)
    sets = attribute_stage(
        stages, attr_params, model, dataset, names, rows, device=device, verbose=verbose
    )

    motif_params = {**attr_params, "motif_method": MOTIF_METHOD}
    discovery, _, hits = motif_stage(
        stages, motif_params, model, dataset, sets, device=device, verbose=verbose
    )
    gia_stage(
        stages,
        {**motif_params, "stage": "gia"},
        model,
        dataset,
        discovery,
        device=device,
        verbose=verbose,
    )
    bench, recovery = benchmark_stage(stages, motif_params, dataset, sets, discovery, hits)
    report = report_stage(stages, model=model, dataset=dataset, device=device)
    return DemoResult(
        out,
        dataset.summary(),
        metrics,
        stages.timings,
        stages.resumed,
        bench,
        recovery,
        report,
        cpu_timings=stages.cpu_timings,
    )


__all__ = ["STAGES", "DemoResult", "run_demo"]
