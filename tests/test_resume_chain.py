"""Resume never mixes two runs (issue 24, item 2).

A stage's record (``<stage>.params.json``) is removed before the stage recomputes and written
after all of its outputs; its key hashes its parameters and the output digests of the stages
upstream of it (a content hash chain). The end-to-end test reproduces the reported scenario:
run A completes, run B with other parameters is killed after rewriting ``motifs.h5``, and
``--resume`` with A's parameters must equal a clean run of A.
"""

import json

import numpy as np
import pandas as pd
import pytest

from cislens.pipeline import run_pipeline
from cislens.pipeline.stages import RESUME_KEY, Stages

# At toy scale discovery finds too few seqlets for a pattern, and says so.
pytestmark = pytest.mark.filterwarnings("ignore:no motifs:cislens.errors.CislensWarning")


class Killed(RuntimeError):
    """Stands in for a kill -9 in the middle of a stage."""


def _stage(book, name, params, content, files=("out.txt",)):
    """A toy stage: writes ``content`` to its files unless resumed; returns whether it ran."""
    if book.done(name, params, *files, outputs=files):
        book.finish(name)
        return False
    for file in files:
        (book.out / file).write_text(content)
    book.finish(name)
    return True


def _chain(out, resume, a="a", b="b", content_a="A"):
    book = Stages(out, resume)
    ran = [
        _stage(book, "first", {"p": a}, content_a, ("first.txt",)),
        _stage(book, "second", {"p": b}, "B", ("second.txt",)),
    ]
    return book, ran


def test_record_is_removed_before_a_stage_recomputes(tmp_path):
    _chain(tmp_path, resume=False)
    record = tmp_path / "second.params.json"
    assert RESUME_KEY in json.loads(record.read_text())
    book = Stages(tmp_path, resume=True)
    assert not book.done("second", {"p": "other"}, "second.txt", outputs=("second.txt",))
    # The stage is now recomputing: a kill here must not leave the old record beside new files.
    assert not record.exists()


def test_upstream_change_recomputes_downstream_with_the_same_parameters(tmp_path):
    _chain(tmp_path, resume=False)
    assert _chain(tmp_path, resume=True)[1] == [False, False]
    # Same parameters for "second", but "first" wrote other bytes: "second" is not reused.
    assert _chain(tmp_path, resume=True, a="a2", content_a="A2")[1] == [True, True]
    # A recomputed upstream that wrote the same bytes keeps the downstream stage.
    (tmp_path / "first.params.json").unlink()
    assert _chain(tmp_path, resume=True, a="a2", content_a="A2")[1] == [True, False]


def test_files_changed_behind_the_record_are_recomputed(tmp_path):
    _chain(tmp_path, resume=False)
    (tmp_path / "second.txt").write_text("written by another run")
    book, ran = _chain(tmp_path, resume=True)
    assert ran == [False, True] and book.resumed == ["first"]
    assert (tmp_path / "second.txt").read_text() == "B"


def test_a_killed_stage_leaves_no_record(tmp_path):
    book = Stages(tmp_path, resume=False)
    assert not book.done("first", {"p": 1}, "first.txt", outputs=("first.txt",))
    (tmp_path / "first.txt").write_text("half")
    # killed before finish(): files but no record, so a resume recomputes
    assert not (tmp_path / "first.params.json").exists()
    assert _chain(tmp_path, resume=True)[1] == [True, True]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """A small simulation with ground truth and a LabCNN trained on it for one epoch."""
    from testkit import save_lab3_inputs

    root = tmp_path_factory.mktemp("resume_inputs")
    save_lab3_inputs(root, n=240, epochs=1)
    return root


def _config(root, seed, n_examples):
    return {
        "data": {"hdf5": str(root / "data.h5")},
        "model": {"checkpoint": str(root / "model")},
        "methods": ["saliency", "deeplift_shap"],
        "n_examples": n_examples,
        "seed": seed,
        "motifs": {"annotate": False, "filters": False},
    }


def _contents(out):
    """Every result of the run folder as data (not bytes: npz members carry a timestamp)."""
    from cislens.io import load_attributions
    from cislens.motifs import load_motifs

    found = {}
    for path in sorted((out / "attributions").glob("*.npz")):
        result = load_attributions(path)
        found[path.name] = (result.attributions, np.asarray(result.example_index))
    motifs = load_motifs(out / "motifs.h5")
    found["motifs"] = (motifs.random_state, len(motifs.patterns), motifs.params)
    for name in ("hits.csv", "gia.csv", "motif_recovery.csv", "instance_recovery.csv"):
        found[name] = pd.read_csv(out / name)
    # timings differ between any two runs; every score must not
    found["benchmark.csv"] = pd.read_csv(out / "benchmark.csv").drop(
        columns=["seconds", "seconds_per_sequence"], errors="ignore"
    )
    return found


def _assert_same(got, expected):
    assert got.keys() == expected.keys()
    for name, value in expected.items():
        if isinstance(value, pd.DataFrame):
            pd.testing.assert_frame_equal(got[name], value, check_dtype=False, obj=name)
        elif name == "motifs":
            assert got[name] == value
        else:
            for a, b in zip(got[name], value, strict=True):
                np.testing.assert_array_equal(a, b, err_msg=name)


def test_stale_resume_equals_a_clean_run(inputs, tmp_path, monkeypatch):
    import cislens.motifs

    clean = tmp_path / "clean"
    run_a = _config(inputs, seed=1, n_examples=4)
    run_pipeline(run_a, out=clean)
    mixed = tmp_path / "mixed"
    run_pipeline(run_a, out=mixed)

    # Run B (other parameters) is killed right after rewriting motifs.h5.
    save = cislens.motifs.save_motifs

    def save_then_die(path, result):
        save(path, result)
        raise Killed("killed after writing motifs.h5")

    monkeypatch.setattr(cislens.motifs, "save_motifs", save_then_die)
    with pytest.raises(Killed):
        run_pipeline(_config(inputs, seed=2, n_examples=2), out=mixed)
    monkeypatch.undo()
    assert not (mixed / "motifs.params.json").exists()

    resumed = run_pipeline(run_a, out=mixed, resume=True)
    # B's motifs.h5 (its random_state is B's) is not taken for A's
    assert not {"attribute", "motifs", "gia", "benchmark"} & set(resumed.resumed)
    _assert_same(_contents(mixed), _contents(clean))
    # and a second resume reuses every stage
    again = run_pipeline(run_a, out=mixed, resume=True)
    assert again.resumed == [
        "data",
        "evaluate",
        "attribute",
        "motifs",
        "gia",
        "benchmark",
        "report",
    ]
    _assert_same(_contents(mixed), _contents(clean))
    # the records' bookkeeping is not a parameter: the report's table leaves it out
    assert RESUME_KEY not in (mixed / "report.html").read_text()
