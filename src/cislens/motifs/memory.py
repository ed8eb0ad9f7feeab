"""Giving freed memory back to the operating system between the stages of discovery.

NumPy frees an array's memory at once, but the C allocator (glibc's malloc) keeps freed
blocks smaller than its mmap threshold in its heap, and that threshold rises to the size of the
largest block freed so far (up to 32 MiB): after the first stage of
:func:`cislens.motifs.discover_motifs` every array of up to 32 MiB comes from the heap, and
the heap keeps what they held as resident memory. At 100,000 seqlets the seqlet-calling stage
left 115 MiB resident but free, 68 MiB of which ``malloc_trim(0)`` returns. Discovery calls
:func:`release_free_memory` after its large stages so the next one starts from the memory it
actually holds. Results do not change.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools


@functools.cache
def _trim():
    """glibc's ``malloc_trim``, or None where the C library has none (macOS, musl)."""
    name = ctypes.util.find_library("c")
    try:
        function = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError, TypeError):
        return None
    function.argtypes = [ctypes.c_size_t]
    function.restype = ctypes.c_int
    return function


def release_free_memory() -> bool:
    """Return the C heap's free pages to the operating system; False where unsupported.

    Examples
    --------
    >>> release_free_memory() in (True, False)
    True
    """
    trim = _trim()
    if trim is None:
        return False
    trim(0)
    return True


__all__ = ["release_free_memory"]
