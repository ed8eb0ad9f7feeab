"""Benchmark every registered attribution method on Basset (1 kb), next to captum and tangermeme.

Usage::

    python benchmarks/attribution.py                          # 4 sequences, ISM on 1
    python benchmarks/attribution.py --n-seqs 8 --ism-seqs 2 --device cuda --out bench.json
    python benchmarks/attribution.py --methods saliency,integrated_gradients --no-peers

A Basset with random weights (``cislens.models.Basset``, 164 tasks, eval mode) explains output 0
of uniform random 1 kb sequences. Each job runs in a fresh child process: it builds the model
and data, warms up on one sequence (except ISM, thousands of plain forward passes), then times
``--repeats`` calls and reports the best time per sequence and the peak memory of the call: on
CUDA ``torch.cuda.max_memory_allocated``, on the CPU the rise of the process's peak resident
set (``VmHWM`` after resetting it through ``/proc/self/clear_refs``; Linux).

Settings are the same for every tool: ``batch_size`` forward rows, IG with 50 Gauss-Legendre
steps from an all-zero baseline, DeepLiftShap with 20 dinucleotide shuffles, ISM over every
position (on ``--ism-seqs`` sequences, since it costs 3 L forward rows per sequence), GradCAM at
the last convolution. captum and tangermeme rows appear when those packages are importable
(``--no-peers`` skips them).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import numpy as np
import torch
from _memory import reset_peak_rss, status_kib

GRADCAM_LAYER = "conv3"  # Basset's last convolution


def random_one_hot(n_seqs: int, length: int, seed: int) -> torch.Tensor:
    tokens = np.random.default_rng(seed).integers(0, 4, size=(n_seqs, length))
    X = np.zeros((n_seqs, 4, length), dtype=np.float32)
    np.put_along_axis(X, tokens[:, None, :], 1.0, axis=1)
    return torch.from_numpy(X)


def build_model(args):
    from cislens.models import Basset

    model = Basset(n_tasks=args.n_tasks, input_length=args.length, random_state=0).eval()
    names = [name for name, module in model.named_modules() if isinstance(module, torch.nn.Conv1d)]
    return model, names[-1]


# ---------------------------------------------------------------------------------------------
# Jobs: (name, tool, method) -> a function (model, X, args, device) -> attributions


def cislens_job(method: str):
    def run(model, X, args, device, layer):
        from cislens.attribution import METHODS

        options = {"target": 0, "batch_size": args.batch_size, "device": device}
        if method in ("gradcam", "guided_gradcam"):
            options["layer"] = layer
        if method == "integrated_gradients":
            options.update(n_steps=50, baselines="zeros")
        if method in ("deeplift_shap",):
            options.update(n_shuffles=20, random_state=0)
        return METHODS[method](model, X, **options)

    return run


def tangermeme_jobs() -> dict:
    def ism(model, X, args, device, layer):
        from tangermeme.saturation_mutagenesis import saturation_mutagenesis

        return saturation_mutagenesis(
            model, X, target=0, batch_size=args.batch_size, device=device, fast=False
        )

    def ism_fast(model, X, args, device, layer):
        from tangermeme.saturation_mutagenesis import saturation_mutagenesis

        return saturation_mutagenesis(
            model, X, target=0, batch_size=args.batch_size, device=device, fast=True
        )

    def grad_x_input(model, X, args, device, layer):
        from tangermeme.saliency import saliency

        return saliency(
            model,
            X,
            target=0,
            batch_size=args.batch_size,
            device=device,
            gradient_correction=False,
        )

    def deeplift_shap(model, X, args, device, layer):
        from tangermeme.deep_lift_shap import deep_lift_shap

        return deep_lift_shap(
            model,
            X,
            target=0,
            batch_size=args.batch_size,
            n_shuffles=20,
            device=device,
            random_state=0,
            warning_threshold=1e9,
        )

    return {
        "ism": ism,
        "ism (fast=True)": ism_fast,
        "grad_x_input": grad_x_input,
        "deeplift_shap": deeplift_shap,
    }


def captum_jobs() -> dict:
    def on_device(model, X, device):
        return model.to(device), X.to(device).requires_grad_(True)

    def simple(cls_name):
        def run(model, X, args, device, layer):
            import captum.attr as attr

            model, X = on_device(model, X, device)
            explainer = getattr(attr, cls_name)(model)
            options = {"abs": False} if cls_name == "Saliency" else {}
            return explainer.attribute(X, target=0, **options).detach().cpu()

        return run

    def ig(model, X, args, device, layer):
        import captum.attr as attr

        model, X = on_device(model, X, device)
        out = attr.IntegratedGradients(model).attribute(
            X,
            baselines=torch.zeros_like(X),
            target=0,
            n_steps=50,
            method="gausslegendre",
            internal_batch_size=args.batch_size,
        )
        return out.detach().cpu()

    def gradcam(model, X, args, device, layer):
        import captum.attr as attr

        model, X = on_device(model, X, device)
        module = model.get_submodule(layer)
        raw = attr.LayerGradCam(model, module).attribute(X, target=0)
        up = attr.LayerAttribution.interpolate(raw, (X.shape[2],), "linear")
        return (up * X).detach().cpu()

    def guided_gradcam(model, X, args, device, layer):
        import captum.attr as attr

        model, X = on_device(model, X, device)
        explainer = attr.GuidedGradCam(model, model.get_submodule(layer))
        return explainer.attribute(X, target=0, interpolate_mode="linear").detach().cpu()

    def deeplift_shap(model, X, args, device, layer):
        import captum.attr as attr

        from cislens.shuffle import dinucleotide_shuffle

        model, _ = on_device(model, X, device)
        explainer = attr.DeepLiftShap(model)
        refs = dinucleotide_shuffle(X, n=20, random_state=0)
        outs = []
        for i in range(X.shape[0]):  # captum shares baselines across a batch: one at a time
            x = X[i : i + 1].to(device).requires_grad_(True)
            outs.append(explainer.attribute(x, baselines=refs[i].to(device), target=0))
        return torch.cat(outs).detach().cpu()

    return {
        "saliency": simple("Saliency"),
        "grad_x_input": simple("InputXGradient"),
        "integrated_gradients": ig,
        "deeplift_shap": deeplift_shap,
        "gradcam": gradcam,
        "guided_backprop": simple("GuidedBackprop"),
        "guided_gradcam": guided_gradcam,
    }


def all_jobs(methods, peers: bool) -> list[tuple[str, str]]:
    jobs = [(method, "cislens") for method in methods]
    if peers:
        for tool, table in (("tangermeme", tangermeme_jobs), ("captum", captum_jobs)):
            try:
                __import__(tool)
            except ImportError:
                print(f"{tool} not installed")
                continue
            for name in table():
                if name.split(" ")[0] in methods:
                    jobs.append((name, tool))
    return jobs


def find_job(name: str, tool: str):
    if tool == "cislens":
        return cislens_job(name)
    return (tangermeme_jobs if tool == "tangermeme" else captum_jobs)()[name]


# ---------------------------------------------------------------------------------------------
# Measuring one job in this process


def measure(name: str, tool: str, args) -> dict:
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    model, layer = build_model(args)
    n_seqs = args.ism_seqs if name.startswith("ism") else args.n_seqs
    X = random_one_hot(n_seqs, args.length, args.seed)
    run = find_job(name, tool)
    if not name.startswith("ism"):  # ISM is thousands of forward passes: no warm-up needed
        run(model, X[:1], args, device, layer)  # warm-up (compilation, allocator, caches)
    model.to("cpu")
    times, peak_mib = [], float("nan")
    for repeat in range(args.repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
        else:
            reset = reset_peak_rss()
            base = status_kib("VmRSS")
        tic = time.perf_counter()
        out = run(model, X, args, device, layer)
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - tic)
        if repeat == 0:
            if device.type == "cuda":
                peak_mib = (torch.cuda.max_memory_allocated() - base) / 2**20
            elif reset and base is not None:
                peak_mib = (status_kib("VmHWM") - base) / 2**10
        model.to("cpu")
        assert tuple(out.shape) == tuple(X.shape), (name, tool, tuple(out.shape))
    return {
        "method": name,
        "tool": tool,
        "n_seqs": n_seqs,
        "seconds_per_seq": min(times) / n_seqs,
        "peak_mib": peak_mib,
    }


# ---------------------------------------------------------------------------------------------


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-seqs", type=int, default=4, help="sequences per job (default 4)")
    parser.add_argument("--ism-seqs", type=int, default=1, help="sequences for ISM (default 1)")
    parser.add_argument("--length", type=int, default=1000, help="length in bp (default 1000)")
    parser.add_argument("--n-tasks", type=int, default=164, help="Basset outputs (default 164)")
    parser.add_argument("--batch-size", type=int, default=128, help="forward rows (default 128)")
    parser.add_argument("--repeats", type=int, default=1, help="timed runs (default 1)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--methods", default="all", help="comma list of cislens methods")
    parser.add_argument("--no-peers", action="store_true", help="skip captum and tangermeme")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="also write the results as JSON here")
    parser.add_argument("--job", nargs=2, metavar=("NAME", "TOOL"), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def format_table(rows: list[dict]) -> str:
    lines = [
        "| method | tool | seqs | s / sequence | peak memory (MiB) |",
        "|---|---|---:|---:|---:|",
    ]
    for row in rows:
        if "error" in row:
            lines.append(f"| {row['method']} | {row['tool']} | | failed: {row['error']} | |")
            continue
        lines.append(
            f"| {row['method']} | {row['tool']} | {row['n_seqs']} | "
            f"{row['seconds_per_seq']:.3f} | {row['peak_mib']:.0f} |"
        )
    return "\n".join(lines)


def main(argv=None) -> list[dict]:
    args = parse_args(argv)
    if args.job:
        print(json.dumps(measure(*args.job, args)))
        return []
    from cislens.attribution import METHODS

    methods = list(METHODS) if args.methods == "all" else args.methods.split(",")
    print(
        f"Basset {args.length} bp, {args.n_tasks} tasks, random weights; {args.n_seqs} sequences "
        f"({args.ism_seqs} for ISM), batch_size {args.batch_size}, device {args.device}, "
        f"{args.threads} threads, torch {torch.__version__}"
    )
    rows = []
    forwarded = [a for a in (argv if argv is not None else sys.argv[1:])]
    for name, tool in all_jobs(methods, not args.no_peers):
        command = [sys.executable, __file__, *forwarded, "--job", name, tool]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            error = (done.stderr.strip().splitlines() or ["?"])[-1][:80]
            rows.append({"method": name, "tool": tool, "error": error})
        else:
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(format_table(rows[-1:]).splitlines()[-1], flush=True)
    print()
    print(format_table(rows))
    if args.out:
        with open(args.out, "w") as handle:
            json.dump({"settings": vars(args), "results": rows}, handle, indent=2)
    return rows


if __name__ == "__main__":
    main()
