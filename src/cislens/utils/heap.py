"""Keep freed memory in the process heap, so repeated large tensors are not page-faulted in.

glibc's ``malloc`` serves blocks above its mmap threshold (128 KiB, raised dynamically up to
32 MiB) with fresh ``mmap`` pages and returns free memory at the top of the heap to the system
above its trim threshold. Work that allocates and frees the same few-MiB tensors thousands of
times (fast ISM: a window batch of every layer for every batch of edits) then spends much of its
time in page faults: filling 2-4 MiB of new pages costs about as much as the copy or convolution
that writes them. Measured on a 2-core machine with one torch thread, per edit: BPNet-like
2.3 -> 1.6 ms, DeepSTARR-like 0.070 -> 0.026 ms, LabCNN 0.012 -> 0.006 ms.

:func:`retain_freed_memory` raises both thresholds (``mallopt``), once per process, so such
blocks come from memory the heap already holds. The cost is that the process keeps up to
``limit`` bytes of freed memory instead of returning it to the system. It does nothing where
glibc's ``mallopt`` is missing (macOS, Windows, musl), and results never depend on it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

logger = logging.getLogger(__name__)

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
RETAIN_BYTES = 64 * 2**20
"""Blocks up to this size come from the heap; up to this much freed memory stays in it."""

_done: list = []


def retain_freed_memory(limit: int = RETAIN_BYTES) -> bool:
    """Raise glibc's mmap and trim thresholds to ``limit`` bytes (once per process).

    Returns True when the thresholds are (or were already) set, False where glibc's
    ``mallopt`` is not available.

    Examples
    --------
    >>> retain_freed_memory() in (True, False)
    True
    """
    if _done:
        return _done[0]
    ok = False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        mallopt = None
    if mallopt is not None:
        ok = bool(mallopt(_M_MMAP_THRESHOLD, int(limit))) and bool(
            mallopt(_M_TRIM_THRESHOLD, int(limit))
        )
        logger.debug("malloc thresholds set to %d bytes: %s", limit, ok)
    _done.append(ok)
    return ok


__all__ = ["RETAIN_BYTES", "retain_freed_memory"]
