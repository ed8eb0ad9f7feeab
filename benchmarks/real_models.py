"""cislens next to tangermeme 1.6 on the architectures users bring (CPU seconds per sequence).

Usage::

    python benchmarks/real_models.py                        # all models, both methods
    python benchmarks/real_models.py --models grelu_conv_relu,bpnetlite_bpnet --seqs 4

Models: the small random-weight configurations of tests/real_models.py (bpnet-lite BPNet and
ChromBPNet, chrombpnet-pytorch, enformer-pytorch, borzoi-pytorch, gReLU ConvModel / Dilated /
Enformer), at their ``test_length``, explaining the head the compatibility test explains.

Rows:

- ``ism``: cislens ``ism`` (window path where the model allows it, else exact batched ISM;
  the ``path`` column says which) against tangermeme ``saturation_mutagenesis`` on a wrapper
  that selects the same output; both on the same positions (all of them; Borzoi a 16 bp window).
- ``deeplift_shap``: cislens ``deeplift_shap`` against tangermeme ``deep_lift_shap`` with the
  same references and the rules bpnet-lite registers (profile scaling, log, exp); the ``exact``
  columns give each tool's worst summation-to-delta error relative to ``|f(x) - mean f(r)|``,
  so a fast but inexact peer shows as such.

Method: one process, one torch thread, CPU process time of each call after one warm-up call
(capture and first-call costs are in the warm-up, as for a user who attributes many batches);
the best of ``--repeats``; the 1-minute load average is recorded. Results go to
``benchmarks/results/real_models.{csv,txt}`` with the command that made them.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
import warnings
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests import real_models as zoo  # noqa: E402
from tests.test_real_models import CASES, NoCast, _tangermeme_route  # noqa: E402

DEFAULT = (
    "bpnetlite_bpnet-counts,bpnetlite_bpnet-profile,bpnetlite_chrombpnet-counts,"
    "chrombpnet_pytorch-counts,enformer_pytorch,borzoi_pytorch,grelu_conv_relu,"
    "grelu_conv_gelu,grelu_dilated_conv,grelu_enformer"
)


class Peer(nn.Module):
    """(N, 4, L) -> (N, T) for tangermeme: layout and output selection as cislens does them."""

    def __init__(self, model, options):
        super().__init__()
        from cislens.attribution.heads import explained_model

        self.net = explained_model(
            model, output=options["output"], input_layout=options["input_layout"]
        )

    def forward(self, x):
        return self.net(x)


def best_cpu(fn, repeats: int) -> tuple[float, object]:
    fn()  # warm-up
    times, result = [], None
    for _ in range(repeats):
        start = time.process_time()
        result = fn()
        times.append(time.process_time() - start)
    return min(times), result


def summation_error(model, X, R, scores, options) -> float:
    from cislens.attribution.heads import explained_model

    net = explained_model(model, output=options["output"], input_layout=options["input_layout"])
    with torch.no_grad():
        fx = net(X)[:, options["target"]]
        fr = net(R.flatten(0, 1)).reshape(R.shape[0], R.shape[1], -1)[..., options["target"]]
    delta = fx - fr.mean(1)
    return float(((scores.sum((1, 2)) - delta).abs() / delta.abs().clamp_min(1e-12)).max())


def _deeplift_peer(case: str, model, options):
    """tangermeme's wrapper, rule table and target: bpnet-lite's own for its models (exact), the
    plain selection for the others (tangermeme's defaults)."""
    if CASES[case][0].startswith("bpnetlite"):
        wrapper, rules = _tangermeme_route(case, model)
        return wrapper.eval(), rules, 0
    return Peer(model, options).eval(), None, options["target"]


def run_case(case: str, args) -> list[dict]:
    from tangermeme.deep_lift_shap import deep_lift_shap as tm_deep_lift_shap
    from tangermeme.ersatz import dinucleotide_shuffle
    from tangermeme.saturation_mutagenesis import saturation_mutagenesis

    from cislens.attribution import deeplift_shap, ism
    from tests.test_real_models import build

    model, X, options, switch = build(case)
    X = zoo.random_onehot(args.seqs, X.shape[-1], seed=1)
    L = X.shape[-1]
    window = dict(start=L // 2 - 8, end=L // 2 + 8) if case == "borzoi_pytorch" else {}
    with switch():
        seconds, _ = best_cpu(lambda: ism(model, X, **window, **options), args.repeats)
        path = "window" if _fast_engages(model, X, options) else "batched"
    peer = Peer(model, options).eval()
    peer_seconds, _ = best_cpu(
        lambda: saturation_mutagenesis(peer, X, device="cpu", **window), args.repeats
    )
    rows = [dict(method="ism", model=case, path=path, cislens=seconds / len(X),
                 tangermeme=peer_seconds / len(X))]  # fmt: skip
    R = dinucleotide_shuffle(X, n=args.shuffles, random_state=0)
    explained = NoCast(model) if case == "borzoi_pytorch" else model
    with switch():
        seconds, ours = best_cpu(
            lambda: deeplift_shap(explained, X, baselines=R, **options), args.repeats
        )
        wrapper, rules, target = _deeplift_peer(case, model, options)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            peer_seconds, theirs = best_cpu(
                lambda: tm_deep_lift_shap(wrapper, X, references=R, target=target, device="cpu",
                                          additional_nonlinear_ops=rules, warning_threshold=1e9),
                args.repeats,
            )  # fmt: skip
    rows.append(dict(
        method="deeplift_shap", model=case, path="", cislens=seconds / len(X),
        tangermeme=peer_seconds / len(X),
        cislens_error=summation_error(explained, X, R, ours, options),
        tangermeme_error=summation_error(explained, X, R, theirs, options),
    ))  # fmt: skip
    return rows


def _fast_engages(model, X, options) -> bool:
    from cislens.attribution import ism

    try:
        ism(model, X[:1], fast=True, start=0, end=2, **options)
    except Exception:  # the fast path says why it cannot run; here only whether it ran
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=DEFAULT, help="cases, comma-separated")
    parser.add_argument("--seqs", type=int, default=2)
    parser.add_argument("--shuffles", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "real_models"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    load = os.getloadavg()[0]
    rows = []
    for case in args.models.split(","):
        rows.extend(run_case(case, args))
        print(rows[-2], rows[-1], flush=True)
    header = f"# python benchmarks/real_models.py {' '.join(sys.argv[1:])} (load {load:.1f})"
    lines = [
        header,
        f"{'method':14} {'model':30} {'path':8} {'cislens s/seq':>13} "
        f"{'tangermeme s/seq':>16} {'ratio':>6} {'err cislens':>11} {'err tangermeme':>14}",
    ]
    nan = float("nan")
    for row in rows:
        ratio = row["tangermeme"] / row["cislens"]
        lines.append(
            f"{row['method']:14} {row['model']:30} {row['path']:8} {row['cislens']:13.4f} "
            f"{row['tangermeme']:16.4f} {ratio:6.2f} {row.get('cislens_error', nan):11.1e} "
            f"{row.get('tangermeme_error', nan):14.1e}"
        )
    lines.append("ratio = tangermeme s/seq / cislens s/seq (CPU process time, 1 thread); err = "
                 "worst relative summation-to-delta error (DeepLiftShap).")  # fmt: skip
    text = "\n".join(lines)
    print(text)
    Path(args.out + ".txt").write_text(text + "\n")
    with open(args.out + ".csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=sorted({k for r in rows for k in r}))
        writer.writeheader()
        writer.writerows(rows)


if __name__ == "__main__":
    main()
