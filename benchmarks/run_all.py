"""One table of cislens attribution timings next to the peer tools (``make bench``).

Usage::

    python benchmarks/run_all.py                                  # default sizes, CPU
    python benchmarks/run_all.py --dls-seqs 4 --ism-seqs 1 --labcnn-seqs 64
    python benchmarks/run_all.py --device cuda --dls-seqs 64      # prints sequences per second
    python benchmarks/run_all.py --only deeplift_shap --models basset

Rows (random weights, eval mode, uniform random sequences, target 0; the same inputs and, for
DeepLiftShap, the same 20 dinucleotide shuffles per sequence for every tool):

- ``ism``: cislens window-restricted ISM against tangermeme ``saturation_mutagenesis`` with its
  fast path forced (Basset 1 kb, BPNetLike 1 kb) or with ``fast=False`` and as shipped (LabCNN
  200 bp); the exact implementation is cislens naive ISM.
- ``deeplift_shap``: cislens ``deeplift_shap`` (its fast path) against tangermeme
  ``deep_lift_shap`` and captum ``DeepLiftShap`` (Basset 1 kb, LabCNN 200 bp); the exact
  implementation is cislens' difference network (``fast=False``). The *floor* is one forward
  and one backward pass (input gradient only) over all example-reference pairs through the
  plain model, at the same batch size, measured in the same run.
- ``grad_x_input``: gradient times input on Basset 1 kb against tangermeme ``saliency`` and
  captum ``InputXGradient``; the exact implementation is ``torch.autograd.grad`` on the model.

Method. Every measurement runs in a fresh child process, single-threaded by default
(``--threads``): it builds the model and data, warms up on one sequence (not for the naive ISM
reference, which is only run once), then times ``--repeats`` calls and keeps the best. The
timing is wall-clock (``--clock process`` uses the process CPU time, steadier on a shared
machine). Peak memory is the rise of the peak resident set during the timed call (``VmHWM``
after resetting it through ``/proc/self/clear_refs``; Linux) on the CPU and
``torch.cuda.max_memory_allocated`` on CUDA. Batch sizes: ``--batch-size`` is passed to every
tool as is. For DeepLiftShap it counts forward rows (inputs and references) in cislens and
example-reference pairs in tangermeme (two forward rows each), so at the same number tangermeme
holds about twice the rows per batch.

The table goes to stdout; the rows also go to ``benchmarks/results/run_all.csv`` (``--out``).
"""

from __future__ import annotations

import argparse
import copy
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch
from _memory import reset_peak_rss, status_kib

HERE = Path(__file__).resolve().parent
MODELS = ("basset", "bpnet", "labcnn")
METHODS = ("ism", "deeplift_shap", "grad_x_input")
N_SHUFFLES = 20

# (method, model) -> (peer tools, exact tool, floor tool or None)
PLAN = {
    ("ism", "basset"): (("tm_forced", "tm_default"), "cislens_exact", None),
    ("ism", "bpnet"): (("tm_forced",), "cislens_exact", None),
    ("ism", "labcnn"): (("tm_naive", "tm_default"), "cislens_exact", None),
    ("deeplift_shap", "basset"): (("tangermeme", "captum"), "cislens_exact", "floor"),
    ("deeplift_shap", "labcnn"): (("tangermeme", "captum"), "cislens_exact", "floor"),
    ("grad_x_input", "basset"): (("tangermeme", "captum"), "autograd", None),
}


# --- measurement helpers ---------------------------------------------------------------------


def make_model(name: str, length: int):
    from cislens.models import Basset, BPNetLike, LabCNN

    if name == "basset":
        return Basset(n_tasks=164, input_length=length, random_state=0).eval()
    if name == "bpnet":
        return BPNetLike(n_tasks=3, random_state=0).eval()
    return LabCNN(n_tasks=3, input_length=length, random_state=0).eval()


def make_data(model_name: str, n: int, length: int, with_refs: bool):
    from cislens.shuffle import dinucleotide_shuffle

    g = torch.Generator().manual_seed(0)
    tokens = torch.randint(0, 4, (n, length), generator=g)
    X = torch.nn.functional.one_hot(tokens, 4).permute(0, 2, 1).float().contiguous()
    R = dinucleotide_shuffle(X, n=N_SHUFFLES, random_state=0) if with_refs else None
    return X, R


