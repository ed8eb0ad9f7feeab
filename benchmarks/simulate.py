"""Time ``cislens.simulate`` on one CPU core (target: the full 25,000 x 200 bp ``lab3`` < 60 s).

Usage::

    python benchmarks/simulate.py                 # lab3 at full size
    python benchmarks/simulate.py lab3 celltypes5 # any presets, full size
    python benchmarks/simulate.py --all -n 5000   # every preset, scaled to 5,000 sequences

The first call of a session also loads (or, on a fresh install, compiles) the numba kernels;
both the first and a second, warm run are printed.
"""

from __future__ import annotations

import argparse
import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import time  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("presets", nargs="*", default=["lab3"])
    parser.add_argument("--all", action="store_true", help="Every shipped preset.")
    parser.add_argument("-n", type=int, default=None, help="Scale each preset to n sequences.")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core

    from cislens.simulate import preset_names, simulate

    names = preset_names() if args.all else args.presets
    header = ("preset", "sequences", "length", "instances", "first s", "warm s")
    print("{:<12} {:>9} {:>6} {:>9} {:>8} {:>7}".format(*header))
    for name in names:
        times = []
        for _ in range(2):
            started = time.perf_counter()
            dataset = simulate(name, n=args.n, random_state=args.seed)
            times.append(time.perf_counter() - started)
        n = sum(len(x) for x in dataset.X.values())
        instances = len(dataset.ground_truth.instances)
        row = (name, n, dataset.length, instances, times[0], times[1])
        print("{:<12} {:>9} {:>6} {:>9} {:>8.2f} {:>7.2f}".format(*row))


if __name__ == "__main__":
    main()
