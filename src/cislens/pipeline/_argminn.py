"""The ARGMINN readout stage of ``cislens run``: motifs, instances and attention read from the
model itself (:mod:`cislens.argminn`), scored against the ground truth when there is one.

The stage runs only when the run's model is a :class:`cislens.argminn.ARGMINN`. It reads the
first ``max_sequences`` test sequences and writes ``argminn/`` (schemas in ``docs/argminn.md``
and ``docs/formats.md``):

- ``filters.csv``: one row per filter, :data:`cislens.argminn.readout.FILTER_COLUMNS`, then
  ``consensus``, ``best_match``, ``match_id``, ``match_q_value`` (TOMTOM, rank 1) and
  ``simulated_motif`` (the simulated motif the filter recovers);
- ``filters.npz``: ``weights`` (F, 4, W), the mean-centred filter weights, and ``pfms`` (F, 4, W);
- ``motifs.meme``: the passing filters' trimmed PFMs (only when at least one filter passes);
- ``matches.csv``: TOMTOM matches of the passing filters (:data:`cislens.motifs.MATCH_COLUMNS`);
- ``units.csv``: the passing filters grouped into units (:data:`cislens.argminn.units.UNIT_COLUMNS`;
  filters that read one arrangement together are one unit), ``units.meme`` their PFMs (a
  composite unit's read from the input at its joint sites, over every informative column),
  ``unit_matches.csv`` TOMTOM matches of each part of a composite unit;
- ``instances.csv``: :data:`cislens.argminn.instances.INSTANCE_COLUMNS`; ``example`` is the test
  row;
- ``attention.npz``: ``attention`` (n, layers, heads, P), ``example_index`` (n,) test rows (the
  sequences with the most instance calls first), ``filter_width``;
- with ground truth, ``motif_recovery.csv`` (:data:`cislens.benchmark.motifs.MOTIF_COLUMNS`) and
  ``instance_recovery.csv`` (``motif, n_hits, n_true, precision, recall``; the ``<unmatched>``
  row counts the calls of passing filters that match no simulated motif, all false positives);
- ``readout.json``: cislens version, random_state, readout parameters, filter -> simulated motif.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cislens._version import __version__
from cislens.run_folder import ArgminnFiles, RunFolder
from cislens.utils.files import atomic_open, write_table, write_text
from cislens.utils.reprs import compact_repr

logger = logging.getLogger(__name__)

ARGMINN_DIR = RunFolder.ARGMINN
"""The stage's folder inside the run's output folder."""

ARGMINN_FILES = RunFolder.ARGMINN_FILES
"""Every file the stage may write (removed before a rerun and when the stage is skipped)."""

REQUIRED_FILES = RunFolder.ARGMINN_REQUIRED

READOUT_DEFAULTS = {
    "threshold": 0.5,
    "trim_ic": 0.3,
    "min_length": 5,
    "min_mean_ic": 1.0,
    "min_sites": 20,
    "min_influence": 0.1,
    "min_effect": 0.1,
    "attention_threshold": 0.9,
    "activation_threshold": 0.5,
    "null_quantile": 0.9,
}
"""The readout settings (those of :func:`cislens.argminn.argminn_motifs` and
:func:`cislens.argminn.argminn_instances`) the pipeline uses unless told otherwise."""

MATCH_Q = 0.05
"""TOMTOM q-value below which a filter's best match is named in summaries and logo titles."""

UNMATCHED = "<unmatched>"
"""The ``motif`` of instance calls whose filter matches no simulated motif."""


