"""``cislens variants``: VCF parsing, allele windows, and ref/alt scoring on a tiny genome.

The expected windows are built independently here: the whole alternative chromosome is spelled
out by string replacement, N-padded, and cut at the same offset as the reference window.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
import torch
from testkit import HandWritten, small_labcnn, two_heads_files

pytest.importorskip("distributed")
zarr = pytest.importorskip("zarr")

from cislens.attribution import attribution_set  # noqa: E402
from cislens.cli import main  # noqa: E402
from cislens.errors import ConfigError  # noqa: E402
from cislens.scale import read_metadata, read_vcf, score_variants  # noqa: E402
from cislens.sequence import one_hot_encode  # noqa: E402
from cislens.sequence.fasta import write_fasta  # noqa: E402

LENGTH = 40


@pytest.fixture(scope="module")
def client():
    import distributed

    # Threads in this process: the scoring path is the same; process workers are covered by
    # tests/test_scale.py.
    with (
        distributed.LocalCluster(
            n_workers=1,
            threads_per_worker=2,
            processes=False,
            dashboard_address=":0",  # any free port: never clash on 8787
            silence_logs=logging.CRITICAL,
        ) as cluster,
        distributed.Client(cluster) as active,
    ):
        yield active


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    from cislens.models import save_model

    folder = tmp_path_factory.mktemp("variants")
    rng = np.random.default_rng(3)
    chroms = {name: "".join(rng.choice(list("ACGT"), 300)) for name in ("c1", "c2")}
    genome = folder / "genome.fa"
    write_fasta(genome, chroms)
    c1, c2 = chroms["c1"], chroms["c2"]
    other = {"A": "C", "C": "G", "G": "T", "T": "A"}
    records = [
        ("c1", 100, "snv", c1[99], other[c1[99]]),
        ("c1", 150, "ins", c1[149], c1[149] + "ACG"),
        ("c2", 50, ".", c2[49:53], c2[49]),  # deletion of 3 bases; no ID
        ("c2", 5, "edge", c2[4], other[c2[4]]),  # window runs off the chromosome start
        ("c1", 200, "multi", c1[199], f"{other[c1[199]]},{other[other[c1[199]]]}"),
    ]
    vcf = folder / "v.vcf"
    lines = ["##fileformat=VCFv4.2", "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"]
    lines += [f"{c}\t{p}\t{i}\t{r}\t{a}\t.\tPASS\t." for c, p, i, r, a in records]
    vcf.write_text("\n".join(lines) + "\n")
    model = small_labcnn(n_tasks=2, length=LENGTH, seed=1)
    checkpoint = save_model(model, folder / "model", task_names=["a", "b"])
    return {"folder": folder, "genome": genome, "chroms": chroms, "vcf": vcf, "model": model,
            "checkpoint": checkpoint}  # fmt: skip


def _expected_windows(chroms, table):
    pad = "N" * LENGTH
    refs, alts = [], []
    for row in table.itertuples(index=False):
        seq = chroms[row.chrom]
        at = row.pos - 1
        alt_chrom = seq[:at] + row.alt + seq[at + len(row.ref) :]
        begin = at - LENGTH // 2 + LENGTH  # in the padded strings
        refs.append((pad + seq + pad)[begin : begin + LENGTH])
        alts.append((pad + alt_chrom + pad)[begin : begin + LENGTH])
    return refs, alts


def test_read_vcf_splits_alleles_and_names_records(files):
    table = read_vcf(files["vcf"])
    assert len(table) == 6 and list(table["id"][:2]) == ["snv", "ins"]
    assert table["id"][2] == f"c2:50:{table['ref'][2]}>{table['alt'][2]}"
    assert list(table["id"][4:]) == ["multi", "multi"] and table["alt"][4] != table["alt"][5]


@pytest.mark.parametrize(
    ("alt", "message"),
    [("<DEL>", "symbolic alleles"), ("A]c1:5]", "breakends"), (".", "'.'"), ("*", "'\\*'")],
)
def test_read_vcf_rejects_unsupported_alleles(tmp_path, alt, message):
    path = tmp_path / "bad.vcf"
    path.write_text(f"#CHROM\tPOS\tID\tREF\tALT\nc1\t3\tx\tA\t{alt}\n")
    with pytest.raises(ValueError, match=rf"line 2 \(c1:3\): ALT .* not supported.*{message}"):
        read_vcf(path)


def test_scores_equal_direct_predictions_and_resume(files, client):
    out = files["folder"] / "variants.zarr"
    report = score_variants(
        files["checkpoint"], files["vcf"], files["genome"], out, target=1, n_top=3,
        chunk_size=4, client=client,
    )  # fmt: skip
    assert report.computed == [0, 1]
    table = read_vcf(files["vcf"])
    refs, alts = _expected_windows(files["chroms"], table)
    assert len(alts[1]) == LENGTH and alts[1][20:24] == table["alt"][1]  # insertion, trimmed
    assert refs[3].startswith("N" * 16)  # edge variant: N-padded on the left
    with torch.no_grad():
        ref = files["model"](one_hot_encode(refs)).numpy()
        alt = files["model"](one_hot_encode(alts)).numpy()
    store = zarr.open_group(str(out), mode="r")
    np.testing.assert_allclose(store["ref_predictions"][:], ref, atol=1e-6)
    np.testing.assert_allclose(store["alt_predictions"][:], alt, atol=1e-6)
    np.testing.assert_allclose(store["delta"][:], alt - ref, atol=1e-6)
    # DeepLIFT of both alleles for the 3 variants with the largest |delta| on the target.
    top = np.argsort(-np.abs(alt[:, 1] - ref[:, 1]), kind="stable")[:3]
    np.testing.assert_array_equal(store["top_index"][:], top)
    for label, windows in (("ref", refs), ("alt", alts)):
        X = one_hot_encode([windows[i] for i in top])
        expected = attribution_set(files["model"], X, method="deeplift", target=1)
        np.testing.assert_allclose(store[f"top_{label}_attributions"][:], expected.attributions,
                                   atol=1e-6)  # fmt: skip
        np.testing.assert_array_equal(store[f"top_{label}_sequences"][:], X.numpy())
    again = score_variants(
        files["checkpoint"], files["vcf"], files["genome"], out, target=1, n_top=3,
        chunk_size=4, client=client,
    )  # fmt: skip
    assert again.computed == [] and again.skipped == [0, 1]
    # Other settings: refused with the fix named, then replaced with overwrite=True.
    with pytest.raises(ConfigError, match=r"chunk_size: store has 4, this run has 8.*--overwrite"):
        score_variants(files["checkpoint"], files["vcf"], files["genome"], out, target=1,
                       n_top=3, chunk_size=8, client=client)  # fmt: skip
    replaced = score_variants(files["checkpoint"], files["vcf"], files["genome"], out, target=1,
                              n_top=3, chunk_size=8, client=client, overwrite=True)  # fmt: skip
    assert replaced.computed == [0] and read_metadata(out)["chunk_size"] == 8
    np.testing.assert_allclose(zarr.open_group(str(out), mode="r")["delta"][:], alt - ref,
                               atol=1e-6)  # fmt: skip


def test_output_head_scores_like_a_hand_written_wrapper(files, client, tmp_path):
    spec, weights, model = two_heads_files(tmp_path)
    out = tmp_path / "heads.zarr"
    score_variants(
        spec, files["vcf"], files["genome"], out, weights=weights, length=LENGTH,
        output="counts", n_top=2, chunk_size=4, client=client,
    )  # fmt: skip
    refs, alts = _expected_windows(files["chroms"], read_vcf(files["vcf"]))
    wrapper = HandWritten(model, "counts").eval()
    with torch.no_grad():
        ref = wrapper(one_hot_encode(refs)).numpy()
        alt = wrapper(one_hot_encode(alts)).numpy()
    store = zarr.open_group(str(out), mode="r")
    np.testing.assert_allclose(store["delta"][:], alt - ref, atol=1e-6)
    top = np.argsort(-np.abs(alt[:, 0] - ref[:, 0]), kind="stable")[:2]
    X = one_hot_encode([alts[i] for i in top])
    expected = attribution_set(wrapper, X, method="deeplift", target=0)
    np.testing.assert_allclose(store["top_alt_attributions"][:], expected.attributions,
                               atol=1e-6)  # fmt: skip
    meta = store.attrs["cislens"]
    assert (meta["output"], meta["input_layout"]) == ("counts", "NCL")


def test_ref_mismatch_names_the_variant(files, client, tmp_path):
    vcf = tmp_path / "wrong.vcf"
    base = files["chroms"]["c1"][9]
    wrong = "A" if base != "A" else "C"
    vcf.write_text(f"#CHROM\tPOS\tID\tREF\tALT\nc1\t10\tbad\t{wrong}\tG\n")
    with pytest.raises(Exception, match=r"variant bad \(c1:10\): REF .* does not match"):
        score_variants(files["checkpoint"], vcf, files["genome"], tmp_path / "w.zarr",
                       target=0, n_top=0, client=client)  # fmt: skip


def test_cli_writes_store_and_table(files, client, capsys):
    out = files["folder"] / "cli.zarr"
    table = files["folder"] / "scores.tsv"
    code = main([
        "variants", "--vcf", str(files["vcf"]), "--genome", str(files["genome"]), "--model",
        str(files["checkpoint"]), "--out", str(out), "--table", str(table), "--target", "b",
        "--top", "2", "--scheduler", client.scheduler.address,
    ])  # fmt: skip
    assert code == 0
    frame = pd.read_csv(table, sep="\t")
    store = zarr.open_group(str(out), mode="r")
    np.testing.assert_allclose(frame["delta_b"], store["delta"][:, 1], atol=1e-6)
    np.testing.assert_allclose(frame["alt_a"] - frame["ref_a"], frame["delta_a"], atol=1e-5)
    assert store["top_index"].shape == (2,)
    printed = capsys.readouterr().out
    best = frame["id"][int(np.argmax(np.abs(frame["delta_b"])))]
    assert "6 variants" in printed and printed.splitlines()[1].strip().startswith(best)


def test_cli_output_option(files, client, tmp_path, capsys):
    spec, weights, model = two_heads_files(tmp_path)
    args = ["variants", "--vcf", str(files["vcf"]), "--genome", str(files["genome"]), "--model",
            spec, "--weights", str(weights), "--length", str(LENGTH), "--top", "0",
            "--scheduler", client.scheduler.address]  # fmt: skip
    assert main([*args, "--out", str(tmp_path / "bad.zarr"), "--output", "7"]) == 2
    assert "--output=7 does not name an output" in capsys.readouterr().err
    assert not (tmp_path / "bad.zarr").exists()
    out = tmp_path / "cli.zarr"
    assert main([*args, "--out", str(out), "--output", "counts"]) == 0
    refs, alts = _expected_windows(files["chroms"], read_vcf(files["vcf"]))
    wrapper = HandWritten(model, "counts").eval()
    with torch.no_grad():
        delta = (wrapper(one_hot_encode(alts)) - wrapper(one_hot_encode(refs))).numpy()
    np.testing.assert_allclose(zarr.open_group(str(out), mode="r")["delta"][:], delta, atol=1e-6)
