"""Hits in genome coordinates: every BED record must point at the motif's bases in the genome
FASTA, read on the record's strand, whatever the strand of the window it was called in."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from testkit import finemo_hits_file

from cislens.motifs import call_instances
from cislens.motifs.genome import (
    hit_summary,
    hits_to_bed,
    read_finemo_hits,
    write_hits_bed,
)
from cislens.pwm import Motif
from cislens.sequence import decode, extract_intervals, read_bed, reverse_complement
from cislens.sequence.fasta import read_fasta, write_fasta
from cislens.sequence.windows import bed_windows, chrom_sizes

MOTIF = "GATTACAGG"  # not its own reverse complement


def genome_with_sites(folder):
    """c1 holds MOTIF at 50 (+) and its reverse complement at 200 (so MOTIF on -)."""
    rng = np.random.default_rng(0)
    c1 = list("".join(rng.choice(list("ACT"), 300)))  # no G: no chance site of a G-rich motif
    c1[50:59] = MOTIF
    c1[200:209] = reverse_complement(MOTIF)
    write_fasta(folder / "g.fa", {"c1": "".join(c1), "c2": "".join(rng.choice(list("ACT"), 80))})
    # Windows of 60 bp: + and - over the first site, - over the second, one on c2 (no site),
    # and one near c1's end that needs padding.
    (folder / "r.bed").write_text(
        "c1\t40\t70\tw_plus\t0\t+\nc1\t44\t64\tw_minus\t0\t-\nc1\t190\t220\tw2\t0\t-\n"
        "c2\t30\t50\tw3\t0\t+\nc1\t280\t300\tw4\t0\t+\n"
    )
    return folder / "g.fa", folder / "r.bed"


def test_pwm_hits_map_back_to_the_motif_bases_on_the_right_strand(tmp_path):
    genome, bed = genome_with_sites(tmp_path)
    windows = bed_windows(bed, genome, length=60, pad_with_n=True)
    X = extract_intervals(genome, read_bed(bed), length=60, pad_with_n=True).numpy()
    counts = np.eye(4)[["ACGT".index(b) for b in MOTIF]].T * 20
    hits = call_instances(
        [Motif.from_counts("GATTACA", counts, pseudocount=0.5)], X, method="pwm", p_threshold=1e-4
    )
    assert set(hits["example"]) == {0, 1, 2}  # the two windows over site 1 and the one over 2
    bed_hits = hits_to_bed(hits, windows, sizes=chrom_sizes(genome))
    sequence = read_fasta(genome)
    got = set()
    for row in bed_hits.itertuples():
        bases = sequence[row.chrom][row.start : row.end]
        assert (bases if row.strand == "+" else reverse_complement(bases)) == MOTIF
        got.add((row.chrom, row.start, row.end, row.strand, row.window))
    assert got == {
        ("c1", 50, 59, "+", "w_plus"),
        ("c1", 50, 59, "+", "w_minus"),
        ("c1", 200, 209, "-", "w2"),
    }
    # The hit table's own columns follow; the row and window name say where it was called.
    assert {"hit_score", "p_value", "row"} <= set(bed_hits.columns)
    assert bed_hits["score"].between(0, 1000).all()
    assert list(bed_hits["row"]) == sorted(bed_hits["row"])


def test_hits_bed_file_is_bed6_plus_sorted_with_matches_and_summary(tmp_path):
    windows = pd.DataFrame(
        {
            "chrom": ["c2", "c1"],
            "start": [0, 100],
            "end": [20, 120],
            "strand": ["+", "-"],
            "name": ["a", "b"],
        }
    )
    hits = pd.DataFrame(
        {
            "example": [0, 1, 1],
            "start": [2, 0, 15],
            "end": [8, 6, 21],
            "strand": ["-", "+", "+"],
            "pattern": ["P0", "P0", "P1"],
            "similarity": [0.5, 0.9, 0.7],
        }
    )
    annotation = pd.DataFrame(
        {
            "pattern": ["P0", "P0"],
            "rank": [1, 2],
            "target_id": ["MA0139.2", "MA1929.2"],
            "target_name": ["CTCF", "CTCF"],
            "q_value": [1e-5, 0.2],
        }
    )
    bed = hits_to_bed(hits, windows, sizes={"c1": 200, "c2": 50}, annotation=annotation)
    # P1's hit runs past the end of its - window, i.e. before the window's start on c1.
    assert bed[["chrom", "start", "end", "strand"]].values.tolist() == [
        ["c1", 99, 105, "-"],
        ["c1", 114, 120, "-"],
        ["c2", 2, 8, "-"],
    ]
    assert bed["name"].tolist() == ["P1", "P0", "P0"]
    assert bed["match_id"].fillna("").tolist() == ["", "MA0139.2", "MA0139.2"]
    path = tmp_path / "hits.bed"
    write_hits_bed(bed, path)
    lines = path.read_text().splitlines()
    assert lines[0].startswith("#chrom\tstart\tend\tname\tscore\tstrand\tmatch_id")
    assert lines[2].split("\t")[:9] == [
        "c1",
        "114",
        "120",
        "P0",
        "900",
        "-",
        "MA0139.2",
        "CTCF",
        "1e-05",
    ]
    again = pd.read_csv(path, sep="\t", comment="#", header=None)  # as bedtools reads it
    assert again[1].tolist() == [99, 114, 2] and again.shape[1] == bed.shape[1]
    summary = hit_summary(bed).set_index("motif")
    assert summary.loc["P0", "n_hits"] == 2 and summary.loc["P0", "n_windows"] == 2
    assert summary.loc["P0", "mean_score"] == 700 and summary.loc["P0", "match_id"] == "MA0139.2"


def test_hits_beyond_a_chromosome_end_are_left_out(caplog):
    windows = pd.DataFrame(
        {"chrom": ["c1"], "start": [-10], "end": [10], "strand": ["+"], "name": ["edge"]}
    )
    hits = pd.DataFrame(
        {
            "example": [0, 0],
            "start": [2, 12],
            "end": [8, 18],
            "strand": ["+", "+"],
            "pattern": ["P", "P"],
        }
    )
    bed = hits_to_bed(hits, windows, sizes={"c1": 100})
    assert bed[["start", "end"]].values.tolist() == [[2, 8]]
    assert "N padding" in caplog.text


def test_finemo_hits_map_back_to_the_window_bases(tmp_path):
    genome, bed = genome_with_sites(tmp_path)
    windows = bed_windows(bed, genome, length=60, pad_with_n=True)
    X = extract_intervals(genome, read_bed(bed), length=60, pad_with_n=True)
    # Hits at window positions (row, trimmed start, strand); width 6 after Fi-NeMo's trim.
    rows = [(0, 5, "+"), (1, 10, "+"), (2, 30, "-"), (1, 40, "-")]
    hits = read_finemo_hits(finemo_hits_file(tmp_path / "finemo", rows))
    assert sorted(zip(hits["example"], hits["start"], hits["strand"], strict=True)) == sorted(rows)
    hits["hit_id"] = np.arange(len(hits))
    bed_hits = hits_to_bed(hits, windows, sizes=chrom_sizes(genome))
    sequence = read_fasta(genome)
    assert len(bed_hits) == len(rows)
    for record in bed_hits.itertuples():
        hit = hits.loc[record.hit_id]
        window = decode(X[hit.example : hit.example + 1])[0]
        called = window[hit.start : hit.end]  # the bases Fi-NeMo called, on the window's +
        called = called if hit.strand == "+" else reverse_complement(called)
        bases = sequence[record.chrom][record.start : record.end]
        assert (bases if record.strand == "+" else reverse_complement(bases)) == called
        assert record.window == windows["name"][hit.example]
    assert bed_hits["hit_importance"].tolist() == [2.0] * 4
    assert (bed_hits["score"] == 800).all()


def test_finemo_hits_with_genome_coordinates_are_refused(tmp_path):
    path = tmp_path / "hits.tsv"
    path.write_text(
        "chr\tstart\tend\tstart_untrimmed\tend_untrimmed\tmotif_name\tstrand\t"
        "peak_id\nchr1\t5\t11\t3\t13\tpos_0\t-\t2\n"
    )
    with pytest.raises(ValueError, match="genome coordinates"):
        read_finemo_hits(path)
