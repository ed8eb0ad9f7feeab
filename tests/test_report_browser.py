"""The report in a real browser (headless Chromium, skipped where it is absent): no console
error, no URL fetched, the sequence browser lists and draws every explained sequence, a motif
page shows its instances and links each to its sequence. Screenshots are written to the test's
folder and to ``test_output/report_browser/`` (ignored by git)."""

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cislens.io import AttributionSet
from cislens.motifs import Pattern
from cislens.report import render_report
from cislens.report.browser import anchor, browser_data, hits_by_row, motif_pages
from tests.browser_check import check_report, chromium

EVIL = "<script>alert(1)</script>"


def _report(path: Path) -> tuple[Path, int]:
    from cislens.simulate import simulate

    data = simulate("lab3", n=120, random_state=0)
    rng = np.random.default_rng(0)
    rows = np.arange(12)
    sets = {}
    for method in ("saliency", "deeplift_shap"):
        sets[method] = []
        for t in range(data.n_tasks):
            X = data.X["test"][rows]
            sets[method].append(
                AttributionSet(
                    X=X,
                    attributions=X * rng.normal(size=(12, 1, data.length)).astype(np.float32),
                    method=method,
                    target=t,
                    task_names=data.task_names,
                    example_index=rows,
                )
            )
    cwm = rng.normal(size=(4, 10))
    pattern = Pattern(
        "pos_0", rng.dirichlet(np.ones(4), 10).T, cwm, cwm, pd.DataFrame({"example": range(25)})
    )
    hits = pd.DataFrame(
        {
            "example": [0, 5, 13],
            "start": [10, 40, 60],
            "end": [20, 50, 70],
            "strand": ["+", "-", "+"],
            "pattern": "pos_0",
            "score": [0.9, 0.8, 0.7],
        }
    )
    index = np.concatenate([np.asarray(s.example_index) for s in sets["deeplift_shap"]])
    by_row = hits_by_row(hits, index)
    gia = pd.DataFrame({"pattern": ["pos_0"], "target": [EVIL], "effect": [1.5]})
    predictions = dict(zip(rows.tolist(), rng.normal(size=(12, data.n_tasks)), strict=True))
    render_report(
        path,
        title=f"browser test {EVIL}",
        patterns=[pattern],
        browser=browser_data(sets, data, predictions, by_row),
        motif_pages=motif_pages([pattern], by_row, data, gia),
        gia_table=gia,
        metrics=pd.DataFrame({"auroc": [0.55]}, index=["CTCF"]),
        quality=["task CTCF: test auROC 0.550 is below 0.6"],
        has_truth=True,
    )
    return path, len(rows)


def test_browser_data_and_motif_pages_without_a_browser(tmp_path):
    html = _report(tmp_path / "r.html")[0].read_text()
    assert f'id="{anchor("pos_0")}"' in html and 'href="#seq-1"' in html  # hit 13 -> row 1
    assert "<script>alert(1)" not in html  # user strings are escaped, in the JSON too
    assert "http://" not in html and "https://" not in html and "<link" not in html


@pytest.mark.skipif(chromium() is None, reason="chromium is not installed")
def test_report_renders_in_headless_chromium(tmp_path):
    pytest.importorskip("playwright")
    report, n_rows = _report(tmp_path / "report.html")
    shots = tmp_path / "shots"
    found = check_report(report, shots, motif=anchor("pos_0"))
    print(f"screenshots in {shots}")
    keep = Path(__file__).resolve().parents[1] / "test_output" / "report_browser"
    keep.mkdir(parents=True, exist_ok=True)
    for shot in shots.glob("*.png"):
        shutil.copy(shot, keep / shot.name)
    assert found["errors"] == []
    assert found["requests"] == []  # nothing but the file itself and data: URIs
    assert found["n_rows"] == n_rows
    assert found["n_canvases"] == 6  # two methods x three tasks (every row explained for all)
    assert found["canvas_ink"] > 500  # letters were drawn
    assert found["hash"].startswith("#seq-")
    assert found["motif_visible"] and "Called instances (3)" in found["motif_text"]
    assert found["n_instance_links"] == 3
    assert found["after_link"] == "Test sequence 1"  # the third hit: pooled row 13 -> test row 1
    for name in ("sequences.png", "motif.png"):
        assert (shots / name).stat().st_size > 5_000
