"""The run folder of ``cislens demo`` and ``cislens run``: every file name, written once, and
typed loaders for what the stages wrote.

The stages (:mod:`cislens.pipeline.stages`), the report (:mod:`cislens.report.directory`) and
``cislens report`` read and write a run folder only through :class:`RunFolder`: a file name is
spelled in this module alone. ``folder / RunFolder.METRICS`` is the path of a file;
:meth:`RunFolder.table`, :meth:`RunFolder.attribution_sets`, :meth:`RunFolder.motifs`, ... load
it. The layout (``docs/formats.md``):

=====================================  ============================================================
``data.h5``, ``sequences.tsv``         the dataset (and, for FASTA / BED inputs, row -> name)
``run_config.json``, ``run.params.json``  the validated config; skipped stages and label source
``<stage>.params.json``                each stage's parameters and resume key
``model/``                             the trained (or given) model
``metrics.csv``                        per-task test metrics
``attributions/<method>_t<task>.npz``  one :class:`~cislens.io.AttributionSet` per method and task
``attributions/timings.json``          method -> seconds spent attributing (the benchmark's cost)
``motifs.h5`` ... ``hits.csv``         discovery, filter motifs, JASPAR matches, instance calls
``gia*.csv``                           GIA marginal effects, grammar, position and count
``benchmark*.csv`` ...                 the scores against the ground truth
``argminn/``                           the ARGMINN readout (:class:`ArgminnFiles`)
``report_inputs.npz``                  what the report shows that needs the model (predictions of
                                       the explained rows, the IG path densities), computed by
                                       the pipeline so that the report never runs a model
``stage_timings.json``                 stage -> seconds of the run (folders written before it
                                       kept them in ``timings.json``, still read)
``report.html``                        the report
=====================================  ============================================================
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, cast

import numpy as np
import pandas as pd

from cislens.utils.files import atomic_open, write_table, write_text

logger = logging.getLogger(__name__)


ARGMINN_DIR = "argminn"
"""The ARGMINN stage's folder inside the run folder."""


class ArgminnFiles:
    """File names inside the ARGMINN stage's folder (``argminn/``; ``docs/argminn.md``)."""

    FILTERS = "filters.csv"
    FILTER_WEIGHTS = "filters.npz"
    MOTIFS_MEME = "motifs.meme"
    MATCHES = "matches.csv"
    UNITS = "units.csv"
    UNITS_MEME = "units.meme"
    UNIT_MATCHES = "unit_matches.csv"
    INSTANCES = "instances.csv"
    ATTENTION = "attention.npz"
    MOTIF_RECOVERY = "motif_recovery.csv"
    INSTANCE_RECOVERY = "instance_recovery.csv"
    READOUT = "readout.json"

    ALL = (
        FILTERS,
        FILTER_WEIGHTS,
        MOTIFS_MEME,
        MATCHES,
        UNITS,
        UNITS_MEME,
        UNIT_MATCHES,
        INSTANCES,
        ATTENTION,
        MOTIF_RECOVERY,
        INSTANCE_RECOVERY,
        READOUT,
    )
    """Every file the stage may write."""

    REQUIRED = (FILTERS, FILTER_WEIGHTS, MATCHES, INSTANCES, ATTENTION, READOUT)
    """The files a finished stage always has."""


@dataclass
class ReportInputs:
    """What the report shows that needs the model, computed by the pipeline's report stage.

    Attributes
    ----------
    predictions : dict
        Test row -> (T,) model outputs, for every explained row.
    ig_paths : list of (int, IGPathDensity)
        Per explained task (target index), the integrated-gradients path density.
    ig_inputs : int
        Inputs per task the path densities were computed on (for the caption).
    """

    predictions: dict = field(default_factory=dict)
    ig_paths: list = field(default_factory=list)
    ig_inputs: int = 0


def _optional_table(path: Path, **kwargs) -> pd.DataFrame | None:
    """The table at ``path``; None when it is missing or empty (a stage that found nothing)."""
    return pd.read_csv(path, **kwargs) if path.exists() and path.stat().st_size > 1 else None


