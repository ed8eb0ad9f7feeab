"""Where fast ISM's time goes beyond the floor: per-call, per-batch and per-node CPU time.

Usage::

    PYTHONPATH=src python benchmarks/ism_profile.py --model labcnn --n 1
    PYTHONPATH=src python benchmarks/ism_profile.py --model deepstarr --n 64 --repeats 5

One torch thread, process CPU time. The script runs ``ism(..., fast=True)`` on ``--n``
sequences (seed 0, the whole sequence mutated, as ``benchmarks/ism.py``'s LabCNN and
DeepSTARR-like rows) and splits its time into:

- ``call``: the whole ``ism`` call (best of ``--repeats``);
- ``plan``: capture and planning (``choose_fast``);
- ``batches``: the window batches' runs (:meth:`_Runner.run`), their count and sizes;
- per node of the plan, the time of the node's window operation inside those runs (each
  wrapped with a timer: the timers' own cost, ~0.3 us per call, is included), and the loop's
  remainder (Python dispatch, ``del`` of dead values, the timers);
- ``floor``: the window-restricted floor of the same batches (``benchmarks/ism.py``'s
  :class:`Recorder`: the arithmetic calls replayed alone), for comparison per edit.

Prints a table and, with ``--out``, saves it as JSON with the command and the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def _sequences(length: int, n: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    tokens = torch.randint(0, 4, (n, length), generator=g)
    return torch.nn.functional.one_hot(tokens, 4).permute(0, 2, 1).float().contiguous()


class _Timers:
    """Wraps the window operations the runner calls (module-level names of fast_ism) with
    process-time timers keyed by the node they run for."""

    def __init__(self):
        self.seconds: dict = defaultdict(float)
        self.calls: dict = defaultdict(int)
        self.saved: list = []

    def wrap(self, module, name: str, key_of):
        original = getattr(module, name)

        def timed(*args, **kwargs):
            began = time.process_time()
            try:
                return original(*args, **kwargs)
            finally:
                key = key_of(args)
                self.seconds[key] += time.process_time() - began
                self.calls[key] += 1

        self.saved.append((module, name, original))
        setattr(module, name, timed)

    def restore(self):
        for module, name, original in reversed(self.saved):
            setattr(module, name, original)
        self.saved.clear()


def profile(model_name: str, n: int, repeats: int, batch_size: int, span: int = 0) -> dict:
    from bench_models import make_bench_model
    from ism import Recorder, span_of

    import cislens.attribution.fast_ism as fi
    from cislens.attribution.ism import ism

    torch.set_num_threads(1)
    model, length, output = make_bench_model(model_name)
    X = _sequences(length, n)
    first, stop = span_of(length, span)

    def call():
        return ism(model, X, target=0, batch_size=batch_size, output=output, fast=True,
                   start=first, end=stop)  # fmt: skip

    call()  # warm-up
    totals = []
    for _ in range(repeats):
        began = time.process_time()
        call()
        totals.append(time.process_time() - began)

    # the parts: wrap choose_fast, the runner's run and its window operations
    timers = _Timers()
    timers.wrap(fi, "plan_fast_ism", lambda a: "plan (capture, check, classify)")
    timers.wrap(fi, "batched_references", lambda a: "reference runs (generator setup)")
    timers.wrap(fi, "apply", lambda a: f"node {a[1].name}")
    timers.wrap(fi, "block_pool", lambda a: "block pool (fused)")
    timers.wrap(fi, "dense_output", lambda a: "dense head")
    timers.wrap(fi, "materialize", lambda a: "materialize (full-length)")
    timers.wrap(fi, "reference_values", lambda a: "reference runs")
    original_run, original_block, original_init = fi._Runner.run, fi._Runner._block, None
    original_init = fi._Runner.__init__
    sizes: list = []
    run_seconds: list = []

    def run(self, positions, *args, **kwargs):
        began = time.process_time()
        out = original_run(self, positions, *args, **kwargs)
        run_seconds.append(time.process_time() - began)
        sizes.append(len(positions))
        return out

    def block(self, blk, env):
        began = time.process_time()
        out = original_block(self, blk, env)
        timers.seconds[f"block slab {blk.conv.name}"] += time.process_time() - began
        timers.calls[f"block slab {blk.conv.name}"] += 1
        return out

    def init(self, *args, **kwargs):
        began = time.process_time()
        original_init(self, *args, **kwargs)
        timers.seconds["runner init (rows, pads)"] += time.process_time() - began
        timers.calls["runner init (rows, pads)"] += 1

    fi._Runner.run, fi._Runner._block, fi._Runner.__init__ = run, block, init
    began = time.process_time()
    try:
        for _ in range(repeats):  # the parts' means over the repeats
            call()
    finally:
        timers.restore()
        fi._Runner.run, fi._Runner._block, fi._Runner.__init__ = (
            original_run,
            original_block,
            original_init,
        )
    profiled = (time.process_time() - began) / repeats
    edits = sum(sizes) // repeats
    parts = {key: 1e3 * value / repeats for key, value in timers.seconds.items()}
    in_runs = sum(v for k, v in parts.items() if k.startswith(("node", "block", "dense", "mat")))
    parts["runs (all)"] = 1e3 * sum(run_seconds) / repeats
    parts["run loop remainder"] = parts["runs (all)"] - in_runs
    return {
        "model": model_name,
        "n": n,
        "edits": edits,
        "call_ms_best": 1e3 * min(totals),
        "call_ms_median": 1e3 * statistics.median(totals),
        "profiled_call_ms": 1e3 * profiled,
        "batches_all_repeats": len(sizes),
        "batch_sizes": sizes[:8] + (["..."] if len(sizes) > 8 else []),
        "batches_per_call": len(sizes) // repeats,
        "parts_ms": dict(sorted(parts.items(), key=lambda kv: -kv[1])),
        "calls": {key: count // repeats for key, count in timers.calls.items()},
        "us_per_edit_call": 1e6 * min(totals) / edits,
        "us_per_edit_runs": 1e3 * parts["runs (all)"] / edits,
        "span": [first, stop],
        "floor_us_per_edit": 1e6 * _floor(call, Recorder),
        "load": os.getloadavg()[0],
    }


def _floor(call, recorder_class) -> float:
    """Floor per edit over every batch of the path in ``call()`` (the arithmetic replayed)."""
    import cislens.attribution.fast_ism as fi

    recorded: list = []
    counts: list = []
    original = fi._Runner.run

    def run(self, positions, *args, **kwargs):
        recorder = recorder_class()
        with recorder:
            out = original(self, positions, *args, **kwargs)
        recorded.extend(recorder.calls)
        counts.append(len(positions))
        return out

    fi._Runner.run = run
    try:
        call()
    finally:
        fi._Runner.run = original

    def replay():
        for func, args, kwargs in recorded:
            func(*args, **kwargs)

    times = []
    with torch.inference_mode():  # as recorded: in-place calls on inference tensors
        for _ in range(7):
            began = time.process_time()
            replay()
            times.append(time.process_time() - began)
    return statistics.median(times) / sum(counts)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="labcnn")
    parser.add_argument("--n", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--span", type=int, default=0, help="central positions (0: all)")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    result = profile(args.model, args.n, args.repeats, args.batch_size, args.span)
    result["command"] = " ".join(["python", *sys.argv])
    print(
        f"{result['model']} n={result['n']}: {result['edits']} edits, call "
        f"{result['call_ms_best']:.2f} ms best ({result['us_per_edit_call']:.2f} us/edit), "
        f"runs {result['us_per_edit_runs']:.2f} us/edit, floor {result['floor_us_per_edit']:.2f}"
        f" us/edit, {result['batches_per_call']} batches {result['batch_sizes']}, "
        f"load {result['load']:.1f}"
    )
    for key, value in result["parts_ms"].items():
        print(f"  {key:40} {value:8.3f} ms  ({result['calls'].get(key, '')} calls)")
    if args.out:
        from cislens.utils.files import write_text

        write_text(args.out, json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
