"""FASTA reading and writing, BED parsing and interval extraction from a genome."""

import gzip

import numpy as np
import pandas as pd
import pytest

from cislens import decode, one_hot_encode
from cislens.sequence import (
    extract_intervals,
    iter_fasta,
    iter_fasta_batches,
    read_bed,
    read_fasta,
    reverse_complement,
    write_fasta,
)


@pytest.fixture
def genome(tmp_path):
    rng = np.random.default_rng(0)
    chroms = {
        "chr1": "".join(rng.choice(list("ACGT"), 500)),
        "chr2": "".join(rng.choice(list("ACGT"), 120)),
    }
    path = tmp_path / "genome.fa"
    write_fasta(path, chroms, line_width=50)
    return path, chroms


def test_write_read_round_trip_plain_and_gzip(tmp_path):
    records = {"a": "ACGT" * 40, "b": "NNAC", "c": "T"}
    for name in ("x.fa", "x.fa.gz"):
        path = tmp_path / name
        write_fasta(path, records, line_width=7)
        assert read_fasta(path) == records
    with gzip.open(tmp_path / "x.fa.gz", "rt") as handle:
        assert handle.readline() == ">a\n"


def test_gzip_detected_by_content_not_name(tmp_path):
    path = tmp_path / "misnamed.fa"
    with gzip.open(path, "wt") as handle:
        handle.write(">s\nACGT\n")
    assert read_fasta(path) == {"s": "ACGT"}


def test_iter_fasta_keeps_descriptions_and_handles_crlf_and_blank_lines(tmp_path):
    path = tmp_path / "x.fa"
    path.write_bytes(b">s1 some description\r\nACGT \r\n\r\n AA\r\n>s2\r\nCC\r\n")
    records = list(iter_fasta(path))
    assert [r.name for r in records] == ["s1", "s2"]
    assert records[0].sequence == "ACGTAA"
    assert records[0].description == "s1 some description"


def test_fasta_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"missing\.fa"):
        read_fasta(tmp_path / "missing.fa")
    bad = tmp_path / "bad.fa"
    bad.write_text("ACGT\n>s\nAC\n")
    with pytest.raises(ValueError, match="line 1 has sequence text before any '>'"):
        read_fasta(bad)
    dup = tmp_path / "dup.fa"
    dup.write_text(">s\nAC\n>s\nGG\n")
    with pytest.raises(ValueError, match="appears twice"):
        read_fasta(dup)
    assert len(list(iter_fasta(dup, duplicate_names="keep"))) == 2


def test_write_fasta_from_one_hot_and_name_checks(tmp_path):
    X = one_hot_encode(["ACGN", "TTTT"])
    path = tmp_path / "x.fa"
    write_fasta(path, X)
    assert read_fasta(path) == {"seq0": "ACGN", "seq1": "TTTT"}
    with pytest.raises(ValueError, match="names has 1 entries"):
        write_fasta(path, ["AC", "GT"], names=["a"])


def test_streaming_batches_cover_the_file_in_order(tmp_path):
    rng = np.random.default_rng(3)
    seqs = ["".join(rng.choice(list("ACGT"), 30)) for _ in range(25)]
    path = tmp_path / "x.fa"
    write_fasta(path, seqs)
    batches = list(iter_fasta_batches(path, batch_size=10))
    assert [len(names) for names, _ in batches] == [10, 10, 5]
    decoded = [s for _, X in batches for s in decode(X)]
    assert decoded == seqs


def test_read_bed_file_and_validation(tmp_path):
    path = tmp_path / "x.bed"
    path.write_text("track name=x\n#comment\nchr1\t10\t20\tpeak1\t0\t-\nchr2\t5\t9\n")
    frame = read_bed(path)
    assert list(frame["start"]) == [10, 5]
    assert frame.loc[0, "strand"] == "-"
    with pytest.raises(ValueError, match="end > start"):
        read_bed(pd.DataFrame({"chrom": ["chr1"], "start": [10], "end": [10]}))
    with pytest.raises(ValueError, match="missing"):
        read_bed(pd.DataFrame({"chrom": ["chr1"], "start": [10]}))


def test_extract_intervals_centres_windows_and_reverse_complements_minus(genome):
    path, chroms = genome
    bed = pd.DataFrame(
        {
            "chrom": ["chr1", "chr1", "chr2"],
            "start": [100, 100, 40],
            "end": [151, 151, 60],
            "name": ["a", "b", "c"],
            "score": [0, 0, 0],
            "strand": ["+", "-", "+"],
        }
    )
    X = extract_intervals(path, bed, length=20)
    assert X.shape == (3, 4, 20)
    seqs = decode(X)
    mid = (100 + 151) // 2
    assert seqs[0] == chroms["chr1"][mid - 10 : mid + 10]
    assert seqs[1] == reverse_complement(chroms["chr1"][mid - 10 : mid + 10])
    assert seqs[2] == chroms["chr2"][40:60]


def test_extract_intervals_off_the_end_raises_or_pads(genome):
    path, chroms = genome
    bed = pd.DataFrame({"chrom": ["chr2"], "start": [110], "end": [118]})
    with pytest.raises(ValueError, match=r"runs off chr2 .*pad_with_n=True"):
        extract_intervals(path, bed, length=20)
    seq = decode(extract_intervals(path, bed, length=20, pad_with_n=True))[0]
    assert seq == chroms["chr2"][104:120] + "NNNN"
    left = pd.DataFrame({"chrom": ["chr1"], "start": [0], "end": [2]})
    assert decode(extract_intervals(path, left, length=10, pad_with_n=True))[0].startswith("NNNN")


def test_extract_intervals_unknown_chromosome(genome):
    path, _ = genome
    bed = pd.DataFrame({"chrom": ["chrX"], "start": [0], "end": [10]})
    with pytest.raises(ValueError, match="chromosome 'chrX' is not in"):
        extract_intervals(path, bed, length=5)


def test_iter_fasta_batches_start_skips_records(tmp_path):
    path = tmp_path / "x.fa.gz"
    with gzip.open(path, "wt") as handle:
        handle.write("".join(f">s{i}\n{'ACGT'[i % 4] * 6}\n" for i in range(7)))
    batches = list(iter_fasta_batches(path, batch_size=2, start=3))
    assert [names for names, _ in batches] == [["s3", "s4"], ["s5", "s6"]]
    assert decode(batches[0][1])[0] == "TTTTTT"
    with pytest.raises(ValueError, match="start"):
        list(iter_fasta_batches(path, start=-1))