class RunFolder:
    """A run's output folder: its file names and typed loaders.

    Parameters
    ----------
    root : str or Path
        The folder (``cislens demo --out`` / the run config's ``out``).

    Examples
    --------
    >>> folder = RunFolder("demo_out")
    >>> (folder / RunFolder.METRICS).as_posix()
    'demo_out/metrics.csv'
    >>> folder.attribution_file("saliency", 1).as_posix()
    'demo_out/attributions/saliency_t1.npz'
    """

    # data
    DATA = "data.h5"
    SEQUENCES = "sequences.tsv"
    RUN_CONFIG = "run_config.json"
    RUN_PARAMS = "run.params.json"
    # model and evaluation
    MODEL = "model"
    MODEL_CONFIG = "model/config.json"
    METRICS = "metrics.csv"
    # attributions
    ATTRIBUTIONS = "attributions"
    ATTRIBUTION_TIMINGS = "attributions/timings.json"
    # motifs
    MOTIFS = "motifs.h5"
    MOTIFS_MEME = "motifs.meme"
    MODISCO = "modisco.h5"
    MATCHES = "matches.csv"
    FILTERS = "filters.csv"
    HITS = "hits.csv"
    HITS_BED = "hits.bed"
    HITS_SUMMARY = "hits_summary.tsv"
    # GIA
    GIA = "gia.csv"
    GIA_GRAMMAR = "gia_grammar.csv"
    GIA_GRAMMAR_BEST = "gia_grammar_best.csv"
    GIA_POSITION = "gia_position.csv"
    GIA_COUNT = "gia_count.csv"
    GIA_SPACING_OLD = "gia_spacing.csv"  # older runs' spacing sweep, removed on a rerun
    # benchmark
    BENCHMARK = "benchmark.csv"
    BENCHMARK_PER_SEQUENCE = "benchmark_per_sequence.csv"
    MOTIF_RECOVERY = "motif_recovery.csv"
    INSTANCE_RECOVERY = "instance_recovery.csv"
    MOTIF_BENCHMARK = "motif_benchmark.json"
    # ARGMINN readout (file names inside: ArgminnFiles)
    ARGMINN = ARGMINN_DIR
    # report
    REPORT = "report.html"
    REPORT_INPUTS = "report_inputs.npz"
    STAGE_TIMINGS = "stage_timings.json"
    OLD_STAGE_TIMINGS = "timings.json"  # the name before stage_timings.json; read, not written

    PARAMS_SUFFIX = ".params.json"

    GRAMMAR_FILES = (GIA_GRAMMAR, GIA_GRAMMAR_BEST, GIA_POSITION, GIA_COUNT)
    MOTIF_FILES = (MOTIFS, MOTIFS_MEME, MODISCO, MATCHES, FILTERS, HITS)
    GIA_FILES = (GIA, *GRAMMAR_FILES, GIA_SPACING_OLD)
    BENCHMARK_FILES = (
        BENCHMARK,
        BENCHMARK_PER_SEQUENCE,
        MOTIF_RECOVERY,
        INSTANCE_RECOVERY,
        MOTIF_BENCHMARK,
    )
    ARGMINN_FILES = tuple(f"{ARGMINN_DIR}/{name}" for name in ArgminnFiles.ALL)
    ARGMINN_REQUIRED = tuple(f"{ARGMINN_DIR}/{name}" for name in ArgminnFiles.REQUIRED)

    OUTPUTS: ClassVar[dict[str, tuple[str, ...]]] = {
        "data": (DATA, SEQUENCES),
        "model": (MODEL,),
        "evaluate": (METRICS,),
        "attribute": (ATTRIBUTIONS,),
        "motifs": MOTIF_FILES,
        "gia": GIA_FILES,
        "benchmark": BENCHMARK_FILES,
        "argminn": (ARGMINN,),
        "report": (REPORT, REPORT_INPUTS),
    }
    """The files and folders each stage writes (by record name), hashed into its record."""

    def __init__(self, root):
        self.root = Path(root)

    def __truediv__(self, name) -> Path:
        return self.root / name

    def __fspath__(self) -> str:
        return str(self.root)

    def __repr__(self) -> str:
        return f"RunFolder({str(self.root)!r})"

    # ---- paths -------------------------------------------------------------------------------

    def exists(self, name: str) -> bool:
        """Whether ``name`` (a file or folder of the run) exists."""
        return (self.root / name).exists()

    def record(self, stage: str) -> Path:
        """The stage's record ``<stage>.params.json`` (parameters and resume key)."""
        return self.root / f"{stage}{self.PARAMS_SUFFIX}"

    def records(self) -> list[Path]:
        """Every stage record in the folder, sorted by name."""
        return sorted(self.root.glob(f"*{self.PARAMS_SUFFIX}"))

    def attribution_file(self, method: str, task: int) -> Path:
        """``attributions/<method>_t<task>.npz``: one method on one task's explained rows."""
        return self.root / self.ATTRIBUTIONS / f"{method}_t{int(task)}.npz"

    def attribution_files(self) -> list[Path]:
        """Every attribution file in the folder."""
        return sorted((self.root / self.ATTRIBUTIONS).glob("*_t*.npz"))

    def argminn_file(self, name: str) -> Path:
        """A file of the ARGMINN readout (``name`` from :class:`ArgminnFiles`)."""
        return self.root / self.ARGMINN / name

    # ---- loaders -----------------------------------------------------------------------------

    def dataset(self):
        """The dataset the run worked on (``data.h5``)."""
        from cislens.io import load_dataset

        return load_dataset(self.root / self.DATA)

    def model(self):
        """The model kept in ``model/``, read as the run read it (its ``model.output`` and
        ``model.input_layout`` in ``run_config.json``); for scripts that explain it further
        (the report never loads it)."""
        from cislens.attribution.heads import explained_model
        from cislens.models import load_model

        model = load_model(self.root / self.MODEL)
        recorded = (self.run_config() or {}).get("model", {})
        output, layout = recorded.get("output"), recorded.get("input_layout") or "NCL"
        if output is None and layout == "NCL":
            return model
        return explained_model(model, output=output, input_layout=layout)

    def read_table(self, name: str, **kwargs) -> pd.DataFrame:
        """A CSV / TSV output that must exist (a resumed stage's)."""
        return pd.read_csv(self.root / name, **kwargs)

    def table(self, name: str, **kwargs) -> pd.DataFrame | None:
        """A CSV / TSV output, or None when it is missing or empty."""
        return _optional_table(self.root / name, **kwargs)

    def read_json(self, name: str):
        """A JSON output that must exist."""
        return json.loads((self.root / name).read_text())

    def attribution_sets(self, methods=None, n_tasks: int | None = None) -> dict:
        """Method -> [AttributionSet, ...] in task order (t2 before t10, the order the motif
        stage pools them in). ``methods`` and ``n_tasks`` given: exactly those files that exist;
        else every file in ``attributions/``."""
        from cislens.io import load_attributions

        if methods is not None and n_tasks is not None:
            return {
                m: [
                    load_attributions(self.attribution_file(m, t))
                    for t in range(n_tasks)
                    if self.attribution_file(m, t).exists()
                ]
                for m in methods
            }
        sets: dict = {}
        for file in self.attribution_files():
            result = load_attributions(file)
            sets.setdefault(result.method, []).append(result)
        return {m: sorted(v, key=lambda s: int(s.target)) for m, v in sets.items()}

    def attribution_timings(self) -> dict[str, float]:
        """Method -> seconds spent attributing (``attributions/timings.json``)."""
        return self.read_json(self.ATTRIBUTION_TIMINGS)

    def motifs(self):
        """The motif discovery result (``motifs.h5``), or None when discovery did not run."""
        if not self.exists(self.MOTIFS):
            return None
        from cislens.motifs import load_motifs

        return load_motifs(self.root / self.MOTIFS)

    def motif_benchmark(self):
        """The :class:`~cislens.benchmark.motifs.MotifBenchmark` of the run, or None."""
        recovery = self.table(self.MOTIF_RECOVERY)
        if recovery is None:
            return None
        from cislens.benchmark.motifs import MotifBenchmark

        extra = self.read_json(self.MOTIF_BENCHMARK)
        instances = self.table(self.INSTANCE_RECOVERY)
        return MotifBenchmark(
            recovery,
            extra["n_spurious"],
            extra["pattern_truth"],
            instances if instances is not None else pd.DataFrame(),
        )

    def params(self) -> dict:
        """Every stage's parameters merged (records in name order), bookkeeping (keys starting
        with ``_``, such as the resume key) left out."""
        params = {}
        for file in self.records():
            record = json.loads(file.read_text())
            params.update({k: v for k, v in record.items() if not k.startswith("_")})
        return params

    def run_config(self) -> dict | None:
        """``run_config.json`` (a ``cislens run`` folder), or None (a demo folder)."""
        return self.read_json(self.RUN_CONFIG) if self.exists(self.RUN_CONFIG) else None

    def is_run(self) -> bool:
        """Whether the folder was written by ``cislens run`` (it has ``run.params.json``)."""
        return self.exists(self.RUN_PARAMS)

    def stage_timings(self) -> dict | None:
        """Stage -> seconds (or the report's timing rows) of the run, or None; folders written
        before ``stage_timings.json`` kept them in ``timings.json``."""
        for name in (self.STAGE_TIMINGS, self.OLD_STAGE_TIMINGS):
            if self.exists(name):
                return self.read_json(name)
        return None

    def report_inputs(self) -> ReportInputs | None:
        """The model-dependent data the report shows (``report_inputs.npz``), or None for a
        folder written before the pipeline stored it."""
        path = self.root / self.REPORT_INPUTS
        if not path.exists():
            return None
        from cislens.attribution.ig_path import IGPathDensity

        with np.load(path, allow_pickle=False) as stored:
            rows = stored["rows"].tolist()
            predictions = dict(zip(rows, stored["predictions"], strict=True))
            targets = stored["ig_targets"].tolist()
            baselines = str(stored["ig_baselines"])
            paths = [
                (int(t), IGPathDensity(stored["ig_alphas"], stored[f"ig_path_{i}"], baselines))
                for i, t in enumerate(targets)
            ]
            return ReportInputs(predictions, paths, int(stored["ig_inputs"]))

    # ---- writers -----------------------------------------------------------------------------

    def write_table(self, name: str, frame: pd.DataFrame, **kwargs) -> Path:
        """Write a table atomically (``index=False`` unless told otherwise)."""
        return write_table(frame, self.root / name, **{"index": False, **kwargs})

    def write_json(self, name: str, value, **kwargs) -> Path:
        """Write JSON atomically."""
        return write_text(self.root / name, json.dumps(value, **kwargs))

    def write_report_inputs(self, inputs: ReportInputs) -> Path:
        """Write ``report_inputs.npz`` atomically (see :meth:`report_inputs`)."""
        rows = np.array(sorted(inputs.predictions), dtype=np.int64)
        values = [np.asarray(inputs.predictions[r], dtype=np.float64) for r in rows.tolist()]
        predictions = np.stack(values) if values else np.zeros((0, 0))
        arrays: dict[str, np.ndarray] = {
            "rows": rows,
            "predictions": predictions,
            "ig_inputs": np.asarray(inputs.ig_inputs, dtype=np.int64),
        }
        arrays["ig_targets"] = np.array([t for t, _ in inputs.ig_paths], dtype=np.int64)
        first = inputs.ig_paths[0][1] if inputs.ig_paths else None
        arrays["ig_alphas"] = first.alphas if first is not None else np.zeros(0)
        arrays["ig_baselines"] = np.array(first.baselines if first is not None else "")
        for i, (_, path) in enumerate(inputs.ig_paths):
            arrays[f"ig_path_{i}"] = path.predictions
        with atomic_open(self.root / self.REPORT_INPUTS, "wb") as handle:
            # Any: numpy's stub matches ** keywords against allow_pickle's bool.
            np.savez(handle, **cast(dict[str, Any], arrays))
        return self.root / self.REPORT_INPUTS


__all__ = ["ARGMINN_DIR", "ArgminnFiles", "ReportInputs", "RunFolder"]
