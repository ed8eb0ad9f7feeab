"""Benchmark cislens' dinucleotide shuffle, and tangermeme's when it is installed.

Usage::

    python benchmarks/shuffle.py                       # 1,000 x 1,000 bp x 20 shuffles
    python benchmarks/shuffle.py --n-seqs 200 --length 2000 --n 10 --repeats 5 --threads 2

Times ``cislens.shuffle.dinucleotide_shuffle`` (and the mononucleotide ``shuffle``) on random
one-hot sequences after a warm-up call that triggers numba compilation, reports the best and
median wall time over ``--repeats`` runs, the peak memory traced by ``tracemalloc`` during one
call (NumPy buffers; numba's internal scratch arrays are not traced) and the process's peak RSS.
When ``tangermeme`` is importable, times ``tangermeme.ersatz.dinucleotide_shuffle`` on the same
torch input and prints the time ratio; otherwise prints "tangermeme not installed".
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
import tracemalloc

import numba
import numpy as np
import torch

from cislens.shuffle import dinucleotide_shuffle, shuffle


def random_one_hot(n_seqs: int, length: int, seed: int) -> torch.Tensor:
    """Uniform random ACGT sequences as a float32 (N, 4, L) tensor."""
    tokens = np.random.default_rng(seed).integers(0, 4, size=(n_seqs, length))
    X = np.zeros((n_seqs, 4, length), dtype=np.float32)
    np.put_along_axis(X, tokens[:, None, :], 1.0, axis=1)
    return torch.from_numpy(X)


def time_call(func, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        tic = time.perf_counter()
        func()
        times.append(time.perf_counter() - tic)
    return times


def traced_peak_mib(func) -> float:
    tracemalloc.start()
    try:
        func()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak / 2**20


def max_rss_mib() -> float:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 2**20 if sys.platform == "darwin" else rss / 2**10


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-seqs", type=int, default=1000, help="sequences (default 1000)")
    parser.add_argument("--length", type=int, default=1000, help="length in bp (default 1000)")
    parser.add_argument("--n", type=int, default=20, help="shuffles per sequence (default 20)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs (default 3)")
    parser.add_argument("--seed", type=int, default=0, help="random_state (default 0)")
    parser.add_argument("--threads", type=int, default=None, help="numba threads (default all)")
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.threads is not None:
        numba.set_num_threads(args.threads)
    X = random_one_hot(args.n_seqs, args.length, args.seed)
    print(
        f"input: {args.n_seqs} x {args.length} bp, n={args.n} shuffles, "
        f"numba threads={numba.get_num_threads()}, torch threads={torch.get_num_threads()}"
    )
    results: dict[str, float] = {}

    tic = time.perf_counter()
    dinucleotide_shuffle(X[:2, :, :50], n=2, random_state=0)
    shuffle(X[:2, :, :50], n=2, random_state=0)
    print(f"warm-up (compile or load numba cache): {time.perf_counter() - tic:.2f} s")

    def run_cislens():
        return dinucleotide_shuffle(X, n=args.n, random_state=args.seed)

    times = time_call(run_cislens, args.repeats)
    results["cislens_s"] = min(times)
    out_mib = args.n_seqs * args.n * 4 * args.length * 4 / 2**20
    print(
        f"cislens dinucleotide_shuffle: best {min(times):.3f} s, "
        f"median {statistics.median(times):.3f} s over {args.repeats} runs "
        f"(output {out_mib:.0f} MiB float32)"
    )
    results["cislens_traced_peak_mib"] = traced_peak_mib(run_cislens)
    print(f"  peak traced memory during one call: {results['cislens_traced_peak_mib']:.0f} MiB")

    mono_times = time_call(lambda: shuffle(X, n=args.n, random_state=args.seed), args.repeats)
    results["cislens_mono_s"] = min(mono_times)
    print(f"cislens shuffle (mononucleotide): best {min(mono_times):.3f} s")

    try:
        from tangermeme.ersatz import dinucleotide_shuffle as tangermeme_shuffle
    except ImportError:
        print("tangermeme not installed")
    else:
        tangermeme_shuffle(X[:2, :, :50], n=2, random_state=0)  # warm-up (numba compile)

        def run_tangermeme():
            return tangermeme_shuffle(X, n=args.n, random_state=args.seed)

        tm_times = time_call(run_tangermeme, args.repeats)
        results["tangermeme_s"] = min(tm_times)
        print(
            f"tangermeme dinucleotide_shuffle: best {min(tm_times):.3f} s, "
            f"median {statistics.median(tm_times):.3f} s"
        )
        results["ratio"] = results["tangermeme_s"] / results["cislens_s"]
        print(f"ratio tangermeme / cislens: {results['ratio']:.2f}x")

    results["max_rss_mib"] = max_rss_mib()
    print(f"process peak RSS: {results['max_rss_mib']:.0f} MiB")
    return results


if __name__ == "__main__":
    main()
