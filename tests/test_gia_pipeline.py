"""The pipeline's GIA stage answers a grammar question: the composite_pair preset, a small DeepBind
trained on it, and the stage's best arrangement of SOX2 and POU5F1 (planted: SOX2 then POU5F1
on one strand, 1 bp apart); the ``gia`` config section; the cost guard."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from cislens.errors import ConfigError
from cislens.io import save_dataset
from cislens.pipeline import parse_run_config, run_pipeline
from cislens.pipeline._gia import GiaConfig
from cislens.simulate import load_preset, simulate

BASE = {"data": {"hdf5": "d.h5"}, "model": {"checkpoint": "m"}}


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny models run much faster on one thread when the CPU is shared (no spin-waiting)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_composite_pair_preset_plants_the_arrangement():
    config = load_preset("composite_pair")
    assert config.length == 300 and sum(config.splits.values()) == 4000
    data = simulate("composite_pair", n=300, random_state=0)
    table = data.ground_truth.instances
    rule = table[table["role"] == "rule"]
    gaps = []
    for (_, _), group in rule.groupby(["split", "sequence"]):
        sox, oct_ = (group[group["motif"] == m].iloc[0] for m in ("SOX2", "POU5F1"))
        assert sox["strand"] == oct_["strand"]  # same strand, SOX2 first along it
        gaps.append(
            oct_["start"] - sox["end"] if sox["strand"] == "+" else sox["start"] - oct_["end"]
        )
    assert len(gaps) > 50 and set(gaps) == {1}
    assert (table["motif"] == "CTCF").any()  # the distractor


@pytest.fixture(scope="module")
def composite_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("composite")
    save_dataset(root / "data.h5", simulate("composite_pair", n=2000, random_state=0))
    config = {
        "data": {"hdf5": str(root / "data.h5")},
        "model": {
            "architecture": "deepbind",  # learns the composite on every seed tried
            "train": {"epochs": 15, "lr": 0.01, "patience": 0, "batch_size": 100, "restarts": 1},
        },
        "methods": ["saliency"],
        "n_examples": 2,
        "motifs": False,
        "benchmark": False,
        "gia": {"motifs": ["SOX2", "POU5F1"], "homotypic": False},
    }
    return root, run_pipeline(config, out=root / "out")


def test_pipeline_reports_the_planted_gap_and_orientation(composite_run):
    root, result = composite_run
    out = root / "out"
    assert result.metrics["auroc"].iloc[0] > 0.9  # the model learned the composite
    best = pd.read_csv(out / "gia_grammar_best.csv")
    assert best["pair"].tolist() == ["SOX2 x POU5F1"]
    row = best.iloc[0]
    assert (row["spacing"], row["orientation"]) == (1, "++")
    assert not row["no_preference"] and row["ci_low"] > 0
    grid = pd.read_csv(out / "gia_grammar.csv")
    assert len(grid) == 4 * 21 and set(grid["spacing"]) == set(range(21))
    counts, positions = pd.read_csv(out / "gia_count.csv"), pd.read_csv(out / "gia_position.csv")
    assert set(counts["pattern"]) == set(positions["pattern"]) == {"SOX2", "POU5F1"}
    assert set(pd.read_csv(out / "gia.csv")["pattern"]) == {"SOX2", "POU5F1"}
    html = (out / "report.html").read_text()
    assert "best arrangement ++ at a 1 bp gap" in html and "the arrangements differ" in html


def test_cost_guard_leaves_pairs_out(composite_run):
    root, _ = composite_run
    config = {
        "data": {"hdf5": str(root / "data.h5")},
        "model": {"checkpoint": str(root / "out" / "model")},
        "methods": ["saliency"],
        "n_examples": 2,
        "motifs": False,
        "benchmark": False,
        "gia": {"motifs": ["SOX2", "POU5F1"], "max_positions": 1e5, "gaps": [0, 3]},
    }
    out = root / "guarded"
    run_pipeline(config, out=out)
    best = pd.read_csv(out / "gia_grammar_best.csv")
    # SOX2 x POU5F1, SOX2 x SOX2, POU5F1 x POU5F1: each over the limit alone, all left out
    assert len(best) == 3 and best["spacing"].isna().all()
    assert best["note"].str.startswith("left out, the estimated").all()
    assert best["note"].str.contains("gia.max_positions=1e\\+05").all()
    assert not (out / "gia_grammar.csv").stat().st_size > 1


def test_gia_config_defaults_and_fields():
    config = parse_run_config(BASE)
    assert config.gia == GiaConfig() and config.gia.gaps == (0, 20)
    assert parse_run_config({**BASE, "gia": False}).gia.enabled is False
    gia = parse_run_config(
        {
            **BASE,
            "gia": {
                "motifs": ["SOX2", "MA1115.2"],
                "gaps": 5,
                "n_backgrounds": 50,
                "value": "effect",
            },
        }
    ).gia
    assert gia.motifs == ["SOX2", "MA1115.2"] and gia.gaps == (5, 5)
    assert (gia.n_backgrounds, gia.value, gia.top_k) == (50, "effect", 3)
    assert parse_run_config({**BASE, "gia": {"gaps": [2, 8]}}).to_dict()["gia"]["gaps"] == [2, 8]


@pytest.mark.parametrize(
    ("gia", "fragments"),
    [
        ({"motif": ["SOX2"]}, ["gia.motif: unknown field", "motifs"]),
        ({"motifs": ["NOT_A_TF_XYZ"]}, ["gia.motifs[0]: not a JASPAR motif"]),
        ({"gaps": [5, 2]}, ["gia.gaps", "min must be <= max"]),
        ({"gaps": [-1, 2]}, ["gia.gaps[0]", ">= 0"]),
        ({"alpha": 1.5}, ["gia.alpha", "(0, 1)"]),
        ({"value": "joint"}, ["gia.value", "interaction"]),
        ({"homotypic": "no"}, ["gia.homotypic", "true or false"]),
    ],
)
def test_gia_config_refusals(gia, fragments):
    with pytest.raises(ConfigError) as caught:
        parse_run_config({**BASE, "gia": gia})
    assert all(f in str(caught.value) for f in fragments), str(caught.value)


def test_named_motif_pairs_and_homotypic_pairs():
    from cislens.pipeline._gia import _pairs, _selected

    named, found = _selected(None, GiaConfig(motifs=["SOX2", "POU5F1", "CTCF"]))
    assert [item.width for item in named] == [7, 7, 15] and found == []
    pairs = [(a.name, b.name) for a, b in _pairs(named, found, homotypic=True)]
    assert pairs[:3] == [("SOX2", "POU5F1"), ("SOX2", "CTCF"), ("POU5F1", "CTCF")]
    assert pairs[3:] == [("SOX2", "SOX2"), ("POU5F1", "POU5F1"), ("CTCF", "CTCF")]
    assert len(_pairs(named, found, homotypic=False)) == 3
    assert np.isclose(GiaConfig().alpha, 0.05)


def test_discovered_patterns_ranked_by_importance():
    from cislens.motifs.aggregate import Pattern
    from cislens.pipeline._gia import _selected

    def pattern(name, n_seqlets, scale, metacluster="pos"):
        onehot = np.eye(4)[:, [0, 1, 2, 3, 0, 1]]
        seqlets = pd.DataFrame({"example": range(n_seqlets), "start": 0, "end": 6, "strand": "+"})
        return Pattern(name, onehot, onehot * scale, onehot * scale, seqlets, metacluster)

    discovery = SimpleNamespace(
        patterns=[
            pattern("pos_0", 30, 1.0),
            pattern("pos_1", 10, 5.0),
            pattern("neg_0", 99, 9.0, "neg"),
            pattern("pos_2", 20, 1.0),
        ]
    )

    _, found = _selected(discovery, GiaConfig(top_k=2))
    # importance = seqlets x summed |CWM|: pos_1 50, pos_0 30, pos_2 20; negatives never
    assert [item.name for item in found] == ["pos_1", "pos_0"]
    assert all(item.width == 6 for item in found)


def test_pipeline_flags_a_model_without_grammar(composite_run, tmp_path):
    import grammar_models

    root, _ = composite_run
    weights = tmp_path / "additive.pt"
    torch.save(grammar_models.AdditiveModel().state_dict(), weights)
    spec = f"{grammar_models.__file__}:AdditiveModel"
    config = {
        "data": {"hdf5": str(root / "data.h5")},
        "model": {"class": spec, "weights": str(weights)},
        "methods": ["saliency"],
        "n_examples": 2,
        "motifs": False,
        "benchmark": False,
        "gia": {"motifs": ["SOX2", "POU5F1"], "homotypic": False},
    }
    run_pipeline(config, out=tmp_path / "out")
    best = pd.read_csv(tmp_path / "out" / "gia_grammar_best.csv").iloc[0]
    assert best["no_preference"] and best["p_value"] >= 0.05
    html = (tmp_path / "out" / "report.html").read_text()
    assert "no arrangement differs from the others" in html
