"""The pipeline's ARGMINN readout stage and the report's ARGMINN section.

The model is a tiny ARGMINN with hand-set weights: filter k is the one-hot of the 8-mer
``MOTIFS[k]`` with bias -7.5 (activation 0.5 on an exact match, on either strand, else 0), and
the tokens are built so that head 0 attends to filter 0's activation and head 1 to filter 1's
(heads 2 and 3 see nothing and stay uniform). The test sequences are rejection-sampled so that
positives hold exactly one copy of each motif and negatives none, which makes every readout
number known in advance.
"""

import json
import logging
import re

import matplotlib

matplotlib.use("Agg")
import numpy as np
import pandas as pd
import pytest
import torch

from cislens.argminn import ARGMINN
from cislens.argminn.instances import INSTANCE_COLUMNS
from cislens.argminn.readout import FILTER_COLUMNS
from cislens.io import Dataset, GroundTruth, save_dataset
from cislens.models import LabCNN, save_model
from cislens.pipeline import run_pipeline
from cislens.pipeline._argminn import (
    ARGMINN_FILES,
    READOUT_DEFAULTS,
    argminn_stage,
    skip_argminn_stage,
)
from cislens.pipeline.stages import Stages
from cislens.pwm import Motif, read_meme
from cislens.report import OPTIONAL_SECTIONS, render_report
from cislens.report._argminn import load_argminn_report, plot_attention_maps
from cislens.report.directory import render_demo_report

# 8-mers: an exact match is rare enough by chance (about 0.2 % of shuffled 60 bp sequences)
# that the calls beat argminn_instances' chance floor (null_quantile 0.9); 5-mers would not.
MOTIFS = {"m0": "GATTCAGC", "m1": "CCAGTTGA"}
LENGTH, WIDTH, N_POS, N_NEG = 60, 8, 24, 12
EXTRA_COLUMNS = ("consensus", "best_match", "match_id", "match_q_value", "simulated_motif")


def _one_hot(text):
    return np.eye(4, dtype=np.float32)[["ACGT".index(c) for c in text]].T


def _model():
    model = ARGMINN(
        n_tasks=1, input_length=LENGTH, n_filters=2, filter_width=WIDTH, random_state=0
    ).eval()
    with torch.no_grad():
        for k, text in enumerate(MOTIFS.values()):
            model.scanner.weight[k] = torch.from_numpy(_one_hot(text))
        model.scanner.bias.fill_(-(WIDTH - 0.5))
        model.tokenize.weight.zero_()
        model.tokenize.bias.zero_()
        model.tokenize.weight[0:8, 0] = 10.0  # head 0's keys: filter 0's activation
        model.tokenize.weight[8:16, 1] = 10.0  # head 1's keys: filter 1's activation
        model.layers[0].query.weight.zero_()
        model.layers[0].query.bias.fill_(1.0)
    return model


def _dataset(model):
    """Positives: one copy of each motif (plus strand, at least 6 bp apart); negatives: none."""
    rng = np.random.default_rng(0)
    X, rows = [], []
    while len(X) < N_POS + N_NEG:
        x = np.eye(4, dtype=np.float32)[rng.integers(0, 4, LENGTH)].T.copy()
        positive = len(X) < N_POS
        if positive:
            a, b = rng.choice(LENGTH - WIDTH + 1, 2, replace=False)
            if abs(int(a) - int(b)) <= WIDTH:
                continue
            x[:, a : a + WIDTH] = _one_hot(MOTIFS["m0"])
            x[:, b : b + WIDTH] = _one_hot(MOTIFS["m1"])
        activations, _ = model.scan(torch.from_numpy(x)[None])
        if int((activations > 0).sum()) != (2 if positive else 0):
            continue  # a chance copy of a motif: draw again
        if positive:
            rows += [(len(X), "m0", int(a)), (len(X), "m1", int(b))]
        X.append(x)
    instances = pd.DataFrame(
        {
            "sequence": [r[0] for r in rows],
            "split": "test",
            "motif": [r[1] for r in rows],
            "start": [r[2] for r in rows],
            "end": [r[2] + WIDTH for r in rows],
            "strand": "+",
            "relevant_t0": True,
            "role": "rule",
        }
    )
    truth = GroundTruth(instances, {k: 0.9 * _one_hot(v) + 0.025 for k, v in MOTIFS.items()})
    Y = np.array([[1.0]] * N_POS + [[0.0]] * N_NEG, dtype=np.float32)
    return Dataset({"test": np.stack(X)}, {"test": Y}, ["t0"], ground_truth=truth)


