"""``cislens gia`` end to end on a tiny simulated dataset and an untrained model."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch

import cislens.cli.gia  # noqa: F401  (registers the subcommand until the lead lists it)
from cislens.cli import main
from cislens.cli.gia import parse_spacings


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny models run ~50x faster on one thread when the CPU is shared (no spin-waiting)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    from cislens.io.dataset import save_dataset
    from cislens.models import DeepBind, save_model
    from cislens.simulate import simulate

    root = tmp_path_factory.mktemp("gia_cli")
    data = simulate("jund_tead", n=40, random_state=0)
    save_dataset(root / "data.h5", data)
    save_model(DeepBind(n_tasks=1, filter_width=9, random_state=0), root / "model")
    return root


@pytest.mark.parametrize(
    ("experiment", "extra"),
    [
        ("spacing", ["--motif-a", "JUND", "--motif-b", "TEAD1", "--spacings", "0:3"]),
        ("interaction", ["--motif-a", "JUND", "--motif-b", "TGGAATGT", "--spacings", "4,6"]),
        ("grammar", ["--motif-a", "JUND", "--motif-b", "TEAD1", "--spacings", "0:3"]),
        ("marginalize", ["--motif-a", "MA0090.4", "--null", "profile"]),
        ("position", ["--motif-a", "TGACTCA", "--null", "random", "--positions", "0:400:100"]),
        (
            "count",
            [
                "--motif-a",
                "JUND",
                "--max-count",
                "2",
                "--null",
                "negatives",
                "--split",
                "train",
                "--n-backgrounds",
                "5",
            ],
        ),
        ("occlude", ["--motif-a", "JUND", "--n-occlusions", "3"]),
    ],
)
def test_gia_command_writes_outputs(files, tmp_path, experiment, extra, capsys):
    out = tmp_path / "gia"
    code = main(
        [
            "gia",
            "--model",
            str(files / "model"),
            "--data",
            str(files / "data.h5"),
            "--experiment",
            experiment,
            "--n-backgrounds",
            "12",
            "--seed",
            "0",
            "--out",
            str(out),
            *extra,
        ]
    )
    assert code == 0, capsys.readouterr().err
    table = pd.read_csv(out / f"gia_{experiment}.csv")
    assert "effect" in table.columns and len(table) > 0
    assert (out / f"gia_{experiment}.png").stat().st_size > 0
    record = json.loads((out / f"gia_{experiment}.json").read_text())
    assert record["random_state"] == 0 and record["experiment"] == experiment
    if experiment == "grammar":  # all four orientations by default, and the best arrangement
        assert len(table) == 4 * 4 and set(table["orientation"]) == {"++", "+-", "-+", "--"}
        best = pd.read_csv(out / "gia_grammar_best.csv")
        assert len(best) == 1 and {"spacing", "orientation", "no_preference"} <= set(best)


def test_gia_command_errors(files, tmp_path, capsys):
    base = [
        "gia",
        "--model",
        str(files / "model"),
        "--data",
        str(files / "data.h5"),
        "--out",
        str(tmp_path),
        "--seed",
        "0",
        "--n-backgrounds",
        "5",
    ]
    assert main([*base, "--experiment", "spacing", "--motif-a", "JUND"]) == 2
    assert "needs --motif-b" in capsys.readouterr().err
    assert main([*base, "--experiment", "marginalize", "--motif-a", "NOSUCHTF9"]) == 2
    assert "could not be resolved" in capsys.readouterr().err
    assert main([*base, "--experiment", "bogus"]) == 2
    assert "--experiment must be one of" in capsys.readouterr().err


def test_parse_spacings_errors():
    with pytest.raises(ValueError, match="--spacings must be"):
        parse_spacings("a:b")
