"""cislens ``discover_motifs`` side by side with modisco-lite on the same inputs.

Usage::

    python benchmarks/motifs_vs_modisco.py --attributions lab3_motifs/attributions.h5
    python benchmarks/motifs_vs_modisco.py --attributions attr.h5 --out vs_modisco.json
    # 4 planted motifs in whole 1 kb sequences (synthetic attributions; see make_planted)
    python benchmarks/motifs_vs_modisco.py --make-planted 6200 --attributions planted20k.h5
    python benchmarks/motifs_vs_modisco.py --attributions planted20k.h5 --tools modisco \
        --repeats 1 --out modisco20k.json
    python benchmarks/motifs_vs_modisco.py --attributions planted20k.h5 --tools cislens \
        --previous modisco20k.json --out vs20k.json

Each tool runs in its own fresh Python process, ``--repeats`` times (default 2: the first run
warms numba's on-disk caches and is discarded, the last counts). Both tools keep such a cache:
cislens compiles with ``cache=True``, and modisco-lite 3.0.0 (the version these results name)
compiles its kernels in forked children into numba's on-disk cache (``modiscolite.precompile``,
which turns caching on when it forks), so in both the counted run loads compiled code. (Older
modisco-lite releases kept no cache and compiled in every process.)

Speed: wall time of the call, and ``cpu_seconds``, the user + system CPU time of the call
(threads and reaped children included); on a shared, loaded machine the CPU time is the steadier
figure. Memory is measured the same way for both tools, two ways:

- ``peak_minus_base_mb``: the worker's own peak resident size (``ru_maxrss``) minus its resident
  size just before the tool is called (data loaded and the tool imported, so neither counts);
- ``tree_peak_minus_base_mb``: the driver samples (every 0.25 s) the anonymous proportional
  set size (``Pss_Anon`` of ``/proc/PID/smaps_rollup``: heap, arrays, JIT code; shared pages
  split between the processes sharing them) summed over the worker and all its descendants,
  and reports the peak minus the sum at the moment the worker announces the call. This one
  counts modisco-lite's forked workers (which ``ru_maxrss`` of the worker misses) without
  counting their copy-on-write pages twice, and leaves out shared library pages (whose PSS
  moves with the other processes on the machine).

Both get the same one-hot sequences and hypothetical scores and their API defaults (window 21,
flank 10, FDR 0.2, 20,000 seqlets per metacluster: modisco-lite drops the rest, cislens builds
its graph from those and assigns the rest to its clusters), except that modisco-lite gets the
(N, L, 4) layout it expects. Patterns of both are annotated with the same TOMTOM (memelite)
against JASPAR CORE vertebrates; a motif is "recovered" when it is the best match (q < 0.05) of
some pattern; every other pattern counts as noise-only ("unexpected"). Targets: same or better
recovery, >= 2x faster, <= half the peak memory, no noise-only patterns.
"""

from __future__ import annotations

import argparse
import faulthandler
import json
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

EXPECTED = {"CTCF": "MA0139", "ARID3A": "MA0151", "MAFK": "MA0496"}
PLANTED = {"CTCF": "MA0139", "MAFK": "MA0496", "SPI1": "MA0080", "YY1": "MA0095"}


