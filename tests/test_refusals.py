"""Refusals leave nothing behind; "nothing found" is explicit (issue 24, item 6).

Everything that can refuse a command is checked before its first write: ``--workers 0`` leaves
no store, ``cislens run`` with bad weights (or data the later stages cannot use) leaves no
folder and no ``run_config.json``. Motif discovery that finds nothing (an all-zero store, 1-3
sequences) returns an empty result that says why, in the result, in ``motifs.h5`` and on the
command line.
"""

import warnings

import numpy as np
import pytest
import yaml

from cislens.cli import main
from cislens.errors import CislensWarning

USER_MODEL = """
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self, n_out=3):
        super().__init__()
        self.conv = nn.Conv1d(4, 3, 5)
        self.head = nn.Linear(3, n_out)

    def forward(self, x):
        return self.head(torch.relu(self.conv(x)).amax(-1))
"""


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """A small simulated dataset (3 tasks) and a LabCNN checkpoint for it (untrained)."""
    from testkit import save_lab3_inputs

    root = tmp_path_factory.mktemp("refusal_inputs")
    data, _ = save_lab3_inputs(root, n=60, epochs=0)
    return root, data


# --------------------------------------------------------------------------------------------
# --workers 0: refused before the store exists


@pytest.mark.parametrize("workers", [0, -1])
def test_workers_refused_before_the_store_is_created(inputs, tmp_path, capsys, workers):
    pytest.importorskip("distributed")
    pytest.importorskip("zarr")
    root, _ = inputs
    out = tmp_path / "attr.zarr"
    code = main(["attribute", "--model", str(root / "model"), "--data", str(root / "data.h5"),
                 "--method", "saliency", "--target", "0", "--out", str(out),
                 "--workers", str(workers)])  # fmt: skip
    assert code == 2
    assert "--workers" in capsys.readouterr().err
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_library_chunked_runs_refuse_bad_clusters_before_writing(tmp_path):
    pytest.importorskip("distributed")
    pytest.importorskip("zarr")
    from cislens.scale import attribute_to_zarr, score_variants

    out = tmp_path / "x.zarr"
    with pytest.raises(ValueError, match="positive int"):
        attribute_to_zarr("model", None, out, method="saliency", n_workers=0)
    with pytest.raises(ValueError, match="--scheduler"):
        attribute_to_zarr("model", None, out, method="saliency", scheduler="tcp://x:1",
                          n_workers=2)  # fmt: skip
    with pytest.raises(ValueError, match="positive int"):
        score_variants("model", "v.vcf", "g.fa", out, n_workers=0)
    assert not out.exists()


# --------------------------------------------------------------------------------------------
# cislens run: the model and the data are checked before the folder is written


def _write_user_model(folder, weights_shape_ok=True):
    """The user class of USER_MODEL and its weights (conv.weight of the wrong shape if asked)."""
    import torch
    from safetensors.torch import save_file

    (folder / "net.py").write_text(USER_MODEL)
    shapes = {"conv.weight": (3, 4, 5), "conv.bias": (3,), "head.weight": (3, 3),
              "head.bias": (3,)}  # fmt: skip
    if not weights_shape_ok:
        shapes["conv.weight"] = (7, 4, 5)
    generator = torch.Generator().manual_seed(0)
    save_file({k: torch.randn(v, generator=generator) for k, v in shapes.items()},
              folder / "net.safetensors")  # fmt: skip