def _decoys():
    """30 random matrices beside the truth, so TOMTOM's background is not just two motifs."""
    rng = np.random.default_rng(1)
    return [Motif(f"decoy_{i}", rng.dirichlet(np.ones(4), 8).T) for i in range(30)]


def _read_first_run(stages, model, dataset):
    """The stage as the first run reads it (no annotation, the decoy database; the effect
    criterion off for the hand-set model, see the ``stage`` fixture)."""
    return argminn_stage(
        stages,
        {"random_state": 5},
        model,
        dataset,
        annotate=False,
        database=_decoys(),
        readout={"min_effect": 0.0},
    )


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("argminn_inputs")
    model = _model()
    dataset = _dataset(model)
    save_dataset(root / "data.h5", dataset)
    save_model(model, root / "model", task_names=["t0"])
    return root, model, dataset


@pytest.fixture(scope="module")
def stage(inputs, tmp_path_factory):
    """The stage run directly (truth scored with decoy matrices), and the report rendered."""
    _, model, dataset = inputs
    out = tmp_path_factory.mktemp("argminn_stage")
    save_dataset(out / "data.h5", dataset)
    stages = Stages(out, resume=True)
    # The hand-set tokens feed random attention and head weights, through which the output
    # depends on filter 0 at 7.5 % of filter 1 (ablation; it would be `minor`): this test is
    # about the counts, so the effect criterion is off (tests/test_argminn_orientation_effect.py).
    result = _read_first_run(stages, model, dataset)
    render_demo_report(out, dataset=dataset)
    return out, result, stages


def _truth_set(dataset):
    known = dataset.ground_truth.instances
    return {
        (int(r.sequence), int(r.start), int(r.end), "filter_" + r.motif[1])
        for r in known.itertuples()
    }


def test_filter_table_and_motifs(stage):
    out, result, _ = stage
    filters = pd.read_csv(out / "argminn/filters.csv")
    assert list(filters.columns) == [*FILTER_COLUMNS, *EXTRA_COLUMNS]
    pd.testing.assert_frame_equal(filters, result.filters, check_dtype=False)
    # Each filter fires exactly on the planted copies of its motif: 24 sites, the full 8-mer.
    assert filters["passing"].tolist() == [True, True]
    assert filters["n_sites"].tolist() == [N_POS, N_POS]
    assert filters["consensus"].tolist() == list(MOTIFS.values())
    assert filters["simulated_motif"].tolist() == ["m0", "m1"]
    assert (filters["length"] == WIDTH).all() and (filters["mean_ic"] > 1.9).all()
    np.testing.assert_allclose(filters["max_activation"], 0.5, atol=1e-6)
    stored = np.load(out / "argminn/filters.npz")
    expected = np.stack([_one_hot(v) for v in MOTIFS.values()]) - 0.25  # mean-centred
    np.testing.assert_allclose(stored["weights"], expected, atol=1e-6)
    assert stored["pfms"].shape == (2, 4, WIDTH)
    meme = read_meme(out / "argminn/motifs.meme")
    assert [m.name for m in meme] == ["filter_0", "filter_1"]
    assert [m.consensus for m in meme] == list(MOTIFS.values())
    assert pd.read_csv(out / "argminn/matches.csv").empty  # annotate=False
    # two filters for two motifs at changing places: two units of one filter each
    units = pd.read_csv(out / "argminn/units.csv", dtype={"filters": str})
    assert units["unit"].tolist() == ["unit_0", "unit_1"]
    assert units["filters"].tolist() == ["0", "1"]
    assert units["consensus"].tolist() == list(MOTIFS.values())
    assert [m.name for m in read_meme(out / "argminn/units.meme")] == ["unit_0", "unit_1"]
    assert pd.read_csv(out / "argminn/unit_matches.csv").empty


def test_instances_are_the_planted_copies(stage, inputs):
    out, result, _ = stage
    dataset = inputs[2]
    hits = pd.read_csv(out / "argminn/instances.csv")
    assert list(hits.columns) == list(INSTANCE_COLUMNS)
    called = {(int(r.example), int(r.start), int(r.end), r.pattern) for r in hits.itertuples()}
    assert called == _truth_set(dataset)
    # Head k of the one layer attends to filter k's instance, and only that head does.
    assert (hits["head"] == hits["filter"]).all() and (hits["layer"] == 0).all()
    assert (hits["attention"] > 0.99).all() and (hits["n_heads"] == 1).all()
    assert (hits["strand"] == "+").all()
    assert len(result.instances) == 2 * N_POS