@dataclass
class ArgminnStageResult:
    """What :func:`argminn_stage` produced (also when resumed from the files).

    Attributes
    ----------
    filters : pandas.DataFrame
        ``argminn/filters.csv``.
    instances : pandas.DataFrame
        ``argminn/instances.csv``.
    motif_recovery, instance_recovery : pandas.DataFrame or None
        The recovery tables; None when there was no ground truth to score against.
    units : pandas.DataFrame or None
        ``argminn/units.csv``; None in a folder written before units existed.
    """

    __repr__ = compact_repr

    filters: pd.DataFrame
    instances: pd.DataFrame
    motif_recovery: pd.DataFrame | None = None
    instance_recovery: pd.DataFrame | None = None
    units: pd.DataFrame | None = None

    def summary(self) -> str:
        """One line: passing filters (with the simulated motif they recover, else their TOMTOM
        match at q < 0.05) and the number of instance calls."""
        passing = self.filters[self.filters["passing"].astype(bool)]
        names = [
            row.name
            + (
                f" ({row.simulated_motif})"
                if _text(row.simulated_motif)
                else f" ({row.best_match})"
                if _text(row.best_match) and row.match_q_value < MATCH_Q
                else ""
            )
            for row in passing.itertuples()
        ]
        joined = self.units is not None and len(self.units) < len(passing)
        return (
            f"ARGMINN readout: {len(passing)} of {len(self.filters)} filters pass"
            f"{': ' + ', '.join(names) if names else ''}"
            f"{f' (in {len(self.units)} units)' if joined else ''}; "
            f"{len(self.instances)} instance calls"
        )


def _text(value) -> bool:
    return isinstance(value, str) and value != ""


def is_argminn(model) -> bool:
    """Whether ``model`` is a cislens ARGMINN (the only model the readout applies to)."""
    from cislens.argminn import ARGMINN

    return isinstance(model, ARGMINN)


def skip_argminn_stage(stages, reason: str) -> None:
    """Skip the stage (logged, not listed among the skipped stages: it does not apply) and
    remove ``argminn/`` from an earlier run in the same folder."""
    stages.skip("argminn", reason, *ARGMINN_FILES, listed=False)
    folder = stages.out / ARGMINN_DIR
    if folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()


def _readout_settings(readout) -> dict:
    settings = dict(READOUT_DEFAULTS)
    unknown = sorted(set(readout or {}) - set(settings))
    if unknown:
        raise ValueError(
            f"readout: unknown setting(s) {unknown}; valid settings are "
            f"{sorted(settings)} (defaults {READOUT_DEFAULTS})."
        )
    settings.update(readout or {})
    return settings


def _describe_database(database):
    if database is None or isinstance(database, str):
        return database
    return [getattr(m, "matrix_id", None) or m.name for m in database]


INSTANCE_SETTINGS = ("attention_threshold", "activation_threshold", "null_quantile")
"""The readout settings of the instance calls (the others are the filters')."""


def _read_model(model, X, settings, annotate, random_state, options):
    """The passing filters' motifs and their instance calls on ``X``."""
    from cislens.argminn import argminn_instances, argminn_motifs

    found = argminn_motifs(
        model,
        X,
        **{k: v for k, v in settings.items() if k not in INSTANCE_SETTINGS},
        annotate=annotate,
        **options,
    )
    hits = argminn_instances(
        model,
        X,
        motifs=found,
        **{key: settings[key] for key in INSTANCE_SETTINGS},
        random_state=random_state,
        **options,
    )
    return found, hits


def _write_readout(folder, found, hits, pattern_truth) -> None:
    """filters.csv, filters.npz, matches.csv, motifs.meme (when a filter passes), units.csv,
    units.meme (when a unit exists), unit_matches.csv, instances.csv."""
    write_table(_filter_table(found, pattern_truth), folder / ArgminnFiles.FILTERS, index=False)
    with atomic_open(folder / ArgminnFiles.FILTER_WEIGHTS, "wb") as handle:
        np.savez(handle, weights=found.weights, pfms=found.pfms.astype(np.float32))
    write_table(found.annotation, folder / ArgminnFiles.MATCHES, index=False)
    from cislens.pwm import write_meme

    if found.motifs:
        write_meme(folder / ArgminnFiles.MOTIFS_MEME, found.motifs)
    # units: passing filters that read one arrangement together, reported once (docs/argminn.md)
    write_table(found.units, folder / ArgminnFiles.UNITS, index=False)
    if found.unit_motifs:
        write_meme(folder / ArgminnFiles.UNITS_MEME, found.unit_motifs)
    unit_matches = found.unit_annotation
    if not len(unit_matches.columns):  # none to annotate: still a readable table
        from cislens.motifs import MATCH_COLUMNS

        unit_matches = pd.DataFrame(columns=list(MATCH_COLUMNS))
    write_table(unit_matches, folder / ArgminnFiles.UNIT_MATCHES, index=False)
    write_table(hits, folder / ArgminnFiles.INSTANCES, index=False)