@pytest.mark.parametrize("weights", ["wrong shapes", "not a weights file"])
def test_run_with_bad_weights_writes_nothing(inputs, tmp_path, capsys, weights):
    root, _ = inputs
    _write_user_model(tmp_path, weights_shape_ok=False)
    if weights == "not a weights file":
        (tmp_path / "net.safetensors").write_bytes(b"partial weights")
    config = {"data": {"hdf5": str(root / "data.h5")},
              "model": {"class": "net.py:Net", "weights": "net.safetensors"},
              "methods": ["saliency"], "n_examples": 2, "motifs": False}  # fmt: skip
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(config))
    out = tmp_path / "out"
    assert main(["run", str(path), "--out", str(out)]) == 2
    assert "net.safetensors" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize(
    ("change", "n_out", "message"),
    [
        ({"tasks": ["no_such_task"]}, 3, "not a task of the data"),
        ({}, 2, "it has 2 outputs but the data has 3 tasks"),
        ({"benchmark": "true", "data": "fasta"}, 3, "benchmark: true needs ground truth"),
    ],
)
def test_run_refuses_unusable_data_before_writing(inputs, tmp_path, change, n_out, message):
    import torch
    from safetensors.torch import save_file

    from cislens.errors import ConfigError
    from cislens.pipeline import run_pipeline
    from cislens.sequence import decode, write_fasta

    root, data = inputs
    (tmp_path / "net.py").write_text(USER_MODEL)
    shapes = {"conv.weight": (3, 4, 5), "conv.bias": (3,), "head.weight": (n_out, 3),
              "head.bias": (n_out,)}  # fmt: skip
    save_file({k: torch.zeros(v) for k, v in shapes.items()}, tmp_path / "net.safetensors")
    change = dict(change)
    source = {"hdf5": str(root / "data.h5")}
    if change.pop("data", None) == "fasta":
        write_fasta(tmp_path / "s.fa", decode(data.X["test"]))
        source = {"fasta": str(tmp_path / "s.fa"), "task_names": list(data.task_names)}
    config = {"data": source,
              "model": {"class": str(tmp_path / "net.py") + ":Net",
                        "weights": str(tmp_path / "net.safetensors"), "args": {"n_out": n_out}},
              "methods": ["saliency"], "n_examples": 2, "motifs": False, **change}  # fmt: skip
    out = tmp_path / "out"
    with pytest.raises((ConfigError, ValueError), match=message):
        run_pipeline(config, out=out)
    assert not out.exists()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"methods": ["bogus"]}, "unknown attribution method 'bogus'"),
        ({"preset": "nope"}, "unknown preset 'nope'"),
        ({"n_sequences": 0}, "expected an integer >= 3"),
    ],
)
def test_demo_refuses_before_writing(tmp_path, kwargs, message):
    from cislens.demo import run_demo

    out = tmp_path / "demo"
    with pytest.raises(ValueError, match=message):
        run_demo(out, epochs=1, **kwargs)
    assert not out.exists()


# --------------------------------------------------------------------------------------------
# Motif discovery that finds nothing: an explicit, documented empty result


def _attribution_file(path, X, H):
    from cislens.io import AttributionSet, save_attributions

    return save_attributions(
        path, AttributionSet(X=X, attributions=X * H, hypothetical=H, method="deeplift_shap")
    )


def test_all_zero_store_gives_an_explicit_empty_result(inputs, tmp_path, capsys):
    import cislens.cli.motifs  # noqa: F401
    from cislens.motifs import load_motifs

    _, data = inputs
    X = np.asarray(data.X["test"], dtype=np.float32)
    store = _attribution_file(tmp_path / "zero.h5", X, np.zeros_like(X))
    out = tmp_path / "motifs"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CislensWarning)
        code = main(["--quiet", "motifs", "--attributions", str(store), "--out", str(out),
                     "--no-annotate"])  # fmt: skip
    assert code == 0
    err = capsys.readouterr().err
    assert "no motifs found: all projected attributions" in err and "empty_reason" in err
    saved = load_motifs(out / "motifs.h5")
    assert saved.patterns == [] and "are zero" in saved.empty_reason
    assert {p.name for p in out.iterdir()} == {"motifs.h5", "seqlets.tsv"}


@pytest.mark.parametrize("n", [1, 2, 3])
def test_one_to_three_sequences_say_why_nothing_was_found(inputs, tmp_path, n):
    from cislens.motifs import discover_motifs, load_motifs, save_motifs

    _, data = inputs
    X = np.asarray(data.X["test"][:n], dtype=np.float32)
    H = np.random.default_rng(n).normal(size=X.shape).astype(np.float32)
    with pytest.warns(CislensWarning, match="no motifs") as caught:
        result = discover_motifs(X, H, random_state=0)
    assert result.patterns == []
    assert result.empty_reason == str(caught[-1].message)
    assert "min_cluster_size=20" in result.empty_reason or "threshold" in result.empty_reason
    again = load_motifs(save_motifs(tmp_path / "m.h5", result))
    assert again.empty_reason == result.empty_reason


def test_found_patterns_have_no_empty_reason():
    from testkit import planted

    from cislens.motifs import discover_motifs

    X, H, _ = planted(n=160, seed=7)
    result = discover_motifs(X, H, n_leiden_runs=3, random_state=0)
    assert result.patterns and result.empty_reason is None


def test_filters_with_no_activating_window_say_so_and_write_nothing(inputs, tmp_path, capsys):
    import torch

    import cislens.cli.motifs  # noqa: F401
    from cislens.models import LabCNN, save_model

    root, data = inputs
    model = LabCNN(n_tasks=data.n_tasks, input_length=data.length, random_state=0)
    conv = next(m for m in model.modules() if isinstance(m, torch.nn.Conv1d))
    with torch.no_grad():  # first-layer filters that never fire
        conv.weight.zero_()
        conv.bias.fill_(-1.0)
    save_model(model, tmp_path / "model", task_names=data.task_names)
    out = tmp_path / "filters"
    code = main(["--quiet", "filters", "--model", str(tmp_path / "model"),
                 "--data", str(root / "data.h5"), "--out", str(out)])  # fmt: skip
    assert code == 0
    assert "no filter has activating windows" in capsys.readouterr().err
    assert not out.exists()
