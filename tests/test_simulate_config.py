"""Simulation configs: parsing, canonical round trips, and errors that name the field."""

import copy
import json

import pytest
import yaml

from cislens.errors import ConfigError
from cislens.simulate import (
    CountSpec,
    PositionSpec,
    SpacingSpec,
    as_config,
    config_from_dict,
    load_config,
    simulate,
)
from cislens.simulate.config import scale_splits

BASE = {
    "name": "toy",
    "length": 120,
    "splits": {"train": 60, "valid": 20, "test": 20},
    "motifs": {"AP1": "TGASTCA", "GATA": {"source": "consensus:AGATAAGA", "mode": "consensus"}},
    "tasks": [
        {"name": "ap1", "rule": {"motif": "AP1", "count": [1, 2]}},
        {
            "name": "pair",
            "rule": {"pair": ["AP1", "GATA"], "spacing": [2, 6], "orientation": "same"},
            "decoy_fraction": 0.5,
        },
    ],
}


def make(**changes):
    config = copy.deepcopy(BASE)
    config.update(changes)
    return config


def test_minimal_config_auto_declares_motifs():
    cfg = config_from_dict({"length": 50, "splits": {"train": 5}, "tasks": [{"rule": "CTCF"}]})
    assert cfg.motif_names == ["CTCF"]
    assert cfg.task_names == ["CTCF"]  # a presence rule names its task
    assert cfg.motif("CTCF").source == "CTCF"
    assert cfg.background.kind == "iid" and cfg.background.composition == (0.25,) * 4


def test_canonical_form_round_trips():
    cfg = config_from_dict(make(label_noise=0.1, distractors=["GATA"], position={"normal": 20}))
    again = config_from_dict(json.loads(cfg.to_json()))
    assert again == cfg
    assert again.to_dict() == cfg.to_dict()
    assert as_config(cfg.to_json()) == cfg


def test_yaml_and_json_files_resolve_relative_paths(tmp_path):
    (tmp_path / "bg.txt").write_text("ACGTTGCAACGTAGCT" * 20 + "\n")
    data = make(background={"kind": "markov", "order": 2, "sequences": "bg.txt"})
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(data))
    (tmp_path / "c.json").write_text(json.dumps(data))
    from_yaml, from_json = load_config(tmp_path / "c.yaml"), load_config(tmp_path / "c.json")
    assert from_yaml == from_json
    assert from_yaml.background.sequences == str(tmp_path / "bg.txt")
    data = simulate(tmp_path / "c.yaml", n=30, random_state=0)
    assert data.X["train"].shape[1:] == (4, 120)


def test_distribution_forms():
    assert CountSpec.parse(2, "c") == CountSpec("fixed", 2.0, 2, 2)
    assert CountSpec.parse([1, 3], "c").to_dict() == [1, 3]
    assert CountSpec.parse({"poisson": 1.5, "min": 1, "max": 4}, "c").to_dict() == {
        "poisson": 1.5,
        "min": 1,
        "max": 4,
    }
    assert PositionSpec.parse({"central": 100}, "p").start_range(10, 500) == (195, 295)
    assert PositionSpec.parse({"window": [10, 40]}, "p").start_range(10, 500) == (10, 30)
    assert PositionSpec.parse("uniform", "p").start_range(10, 500) == (0, 490)
    assert PositionSpec.parse({"window": [10, 15]}, "p").start_range(10, 500) is None
    assert SpacingSpec.parse(5, "s").gaps == (5,)
    assert SpacingSpec.parse([2, 4], "s").gaps == (2, 3, 4)
    helical = SpacingSpec.parse({"period": 10.5, "min": 0, "max": 35}, "s")
    assert helical.gaps == (0, 10, 11, 21, 31, 32)


