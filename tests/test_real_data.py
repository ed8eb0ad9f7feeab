"""The real-data example: Oct4 ChIP-seq peaks shipped by the Janggu package, end to end.

Trains on 1,500 peaks vs their dinucleotide shuffles, explains 400 peaks with DeepLiftShap,
discovers motifs and matches them against JASPAR CORE vertebrates: the top pattern must be
Oct4's (POU5F1, JASPAR's ``Pou5f1::Sox2`` / ``POU5F1``) at TOMTOM q < 1e-5. About 10 s of CPU.
Skipped where the data package is missing (``pip install --no-deps janggu``; ``make test``
installs it).
"""

from __future__ import annotations

import importlib.util
import time

import numpy as np
import pytest
import torch

from cislens.real_data import load_peaks, peaks_example, peaks_vs_shuffles

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("janggu") is None,
    reason="the peak sequences come with the janggu package (pip install --no-deps janggu)",
)


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_the_peaks_are_real_oct4_peaks():
    X = load_peaks("oct4")
    assert X.shape == (3897, 4, 200)
    # the octamer ATGCAAAT (either strand) is far more frequent in the peaks than in their
    # dinucleotide shuffles: the data carries Oct4's motif before any model sees it
    both, _ = peaks_vs_shuffles(X, random_state=0)
    text = ["".join("ACGTN"[i] for i in np.where(x.any(0), x.argmax(0), 4)) for x in both]
    count = [sum(s.count(m) for m in ("ATGCAAAT", "ATTTGCAT")) for s in text]
    peaks, shuffles = sum(count[: len(X)]), sum(count[len(X) :])
    assert peaks > 3 * shuffles


def test_oct4_motif_comes_out_on_top(one_thread):
    start = time.process_time()
    result = peaks_example("oct4", random_state=0)
    assert result.valid_auroc > 0.8
    top = result.discovery.patterns[0]
    best = result.matches[(result.matches["pattern"] == top.name) & (result.matches["rank"] == 1)]
    assert len(best) == 1
    name, q = best["target_name"].iloc[0], float(best["q_value"].iloc[0])
    assert "pou5f1" in name.lower(), (name, q)
    assert q < 1e-5, (name, q)
    print(f"top pattern {top.name}: {name} q={q:.2g}; CPU {time.process_time() - start:.1f} s")
