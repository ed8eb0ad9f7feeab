"""The end-to-end demo at toy scale: every stage runs, the report is written, resume skips."""

import json

import pytest

import cislens.cli.benchmark  # noqa: F401  (registers `benchmark` and `report`)
from cislens.cli import main
from cislens.demo import STAGES, run_demo

# At toy scale discovery finds too few seqlets for a pattern, and says so.
pytestmark = pytest.mark.filterwarnings("ignore:no motifs:cislens.errors.CislensWarning")

FAST = dict(
    n_sequences=240,
    epochs=1,
    n_examples=3,
    ism_examples=2,
    methods=["saliency", "integrated_gradients", "deeplift_shap", "ism"],
    random_state=0,
)


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    return out, run_demo(out, **FAST)


def test_every_stage_runs_and_writes_its_outputs(first_run):
    out, result = first_run
    assert list(result.timings) == list(STAGES)
    assert result.resumed == []
    for name in (
        "data.h5",
        "model/config.json",
        "metrics.csv",
        "attributions/timings.json",
        "motifs.h5",
        "matches.csv",
        "hits.csv",
        "filters.csv",
        "gia.csv",
        "benchmark.csv",
        "motif_recovery.csv",
        "report.html",
    ):
        assert (out / name).exists(), name
    assert set(result.benchmark["method"]) == set(FAST["methods"])
    assert len(result.motif_recovery) == 3
    html = (out / "report.html").read_text()
    assert '<section id="benchmark">' in html and "deeplift_shap" in html
    assert "stages:" in result.summary() and "report:" in result.summary()
    print(result.timings)


def test_resume_skips_finished_stages(first_run):
    out, _ = first_run
    before = (out / "benchmark.csv").read_text()
    again = run_demo(out, resume=True, **FAST)
    # the report too: nothing before it changed, so it is kept as it is
    assert again.resumed == list(STAGES)
    assert (out / "benchmark.csv").read_text() == before
    params = json.loads((out / "attribute.params.json").read_text())
    assert params["n_examples"] == 3


@pytest.mark.slow
def test_same_seed_same_numbers(first_run, tmp_path):
    _, result = first_run
    other = run_demo(tmp_path, **{**FAST, "methods": ["saliency", "deeplift_shap"]})
    mine = result.benchmark.set_index("method").loc["saliency", "auroc"]
    theirs = other.benchmark.set_index("method").loc["saliency", "auroc"]
    assert mine == pytest.approx(theirs, abs=0)


@pytest.mark.slow
def test_cli_report_rerenders(first_run, tmp_path, capsys):
    out, _ = first_run
    target = tmp_path / "again.html"
    assert main(["report", str(out), "--out", str(target)]) == 0
    assert '<section id="tracks">' in target.read_text()


def test_report_renders_the_same_without_the_model(first_run, tmp_path, monkeypatch):
    # The report renders the run's saved outputs: with every way of loading or running a model
    # broken, `cislens report` writes the report the pipeline wrote (up to its time stamp).
    import re

    import torch

    import cislens.models

    out, _ = first_run

    def unavailable(*args, **kwargs):
        raise RuntimeError("the model is unavailable")

    monkeypatch.setattr(torch.nn.Module, "__call__", unavailable)
    monkeypatch.setattr(cislens.models, "load_model", unavailable)
    target = tmp_path / "again.html"
    assert main(["report", str(out), "--out", str(target)]) == 0

    def stamp_free(text):
        return re.sub(r"generated \d{4}-\d\d-\d\d \d\d:\d\d UTC", "generated", text)

    again, before = target.read_text(), (out / "report.html").read_text()
    assert '<section id="ig-path">' in again and "Integrated gradients path" in again
    assert stamp_free(again) == stamp_free(before)
