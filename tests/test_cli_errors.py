"""How the command line ends a command that does not finish: one line on stderr, a non-zero
exit code, and no temporary file left behind.

User errors exit 2, internal errors 1 (with the --debug hint), Ctrl-C 130; see
``cislens.cli._errors``.
"""

from __future__ import annotations

import importlib.util
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from testkit import MODULE

import cislens.attribution
import cislens.attribution.ensemble as ensemble_module
from cislens.cli import main
from cislens.cli._errors import is_user_error, one_line, report
from cislens.errors import ConfigError

pytestmark = pytest.mark.filterwarnings("ignore:no motifs:cislens.errors.CislensWarning")

LENGTH = 60


@pytest.fixture(scope="module")
def user_model(tmp_path_factory):
    """A dataset with two tasks, and a user's model class whose saved weights have 4 filters."""
    import torch
    from safetensors.torch import save_file

    from cislens.io import Dataset, save_dataset

    folder = tmp_path_factory.mktemp("cli_errors")
    rng = np.random.default_rng(0)
    X = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (3, LENGTH))].transpose(0, 2, 1)
    Y = np.array([[1, 0], [0, 1], [1, 1]], dtype=np.float32)
    data = save_dataset(
        folder / "data.h5", Dataset(X={"test": X}, Y={"test": Y}, task_names=["a", "b"])
    )
    (folder / "tiny.py").write_text(MODULE)
    spec = importlib.util.spec_from_file_location("cli_errors_tiny", folder / "tiny.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    torch.manual_seed(0)
    save_file(module.TinyNet(n_filters=4).state_dict(), str(folder / "w.safetensors"))
    return folder, data


def _attribute_args(folder, data, out, *extra):
    return [
        "attribute", "--model", f"{folder / 'tiny.py'}:TinyNet",
        "--weights", str(folder / "w.safetensors"), "--data", str(data),
        "--method", "saliency", "--target", "1", "--out", str(out), *extra,
    ]  # fmt: skip


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def _temporary_files(folder: Path) -> list[Path]:
    # atomic_output writes '.<name>.<random>.tmp<suffix>', save_model '<file>.tmp', the zarr
    # store '.<name>.creating-<pid>'; pathlib's '*' matches names starting with a dot.
    return [p for p in folder.rglob("*") if ".tmp" in p.name or ".creating-" in p.name]


# --------------------------------------------------------------------------------------------
# Item 7: errors keep their detail


def test_weight_shape_mismatch_names_the_tensors_and_shapes(user_model, tmp_path, capsys):
    folder, data = user_model
    code = main(_attribute_args(folder, data, tmp_path / "o.h5"))  # the class default: 3 filters
    line = _one_line(capsys.readouterr().err)
    assert code == 2
    assert line.startswith("cislens: error: ")
    assert "conv.weight has shape (4, 4, 5) in the weights but (3, 4, 5) in the model" in line
    assert "dense.weight" in line and "--model-args" in line


def test_torch_multi_line_message_is_kept_on_one_line():
    text = (
        "Error(s) in loading state_dict for Net:\n"
        "\tsize mismatch for conv.weight: copying a param with shape torch.Size([4, 4, 5]) "
        "from checkpoint, the shape in current model is torch.Size([3, 4, 5]).\n"
        "\tsize mismatch for conv.bias: copying a param with shape torch.Size([4]) from "
        "checkpoint, the shape in current model is torch.Size([3]).\n"
    )
    line = one_line(text)
    assert "\n" not in line
    assert line.startswith("Error(s) in loading state_dict for Net: size mismatch for conv.weight")
    assert "torch.Size([3, 4, 5])" in line and "size mismatch for conv.bias" in line


def _boom(error):
    def fail(*args, **kwargs):
        raise error

    return fail


def test_internal_error_is_labelled_with_the_debug_hint(user_model, tmp_path, capsys, monkeypatch):
    folder, data = user_model
    # `cislens attribute` runs every method through the ensemble helper (one model or several)
    monkeypatch.setattr(ensemble_module, "attribution_set", lambda *a, **k: {}["scores"])
    code = main(
        _attribute_args(folder, data, tmp_path / "o.h5", "--model-args", '{"n_filters": 4}')
    )
    line = _one_line(capsys.readouterr().err)
    assert code == 1
    assert line == (
        "cislens: internal error: KeyError: 'scores' (rerun with --debug for the traceback)"
    )


def test_debug_shows_the_traceback_of_an_internal_error(user_model, tmp_path, monkeypatch):
    folder, data = user_model
    monkeypatch.setattr(ensemble_module, "attribution_set", lambda *a, **k: None.shape)
    args = _attribute_args(folder, data, tmp_path / "o.h5", "--model-args", '{"n_filters": 4}')
    with pytest.raises(AttributeError, match="shape"):
        main(["--debug", *args])


def test_debug_environment_variable_shows_the_traceback(user_model, tmp_path, monkeypatch):
    folder, data = user_model
    monkeypatch.setattr(ensemble_module, "attribution_set", lambda *a, **k: None.shape)
    args = _attribute_args(folder, data, tmp_path / "o.h5", "--model-args", '{"n_filters": 4}')
    monkeypatch.setenv("CISLENS_DEBUG", "1")
    with pytest.raises(AttributeError, match="shape"):
        main(args)
    monkeypatch.setenv("CISLENS_DEBUG", "0")  # "0" is off: one line again
    assert main(args) == 1


def test_debug_shows_the_traceback_as_a_console_script(user_model, tmp_path):
    folder, data = user_model
    args = ["--debug", *_attribute_args(folder, data, tmp_path / "o.h5")]
    result = _cli_subprocess(args).communicate(timeout=120)
    assert "Traceback (most recent call last)" in result[1]
    assert "conv.weight has shape (4, 4, 5)" in result[1]


def _deep_type_error():
    # Python's own TypeError, as from a bug: not a `raise` statement in cislens.
    return len(None)


def test_user_or_internal():
    from cislens.utils.random import resolve_seed

    def caught(call):
        try:
            call()
        except Exception as error:  # the test inspects whatever is raised
            return error
        raise AssertionError("no error")

    assert is_user_error(caught(lambda: resolve_seed("x")))  # cislens validation: TypeError
    assert is_user_error(ConfigError("bad field"))
    assert is_user_error(caught(lambda: open("/nonexistent/cislens")))
    assert not is_user_error(caught(_deep_type_error))
    assert not is_user_error(caught(lambda: np.zeros(2).reshape(3)))  # numpy's ValueError
    assert not is_user_error(RuntimeError("CUDA out of memory"))
    line, code = report(caught(lambda: open("/nonexistent/cislens")))
    assert (line, code) == ("cislens: error: No such file or directory: '/nonexistent/cislens'", 2)


def test_unknown_method_option_is_a_user_error(user_model, tmp_path, capsys):
    folder, data = user_model
    args = _attribute_args(folder, data, tmp_path / "o.h5", "--model-args", '{"n_filters": 4}')
    code = main([*args, "--method-args", '{"n_steps": 3}'])
    line = _one_line(capsys.readouterr().err)
    assert code == 2
    assert re.search(r"'saliency' does not take the option\(s\) \['n_steps'\]", line)


# --------------------------------------------------------------------------------------------
# Item 3: Ctrl-C exits 130 with one line and leaves no temporary file


def _interrupt_while_writing(monkeypatch):
    """Make np.savez_compressed write part of its file, then raise KeyboardInterrupt: Ctrl-C in
    the middle of an attribution (.npz) write."""

    def interrupted(handle, **arrays):
        handle.write(b"PK\x03\x04 partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez_compressed", interrupted)


def _assert_interrupted(code, err, out_folder):
    assert code == 130
    assert _one_line(err) == "cislens: interrupted"
    assert _temporary_files(out_folder) == []


def test_ctrl_c_during_attribute(user_model, tmp_path, capsys, monkeypatch):
    folder, data = user_model
    _interrupt_while_writing(monkeypatch)
    out = tmp_path / "attribute"
    code = main(_attribute_args(folder, data, out / "o.npz", "--model-args", '{"n_filters": 4}'))
    _assert_interrupted(code, capsys.readouterr().err, out)
    assert not (out / "o.npz").exists()


def test_ctrl_c_during_run(tmp_path, capsys, monkeypatch):
    from cislens.io import save_dataset
    from cislens.models import LabCNN, save_model
    from cislens.simulate import simulate

    dataset = simulate("lab3", n=240, random_state=0)
    save_dataset(tmp_path / "data.h5", dataset)
    model = LabCNN(n_tasks=dataset.n_tasks, input_length=dataset.length, random_state=0)
    save_model(model, tmp_path / "model", task_names=dataset.task_names)
    config = {"data": {"hdf5": "data.h5"}, "model": {"checkpoint": "model"},
              "methods": ["saliency"], "n_examples": 2, "motifs": False}  # fmt: skip
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(config))
    _interrupt_while_writing(monkeypatch)
    out = tmp_path / "out"
    code = main(["run", str(tmp_path / "run.yaml"), "--out", str(out)])
    # The untrained model is near chance, so the quality gate warns first (one line per task,
    # by design); the interruption itself must still be one line.
    err = capsys.readouterr().err.splitlines()
    _assert_interrupted(code, "\n".join(x for x in err if not x.startswith("quality gate:")), out)


