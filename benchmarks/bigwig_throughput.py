"""Benchmark BED + genome -> attributions -> bigWig: sequences/s with 1 and 2 workers, memory.

Usage::

    python benchmarks/bigwig_throughput.py                      # 10,000 x 1 kb (the target)
    python benchmarks/bigwig_throughput.py --n-intervals 256 --chunk-size 64 \
        --out benchmarks/results/bigwig_throughput_256.json

A synthetic genome (uniform random bases, chromosomes of 2 Mb) gets ``--n-intervals`` BED
intervals whose 1 kb windows start every 700 bp, so neighbouring windows overlap by 300 bp and
the bigWig's merge rule is exercised on every base pair of overlap; every other interval is on
the minus strand. For each model (LabCNN at the lab's default size and Basset, 3 tasks, random
weights, 1 kb input) and each worker count, a fresh local Dask cluster (worker processes, one
thread each) runs ``cislens.scale.attribute_to_zarr`` (``--method``, default DeepLiftShap with
20 dinucleotide shuffles, output 0), then ``cislens.scale.write_bigwig`` assembles the track on
the client. The cluster start-up is not timed.

Reported per run: wall seconds of the attribution and of the bigWig step, sequences/s of the
two together; the workers' CPU seconds per sequence (``time.process_time`` around each chunk)
and the client's CPU seconds for the bigWig; the peak resident memory of each worker process
(``ru_maxrss``) and the client's peak during the bigWig step (``VmHWM``, reset before it); the
load average before and after each run (the machine may be shared: compare CPU seconds, not
wall time, across runs). The JSON output records the command line that made it.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _memory import reset_peak_rss, status_kib

CHROM_SIZE = 2_000_000
STEP = 700


def write_genome(folder: Path, n: int, length: int, seed: int = 0) -> tuple[Path, Path]:
    """A random genome with room for ``n`` windows every ``STEP`` bp, and the BED file."""
    per_chrom = (CHROM_SIZE - 2 * length) // STEP
    n_chroms = -(-n // per_chrom)
    rng = np.random.default_rng(seed)
    letters = np.frombuffer(b"ACGT", dtype=np.uint8)
    genome, bed = folder / "genome.fa", folder / "peaks.bed"
    with open(genome, "w") as handle:
        for c in range(n_chroms):
            handle.write(f">chr{c + 1}\n")
            for _ in range(0, CHROM_SIZE, 100_000):  # streamed: never the whole genome at once
                block = letters[rng.integers(0, 4, size=100_000)].tobytes().decode()
                handle.writelines(block[i : i + 80] + "\n" for i in range(0, len(block), 80))
    with open(bed, "w") as handle:
        for i in range(n):
            chrom, slot = divmod(i, per_chrom)
            centre = length + slot * STEP
            handle.write(f"chr{chrom + 1}\t{centre - 50}\t{centre + 50}\tpeak{i}\t0\t"
                         f"{'+-'[i % 2]}\n")  # fmt: skip
    return genome, bed


def make_model(folder: Path, name: str, length: int) -> Path:
    import torch

    from cislens.models import Basset, LabCNN, save_model

    torch.set_num_threads(1)
    classes = {"labcnn": LabCNN, "basset": Basset}
    model = classes[name](n_tasks=3, input_length=length, random_state=0)
    return save_model(model, folder / name)


def run_once(args, checkpoint: Path, genome: Path, bed: Path, n_workers: int, out: Path) -> dict:
    import distributed

    from cislens.scale import BedSource, attribute_to_zarr, write_bigwig

    shutil.rmtree(out, ignore_errors=True)
    source = BedSource(bed, genome, length=args.length)
    load_before = os.getloadavg()
    with (
        distributed.LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                                 dashboard_address=":0", silence_logs=logging.ERROR) as cluster,
        distributed.Client(cluster) as client,
    ):  # fmt: skip
        started = time.perf_counter()
        report = attribute_to_zarr(
            checkpoint, source, out, method=args.method, target=0,
            **({"n_shuffles": args.n_shuffles} if args.method == "deeplift_shap" else {}),
            chunk_size=args.chunk_size, batch_size=args.batch_size, random_state=0,
            client=client, verbose=args.verbose,
        )  # fmt: skip
        attribute_seconds = time.perf_counter() - started
    reset_peak_rss()
    base_kib = status_kib("VmRSS")
    track = out.with_suffix(".bw")
    started, cpu_started = time.perf_counter(), time.process_time()
    made = write_bigwig(out, track, merge=args.merge)
    bigwig_seconds = time.perf_counter() - started
    bigwig_cpu = time.process_time() - cpu_started
    peak_kib = status_kib("VmHWM")
    peaks: dict[int, float] = {}
    for task in report.tasks:
        peaks[task["pid"]] = max(peaks.get(task["pid"], 0.0), task["peak_rss_mb"])
    cpu_seconds = sum(task["cpu_seconds"] for task in report.tasks)
    total = attribute_seconds + bigwig_seconds
    return {
        "model": checkpoint.name,
        "method": args.method,
        "n_seqs": source.n,
        "workers": n_workers,
        "chunks": report.n_blocks,
        "attribute_seconds": round(attribute_seconds, 2),
        "bigwig_seconds": round(bigwig_seconds, 2),
        "seqs_per_second": round(source.n / total, 3),
        "worker_cpu_seconds_per_seq": round(cpu_seconds / source.n, 4),
        "bigwig_client_cpu_seconds": round(bigwig_cpu, 2),
        "bigwig_bases": made.n_bases,
        "bigwig_mb": round(track.stat().st_size / 2**20, 2),
        "peak_rss_mb_per_worker": sorted(round(value, 1) for value in peaks.values()),
        "bigwig_client_peak_mb_over_baseline": None
        if peak_kib is None or base_kib is None
        else round((peak_kib - base_kib) / 1024, 1),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-intervals", type=int, default=10_000)
    parser.add_argument("--length", type=int, default=1000)
    parser.add_argument("--models", default="labcnn,basset")
    parser.add_argument("--workers", default="1,2", help="comma list of worker counts")
    parser.add_argument("--method", default="deeplift_shap")
    parser.add_argument("--n-shuffles", type=int, default=20)
    parser.add_argument("--chunk-size", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--merge", default="mean", choices=("mean", "nearest"))
    parser.add_argument("--folder", default=None, help="work folder (default: a temp dir)")
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)

    folder = Path(args.folder or tempfile.mkdtemp(prefix="cislens_bigwig_"))
    folder.mkdir(parents=True, exist_ok=True)
    command = "python benchmarks/bigwig_throughput.py " + " ".join(
        sys.argv[1:] if argv is None else argv)  # fmt: skip
    result = {"command": command, "settings": vars(args), "cpu_count": os.cpu_count(),
              "load_average_at_start": os.getloadavg(), "runs": []}  # fmt: skip
    genome, bed = write_genome(folder, args.n_intervals, args.length)
    for name in args.models.split(","):
        checkpoint = make_model(folder, name.strip(), args.length)
        rates = {}
        for n_workers in (int(w) for w in args.workers.split(",")):
            run = run_once(args, checkpoint, genome, bed, n_workers,
                           folder / f"{name}_w{n_workers}.zarr")  # fmt: skip
            result["runs"].append(run)
            rates[n_workers] = run["seqs_per_second"]
            print(json.dumps(run), flush=True)
        if 1 in rates and 2 in rates:
            result[f"{name}_speedup_2_over_1"] = round(rates[2] / rates[1], 3)
    print(json.dumps({k: v for k, v in result.items() if k != "runs"}), flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2))
    if args.folder is None:
        shutil.rmtree(folder, ignore_errors=True)
    return result


if __name__ == "__main__":
    main()
