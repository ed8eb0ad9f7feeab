"""Where the peak resident memory of ``discover_motifs`` is reached, stage by stage.

Usage::

    python benchmarks/discovery_memory_profile.py --attributions planted_31546_seed0.h5 \
        --out benchmarks/results/discovery_memory_profile_100k.txt

The worker does what ``motifs_vs_modisco.py --worker cislens`` does (load X and hypothetical
from the file as float32 arrays, import the tool, call ``discover_motifs(X, H, random_state=0)``)
and reports the process's resident size at each step. Inside the call a profile hook
(``sys.setprofile``) stops at every call and return of a ``cislens.motifs`` function: it reads
the kernel's high-water mark of the resident size (``VmHWM``), charges it to the stack of
cislens functions that was running since the previous stop, and resets it (``clear_refs``), so
each stretch of work gets its own exact peak - numba kernels and C code that hold the GIL
included, which a sampling thread would miss. At the stop that ends the stretch with the
highest peak, the NumPy arrays of 1 MiB or more held by the local variables of the running
functions are listed (what was alive then; temporaries already freed are not).

The process's ``ru_maxrss`` is what ``discovery_scaling.py`` reports as ``peak_rss_mb``.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np

MIB = 1024.0


def status_mib(field: str) -> float:
    """A ``/proc/self/status`` field (``VmRSS``, ``VmHWM``) in MiB."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / MIB
    return float("nan")


def reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")


def live_arrays(frame, min_mib: float = 1.0) -> list[tuple[str, str, str, str, float]]:
    """(function, name, shape, dtype, MiB) of the large arrays in the locals of the stack."""
    found, seen = [], set()
    while frame is not None:
        for name, value in list(frame.f_locals.items()):
            if isinstance(value, np.ndarray) and value.nbytes >= min_mib * 2**20:
                base = value if value.base is None else value.base
                key = id(base)
                mib = (base.nbytes if isinstance(base, np.ndarray) else value.nbytes) / 2**20
                found.append(
                    (
                        frame.f_code.co_name,
                        name,
                        str(value.shape),
                        str(value.dtype),
                        round(mib, 1),
                        "" if key not in seen else "(same buffer)",
                    )
                )
                seen.add(key)
        frame = frame.f_back
    return found


class StagePeaks:
    """A profile hook charging ``VmHWM`` to the running stack of cislens.motifs functions."""

    def __init__(self, marker: str = "/cislens/motifs/"):
        self.marker = marker
        self.stack: list[str] = []
        self.peaks: dict[str, float] = {}
        self.order: list[str] = []
        self.best = (0.0, "", [])
        self.rises: list[tuple[float, float, str, float]] = []  # (cpu s, new peak, path, RSS)
        self.start = time.process_time()

    def _charge(self, frame) -> None:
        peak = status_mib("VmHWM")
        path = "/".join(self.stack) or "(outside)"
        if path not in self.peaks:
            self.order.append(path)
        self.peaks[path] = max(self.peaks.get(path, 0.0), peak)
        if peak > self.best[0]:
            if peak > self.best[0] + 2.0:  # the peak of the whole call rose here
                now = time.process_time() - self.start
                self.rises.append((now, peak, path, status_mib("VmRSS")))
            self.best = (peak, path, live_arrays(frame))
        reset_peak()

    def __call__(self, frame, event, arg) -> None:
        if event not in ("call", "return"):
            return
        if self.marker not in frame.f_code.co_filename:
            return
        self._charge(frame)
        if event == "call":
            self.stack.append(frame.f_code.co_name)
        elif self.stack:
            self.stack.pop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attributions", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out")
    args = parser.parse_args(argv)
    lines = [
        f"# {' '.join(['python', *sys.argv])}",
        f"# load average {list(np.round(__import__('os').getloadavg(), 2))}",
    ]
    steps = {"start": status_mib("VmRSS")}
    import h5py

    with h5py.File(args.attributions, "r") as handle:
        X = np.asarray(handle["X"][...], dtype=np.float32)
        steps["X loaded"] = status_mib("VmRSS")
        H = np.asarray(handle["hypothetical"][...], dtype=np.float32)
    steps["X and H loaded"] = status_mib("VmRSS")
    steps["peak so far (loading)"] = status_mib("VmHWM")
    import igraph  # noqa: F401
    import leidenalg  # noqa: F401
    import numba
    import sklearn.isotonic  # noqa: F401

    import cislens.motifs.discover  # noqa: F401

    numba.njit(lambda x: x + 1)(1)
    steps["tool imported (the benchmark's base)"] = status_mib("VmRSS")
    steps["peak so far (imports)"] = status_mib("VmHWM")
    from cislens.motifs import discover_motifs

    hook = StagePeaks()
    reset_peak()
    cpu = time.process_time()
    sys.setprofile(hook)
    try:
        result = discover_motifs(X, H, random_state=args.seed)
    finally:
        sys.setprofile(None)
    cpu = time.process_time() - cpu
    hook._charge(sys._getframe())
    steps["after the call"] = status_mib("VmRSS")
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / MIB
    lines.append(f"# X {X.shape} {X.dtype} {X.nbytes / 2**20:.1f} MiB, H the same")
    lines.append(
        f"# {len(result.seqlets)} seqlets, {len(result.patterns)} patterns, {cpu:.1f} CPU s"
    )
    lines.append(f"# ru_maxrss (the benchmark's peak_rss_mb) {maxrss:.1f} MiB")
    lines.append("## resident size at each step (MiB)")
    lines += [f"{value:9.1f}  {name}" for name, value in steps.items()]
    lines.append(
        "## where the peak of the call rose (by > 2 MiB): CPU s, new peak, RSS after, stack"
    )
    lines += [f"{t:8.1f} {v:9.1f} {r:9.1f}  {path}" for t, v, path, r in hook.rises]
    lines.append("## peak (VmHWM) per stack of cislens.motifs functions, highest first (MiB)")
    ranked = sorted(hook.peaks.items(), key=lambda kv: -kv[1])
    lines += [f"{value:9.1f}  {path}" for path, value in ranked[:40]]
    peak, path, arrays = hook.best
    lines.append(
        f"## arrays (>= 1 MiB) in the locals of the stack when the stretch peaking at "
        f"{peak:.1f} MiB ended ({path})"
    )
    lines += [
        f"  {fn}.{name} {shape} {dtype} {mib} MiB {note}"
        for fn, name, shape, dtype, mib, note in arrays
    ]
    lines.append("## JSON")
    lines.append(
        json.dumps(
            {
                "steps": steps,
                "ru_maxrss_mib": maxrss,
                "cpu_seconds": cpu,
                "peaks": dict(ranked),
                "rises": hook.rises,
            }
        )
    )
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
