"""The quality gate and the navigable report of a real (small) ``cislens run``: a model at
chance is flagged in the log and at the top of the report; every explained sequence and every
pattern's instances are in the page; resuming keeps the report and says which stages were
loaded."""

import json
import logging
import re

import numpy as np
import pandas as pd
import pytest
import torch

from cislens.pipeline import run_pipeline
from cislens.train.quality import MIN_AUROC, quality_warnings


@pytest.fixture(scope="module")
def chance_run(tmp_path_factory):
    """A run with a LabCNN whose weights are all zero: a constant output, auROC 0.5 exactly."""
    from testkit import save_lab3_inputs

    from cislens.models import load_model, save_model

    root = tmp_path_factory.mktemp("chance")
    data, model = save_lab3_inputs(root, n=120, epochs=0)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.zero_()
    save_model(model, root / "model", task_names=data.task_names)
    assert load_model(root / "model") is not None
    config = {
        "data": {"hdf5": str(root / "data.h5")},
        "model": {"checkpoint": str(root / "model")},
        "methods": ["saliency"],
        "n_examples": 3,
        "seed": 0,
        "motifs": False,
        "gia": False,
        "benchmark": False,
    }
    return root, config


def test_quality_warnings_flag_each_task_below_the_threshold():
    table = pd.DataFrame(
        {
            "task": ["a", "b", "c", "d"],
            "task_type": ["binary", "binary", "binary", "regression"],
            "auroc": [0.95, MIN_AUROC - 0.01, np.nan, np.nan],
            "pearson_r": [np.nan, np.nan, np.nan, 0.05],
        }
    )
    found = quality_warnings(table)
    assert [line.split(":")[0] for line in found] == ["task b", "task c", "task d"]
    assert "0.590" in found[0] and "could not be computed" in found[1]
    assert "Pearson r 0.050" in found[2]
    assert quality_warnings(table.iloc[:1]) == [] and quality_warnings(None) == []


def test_chance_model_is_flagged_in_the_log_and_at_the_top_of_the_report(
    chance_run, tmp_path, caplog
):
    _, config = chance_run
    with caplog.at_level(logging.WARNING):
        result = run_pipeline(config, out=tmp_path / "run")
    gate = [r.getMessage() for r in caplog.records if "quality gate" in r.getMessage()]
    assert len(gate) == 3  # every lab3 task: auROC 0.5 (constant output)
    assert all("auROC 0.500 is below 0.6" in line for line in gate)
    html = result.report.read_text()
    warning = html.index('id="quality-warning"')
    # before the first section, hence before any interpretation
    assert warning < html.index("<section")
    assert html.count("auROC 0.500 is below 0.6") == 3


def test_a_good_model_is_not_flagged(tmp_path):
    good = pd.DataFrame({"task": ["a"], "task_type": ["binary"], "auroc": [0.9]})
    from cislens.report import render_report

    html = render_report(
        tmp_path / "r.html", metrics=good.set_index("task"), quality=quality_warnings(good)
    ).read_text()
    assert 'id="quality-warning"' not in html


def test_browser_has_every_explained_sequence_and_resume_keeps_the_report(chance_run, tmp_path):
    from cislens.io import load_attributions

    _, config = chance_run
    config = {**config, "n_examples": 4, "methods": ["saliency", "grad_x_input"]}
    out = tmp_path / "run"
    run_pipeline(config, out=out)
    html = (out / "report.html").read_text()
    match = re.search(
        r'<script type="application/json" id="cislens-data">(.*?)</script>', html, re.S
    )
    data = json.loads(match.group(1))
    explained = set()
    for file in (out / "attributions").glob("*.npz"):
        explained |= {int(r) for r in load_attributions(file).example_index}
    assert {s["row"] for s in data["sequences"]} == explained
    first = data["sequences"][0]
    assert set(first["tracks"]) <= {"saliency", "grad_x_input"} and len(first["seq"]) == 200
    assert set(data["methods"]) == {"saliency", "grad_x_input"}
    # no URL is fetched: every src is a data URI, no link element, no http(s)
    assert all(s.startswith("data:") for s in re.findall(r'src="([^"]*)"', html))
    assert "<link" not in html and "http://" not in html and "https://" not in html
    stamp = (out / "report.html").stat().st_mtime_ns
    resumed = run_pipeline(config, out=out, resume=True)
    assert "report" in resumed.resumed and (out / "report.html").stat().st_mtime_ns == stamp
