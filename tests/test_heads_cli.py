"""``--output`` and ``--input-layout`` on the command line: a user's own (profile, counts) model,
loaded as ``two_heads.py:TwoHeads`` with safetensors weights, gives the scores of the library
call with ``output=`` / ``input_layout=``."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from testkit import (
    HandWritten,
    random_one_hot,
    single_thread,  # noqa: F401 (autouse fixture)
    two_heads_files,
)

from cislens.attribution import deeplift, grad_x_input, saliency
from cislens.cli import main
from cislens.io import Dataset, load_attributions, save_dataset

LENGTH = 40


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("heads_cli")
    X = random_one_hot(5, LENGTH, 7).numpy()
    Y = np.array([[1], [0], [1], [0], [1]], dtype=np.float32)
    data = save_dataset(folder / "data.h5", Dataset({"test": X}, {"test": Y}, ["signal"]))
    spec, weights, model = two_heads_files(folder)
    return {"folder": folder, "X": X, "data": data, "spec": spec, "weights": weights,
            "model": model}  # fmt: skip


def run(files, *args) -> int:
    return main(["attribute", "--model", files["spec"], "--weights", str(files["weights"]),
                 "--data", str(files["data"]), *[str(a) for a in args]])  # fmt: skip


@pytest.mark.parametrize(
    ("option", "method", "library", "recorded"),
    [
        ("counts", "grad_x_input", lambda m, X: grad_x_input(m, X, output="counts"), "counts"),
        (
            "0:profile",
            "deeplift",
            lambda m, X: deeplift(m, X, output=(0, "profile")),
            [0, "profile"],
        ),
    ],
)
def test_attribute_output_equals_the_library_call(files, tmp_path, option, method, library,
                                                  recorded, capsys):  # fmt: skip
    out = tmp_path / "attr.h5"
    assert run(files, "--method", method, "--output", option, "--out", out) == 0, (
        capsys.readouterr().err
    )
    result = load_attributions(out)
    expected = library(files["model"], torch.from_numpy(files["X"]))
    np.testing.assert_allclose(result.attributions, expected.numpy(), rtol=1e-5, atol=1e-7)
    assert result.params["output"] == recorded and result.params["input_layout"] == "NCL"


def test_attribute_input_layout_nlc(files, tmp_path):
    out = tmp_path / "nlc.npz"
    spec = f"{files['folder'] / 'two_heads.py'}:TwoHeadsNLC"
    code = main(["attribute", "--model", spec, "--weights", str(files["weights"]), "--data",
                 str(files["data"]), "--method", "saliency", "--output", "counts",
                 "--input-layout", "NLC", "--out", str(out)])  # fmt: skip
    assert code == 0
    result = load_attributions(out)
    # the same weights read as (N, 4, L) through a hand-written wrapper: the reference
    reference = saliency(HandWritten(files["model"], "counts"), torch.from_numpy(files["X"]))
    np.testing.assert_allclose(result.attributions, reference.numpy(), rtol=1e-5, atol=1e-7)
    assert result.params["input_layout"] == "NLC"


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (
            ["--output", "7"],
            [
                "--output=7 does not name an output",
                "available: indices 0..1",
                "or a head ('profile', 'counts', 'sum', 'mean')",
            ],
        ),
        (["--output", " "], ["--output must be an output index ('1'), a head", "got ' '"]),
        (["--input-layout", "LNC"], ["--input-layout must be 'NCL'", "or 'NLC'", "got 'LNC'"]),
        (["--method-args", '{"output": "counts"}'], ["must not set 'output'", "its own option"]),
        ([], ["returns tuple (tensor (1, 2, 36), tensor (1, 1)), not one tensor", "output="]),
    ],
)
def test_bad_options_exit_2_with_one_line(files, tmp_path, args, fragments, capsys):
    code = run(files, "--method", "saliency", "--out", tmp_path / "x.h5", *args)
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    for fragment in fragments:
        assert fragment in err, err
    assert not (tmp_path / "x.h5").exists()


def test_help_describes_the_options(capsys):
    for command in ("attribute", "gia", "variants", "run"):
        assert main([command, "--help"]) == 0
        # the help is drawn in a box: keep the words, drop the frame and the line breaks
        text = " ".join(capsys.readouterr().out.replace("│", " ").split())
        assert "--output" in text and "--input-layout" in text, command
        assert "KEY:HEAD" in text and "NLC, (N, L, 4)" in text, command


def test_gia_output_and_input_layout(files, tmp_path):
    from cislens.gia import marginalize, null_backgrounds

    spec = f"{files['folder'] / 'two_heads.py'}:TwoHeadsNLC"
    code = main(["gia", "--model", spec, "--weights", str(files["weights"]), "--data",
                 str(files["data"]), "-e", "marginalize", "--motif-a", "GGATC", "--out",
                 str(tmp_path), "--n-backgrounds", "8", "--seed", "3", "--output", "0:profile",
                 "--input-layout", "NLC"])  # fmt: skip
    assert code == 0
    table = pd.read_csv(tmp_path / "gia_marginalize.csv")
    background = null_backgrounds("dinucleotide_shuffle", files["X"], n=8, random_state=3)
    expected = marginalize(HandWritten(files["model"], "profile"), background, "GGATC",
                           random_state=3).to_frame()  # fmt: skip
    np.testing.assert_allclose(table["effect"], expected["effect"], rtol=1e-5, atol=1e-7)
    params = json.loads((tmp_path / "gia_marginalize.json").read_text())["params"]
    assert params["output"] == [0, "profile"] and params["input_layout"] == "NLC"
