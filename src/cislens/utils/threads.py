"""Torch's intra-op thread count: keep it across numba kernels, and choose it for training.

:func:`default_threads` and :func:`using_threads` choose and set the count for ``cislens train``
/ ``run`` (setting ``threads``): on a shared machine, more OpenMP threads than free cores make
training several times slower (two threads on a busy 2-core machine ran 9x slower than one).

numba's OpenMP threading layer and torch share one OpenMP runtime; running a parallel numba
kernel sets that runtime's thread count to numba's own (all cores). A caller that chose
``torch.set_num_threads(1)`` (a benchmark, a Dask worker sharing a node, a test) would silently
run every later torch operation with all cores. Every parallel numba kernel in cislens therefore
runs inside :func:`torch_threads_kept`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

import torch

from cislens.utils.validation import check_positive_int

logger = logging.getLogger(__name__)


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask, else ``os.cpu_count()``)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def free_cores() -> int:
    """Usable cores minus the 1-minute load average (rounded), at least 1.

    Examples
    --------
    >>> 1 <= free_cores() <= usable_cores()
    True
    """
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        load = 0.0
    return max(1, min(usable_cores(), usable_cores() - round(load)))


def default_threads() -> int:
    """The default training thread count: torch's current count, at most the free cores.

    Examples
    --------
    >>> 1 <= default_threads() <= torch.get_num_threads()
    True
    """
    return max(1, min(torch.get_num_threads(), free_cores()))


def check_threads(threads, name: str = "threads") -> int | None:
    """``threads`` as a positive int, or None (choose :func:`default_threads`)."""
    if threads is None:
        return None
    return check_positive_int(
        threads, name, allow_none=True, detail=" (choose from the free cores)"
    )


@contextmanager
def using_threads(threads: int | None) -> Iterator[int]:
    """Run the block with ``threads`` torch threads (None: :func:`default_threads`); restore.

    Logs a note when the count exceeds the free cores (oversubscribed OpenMP threads spin and
    wait on each other).

    Examples
    --------
    >>> before = torch.get_num_threads()
    >>> with using_threads(1) as n:
    ...     inside = torch.get_num_threads()
    >>> n, inside, torch.get_num_threads() == before
    (1, 1, True)
    """
    threads = check_threads(threads)
    chosen = default_threads() if threads is None else threads
    free = free_cores()
    if chosen > free:
        logger.warning(
            "torch uses %d threads but only %d core(s) are free (load average %.1f on %d); "
            "training may run several times slower. Pass threads=%d (--threads %d).",
            chosen,
            free,
            os.getloadavg()[0],
            usable_cores(),
            free,
            free,
        )
    before = torch.get_num_threads()
    torch.set_num_threads(chosen)
    try:
        yield chosen
    finally:
        torch.set_num_threads(before)


@contextmanager
def torch_threads_kept() -> Iterator[None]:
    """Restore ``torch.get_num_threads()`` on exit if the body changed it.

    Examples
    --------
    >>> before = torch.get_num_threads()
    >>> with torch_threads_kept():
    ...     torch.set_num_threads(1)
    >>> torch.get_num_threads() == before
    True
    """
    threads = torch.get_num_threads()
    try:
        yield
    finally:
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)


__all__ = [
    "check_threads",
    "default_threads",
    "free_cores",
    "torch_threads_kept",
    "usable_cores",
    "using_threads",
]
