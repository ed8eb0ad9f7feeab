"""Ground-truth benchmarks on simulated data.

- :func:`benchmark_attributions`: per-sequence auROC / auPRC of attribution maps against the
  planted, rule-relevant motif instances (signed and absolute scores), signal-to-noise, decoys;
- :func:`benchmark_motifs`: recovery of the simulated motifs by discovered patterns (TOMTOM
  q < 0.05), spurious patterns, instance-call precision and recall;
- :func:`resolve_methods`: method names from "all", a comma-separated string or a list.

``cislens benchmark`` (attribute test positives, time and score them) is
:func:`cislens.pipeline.attribution.run_benchmark`.
"""

from cislens.benchmark.attributions import (
    SUMMARY_COLUMNS,
    AttributionBenchmark,
    benchmark_attributions,
    instance_mask,
    position_scores,
    score_sequences,
)
from cislens.benchmark.motifs import MOTIF_COLUMNS, MotifBenchmark, benchmark_motifs
from cislens.benchmark.run import resolve_methods

__all__ = [
    "MOTIF_COLUMNS",
    "SUMMARY_COLUMNS",
    "AttributionBenchmark",
    "MotifBenchmark",
    "benchmark_attributions",
    "benchmark_motifs",
    "instance_mask",
    "position_scores",
    "resolve_methods",
    "score_sequences",
]
