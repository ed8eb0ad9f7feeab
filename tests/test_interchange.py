"""Files handed to and taken from modisco-lite and Fi-NeMo, checked through the peers themselves.

The peers run as subprocesses (their command lines are the interface users have): ``modisco
motifs`` on our exported arrays, ``modisco report`` on our h5, ``finemo
extract-regions-modisco-fmt`` on our arrays and ``finemo call-hits`` on our h5 + regions; our
readers then read what they wrote. Each peer test is skipped when the peer is not installed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from testkit import FAST, planted

from cislens.cli import main
from cislens.io import AttributionSet, save_attributions
from cislens.io.interchange import (
    load_finemo_regions,
    load_modisco_arrays,
    load_plain_arrays,
    save_chrombpnet_h5,
    save_finemo_regions,
    save_modisco_arrays,
)
from cislens.motifs import (
    discover_motifs,
    export_modisco_h5,
    load_finemo_hits,
    load_modisco_h5,
    load_motifs,
    merge_motif_sets,
    pattern_similarity,
    provenance_table,
    save_motifs,
)
from cislens.pwm import read_meme

BIN = Path(sys.executable).parent
LENGTH = 90


def peer(name: str) -> Path:
    path = BIN / name
    if not path.exists():
        pytest.skip(f"{name} is not installed (pip install modisco-lite finemo)")
    return path


def run_peer(*args, cwd) -> subprocess.CompletedProcess:
    env = {**os.environ, "NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def consensus(pattern) -> str:
    start, end = pattern.trim_bounds()
    return "".join("ACGT"[i] for i in pattern.sequence[:, start:end].argmax(0))


def revcomp(text: str) -> str:
    return text[::-1].translate(str.maketrans("ACGT", "TGCA"))


def found(pattern, motifs) -> str | None:
    """The planted motif a pattern's core reads (either strand), or None."""
    core = consensus(pattern)
    for motif in motifs:
        if motif in core or revcomp(motif) in core or core in (motif, revcomp(motif)):
            return motif
    return None


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("interchange")
    X, H, truth = planted(n=160, length=LENGTH, seed=7)
    result = discover_motifs(X, H, random_state=0, **FAST)
    assert len(result.patterns) == 2
    return folder, X, H, truth, result


def test_modisco_motifs_reads_our_arrays_and_we_read_its_results(run):
    folder, X, H, truth, _ = run
    modisco = peer("modisco")
    s, a = save_modisco_arrays(folder / "ohe.npz", folder / "shap.npz", X, H)
    with np.load(s) as archive:
        assert archive.files == ["arr_0"] and archive["arr_0"].shape == (160, 4, LENGTH)
    run_peer(
        modisco,
        "motifs",
        "-s",
        s,
        "-a",
        a,
        "-n",
        2000,
        "-w",
        LENGTH,
        "-l",
        2,
        "-o",
        folder / "theirs.h5",
        cwd=folder,
    )
    theirs = load_modisco_h5(folder / "theirs.h5")
    assert sorted(found(p, ("GATTACAGGC", "CCGTTAACTT")) for p in theirs.patterns) == [
        "CCGTTAACTT",
        "GATTACAGGC",
    ]
    assert {p.stats["modisco_name"] for p in theirs.patterns} == {
        "pos_patterns.pattern_0",
        "pos_patterns.pattern_1",
    }
    # every seqlet modisco-lite assigned sits on a planted site of its motif
    for pattern in theirs.patterns:
        motif = found(pattern, ("GATTACAGGC", "CCGTTAACTT"))
        rows = truth.set_index("sequence").loc[pattern.seqlets["example"]]
        assert (rows["motif"] == motif).mean() > 0.95
        inside = (rows["start"].to_numpy() >= pattern.seqlets["start"].to_numpy()) & (
            rows["end"].to_numpy() <= pattern.seqlets["end"].to_numpy()
        )
        assert inside.mean() > 0.95
    back = load_modisco_arrays(s, a)
    np.testing.assert_array_equal(back.X, X)
    np.testing.assert_array_equal(back.hypothetical, H)
    # the same two motifs found by cislens and by modisco-lite merge into two, each listing both
    ours = save_motifs(folder / "ours_for_merge.h5", run[4])
    code = main(
        [
            "merge-motifs",
            str(ours),
            str(folder / "theirs.h5"),
            "-o",
            str(folder / "merged"),
            "--labels",
            "cislens,modisco",
        ]
    )
    assert code == 0
    merged = load_motifs(folder / "merged" / "motifs.h5")
    assert len(merged.patterns) == 2
    for pattern in merged.patterns:
        runs = sorted(p["run"] for p in pattern.stats["provenance"])
        assert runs == ["cislens", "modisco"]


