"""Peak-memory measurement shared by the benchmark scripts (Linux ``/proc``; None elsewhere).

Usage: ``reset_peak_rss()`` then ``base = status_kib("VmRSS")``, run the job, and the job's peak
is ``status_kib("VmHWM") - base`` KiB. Writing 5 to ``/proc/self/clear_refs`` resets the
high-water mark, so one process can measure several jobs in turn.
"""

from __future__ import annotations


def status_kib(field: str) -> int | None:
    """A ``/proc/self/status`` field in KiB (``VmRSS``, ``VmHWM``), or None where unavailable."""
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def reset_peak_rss() -> bool:
    """Reset this process's peak RSS (``VmHWM``) to its current RSS; False where unsupported."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False
