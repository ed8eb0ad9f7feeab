"""The HTML report: every section, embedded images only, escaped user strings."""

import re
import shutil
import subprocess

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from cislens.benchmark import benchmark_attributions
from cislens.benchmark.motifs import MotifBenchmark
from cislens.io import AttributionSet
from cislens.motifs import Pattern
from cislens.report import SECTIONS, plot_track, render_report

EVIL = "<script>alert(1)</script>"


def _inputs():
    rng = np.random.default_rng(0)
    X = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (3, 30))].transpose(0, 2, 1)
    A = X * rng.normal(size=(3, 1, 30)).astype(np.float32)
    truth = pd.DataFrame(
        {
            "sequence": [0, 1, 2],
            "split": "test",
            "motif": EVIL,
            "start": [3, 5, 7],
            "end": [9, 11, 13],
            "strand": "+",
            f"relevant_{EVIL}": True,
        }
    )
    result = AttributionSet(
        X=X,
        attributions=A,
        method="saliency",
        target=0,
        task_names=[EVIL],
        example_index=np.arange(3),
    )
    bench = benchmark_attributions(
        [
            result,
            AttributionSet(
                X=X,
                attributions=X,
                method="ism",
                target=0,
                task_names=[EVIL],
                example_index=np.arange(3),
            ),
        ],
        truth,
    )
    fig, ax = plt.subplots()
    plot_track(A[0], instances=[(3, 9, EVIL)], ax=ax)
    cwm = rng.normal(size=(4, 12))
    pfm = rng.dirichlet(np.ones(4), 12).T
    pattern = Pattern("pos_0", pfm, cwm, cwm, pd.DataFrame({"example": range(25)}))
    matches = pd.DataFrame(
        {
            "pattern": ["pos_0"],
            "rank": [1],
            "target_id": ["MA0139.2"],
            "target_name": [EVIL],
            "p_value": [1e-8],
            "q_value": [1e-5],
            "strand": ["+"],
        }
    )
    recovery = pd.DataFrame(
        {
            "motif": [EVIL],
            "recovered": [True],
            "pattern": ["pos_0"],
            "q_value": [1e-5],
            "pattern_rank": [1],
            "match_rank": [1],
        }
    )
    motif_bench = MotifBenchmark(
        recovery,
        0,
        {"pos_0": EVIL},
        pd.DataFrame(
            {"motif": [EVIL], "n_hits": [3], "n_true": [3], "precision": [1.0], "recall": [1.0]}
        ),
    )
    metrics = pd.DataFrame({"auroc": [0.9], "auprc": [0.8]}, index=[EVIL])
    gia_fig, gia_ax = plt.subplots()
    gia_ax.bar([0], [1.0])
    ig_fig, ig_ax = plt.subplots()
    ig_ax.plot([0, 1], [0, 1])
    return dict(
        title=f"report for {EVIL}",
        summary=f"file {EVIL}.h5",
        metrics=metrics,
        tracks=[(f"task {EVIL}", fig)],
        benchmark=bench,
        patterns=[pattern],
        matches=matches,
        motif_benchmark=motif_bench,
        filters=pd.DataFrame({"filter": ["filter_0"]}),
        gia_table=pd.DataFrame({"pattern": ["pos_0"], "target": [EVIL], "effect": [1.0]}),
        gia_figures=[("gia", gia_fig)],
        ig_figures=[("ig path", ig_fig)],
        params={"data": f"{EVIL}.h5", "random_state": 7},
        timings={"train": 1.5},
        random_state=7,
    )


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    path = tmp_path_factory.mktemp("report") / "report.html"
    render_report(path, **_inputs())
    return path


def test_every_section_present(report):
    html = report.read_text()
    for section in SECTIONS:
        assert f'<section id="{section}">' in html
    for heading in (
        "Model quality and data",
        "Sequence browser",
        "Attribution tracks",
        "Attribution benchmark",
        "Discovered motifs",
        "Global importance analysis",
        "Integrated gradients",
        "Parameters",
    ):
        assert heading in html
    assert "pos_0" in html and "25 seqlets" in html and "MA0139.2" in html
    assert 'class="best"' in html  # the best benchmark row is highlighted
    assert "seed 7" in html and "cislens " in html


def test_images_embedded_and_no_external_resources(report):
    html = report.read_text()
    sources = re.findall(r'src="([^"]*)"', html)
    assert len(sources) >= 4  # track, pattern logos, GIA, IG path
    assert all(s.startswith("data:image/png;base64,") for s in sources)
    assert "<link" not in html and "http://" not in html and "https://" not in html


def test_user_strings_are_escaped(report):
    html = report.read_text()
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_sections_render_without_inputs(tmp_path):
    html = render_report(tmp_path / "empty.html").read_text()
    for section in SECTIONS:
        assert f'<section id="{section}">' in html
    assert "No benchmark." in html


@pytest.mark.skipif(
    not any(shutil.which(b) for b in ("chromium", "chromium-browser")),
    reason="chromium is not installed",
)
def test_headless_chromium_screenshot(report, tmp_path):
    browser = next(shutil.which(b) for b in ("chromium", "chromium-browser") if shutil.which(b))
    shot = tmp_path / "shot.png"
    subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            f"--screenshot={shot}",
            "--window-size=1200,3000",
            report.as_uri(),
        ],
        check=True,
        timeout=120,
        capture_output=True,
    )
    assert shot.exists() and shot.stat().st_size > 10_000
