"""cislens ``discover_motifs`` side by side with modisco-lite on the same inputs.

Usage::

    python benchmarks/motifs_vs_modisco.py --attributions lab3_motifs/attributions.h5
    python benchmarks/motifs_vs_modisco.py --attributions attr.h5 --out vs_modisco.json

Each tool runs in its own fresh Python process (twice: the first run warms numba's caches and
is discarded), so wall time and peak resident memory (``ru_maxrss``) are measured cleanly; the
memory figure reported is the peak minus the resident size just before the tool starts (data
and the tool's imports excluded). Both get the same one-hot sequences and hypothetical scores
and their API defaults (window 21, flank 10, FDR 0.2, 20,000 seqlets per metacluster), except
that modisco-lite gets the (N, L, 4) layout it expects. Patterns of both are annotated with the
same TOMTOM (memelite) against JASPAR CORE vertebrates; a motif is "recovered" when it is the
best match (q < 0.05) of some pattern. Targets: same or better recovery, >= 2x faster, <= half
the peak memory, no noise-only patterns.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

EXPECTED = {"CTCF": "MA0139", "ARID3A": "MA0151", "MAFK": "MA0496"}


def _rss_mb() -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _queries_from_modisco(results):
    """modisco-lite patterns as cislens Motifs (PFM trimmed where sum|CWM| >= 0.3 max)."""
    from cislens.pwm import Motif

    queries = []
    for metacluster, patterns in results.items():
        for i, pattern in enumerate(patterns or []):
            cwm = np.asarray(pattern.contrib_scores).T
            pfm = np.asarray(pattern.sequence).T + 1e-3
            energy = np.abs(cwm).sum(0)
            keep = np.flatnonzero(energy >= 0.3 * energy.max())
            pfm = pfm[:, keep[0] : keep[-1] + 1]
            motif = Motif(f"{metacluster}_{i}", pfm / pfm.sum(0))
            queries.append((motif, len(pattern.seqlets)))
    return queries


def run_tool(tool: str, path: str, seed: int) -> dict:
    """Run one tool in this process; return time, memory, patterns and their annotation."""
    from cislens.io import load_attributions
    from cislens.motifs import annotate

    store = load_attributions(path)
    X, H = store.X, store.hypothetical
    if tool == "cislens":  # import the tool (and what modisco-lite imports eagerly) first
        import igraph  # noqa: F401
        import leidenalg  # noqa: F401
        import sklearn.isotonic  # noqa: F401

        import cislens.motifs.discover  # noqa: F401
    else:
        import modiscolite.tfmodisco  # noqa: F401
    base = _rss_mb()
    start = time.perf_counter()
    if tool == "cislens":
        from cislens.motifs import discover_motifs

        result = discover_motifs(X, H, random_state=seed)
        elapsed = time.perf_counter() - start
        queries = [(p.to_motif(kind="pfm"), p.n_seqlets) for p in result.patterns]
        n_seqlets = int((result.seqlets["pattern"] != "").sum())
    else:
        from modiscolite.tfmodisco import TFMoDISco

        pos, neg = TFMoDISco(
            one_hot=X.transpose(0, 2, 1).astype(np.float32),
            hypothetical_contribs=H.transpose(0, 2, 1).astype(np.float32),
            max_seqlets_per_metacluster=20_000,
        )
        elapsed = time.perf_counter() - start
        queries = _queries_from_modisco({"pos": pos, "neg": neg})
        n_seqlets = sum(len(p.seqlets) for p in (pos or []) + (neg or []))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    record = {
        "tool": tool,
        "seconds": elapsed,
        "peak_rss_mb": peak,
        "peak_minus_base_mb": peak - base,
        "n_patterns": len(queries),
        "seqlets_in_patterns": n_seqlets,
        "patterns": [],
    }
    if queries:
        matches = annotate([q for q, _ in queries], n_matches=1)
        for (motif, n), row in zip(queries, matches.itertuples(), strict=True):
            record["patterns"].append(
                {
                    "name": motif.name,
                    "n_seqlets": n,
                    "best": f"{row.target_id} {row.target_name}",
                    "q_value": row.q_value,
                }
            )
    recovered = {}
    for tf, prefix in EXPECTED.items():
        hits = [
            p for p in record["patterns"] if p["best"].startswith(prefix) and p["q_value"] < 0.05
        ]
        recovered[tf] = min((p["q_value"] for p in hits), default=None)
    record["recovered"] = recovered
    record["n_unexpected_patterns"] = sum(
        not any(p["best"].startswith(x) and p["q_value"] < 0.05 for x in EXPECTED.values())
        for p in record["patterns"]
    )
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attributions", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out")
    parser.add_argument("--worker", choices=["cislens", "modisco"], help=argparse.SUPPRESS)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--tools", default="cislens,modisco", help="comma-separated subset")
    args = parser.parse_args(argv)
    if args.worker:
        print("RESULT " + json.dumps(run_tool(args.worker, args.attributions, args.seed)))
        return 0
    records = {}
    tools = [t for t in ("cislens", "modisco") if t in args.tools.split(",")]
    for tool in tools:
        for _ in range(args.repeats):  # the last run counts; earlier ones warm numba's caches
            command = [
                sys.executable,
                __file__,
                "--attributions",
                args.attributions,
                "--seed",
                str(args.seed),
                "--worker",
                tool,
            ]
            output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
            line = [x for x in output.splitlines() if x.startswith("RESULT ")][-1]
            records[tool] = json.loads(line[len("RESULT ") :])
            print(tool, json.dumps(records[tool], indent=1), flush=True)
    if len(records) < 2:
        return 0
    ours, theirs = records["cislens"], records["modisco"]
    summary = {
        "speedup": theirs["seconds"] / ours["seconds"],
        "memory_ratio": ours["peak_minus_base_mb"] / max(theirs["peak_minus_base_mb"], 1e-9),
        "patterns": {"cislens": ours["n_patterns"], "modisco": theirs["n_patterns"]},
        "recovered": {"cislens": ours["recovered"], "modisco": theirs["recovered"]},
        "unexpected_patterns": {
            "cislens": ours["n_unexpected_patterns"],
            "modisco": theirs["n_unexpected_patterns"],
        },
    }
    print(json.dumps(summary, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps({"records": records, "summary": summary}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
