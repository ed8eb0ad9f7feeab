"""Benchmark cislens ``ism`` (window path) next to tangermeme ``saturation_mutagenesis``.

Usage::

    python benchmarks/ism.py                                      # all models, defaults
    python benchmarks/ism.py --models chrombpnet --span 16 --n-many 64 --repeats 3
    python benchmarks/ism.py --models labcnn --span 0             # span 0: whole sequences

Models (``benchmarks/bench_models.py``, random weights, eval mode, uniform random sequences,
target 0): ``basset`` (1 kb), ``basset2k`` (2 kb), ``bpnet`` (BPNetLike 1 kb), ``chrombpnet``
(ChromBPNet-like, 2,114 bp, ``output=(1, "counts")``), ``deepstarr`` (249 bp), ``labcnn``
(200 bp). Tools:

- ``cislens``: ``ism(..., fast=True)`` (the window path; it raises if the model needs naive ISM);
- ``tangermeme``: tangermeme ``saturation_mutagenesis`` with its fast path forced (its 30 s
  threshold set to 0, so it always captures, verifies and uses ``fast=True``; a fallback to
  ``fast=False`` is reported in the ``note`` column);
- ``floor``: the window-restricted floor (below).

Method. Every (model, tool) runs in a fresh child process with one torch thread and is timed
with the process CPU time (``time.process_time``), so other jobs on a shared machine count
little; the load average (1 min) is recorded next to every row. The child builds the model and
64 sequences (seed 0), warms the tool up with one call (one sequence, 4 positions), then times
``--repeats`` calls of one sequence and of ``--n-many`` sequences, keeping the best and the
median. Each call mutates the ``--span`` central positions of every sequence (3 edits each;
``--span 0``: the whole sequence), the same positions for both tools (central positions have
the widest windows: the dearest edits). From these:

- ``call1_s`` / ``callN_s``: seconds per call of 1 / N sequences (fixed costs included:
  capture, tangermeme's ``torch.export`` and its self-check, reference runs);
- ``ms_per_edit``: ``(best callN - best call1) / (edits of N - edits of 1)``, i.e. the per-edit
  cost with every per-call fixed cost removed;
- ``x_tm``: tangermeme's figure over cislens' (> 1: cislens faster), per edit and per call;
- ``x_floor``: cislens' per-edit time over the floor's (>= 1);
- ``max_abs_diff``: cislens ``fast=True`` against naive ISM (``fast=False``), both float64, on
  1 sequence (positions at both ends and the centre); for tangermeme, its float32 scores
  against cislens' float32 scores of the same call;
- ``peak_mib``: rise of the peak resident set during the N-sequence call (``VmHWM`` reset
  through ``/proc/self/clear_refs``; Linux).

The floor. The window path computes, for each edit, each layer on the window of positions the
edit can change (the union of the windows of a layer's inputs, widened by a convolution's or
pool's reach). The *floor* is the arithmetic of exactly those windows with everything else
removed: the window path is run once on a batch of edits under a ``TorchFunctionMode`` that
records every arithmetic call it makes (convolutions, pools, matrix products, element-wise
functions and arithmetic on floating-point tensors, batch norm, reductions); gathering,
splicing, indexing, copies, padding and index arithmetic are not recorded. The floor time per
edit is the process time of replaying the recorded calls on their recorded inputs (best of
``--repeats``), divided by the batch's edits. It is the cost of running only the minimal
receptive-field windows of all edits through the network, batched as the path batches them, so
``x_floor`` is the path's overhead (bookkeeping, gathers) over pure arithmetic.

Results go to stdout and to ``benchmarks/results/ism.csv`` and ``ism.json`` (``--out``) with
the command line and the load averages.
"""

from __future__ import annotations

import argparse
import copy
import csv
import json
import os
import statistics
import subprocess
import tempfile
import sys
import time
import warnings
from pathlib import Path

import torch
from _memory import reset_peak_rss, status_kib
from torch.overrides import TorchFunctionMode

HERE = Path(__file__).resolve().parent
MODELS = ("basset", "basset2k", "bpnet", "chrombpnet", "deepstarr", "labcnn")
TOOLS = ("cislens", "tangermeme", "floor")
# central positions per sequence by default (0: whole sequence): keeps 64-sequence calls short
SPANS = {"basset": 16, "basset2k": 16, "bpnet": 16, "chrombpnet": 8, "deepstarr": 0, "labcnn": 0}


