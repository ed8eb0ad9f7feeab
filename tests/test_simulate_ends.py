"""The truth clean-up ends (issue 21, item 1).

Palindromic and half-site motifs (TP53 family, nuclear-receptor dimers, bHLH E-boxes) simulate
at the default ``scan`` settings with a complete truth, and a config that cannot reach one
stops with a clear error after a bounded number of rounds instead of growing without bound.
"""

import time
import tracemalloc

import numpy as np
import pytest
from testkit import check_truth

from cislens.errors import ConfigError
from cislens.simulate import ScanSpec, simulate
from cislens.simulate.embedding import _distinct_windows, _merge_segments
from cislens.simulate.matching import unaccounted_hits


def family_config(motifs, n=1500, length=500):
    """One presence task per motif, 1-3 instances each, uniform placement, default scan."""
    return {
        "name": "family",
        "length": length,
        "splits": {"train": n},
        "motifs": {name: source for name, source in motifs.items()},
        "tasks": [{"name": m, "rule": {"motif": m, "count": [1, 3]}} for m in motifs],
    }


# TP53 (MA0106.3, 18 bp) is two 10 bp half-sites: before the fix, echoes at +-10 bp and
# windows between tandem instances kept the loop going until memory ran out.
FAMILIES = {
    "tp53": {"TP53": "MA0106.3"},
    "tp63": {"TP63": "MA0525.2"},
    "nr_palindromes": {"ESR1": "MA0112.4", "NR3C1": "MA0113.4"},
    "nr_direct_repeats": {"RXRA_VDR": "MA0074.1", "NR2F1": "MA0017.3"},
    # two RXRA half-sites 3 bp apart on opposite strands make an ESR1 site: the few sequences
    # where that happens are realised again with new positions
    "nr_composite": {"ESR1": "MA0112.4", "RXRA": "MA0512.2"},
    "ebox": {"MAX": "MA0058.4", "TFAP4": "MA0691.1", "USF1": "MA0093.4"},
}


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_palindromic_and_half_site_motifs_finish_with_complete_truth(family):
    started = time.process_time()
    data = simulate(family_config(FAMILIES[family]), random_state=0)
    elapsed = time.process_time() - started
    assert elapsed < 20, f"{family}: {elapsed:.1f} s CPU"
    assert check_truth(data) == len(data.ground_truth.instances) > 0


def test_few_unremovable_sequences_are_realised_again(caplog):
    config = family_config(FAMILIES["nr_composite"], n=7000)
    with caplog.at_level("INFO", logger="cislens.simulate.simulator"):
        data = simulate(config, random_state=0)
    assert "realised again with new positions" in caplog.text
    check_truth(data)
    # deterministic, replacement included
    again = simulate(config, random_state=0)
    assert (again.X["train"] == data.X["train"]).all()
    assert again.ground_truth.instances.equals(data.ground_truth.instances)


def test_the_issue_config_finishes():
    # the new-user config of issue 21 (TP53 in an OR, a 1 bp composite, a distractor)
    config = {
        "name": "newuser",
        "length": 500,
        "splits": {"train": 1400, "valid": 200, "test": 400},
        "motifs": {m: m for m in ("FOXA2", "SOX2", "POU5F1", "NRF1", "TP53", "GRHL2", "NFYA")},
        "tasks": [
            {"name": "foxa2", "rule": "FOXA2"},
            {
                "name": "oct_sox",
                "rule": {
                    "pair": ["SOX2", "POU5F1"],
                    "spacing": 1,
                    "orientation": "same",
                    "order": "fixed",
                },
            },
            {"name": "nrf1_or_tp53", "rule": {"any": ["NRF1", "TP53"]}},
            {"name": "grhl2_nfya", "rule": {"all": ["GRHL2", "NFYA"]}},
        ],
        "distractors": [{"motif": "RUNX1", "count": {"poisson": 1, "min": 0, "max": 3}}],
    }
    started = time.process_time()
    data = simulate(config, random_state=0)
    assert time.process_time() - started < 20
    check_truth(data)


def test_an_impossible_config_errors_within_bounded_rounds():
    # two copies of one motif: every instance of A is an unrecorded match of B, whatever is
    # re-drawn, so no complete truth exists; the error names the motif and the counts
    config = family_config({"A": "MA0106.3"}, n=2000)
    config["motifs"]["B"] = "MA0106.3"
    started = time.process_time()
    tracemalloc.start()
    try:
        with pytest.raises(
            ConfigError, match=r"scan: \d+ unrecorded matches .*'B'.*after \d+ rounds"
        ):
            simulate(config, random_state=0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.process_time() - started < 20
    # the batch itself is 2000 x 500 bytes; before the fix the reports grew without bound
    assert peak < 100 * 2**20, f"peak {peak / 2**20:.0f} MiB"


def test_the_round_limit_is_honoured():
    config = family_config({"A": "MA0106.3"}, n=300)
    config["motifs"]["B"] = "MA0106.3"
    config["scan"] = {"max_rounds": 5}
    with pytest.raises(ConfigError, match="after 5 rounds") as info:
        simulate(config, random_state=0)
    assert "first" in str(info.value) and "fewest" in str(info.value)


def test_duplicate_reports_count_once():
    # the same window reported by two segments and on both strands is one match
    row = np.array([3, 3, 3, 3, 0])
    pos = np.array([7, 7, 7, 2, 7])
    motif = np.array([1, 1, 1, 1, 0])
    r, p, m = _distinct_windows(row, pos, motif, length=20, n_motifs=2)
    assert sorted(zip(r.tolist(), p.tolist(), m.tolist(), strict=True)) == [
        (0, 7, 0),
        (3, 2, 1),
        (3, 7, 1),
    ]


def test_segments_merge_per_row():
    row = np.array([1, 0, 1, 1, 0])
    lo = np.array([5, 0, 0, 20, 10])
    hi = np.array([12, 4, 6, 25, 12])
    r, a, b = _merge_segments(row, lo, hi, length=30)
    assert list(zip(r.tolist(), a.tolist(), b.tolist(), strict=True)) == [
        (0, 0, 4),
        (0, 10, 12),
        (1, 0, 12),
        (1, 20, 25),
    ]


def test_tandem_instances_account_for_the_window_between_them():
    # width 18, instances at 0 and 20: the window at 10 shares 8 bp with each (16 of 18)
    widths = np.array([18])
    ptr = np.array([0, 2])
    inst_motif, inst_start = np.array([0, 0]), np.array([0, 20])
    hit_pos = np.array([10, 10 - 9, 30])
    bad = unaccounted_hits(
        np.zeros(3, np.int64),
        hit_pos,
        np.zeros(3, np.int64),
        widths,
        ptr,
        inst_motif,
        inst_start,
        inst_start + 18,
        ScanSpec().overlap,
    )
    # 10: 8 + 8 bp covered; 1: 17 bp of the first; 30: 8 bp of the second only
    assert bad.tolist() == [False, False, True]
