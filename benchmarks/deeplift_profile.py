"""Where cislens's DeepLiftShap spends its time beyond the floor, in CPU process time.

Usage::

    python benchmarks/deeplift_profile.py                  # Basset 1 kb / 2 kb, DeepSTARR-like
    python benchmarks/deeplift_profile.py --models deepstarr --n-seqs 1 --repeats 9
    python benchmarks/deeplift_profile.py --out benchmarks/results/deeplift_profile.json

The same models, sequences and 20 dinucleotide shuffles as ``benchmarks/deeplift.py``; one
torch thread. For each model and sequence count, interleaved ``--repeats`` times: the floor
(one forward and one backward pass over all pairs, ``deeplift.floor``), ``deeplift_shap`` with
the capture cache (a warm second call) and without it (``no_capture_cache``: the capture and
the pre-flight checks of every call). Sections of the calls are timed by wrapping the engine's
functions (their sums per call; medians over the repeats): ``fingerprint`` (the cache's state
fingerprint and content comparison), ``borrow`` (moving the model and snapshotting its state),
``capture`` (``build_graph``) and ``preflight``, and inside the fast path ``x forward`` (the
inputs' activations), ``max rule`` (pooling of the references and inputs and the max rule's
coefficients), ``rescale`` (multipliers of the other nonlinearities), ``backward`` (the
autograd pass, including the max rule's routing) and ``rest`` (the call minus the sections:
the references' forward pass through the other layers, batching, accumulation, checks).
Timing wrappers add a few microseconds per wrapped call.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch
from deeplift import floor, make_data

SECTIONS = (
    "fingerprint",
    "borrow",
    "capture",
    "preflight",
    "x forward",
    "max rule",
    "rescale",
    "backward",
)


def instrument(spent: collections.Counter) -> None:
    """Wrap the engine's functions so that each adds its CPU time to ``spent``."""
    from cislens.attribution.deeplift_engine import cache, fast, pairs

    def timed(owner, name, section):
        original = getattr(owner, name)

        def wrapper(*args, **kwargs):
            start = time.process_time()
            try:
                return original(*args, **kwargs)
            finally:
                spent[section] += time.process_time() - start

        setattr(owner, name, wrapper)

    timed(cache, "model_state", "fingerprint")
    timed(cache, "same_state", "fingerprint")
    timed(pairs, "build_graph", "capture")
    timed(pairs, "_preflight", "preflight")
    timed(fast, "_forward_x", "x forward")
    timed(fast, "_max_rule", "max rule")
    timed(fast, "_rescale", "rescale")
    timed(fast.torch.autograd, "grad", "backward")
    borrowed = pairs.borrowed_model

    @contextlib.contextmanager
    def borrow(*args, **kwargs):
        start = time.process_time()
        manager = borrowed(*args, **kwargs)
        value = manager.__enter__()
        spent["borrow"] += time.process_time() - start
        try:
            yield value
        finally:
            start = time.process_time()
            manager.__exit__(None, None, None)
            spent["borrow"] += time.process_time() - start

    pairs.borrowed_model = borrow


def profile(model_name: str, n_seqs: int, repeats: int, batch_size: int) -> dict:
    from cislens.attribution.deeplift_engine import deeplift_shap
    from cislens.attribution.deeplift_engine.cache import no_capture_cache

    model, X, R = make_data(model_name, n_seqs, 1)

    def call():
        return deeplift_shap(model, X, target=0, baselines=R, batch_size=batch_size, device="cpu")

    def uncached():
        with no_capture_cache():
            return call()

    spent: collections.Counter = collections.Counter()
    instrument(spent)
    runs = {"floor": lambda: floor(model, X, R, batch_size), "cached": call, "uncached": uncached}
    for run in runs.values():
        run()
    times = {name: [] for name in runs}
    sections = {name: collections.defaultdict(list) for name in ("cached", "uncached")}
    load_before = os.getloadavg()[0]
    for _ in range(repeats):
        for name, run in runs.items():
            spent.clear()
            start = time.process_time()
            run()
            times[name].append(time.process_time() - start)
            if name != "floor":
                for section in SECTIONS:
                    sections[name][section].append(spent[section])
                rest = times[name][-1] - sum(spent[s] for s in SECTIONS)
                sections[name]["rest"].append(rest)
    base = statistics.median(times["floor"])
    row = {
        "model": model_name,
        "n_seqs": n_seqs,
        "repeats": repeats,
        "floor_seconds": base,
        "loadavg_before": load_before,
        "loadavg_after": os.getloadavg()[0],
    }
    for name in ("cached", "uncached"):
        row[f"{name}_seconds"] = statistics.median(times[name])
        row[f"{name}_floor_ratio"] = row[f"{name}_seconds"] / base
        row[f"{name}_sections"] = {
            section: statistics.median(values) for section, values in sections[name].items()
        }
    return row


def table(rows: list[dict]) -> str:
    names = (*SECTIONS, "rest")
    lines = [
        f"{'model':<10} {'n':>2} {'call':<9} {'floor s':>8} {'call s':>8} {'x floor':>7} "
        + " ".join(f"{name:>11}" for name in names)
        + "  (sections: share of the floor's time)"
    ]
    for r in rows:
        for name in ("cached", "uncached"):
            shares = r[f"{name}_sections"]
            lines.append(
                f"{r['model']:<10} {r['n_seqs']:>2} {name:<9} {r['floor_seconds']:>8.4f} "
                f"{r[f'{name}_seconds']:>8.4f} {r[f'{name}_floor_ratio']:>7.2f} "
                + " ".join(f"{shares[s] / r['floor_seconds']:>11.3f}" for s in names)
            )
    return "\n".join(lines)


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="basset,basset2k,deepstarr")
    parser.add_argument("--n-seqs", default="1,4", help="comma-separated sequence counts")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--out", help="write the rows as JSON here")
    args = parser.parse_args(argv)
    rows = []
    for model_name in args.models.split(","):
        for n in (int(v) for v in args.n_seqs.split(",")):
            rows.append(profile(model_name, n, args.repeats, args.batch_size))
            print(table(rows[-1:]).splitlines()[-2], file=sys.stderr, flush=True)
    print(table(rows))
    if args.out:
        given = sys.argv[1:] if argv is None else argv
        command = " ".join(["python benchmarks/deeplift_profile.py", *given])
        payload = {"command": command, "clock": "process_time", "threads": 1, "rows": rows}
        Path(args.out).write_text(json.dumps(payload, indent=2))
    return rows


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
