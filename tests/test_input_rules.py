"""Inputs are read as written or refused, never silently changed (issue 24, item 4).

The rules, enforced where FASTA and BED files are read (``cislens.sequence.fasta``) and so by
every command that reads them (``shuffle``, ``extract``, ``run``, the Zarr engine):

- FASTA record names (the header's first word) are unique; a repeat names both header lines.
- A sequence line holds only IUPAC bases; a space, tab, digit or gap names the line and column.
- BED interval names (column 4, or ``chrom:start-end(strand)`` where it is absent or ".") are
  unique, so labels matched by name cannot give two intervals one row.
"""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from testkit import small_labcnn

from cislens.cli import main
from cislens.sequence import interval_names, iter_fasta, read_bed, read_fasta, write_fasta

DUPLICATE_FASTA = ">a first\nACGT\n>b\nGGCC\n>a second\nTTAA\n"


def _one_line_error(capsys, *fragments):
    err = capsys.readouterr().err
    assert err.startswith("cislens: error: ") and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    for fragment in fragments:
        assert fragment in err, err
    return err


# --- library ------------------------------------------------------------------------------------


def test_duplicate_fasta_names_are_refused_naming_both_lines(tmp_path):
    path = tmp_path / "dup.fa"
    path.write_text(DUPLICATE_FASTA)
    for reader in (read_fasta, lambda p: list(iter_fasta(p))):
        with pytest.raises(ValueError, match=r"'a' appears twice \(headers on lines 1 and 5\)"):
            reader(path)
    kept = list(iter_fasta(path, duplicate_names="keep"))  # explicit opt-in keeps all three
    assert [r.sequence for r in kept] == ["ACGT", "GGCC", "TTAA"]
    with pytest.raises(ValueError, match=r"duplicate_names must be one of"):
        list(iter_fasta(path, duplicate_names="rename"))


