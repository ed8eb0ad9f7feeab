"""What the command line prints when its output is a file: no progress-bar redraws, one line
per warning, help texts without RST markup or emoji."""

import logging
import warnings

import pytest
import yaml

from cislens.cli import main
from cislens.cli._app import one_line_warning

COMMANDS = [
    "demo",
    "run",
    "simulate",
    "train",
    "evaluate",
    "attribute",
    "motifs",
    "instances",
    "filters",
    "gia",
    "benchmark",
    "report",
]


@pytest.mark.parametrize("command", COMMANDS)
def test_help_renders_without_markup(command, capsys):
    assert main([command, "--help"]) == 0
    text = capsys.readouterr().out
    assert "``" not in text  # RST literals
    # rich turns ":b:" and friends into emoji; nothing in a help text is meant to be one
    assert not [c for c in text if ord(c) > 0x2FFF], text


def test_warnings_are_one_line(monkeypatch):
    from cislens.cli._app import _root

    monkeypatch.setattr(warnings, "formatwarning", warnings.formatwarning)  # restored after
    _root(verbose=False, quiet=False, debug=False, version=False)  # what every command runs
    line = warnings.formatwarning("few seqlets: skipped", UserWarning, __file__, 3, "source()")
    assert line == "warning: few seqlets: skipped\n"
    assert one_line_warning("x", UserWarning, "f.py", 1) == "warning: x\n"


@pytest.fixture
def root_logging():
    """The CLI re-binds the root logger to this test's (captured) stderr: undo it after."""
    handlers, level = list(logging.root.handlers), logging.root.level
    yield
    logging.root.handlers[:] = handlers
    logging.root.setLevel(level)


def test_verbose_run_into_a_file_has_no_progress_redraws(tmp_path, capsys, root_logging):
    from testkit import save_lab3_inputs

    save_lab3_inputs(tmp_path, n=120, epochs=0)
    config = {
        "data": {"hdf5": str(tmp_path / "data.h5")},
        "model": {"checkpoint": str(tmp_path / "model")},
        "methods": ["saliency", "integrated_gradients"],
        "n_examples": 3,
        "seed": 0,
        "motifs": False,
        "gia": False,
        "benchmark": False,
    }
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(config))
    # capsys: stdout and stderr are not terminals, as in `make demo > log`
    assert main(["-v", "run", str(tmp_path / "run.yaml"), "--out", str(tmp_path / "o")]) == 0
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert "\r" not in text
    assert "report: running" in captured.err  # -v still logs one line per stage
    assert len(text.splitlines()) < 60


def test_result_objects_print_shapes_not_numbers():
    import numpy as np
    import pandas as pd

    from cislens.argminn.readout import ArgminnMotifs
    from cislens.attribution.ig_path import IGPathDensity

    fields = ArgminnMotifs.__dataclass_fields__
    values = {name: None for name in fields}
    values.update(
        weights=np.zeros((64, 4, 15), np.float32),
        motifs=list(range(64)),
        filters=pd.DataFrame({"filter": range(64), "passing": False}),
    )
    text = repr(ArgminnMotifs(**values))
    assert "array(shape=(64, 4, 15), float32)" in text and "[64 items]" in text
    assert "DataFrame(64 rows: filter, passing)" in text and len(text) < 600
    path = IGPathDensity(np.linspace(0, 1, 11), np.zeros((11, 20, 2)), "dinucleotide")
    assert repr(path).startswith("IGPathDensity(11 alphas from 0 to 1, 20 inputs x 2 references")
