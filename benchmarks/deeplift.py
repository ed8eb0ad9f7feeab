"""DeepLiftShap: cislens against its floor, tangermeme and captum, in CPU process time.

Usage::

    python benchmarks/deeplift.py              # Basset 1 kb / 2 kb, DeepSTARR-like; 1 and 4 seqs
    python benchmarks/deeplift.py --models basset --n-seqs 4 --tools floor,cislens
    python benchmarks/deeplift.py --out benchmarks/results/deeplift.json

Models (``benchmarks/bench_models.py``, random weights, eval mode): ``basset`` (Basset, 164
tasks, 1 kb), ``basset2k`` (the same at 2 kb), ``deepstarr`` (DeepSTARR-like, 249 bp, batch norm,
dense layers), ``labcnn`` (200 bp). Each explains output 0 of uniform random sequences against
the same 20 dinucleotide shuffles per sequence (``cislens.shuffle.dinucleotide_shuffle``, made
once and handed to every tool).

Tools, each in a fresh child process with one torch thread (``--threads``):

- ``floor``: one forward and one backward pass (input gradient only) through the plain model
  over all example-reference pairs, ``--batch-size`` rows per batch: what any DeepLiftShap must
  at least do. The ``floor ratio`` of a tool is its best time over the floor's best, the floor
  timed again in the tool's own process, interleaved with it (floor, tool, floor, tool, ...),
  so that both see the same load on a shared machine (``floor_ratio_separate``: over the
  separate ``floor`` job's time, which drifts with the load between jobs).
- ``cislens``: ``deeplift_shap`` (its fast path), ``batch_size=--batch-size`` forward rows.
- ``tangermeme``: ``deep_lift_shap`` at its own default ``batch_size=32`` pairs (``tangermeme``)
  and at ours (``tangermeme@ours``: ``--batch-size / 2`` pairs, i.e. the same forward rows).
- ``captum``: ``DeepLiftShap``, one sequence per call with its 20 references as the baselines
  (captum shares baselines across a batch, so one sequence at a time is its only exact use).

Timing: ``time.process_time()`` of the child (all its threads), after a warm-up call on one
sequence; ``--repeats`` calls, the best and the median kept; ``os.getloadavg()`` is recorded
before and after each job (CPU time is steadier than the wall clock on a shared machine, but a
loaded machine still slows memory-bound work). Peak memory: the rise of the peak resident set
during a call (``VmHWM`` after a reset through ``/proc/self/clear_refs``; Linux), else n/a; it
leaves out memory held from the warm-up call, such as cislens's fast-path workspace kept with
its cached graph (at most ``pairs.KEEP_WORKSPACE_BYTES``).
Checks: the completeness error of each tool's map,
``max_i |sum(attr_i) - (f(x_i) - mean_j f(r_ij))| / |f(x_i) - mean_j f(r_ij)|`` (float64
forward), and for cislens the equality with its exact path: the float64 multipliers of the
first sequence's pairs by the fast path against ``fast=False`` (the difference network),
``max |a - b| / max |b|``.

The rows go to ``--out`` as JSON (with the command that made them); ``benchmarks/targets.py``
reads them for the #26 summary.
"""

from __future__ import annotations

import argparse
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
from bench_models import make_bench_model

HERE = Path(__file__).resolve().parent
N_SHUFFLES = 20
TOOLS = ("floor", "cislens", "tangermeme", "tangermeme@ours", "captum")


def make_data(name: str, n_seqs: int, threads: int):
    from cislens.shuffle import dinucleotide_shuffle

    model, length, _ = make_bench_model(name)
    g = torch.Generator().manual_seed(0)
    tokens = torch.randint(0, 4, (n_seqs, length), generator=g)
    X = torch.nn.functional.one_hot(tokens, 4).permute(0, 2, 1).float().contiguous()
    R = dinucleotide_shuffle(X, n=N_SHUFFLES, random_state=0)
    torch.set_num_threads(threads)  # after the shuffles (numba's parallel shuffles reset it)
    return model, X, R


