"""``cislens simulate`` in-process: presets, config files, seeds, scaling and one-line errors."""

import pytest
import yaml

import cislens.cli.simulate  # noqa: F401  (registers the subcommand until the lead lists it)
from cislens.cli import main
from cislens.io.dataset import load_dataset


def test_list_shows_every_preset(capsys):
    assert main(["simulate", "--list"]) == 0
    out = capsys.readouterr().out
    for name in ("lab3", "celltypes5", "spi1", "tal_gata", "e2f6_max", "jund_tead", "rest"):
        assert f"\n{name} " in "\n" + out
    assert "spi1_ctcf" in out


def test_preset_scaled_down_with_a_seed(tmp_path, capsys):
    out = tmp_path / "data.h5"
    assert (
        main(["simulate", "--preset", "lab3", "-n", "500", "--seed", "7", "--out", str(out)]) == 0
    )
    printed = capsys.readouterr().out
    assert "train 350, valid 50, test 100" in printed and "seed 7" in printed
    data = load_dataset(out)
    assert {s: len(x) for s, x in data.X.items()} == {"train": 350, "valid": 50, "test": 100}
    assert data.attrs["random_state"] == 7 and data.attrs["preset"] == "lab3"
    again = tmp_path / "again.h5"
    assert (
        main(["-q", "simulate", "--preset", "lab3", "-n", "500", "--seed", "7", "-o", str(again)])
        == 0
    )
    assert capsys.readouterr().out == ""
    assert (load_dataset(again).X["test"] == data.X["test"]).all()


def test_config_file_and_verbose_summary(tmp_path, capsys):
    config = {
        "length": 80,
        "splits": {"train": 40, "test": 10},
        "tasks": [{"name": "ap1", "rule": {"motif": "TGASTCA"}}],
    }
    path = tmp_path / "my.yaml"
    path.write_text(yaml.safe_dump(config))
    out = tmp_path / "sim.h5"
    assert main(["-v", "simulate", "--config", str(path), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "split" in printed and "ap1 (pos.)" in printed
    data = load_dataset(out)
    assert data.splits == ["train", "test"] and isinstance(data.attrs["random_state"], int)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["simulate", "--out", "x.h5"], "give exactly one of --preset NAME or --config FILE"),
        (["simulate", "--preset", "lab3"], "--out is required"),
        (["simulate", "--preset", "lab4", "--out", "x.h5"], "unknown preset 'lab4'"),
    ],
)
def test_errors_are_one_line_with_exit_code_2(args, message, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("cislens: error: ") and message in err and err.count("\n") == 1


def test_bad_config_field_is_named(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "length": 100,
                "splits": {"train": 10},
                "tasks": [
                    {"name": "a", "rule": "TGASTCA"},
                    {"name": "b", "rule": {"pair": ["TGASTCA", "GATAA"], "spacing": 500}},
                ],
            }
        )
    )
    assert main(["simulate", "--config", str(path), "--out", str(tmp_path / "o.h5")]) == 2
    assert "tasks[1].rule.spacing: the pair needs at least" in capsys.readouterr().err
    assert not (tmp_path / "o.h5").exists()