class Selected(torch.nn.Module):
    """One output of a multi-output model, for tangermeme (cislens takes ``output=``)."""

    def __init__(self, model, index):
        super().__init__()
        self.model, self.index = model, index

    def forward(self, X):
        return self.model(X)[self.index]


def tm_model(model, output):
    """A hook-free copy (cislens models check input in a pre-hook that tangermeme's capture
    refuses) selecting ``output`` (same weights)."""
    model = copy.deepcopy(model)
    for module in model.modules():
        module._forward_pre_hooks.clear()
    return model if output is None else Selected(model, output[0]).eval()


def run_tool(tool: str, model, X, batch_size: int, *, start=0, end=None, output=None,
             dtype=torch.float32, notes=None) -> torch.Tensor:
    """Projected centred ISM scores (N, 4, end - start) from one tool (``run_all.py`` uses
    it too: ``tm_forced`` / ``tm_default`` / ``tm_naive`` are tangermeme with its fast path
    forced / as shipped / off)."""
    end = X.shape[-1] if end is None else end
    if tool.startswith("cislens"):
        from cislens.attribution.ism import ism

        out = ism(model, X, target=0, batch_size=batch_size, device="cpu", start=start,
                  end=end, output=output, dtype=dtype, fast=tool != "cislens_naive")
        return out[:, :, start:end]
    import tangermeme.saturation_mutagenesis as tm

    saved = tm._FAST_MIN_SECONDS
    if tool in ("tangermeme", "tm_forced"):
        tm._FAST_MIN_SECONDS = 0.0
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out = tm.saturation_mutagenesis(
                tm_model(model, output), X, target=0, batch_size=batch_size, device="cpu",
                start=start, end=end, fast=tool != "tm_naive",
            ).float()
        for warning in caught:  # tangermeme falling back to fast=False, and why
            if "fast" in str(warning.message):
                if notes is not None:
                    notes.append(str(warning.message)[:200])
                print(f"[{tool}] {warning.message}", file=sys.stderr)
        return out
    finally:
        tm._FAST_MIN_SECONDS = saved


# --- the floor ---------------------------------------------------------------------------------

_MOVES = frozenset({
    "index_select", "gather", "scatter", "scatter_", "where", "clone", "contiguous", "expand",
    "as_strided", "pad", "cat", "stack", "__getitem__", "__setitem__", "arange", "clamp",
    "aminmax", "nonzero", "squeeze", "unsqueeze", "view", "reshape", "flip", "to", "copy_",
    "new_zeros", "zeros", "empty", "__len__", "size", "dim", "item", "tolist", "amin", "amax",
    "equal", "__floordiv__", "__mod__", "div", "__eq__", "__ne__", "__ge__", "__le__", "__lt__",
    "__gt__", "__and__", "__or__", "any", "all", "shape", "T", "t", "permute", "transpose",
    "flatten", "numel", "type", "float", "double", "detach", "__get__",
})  # fmt: skip


class Recorder(TorchFunctionMode):
    """Records the arithmetic calls on floating-point tensors (see the module docstring)."""

    def __init__(self):
        super().__init__()
        self.calls: list = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", str(func))
        out = func(*args, **kwargs)
        tensors = [a for a in args if isinstance(a, torch.Tensor)]
        if name not in _MOVES and tensors and all(t.is_floating_point() for t in tensors):
            self.calls.append((func, args, kwargs))
        return out


def floor_per_edit(model, X, output, batch_size: int, first: int, stop: int, repeats: int):
    """Seconds per edit of the window path's arithmetic alone (the floor), on one batch."""
    from cislens.attribution._common import borrowed_model
    from cislens.attribution.fast_ism import edit_runner
    from cislens.attribution.heads import explained_model

    net = explained_model(model, output=output, input_layout="NCL")
    x = X[:1]
    with borrowed_model(net, device="cpu") as (net, _), torch.inference_mode():
        runner, positions, columns = edit_runner(net, x, first, stop)
        pos, col = positions[:batch_size], columns[:batch_size]
        recorder = Recorder()
        with recorder:
            runner.run(pos, col)
        best = float("inf")
        for _ in range(repeats):
            began = time.process_time()
            for func, args, kwargs in recorder.calls:
                func(*args, **kwargs)
            best = min(best, time.process_time() - began)
    return best / len(pos)


# --- one (model, tool) in a child process ------------------------------------------------------


def span_of(length: int, span: int) -> tuple[int, int]:
    if span <= 0 or span >= length:
        return 0, length
    first = length // 2 - span // 2
    return first, first + span


