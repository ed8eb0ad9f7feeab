"""Benchmark cislens ``deeplift_shap`` on Basset (1 kb) or LabCNN next to tangermeme and captum.

Usage::

    python benchmarks/deeplift.py                         # 4 sequences, 20 shuffles, CPU
    python benchmarks/deeplift.py --n-seqs 16 --device cuda --out deeplift.json
    python benchmarks/deeplift.py --tools cislens --rules rescale,genomics_default
    python benchmarks/deeplift.py --model labcnn --length 200 --n-seqs 32 \
        --tools cislens,cislens_exact,floor,tangermeme

A Basset with random weights (``cislens.models.Basset``, 164 tasks, eval mode; ``--model
labcnn``: ``LabCNN``, 3 tasks) explains output 0 of uniform random 1 kb sequences against the
same 20 dinucleotide shuffles per sequence (made once by
``cislens.shuffle.dinucleotide_shuffle`` and handed to every tool). Each job runs in a fresh
child process: it warms up on one sequence, times ``--repeats`` calls and reports the
best time per sequence and the peak memory of a call (on CUDA ``max_memory_allocated``; on the
CPU the rise of the peak resident set, ``VmHWM`` after a reset through
``/proc/self/clear_refs``, Linux only). It also reports the completeness error of the returned
scores, ``max_i |sum(attr_i) - (f(x_i) - mean_j f(r_ij))| / |f(x_i) - mean_j f(r_ij)|``,
which exposes maps that break summation-to-delta (captum's max-pool rule does on Basset).
Extra tools: ``cislens_exact`` (the difference-network path, ``fast=False``) and ``floor`` (one
forward and one backward pass, input gradient only, over all example-reference pairs). Torch runs
``--threads`` threads (default 1), set after the shuffles (numba's parallel shuffles reset it).
For the one-table comparison of all methods see ``benchmarks/run_all.py``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import warnings

import torch
from _memory import reset_peak_rss, status_kib


def make_data(args):
    from cislens.models import Basset, LabCNN
    from cislens.shuffle import dinucleotide_shuffle

    g = torch.Generator().manual_seed(0)
    tokens = torch.randint(0, 4, (args.n_seqs, args.length), generator=g)
    X = torch.nn.functional.one_hot(tokens, 4).permute(0, 2, 1).float()
    R = dinucleotide_shuffle(X, n=args.n_shuffles, random_state=0)
    torch.set_num_threads(args.threads)  # after the shuffles, which reset it
    if args.model == "labcnn":
        return LabCNN(n_tasks=3, input_length=args.length, random_state=0).eval(), X, R
    model = Basset(n_tasks=164, input_length=args.length, random_state=0).eval()
    return model, X, R


def run_tool(tool: str, rule: str, model, X, R, args):
    device = args.device
    if tool in ("cislens", "cislens_exact"):
        from cislens.attribution.deeplift import deeplift_shap

        return deeplift_shap(
            model,
            X,
            target=0,
            baselines=R,
            rule=rule,
            device=device,
            batch_size=args.batch_size,
            on_check_failure="warn",
            fast=None if tool == "cislens" else False,
        )
    if tool == "floor":
        net, rows = model.to(device), R.flatten(0, 1)
        grads = []
        for start in range(0, rows.shape[0], args.batch_size):
            batch = rows[start : start + args.batch_size].to(device).requires_grad_(True)
            (g,) = torch.autograd.grad(net(batch)[:, 0].sum(), batch)
            grads.append(g.detach().cpu())
        # gradient x (x - r), averaged: not DeepLIFT, only to time the floor
        diff = X[:, None] - R
        return (torch.cat(grads).view(R.shape) * diff).mean(1).sum(1, keepdim=True) * X
    if tool == "tangermeme":
        from tangermeme.deep_lift_shap import deep_lift_shap

        return deep_lift_shap(
            model,
            X,
            references=R,
            target=0,
            device=device,
            batch_size=args.batch_size,
            warning_threshold=1e9,
        )
    import captum.attr as attr

    net = model.to(device)
    explainer = attr.DeepLiftShap(net)
    out = []
    for i in range(X.shape[0]):  # captum shares baselines across a batch: one sequence at a time
        a = explainer.attribute(X[i : i + 1].to(device), baselines=R[i].to(device), target=0)
        out.append(a.detach().sum(1, keepdim=True).cpu() * X[i : i + 1])
    return torch.cat(out)


def completeness_error(model, X, R, attr) -> float:
    with torch.no_grad():
        model = model.cpu().double()
        fx = model(X.double())[:, 0]
        fr = model(R.flatten(0, 1).double())[:, 0].view(X.shape[0], -1).mean(1)
        model.float()
    delta = fx - fr
    return float(((attr.double().sum((1, 2)) - delta).abs() / delta.abs()).max())


def measure(tool: str, rule: str, args) -> dict:
    warnings.simplefilter("ignore")
    model, X, R = make_data(args)
    run_tool(tool, rule, model, X[:1], R[:1], args)  # warm-up
    cuda = args.device.startswith("cuda")
    best = float("inf")
    peak_mib = None
    for _ in range(args.repeats):
        base = None
        if cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
        elif reset_peak_rss():
            base = status_kib("VmRSS")
        start = time.perf_counter()
        attr = run_tool(tool, rule, model, X, R, args)
        if cuda:
            torch.cuda.synchronize()
            peak_mib = (torch.cuda.max_memory_allocated() - base) / 2**20
        elif base is not None:
            peak_mib = (status_kib("VmHWM") - base) / 2**10
        best = min(best, time.perf_counter() - start)
    return {
        "tool": tool,
        "rule": rule if tool.startswith("cislens") else "rescale",
        "seconds_per_sequence": best / X.shape[0],
        "peak_memory_mib": peak_mib,
        "completeness_error": completeness_error(model, X, R, attr),
    }


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-seqs", type=int, default=4)
    parser.add_argument("--length", type=int, default=1000)
    parser.add_argument("--n-shuffles", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=64, help="forward rows per batch")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--model", choices=("basset", "labcnn"), default="basset")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--tools", default="cislens,tangermeme,captum")
    parser.add_argument("--rules", default="rescale", help="cislens rules, comma-separated")
    parser.add_argument("--out", help="write the rows as JSON here")
    parser.add_argument("--job", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv=None) -> list[dict]:
    args = parse_args(argv)
    if args.job:
        tool, rule = args.job.split(":")
        print(json.dumps(measure(tool, rule, args)))
        return []
    jobs = []
    for tool in args.tools.split(","):
        rules = args.rules.split(",") if tool.startswith("cislens") else ["rescale"]
        jobs.extend((tool, rule) for rule in rules)
    rows = []
    passthrough = [
        f"--n-seqs={args.n_seqs}",
        f"--length={args.length}",
        f"--n-shuffles={args.n_shuffles}",
        f"--batch-size={args.batch_size}",
        f"--repeats={args.repeats}",
        f"--device={args.device}",
        f"--model={args.model}",
        f"--threads={args.threads}",
    ]
    for tool, rule in jobs:
        command = [sys.executable, __file__, *passthrough, "--job", f"{tool}:{rule}"]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode:
            print(f"{tool} ({rule}) failed:\n{done.stderr[-2000:]}", file=sys.stderr)
            continue
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    print(f"{'tool':<14} {'rule':<17} {'s/seq':>8} {'seq/s':>8} {'peak MiB':>9} "
          f"{'completeness err':>17}")
    for row in rows:
        peak = "n/a" if row["peak_memory_mib"] is None else f"{row['peak_memory_mib']:.0f}"
        print(
            f"{row['tool']:<14} {row['rule']:<17} {row['seconds_per_sequence']:>8.3f} "
            f"{1 / row['seconds_per_sequence']:>8.2f} {peak:>9} "
            f"{row['completeness_error']:>17.2e}"
        )
    if args.out:
        with open(args.out, "w") as handle:
            json.dump(rows, handle, indent=2)
    return rows


if __name__ == "__main__":
    main()
