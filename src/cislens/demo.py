"""The end-to-end demo on built-in simulated data (``cislens demo``, ``make demo``).

Runs, for real, every stage that cislens has so far, each writing its output under ``out_dir``:

1. ``simulate``: a preset with recorded ground truth -> ``data.h5``;
2. ``train``: LabCNN on the training split, early stopping on the validation split -> ``model/``;
3. ``evaluate``: per-task test metrics -> ``metrics.csv``.

With ``resume=True`` a stage whose output already exists (and whose recorded parameters match)
is loaded instead of recomputed, so an interrupted run picks up where it stopped. Later stages
(attribution, motif discovery, in-silico experiments, benchmark, report) join here as they land.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from cislens._version import __version__

logger = logging.getLogger(__name__)

DEFAULT_PRESET = "lab3"


@dataclass
class DemoResult:
    """What the demo produced: output paths, per-task test metrics and stage timings (s)."""

    out_dir: Path
    dataset_summary: str
    metrics: pd.DataFrame
    timings: dict[str, float] = field(default_factory=dict)
    resumed: list[str] = field(default_factory=list)

    def summary(self) -> str:
        lines = [self.dataset_summary, "", "test metrics (LabCNN):", self.metrics.to_string()]
        stages = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in self.timings.items())
        lines += ["", f"stages: {stages}"]
        if self.resumed:
            lines.append(f"resumed (loaded, not recomputed): {', '.join(self.resumed)}")
        lines.append(f"outputs in {self.out_dir}")
        return "\n".join(lines)


def _stage_params_match(path: Path, params: dict) -> bool:
    if not path.exists():
        return False
    return json.loads(path.read_text()) == params


def run_demo(
    out_dir,
    *,
    preset: str = DEFAULT_PRESET,
    n_sequences: int | None = None,
    epochs: int = 20,
    random_state: int = 0,
    resume: bool = False,
    device=None,
    verbose: bool = False,
) -> DemoResult:
    """Simulate a preset, train LabCNN on it, and evaluate it on the held-out test split.

    Parameters
    ----------
    out_dir : str or Path
        Where the outputs go (created if needed).
    preset : str
        Simulation preset (default "lab3"; see ``cislens simulate --list``).
    n_sequences : int, optional
        Scale the preset down to this many sequences (split proportions kept).
    epochs : int
        Maximum training epochs (early stopping on the validation loss).
    random_state : int
        Seed for the simulation and the training; the same seed gives the same numbers.
    resume : bool
        Reuse the outputs of finished stages with the same parameters.
    device : str, torch.device or None
        Where to train (None: CUDA if available, else CPU).
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
    from cislens.io import load_dataset, save_dataset
    from cislens.models import LabCNN, load_model, save_model
    from cislens.simulate import simulate
    from cislens.train import evaluate, fit

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    resumed: list[str] = []
    params = {"preset": preset, "n_sequences": n_sequences, "random_state": random_state,
              "cislens_version": __version__}

    data_path, data_params = out / "data.h5", out / "data.params.json"
    started = time.perf_counter()
    if resume and data_path.exists() and _stage_params_match(data_params, params):
        dataset = load_dataset(data_path)
        resumed.append("simulate")
    else:
        logger.info("simulate: preset %s", preset)
        dataset = simulate(preset, n=n_sequences, random_state=random_state, verbose=verbose)
        save_dataset(data_path, dataset)
        data_params.write_text(json.dumps(params))
        dataset = load_dataset(data_path)  # train on exactly what is on disk
    timings["simulate"] = time.perf_counter() - started

    model_path, model_params = out / "model", out / "model.params.json"
    train_params = {**params, "model": "labcnn", "epochs": epochs}
    started = time.perf_counter()
    if resume and (model_path / "config.json").exists() and _stage_params_match(
        model_params, train_params
    ):
        model = load_model(model_path)
        resumed.append("train")
    else:
        logger.info("train: LabCNN for up to %d epochs", epochs)
        model = LabCNN(
            n_tasks=dataset.n_tasks, input_length=dataset.length, random_state=random_state
        )
        history = fit(model, dataset, epochs=epochs, random_state=random_state, device=device,
                      verbose=verbose, callback=_log_epoch)
        save_model(model, model_path, task_names=dataset.task_names, training_summary=history)
        model_params.write_text(json.dumps(train_params))
    timings["train"] = time.perf_counter() - started

    started = time.perf_counter()
    metrics = evaluate(model, dataset.X["test"], dataset.Y["test"],
                       task_names=dataset.task_names, device=device)
    metrics.to_csv(out / "metrics.csv")
    timings["evaluate"] = time.perf_counter() - started
    return DemoResult(out, dataset.summary(), metrics, timings, resumed)


def _log_epoch(record: dict) -> None:
    from cislens.train import format_epoch

    logger.info(format_epoch(record))


__all__ = ["DemoResult", "run_demo"]