def test_modisco_report_reads_our_h5(run):
    folder, X, H, _, result = run
    modisco = peer("modisco")
    ours = export_modisco_h5(folder / "ours.h5", result, X, H)
    run_peer(modisco, "report", "-i", ours, "-o", folder / "report", "-n", 1, cwd=folder)
    assert (folder / "report" / "report.html").stat().st_size > 0
    # and our reader reads our own export back as the same patterns
    back = load_modisco_h5(ours)
    for a, b in zip(result.patterns, back.patterns, strict=True):
        np.testing.assert_allclose(a.contrib, b.contrib, atol=1e-6)
        assert len(a.seqlets) == len(b.seqlets)


def test_finemo_reads_our_arrays_and_h5_and_we_read_its_hits(run):
    folder, X, H, truth, result = run
    finemo = peer("finemo")
    s, a = save_modisco_arrays(folder / "f_ohe.npz", folder / "f_shap.npz", X, H)
    run_peer(
        finemo,
        "extract-regions-modisco-fmt",
        "-s",
        s,
        "-a",
        a,
        "-w",
        LENGTH,
        "-o",
        folder / "extracted.npz",
        cwd=folder,
    )
    extracted = load_finemo_regions(folder / "extracted.npz")
    np.testing.assert_array_equal(extracted.X, X)
    np.testing.assert_allclose(extracted.contributions, H, atol=2e-3)  # Fi-NeMo keeps float16
    contributions = save_chrombpnet_h5(folder / "contribs.h5", X, H)
    run_peer(
        finemo,
        "extract-regions-chrombpnet-h5",
        "-c",
        contributions,
        "-w",
        LENGTH,
        "-o",
        folder / "extracted_h5.npz",
        cwd=folder,
    )
    from_h5 = load_finemo_regions(folder / "extracted_h5.npz")
    np.testing.assert_array_equal(from_h5.X, X)
    np.testing.assert_allclose(from_h5.contributions, H, atol=2e-3)
    regions = save_finemo_regions(folder / "regions.npz", X, H)
    ours = export_modisco_h5(folder / "finemo_motifs.h5", result, X, H)
    run_peer(
        finemo,
        "call-hits",
        "-r",
        regions,
        "-m",
        ours,
        "-o",
        folder / "hits",
        "-d",
        "cpu",
        "-M",
        "hh",
        cwd=folder,
    )
    hits = load_finemo_hits(folder / "hits" / "hits.tsv")
    assert set(hits["pattern"]) == {"pos_patterns.pattern_0", "pos_patterns.pattern_1"}
    # each planted site is covered by a hit in its sequence (positions within the region)
    covered = 0
    for row in truth.itertuples():
        own = hits[hits["example"] == row.sequence]
        covered += bool(((own["start"] <= row.start + 2) & (own["end"] >= row.end - 2)).any())
    assert covered / len(truth) > 0.9


def test_cli_export_writes_what_the_peers_read(run, tmp_path):
    _, X, H, _, result = run
    store = save_attributions(
        tmp_path / "attr.h5",
        AttributionSet(X=X, attributions=X * H, hypothetical=H, method="deeplift_shap"),
    )
    motifs = save_motifs(tmp_path / "motifs.h5", result)
    previous = os.umask(0o022)
    try:
        code = main(["export", "-a", str(store), "-o", str(tmp_path / "out"), "-m", str(motifs)])
    finally:
        os.umask(previous)
    assert code == 0
    out = tmp_path / "out"
    written = (
        "sequences.npz",
        "scores.npz",
        "contributions.h5",
        "regions.npz",
        "modisco.h5",
        "motifs.meme",
    )
    for name in written:
        assert (out / name).stat().st_mode & 0o777 == 0o644, name  # the umask's mode, not 0600
    back = load_modisco_arrays(out / "sequences.npz", out / "scores.npz")
    np.testing.assert_array_equal(back.hypothetical, H)
    assert [m.name for m in read_meme(out / "motifs.meme")] == ["pos_0", "pos_1"]
    assert len(load_modisco_h5(out / "modisco.h5").patterns) == 2
    assert main(["export", "-a", str(store), "-o", str(tmp_path / "x"), "--to", "meme"]) == 2


