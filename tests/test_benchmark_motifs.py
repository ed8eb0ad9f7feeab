"""benchmark_motifs: recovery of simulated motifs, spurious patterns, instance calls."""

import numpy as np
import pandas as pd
import pytest

from cislens.benchmark import benchmark_motifs
from cislens.io import GroundTruth
from cislens.pwm.jaspar import load_jaspar_motif

NAMES = ("CTCF", "MAFK", "GATA1", "SPI1", "REST", "TEAD1", "MAX", "E2F6", "JUND", "TAL1::TCF3")


@pytest.fixture(scope="module")
def db():
    return [load_jaspar_motif(n, release="JASPAR2024") for n in NAMES] * 3


def test_recovery_rank_and_spurious(db):
    mafk = load_jaspar_motif("MAFK", release="JASPAR2024")
    spi1 = load_jaspar_motif("SPI1", release="JASPAR2024")
    rest = load_jaspar_motif("REST", release="JASPAR2024")
    truth = GroundTruth(pd.DataFrame(), {"MAFK": mafk.probabilities, "SPI1": spi1.probabilities})
    bench = benchmark_motifs([rest, mafk], truth, database=db)
    table = bench.motifs.set_index("motif")
    assert bool(table.loc["MAFK", "recovered"]) and table.loc["MAFK", "pattern"] == "MAFK"
    assert table.loc["MAFK", "pattern_rank"] == 2
    assert table.loc["MAFK", "q_value"] < 0.05
    assert not bool(table.loc["SPI1", "recovered"])
    assert bench.n_recovered == 1 and bench.n_spurious == 1
    assert bench.pattern_truth == {"MAFK": "MAFK"}


def test_instance_precision_recall(db):
    mafk = load_jaspar_motif("MAFK", release="JASPAR2024")
    instances = pd.DataFrame(
        {
            "sequence": [5, 5, 7],
            "split": "test",
            "motif": "MAFK",
            "start": [10, 50, 20],
            "end": [25, 65, 35],
            "strand": "+",
            "relevant_t": True,
            "role": "rule",
        }
    )
    truth = GroundTruth(instances, {"MAFK": mafk.probabilities})
    # examples 0 and 1 are test rows 5 and 7; three hits: two true, one false
    hits = pd.DataFrame(
        {
            "example": [0, 0, 1],
            "start": [12, 100, 21],
            "end": [27, 115, 36],
            "pattern": "MAFK",
            "strand": "+",
        }
    )
    bench = benchmark_motifs([mafk], truth, database=db, hits=hits, example_index=np.array([5, 7]))
    row = bench.instances.set_index("motif").loc["MAFK"]
    assert row["precision"] == pytest.approx(2 / 3)
    assert row["recall"] == pytest.approx(2 / 3)


def test_no_patterns():
    mafk = load_jaspar_motif("MAFK", release="JASPAR2024")
    truth = GroundTruth(pd.DataFrame(), {"MAFK": mafk.probabilities})
    bench = benchmark_motifs([], truth, database=[mafk] * 25)
    assert bench.n_recovered == 0 and bench.n_spurious == 0
    assert bench.motifs["motif"].tolist() == ["MAFK"]