def test_ctrl_c_during_demo(tmp_path, capsys, monkeypatch):
    import cislens.models.checkpoint as checkpoint
    from cislens.utils.files import atomic_output

    def interrupted(path, data, name=None):
        with atomic_output(path) as temporary:
            temporary.write_bytes(data[:16])  # partial weights
            raise KeyboardInterrupt

    # Interrupted while saving the trained model: save_model's temporary file must go too.
    monkeypatch.setattr(checkpoint, "write_bytes", interrupted)
    out = tmp_path / "demo"
    code = main(["-q", "demo", "--out", str(out), "-n", "240", "--epochs", "1",
                 "--n-examples", "2", "--ism-examples", "1", "--methods", "saliency"])  # fmt: skip
    _assert_interrupted(code, capsys.readouterr().err, out)
    assert not (out / "model" / "weights.safetensors").exists()


# --------------------------------------------------------------------------------------------
# A real SIGINT to a running console process


def _cli_subprocess(args):
    source = str(Path(cislens.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([source, os.environ.get("PYTHONPATH", "")])}
    # SIGINT raises KeyboardInterrupt as in a terminal, even where the test runner's shell
    # started this process with SIGINT ignored (as shells do for background jobs).
    code = (
        "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
        f"from cislens.cli import main; sys.exit(main({args!r}))"
    )
    return subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_to_a_running_demo(tmp_path, signum):
    out = tmp_path / "demo"
    # Many epochs, so that the signal lands while the model trains (after data.h5 is written).
    process = _cli_subprocess(["-q", "demo", "--out", str(out), "-n", "240", "--epochs", "100000"])
    deadline = time.monotonic() + 120
    while not (out / "data.params.json").exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"the demo did not start: {process.communicate()}")
        time.sleep(0.1)
    time.sleep(0.5)
    process.send_signal(signum)
    _, err = process.communicate(timeout=60)
    expected = {signal.SIGINT: (130, "interrupted"), signal.SIGTERM: (143, "terminated")}
    code, word = expected[signum]
    assert process.returncode == code, err
    assert err.strip().splitlines()[-1] == f"cislens: {word}"
    assert _temporary_files(out) == []
