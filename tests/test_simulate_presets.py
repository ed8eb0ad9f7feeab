"""The shipped presets: they load, have the documented sizes and rates, and carry real decoys."""

import numpy as np
import pytest

from cislens.io.dataset import load_dataset, save_dataset, validate_dataset
from cislens.simulate import list_presets, load_preset, preset_names, simulate

SUITE = ["spi1", "tal_gata", "e2f6_max", "jund_tead", "rest", "spi1_ctcf"]


def test_every_preset_is_listed_with_a_description():
    presets = list_presets()
    assert list(presets)[:2] == ["lab3", "celltypes5"]
    assert set(SUITE) <= set(presets)
    assert all(len(text) > 20 and "\n" not in text for text in presets.values())
    with pytest.raises(ValueError, match=r"unknown preset 'lab4'.*Did you mean 'lab3'"):
        load_preset("lab4")


@pytest.mark.parametrize("name", ["lab3", "celltypes5", *SUITE])
def test_preset_configs(name):
    config = load_preset(name)
    assert config.name == name
    if name == "lab3":
        assert config.length == 200 and config.task_names == ["CTCF", "ARID3A", "MAFK"]
        assert config.splits == {"train": 17500, "valid": 2500, "test": 5000}
    elif name == "celltypes5":
        assert config.length == 1000 and len(config.tasks) == 5
    else:
        assert config.length == 500 and len(config.tasks) == 1
        assert config.position.to_dict() == {"central": 100}
    assert all(spec.source.startswith("MA") for spec in config.motifs)  # pinned matrix versions


def test_lab3_at_full_size(tmp_path):
    dataset = simulate("lab3", random_state=0)
    assert {s: len(x) for s, x in dataset.X.items()} == {
        "train": 17500,
        "valid": 2500,
        "test": 5000,
    }
    rates = np.concatenate(list(dataset.Y.values())).mean(axis=0)
    assert np.all(np.abs(rates - 0.5) < 0.02)
    table = dataset.ground_truth.instances
    per_positive = table.groupby(["split", "sequence", "motif"]).size()
    assert per_positive.between(1, 3).all() and 1.8 < per_positive.mean() < 2.2
    path = save_dataset(tmp_path / "lab3.h5", dataset)
    loaded = load_dataset(path, splits=["test"])
    assert np.array_equal(loaded.X["test"], dataset.X["test"])
    assert loaded.attrs["random_state"] == 0 and loaded.attrs["preset"] == "lab3"
    assert len(loaded.ground_truth.instances) == (table.split == "test").sum()


def test_celltypes5_rates_and_roles():
    dataset = simulate("celltypes5", n=2000, random_state=1)
    validate_dataset(dataset)
    rates = np.concatenate(list(dataset.Y.values())).mean(axis=0)
    assert np.all((rates >= 0.10) & (rates <= 0.15)), rates
    roles = set(dataset.ground_truth.instances.role)
    assert roles == {"rule", "decoy", "background"}
    table = dataset.ground_truth.instances
    ctcf = table[table.motif == "CTCF"]
    assert (ctcf.role == "background").all() and not ctcf.filter(like="relevant_").any().any()


def negatives_with(dataset, task, motifs):
    """Number of negative sequences of ``task`` holding every motif in ``motifs``."""
    table = dataset.ground_truth.instances
    count = 0
    for split in dataset.splits:
        t = dataset.task_names.index(task)
        rows = table[table.split == split]
        present = rows.groupby("sequence").motif.agg(set)
        negatives = np.flatnonzero(dataset.Y[split][:, t] == 0)
        count += sum(set(motifs) <= present.get(i, set()) for i in negatives)
    return count


@pytest.mark.parametrize(
    ("name", "task", "decoy_motifs"),
    [
        ("e2f6_max", "E2F6_MAX", ["E2F6"]),
        ("jund_tead", "JUND_TEAD", ["JUND", "TEAD1"]),  # wrong spacing or arrangement
        ("rest", "REST", ["REST_left", "REST_right"]),
        ("spi1_ctcf", "SPI1_CTCF", ["SPI1", "CTCF"]),  # the repressor present
    ],
)
def test_suite_negatives_contain_the_motifs(name, task, decoy_motifs):
    dataset = simulate(name, n=600, random_state=0)
    rates = np.concatenate(list(dataset.Y.values())).mean(axis=0)
    assert abs(rates[0] - 0.5) < 0.06
    assert negatives_with(dataset, task, decoy_motifs) > 40


def test_every_preset_is_fast_and_valid():
    for name in preset_names():
        dataset = simulate(name, n=100, random_state=0)
        validate_dataset(dataset)
        assert sum(len(x) for x in dataset.X.values()) == 100
