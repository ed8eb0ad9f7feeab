"""How many edits a window batch of fast ISM holds (:mod:`cislens.attribution.fast_ism`).

A reference batch holds every layer's values of up to ``batch_size`` sequences (at most
:data:`REFERENCE_BYTES`); a window batch takes the edits whose values fit in that memory, capped
on the CPU so that the widest layer's windows stay in the caches (:data:`CACHE_BYTES`). An
edit's windows are a fraction of a row (LabCNN 200 bp: 843 edits for ``batch_size=128``), so
the few dozen small tensor operations a batch costs whatever its size weigh little; batches of
wide windows that spill out of the caches cost 2-3x more per edit.
"""

from __future__ import annotations

import math

import torch

REFERENCE_BYTES = 256 * 2**20
"""About the most memory the batched reference runs hold (all layers' values of a batch)."""


def row_bytes(plan, dtype) -> int:
    """Bytes of every layer's value for one sequence: what a reference run holds per row."""
    return sum(
        math.prod(shape[1:]) * torch.empty((), dtype=dtype).element_size()
        for node in plan.captured.graph.nodes
        if isinstance(shape := node.meta.get("shape"), tuple) and len(shape) > 1
    )


def reference_rows(per_row: int, batch_size: int) -> int:
    """Sequences per reference batch: ``batch_size``, capped by :data:`REFERENCE_BYTES`."""
    return max(1, min(batch_size, REFERENCE_BYTES // max(per_row, 1)))


CACHE_BYTES = 4 * 2**20
"""Edits per window batch on the CPU are capped so that the widest layer's windows of a batch
stay near this size: a batch of wide windows (ChromBPNet's last dilated layers, 1,000+
positions of 64 channels per edit) that spills out of the caches runs 2-3x slower per edit.
BPNet-like (256 kB windows), ms per edit by batch: 4: 0.66, 8: 0.63, 16: 0.62, 32: 0.67,
64: 1.27 on a 2-core EPYC (1 MiB L2 per core, shared L3); 32 already tips over when another
process contends for the L3, so the cap aims at 16."""


def chunk_size(
    window_bytes: int, batch_size: int, device, edit_bytes: int = 0, row_bytes: int = 0
) -> int:
    """Edits per window batch: as many as the memory of a reference batch allows, capped on
    the CPU by :data:`CACHE_BYTES`.

    ``batch_size`` caps the rows of a forward batch. A reference batch of ``batch_size``
    sequences (at most :data:`REFERENCE_BYTES`) holds ``row_bytes`` per sequence, all layers'
    values; an edit's run holds at most ``edit_bytes`` at once (its windows, reductions, head
    and full-length values still to be read: a run frees each value after its last read). A
    window batch gets the edits that fit in the reference batch's memory: never more memory
    than ``batch_size`` forward rows, but many more edits when windows are small (LabCNN:
    ~10x; per-batch fixed costs, a few dozen small tensor operations, then weigh less).
    Without ``edit_bytes`` and ``row_bytes`` (0) a batch holds ``batch_size`` edits.

    Examples
    --------
    >>> chunk_size(400_000, 128, torch.device("cpu")), chunk_size(1_000, 128, "cpu")
    (10, 128)
    >>> chunk_size(1_000, 128, "cpu", edit_bytes=4_000, row_bytes=40_000)  # 10 edits a row
    1280
    """
    edits = batch_size
    if 0 < edit_bytes < row_bytes:
        edits = reference_rows(row_bytes, batch_size) * row_bytes // edit_bytes
    if torch.device(device).type == "cpu" and window_bytes > 0:
        edits = min(edits, CACHE_BYTES // window_bytes)
    return max(1, edits)


__all__ = ["CACHE_BYTES", "REFERENCE_BYTES", "chunk_size", "reference_rows", "row_bytes"]
