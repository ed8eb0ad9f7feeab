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
less (they still share caches and cores: the 1-minute load average is recorded with every
row). The child builds the model and ``--n-many`` sequences (seed 0), warms the tool up with
one call (one sequence, 4 positions), then times ``--repeats`` calls of each kind and keeps the
best (the median is saved too). The positions mutated are central ones (their windows are the
widest: the dearest edits), 3 edits each, the same for both tools (``SPANS`` per model):

- ``call1_s`` / ``callN_s``: seconds per call of 1 / N sequences, each mutating the per-call
  span (0: the whole sequence), every fixed cost included (cislens' capture and reference
  runs; tangermeme's ``torch.export`` capture, its naive first batch and its self-check);
- ``ms_per_edit``: ``(t(span b) - t(span a)) / (3 (b - a))`` from one-sequence calls at two
  spans a < b: every per-call and per-sequence cost cancels (both spans hold more than a batch
  of edits, so tangermeme's naive first batch and self-check are the same in both); the median
  of ``2 --repeats + 1`` differences, each of two timings back to back (``ms_per_edit_pairs``:
  all of them), so that load changing between the two spans' timings cancels;
- ``ms_per_edit_n``: ``(callN - call1) / (edits of N - edits of 1)``: per edit in the
  N-sequence call with the per-call fixed costs removed (per-sequence costs such as reference
  runs stay in); steadier than ``ms_per_edit`` for tangermeme, whose fixed cost (about 1 s:
  capture, naive first batch, self-check) varies by more than the edits of a short span cost;
- ``x_tm``: tangermeme's figure over cislens' (> 1: cislens faster), per edit and per call;
  NaN per edit where either figure is lost in its tool's call-to-call noise (:func:`unresolved`);
- ``x_floor``: cislens' per-edit time over the floor's (>= 1);
- ``max_abs_diff``: cislens ``fast=True`` against naive ISM (``fast=False``), both float64, on
  1 sequence (positions at both ends and the centre); for tangermeme, its float32 scores
  against cislens' float32 scores of the same call;
- ``peak_mib``: rise of the peak resident set during the N-sequence call (``VmHWM`` reset
  through ``/proc/self/clear_refs``; Linux).

The floor. The window path computes, for each edit, each layer on the window of positions the
edit can change (the union of the windows of a layer's inputs, widened by a convolution's or
pool's reach; a fused block computes its convolution and activations on its pool's slab). The
*floor* is the arithmetic of exactly those windows with everything else removed: the window
path is run once on a batch of edits (the path's batch size and edit order) under a
``TorchFunctionMode`` that records every arithmetic call it makes (convolutions, pools, matrix
products, element-wise functions and arithmetic on floating-point tensors, batch norm,
reductions); gathering, splicing, indexing, copies, padding and index arithmetic are not
recorded. The floor time per edit is the process time of replaying the recorded calls on their
recorded inputs (the median of ``2 --repeats + 1`` timings, each the mean of enough replays to
fill 0.25 s, as the path's figure), divided by the batch's edits. It is the cost of
running only the minimal receptive-field windows of all edits through the network, batched as
the path batches them, so ``x_floor`` is the path's overhead (bookkeeping, gathers) over pure
arithmetic.

Results go to stdout and to ``benchmarks/results/ism.csv`` and ``ism.json`` (``--out``) with
the command line and the load averages.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import subprocess
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
# model -> (central positions mutated per sequence in the per-call rows, 0 for all; the two
# spans of one-sequence calls whose difference gives the per-edit cost). Both spans hold more
# than 128 edits (--batch-size): tangermeme runs its first batch of edits naively and checks
# its fast path on one more batch, so its fixed cost grows with the edits up to a batch.
SPANS = {
    "basset": (16, 64, 256),
    "basset2k": (16, 64, 256),
    "bpnet": (16, 64, 256),
    "chrombpnet": (8, 48, 160),
    "deepstarr": (0, 60, 249),
    "labcnn": (0, 50, 200),
}


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


def run_tool(
    tool: str,
    model,
    X,
    batch_size: int,
    *,
    start=0,
    end=None,
    output=None,
    dtype=torch.float32,
    notes=None,
) -> torch.Tensor:
    """Projected centred ISM scores (N, 4, end - start) from one tool (``run_all.py`` uses
    it too: ``tm_forced`` / ``tm_default`` / ``tm_naive`` are tangermeme with its fast path
    forced / as shipped / off)."""
    end = X.shape[-1] if end is None else end
    if tool.startswith("cislens"):
        from cislens.attribution.ism import ism

        out = ism(
            model,
            X,
            target=0,
            batch_size=batch_size,
            device="cpu",
            start=start,
            end=end,
            output=output,
            dtype=dtype,
            fast=tool != "cislens_naive",
        )
        return out[:, :, start:end]
    import tangermeme.saturation_mutagenesis as tm

    saved = tm._FAST_MIN_SECONDS
    if tool in ("tangermeme", "tm_forced"):
        tm._FAST_MIN_SECONDS = 0.0
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out = tm.saturation_mutagenesis(
                tm_model(model, output),
                X,
                target=0,
                batch_size=batch_size,
                device="cpu",
                start=start,
                end=end,
                fast=tool != "tm_naive",
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
    from cislens.attribution._fast_ism_fused import edit_order
    from cislens.attribution.fast_ism import chunk_size, edit_runner, row_bytes
    from cislens.attribution.heads import explained_model
    from cislens.utils.heap import retain_freed_memory

    retain_freed_memory()  # as the path does: its arithmetic's outputs reuse heap memory
    net = explained_model(model, output=output, input_layout="NCL")
    x = X[:1]
    with borrowed_model(net, device="cpu") as (net, _), torch.inference_mode():
        runner, positions, columns = edit_runner(net, x, first, stop)
        order = edit_order(runner.plan.blocks, runner.plan.ops, positions)  # the path's order
        positions, columns = positions[order], columns[order]
        # the path's batch: the edits that fit in a reference batch's memory, capped by the
        # cache (fast_ism.chunk_size)
        runner.run(positions[:1], columns[:1], measure=True)
        per_row = row_bytes(runner.plan, x.dtype)
        size = chunk_size(runner.window_bytes, batch_size, "cpu", runner.edit_bytes, per_row)
        pos, col = positions[:size], columns[:size]
        recorder = Recorder()
        with recorder:
            runner.run(pos, col)

        def replay():
            for func, args, kwargs in recorder.calls:
                func(*args, **kwargs)

        # timed as the path's per-edit figure is: the median of 2 repeats + 1 timings, each the
        # mean of enough replays to fill 0.25 s (a best-of-3 of single 1-ms replays read low)
        times = [_timed(replay, 1)[0] for _ in range(2 * repeats + 1)]
    return statistics.median(times) / len(pos)


# --- one (model, tool) in a child process ------------------------------------------------------


def span_of(length: int, span: int) -> tuple[int, int]:
    if span <= 0 or span >= length:
        return 0, length
    first = length // 2 - span // 2
    return first, first + span


def _timed(call, repeats: int, *, peak: bool = False):
    """Best and median process time of ``repeats`` calls, the last result, the peak MiB.

    A call under 0.25 s is timed as the mean of enough back-to-back calls to fill 0.25 s
    (short differences are otherwise lost in the clock's noise on a loaded machine)."""
    began = time.process_time()
    out, mib, times = call(), None, []  # untimed: sets how many calls one timing holds
    inner = max(1, min(50, int(0.25 / max(time.process_time() - began, 1e-4))))
    for _ in range(repeats):
        base = status_kib("VmRSS") if peak and reset_peak_rss() else None
        began = time.process_time()
        for _ in range(inner):
            out = call()
        elapsed = (time.process_time() - began) / inner
        times.append(elapsed)
        if base is not None:
            mib = (status_kib("VmHWM") - base) / 1024
    return min(times), statistics.median(times), out, mib


def _paired(short, long, repeats: int) -> list[float]:
    """``repeats`` differences t(long) - t(short), the two timed back to back (each as the
    mean of enough calls to fill 0.25 s, as :func:`_timed`), so that a change of the machine's
    load between them cancels."""
    inner = []
    for call in (short, long):  # untimed: sets how many calls one timing holds
        began = time.process_time()
        call()
        inner.append(max(1, min(50, int(0.25 / max(time.process_time() - began, 1e-4)))))

    def timed(call, n):
        began = time.process_time()
        for _ in range(n):
            call()
        return (time.process_time() - began) / n

    return [timed(long, inner[1]) - timed(short, inner[0]) for _ in range(repeats)]


def child(args) -> dict:
    warnings.simplefilter("ignore")
    from bench_models import make_bench_model

    torch.set_num_threads(1)
    model, length, output = make_bench_model(args.model)
    g = torch.Generator().manual_seed(0)
    tokens = torch.randint(0, 4, (args.n_many, length), generator=g)
    X = torch.nn.functional.one_hot(tokens, 4).permute(0, 2, 1).float().contiguous()
    span, lo, hi = SPANS[args.model] if args.span is None else (args.span, *args.edit_spans)
    first, stop = span_of(length, span)
    row = {"model": args.model, "tool": args.tool, "length": length, "start": first,
           "end": stop, "n_many": args.n_many, "edit_spans": [lo, hi],
           "load_begin": os.getloadavg()[0]}  # fmt: skip
    notes: list = []

    def call(n, window=(first, stop)):
        return lambda: run_tool(args.tool, model, X[:n], args.batch_size, start=window[0],
                                end=window[1], output=output, notes=notes)  # fmt: skip

    if args.tool == "floor":
        row["floor_ms_per_edit"] = 1e3 * floor_per_edit(
            model, X, output, args.batch_size, *span_of(length, hi), args.repeats
        )
        row["load_end"] = os.getloadavg()[0]
        return row
    call(1, span_of(length, 4))()  # warm-up: imports, first-call initialisation
    # per edit: one sequence, two spans; the difference removes every per-call and
    # per-sequence cost (capture, export, self-checks, reference runs)
    edits = 3 * (span_of(length, hi)[1] - span_of(length, hi)[0]
                 - span_of(length, lo)[1] + span_of(length, lo)[0])  # fmt: skip
    differences = _paired(call(1, span_of(length, lo)), call(1, span_of(length, hi)),
                          2 * args.repeats + 1)  # fmt: skip
    row["ms_per_edit"] = 1e3 * statistics.median(differences) / edits
    row["ms_per_edit_pairs"] = [1e3 * d / edits for d in differences]
    row["call1_s"], row["call1_median_s"], out1, _ = _timed(call(1), args.repeats)
    n = args.n_many
    row["callN_s"], row["callN_median_s"], _, row["peak_mib"] = _timed(
        call(n), max(1, args.repeats - 1), peak=True
    )
    row["note"] = "; ".join(sorted(set(notes)))
    row["scores"] = out1.tolist()  # 1 sequence, (1, 4, span): compared across tools
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
    from cislens.utils.heap import retain_freed_memory

    retain_freed_memory()  # as the path does: its arithmetic's outputs reuse heap memory
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


def unresolved(row: dict) -> bool:
    """A one-sequence per-edit figure lost in the noise of its tool's fixed costs: its paired
    differences spread (interquartile range) wider than their median (tangermeme on LabCNN and
    DeepSTARR-like: its per-call cost, a choice between its fast and naive paths included,
    varies by more than the edits of the longer span cost)."""
    pairs = sorted(row.get("ms_per_edit_pairs") or [])
    if len(pairs) < 3:
        return False
    q1, q3 = pairs[len(pairs) // 4], pairs[(3 * len(pairs)) // 4]
    return q3 - q1 > abs(statistics.median(pairs))


def summarise(rows: list[dict]) -> list[dict]:
    by = {(r["model"], r["tool"]): r for r in rows}
    out = []
    for (model, tool), row in by.items():
        if tool != "cislens":
            continue
        tm, fl = by.get((model, "tangermeme"), {}), by.get((model, "floor"), {})
        diff_tm = float("nan")
        if tm:
            diff_tm = float((torch.tensor(row["scores"]) - torch.tensor(tm["scores"])).abs().max())

        def ratio(key, tm=tm, row=row):
            if key == "ms_per_edit" and (unresolved(tm) or unresolved(row)):
                return float("nan")
            return tm[key] / row[key] if tm.get(key) and row.get(key) else float("nan")

        floor = fl.get("floor_ms_per_edit")
        for r in (row, tm):  # per edit in the N-sequence call: (callN - call1) over its edits
            if r:
                more = 3 * (r["end"] - r["start"]) * (r["n_many"] - 1)
                r["ms_per_edit_n"] = 1e3 * (r["callN_s"] - r["call1_s"]) / more
        out.append({
            "model": model, "length": row["length"], "span": row["end"] - row["start"],
            "n_many": row["n_many"],
            "cislens_ms_per_edit": row["ms_per_edit"], "tm_ms_per_edit": tm.get("ms_per_edit"),
            "floor_ms_per_edit": floor,
            "x_tm_per_edit": ratio("ms_per_edit"),
            "cislens_ms_per_edit_n": row["ms_per_edit_n"],
            "tm_ms_per_edit_n": tm.get("ms_per_edit_n"),
            "x_tm_per_edit_n": ratio("ms_per_edit_n"), "x_tm_call1": ratio("call1_s"),
            "x_tm_callN": ratio("callN_s"),
            "x_floor": row["ms_per_edit"] / floor if floor else float("nan"),
            "cislens_call1_s": row["call1_s"], "tm_call1_s": tm.get("call1_s"),
            "cislens_callN_s": row["callN_s"], "tm_callN_s": tm.get("callN_s"),
            "max_abs_diff_vs_naive_f64": row.get("max_abs_diff"),
            "max_abs_diff_tm_vs_cislens_f32": diff_tm,
            "cislens_peak_mib": row.get("peak_mib"), "tm_peak_mib": tm.get("peak_mib"),
            "load": max(r.get("load_end", 0) for r in (row, tm, fl) if r),
            "tm_note": tm.get("note", ""),
            "tm_ms_per_edit_unresolved": unresolved(tm) if tm else None,
        })  # fmt: skip
    return out


def _fmt(summary: dict, key: str, spec: str) -> str:
    value = summary.get(key)
    return format(float("nan") if value is None else value, spec)


def print_table(summary: list[dict]) -> None:
    columns = (("cislens_ms_per_edit", "cis ms/ed", "9.3f"), ("tm_ms_per_edit", "tm ms/ed", "9.3f"),
               ("floor_ms_per_edit", "floor", "7.3f"), ("x_tm_per_edit", "x tm", "6.2f"),
               ("cislens_ms_per_edit_n", "cis ms/edN", "10.3f"),
               ("tm_ms_per_edit_n", "tm ms/edN", "9.3f"), ("x_tm_per_edit_n", "x tm N", "6.2f"),
               ("x_tm_call1", "x call1", "7.2f"), ("x_tm_callN", "x callN", "7.2f"),
               ("x_floor", "x floor", "7.2f"), ("max_abs_diff_vs_naive_f64", "|d| naive", "9.1e"),
               ("cislens_peak_mib", "MiB cis", "7.0f"), ("tm_peak_mib", "MiB tm", "7.0f"),
               ("load", "load", "5.1f"))  # fmt: skip
    widths = [int(spec.split(".")[0]) for _, _, spec in columns]
    print(
        f"{'model':10} {'span':>5} {'N':>3} "
        + " ".join(f"{title:>{w}}" for (_, title, _), w in zip(columns, widths, strict=True))
    )
    for s in summary:
        print(
            f"{s['model']:10} {s['span']:5d} {s['n_many']:3d} "
            + " ".join(_fmt(s, key, spec) for key, _, spec in columns)
        )


def _child_command(model: str, tool: str, args) -> list[str]:
    command = [sys.executable, __file__, "--child", model, tool, f"--n-many={args.n_many}",
               f"--batch-size={args.batch_size}", f"--repeats={args.repeats}"]  # fmt: skip
    if args.span is not None:
        command += [f"--span={args.span}", f"--edit-spans={args.edit_spans}"]
    return command


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--tools", default=",".join(TOOLS))
    parser.add_argument(
        "--span",
        type=int,
        default=None,
        help="central positions mutated per sequence (0: all; default per model)",
    )
    parser.add_argument(
        "--edit-spans",
        default="16,128",
        help="with --span: the two spans of the per-edit measurement",
    )
    parser.add_argument("--n-many", type=int, default=64, help="sequences of the large call")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--out", default=str(HERE / "results" / "ism"), help="write OUT.csv and OUT.json"
    )
    parser.add_argument("--child", nargs=2, metavar=("MODEL", "TOOL"), help=argparse.SUPPRESS)
    parser.add_argument(
        "--reuse",
        default=None,
        help="a previous OUT.json: its rows of tools not in --tools are kept "
        "(e.g. the slow tangermeme rows while cislens is re-measured)",
    )
    args = parser.parse_args(argv)
    if args.child:
        args.model, args.tool = args.child
        args.edit_spans = tuple(int(v) for v in args.edit_spans.split(","))
        print(json.dumps(child(args)))
        return []
    rows, tools = [], [tool for tool in args.tools.split(",") if tool]
    for path in args.reuse.split(",") if args.reuse else []:  # later files win
        with open(path) as handle:
            kept = json.load(handle)
        for r in kept["rows"]:
            if r["tool"] not in tools:
                r.setdefault("command", kept["command"])
                rows = [o for o in rows if (o["model"], o["tool"]) != (r["model"], r["tool"])]
                rows.append(r)
    for model in args.models.split(","):
        for tool in tools:
            done = subprocess.run(_child_command(model, tool, args), capture_output=True,
                                  text=True)  # fmt: skip
            if done.returncode:
                print(f"[{model} {tool}] failed:\n{done.stderr[-2000:]}", file=sys.stderr)
                continue
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(f"[{model} {tool}] done (load {rows[-1]['load_end']:.1f})", file=sys.stderr)
    summary = summarise(rows)
    print_table(summary)
    if args.out and rows:
        from cislens.utils.files import write_text

        command = " ".join(["python", *sys.argv])
        record = {"command": command, "threads": 1, "clock": "process", "rows": rows,
                  "summary": summary}  # fmt: skip
        write_text(args.out + ".json", json.dumps(record, indent=1, default=str))
        lines = [",".join(summary[0])] if summary else []
        lines += [",".join(str(v).replace(",", ";") for v in s.values()) for s in summary]
        sources = sorted({r["command"] for r in rows if "command" in r})
        comments = [f"# {command}"] + [f"# rows measured by: {c}" for c in sources]
        write_text(args.out + ".csv", "\n".join(lines + comments) + "\n")
    return summary


if __name__ == "__main__":
    main()