def test_cli_motifs_reads_plain_and_modisco_arrays(run, tmp_path):
    _, X, H, _, _ = run
    np.savez(tmp_path / "pooled.npz", sequences=X.astype(np.int8), hypothetical=H)
    assert load_plain_arrays(tmp_path / "pooled.npz").hypothetical.shape == X.shape
    args = ["--no-annotate", "--n-leiden-runs", "3"]
    assert (
        main(["motifs", "-a", str(tmp_path / "pooled.npz"), "-o", str(tmp_path / "a"), *args]) == 0
    )
    assert len(load_motifs(tmp_path / "a" / "motifs.h5").patterns) == 2
    assert len(read_meme(tmp_path / "a" / "motifs.meme")) == 2
    s, a = save_modisco_arrays(tmp_path / "s.npz", tmp_path / "h.npz", X, H)
    assert main(["motifs", "-s", str(s), "-a", str(a), "-o", str(tmp_path / "b"), *args]) == 0
    assert len(load_motifs(tmp_path / "b" / "motifs.h5").patterns) == 2
    np.savez(tmp_path / "wrong.npz", onehot=X, scores=H)
    assert main(["motifs", "-a", str(tmp_path / "wrong.npz"), "-o", str(tmp_path / "c")]) == 2


def test_merging_a_run_with_itself_gives_the_same_set(run):
    _, _, _, _, result = run
    merged = merge_motif_sets([result, result], labels=["a", "b"])
    assert len(merged.patterns) == len(result.patterns)
    for original, kept in zip(result.patterns, merged.patterns, strict=True):
        np.testing.assert_array_equal(original.contrib, kept.contrib)
        assert kept.stats["source"] == f"a:{original.name}"
        assert [(p["run"], p["pattern"]) for p in kept.stats["provenance"]] == [
            ("a", original.name),
            ("b", original.name),
        ]
        itself, twin = kept.stats["provenance"]
        # itself: 1 by definition; its twin: the measured similarity of identical patterns,
        # < 1 only because a trimmed core is compared with the whole track
        assert itself["similarity"] == 1.0 and twin["similarity"] > 0.95


def test_merging_two_runs_with_one_shared_motif_gives_the_union(run, tmp_path):
    first = run[4]  # GATTACAGGC and CCGTTAACTT
    X2, H2, _ = planted(n=160, length=LENGTH, seed=8, motifs=("GATTACAGGC", "TGTCGGATAC"))
    second = discover_motifs(X2, H2, random_state=0, **FAST)
    motifs = ("GATTACAGGC", "CCGTTAACTT", "TGTCGGATAC")
    merged = merge_motif_sets([first, second], labels=["one", "two"])
    assert sorted(found(p, motifs) for p in merged.patterns) == sorted(motifs)
    table = provenance_table(merged)
    shared = [p.name for p in merged.patterns if found(p, motifs) == "GATTACAGGC"]
    assert sorted(table[table["merged"] == shared[0]]["run"]) == ["one", "two"]
    assert (table.groupby("merged").size() >= 1).all() and len(table) == 4
    # different motifs stay apart: every cross-motif similarity is below the threshold
    for a in merged.patterns:
        for b in merged.patterns:
            if a is not b:
                assert pattern_similarity(a, b) < 0.7
    # the command line: cislens files in, h5 + MEME + provenance out
    paths = [save_motifs(tmp_path / f"{i}.h5", r) for i, r in enumerate((first, second))]
    code = main(
        ["merge-motifs", *map(str, paths), "-o", str(tmp_path / "m"), "--labels", "one,two"]
    )
    assert code == 0
    assert len(read_meme(tmp_path / "m" / "motifs.meme")) == 3
    assert len(load_motifs(tmp_path / "m" / "motifs.h5").patterns) == 3
    assert (tmp_path / "m" / "provenance.tsv").read_text().count("\n") == 5
