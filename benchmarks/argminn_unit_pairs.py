"""How every pair of a saved ARGMINN's filters co-occurs: the arrangement rule of the readout's
units (``cislens.argminn.units``), checked on models of several presets.

Usage::

    python benchmarks/argminn_unit_pairs.py --model jund_tead=runs/models/jund_tead \\
        --model tal_gata=runs/models_tal_gata/tal_gata [--n 20000] [--n-test 2000]

For each ``preset=checkpoint`` the preset is simulated with ``--seed`` and its own size (or
``--n`` where given as ``preset:n=checkpoint``), the first ``--n-test`` test sequences are read,
and for every pair of filters with at least ``--min-sites`` windows above half the filter's
maximum the most frequent arrangement (offset, relative strand) is printed with the share of
each filter's windows that take part in it; ``joined`` marks pairs at or above
``--min-cooccurrence`` for both (the readout joins such *passing* filters into one unit). Then
the readout's units (``argminn_motifs(...).units``). Printed to stdout with the CPU time.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch


def filter_hits(model, X, batch_size: int = 256) -> tuple[dict, np.ndarray]:
    """Each filter's windows above half its maximum over X: ``{k: (sequence, placement,
    minus)}``, and the number of windows per filter."""
    model.eval()
    with torch.no_grad():
        scans = [model.scan(X[i : i + batch_size]) for i in range(0, len(X), batch_size)]
    acts = torch.cat([a for a, _ in scans])
    strands = torch.cat([s for _, s in scans])
    cutoff = 0.5 * acts.amax((0, 2))
    hits, counts = {}, np.zeros(acts.shape[1], dtype=int)
    for k in range(acts.shape[1]):
        if cutoff[k] <= 0:
            continue
        n, p = torch.nonzero(acts[:, k] > cutoff[k], as_tuple=True)
        hits[k] = (n.numpy(), p.numpy(), strands[n, k, p].numpy())
        counts[k] = len(n)
    return hits, counts


def report(preset: str, path: str, n, args) -> None:
    from cislens.argminn import argminn_motifs
    from cislens.argminn.units import arrangement
    from cislens.models import load_model
    from cislens.simulate import simulate

    start = time.process_time()
    data = simulate(preset, n=n, random_state=args.seed)
    model = load_model(path)
    X = torch.as_tensor(np.asarray(data.X["test"][: args.n_test]))
    hits, counts = filter_hits(model, X)
    live = [k for k in hits if counts[k] >= args.min_sites]
    print(f"## {preset} ({path}; {len(X)} test sequences)")
    print("windows per filter: " + ", ".join(f"f{k} {counts[k]}" for k in live))
    for a, j in enumerate(live):
        for k in live[a + 1 :]:
            found = arrangement(hits[j], hits[k])
            if found is None:
                continue
            joined = "joined" if found.share >= args.min_cooccurrence else ""
            print(
                f"  f{j}-f{k}: offset {found.offset:+d}, {'opposite' if found.flipped else 'same'}"
                f" strand, share {found.share_j:.3f} / {found.share_k:.3f} {joined}"
            )
    motifs = argminn_motifs(model, X, annotate=False, min_cooccurrence=args.min_cooccurrence)
    passing = motifs.filters[motifs.filters["passing"]]
    print("passing: " + ", ".join(f"f{r.filter} {r.status}" for r in passing.itertuples()))
    for row in motifs.units.itertuples():
        print(
            f"  {row.unit}: filters {row.filters}, offsets {row.offsets}, share {row.share:.2f},"
            f" {row.n_sites} sites, consensus {row.consensus}, parts {row.parts or '-'}"
        )
    print(f"CPU {time.process_time() - start:.1f} s, load average {os.getloadavg()}\n", flush=True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", action="append", required=True, help="preset[:n]=checkpoint")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-test", type=int, default=2000)
    parser.add_argument("--min-sites", type=int, default=20)
    parser.add_argument("--min-cooccurrence", type=float, default=0.5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    for item in args.model:
        name, path = item.split("=", 1)
        preset, _, n = name.partition(":")
        report(preset, path, int(n) if n else None, args)


if __name__ == "__main__":
    main()
