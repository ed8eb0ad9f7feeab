"""Method names for ``cislens benchmark``, the demo and the pipeline (:func:`resolve_methods`).

The one method parser is :func:`cislens.attribution.resolve_methods` (in the registry); it is
re-exported here because ``cislens.benchmark`` has always offered it. Attributing test positives
and scoring them (``run_benchmark``) lives in :mod:`cislens.pipeline.attribution`.
"""

from __future__ import annotations

from cislens.attribution.registry import resolve_methods

__all__ = ["resolve_methods"]