def floor(model, X, R, batch_size: int) -> torch.Tensor:
    rows = R.flatten(0, 1)
    grads = []
    for start in range(0, rows.shape[0], batch_size):
        batch = rows[start : start + batch_size].clone().requires_grad_(True)
        (g,) = torch.autograd.grad(model(batch)[:, 0].sum(), batch)
        grads.append(g)
    # gradient x (x - r), averaged: not DeepLIFT, only to time the floor
    return (torch.cat(grads).view(R.shape) * (X[:, None] - R)).mean(1)


def run_tool(tool: str, model, X, R, batch_size: int) -> torch.Tensor:
    if tool == "floor":
        return floor(model, X, R, batch_size)
    if tool == "cislens":
        from cislens.attribution.deeplift_engine import deeplift_shap

        return deeplift_shap(
            model,
            X,
            target=0,
            baselines=R,
            batch_size=batch_size,
            device="cpu",
            on_check_failure="warn",
        )
    if tool.startswith("tangermeme"):
        from tangermeme.deep_lift_shap import deep_lift_shap

        pairs = 32 if tool == "tangermeme" else max(1, batch_size // 2)
        return deep_lift_shap(
            model,
            X,
            references=R,
            target=0,
            device="cpu",
            batch_size=pairs,
            warning_threshold=1e9,
        )
    import captum.attr as attr

    explainer = attr.DeepLiftShap(model)
    out = [
        explainer.attribute(X[i : i + 1], baselines=R[i], target=0).detach().sum(1, keepdim=True)
        * X[i : i + 1]
        for i in range(X.shape[0])
    ]
    return torch.cat(out)


def completeness_error(model, X, R, attr) -> float:
    with torch.no_grad():
        net = model.double()
        fx = net(X.double())[:, 0]
        fr = net(R.flatten(0, 1).double())[:, 0].view(X.shape[0], -1).mean(1)
        model.float()
    delta = fx - fr
    return float(((attr.double().sum((1, 2)) - delta).abs() / delta.abs()).max())


def exact_difference(model, X, R) -> float:
    """``max |m_fast - m_exact| / max |m_exact|``: the float64 multipliers of the first
    sequence's pairs by the fast path and by the difference network (``fast=False``). (The
    float32 maps returned by ``deeplift_shap`` hide differences below float32 rounding.)"""
    from cislens.attribution.deeplift_engine.pairs import deeplift_pairs

    kwargs = dict(target=0, dtype=torch.float64, device="cpu")
    fast, _ = deeplift_pairs(model, X[:1], R[:1], fast=True, **kwargs)
    exact, _ = deeplift_pairs(model, X[:1], R[:1], fast=False, **kwargs)
    return float((fast - exact).abs().max() / exact.abs().max())


def measure(args) -> dict:
    warnings.simplefilter("ignore")
    args.n_seqs = int(args.n_seqs)
    load_before = os.getloadavg()
    model, X, R = make_data(args.model, args.n_seqs, args.threads)
    run_tool(args.tool, model, X[:1], R[:1], args.batch_size)  # warm-up
    floor(model, X, R, args.batch_size)
    times, floor_times, peak_mib = [], [], None
    for _ in range(args.repeats):
        # the floor again, interleaved in this process: its ratio is then taken under the
        # same load, cache and allocator state as the tool's (a shared machine drifts)
        start = time.process_time()
        floor(model, X, R, args.batch_size)
        floor_times.append(time.process_time() - start)
        base = status_kib("VmRSS") if reset_peak_rss() else None
        start = time.process_time()
        attr = run_tool(args.tool, model, X, R, args.batch_size)
        times.append(time.process_time() - start)
        if base is not None:
            peak_mib = (status_kib("VmHWM") - base) / 2**10
    row = {
        "model": args.model,
        "n_seqs": args.n_seqs,
        "tool": args.tool,
        "batch_size": args.batch_size,
        "cpu_seconds_best": min(times),
        "cpu_seconds_median": statistics.median(times),
        "floor_seconds_best": min(floor_times),
        "floor_seconds_median": statistics.median(floor_times),
        "floor_ratio_interleaved": min(times) / min(floor_times),
        "floor_ratio_interleaved_median": statistics.median(times) / statistics.median(floor_times),
        "seconds_per_sequence": min(times) / args.n_seqs,
        "repeats": args.repeats,
        "peak_memory_mib": peak_mib,
        "completeness_error": None,
        "exact_difference": None,
        "loadavg_before": load_before[0],
        "loadavg_after": os.getloadavg()[0],
    }
    if args.tool != "floor":
        row["completeness_error"] = completeness_error(model, X, R, attr)
    if args.tool == "cislens" and args.n_seqs == 1:
        row["exact_difference"] = exact_difference(model, X, R)
    return row


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="basset,basset2k,deepstarr")
    parser.add_argument("--n-seqs", default="1,4", help="comma-separated sequence counts")
    parser.add_argument("--tools", default=",".join(TOOLS))
    parser.add_argument("--batch-size", type=int, default=128, help="forward rows per batch")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", help="write the rows as JSON here")
    parser.add_argument("--job", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--tool", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def run_jobs(args) -> list[dict]:
    rows = []
    for model in args.models.split(","):
        for n in (int(v) for v in args.n_seqs.split(",")):
            for tool in args.tools.split(","):
                command = [
                    sys.executable,
                    __file__,
                    "--job",
                    f"--model={model}",
                    f"--tool={tool}",
                    f"--n-seqs={n}",
                    f"--batch-size={args.batch_size}",
                    f"--repeats={args.repeats}",
                    f"--threads={args.threads}",
                ]
                done = subprocess.run(command, capture_output=True, text=True)
                if done.returncode:
                    print(f"{model} n={n} {tool} failed:\n{done.stderr[-2000:]}", file=sys.stderr)
                    continue
                row = json.loads(done.stdout.strip().splitlines()[-1])
                rows.append(row)
                print(
                    f"  {model} n={n} {tool}: {row['cpu_seconds_best']:.3f} CPU s "
                    f"(load {row['loadavg_before']:.1f})",
                    file=sys.stderr,
                    flush=True,
                )
    add_ratios(rows)
    return rows


def add_ratios(rows: list[dict]) -> None:
    """``floor_ratio`` (best time over the floor's best, both timed interleaved in the tool's
    own process; ``floor_ratio_separate``: over the separate floor job's) and ``vs_cislens``
    (time over cislens')."""
    by = {(r["model"], r["n_seqs"], r["tool"]): r["cpu_seconds_best"] for r in rows}
    for row in rows:
        key = (row["model"], row["n_seqs"])
        base, ours = by.get((*key, "floor")), by.get((*key, "cislens"))
        row["floor_ratio_separate"] = row["cpu_seconds_best"] / base if base else None
        row["floor_ratio"] = row.get("floor_ratio_interleaved", row["floor_ratio_separate"])
        row["vs_cislens"] = row["cpu_seconds_best"] / ours if ours else None


def table(rows: list[dict]) -> str:
    def num(value, fmt):
        return "n/a" if value is None else format(value, fmt)

    lines = [
        f"{'model':<10} {'n':>3} {'tool':<16} {'CPU s/seq':>9} {'median s':>9} "
        f"{'floor x':>8} {'vs cislens':>10} {'peak MiB':>8} {'complete err':>12} "
        f"{'= exact':>8} {'load':>5}"
    ]
    for r in rows:
        lines.append(
            f"{r['model']:<10} {r['n_seqs']:>3} {r['tool']:<16} "
            f"{r['seconds_per_sequence']:>9.3f} {r['cpu_seconds_median']:>9.3f} "
            f"{num(r['floor_ratio'], '.2f'):>8} {num(r['vs_cislens'], '.2f'):>10} "
            f"{num(r['peak_memory_mib'], '.0f'):>8} {num(r['completeness_error'], '.1e'):>12} "
            f"{num(r['exact_difference'], '.0e'):>8} {r['loadavg_before']:>5.1f}"
        )
    return "\n".join(lines)


def main(argv=None) -> list[dict]:
    args = parse_args(argv)
    if args.job:
        print(json.dumps(measure(args)))
        return []
    rows = run_jobs(args)
    print(table(rows))
    if args.out:
        given = sys.argv[1:] if argv is None else argv
        command = " ".join(["python benchmarks/deeplift.py", *given])
        payload = {
            "command": command,
            "clock": "process_time",
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "torch": torch.__version__,
            "rows": rows,
        }
        Path(args.out).write_text(json.dumps(payload, indent=2))
    return rows


if __name__ == "__main__":
    main()
