"""``cislens demo`` as a run config: simulate a preset with ground truth, train LabCNN with the
demo's documented settings, then the stages every run shares (:mod:`cislens.pipeline.analysis`).

:func:`cislens.pipeline.run_pipeline` runs a :class:`DemoConfig` like a ``cislens run``
config; only its first two stages (``simulate`` instead of ``data``, and LabCNN's training)
and the parameters it records are its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from cislens._version import __version__
from cislens.pipeline.analysis import AnalysisPlan
from cislens.pipeline.stages import MOTIF_METHOD, log_epoch
from cislens.run_folder import RunFolder
from cislens.utils.reprs import compact_repr
from cislens.utils.types import Device

DEFAULT_PRESET = "lab3"

DEMO_STAGES = ("simulate", "train", "evaluate", "attribute", "motifs", "gia", "benchmark", "report")
"""The demo's stages, in order (the names in its timings)."""


@dataclass
class DemoConfig:
    """The demo's settings (see :func:`cislens.demo.run_demo` for their meaning).

    Built through :meth:`create`, which refuses an unknown method or preset, or a preset that
    cannot be scaled to ``n_sequences``, before anything is written.

    Examples
    --------
    >>> config = DemoConfig.create(methods="saliency,ism", n_sequences=300, epochs=1)
    >>> config.methods, config.preset
    (['saliency', 'ism'], 'lab3')
    >>> result = run_pipeline(config, out="demo_out")  # doctest: +SKIP
    """

    __repr__ = compact_repr

    methods: list
    preset: str = DEFAULT_PRESET
    n_sequences: int | None = None
    epochs: int = 25
    train_batch_size: int = 100
    n_examples: int = 100
    ism_examples: int = 20
    seed: int = 0
    device: Device = None
    out: object = "demo_out"
    batch_size = None  # the forward passes use each function's default

    @classmethod
    def create(cls, *, methods="all", preset: str = DEFAULT_PRESET, n_sequences=None, **kwargs):
        """Validate the settings (no write) and return the config."""
        from cislens.attribution import resolve_methods
        from cislens.simulate import as_config

        names = resolve_methods(methods)
        sim_config = as_config(preset)
        if n_sequences is not None:
            sim_config.with_n(n_sequences)
        return cls(names, preset, n_sequences, **kwargs)

    def base_params(self) -> dict:
        """The ``simulate`` stage's record (``data.params.json``)."""
        return {
            "preset": self.preset,
            "n_sequences": self.n_sequences,
            "random_state": self.seed,
            "cislens_version": __version__,
        }

    def train_params(self) -> dict:
        """The ``train`` and ``evaluate`` stages' record."""
        return {
            **self.base_params(),
            "model": "labcnn",
            "epochs": self.epochs,
            "train_batch_size": self.train_batch_size,
        }

    def plan(self, dataset, train_params: dict) -> AnalysisPlan:
        """Every method on the first ``n_examples`` test positives per task, discovery on
        DeepLiftShap's hypothetical scores, GIA at its defaults, the benchmark."""
        from cislens.pipeline.attribution import explained_rows

        attr_params = {
            **train_params,
            "methods": self.methods,
            "n_examples": self.n_examples,
            "ism_examples": self.ism_examples,
        }
        motif_params = {**attr_params, "motif_method": MOTIF_METHOD}
        return AnalysisPlan(
            methods=self.methods,
            rows=explained_rows(dataset, list(range(dataset.n_tasks)), self.n_examples),
            attribute_params=attr_params,
            motif_params=motif_params,
            gia_params={**motif_params, "stage": "gia"},
        )


def simulate_stage(config: DemoConfig, stages, *, verbose=False):
    """The ``simulate`` stage: the preset's dataset with its ground truth -> ``data.h5``."""
    from cislens.io import save_dataset
    from cislens.simulate import simulate

    folder: RunFolder = stages.folder
    folder.root.mkdir(parents=True, exist_ok=True)
    params = config.base_params()
    if not stages.done("simulate", params, RunFolder.DATA, params_name="data"):
        dataset = simulate(
            config.preset, n=config.n_sequences, random_state=config.seed, verbose=verbose
        )
        save_dataset(folder / RunFolder.DATA, dataset)
    dataset = folder.dataset()  # always work on exactly what is on disk
    stages.finish("simulate", params, params_name="data")
    return dataset


def labcnn_stage(config: DemoConfig, stages, dataset, *, verbose=False):
    """The demo's ``train`` stage: LabCNN, early stopping on the validation loss; returns the
    model (eval mode) and the stage's parameters."""
    from cislens.models import LabCNN, load_model, save_model
    from cislens.train import fit

    folder: RunFolder = stages.folder
    params = config.train_params()
    if stages.done("train", params, RunFolder.MODEL_CONFIG, params_name="model"):
        model = load_model(folder / RunFolder.MODEL)
    else:
        model = LabCNN(
            n_tasks=dataset.n_tasks, input_length=dataset.length, random_state=config.seed
        )
        # The demo's own documented settings (lab3 at 200 bp learns with them), kept
        # explicit: fit's defaults are those of `cislens train` / `run` (cislens.train.defaults).
        history = fit(
            model,
            dataset,
            epochs=config.epochs,
            batch_size=config.train_batch_size,
            lr=1e-3,
            patience=5,
            random_state=config.seed,
            device=config.device,
            verbose=verbose,
            callback=log_epoch,
        )
        save_model(
            model, folder / RunFolder.MODEL, task_names=dataset.task_names, training_summary=history
        )
    stages.finish("train", params, params_name="model")
    model.eval()
    return model, params


__all__ = ["DEFAULT_PRESET", "DEMO_STAGES", "DemoConfig", "labcnn_stage", "simulate_stage"]
