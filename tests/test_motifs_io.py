"""HDF5 / modisco-lite / MEME round trips and the command line."""

import h5py
import numpy as np
import pytest
from testkit import FAST, planted

from cislens.motifs import (
    discover_motifs,
    export_modisco_h5,
    load_motifs,
    save_motifs,
    write_patterns_meme,
)
from cislens.pwm import read_meme


@pytest.fixture(scope="module")
def result_and_data():
    X, H, _ = planted(n=160, seed=7)
    return discover_motifs(X, H, random_state=0, **FAST), X, H


def test_hdf5_round_trip(tmp_path, result_and_data):
    result, _, _ = result_and_data
    path = save_motifs(tmp_path / "m.h5", result)
    loaded = load_motifs(path)
    assert [p.name for p in loaded.patterns] == [p.name for p in result.patterns]
    for a, b in zip(result.patterns, loaded.patterns, strict=True):
        np.testing.assert_allclose(a.contrib, b.contrib, atol=1e-6)
        np.testing.assert_allclose(a.sequence, b.sequence, atol=1e-6)
        assert a.seqlets.equals(b.seqlets) and a.stats == b.stats
    assert loaded.params == result.params and loaded.random_state == 0
    assert loaded.seqlets.equals(result.seqlets)
    with h5py.File(path) as handle:
        assert handle.attrs["format"] == "cislens-motifs"
    with pytest.raises(ValueError, match="cislens-motifs"):
        load_motifs(export_modisco_h5(tmp_path / "x.h5", result, *result_and_data[1:]))


def test_modisco_export_layout(tmp_path, result_and_data):
    result, X, H = result_and_data
    path = export_modisco_h5(tmp_path / "modisco.h5", result, X, H)
    with h5py.File(path) as handle:
        group = handle["pos_patterns/pattern_0"]
        pattern = result.patterns[0]
        np.testing.assert_allclose(group["contrib_scores"][()], pattern.contrib.T, atol=1e-6)
        seqlets = group["seqlets"]
        n = int(seqlets["n_seqlets"][0])
        assert n == pattern.n_seqlets
        assert seqlets["sequence"].shape == (n, pattern.width, 4)
        np.testing.assert_allclose(seqlets["sequence"][()].mean(0), pattern.sequence.T, atol=1e-6)


def test_meme_round_trip(tmp_path, result_and_data):
    result, _, _ = result_and_data
    for kind in ("pfm", "cwm-pfm", "hcwm-pfm"):
        path = write_patterns_meme(tmp_path / f"{kind}.meme", result.patterns, kind=kind)
        motifs = read_meme(path)
        assert [m.name for m in motifs] == [p.name for p in result.patterns]
        expected = result.patterns[0].to_motif(kind=kind)
        np.testing.assert_allclose(motifs[0].probabilities, expected.probabilities, atol=1e-4)
    with pytest.raises(ValueError, match="kind"):
        write_patterns_meme(tmp_path / "x.meme", result.patterns, kind="cwm")


def test_cli_motifs_and_instances(tmp_path):
    from cislens.cli import main
    from cislens.io import AttributionSet, save_attributions

    X, H, _ = planted(n=160, seed=7)
    store = save_attributions(
        tmp_path / "attr.h5",
        AttributionSet(X=X, attributions=X * H, hypothetical=H, method="deeplift_shap"),
    )
    import cislens.cli.motifs  # noqa: F401  (registered by the lead in COMMAND_MODULES)

    out = tmp_path / "motifs"
    code = main(
        [
            "motifs",
            "--attributions",
            str(store),
            "--out",
            str(out),
            "--no-annotate",
            "--n-leiden-runs",
            "3",
        ]
    )
    assert code == 0
    assert {"motifs.h5", "modisco.h5", "motifs.meme", "seqlets.tsv"} <= {
        p.name for p in out.iterdir()
    }
    code = main(
        [
            "instances",
            "--motifs",
            str(out / "motifs.h5"),
            "--attributions",
            str(store),
            "--out",
            str(tmp_path / "hits.tsv"),
        ]
    )
    assert code == 0 and (tmp_path / "hits.tsv").stat().st_size > 0
    no_hyp = save_attributions(
        tmp_path / "proj.h5", AttributionSet(X=X, attributions=X * H, method="ism")
    )
    assert main(["motifs", "--attributions", str(no_hyp), "--out", str(out)]) == 2


def test_cli_filters(tmp_path):
    import cislens.cli.motifs  # noqa: F401
    from cislens.cli import main
    from cislens.io import Dataset, save_dataset
    from cislens.models import LabCNN, save_model
    from cislens.pwm import write_meme
    from cislens.pwm.jaspar import load_jaspar_motifs

    rng = np.random.default_rng(0)
    X = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (20, 200))].transpose(0, 2, 1).copy()
    data = save_dataset(
        tmp_path / "d.h5",
        Dataset(X={"test": X}, Y={"test": np.zeros((20, 1), np.float32)}, task_names=["t"]),
    )
    model = save_model(LabCNN(n_tasks=1, input_length=200, random_state=0), tmp_path / "m")
    db = write_meme(
        tmp_path / "db.meme",
        load_jaspar_motifs(["CTCF", "MAFK", "GATA1", "SPI1", "REST", "MAX"], release="JASPAR2024")
        * 5,
    )
    out = tmp_path / "filters"
    code = main(
        [
            "filters",
            "--model",
            str(model),
            "--data",
            str(data),
            "--out",
            str(out),
            "--database",
            str(db),
        ]
    )
    assert code == 0
    assert len(read_meme(out / "filters.meme")) == 32
    assert (out / "annotation.tsv").exists()