def hook_free(model):
    """A copy without cislens' input-checking forward pre-hooks (tangermeme's ISM fast path and
    some captum paths refuse models with hooks); same weights."""
    model = copy.deepcopy(model)
    for module in model.modules():
        module._forward_pre_hooks.clear()
    return model


# --- the tools -------------------------------------------------------------------------------


def run_ism(tool: str, model, X, args):
    if tool.startswith("cislens"):
        from cislens.attribution.ism import ism

        return ism(
            model,
            X,
            target=0,
            batch_size=args.batch_size,
            device=args.device,
            fast=tool == "cislens",
        )
    sys.path.insert(0, str(HERE))
    import ism as ism_bench  # benchmarks/ism.py: tangermeme with its fast path as asked

    if args.device != "cpu":
        raise RuntimeError("the tangermeme ISM rows run on the CPU only (benchmarks/ism.py)")
    return ism_bench.run_tool(tool, model, X, args.batch_size)


def run_deeplift_shap(tool: str, model, X, R, args):
    device = args.device
    if tool in ("cislens", "cislens_exact"):
        from cislens.attribution.deeplift_engine import deeplift_shap

        return deeplift_shap(
            model,
            X,
            target=0,
            baselines=R,
            batch_size=args.batch_size,
            device=device,
            fast=None if tool == "cislens" else False,
            on_check_failure="warn",
        )
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
        ).float()
    if tool == "captum":
        import captum.attr as attr

        net = hook_free(model).to(device)
        explainer = attr.DeepLiftShap(net)
        out = []
        for i in range(X.shape[0]):  # captum shares baselines across a batch: one at a time
            x = X[i : i + 1].to(device)
            a = explainer.attribute(x, baselines=R[i].to(device), target=0)
            out.append(a.detach().sum(1, keepdim=True).cpu() * X[i : i + 1])
        return torch.cat(out)
    if tool == "floor":  # input gradient over every example-reference pair, plain model
        net = model.to(device)
        rows = R.flatten(0, 1)
        for start in range(0, rows.shape[0], args.batch_size):
            batch = rows[start : start + args.batch_size].to(device).requires_grad_(True)
            torch.autograd.grad(net(batch)[:, 0].sum(), batch)
        return None
    raise ValueError(tool)


def run_grad_x_input(tool: str, model, X, args):
    device = args.device
    if tool == "cislens":
        from cislens.attribution import METHODS as registry

        return registry["grad_x_input"](
            model, X, target=0, batch_size=args.batch_size, device=device
        )
    if tool == "tangermeme":
        from tangermeme.saliency import saliency

        return saliency(
            model, X, target=0, batch_size=args.batch_size, device=device, gradient_correction=False
        ).float()
    net = model.to(device)
    if tool == "captum":
        import captum.attr as attr

        explainer = attr.InputXGradient(hook_free(model).to(device))
        return explainer.attribute(X.to(device), target=0).detach().cpu()
    out = []  # "autograd": the definition
    for start in range(0, X.shape[0], args.batch_size):
        x = X[start : start + args.batch_size].to(device).requires_grad_(True)
        (g,) = torch.autograd.grad(net(x)[:, 0].sum(), x)
        out.append((g * x).detach().cpu())
    return torch.cat(out)


# --- one job in a child process ----------------------------------------------------------------


def sizes(method: str, model: str, args) -> tuple[int, int]:
    length = args.labcnn_length if model == "labcnn" else args.length
    if method == "ism":
        n = args.labcnn_seqs // 8 if model == "labcnn" else args.ism_seqs
    elif model == "labcnn":
        n = args.labcnn_seqs
    else:
        n = args.dls_seqs
    return max(1, n), length


