"""CPU process time of ``ism`` fast and naive on a bpnet-lite-style BPNet (one torch thread).

Usage::

    PYTHONPATH=src python benchmarks/fast_ism_lite.py                 # 2114 bp, 1 sequence
    PYTHONPATH=src python benchmarks/fast_ism_lite.py --length 1000 --n-seqs 2

The model is the test suite's copy of bpnet-lite's ``BPNet`` (``tests/fast_ism_models.py``:
64 filters, 8 dilated residual layers, trimming to a 1,000 bp profile, random weights), and the
explained output is its count head, as bpnet-lite users explain it. Timing is
``time.process_time()`` with ``torch.set_num_threads(1)``; the log line says which ISM path ran.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))


def main(argv=None) -> dict:
    from fast_ism_models import LiteBPNet, Select

    from cislens.attribution.ism import ism

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--length", type=int, default=2114)
    parser.add_argument("--n-seqs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    trimming = max(37, (args.length - 1000) // 2)
    model = Select(LiteBPNet(64, 8, 2, trimming=trimming), 1).eval()
    g = torch.Generator().manual_seed(0)
    tokens = torch.randint(0, 4, (args.n_seqs, args.length), generator=g)
    X = torch.nn.functional.one_hot(tokens, 4).permute(0, 2, 1).float()
    logging.basicConfig(level=logging.INFO, format="  %(message)s")
    seconds, scores = {}, {}
    for fast in (True, False):
        began = time.process_time()
        scores[fast] = ism(model, X, fast=fast, batch_size=args.batch_size, device="cpu")
        seconds[fast] = time.process_time() - began
    diff = float((scores[True] - scores[False]).abs().max())
    row = {"fast_s": seconds[True], "naive_s": seconds[False], "max_abs_diff": diff}
    print(
        f"L={args.length} n={args.n_seqs}: fast {seconds[True]:.2f} s, naive "
        f"{seconds[False]:.2f} s, naive/fast {seconds[False] / seconds[True]:.2f}x, "
        f"max|diff| {diff:.2e} (scale {float(scores[False].abs().max()):.2e})"
    )
    return row


if __name__ == "__main__":
    main()
