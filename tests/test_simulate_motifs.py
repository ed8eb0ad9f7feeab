"""Motif loading for simulations: JASPAR through pyjaspar, MEME files, consensus strings."""

import numpy as np
import pytest

from cislens.pwm.jaspar import (
    default_release,
    jaspar_releases,
    load_jaspar_motif,
    load_jaspar_motifs,
    load_motif,
    motif_from_consensus,
)
from cislens.pwm.motif import Motif

RELEASE = "JASPAR2024"  # pinned so the expected IDs do not move with a newer pyjaspar


def test_newest_release_is_the_default():
    releases = jaspar_releases()
    assert default_release() == releases[0] == max(releases)
    motif = load_jaspar_motif("CTCF")
    assert motif.source == default_release()


@pytest.mark.parametrize(
    ("query", "matrix_id", "name"),
    [
        ("CTCF", "MA0139.2", "CTCF"),  # lowest base ID among MA0139 / MA1929 / MA1930
        ("ctcf", "MA0139.2", "CTCF"),  # case-insensitive
        ("SPI1", "MA0080.7", "Spi1"),  # latest version, renamed between versions
        ("ARID3A", "MA0151.1", "Arid3a"),
        ("MAFK", "MA0496.4", "MAFK"),
        ("MA0139", "MA0139.2", "CTCF"),  # base ID -> latest version
        ("MA0139.1", "MA0139.1", "CTCF"),  # exact version
    ],
)
def test_resolution_prefers_core_vertebrates_latest_version(query, matrix_id, name):
    motif = load_jaspar_motif(query, release=RELEASE)
    assert (motif.matrix_id, motif.name, motif.source) == (matrix_id, name, RELEASE)


def test_the_examples_of_the_issue_all_load():
    names = ["CTCF", "GATA1", "MAFK", "ARID3A", "SPI1", "TAL1", "JUND", "TEAD1", "REST"]
    names += ["E2F6", "MAX", "SOX2", "POU5F1"]
    motifs = load_jaspar_motifs(names, release=RELEASE)
    assert [m.name.upper() for m in motifs] == names
    for motif in motifs:
        assert np.allclose(motif.probabilities.sum(axis=0), 1)
        assert np.isfinite(motif.log_odds()).all()


def test_probabilities_use_the_pseudocount():
    motif = load_jaspar_motif("MA0151.1", release=RELEASE, pseudocount=2.0)
    counts = motif.counts
    expected = (counts + 2.0 * 0.25) / (counts.sum(axis=0) + 2.0)
    assert np.allclose(motif.probabilities, expected)
    raw = load_jaspar_motif("MA0151.1", release=RELEASE, pseudocount=0.0)
    assert np.allclose(raw.probabilities, counts / counts.sum(axis=0))


def test_loaded_motifs_are_cached():
    assert load_jaspar_motif("CTCF", release=RELEASE) is load_jaspar_motif("CTCF", release=RELEASE)


def test_unknown_name_lists_close_matches():
    with pytest.raises(ValueError, match=r"'CTFC' is not in .*Close matches: .*'CTCF'"):
        load_jaspar_motif("CTFC", release=RELEASE)
    with pytest.raises(ValueError, match="Ddit3::Cebpa"):  # dimers containing the name
        load_jaspar_motif("DDIT3", release=RELEASE)


def test_bad_arguments_name_the_parameter():
    with pytest.raises(ValueError, match=r"JASPAR matrix ID 'MA9999\.1' is not in"):
        load_jaspar_motif("MA9999.1", release=RELEASE)
    with pytest.raises(ValueError, match="release must be one of"):
        load_jaspar_motif("CTCF", release="JASPAR1999")
    with pytest.raises(ValueError, match="pseudocount must be"):
        load_jaspar_motif("CTCF", pseudocount=-1)
    with pytest.raises(TypeError, match="name_or_id must be"):
        load_jaspar_motif(7)


def test_consensus_strings_with_iupac_codes():
    motif = motif_from_consensus("TGASTCAN", pseudocount=0.0)
    assert motif.width == 8 and motif.source == "consensus"
    assert motif.probabilities[:, 3].tolist() == [0.0, 0.5, 0.5, 0.0]  # S = C or G
    assert np.allclose(motif.probabilities[:, 7], 0.25)  # N
    with pytest.raises(ValueError, match="has 'X' at position 2"):
        motif_from_consensus("ACXT")


def test_load_motif_dispatches_on_the_spec(tmp_path):
    assert load_motif("jaspar:MAFK", release=RELEASE).matrix_id == "MA0496.4"
    assert load_motif("MA0496.4").matrix_id == "MA0496.4"
    assert load_motif("MAFK", release=RELEASE).matrix_id == "MA0496.4"
    assert load_motif("TGASTCA").consensus == "TGACTCA"
    assert load_motif("consensus:GATA").consensus == "GATA"
    assert load_motif("MYB", release=RELEASE).matrix_id.startswith("MA")  # 3 letters: a name
    mine = Motif("x", np.full((4, 2), 0.25))
    assert load_motif(mine) is mine
    with pytest.raises(TypeError, match="a motif spec must be"):
        load_motif(3)


def test_load_motif_from_meme_files(tmp_path):
    from cislens.pwm.meme import write_meme

    one, two = (
        motif_from_consensus("ACGTAC", name="one"),
        motif_from_consensus("GGGCCC", name="two"),
    )
    path = tmp_path / "motifs.meme"
    write_meme(path, [one, two])
    assert load_motif(f"{path}:two").consensus == "GGGCCC"
    assert load_motif(f"meme:{path}:one").consensus == "ACGTAC"
    with pytest.raises(ValueError, match="holds 2 motifs"):
        load_motif(str(path))
    with pytest.raises(ValueError, match="no motif named 'three'"):
        load_motif(f"{path}:three")
    single = tmp_path / "single.meme"
    write_meme(single, [one])
    assert load_motif(single).consensus == "ACGTAC"
