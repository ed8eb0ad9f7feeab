"""The stages every run shares once it has a dataset and a model: ``attribute``, ``motifs``,
``gia`` and ``benchmark``, in that order, as an :class:`AnalysisPlan` describes them.

``cislens run`` builds its plan from the run config, ``cislens demo`` from its preset
(:mod:`cislens.pipeline.preset`); :func:`run_analysis` runs either, one call per stage, skipping
(with the reason logged and kept) a stage the plan turns off or that lacks what it needs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from cislens.pipeline.attribution import attribute_stage
from cislens.pipeline.discovery import motif_stage
from cislens.pipeline.gia import gia_stage
from cislens.pipeline.scoring import benchmark_stage
from cislens.pipeline.stages import MOTIF_METHOD
from cislens.run_folder import RunFolder
from cislens.utils.reprs import compact_repr

logger = logging.getLogger(__name__)


@dataclass
class AnalysisPlan:
    """What the shared stages do, and the parameters each records.

    Attributes
    ----------
    methods : list of str
        Attribution methods.
    rows : dict
        Task name -> test rows to explain (:func:`cislens.pipeline.attribution.explained_rows`).
    attribute_params, motif_params, gia_params : dict
        The parameters recorded by the ``attribute``, ``motifs`` (and ``benchmark``) and
        ``gia`` stages.
    motif_method : str or None
        The method whose hypothetical scores feed discovery (None: discovery off).
    annotate, filters : bool
        JASPAR annotation; first-layer filter motifs.
    gia : GiaConfig or None
        The GIA settings (None: the defaults).
    gia_enabled : bool
        Whether GIA runs.
    benchmark : str
        "auto" (when there is ground truth), "true" or "false".
    batch_size : int or None
        Forward-pass rows (no number depends on it).
    view : dict or None
        ``output`` and ``input_layout`` of the model for the attribution and GIA stages.
    """

    __repr__ = compact_repr

    methods: list
    rows: dict
    attribute_params: dict
    motif_params: dict
    gia_params: dict
    motif_method: str | None = MOTIF_METHOD
    annotate: bool = True
    filters: bool = True
    gia: object = None
    gia_enabled: bool = True
    benchmark: str = "auto"
    batch_size: int | None = None
    view: dict | None = None


@dataclass
class AnalysisResult:
    """What :func:`run_analysis` produced (None for a stage that was skipped)."""

    __repr__ = compact_repr

    sets: dict = field(default_factory=dict)
    discovery: object = None
    hits: object = None
    benchmark: object = None
    motif_recovery: object = None


def run_analysis(
    plan: AnalysisPlan, stages, dataset, model, net, *, device=None, verbose=False
) -> AnalysisResult:
    """Run ``attribute``, ``motifs``, ``gia`` and ``benchmark`` as ``plan`` says.

    ``model`` is explained (through ``plan.view``); ``net`` is its predicting view (filter
    motifs). Returns the attribution sets, the discovery result, the instance calls and the
    benchmark tables.
    """
    found = AnalysisResult()
    found.sets = attribute_stage(
        stages,
        plan.attribute_params,
        model,
        dataset,
        plan.methods,
        plan.rows,
        motif_method=plan.motif_method,
        batch_size=plan.batch_size,
        device=device,
        verbose=verbose,
        view=plan.view,
    )
    if plan.motif_method is None:
        stages.skip("motifs", "motifs: false in the config", *RunFolder.MOTIF_FILES)
    else:
        found.discovery, _, found.hits = motif_stage(
            stages,
            plan.motif_params,
            net,
            dataset,
            found.sets,
            motif_method=plan.motif_method,
            annotate_matches=plan.annotate,
            filters=plan.filters,
            device=device,
            verbose=verbose,
        )
    _gia(plan, stages, dataset, model, found.discovery, device, verbose)
    if dataset.ground_truth is None:
        stages.skip("benchmark", "the data has no ground truth", *RunFolder.BENCHMARK_FILES)
    elif plan.benchmark == "false":
        stages.skip("benchmark", "benchmark: false in the config", *RunFolder.BENCHMARK_FILES)
    else:
        found.benchmark, found.motif_recovery = benchmark_stage(
            stages,
            plan.motif_params,
            dataset,
            found.sets,
            found.discovery,
            found.hits,
            motif_method=plan.motif_method,
        )
    return found


def _gia(plan, stages, dataset, model, discovery, device, verbose) -> None:
    """The ``gia`` stage, skipped when turned off or with nothing to embed."""
    named = list(getattr(plan.gia, "motifs", []) or [])
    if not plan.gia_enabled:
        stages.skip("gia", "gia: false in the config", *RunFolder.GIA_FILES)
    elif discovery is None and not named:
        stages.skip(
            "gia",
            "GIA embeds the discovered motifs, and motif discovery did not run "
            "(name JASPAR motifs in gia.motifs to run it without)",
            *RunFolder.GIA_FILES,
        )
    else:
        gia_stage(
            stages,
            plan.gia_params,
            model,
            dataset,
            discovery,
            config=plan.gia,
            device=device,
            verbose=verbose,
            view=plan.view,
        )


__all__ = ["AnalysisPlan", "AnalysisResult", "run_analysis"]