def child(args) -> dict:
    warnings.simplefilter("ignore")
    from bench_models import make_bench_model

    torch.set_num_threads(1)
    model, length, output = make_bench_model(args.model)
    g = torch.Generator().manual_seed(0)
    tokens = torch.randint(0, 4, (args.n_many, length), generator=g)
    X = torch.nn.functional.one_hot(tokens, 4).permute(0, 2, 1).float().contiguous()
    first, stop = span_of(length, args.span)
    row = {"model": args.model, "tool": args.tool, "length": length, "start": first,
           "end": stop, "n_many": args.n_many, "load_begin": os.getloadavg()[0]}
    if args.tool == "floor":
        row["floor_ms_per_edit"] = 1e3 * floor_per_edit(model, X, output, args.batch_size,
                                                        first, stop, args.repeats)
        row["load_end"] = os.getloadavg()[0]
        return row
    notes: list = []

    def call(n):
        return run_tool(args.tool, model, X[:n], args.batch_size, start=first, end=stop,
                        output=output, notes=notes)

    mid = length // 2
    call(1) if stop - first <= 4 else run_tool(args.tool, model, X[:1], args.batch_size,
                                               start=mid, end=mid + 4, output=output)  # warm
    times: dict = {1: [], args.n_many: []}
    peak, outs = None, {}
    for _ in range(args.repeats):
        for n in times:
            base = status_kib("VmRSS") if reset_peak_rss() else None
            began = time.process_time()
            outs[n] = call(n)
            times[n].append(time.process_time() - began)
            if base is not None and n == args.n_many:
                peak = (status_kib("VmHWM") - base) / 1024
    edits = 3 * (stop - first)
    row.update({
        "call1_s": min(times[1]), "call1_median_s": statistics.median(times[1]),
        "callN_s": min(times[args.n_many]),
        "callN_median_s": statistics.median(times[args.n_many]),
        "ms_per_edit": 1e3 * (min(times[args.n_many]) - min(times[1]))
        / (edits * (args.n_many - 1)),
        "peak_mib": peak, "note": "; ".join(sorted(set(notes))),
    })  # fmt: skip
    torch.save(outs[1], Path(args.scratch) / f"{args.model}_{args.tool}.pt")
    if args.tool == "cislens":
        row["max_abs_diff"] = exactness(model, X[:1], output, length, args.batch_size)
    row["load_end"] = os.getloadavg()[0]
    return row