def measure(method: str, model_name: str, tool: str, args) -> dict:
    warnings.simplefilter("ignore")
    n, length = sizes(method, model_name, args)
    model = make_model(model_name, length)
    X, R = make_data(model_name, n, length, with_refs=method == "deeplift_shap")
    torch.set_num_threads(args.threads)  # after the shuffles: numba resets torch's thread count

    def call(X_, R_):
        if method == "ism":
            return run_ism(tool, model, X_, args)
        if method == "deeplift_shap":
            return run_deeplift_shap(tool, model, X_, R_, args)
        return run_grad_x_input(tool, model, X_, args)

    cuda = args.device.startswith("cuda")
    repeats = args.repeats
    if not (method == "ism" and tool == "cislens_exact"):
        call(X[:1], None if R is None else R[:1])  # warm-up
    else:
        repeats = 1
    clock = time.process_time if args.clock == "process" else time.perf_counter
    best, peak_mib, out = float("inf"), None, None
    for _ in range(repeats):
        base = None
        if cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
        elif reset_peak_rss():
            base = status_kib("VmRSS")
        start = clock()
        out = call(X, R)
        if cuda:
            torch.cuda.synchronize()
        elapsed = clock() - start
        if cuda:
            peak_mib = (torch.cuda.max_memory_allocated() - base) / 2**20
        elif base is not None:
            peak_mib = (status_kib("VmHWM") - base) / 2**10
        best = min(best, elapsed)
    row = {
        "method": method,
        "model": model_name,
        "tool": tool,
        "n_seqs": n,
        "length": length,
        "s_per_seq": best / n,
        "peak_mib": peak_mib,
    }
    if out is not None and args.save:
        torch.save(out.detach().cpu().float(), args.save)
    return row


def child(job: tuple[str, str, str], args, save: str | None) -> dict | None:
    method, model, tool = job
    command = [
        sys.executable,
        __file__,
        "--job",
        f"{method}:{model}:{tool}",
        f"--dls-seqs={args.dls_seqs}",
        f"--ism-seqs={args.ism_seqs}",
        f"--labcnn-seqs={args.labcnn_seqs}",
        f"--length={args.length}",
        f"--labcnn-length={args.labcnn_length}",
        f"--batch-size={args.batch_size}",
        f"--repeats={args.repeats}",
        f"--device={args.device}",
        f"--threads={args.threads}",
        f"--clock={args.clock}",
    ]
    if save:
        command.append(f"--save={save}")
    began = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        print(f"[{method} {model} {tool}] failed:\n{done.stderr[-1500:]}", file=sys.stderr)
        return None
    row = json.loads(done.stdout.strip().splitlines()[-1])
    print(
        f"  {method:14} {model:7} {tool:14} {row['s_per_seq']:9.4f} s/seq "
        f"({time.perf_counter() - began:.0f} s in all)",
        file=sys.stderr,
        flush=True,
    )
    return row


# --- the table -------------------------------------------------------------------------------


def _diff(a, b) -> float:
    if a is None or b is None:
        return float("nan")
    return float((a - b).abs().max())


def compare(method: str, model: str, args, workdir: str) -> list[dict]:
    peers, exact_tool, floor_tool = PLAN[(method, model)]
    available = []
    for peer in peers:
        package = "captum" if peer == "captum" else "tangermeme"
        try:
            __import__(package)
            available.append(peer)
        except ImportError:
            print(f"{package} is not installed: no {peer} row", file=sys.stderr)
    tools = ["cislens", *available, exact_tool] + ([floor_tool] if floor_tool else [])
    rows, outputs = {}, {}
    for tool in tools:
        path = os.path.join(workdir, f"{method}_{model}_{tool}.pt")
        row = child((method, model, tool), args, path)
        if row is None:
            continue
        rows[tool] = row
        if os.path.exists(path):
            outputs[tool] = torch.load(path, weights_only=True)
    ours, exact = rows.get("cislens"), outputs.get(exact_tool)
    floor = rows.get(floor_tool) if floor_tool else None
    table = []
    for peer in available or [None]:
        peer_row = rows.get(peer) if peer else None
        record = {
            "method": method,
            "model": model,
            "length": ours["length"] if ours else None,
            "n_seqs": ours["n_seqs"] if ours else None,
            "device": args.device,
            "peer": peer or "-",
            "cislens_s_per_seq": ours["s_per_seq"] if ours else float("nan"),
            "peer_s_per_seq": peer_row["s_per_seq"] if peer_row else float("nan"),
            "cislens_peak_mib": ours["peak_mib"] if ours else None,
            "peer_peak_mib": peer_row["peak_mib"] if peer_row else None,
            "cislens_max_abs_diff": _diff(outputs.get("cislens"), exact),
            "peer_max_abs_diff": _diff(outputs.get(peer), exact) if peer else float("nan"),
            "exact": exact_tool,
            "floor_s_per_seq": floor["s_per_seq"] if floor else float("nan"),
        }
        record["ratio"] = record["peer_s_per_seq"] / record["cislens_s_per_seq"]
        record["x_floor"] = record["cislens_s_per_seq"] / record["floor_s_per_seq"]
        record["cislens_seqs_per_s"] = 1.0 / record["cislens_s_per_seq"]
        table.append(record)
    return table