def test_scaling_keeps_proportions():
    assert scale_splits({"train": 17500, "valid": 2500, "test": 5000}, 1000) == {
        "train": 700,
        "valid": 100,
        "test": 200,
    }
    assert sum(scale_splits({"train": 7, "valid": 1, "test": 2}, 13).values()) == 13
    assert config_from_dict(BASE).with_n(10).splits == {"train": 6, "valid": 2, "test": 2}
    with pytest.raises(ConfigError, match="n: expected an integer >= 3"):
        config_from_dict(BASE).with_n(2)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"length": "200"}, r"^length: expected an integer; got '200' \(str\)"),
        ({"lenght": 200}, r"^lenght: unknown field.*Did you mean 'length'\?"),
        ({"splits": {"train": 10, "tests": 5}}, r"^splits.tests: expected one of"),
        ({"splits": {"train": 0}}, r"^splits.train: expected an integer >= 1; got 0"),
        ({"tasks": "AP1"}, r"^tasks: expected a non-empty list of tasks"),
        ({"background": {"kind": "iid", "gc": 1.5}}, r"^background.gc: expected a number in"),
        (
            {"background": {"kind": "iid", "composition": [0.5, 0.5, 0.5, 0.5]}},
            r"^background.composition: must sum to 1",
        ),
        ({"background": {"kind": "markov"}}, r"^background: a markov background needs"),
        ({"background": {"kind": "markov", "table": "human", "order": 2}}, r"^background.order"),
        ({"label_noise": 0.7}, r"^label_noise: expected a number in \[0, 0.5\]"),
        ({"scan": {"p_value": 0}}, r"^scan.p_value: expected a number in \(0, 1\)"),
        ({"motifs": {"AP1": {"source": "TGASTCA", "mode": "best"}}}, r"^motifs.AP1.mode"),
        ({"motifs": {"A/B": "ACGT"}}, r"^motifs.A/B: names may use"),
    ],
)
def test_bad_top_level_fields_are_named(change, message):
    with pytest.raises(ConfigError, match=message):
        config_from_dict(make(**change))


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (
            {"pair": ["AP1", "GATA"], "spacing": -3},
            r"^tasks\[1\].rule.spacing: expected an integer >= 0",
        ),
        ({"pair": ["AP1", "GATA"]}, r"^tasks\[1\].rule.spacing: required for a pair"),
        ({"pair": ["AP1"], "spacing": 3}, r"^tasks\[1\].rule.pair: expected two motif names"),
        ({"pair": ["AP1", "GATA"], "spacing": 3, "orientation": "up"}, r"rule.orientation"),
        ({"all": [{"motif": "AP1", "count": "two"}]}, r"^tasks\[1\].rule.all\[0\].count: expected"),
        (
            {"at_least": 3, "of": ["AP1", "GATA"]},
            r"^tasks\[1\].rule.at_least: expected an integer <= 2",
        ),
        (
            {"motif": "AP1", "min_count": 3, "count": 2},
            r"^tasks\[1\].rule.count: the largest count 2",
        ),
        (
            {"motif": "AP1", "not": "GATA"},
            r"^tasks\[1\].rule: a rule needs exactly one of the keys",
        ),
        ({"any": []}, r"^tasks\[1\].rule.any: expected a non-empty list"),
        ({"motif": "AP1", "position": {"central": 10, "offset": 2}}, r"rule.position.offset"),
        (
            {"pair": ["AP1", "GATA"], "spacing": {"period": 10.5, "min": 1, "max": 5}},
            r"^tasks\[1\].rule.spacing: no gap in \[1, 5\] is in phase",
        ),
    ],
)
def test_bad_rules_are_named(rule, message):
    config = make()
    config["tasks"][1] = {"name": "bad", "rule": rule}
    with pytest.raises(ConfigError, match=message):
        config_from_dict(config)


def test_duplicate_task_names_are_rejected():
    config = make()
    config["tasks"][1]["name"] = "ap1"
    with pytest.raises(ConfigError, match=r"^tasks\[1\].name: duplicate task name 'ap1'"):
        config_from_dict(config)


def run(config):
    return simulate(config, random_state=0)


def test_unknown_motif_name_fails_at_the_rule_that_uses_it():
    config = make()
    config["tasks"][0]["rule"]["motif"] = "CTFC"
    with pytest.raises(ConfigError, match=r"^tasks\[0\].rule.motif: motif name 'CTFC' is not in"):
        run(config)
    config = make(motifs={"AP1": "TGASTCA", "GATA": "jaspar:NOPE1"})
    with pytest.raises(ConfigError, match=r"^motifs.GATA: motif name 'NOPE1'"):
        run(config)


def test_spacing_longer_than_the_sequence():
    config = make()
    config["tasks"][1]["rule"]["spacing"] = [150, 160]
    with pytest.raises(ConfigError, match=r"^tasks\[1\].rule.spacing: the pair needs at least 165"):
        run(config)


def test_motif_that_does_not_fit_its_position_window():
    config = make(position={"window": [0, 5]})
    with pytest.raises(ConfigError, match=r"^tasks\[0\].rule.motif: the motif needs 7 bp"):
        run(config)


def test_unsatisfiable_and_unviolable_rules():
    config = make()
    config["tasks"][0]["rule"] = {"all": ["AP1", {"not": "AP1"}]}
    with pytest.raises(ConfigError, match=r"^tasks\[0\].rule: the rule cannot be satisfied"):
        run(config)
    config["tasks"][0]["rule"] = {"any": ["AP1", {"not": "AP1"}]}
    with pytest.raises(ConfigError, match=r"^tasks\[0\].rule: the rule cannot be violated"):
        run(config)
    config["tasks"][0]["rule"] = {"all": [{"motif": "AP1", "count": 30}]}
    with pytest.raises(ConfigError, match=r"^tasks\[0\].rule: .*instances never fit"):
        run(config)


def test_decoys_requested_for_a_rule_without_near_misses():
    config = make()
    config["tasks"][0]["decoy_fraction"] = 0.3
    with pytest.raises(ConfigError, match=r"^tasks\[0\].decoy_fraction: this rule has no"):
        run(config)


def test_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_config(tmp_path / "none.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("length: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    bad.write_text(yaml.safe_dump(make(length=-1)))
    with pytest.raises(ConfigError, match=r"bad.yaml: length: expected an integer >= 1"):
        load_config(bad)
    with pytest.raises(TypeError, match="config must be"):
        as_config(3.5)
