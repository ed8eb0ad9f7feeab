"""Genome tracks: a bigWig of projected attributions from BED + genome, and the edge checks.

The reference is computed here the plain way: the windows placed by the documented rule from
the BED file (not from the store), each window's projected attributions (store, summed over
channels) laid on a dense per-chromosome array, reversed on minus-strand windows, and merged by
the rule. The bigWig must hold exactly that at every base, also after a run killed half-way.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("distributed")
zarr = pytest.importorskip("zarr")
pyBigWig = pytest.importorskip("pyBigWig")

from cislens.cli import main  # noqa: E402
from cislens.errors import ConfigError  # noqa: E402
from cislens.scale import BedSource, attribute_to_zarr, write_bigwig  # noqa: E402
from cislens.scale import tracks as tracks_module  # noqa: E402
from cislens.sequence.fasta import write_fasta  # noqa: E402

LENGTH = 40
SIZES = {"c1": 300, "c2": 120, "c3": 90}
# Unsorted, overlapping (p1/p2/p5 on c1), both strands, one window off c1's start (p3, needs
# --pad-with-n), one off its end (p4), a lone window on c2, nothing on c3.
BED = [
    ("c2", 50, 60, "p0", "+"),
    ("c1", 100, 140, "p1", "-"),
    ("c1", 110, 131, "p2", "+"),
    ("c1", 5, 9, "p3", "+"),
    ("c1", 280, 290, "p4", "-"),
    ("c1", 125, 135, "p5", "-"),
    ("c1", 140, 150, "p6", "+"),  # touches p5's window: one cluster
]


@pytest.fixture(scope="module")
def client():
    import distributed

    with (
        distributed.LocalCluster(n_workers=1, processes=False, dashboard_address=":0") as cluster,
        distributed.Client(cluster) as active,
    ):
        yield active


@pytest.fixture(scope="module")
def genome_files(tmp_path_factory):
    from cislens.models import LabCNN, save_model

    folder = tmp_path_factory.mktemp("tracks")
    rng = np.random.default_rng(3)
    write_fasta(
        folder / "g.fa",
        {name: "".join(rng.choice(list("ACGT"), size)) for name, size in SIZES.items()},
    )
    (folder / "r.bed").write_text(
        "".join(f"{c}\t{s}\t{e}\t{n}\t0\t{st}\n" for c, s, e, n, st in BED)
    )
    net = LabCNN(
        n_tasks=1,
        input_length=LENGTH,
        n_filters=(4, 4),
        filter_widths=(5, 3),
        pool_sizes=(2, 2),
        n_hidden=8,
        random_state=0,
    )
    checkpoint = save_model(net, folder / "model")
    return {
        "folder": folder,
        "genome": folder / "g.fa",
        "bed": folder / "r.bed",
        "checkpoint": checkpoint,
    }


@pytest.fixture(scope="module")
def store(genome_files, client):
    source = BedSource(genome_files["bed"], genome_files["genome"], length=LENGTH, pad_with_n=True)
    out = genome_files["folder"] / "attr.zarr"
    attribute_to_zarr(
        genome_files["checkpoint"],
        source,
        out,
        method="saliency",
        chunk_size=3,
        client=client,
        random_state=0,
    )
    return out


def expected_track(store, merge):
    """Dense per-chromosome values (NaN: not covered) by the documented rule."""
    projected = np.asarray(zarr.open_group(str(store), mode="r")["attributions"][:]).sum(1)
    values = {c: np.full(n, np.nan) for c, n in SIZES.items()}
    total = {c: np.zeros(n) for c, n in SIZES.items()}
    count = {c: np.zeros(n) for c, n in SIZES.items()}
    nearest = {c: np.full(n, np.inf) for c, n in SIZES.items()}
    for row, (chrom, start, end, _, strand) in enumerate(BED):
        centre = (start + end) // 2
        begin = centre - LENGTH // 2
        track = projected[row][::-1] if strand == "-" else projected[row]
        for p in range(LENGTH):
            base = begin + p
            if not 0 <= base < SIZES[chrom]:
                continue
            total[chrom][base] += track[p]
            count[chrom][base] += 1
            if abs(base - centre) < nearest[chrom][base]:  # strict: the first row wins ties
                nearest[chrom][base] = abs(base - centre)
                values[chrom][base] = track[p]
    if merge == "mean":
        for chrom in SIZES:
            covered = count[chrom] > 0
            values[chrom][covered] = total[chrom][covered] / count[chrom][covered]
    return values


def read_track(path):
    with pyBigWig.open(str(path)) as track:
        assert track.chroms() == SIZES
        return {c: np.asarray(track.values(c, 0, n), dtype=np.float64) for c, n in SIZES.items()}


@pytest.mark.parametrize("merge", ["mean", "nearest"])
def test_bigwig_holds_the_merged_projected_attributions_at_every_base(store, tmp_path, merge):
    out = tmp_path / f"{merge}.bw"
    report = write_bigwig(store, out, merge=merge, part_rows=2)
    got, want = read_track(out), expected_track(store, merge)
    for chrom in SIZES:
        np.testing.assert_array_equal(np.isnan(got[chrom]), np.isnan(want[chrom]))
        covered = ~np.isnan(want[chrom])
        np.testing.assert_allclose(got[chrom][covered], want[chrom][covered], rtol=1e-6, atol=1e-7)
    assert report.n_bases == sum(int((~np.isnan(v)).sum()) for v in want.values())
    assert not (tmp_path / f".{merge}.bw.parts").exists()  # the parts go once the track is in


def test_the_merge_rules_differ_where_windows_overlap(store):
    mean, nearest = expected_track(store, "mean"), expected_track(store, "nearest")
    assert not np.allclose(mean["c1"][110:131], nearest["c1"][110:131])
    np.testing.assert_array_equal(mean["c2"], nearest["c2"])  # one window: the same


def test_killed_bigwig_run_resumes_from_its_parts(store, tmp_path, monkeypatch):
    whole = tmp_path / "whole.bw"
    write_bigwig(store, whole, part_rows=1)
    out = tmp_path / "resumed.bw"
    saved = []
    original = tracks_module._save_part

    def dies_after_two(path, *args):
        if len(saved) == 2:
            raise KeyboardInterrupt  # the kill, after two parts were saved
        original(path, *args)
        saved.append(path.name)

    monkeypatch.setattr(tracks_module, "_save_part", dies_after_two)
    with pytest.raises(KeyboardInterrupt):
        write_bigwig(store, out, part_rows=1)
    assert not out.exists()  # nothing half-written at the final path
    assert sorted(p.name for p in (tmp_path / ".resumed.bw.parts").glob("part-*")) == saved
    monkeypatch.setattr(tracks_module, "_save_part", original)
    report = write_bigwig(store, out, part_rows=1)
    assert report.reused == [0, 1] and report.computed == list(range(2, report.n_parts))
    for chrom, values in read_track(whole).items():
        np.testing.assert_array_equal(read_track(out)[chrom], values)
    # Parts of another rule are not reused: the manifest differs, the folder starts over.
    monkeypatch.setattr(tracks_module, "_save_part", dies_after_two)
    saved.clear()
    with pytest.raises(KeyboardInterrupt):
        write_bigwig(store, tmp_path / "again.bw", part_rows=1, merge="nearest")
    monkeypatch.setattr(tracks_module, "_save_part", original)
    assert write_bigwig(store, tmp_path / "again.bw", part_rows=1).reused == []


def test_window_off_a_chromosome_is_refused_before_any_worker(genome_files, tmp_path, capsys):
    out = tmp_path / "a.zarr"
    code = main(
        [
            "attribute",
            "--model",
            str(genome_files["checkpoint"]),
            "--bed",
            str(genome_files["bed"]),
            "--genome",
            str(genome_files["genome"]),
            "--method",
            "saliency",
            "--out",
            str(out),
            "--workers",
            "2",
        ]
    )
    error = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in error
    assert f"{genome_files['bed']}:4: interval c1:5-9" in error
    assert "window c1:-13-27 runs off c1 (length 300)" in error
    assert "1 more intervals do too" in error and "--pad-with-n" in error
    assert not out.exists()


def test_changed_inputs_are_refused_with_the_fix_then_overwritten(genome_files, client, tmp_path):
    bed = tmp_path / "fewer.bed"
    lines = genome_files["bed"].read_text().splitlines(keepends=True)
    bed.write_text("".join(lines))
    out = tmp_path / "a.zarr"
    run = {"method": "saliency", "chunk_size": 4, "client": client, "random_state": 0}
    source = BedSource(bed, genome_files["genome"], length=LENGTH, pad_with_n=True)
    attribute_to_zarr(genome_files["checkpoint"], source, out, **run)
    bed.write_text("".join(lines[:3]))  # the user drops intervals and reruns
    source = BedSource(bed, genome_files["genome"], length=LENGTH, pad_with_n=True)
    with pytest.raises(ConfigError, match=r"input.n: store has 7, this run has 3.*--overwrite"):
        attribute_to_zarr(genome_files["checkpoint"], source, out, **run)
    report = attribute_to_zarr(genome_files["checkpoint"], source, out, overwrite=True, **run)
    assert report.computed == [0] and zarr.open_group(str(out))["attributions"].shape[0] == 3
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    (tmp_path / "not_a_store.zarr").mkdir()
    with pytest.raises(ConfigError, match=r"not a Zarr store|not a 'cislens-zarr"):
        attribute_to_zarr(
            genome_files["checkpoint"], source, tmp_path / "not_a_store.zarr", overwrite=True, **run
        )


def test_cli_writes_the_bigwig_of_the_store(genome_files, tmp_path, capsys):
    out, track = tmp_path / "a.zarr", tmp_path / "a.bw"
    code = main(
        [
            "attribute",
            "--model",
            str(genome_files["checkpoint"]),
            "--bed",
            str(genome_files["bed"]),
            "--genome",
            str(genome_files["genome"]),
            "--pad-with-n",
            "--method",
            "saliency",
            "--seed",
            "0",
            "--out",
            str(out),
            "--workers",
            "1",
            "--chunk-size",
            "3",
            "--bigwig",
            str(track),
            "--bigwig-merge",
            "nearest",
        ]
    )
    assert code == 0, capsys.readouterr().err
    got, want = read_track(track), expected_track(out, "nearest")
    for chrom in SIZES:
        np.testing.assert_allclose(got[chrom], want[chrom], rtol=1e-6, atol=1e-7)


def test_store_instances_and_finemo_hits_reach_the_genome_from_the_cli(
    store, genome_files, tmp_path, capsys
):
    from testkit import finemo_hits_file

    from cislens.motifs import call_instances
    from cislens.motifs.genome import call_store_instances
    from cislens.pwm import Motif
    from cislens.sequence import decode, reverse_complement
    from cislens.sequence.fasta import read_fasta

    group = zarr.open_group(str(store), mode="r")
    X = np.asarray(group["sequences"][:], dtype=np.float32)
    motif = Motif.from_counts("AC", np.eye(4)[[0, 1, 1, 0]].T * 10, pseudocount=0.5)
    chunked = call_store_instances([motif], store, method="pwm", chunk_size=2, p_threshold=0.01)
    whole = call_instances([motif], X, method="pwm", p_threshold=0.01)
    pd_cols = ["example", "start", "end", "strand", "pattern"]
    assert len(whole) > 0
    assert chunked[pd_cols].values.tolist() == whole[pd_cols].values.tolist()

    rows = [(0, 3, "+"), (1, 10, "-"), (5, 20, "+"), (4, 10, "-")]  # all inside chromosomes
    hits_tsv = finemo_hits_file(tmp_path / "finemo", rows)
    out = tmp_path / "calls" / "hits.tsv"
    code = main(
        ["instances", "--finemo", str(hits_tsv), "--attributions", str(store), "--out", str(out)]
    )
    assert code == 0, capsys.readouterr().err
    import pandas as pd

    bed = pd.read_csv(out.with_suffix(".bed"), sep="\t", comment="#", header=None, dtype=str)
    bed = bed.to_numpy()
    genome = read_fasta(genome_files["genome"])
    sequences = decode(X)
    assert len(bed) == len(rows) and (out.parent / "hits.summary.tsv").is_file()
    for chrom, start, end, _, _, strand, *_rest in bed:
        bases = genome[chrom][int(start) : int(end)]
        read = bases if strand == "+" else reverse_complement(bases)
        called = set()
        for row, first, hit_strand in rows:
            text = sequences[row][first : first + 6]
            called.add(text if hit_strand == "+" else reverse_complement(text))
        assert read in called


def test_zoom_levels_are_optional_and_do_not_change_the_values(store, tmp_path):
    write_bigwig(store, tmp_path / "zoomed.bw")
    write_bigwig(store, tmp_path / "flat.bw", zooms=0)
    with (
        pyBigWig.open(str(tmp_path / "zoomed.bw")) as a,
        pyBigWig.open(str(tmp_path / "flat.bw")) as b,
    ):
        assert a.header()["nLevels"] > 0 and b.header()["nLevels"] == 0
    for chrom, values in read_track(tmp_path / "zoomed.bw").items():
        np.testing.assert_array_equal(read_track(tmp_path / "flat.bw")[chrom], values)
    with pytest.raises(ValueError, match=r"zooms \(--bigwig-zooms\) must be an int in \[0, 10\]"):
        write_bigwig(store, tmp_path / "x.bw", zooms=-1)