def test_recovery_against_the_ground_truth(stage):
    out, result, _ = stage
    motifs = pd.read_csv(out / "argminn/motif_recovery.csv")
    pd.testing.assert_frame_equal(motifs, result.motif_recovery)
    assert motifs["recovered"].tolist() == [True, True]
    assert motifs["pattern"].tolist() == ["filter_0", "filter_1"]
    instances = pd.read_csv(out / "argminn/instance_recovery.csv").set_index("motif")
    assert instances.loc[["m0", "m1"], "precision"].tolist() == [1.0, 1.0]
    assert instances.loc[["m0", "m1"], "recall"].tolist() == [1.0, 1.0]
    assert instances.loc[["m0", "m1"], "n_true"].tolist() == [N_POS, N_POS]
    assert instances.loc["<unmatched>", "n_hits"] == 0
    readout = json.loads((out / "argminn/readout.json").read_text())
    assert readout["pattern_truth"] == {"filter_0": "m0", "filter_1": "m1"}
    assert readout["random_state"] == 5 and readout["cislens_version"]
    assert readout["readout"]["min_sites"] == 20 and readout["n_sequences"] == N_POS + N_NEG
    assert (readout["activation_threshold"], readout["null_quantile"]) == (0.5, 0.9)


def test_attention_maps(stage, inputs):
    out, _, _ = stage
    known = inputs[2].ground_truth.instances
    stored = np.load(out / "argminn/attention.npz")
    maps, rows = stored["attention"], stored["example_index"]
    assert maps.shape == (8, 2, 4, LENGTH - WIDTH + 1) and int(stored["filter_width"]) == WIDTH
    np.testing.assert_allclose(maps.sum(-1), 1.0, atol=1e-5)
    # The sequences with the most calls (two each: the positives, lowest rows first).
    np.testing.assert_array_equal(rows, np.arange(8))
    for i, row in enumerate(rows):
        for k, motif in enumerate(MOTIFS):
            start = int(
                known[(known["sequence"] == row) & (known["motif"] == motif)]["start"].iloc[0]
            )
            assert maps[i, 0, k].argmax() == start and maps[i, 0, k, start] > 0.99
        np.testing.assert_allclose(maps[i, 0, 2:], 1 / maps.shape[-1], atol=1e-6)


def test_resume_loads_and_changed_settings_recompute(stage, inputs):
    out, first, _ = stage
    _, model, dataset = inputs
    before = {f: (out / f).stat().st_mtime_ns for f in ARGMINN_FILES if (out / f).exists()}
    again = Stages(out, resume=True)
    result = _read_first_run(again, model, dataset)
    assert again.resumed == ["argminn"]
    assert before == {f: (out / f).stat().st_mtime_ns for f in before}
    pd.testing.assert_frame_equal(result.instances, first.instances, check_dtype=False)
    pd.testing.assert_frame_equal(
        result.instance_recovery, first.instance_recovery, check_dtype=False
    )
    # A stricter readout reruns the stage: no filter passes, so no MEME file, no calls.
    strict = Stages(out, resume=True)
    changed = argminn_stage(
        strict,
        {"random_state": 5},
        model,
        dataset,
        annotate=False,
        database=_decoys(),
        readout={"min_sites": 100, "min_effect": 0.0},
    )
    assert strict.resumed == [] and not changed.filters["passing"].any()
    assert not (out / "argminn/motifs.meme").exists() and changed.instances.empty
    assert pd.read_csv(out / "argminn/motif_recovery.csv")["recovered"].tolist() == [False] * 2
    with pytest.raises(ValueError, match="unknown setting"):
        argminn_stage(strict, {}, model, dataset, readout={"min_site": 3})
    # restore the first run for the tests that read the folder afterwards
    _read_first_run(Stages(out, resume=True), model, dataset)