def _mib(value) -> str:
    return "n/a" if value is None else f"{value:.0f}"


def print_table(records: list[dict]) -> None:
    header = (
        f"{'method':14} {'model':13} {'peer':11} {'cislens s/seq':>13} {'peer s/seq':>11} "
        f"{'ratio':>6} {'x floor':>7} {'seq/s':>8} {'peak MiB c|p':>13} "
        f"{'max|diff| c':>11} {'max|diff| p':>11}"
    )
    print(header)
    print("-" * len(header))
    for r in records:
        model = (
            f"{r['model']} {r['length'] // 1000}kb"
            if r["length"] and r["length"] >= 1000
            else f"{r['model']} {r['length']}bp"
        )
        floor = "" if r["x_floor"] != r["x_floor"] else f"{r['x_floor']:.2f}"
        print(
            f"{r['method']:14} {model:13} {r['peer']:11} {r['cislens_s_per_seq']:13.4f} "
            f"{r['peer_s_per_seq']:11.4f} {r['ratio']:6.2f} {floor:>7} "
            f"{r['cislens_seqs_per_s']:8.2f} "
            f"{_mib(r['cislens_peak_mib']) + '|' + _mib(r['peer_peak_mib']):>13} "
            f"{r['cislens_max_abs_diff']:11.2e} {r['peer_max_abs_diff']:11.2e}"
        )
    print(
        "ratio = peer s/seq / cislens s/seq; x floor = cislens / floor (one forward + backward "
        "over all pairs); max|diff| against the exact implementation (c: cislens, p: peer)."
    )


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default=",".join(METHODS), help="methods, comma-separated")
    parser.add_argument("--models", default=",".join(MODELS), help="models, comma-separated")
    parser.add_argument(
        "--dls-seqs",
        type=int,
        default=2,
        help="sequences for DeepLiftShap and grad x input on 1 kb models",
    )
    parser.add_argument("--ism-seqs", type=int, default=1, help="sequences for ISM on 1 kb models")
    parser.add_argument(
        "--labcnn-seqs",
        type=int,
        default=32,
        help="LabCNN sequences for DeepLiftShap (ISM uses an eighth)",
    )
    parser.add_argument("--length", type=int, default=1000, help="Basset / BPNetLike length")
    parser.add_argument("--labcnn-length", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads per job")
    parser.add_argument("--clock", choices=("wall", "process"), default="wall")
    parser.add_argument("--out", default=str(HERE / "results" / "run_all.csv"))
    parser.add_argument("--job", help=argparse.SUPPRESS)
    parser.add_argument("--save", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv=None) -> list[dict]:
    args = parse_args(argv)
    if args.job:
        method, model, tool = args.job.split(":")
        print(json.dumps(measure(method, model, tool, args)))
        return []
    methods, models = args.only.split(","), args.models.split(",")
    records = []
    with tempfile.TemporaryDirectory() as workdir:
        for method in methods:
            for model in models:
                if (method, model) in PLAN:
                    records.extend(compare(method, model, args, workdir))
    print_table(records)
    if args.out and records:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        with open(args.out, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(records[0]))
            writer.writeheader()
            writer.writerows(records)
        print(f"wrote {args.out}")
    return records


if __name__ == "__main__":
    main()
