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
import contextlib
import itertools
import json
import math
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from motifs_vs_modisco import _descendants, _run_worker, _tree_pss_mb, make_planted

SEQLETS_PER_SEQUENCE = 3.17
CLUSTERING_STAGES = ("graph", "leiden", "assign")
ONE_THREAD = {k: "1" for k in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}


@contextlib.contextmanager
def one_thread_env():
    """Workers inherit one thread per library; the caller's environment is restored after."""
    before = {k: os.environ.get(k) for k in ONE_THREAD}
    os.environ.update(ONE_THREAD)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


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
    load_before = os.getloadavg()
    with one_thread_env():
        output, _ = _run_worker(command)
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


def _tree_cpu_and_peak(pid: int) -> tuple[float, float]:
    """CPU seconds (user + system) of ``pid``, its live descendants and its reaped children,
    and the resident high-water mark of ``pid`` in MiB, read from ``/proc``."""
    tick = os.sysconf("SC_CLK_TCK")
    cpu = 0.0
    for child in _descendants(pid):
        try:
            fields = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        cpu += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
        if child == pid:
            cpu += (int(fields[13]) + int(fields[14])) / tick  # its reaped children
    peak = 0.0
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                peak = int(line.split()[1]) / 1024
    except OSError:
        pass
    return cpu, peak


def run_capped(command: list[str], *, cpu_cap: float, wall_cap: float, memory_cap_gb: float):
    """Run a worker until it ends or reaches a CPU-time, wall-clock or memory cap.

    Returns ``(stdout, stderr, state)``. The driver reads the worker's CPU time (itself, its
    live descendants and its reaped children; ``/proc``) every second and counts it from the
    worker's ``START`` line (data loaded, tool imported), as the worker's own ``cpu_seconds``
    does. At a cap it sends SIGXCPU, on which the worker dumps its Python stacks
    (``faulthandler``) to stderr, then SIGKILL. ``state`` holds the last CPU time of the call
    and the peak resident size (``VmHWM``) read while it ran - lower bounds when it was
    stopped - and why it stopped. ``RLIMIT_CPU`` (twice the cap plus 10 minutes) and
    ``RLIMIT_AS`` (twice the memory cap) are backstops only.
    """
    import signal
    import subprocess

    def limits():  # in the child, before exec
        backstop = int(2 * cpu_cap + 600)
        resource.setrlimit(resource.RLIMIT_CPU, (backstop, backstop + 5))
        cap = int(2 * memory_cap_gb * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    env = dict(os.environ, CISLENS_BENCH_DUMP_ON_XCPU="1", PYTHONUNBUFFERED="1")
    out_path = Path(f"/tmp/capped_{os.getpid()}.out")
    err_path = out_path.with_suffix(".err")
    start = time.monotonic()
    state = {"stopped_by": None, "cpu_seconds": 0.0, "cpu_at_start": None, "peak_rss_mb": 0.0}
    with out_path.open("w") as out, err_path.open("w") as err:
        process = subprocess.Popen(command, stdout=out, stderr=err, env=env, preexec_fn=limits)
        while process.poll() is None:
            cpu, peak = _tree_cpu_and_peak(process.pid)
            if state["cpu_at_start"] is None and "START" in out_path.read_text():
                state["cpu_at_start"] = cpu
            if state["cpu_at_start"] is not None:
                state["cpu_seconds"] = max(cpu - state["cpu_at_start"], state["cpu_seconds"])
            state["peak_rss_mb"] = max(peak, state["peak_rss_mb"])
            reasons = {
                "CPU-time cap": state["cpu_seconds"] >= cpu_cap,
                "wall-clock cap": time.monotonic() - start > wall_cap,
                "memory cap": _tree_pss_mb(process.pid) > memory_cap_gb * 1024,
            }
            stop = [name for name, hit in reasons.items() if hit]
            if stop and state["stopped_by"] is None:
                state["stopped_by"] = stop[0]
                process.send_signal(signal.SIGXCPU)  # the stack dump
                time.sleep(3)
                process.kill()
            time.sleep(1.0)
    state["returncode"] = process.returncode
    state["wall_seconds"] = time.monotonic() - start
    return out_path.read_text(), err_path.read_text(), state


def first_dump(errors: str) -> list[str]:
    """The first ``faulthandler`` dump in a worker's stderr (all its threads)."""
    lines = errors.splitlines()
    heads = [i for i, x in enumerate(lines) if x.startswith(("Current thread", "Thread 0x"))]
    return lines[heads[0] :] if heads else lines[-40:]


def run_once_capped(tool: str, path: Path, seed: int, args) -> dict:
    """:func:`run_once` for a peer under the caps of ``args``; an unfinished run gives lower
    bounds (``cpu_seconds_at_least``, ``peak_rss_mb_at_least``) and where it was stopped."""
    command = [sys.executable, str(Path(__file__).parent / "motifs_vs_modisco.py")]
    command += ["--attributions", str(path), "--seed", str(seed), "--worker", tool]
    load_before = os.getloadavg()
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    with one_thread_env():
        output, errors, state = run_capped(
            command,
            cpu_cap=args.cpu_cap,
            wall_cap=args.wall_cap,
            memory_cap_gb=args.memory_cap_gb,
        )
    lines = output.splitlines()
    results = [x for x in lines if x.startswith("RESULT ")]
    if results:
        record = json.loads(results[-1][len("RESULT ") :])
        record["n_recovered"] = sum(v is not None for v in record["recovered"].values())
    else:
        record = {
            "tool": tool,
            "complete": False,
            "cpu_seconds_at_least": state["cpu_seconds"],
            "peak_rss_mb_at_least": state["peak_rss_mb"],
            "stopped_by": state["stopped_by"],
            "returncode": state["returncode"],
            "wall_seconds": state["wall_seconds"],
            "stdout_tail": lines[-20:],
            "stack_when_stopped": first_dump(errors)[:60],
        }
    record["caps"] = {
        "cpu_seconds": args.cpu_cap,
        "wall_seconds": args.wall_cap,
        "memory_gb": args.memory_cap_gb,
    }
    for key, prefix in (("pos", "Using "), ("neg", "Extracted ")):
        found = [x for x in lines if x.startswith(prefix) and x.endswith(" seqlets")]
        if found:
            record[f"n_seqlets_{key}"] = int(found[-1].split()[1])
    record["n_seqlets"] = record.get("n_seqlets_pos", 0) + record.get("n_seqlets_neg", 0)
    record["started_utc"] = started
    record["loadavg_before"] = list(load_before)
    record["loadavg_after"] = list(os.getloadavg())
    record["finished_utc"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
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
    parser.add_argument(
        "--cpu-cap", type=float, help="modisco-lite runs: stop at this many CPU seconds"
    )
    parser.add_argument("--wall-cap", type=float, default=4 * 3600.0)
    parser.add_argument("--memory-cap-gb", type=float, default=8.0)
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
            if tool.startswith("modisco") and args.cpu_cap:
                record = run_once_capped(tool, path, args.seed, args)
            else:
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