def argminn_stage(
    stages,
    params,
    model,
    dataset,
    *,
    annotate=True,
    benchmark=True,
    database=None,
    readout=None,
    max_sequences=2000,
    n_attention=8,
    batch_size=None,
    device=None,
    verbose=False,
) -> ArgminnStageResult:
    """Read the motifs, instances and attention of an ARGMINN on the test split into
    ``argminn/`` (see the module docstring), resumable like the other stages.

    Parameters
    ----------
    stages : Stages
        The run's bookkeeping (:class:`cislens.pipeline.stages.Stages`).
    params : dict
        The upstream stages' parameters (the model's included); the readout settings are added
        under ``"argminn"`` and the whole is recorded in ``argminn.params.json``.
    model : ARGMINN
        The trained model.
    dataset : cislens.io.Dataset
        Its ``test`` split is read; its ground truth, when present, is scored.
    annotate : bool
        TOMTOM of the passing filters against JASPAR CORE vertebrates (default True).
    benchmark : bool
        Score against the ground truth when the dataset has one (default True).
    database : None, str or list of Motif
        Extra TOMTOM targets for the recovery of the simulated motifs
        (:func:`cislens.benchmark.motifs.benchmark_motifs`; None: JASPAR CORE vertebrates).
    readout : dict, optional
        Overrides of :data:`READOUT_DEFAULTS`.
    max_sequences : int
        Read at most this many test sequences, the first ones (default 2000).
    n_attention : int
        Attention maps kept for this many sequences (default 8).
    batch_size : int, optional
        Forward-pass rows (default 256); no result depends on it.
    device : str, torch.device or None
        None: CUDA if available, else CPU.
    verbose : bool
        Progress bars.

    Returns
    -------
    ArgminnStageResult
    """
    from cislens.argminn import argminn_syntax
    from cislens.utils.arrays import as_numpy

    settings = _readout_settings(readout)
    truth = dataset.ground_truth if benchmark else None
    record = {
        **params,
        "argminn": {
            **settings,
            "annotate": bool(annotate),
            "benchmark": truth is not None,
            "database": _describe_database(database),
            "max_sequences": int(max_sequences),
            "n_attention": int(n_attention),
        },
    }
    folder = stages.out / ARGMINN_DIR
    if stages.done("argminn", record, *REQUIRED_FILES):
        stages.finish("argminn")
        return load_argminn_result(folder)
    for stale in ARGMINN_FILES:
        (stages.out / stale).unlink(missing_ok=True)
    folder.mkdir(exist_ok=True)
    X = as_numpy(dataset.X["test"][:max_sequences])
    options = {"batch_size": int(batch_size or 256), "device": device, "verbose": verbose}
    found, hits = _read_model(model, X, settings, annotate, params.get("random_state", 0), options)
    pattern_truth = {}
    if truth is not None:
        pattern_truth, motif_recovery = _motif_recovery(found.motifs, truth, database)
        instance_recovery = _instance_recovery(hits, truth, pattern_truth, len(X))
        write_table(motif_recovery, folder / ArgminnFiles.MOTIF_RECOVERY, index=False)
        write_table(instance_recovery, folder / ArgminnFiles.INSTANCE_RECOVERY, index=False)
    _write_readout(folder, found, hits, pattern_truth)
    rows = _attention_rows(hits, len(X), n_attention)
    maps = argminn_syntax(model, X[rows], **options)
    with atomic_open(folder / ArgminnFiles.ATTENTION, "wb") as handle:
        np.savez(
            handle,
            attention=maps.numpy(),
            example_index=rows,
            filter_width=np.int64(model.hparams["filter_width"]),
        )
    readout_record = {
        "cislens_version": __version__,
        "random_state": params.get("random_state"),
        "split": "test",
        "n_sequences": len(X),
        "readout": found.params,
        **{key: settings[key] for key in INSTANCE_SETTINGS},
        "pattern_truth": pattern_truth,
    }
    write_text(folder / ArgminnFiles.READOUT, json.dumps(readout_record, indent=2))
    stages.finish("argminn", record)
    result = load_argminn_result(folder)  # exactly what is on disk, as when resumed
    logger.info("argminn: %s", result.summary())
    return result


