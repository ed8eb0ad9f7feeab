"""Keep torch's intra-op thread count across numba ``parallel=True`` kernels.

numba's OpenMP threading layer and torch share one OpenMP runtime; running a parallel numba
kernel sets that runtime's thread count to numba's own (all cores). A caller that chose
``torch.set_num_threads(1)`` (a benchmark, a Dask worker sharing a node, a test) would silently
run every later torch operation with all cores. Every parallel numba kernel in cislens therefore
runs inside :func:`torch_threads_kept`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


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


__all__ = ["torch_threads_kept"]