@pytest.mark.parametrize("line", ["AC GT", "AC\tGT", "AC1GT", "AC-GT", "AC*GT", "ACéGT"])
def test_non_base_character_inside_a_sequence_line_is_refused(tmp_path, line):
    path = tmp_path / "odd.fa"
    path.write_text(f">ok\nACGT\n>s2 desc\nGGGG\n{line}\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"line 5 \(record 's2'\) has .* at column 3"):
        read_fasta(path)


def test_whitespace_at_line_ends_and_iupac_codes_are_kept(tmp_path):
    path = tmp_path / "ok.fa"
    path.write_bytes(b">s\r\n  ACGT \t\r\nnryk\r\n")
    assert read_fasta(path) == {"s": "ACGTnryk"}


def test_fasta_source_applies_the_same_rules(tmp_path):
    pytest.importorskip("zarr")
    from cislens.scale import FastaSource

    dup = tmp_path / "dup.fa"
    dup.write_text(">a\nACGT\n>b\nGGCC\n>a\nTTAA\n")
    with pytest.raises(ValueError, match=r"'a' appears twice \(headers on lines 1 and 5\)"):
        FastaSource(dup)
    spaced = tmp_path / "spaced.fa"
    spaced.write_text(">a\nAC GT\n>b\nGGCC\n")
    with pytest.raises(ValueError, match=r"line 2 \(record 'a'\) has ' ' at column 3"):
        FastaSource(spaced)


def test_duplicate_bed_names_are_refused_naming_the_lines(tmp_path):
    bed = tmp_path / "dup.bed"
    bed.write_text("track name=x\nc1\t10\t30\tp0\nc1\t40\t60\tp1\nc1\t70\t90\tp0\n")
    with pytest.raises(ValueError, match=r"'p0' on line 2, line 4"):
        read_bed(bed)
    same = tmp_path / "same.bed"
    same.write_text("c1\t10\t30\nc1\t10\t30\n")  # an interval listed twice, no names
    with pytest.raises(ValueError, match=r"'c1:10-30' on line 1, line 2"):
        read_bed(same)


def test_unnamed_intervals_are_named_by_coordinates_and_strand(tmp_path):
    bed = tmp_path / "dots.bed"
    bed.write_text("c1\t10\t30\t.\t0\t+\nc1\t10\t30\t.\t0\t-\nc1\t5\t9\tp\t0\t+\n")
    assert interval_names(read_bed(bed)) == ["c1:10-30(+)", "c1:10-30(-)", "p"]


def test_bed_source_refuses_duplicate_names(tmp_path):
    pytest.importorskip("zarr")
    from cislens.scale import BedSource

    write_fasta(tmp_path / "g.fa", {"c1": "ACGT" * 30})
    bed = tmp_path / "dup.bed"
    bed.write_text("c1\t10\t30\tp0\nc1\t40\t60\tp0\n")
    with pytest.raises(ValueError, match="interval names must be unique"):
        BedSource(bed, tmp_path / "g.fa", length=8)


# --- command line ------------------------------------------------------------------------------


def test_shuffle_refuses_duplicate_names_and_writes_nothing(tmp_path, capsys):
    path = tmp_path / "dup.fa"
    path.write_text(DUPLICATE_FASTA)
    out = tmp_path / "shuf.fa"
    assert main(["shuffle", str(path), "--out", str(out)]) == 2
    _one_line_error(capsys, "'a' appears twice", "lines 1 and 5")
    assert not out.exists()


def test_shuffle_refuses_a_space_inside_a_sequence_line(tmp_path, capsys):
    path = tmp_path / "spaced.fa"
    path.write_text(">a\nAC GT\n")
    out = tmp_path / "shuf.fa"
    assert main(["shuffle", str(path), "--out", str(out)]) == 2
    _one_line_error(capsys, "line 2 (record 'a')", "' ' at column 3")
    assert not out.exists()


def test_extract_refuses_duplicate_bed_names(tmp_path, capsys):
    write_fasta(tmp_path / "g.fa", {"c1": "ACGT" * 30})
    bed = tmp_path / "dup.bed"
    bed.write_text("c1\t10\t30\tp0\nc1\t40\t60\tp0\n")
    out = tmp_path / "w.fa"
    args = ["extract", "--genome", str(tmp_path / "g.fa"), "--bed", str(bed), "-L", "8"]
    assert main([*args, "--out", str(out)]) == 2
    _one_line_error(capsys, "'p0' on line 1, line 2")
    assert not out.exists()


def test_zarr_engine_refuses_duplicate_fasta_ids(tmp_path, capsys):
    pytest.importorskip("zarr")
    from cislens.models import save_model

    checkpoint = save_model(small_labcnn(n_tasks=1, length=20), tmp_path / "model")
    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(list("ACGT"), 20)) for _ in range(3)]
    fasta = tmp_path / "dup.fa"
    fasta.write_text(f">x\n{seqs[0]}\n>y\n{seqs[1]}\n>x\n{seqs[2]}\n")
    out = tmp_path / "a.zarr"
    args = ["attribute", "--model", str(checkpoint), "--fasta", str(fasta), "--out", str(out)]
    assert main([*args, "--method", "saliency", "--target", "0"]) == 2
    _one_line_error(capsys, "'x' appears twice", "lines 1 and 5")
    assert not out.exists()


def test_run_refuses_a_bed_of_duplicate_names_with_a_labels_tsv(tmp_path, capsys):
    from cislens.models import save_model

    checkpoint = save_model(small_labcnn(n_tasks=1, length=20), tmp_path / "model")
    rng = np.random.default_rng(0)
    write_fasta(tmp_path / "g.fa", {"c1": "".join(rng.choice(list("ACGT"), 200))})
    (tmp_path / "p.bed").write_text("c1\t20\t40\tpeak\nc1\t100\t120\tpeak\n")
    (tmp_path / "labels.tsv").write_text("name\ttf\npeak\t1\n")
    config = {"data": {"bed": "p.bed", "genome": "g.fa", "length": 20, "labels": "labels.tsv"},
              "model": {"checkpoint": str(checkpoint)}, "methods": ["saliency"],
              "motifs": False}  # fmt: skip
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["run", str(path), "--out", str(tmp_path / "out")]) == 2
    _one_line_error(capsys, "'peak' on line 1, line 2", "interval names must be unique")