def load_argminn_result(folder) -> ArgminnStageResult:
    """The :class:`ArgminnStageResult` stored in an ``argminn/`` folder."""

    def table(name):
        path = folder / name
        return pd.read_csv(path) if path.exists() else None

    return ArgminnStageResult(
        table(ArgminnFiles.FILTERS),
        table(ArgminnFiles.INSTANCES),
        table(ArgminnFiles.MOTIF_RECOVERY),
        table(ArgminnFiles.INSTANCE_RECOVERY),
        table(ArgminnFiles.UNITS),
    )


def _filter_table(found, pattern_truth) -> pd.DataFrame:
    table = found.filters.copy()
    best = found.annotation[found.annotation["rank"] == 1]
    best = {str(row.pattern): row for row in best.itertuples()}
    consensus = {m.name: m.consensus for m in found.motifs}
    names = table["name"].astype(str)
    table["consensus"] = [consensus.get(n, "") for n in names]
    table["best_match"] = [str(best[n].target_name) if n in best else "" for n in names]
    table["match_id"] = [str(best[n].target_id) if n in best else "" for n in names]
    table["match_q_value"] = [float(best[n].q_value) if n in best else np.nan for n in names]
    table["simulated_motif"] = [pattern_truth.get(n, "") for n in names]
    return table


def _motif_recovery(motifs, truth, database):
    """(filter name -> simulated motif, recovery table) as :func:`benchmark_motifs` scores them."""
    from cislens.benchmark.motifs import MOTIF_COLUMNS, benchmark_motifs

    if not motifs:  # no passing filter: nothing recovered
        rows = [
            {
                "motif": m,
                "recovered": False,
                "pattern": "",
                "q_value": np.nan,
                "pattern_rank": np.nan,
                "match_rank": np.nan,
            }
            for m in truth.motifs
        ]
        return {}, pd.DataFrame(rows, columns=list(MOTIF_COLUMNS))
    bench = benchmark_motifs(motifs, truth, database=database)
    return dict(bench.pattern_truth), bench.motifs


def _instance_recovery(hits, truth, pattern_truth, n_sequences) -> pd.DataFrame:
    """Precision / recall of the instance calls against the recorded test instances of the
    sequences read; calls of filters that match no simulated motif are labelled
    :data:`UNMATCHED` (false positives), as ``benchmarks/argminn_presets.py`` scores them."""
    from cislens.motifs import instance_recovery

    known = truth.instances
    if "split" in known.columns:
        known = known[known["split"] == "test"]
    known = known[known["sequence"] < n_sequences]
    if "role" in known.columns:
        known = known[known["role"].astype(str) != "background"]
    labelled = pd.DataFrame(
        {
            "sequence": hits["example"].to_numpy(dtype=np.int64),
            "start": hits["start"].to_numpy(dtype=np.int64),
            "end": hits["end"].to_numpy(dtype=np.int64),
            "motif": [pattern_truth.get(p, UNMATCHED) for p in hits["pattern"]],
        }
    )
    return instance_recovery(
        labelled, known[["sequence", "start", "end", "motif"]], motifs=[*truth.motifs, UNMATCHED]
    )


def _attention_rows(hits, n_sequences: int, n_attention: int) -> np.ndarray:
    """Test rows whose attention is kept: most instance calls first (ties: lower row)."""
    counts = np.bincount(hits["example"].to_numpy(dtype=np.int64), minlength=n_sequences)
    order = np.argsort(-counts[:n_sequences], kind="stable")
    return order[: max(int(n_attention), 1)].astype(np.int64)


__all__ = [
    "ARGMINN_DIR",
    "ARGMINN_FILES",
    "READOUT_DEFAULTS",
    "UNMATCHED",
    "ArgminnStageResult",
    "argminn_stage",
    "is_argminn",
    "load_argminn_result",
    "skip_argminn_stage",
]