def test_report_section(stage):
    out, _, _ = stage
    html = (out / "report.html").read_text()
    section = html[html.index('<section id="argminn">') :]
    section = section[: section.index("</section>")]
    assert "ARGMINN: motifs and syntax read from the model" in section
    # both filters pass: their rows are highlighted, with their simulated match
    rows = re.findall(r'<tr class="pass">(.*?)</tr>', section, flags=re.S)
    assert len(rows) == 2
    assert ">GATTCAGC<" in rows[0] and ">m0<" in rows[0]
    assert ">CCAGTTGA<" in rows[1] and ">m1<" in rows[1]
    # each filter's status and the reason for it are shown, not only in filters.csv
    for row, (_, filt) in zip(
        rows, pd.read_csv(out / "argminn/filters.csv").iterrows(), strict=True
    ):
        assert f">{filt['status']}<" in row and str(filt["reason"])[:20] in row
    assert "at least 20 activating" in section
    assert "&lt;unmatched&gt;" in section and "<unmatched>" not in section
    images = re.findall(r'src="([^"]*)"', section)
    assert len(images) == 2 and all(s.startswith("data:image/png;base64,") for s in images)
    assert "Attention of each layer" in section and "Filter weights" in section
    # the instance summary: 24 calls per filter, each by the head that watches it
    summary = load_argminn_report(out / "argminn").instance_summary
    assert summary[["pattern", "head", "n_calls"]].values.tolist() == [
        ["filter_0", 0, N_POS],
        ["filter_1", 1, N_POS],
    ]


def test_report_without_argminn(tmp_path):
    html = render_report(tmp_path / "r.html").read_text()
    for section in OPTIONAL_SECTIONS:
        assert f'<section id="{section}">' not in html
    assert load_argminn_report(tmp_path / "argminn") is None


def test_attention_plot_checks_its_input():
    with pytest.raises(ValueError, match="layers, heads, P"):
        plot_attention_maps(np.ones((2, 1, 4, 10)), filter_width=5)


def _config(root, model="model"):
    return {
        "data": {"hdf5": str(root / "data.h5")},
        "model": {"checkpoint": str(root / model)},
        "methods": ["saliency"],
        "n_examples": 2,
        "gia": False,
        "benchmark": False,
        "motifs": {"enabled": False, "annotate": False},
    }


def test_pipeline_runs_and_resumes_the_stage(inputs, tmp_path, monkeypatch):
    root, _, dataset = inputs
    # the effect criterion off, as in the `stage` fixture (the hand-set model needs filter 0
    # little); the pipeline's config has no readout settings, so the default is patched
    monkeypatch.setitem(READOUT_DEFAULTS, "min_effect", 0.0)
    result = run_pipeline(_config(root), out=tmp_path)
    assert "argminn" in result.timings and "argminn" not in result.skipped
    assert result.argminn.filters["passing"].tolist() == [True, True]
    assert result.argminn.motif_recovery is None  # benchmark: false
    called = {
        (int(r.example), int(r.start), int(r.end), r.pattern)
        for r in result.argminn.instances.itertuples()
    }
    assert called == _truth_set(dataset)  # the checkpoint round trip keeps the readout
    assert "ARGMINN readout: 2 of 2 filters pass" in result.summary()
    record = json.loads((tmp_path / "argminn.params.json").read_text())
    assert record["argminn"]["min_sites"] == 20 and record["random_state"] == 0
    assert '<section id="argminn">' in (tmp_path / "report.html").read_text()
    before = (tmp_path / "argminn/instances.csv").stat().st_mtime_ns
    again = run_pipeline(_config(root), out=tmp_path, resume=True)
    assert "argminn" in again.resumed
    assert (tmp_path / "argminn/instances.csv").stat().st_mtime_ns == before


def test_skipped_for_another_model(inputs, tmp_path, caplog):
    root, _, _ = inputs
    save_model(
        LabCNN(n_tasks=1, input_length=LENGTH, random_state=0), root / "labcnn", task_names=["t0"]
    )
    stale = tmp_path / "argminn"
    stale.mkdir()
    (stale / "filters.csv").write_text("filter\n0\n")
    (tmp_path / "argminn.params.json").write_text("{}")
    with caplog.at_level(logging.INFO, logger="cislens.pipeline.stages"):
        result = run_pipeline(_config(root, "labcnn"), out=tmp_path)
    assert "argminn: skipped (the model is a LabCNN, not an ARGMINN)" in caplog.text
    assert result.argminn is None and "argminn" not in result.skipped
    assert not stale.exists() and not (tmp_path / "argminn.params.json").exists()
    assert '<section id="argminn">' not in (tmp_path / "report.html").read_text()


def test_skip_keeps_unknown_files(tmp_path):
    (tmp_path / "argminn").mkdir()
    (tmp_path / "argminn" / "notes.txt").write_text("mine")
    (tmp_path / "argminn" / "instances.csv").write_text("example\n")
    skip_argminn_stage(Stages(tmp_path, resume=False), "not an ARGMINN")
    assert sorted(p.name for p in (tmp_path / "argminn").iterdir()) == ["notes.txt"]