def exactness(model, x, output, length: int, batch_size: int) -> float:
    """Largest |fast - naive| of the deltas ``f(edit) - f(x)`` in float64, over the edits at
    both ends and the centre of one sequence."""
    from cislens.attribution._common import borrowed_model
    from cislens.attribution.fast_ism import edit_runner
    from cislens.attribution.heads import explained_model

    net = explained_model(model, output=output, input_layout="NCL")
    worst = 0.0
    with borrowed_model(net, device="cpu", dtype=torch.float64) as (net, _):
        with torch.inference_mode():
            x = x.double()
            for first in (0, length // 2 - 3, length - 6):
                runner, pos, col = edit_runner(net, x, first, first + 6)
                fast = runner.run(pos, col)[:, 0] - runner.ref_output[0, 0]
                rows = x.expand(len(pos), -1, -1).clone()
                rows[torch.arange(len(pos)), :, pos] = col
                naive = net(rows)[:, 0] - net(x)[0, 0]
                worst = max(worst, float((fast - naive).abs().max()))
    return worst


# --- the parent: one child per (model, tool), then the table -----------------------------------


def summarise(rows: list[dict]) -> list[dict]:
    by = {(r["model"], r["tool"]): r for r in rows}
    out = []
    for (model, tool), row in by.items():
        if tool != "cislens":
            continue
        tm, fl = by.get((model, "tangermeme"), {}), by.get((model, "floor"), {})
        diff_tm = float("nan")
        scratch = Path(row["scratch"])
        if tm:
            a, b = (torch.load(scratch / f"{model}_{t}.pt") for t in ("cislens", "tangermeme"))
            diff_tm = float((a - b).abs().max())

        def ratio(key, tm=tm, row=row):
            return tm[key] / row[key] if tm.get(key) and row.get(key) else float("nan")

        floor = fl.get("floor_ms_per_edit")
        out.append({
            "model": model, "length": row["length"], "span": row["end"] - row["start"],
            "n_many": row["n_many"],
            "cislens_ms_per_edit": row["ms_per_edit"], "tm_ms_per_edit": tm.get("ms_per_edit"),
            "floor_ms_per_edit": floor,
            "x_tm_per_edit": ratio("ms_per_edit"), "x_tm_call1": ratio("call1_s"),
            "x_tm_callN": ratio("callN_s"),
            "x_floor": row["ms_per_edit"] / floor if floor else float("nan"),
            "cislens_call1_s": row["call1_s"], "tm_call1_s": tm.get("call1_s"),
            "cislens_callN_s": row["callN_s"], "tm_callN_s": tm.get("callN_s"),
            "max_abs_diff_vs_naive_f64": row.get("max_abs_diff"),
            "max_abs_diff_tm_vs_cislens_f32": diff_tm,
            "cislens_peak_mib": row.get("peak_mib"), "tm_peak_mib": tm.get("peak_mib"),
            "load": max(r.get("load_end", 0) for r in (row, tm, fl) if r),
            "tm_note": tm.get("note", ""),
        })  # fmt: skip
    return out


def _fmt(summary: dict, key: str, spec: str) -> str:
    value = summary.get(key)
    return format(float("nan") if value is None else value, spec)


def print_table(summary: list[dict]) -> None:
    columns = (("cislens_ms_per_edit", "cis ms/ed", "9.3f"), ("tm_ms_per_edit", "tm ms/ed", "9.3f"),
               ("floor_ms_per_edit", "floor", "7.3f"), ("x_tm_per_edit", "x tm", "6.2f"),
               ("x_tm_call1", "x tm 1", "6.2f"), ("x_tm_callN", "x tm N", "6.2f"),
               ("x_floor", "x floor", "7.2f"), ("max_abs_diff_vs_naive_f64", "|d| naive", "9.1e"),
               ("cislens_peak_mib", "MiB cis", "7.0f"), ("tm_peak_mib", "MiB tm", "7.0f"),
               ("load", "load", "5.1f"))  # fmt: skip
    widths = [int(spec.split(".")[0]) for _, _, spec in columns]
    print(f"{'model':10} {'span':>5} {'N':>3} "
          + " ".join(f"{title:>{w}}" for (_, title, _), w in zip(columns, widths, strict=True)))
    for s in summary:
        print(f"{s['model']:10} {s['span']:5d} {s['n_many']:3d} "
              + " ".join(_fmt(s, key, spec) for key, _, spec in columns))


def _child_command(model: str, tool: str, args, scratch: str) -> list[str]:
    command = [sys.executable, __file__, "--child", model, tool, f"--n-many={args.n_many}",
               f"--batch-size={args.batch_size}", f"--repeats={args.repeats}",
               f"--scratch={scratch}"]  # fmt: skip
    if args.span is not None:
        command.append(f"--span={args.span}")
    return command


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--tools", default=",".join(TOOLS))
    parser.add_argument("--span", type=int, default=None,
                        help="central positions mutated per sequence (0: all; default per model)")
    parser.add_argument("--n-many", type=int, default=64, help="sequences of the large call")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=str(HERE / "results" / "ism"),
                        help="write OUT.csv and OUT.json")
    parser.add_argument("--child", nargs=2, metavar=("MODEL", "TOOL"), help=argparse.SUPPRESS)
    parser.add_argument("--scratch", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        args.model, args.tool = args.child
        args.span = SPANS[args.model] if args.span is None else args.span
        print(json.dumps(child(args)))
        return []
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for model in args.models.split(","):
            for tool in args.tools.split(","):
                done = subprocess.run(_child_command(model, tool, args, scratch),
                                      capture_output=True, text=True)
                if done.returncode:
                    print(f"[{model} {tool}] failed:\n{done.stderr[-2000:]}", file=sys.stderr)
                    continue
                row = json.loads(done.stdout.strip().splitlines()[-1])
                row["scratch"] = scratch
                rows.append(row)
                print(f"[{model} {tool}] done (load {row['load_end']:.1f})", file=sys.stderr)
        summary = summarise(rows)
    print_table(summary)
    if args.out and summary:
        from cislens.utils.files import write_text

        command = " ".join(["python", *sys.argv])
        record = {"command": command, "threads": 1, "clock": "process", "rows": rows,
                  "summary": summary}  # fmt: skip
        write_text(args.out + ".json", json.dumps(record, indent=1, default=str))
        lines = [",".join(summary[0])]
        lines += [",".join(str(v).replace(",", ";") for v in s.values()) for s in summary]
        write_text(args.out + ".csv", "\n".join(lines) + f"\n# {command}\n")
    return summary


if __name__ == "__main__":
    main()
