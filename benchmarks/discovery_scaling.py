"""Motif discovery at 1k, 10k and 100k planted seqlets: cislens vs modisco-lite, CPU and memory.

Usage::

    python benchmarks/discovery_scaling.py                       # 1k, 10k, 100k; all tools
    python benchmarks/discovery_scaling.py --sizes 1000,10000 --tools cislens
    python benchmarks/discovery_scaling.py --tools none --previous a.json --previous b.json

Data: :func:`motifs_vs_modisco.make_planted` (CTCF, MAFK, SPI1, YY1 planted in uniform random
1 kb sequences, synthetic hypothetical scores = Laplace noise + log-odds over each instance;
about 3.2 seqlets per sequence, most negative and many positive ones noise), with
``ceil(size / 3.17)`` sequences for a target of ``size`` seqlets. Files are cached in
``--data-dir``.

Each run is a fresh worker process (``motifs_vs_modisco.py --worker``) with one thread
(``NUMBA_NUM_THREADS=OMP_NUM_THREADS=MKL_NUM_THREADS=1``), so ``peak_rss_mb`` is that run's own
RSS high-water mark (data, imports and all) and ``cpu_seconds`` its user + system CPU time.
Tools: ``cislens`` (defaults), ``cislens-h5`` (the same, but given the file's h5py datasets,
which ``discover_motifs`` reads chunk by chunk instead of holding the arrays), ``modisco-same``
(modisco-lite 3.0.0 with cislens's clustering settings: 10 Leiden runs, 150 coarse neighbours)
and ``modisco`` (modisco-lite's defaults: 50 runs, 500 neighbours). modisco-lite keeps the
20,000 strongest seqlets of each metacluster and drops the rest; cislens builds its similarity
graph from those 20,000 and assigns every further seqlet to the cluster of its most similar
graph seqlet (``max_seqlets_per_metacluster``), so it clusters all of them. One cislens
warm-up run at the smallest size fills numba's on-disk cache first (modisco-lite compiles at
import in every process). modisco-lite runs only up to ``--modisco-max-size`` seqlets.

The exponents are slopes of log CPU against log seqlets (cislens's seqlet count) between the
smallest and the largest size: ``cislens_cpu_exponent`` of the whole call, and
``clustering_cpu_exponent`` of the clustering itself (``MotifDiscoveryResult.cpu_seconds``:
graph, Leiden and assignment, both metaclusters; the null clustering of the significance test
is not included), with the slope between each pair of consecutive sizes. Output: ``--out``
JSON and a ``.txt`` with the command.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from motifs_vs_modisco import _run_worker, make_planted

SEQLETS_PER_SEQUENCE = 3.17
CLUSTERING_STAGES = ("graph", "leiden", "assign")
ONE_THREAD = {k: "1" for k in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}


def data_file(folder: Path, size: int, seed: int) -> Path:
    """The planted attribution file for a target of ``size`` seqlets (made when missing)."""
    n = math.ceil(size / SEQLETS_PER_SEQUENCE)
    path = folder / f"planted_{n}_seed{seed}.h5"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        make_planted(str(path), n, seed=seed)
    return path


def run_once(tool: str, path: Path, seed: int) -> dict:
    """One fresh single-threaded worker; its record plus the load average around it."""
    command = [sys.executable, str(Path(__file__).parent / "motifs_vs_modisco.py")]
    command += ["--attributions", str(path), "--seed", str(seed), "--worker", tool]
    env_before = {k: os.environ.get(k) for k in ONE_THREAD}
    os.environ.update(ONE_THREAD)
    load_before = os.getloadavg()
    try:
        output, _ = _run_worker(command)
    finally:
        for key, value in env_before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    lines = output.splitlines()
    record = json.loads([x for x in lines if x.startswith("RESULT ")][-1][len("RESULT ") :])
    for key, prefix in (("pos", "Using "), ("neg", "Extracted ")):
        found = [x for x in lines if x.startswith(prefix) and x.endswith(" seqlets")]
        if found:
            record[f"n_seqlets_{key}"] = int(found[-1].split()[1])
    record["n_seqlets"] = record.get("n_seqlets_pos", 0) + record.get("n_seqlets_neg", 0)
    record["loadavg_before"] = list(load_before)
    record["loadavg_after"] = list(os.getloadavg())
    record["finished_utc"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    record["n_recovered"] = sum(v is not None for v in record["recovered"].values())
    return record


def summarise(records: dict) -> dict:
    """Ratios per size and the CPU / memory exponents of cislens between the extreme sizes."""
    summary: dict = {"ratios": {}}
    for size, row in sorted(records.items(), key=lambda kv: int(kv[0])):
        ours = row.get("cislens")
        if not ours:
            continue
        summary["ratios"][size] = {
            f"{tool}_cpu_over_cislens": row[tool]["cpu_seconds"] / ours["cpu_seconds"]
            for tool in ("modisco-same", "modisco")
            if "cpu_seconds" in row.get(tool, {})
        }
        summary["ratios"][size].update(  # runs that did not finish: CPU read while running
            {
                f"{tool}_cpu_over_cislens_at_least": row[tool]["cpu_seconds_at_least"]
                / ours["cpu_seconds"]
                for tool in ("modisco-same", "modisco")
                if "cpu_seconds_at_least" in row.get(tool, {})
            }
        )
        summary["ratios"][size].update(
            {
                f"{tool}_peak_rss_over_cislens": row[tool]["peak_rss_mb"] / ours["peak_rss_mb"]
                for tool in ("modisco-same", "modisco")
                if "peak_rss_mb" in row.get(tool, {})
            }
        )
    sizes = sorted((int(s) for s, row in records.items() if "cislens" in row))
    if len(sizes) >= 2:
        lo, hi = records[str(sizes[0])]["cislens"], records[str(sizes[-1])]["cislens"]
        span = math.log(hi["n_seqlets"] / lo["n_seqlets"])
        summary["cislens_cpu_exponent"] = math.log(hi["cpu_seconds"] / lo["cpu_seconds"]) / span
        summary["exponent_between_seqlets"] = [lo["n_seqlets"], hi["n_seqlets"]]
    timed = [s for s in sizes if clustering_cpu(records[str(s)]["cislens"])]
    if len(timed) >= 2:
        rows = [records[str(s)]["cislens"] for s in timed]
        summary["clustering_cpu_seconds"] = {
            str(s): clustering_cpu(r) for s, r in zip(timed, rows, strict=True)
        }
        summary["clustering_cpu_exponent"] = exponent(rows[0], rows[-1])
        summary["clustering_exponent_between_seqlets"] = [
            rows[0]["n_seqlets"],
            rows[-1]["n_seqlets"],
        ]
        summary["clustering_cpu_exponent_steps"] = {
            f"{a['n_seqlets']}-{b['n_seqlets']}": exponent(a, b)
            for a, b in itertools.pairwise(rows)
        }
    return summary


def clustering_cpu(record: dict) -> float | None:
    """CPU seconds of the clustering itself (graph, Leiden, assignment; both metaclusters)."""
    stages = record.get("stage_cpu_seconds") or {}
    total = sum(stages.get(k, 0.0) for k in CLUSTERING_STAGES)
    return total or None


def exponent(lo: dict, hi: dict) -> float:
    """Slope of log clustering CPU against log seqlets between two records."""
    span = math.log(hi["n_seqlets"] / lo["n_seqlets"])
    return math.log(clustering_cpu(hi) / clustering_cpu(lo)) / span


def print_table(records: dict) -> None:
    print(
        f"{'size':>7} {'tool':>13} {'seqlets':>8} {'CPU s':>9} {'clust s':>8} {'peak MB':>8} "
        "rec spur load"
    )
    for size, row in sorted(records.items(), key=lambda kv: int(kv[0])):
        for tool, r in row.items():
            if "cpu_seconds" not in r:
                continue
            clustering = clustering_cpu(r)
            print(
                f"{size:>7} {tool:>13} {r['n_seqlets']:>8} {r['cpu_seconds']:>9.1f} "
                f"{clustering if clustering else float('nan'):>8.1f} "
                f"{r['peak_rss_mb']:>8.0f} {r['n_recovered']}/4 {r['n_unexpected_patterns']:>4} "
                f"{r['loadavg_before'][0]:.1f}"
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--tools", default="cislens,modisco-same,modisco")
    parser.add_argument("--modisco-max-size", type=int, default=10_000)
    parser.add_argument("--data-dir", default="/tmp/cislens_discovery_scaling")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--previous", action="append", default=[])
    parser.add_argument("--no-warmup", action="store_true", help="numba's cache is warm")
    parser.add_argument("--out", default="benchmarks/results/discovery_scaling.json")
    args = parser.parse_args(argv)
    records: dict = {}
    for previous in args.previous:
        for size, row in json.loads(Path(previous).read_text())["records"].items():
            records.setdefault(size, {}).update(row)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    tools = ("cislens", "cislens-h5", "modisco-same", "modisco")
    tools = [t for t in tools if t in args.tools.split(",")]
    if "cislens" in tools and sizes and not args.no_warmup:  # fill numba's on-disk cache; discarded
        run_once("cislens", data_file(Path(args.data_dir), min(sizes), args.seed), args.seed)
    for size in sizes:
        path = data_file(Path(args.data_dir), size, args.seed)
        for tool in tools:
            if tool.startswith("modisco") and size > args.modisco_max_size:
                continue
            record = run_once(tool, path, args.seed)
            records.setdefault(str(size), {})[tool] = record
            print(size, tool, json.dumps({k: record[k] for k in list(record)[:6]}), flush=True)
            Path(args.out).write_text(json.dumps({"records": records}, indent=1))
    summary = summarise(records)
    summary["modisco_not_measured_above"] = args.modisco_max_size
    print_table(records)
    print(json.dumps(summary, indent=1))
    Path(args.out).write_text(json.dumps({"records": records, "summary": summary}, indent=1))
    Path(args.out).with_suffix(".txt").write_text(
        "python " + " ".join([sys.argv[0], *(argv if argv is not None else sys.argv[1:])]) + "\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
