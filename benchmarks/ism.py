"""Benchmark cislens ``ism`` (fast and naive) next to tangermeme ``saturation_mutagenesis``.

Usage::

    python benchmarks/ism.py                                  # all models, 1-2 sequences, CPU
    python benchmarks/ism.py --models basset --n-seqs 2 --out ism.json
    python benchmarks/ism.py --tools cislens_fast,cislens_naive

Models (random weights, eval mode, uniform random sequences, target 0): ``Basset`` (164 tasks)
on 1 kb, ``BPNetLike`` (default 64 filters, 8 dilated layers, 3 tasks) on 1 kb, ``LabCNN`` (3
tasks) on 200 bp. Tools:

- ``cislens_fast``: ``ism(..., fast=True)`` (window-restricted ISM);
- ``cislens_naive``: ``ism(..., fast=False)``;
- ``tm_default``: tangermeme ``saturation_mutagenesis`` as shipped (``fast=True``, which only
  tries its fast path for jobs it expects to take over 30 s, and only if it is faster);
- ``tm_forced``: the same with that 30 s threshold set to 0 (its fast path always attempted);
- ``tm_naive``: tangermeme with ``fast=False``.

tangermeme gets a copy of the model without cislens' input-checking forward pre-hook, which
would otherwise make it refuse its fast path. All jobs run in one process, one after another,
with the same ``batch_size`` and ``--threads``.
The table gives seconds per sequence, the speed-up over ``cislens_naive``, the rise of the peak
resident set during the call (``VmHWM`` after a reset through ``/proc/self/clear_refs``; Linux
only) and the largest absolute difference from ``cislens_naive`` (all tools return tangermeme's
centred, projected scores).
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
import warnings

import torch
from _memory import reset_peak_rss, status_kib

TOOLS = ("cislens_fast", "cislens_naive", "tm_default", "tm_forced", "tm_naive")
MODELS = ("basset", "bpnet", "labcnn")






def make_model(name: str):
    from cislens.models import Basset, BPNetLike, LabCNN

    if name == "basset":
        return Basset(n_tasks=164, input_length=1000, random_state=0).eval(), 1000
    if name == "bpnet":
        return BPNetLike(n_tasks=3, random_state=0).eval(), 1000
    return LabCNN(n_tasks=3, input_length=200, random_state=0).eval(), 200


def run_tool(tool: str, model, X, batch_size: int) -> torch.Tensor:
    if tool.startswith("cislens"):
        from cislens.attribution.ism import ism

        return ism(model, X, target=0, batch_size=batch_size, device="cpu",
                   fast=tool == "cislens_fast")
    import tangermeme.saturation_mutagenesis as tm

    # cislens models check their input in a forward pre-hook; tangermeme will not capture a
    # model with hooks, so it gets a hook-free copy (same weights).
    model = copy.deepcopy(model)
    for module in model.modules():
        module._forward_pre_hooks.clear()

    saved = tm._FAST_MIN_SECONDS
    if tool == "tm_forced":
        tm._FAST_MIN_SECONDS = 0.0
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out = tm.saturation_mutagenesis(
                model, X, target=0, batch_size=batch_size, device="cpu",
                end=X.shape[-1], fast=tool != "tm_naive",
            ).float()
        for warning in caught:  # e.g. tangermeme falling back to fast=False, and why
            if "fast" in str(warning.message):
                print(f"[{tool}] {warning.message}", file=sys.stderr)
        return out
    finally:
        tm._FAST_MIN_SECONDS = saved


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--tools", default=",".join(TOOLS))
    parser.add_argument("--n-seqs", type=int, default=None,
                        help="sequences per model (default 1 for Basset/BPNet, 4 for LabCNN)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (default 1: steadier timings on a shared machine)")
    parser.add_argument("--out", default=None, help="write the rows as JSON here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rows = []
    for name in args.models.split(","):
        model, length = make_model(name)
        n = args.n_seqs or (4 if name == "labcnn" else 1)
        g = torch.Generator().manual_seed(0)
        tokens = torch.randint(0, 4, (n, length), generator=g)
        X = torch.nn.functional.one_hot(tokens, 4).permute(0, 2, 1).float().contiguous()
        results, naive = {}, None
        tools = args.tools.split(",")
        if "cislens_naive" in tools:  # the reference first
            tools = ["cislens_naive"] + [t for t in tools if t != "cislens_naive"]
        for tool in tools:
            base = status_kib("VmRSS") if reset_peak_rss() else None
            began = time.perf_counter()
            out = run_tool(tool, model, X, args.batch_size)
            seconds = (time.perf_counter() - began) / n
            peak = status_kib("VmHWM")
            mib = (peak - base) / 1024 if base is not None and peak is not None else float("nan")
            if tool == "cislens_naive":
                naive = out
            diff = float((out - naive).abs().max()) if naive is not None else float("nan")
            results[tool] = seconds
            rows.append({"model": name, "length": length, "tool": tool, "s_per_seq": seconds,
                         "peak_mib": mib, "max_abs_diff": diff})
        ref = results.get("cislens_naive")
        for row in rows:
            if row["model"] == name:
                row["speedup_vs_naive"] = ref / row["s_per_seq"] if ref else float("nan")
    print(f"{'model':8} {'tool':14} {'s/seq':>9} {'x naive':>8} {'peak MiB':>9} {'max|diff|':>10}")
    for r in rows:
        print(f"{r['model']:8} {r['tool']:14} {r['s_per_seq']:9.3f} {r['speedup_vs_naive']:8.2f} "
              f"{r['peak_mib']:9.1f} {r['max_abs_diff']:10.2e}")
    if args.out:
        with open(args.out, "w") as handle:
            json.dump(rows, handle, indent=1)
    return rows


if __name__ == "__main__":
    main()