def make_planted(
    path: str,
    n: int,
    *,
    length: int = 1000,
    per_sequence: float = 1.0,
    noise: float = 0.02,
    strength: float = 0.05,
    seed: int = 0,
) -> None:
    """Synthetic attributions: 4 JASPAR motifs planted in uniform random ``length``-bp sequences.

    Each sequence gets Poisson(``per_sequence``) instances (random motif, strand and slot of
    50 bp), each base drawn from the PFM. Hypothetical scores are Laplace noise (scale
    ``noise``) everywhere plus ``strength * U(0.5, 1.5) * log2(PFM / 0.25)`` (clipped at -3) over
    each instance, so the whole sequences hold many noise seqlets besides the real ones - the
    regime where modisco-lite reports noise-only patterns. About 3.2 seqlets per sequence
    (2 positive, 1.2 negative) at the defaults.
    """
    from cislens.io import AttributionSet, save_attributions
    from cislens.pwm import load_jaspar_motif

    rng = np.random.default_rng(seed)
    motifs = [load_jaspar_motif(m) for m in PLANTED.values()]
    tokens = rng.integers(0, 4, size=(n, length))
    H = rng.laplace(0.0, noise, size=(n, 4, length)).astype(np.float32)
    slot = 50
    n_slots = length // slot
    for i in range(n):
        for s in rng.choice(n_slots, size=min(rng.poisson(per_sequence), n_slots), replace=False):
            motif = motifs[rng.integers(len(motifs))]
            if rng.random() < 0.5:
                motif = motif.reverse_complement()
            width = motif.width
            pos = s * slot + rng.integers(0, slot - width + 1)
            tokens[i, pos : pos + width] = motif.sample(1, random_state=rng)[0].argmax(0)
            weight = strength * rng.uniform(0.5, 1.5)
            H[i, :, pos : pos + width] += weight * np.clip(motif.log_odds(), -3, None)
    X = np.zeros((n, 4, length), dtype=np.float32)
    X[np.arange(n)[:, None], tokens, np.arange(length)[None, :]] = 1.0
    params = dict(planted=PLANTED, per_sequence=per_sequence, noise=noise, strength=strength, n=n)
    attr = AttributionSet(
        X=X,
        attributions=X * H,
        hypothetical=H,
        method="synthetic",
        params=params,
        random_state=seed,
    )
    save_attributions(path, attr)


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


def _cpu_seconds() -> float:
    """User + system CPU time of this process, its threads and its finished children."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


def _descendants(pid: int) -> list[int]:
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            parents.setdefault(ppid, []).append(int(entry.name))
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        queue.extend(parents.get(current, []))
    return found


def _tree_pss_mb(pid: int) -> float:
    """Anonymous proportional set size of ``pid`` and its descendants in MB."""
    total = 0.0
    for child in _descendants(pid):
        try:
            for line in Path(f"/proc/{child}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss_Anon:"):
                    total += int(line.split()[1]) / 1024
                    break
        except OSError:
            continue
    return total


def _run_worker(command: list[str]) -> tuple[str, float | None]:
    """Run a worker; return its stdout and its tree-PSS peak minus the PSS at its START line."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    lines: list[str] = []
    state = {"base": None, "peak": 0.0}

    def reader():
        for line in process.stdout:
            if line.startswith("START") and state["base"] is None:
                state["base"] = _tree_pss_mb(process.pid)
            lines.append(line)

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    while process.poll() is None:
        if state["base"] is not None and not any(x.startswith("RESULT ") for x in lines):
            state["peak"] = max(state["peak"], _tree_pss_mb(process.pid))
        time.sleep(0.25)
    thread.join()
    if process.returncode:
        raise subprocess.CalledProcessError(process.returncode, command)
    base = state["base"]
    return "".join(lines), (None if base is None else max(state["peak"] - base, 0.0))


def _start_memory_log(path: str) -> None:
    """Log where the resident high-water mark rises, with the cislens.motifs log lines.

    A daemon thread reads ``VmHWM`` every 0.2 s and writes ``process CPU s, VmHWM, VmRSS`` (MiB)
    to ``path`` whenever the high-water mark rose by more than 1 MiB; cislens.motifs INFO log
    lines go to the same file with the process CPU time, so each rise can be placed between
    stages. A thread cannot run while compiled code holds the interpreter, so a rise is
    reported at the end of such a stretch, never missed (the mark is the kernel's).
    """
    import logging

    handle = open(path, "w", buffering=1)  # kept open for the process's lifetime

    def status(field):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def sample():
        last = 0.0
        while True:
            peak = status("VmHWM")
            if peak > last + 1.0:
                handle.write(
                    f"{time.process_time():9.1f} HWM {peak:8.1f} RSS {status('VmRSS'):8.1f}\n"
                )
                last = peak
            time.sleep(0.2)

    class ToFile(logging.Handler):
        def emit(self, record):
            handle.write(f"{time.process_time():9.1f} LOG {record.getMessage()}\n")

    logger = logging.getLogger("cislens.motifs")
    logger.setLevel(logging.INFO)
    logger.addHandler(ToFile())
    threading.Thread(target=sample, daemon=True).start()


