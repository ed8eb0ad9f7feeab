"""Compile the numba kernels once, at set-up, so that no user run pays for it.

cislens and memelite (TOMTOM, FIMO) run numba kernels compiled on their first call and cached
on disk (``cache=True``: the machine code is written under each package's ``__pycache__``, or
under ``NUMBA_CACHE_DIR`` when that is set) and loaded by later processes. On a fresh install
the first call compiles them: about two CPU minutes for TOMTOM alone, which the first
``cislens demo`` used to spend in its motifs stage. :func:`warm_up` runs every kernel once on a
small simulated problem, through the same public functions and with the same argument types as
a real run (float32 one-hot and scores, the bundled JASPAR motifs), so that the caches exist
before the first real run. ``make install`` (and so ``make demo`` and ``make test``) runs it
right after installing the package: ``python -m cislens.warmup``.

Running it again is cheap (the kernels load from the caches in seconds). A cache that cannot
be written (a read-only install) only costs the compilation again in each new process; set
``NUMBA_CACHE_DIR`` to a writable folder then.
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Callable

import numpy as np

logger = logging.getLogger(__name__)


def _data(n: int, random_state: int):
    """A small simulated dataset and 'ideal' hypothetical scores: the one-hot bases inside the
    planted instances (the motifs are then found, so every later step runs on real patterns)."""
    from cislens.benchmark.attributions import instance_mask
    from cislens.simulate import simulate

    dataset = simulate("lab3", n=n, random_state=random_state)
    X = np.ascontiguousarray(dataset.X["train"], dtype=np.float32)
    truth = dataset.ground_truth.instances
    truth = truth[truth["split"] == "train"]
    mask = instance_mask(truth, np.arange(len(X)), X.shape[-1])
    rng = np.random.default_rng(random_state)
    noise = rng.normal(0.0, 0.02, X.shape).astype(np.float32)
    hyp = (X * mask[:, None, :] + noise).astype(np.float32)
    return X, hyp


def _steps(n: int, random_state: int) -> list[tuple[str, Callable[[], object]]]:
    from cislens.motifs import annotate, call_instances, discover_motifs
    from cislens.shuffle import dinucleotide_shuffle

    state: dict = {}

    def data():
        state["X"], state["hyp"] = _data(n, random_state)

    def shuffles():
        dinucleotide_shuffle(state["X"][:4], n=2, random_state=random_state)

    def discovery():
        state["found"] = discover_motifs(state["X"], state["hyp"], random_state=random_state)

    def tomtom():
        patterns = state["found"].patterns
        if patterns:
            annotate(patterns, n_matches=3)
            annotate(state["found"].to_motifs(), n_matches=1)  # motifs, as the filter table

    def instances():
        patterns = state["found"].patterns
        if patterns:
            call_instances(patterns, state["X"], state["hyp"])
            call_instances(state["found"].to_motifs(), state["X"], method="pwm")  # FIMO

    return [
        ("simulation", data),
        ("shuffles", shuffles),
        ("motif discovery", discovery),
        ("TOMTOM annotation", tomtom),
        ("instance calls (CWM, FIMO)", instances),
    ]


def warm_up(*, n: int = 600, random_state: int = 0) -> dict[str, float]:
    """Run every numba kernel once so that its on-disk cache exists; CPU seconds per step.

    Parameters
    ----------
    n : int
        Sequences simulated (default 600: enough for motif discovery to find patterns, so that
        annotation and instance calling run too).
    random_state : int
        Seed of the simulation and of discovery.

    Returns
    -------
    dict
        CPU seconds (``time.process_time``, all threads) of each step, by name. On a fresh
        install these are mostly compilation; once the caches exist, a few seconds in all.

    Examples
    --------
    >>> seconds = warm_up(n=600)  # doctest: +SKIP
    >>> sorted(seconds)  # doctest: +SKIP
    ['TOMTOM annotation', 'instance calls (CWM, FIMO)', 'motif discovery', 'shuffles', ...]
    """
    seconds: dict[str, float] = {}
    for name, step in _steps(n, random_state):
        start = time.process_time()
        step()
        seconds[name] = time.process_time() - start
        logger.info("warm-up: %s %.1f CPU s", name, seconds[name])
    return seconds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cislens.warmup",
        description="Compile and cache the numba kernels (cislens, memelite TOMTOM and FIMO).",
    )
    parser.add_argument("-n", type=int, default=600, help="sequences simulated (default 600)")
    args = parser.parse_args(argv)
    seconds = warm_up(n=args.n)
    steps = ", ".join(f"{name} {value:.1f} s" for name, value in seconds.items())
    print(f"cislens warm-up (CPU): {steps}; total {sum(seconds.values()):.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
