"""Benchmark chunked DeepLiftShap on Dask: throughput with 1 and 2 workers, memory per worker.

Usage::

    python benchmarks/scale_deepliftshap.py                      # 100,000 x 1 kb (the target)
    python benchmarks/scale_deepliftshap.py --single-worker-seqs 20000   # 1 worker on a prefix
    python benchmarks/scale_deepliftshap.py --n-seqs 128 --chunk-size 32 --out scale.json
    python benchmarks/scale_deepliftshap.py --chunk-size 256 --workers none \
        --memory-method saliency --memory-sizes 2048,16384

Uniform random 1 kb sequences are written to a FASTA file (streamed, so the input never sits in
memory) and explained by ``cislens.scale.attribute_to_zarr`` with ``deeplift_shap`` (20
dinucleotide shuffles, output 0) of a LabCNN with random weights (the lab's default size: 32 and
16 filters, 128 hidden units, 3 tasks, 1 kb input), saved as a checkpoint. Each run starts a
fresh local cluster (worker processes, one thread each) so the workers' memory high-water marks
belong to that run alone; the cluster start-up is not timed, the first chunk of each worker
(model load, JIT warm-up) is.

Reported per run: wall time and throughput (sequences/s) of the whole job; the workers' CPU
seconds per sequence (``time.process_time`` around each chunk: on a machine shared with other
work, wall-clock scaling says little, CPU cost per sequence still shows the per-worker cost);
the peak resident memory of each worker process (``ru_maxrss``, reported by the workers); and
the speed-up of 2 workers over 1 (ratio of the throughputs). The memory runs repeat 2 workers on
other dataset sizes (``--memory-sizes``, default N/4): peak worker memory bounded by the chunk
size shows as equal peaks for every size.

Each worker process uses one torch thread (``OMP_NUM_THREADS=1``, set by Dask's nanny), so the
speed-up measures processes, not threads. On a shared machine the result depends on the load;
the JSON output records ``os.cpu_count()`` and the load average at the start.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np


def write_inputs(folder: Path, n: int, length: int, seed: int = 0) -> Path:
    """Stream ``n`` uniform random sequences to a FASTA file in blocks (bounded memory)."""
    path = folder / f"random_{n}.fa"
    rng = np.random.default_rng(seed)
    letters = np.frombuffer(b"ACGT", dtype=np.uint8)
    with open(path, "w") as handle:
        for start in range(0, n, 4096):
            block = letters[rng.integers(0, 4, size=(min(4096, n - start), length))]
            handle.writelines(
                f">s{start + i}\n{row.tobytes().decode()}\n" for i, row in enumerate(block)
            )
    return path


def make_model(folder: Path, length: int) -> Path:
    import torch

    from cislens.models import LabCNN, save_model

    torch.set_num_threads(1)
    model = LabCNN(n_tasks=3, input_length=length, random_state=0)
    return save_model(model, folder / "labcnn")


def run_once(
    args, checkpoint: Path, fasta: Path, n_workers: int, out: Path, method: str = "deeplift_shap"
) -> dict:
    import distributed

    from cislens.scale import FastaSource, attribute_to_zarr

    shutil.rmtree(out, ignore_errors=True)
    source = FastaSource(fasta)
    with (
        distributed.LocalCluster(
            n_workers=n_workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",  # any free port: never clash on 8787
            silence_logs=logging.ERROR,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        started = time.perf_counter()
        report = attribute_to_zarr(
            checkpoint,
            source,
            out,
            method=method,
            target=0,
            **({"n_shuffles": args.n_shuffles} if method == "deeplift_shap" else {}),
            chunk_size=args.chunk_size,
            batch_size=args.batch_size,
            random_state=0,
            client=client,
            verbose=args.verbose,
        )
        seconds = time.perf_counter() - started
    peaks: dict[int, float] = {}
    for task in report.tasks:
        peaks[task["pid"]] = max(peaks.get(task["pid"], 0.0), task["peak_rss_mb"])
    task_seconds = [task["seconds"] for task in report.tasks]
    cpu_seconds = sum(task["cpu_seconds"] for task in report.tasks)
    return {
        "method": method,
        "n_seqs": source.n,
        "workers": n_workers,
        "chunks": report.n_blocks,
        "seconds": round(seconds, 2),
        "seqs_per_second": round(source.n / seconds, 2),
        "median_chunk_seconds": round(float(np.median(task_seconds)), 3),
        "worker_cpu_seconds_per_seq": round(cpu_seconds / source.n, 4),
        "peak_rss_mb_per_worker": sorted(round(value, 1) for value in peaks.values()),
        "store_mb": round(sum(f.stat().st_size for f in out.rglob("*") if f.is_file()) / 2**20, 1),
    }


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-seqs", type=int, default=100_000)
    parser.add_argument("--length", type=int, default=1000)
    parser.add_argument("--chunk-size", type=int, default=1024)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--n-shuffles", type=int, default=20)
    parser.add_argument(
        "--single-worker-seqs",
        type=int,
        default=None,
        help="sequences for the 1-worker run (default: --n-seqs); the first ones of the same "
        "inputs. Throughput is a steady rate once past the first chunk, so a shorter 1-worker "
        "run measures the same rate in less time (the speed-up compares sequences per second)",
    )
    parser.add_argument(
        "--workers", default="1,2", help="comma list of worker counts ('none': memory runs only)"
    )
    parser.add_argument(
        "--memory-sizes",
        default=None,
        help="comma list of dataset sizes for the memory runs (2 workers); default N/4 (N is "
        "the 2-worker scaling run)",
    )
    parser.add_argument(
        "--memory-method",
        default="deeplift_shap",
        help="method of the memory runs; a cheap one (saliency) lets the sizes differ by 10x "
        "on a small machine (the engine holds one chunk per worker whatever the method)",
    )
    parser.add_argument("--folder", default=None, help="work folder (default: a temp dir)")
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)

    folder = Path(args.folder or tempfile.mkdtemp(prefix="cislens_scale_"))
    folder.mkdir(parents=True, exist_ok=True)
    result = {
        "settings": vars(args),
        "cpu_count": os.cpu_count(),
        "load_average_at_start": os.getloadavg(),
        "runs": [],
    }
    checkpoint = make_model(folder, args.length)
    scaling = [int(w) for w in args.workers.split(",") if w.strip().isdigit()]
    large = write_inputs(folder, args.n_seqs, args.length) if scaling else None
    single = None
    if scaling and args.single_worker_seqs and args.single_worker_seqs < args.n_seqs:
        single = write_inputs(folder, args.single_worker_seqs, args.length)  # same seed: a prefix
    for n_workers in scaling:
        fasta = single if (n_workers == 1 and single is not None) else large
        run = run_once(args, checkpoint, fasta, n_workers, folder / f"w{n_workers}.zarr")
        result["runs"].append(run)
        print(json.dumps(run), flush=True)
    sizes = args.memory_sizes or str(max(args.chunk_size, args.n_seqs // 4))
    for size in [int(value) for value in sizes.split(",")]:
        if large is not None and size == args.n_seqs:
            fasta = large
        else:
            fasta = write_inputs(folder, size, args.length, seed=1)
        out = folder / f"memory_{size}.zarr"
        run = run_once(args, checkpoint, fasta, 2, out, method=args.memory_method)
        result["runs"].append(run)
        print(json.dumps(run), flush=True)
    scaling_sizes = {args.n_seqs, args.single_worker_seqs}
    by_workers = {
        r["workers"]: r
        for r in result["runs"][: len(scaling)]
        if r["n_seqs"] in scaling_sizes and r["method"] == "deeplift_shap"
    }
    if 1 in by_workers and 2 in by_workers:
        result["speedup_2_over_1"] = round(
            by_workers[2]["seqs_per_second"] / by_workers[1]["seqs_per_second"], 3
        )
    print(json.dumps({k: v for k, v in result.items() if k != "runs"}), flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2))
    if args.folder is None:
        shutil.rmtree(folder, ignore_errors=True)
    return result


if __name__ == "__main__":
    main()