# modisco-lite with cislens's clustering settings (Leiden runs, coarse neighbours).
MODISCO_SAME_SETTINGS = {"n_leiden_runs": 10, "nearest_neighbors_to_compute": 150}


def run_tool(tool: str, path: str, seed: int) -> dict:
    """Run one tool in this process; return time, memory, patterns and their annotation.

    ``tool`` is "cislens", "modisco" (its API defaults) or "modisco-same" (modisco-lite with
    :data:`MODISCO_SAME_SETTINGS`).
    """
    from cislens.io import load_attributions
    from cislens.motifs import annotate

    if tool == "cislens-h5":  # h5py datasets: discover_motifs reads them chunk by chunk
        import h5py

        handle = h5py.File(path, "r")
        X, H = handle["X"], handle["hypothetical"]
        expected = json.loads(handle.attrs["params"]).get("planted", EXPECTED)
    elif str(path).endswith((".h5", ".hdf5")):
        # Only the two arrays the tools receive (float32, in memory): load_attributions would
        # also read the unused projected attributions, and its peak (~2.2 GB at 31,546 x 1 kb)
        # would then be the run's peak, not the tool's.
        import h5py

        with h5py.File(path, "r") as handle:
            X = np.asarray(handle["X"][...], dtype=np.float32)
            H = np.asarray(handle["hypothetical"][...], dtype=np.float32)
            expected = json.loads(handle.attrs.get("params", "{}")).get("planted", EXPECTED)
    else:
        store = load_attributions(path)
        X, H = store.X, store.hypothetical
        expected = store.params.get("planted", EXPECTED)
        del store
    if tool.startswith("cislens"):  # import the tool (and what modisco-lite imports eagerly) first
        import igraph  # noqa: F401
        import leidenalg  # noqa: F401
        import numba
        import sklearn.isotonic  # noqa: F401

        import cislens.motifs.discover  # noqa: F401

        # Importing modiscolite starts numba's compiler (~40 MB, before the baseline); cislens
        # compiles lazily, so start numba the same way here, or its first kernel would count it.
        numba.njit(lambda x: x + 1)(1)
    else:
        import modiscolite.tfmodisco  # noqa: F401
    if os.environ.get("CISLENS_BENCH_MEMLOG"):
        _start_memory_log(os.environ["CISLENS_BENCH_MEMLOG"])
    base = _rss_mb()
    print("START", flush=True)  # the driver's memory sampler takes its baseline now
    cpu_start = _cpu_seconds()
    start = time.perf_counter()
    if tool.startswith("cislens"):
        from cislens.motifs import discover_motifs

        result = discover_motifs(X, H, random_state=seed)
        elapsed = time.perf_counter() - start
        queries = [(p.to_motif(kind="pfm"), p.n_seqlets) for p in result.patterns]
        n_seqlets = int((result.seqlets["pattern"] != "").sum())
        stage_cpu = dict(result.cpu_seconds)
        tested = [
            {k: p.stats.get(k) for k in ("median_similarity", "null_q95", "p_adjusted")}
            for p in result.patterns
        ]
        counts = result.seqlets["metacluster"].value_counts()
        print(f"Using {int(counts.get('pos', 0))} positive seqlets")
        print(f"Extracted {int(counts.get('neg', 0))} negative seqlets")
    else:
        from modiscolite.tfmodisco import TFMoDISco

        pos, neg = TFMoDISco(
            one_hot=X.transpose(0, 2, 1).astype(np.float32),
            hypothetical_contribs=H.transpose(0, 2, 1).astype(np.float32),
            max_seqlets_per_metacluster=20_000,
            verbose=True,  # prints the seqlet counts (parsed by main)
            **(MODISCO_SAME_SETTINGS if tool == "modisco-same" else {}),
        )
        elapsed = time.perf_counter() - start
        queries = _queries_from_modisco({"pos": pos, "neg": neg})
        stage_cpu, tested = {}, [{} for _ in queries]
        n_seqlets = sum(len(p.seqlets) for p in (pos or []) + (neg or []))
    cpu = _cpu_seconds() - cpu_start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    record = {
        "tool": tool,
        "seconds": elapsed,
        "cpu_seconds": cpu,
        "peak_rss_mb": peak,
        "peak_minus_base_mb": peak - base,
        "n_patterns": len(queries),
        "seqlets_in_patterns": n_seqlets,
        "rss_before_call_mb": base,
        "stage_cpu_seconds": stage_cpu,
        "patterns": [],
    }
    if queries:
        matches = annotate([q for q, _ in queries], n_matches=1)
        for (motif, n), row, stats in zip(queries, matches.itertuples(), tested, strict=True):
            record["patterns"].append(
                {
                    "name": motif.name,
                    "n_seqlets": n,
                    "best": f"{row.target_id} {row.target_name}",
                    "q_value": row.q_value,
                    **stats,
                }
            )
    recovered = {}
    for tf, prefix in expected.items():
        hits = [
            p for p in record["patterns"] if p["best"].startswith(prefix) and p["q_value"] < 0.05
        ]
        recovered[tf] = min((p["q_value"] for p in hits), default=None)
    record["recovered"] = recovered
    record["n_unexpected_patterns"] = sum(
        not any(p["best"].startswith(x) and p["q_value"] < 0.05 for x in expected.values())
        for p in record["patterns"]
    )
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attributions", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out")
    parser.add_argument(
        "--worker",
        choices=["cislens", "cislens-h5", "modisco", "modisco-same"],
        help=argparse.SUPPRESS,
    )
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--tools", default="cislens,modisco", help="comma-separated subset")
    parser.add_argument(
        "--make-planted",
        type=int,
        metavar="N",
        help="write N synthetic 1 kb sequences with 4 planted motifs to --attributions and stop",
    )
    parser.add_argument(
        "--previous",
        action="append",
        default=[],
        help="a JSON written by --out: reuse its records (repeatable; --tools none: combine only)",
    )
    args = parser.parse_args(argv)
    if args.make_planted:
        make_planted(args.attributions, args.make_planted, seed=args.seed)
        return 0
    if args.worker:
        if os.environ.get("CISLENS_BENCH_DUMP_ON_XCPU"):
            # Under a CPU-time cap (RLIMIT_CPU): at the soft limit the kernel sends SIGXCPU;
            # dump every thread's Python stack (what the tool was doing when stopped) to stderr.
            faulthandler.register(signal.SIGXCPU, file=sys.stderr, all_threads=True)
        print("RESULT " + json.dumps(run_tool(args.worker, args.attributions, args.seed)))
        return 0
    records = {}
    for previous in args.previous:
        records.update(json.loads(Path(previous).read_text())["records"])
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
            output, tree_peak = _run_worker(command)
            lines = output.splitlines()
            line = [x for x in lines if x.startswith("RESULT ")][-1]
            records[tool] = json.loads(line[len("RESULT ") :])
            records[tool]["tree_peak_minus_base_mb"] = tree_peak
            for key, prefix in (("pos", "Using "), ("neg", "Extracted ")):
                found = [x for x in lines if x.startswith(prefix) and x.endswith(" seqlets")]
                if found:
                    records[tool][f"n_seqlets_{key}"] = int(found[-1].split()[1])
            print(tool, json.dumps(records[tool], indent=1), flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps({"records": records}, indent=1))
    if len(records) < 2:
        return 0
    ours, theirs = records["cislens"], records["modisco"]
    summary = {
        "speedup": theirs["seconds"] / ours["seconds"],
        "speedup_cpu": (
            theirs["cpu_seconds"] / ours["cpu_seconds"]
            if ours.get("cpu_seconds") and theirs.get("cpu_seconds")
            else None
        ),
        "memory_ratio": ours["peak_minus_base_mb"] / max(theirs["peak_minus_base_mb"], 1e-9),
        "memory_ratio_tree_pss": (
            ours["tree_peak_minus_base_mb"] / max(theirs["tree_peak_minus_base_mb"], 1e-9)
            if ours.get("tree_peak_minus_base_mb") and theirs.get("tree_peak_minus_base_mb")
            else None
        ),
        "seqlets": {
            tool: [records[tool].get("n_seqlets_pos"), records[tool].get("n_seqlets_neg")]
            for tool in ("cislens", "modisco")
        },
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
