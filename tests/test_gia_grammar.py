"""cislens.gia.grammar: every orientation x gap of a pair, the best arrangement, the test."""

import numpy as np
import pandas as pd
import pytest
import torch
from grammar_models import AdditiveModel, CompositeModel

from cislens.gia import ORIENTATIONS, grammar, no_preference_test, null_backgrounds, spacing
from cislens.gia.grammar import BEST_COLUMNS


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny models run much faster on one thread when the CPU is shared (no spin-waiting)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def backgrounds():
    return null_backgrounds("random", n=60, length=120, random_state=0)


def test_composite_model_best_is_the_planted_arrangement(backgrounds):
    result = grammar(CompositeModel(gap=1).eval(), backgrounds, "SOX2", "POU5F1", random_state=0)
    assert len(result.table) == 4 * 21
    assert list(result.best.columns) == list(BEST_COLUMNS)
    best = result.best.iloc[0]
    assert (best["spacing"], best["orientation"]) == (1, "++")
    assert not best["no_preference"] and best["p_value"] < 0.01
    assert best["ci_low"] <= best["estimate"] <= best["ci_high"] and best["ci_low"] > 0
    assert best["margin_ci_low"] > 0  # clearly ahead of the runner-up
    heat = result.heatmap()
    assert list(heat.index) == list(ORIENTATIONS) and list(heat.columns) == list(range(21))
    assert heat.to_numpy().argmax() == 1  # row "++", column gap 1


def test_reverse_order_finds_the_reverse_complement_arrangement(backgrounds):
    # b upstream of a on strands (s_b, s_a) is the reverse complement of a (-s_a) then b (-s_b):
    # the model scans both strands, so POU5F1 then SOX2 wins on "--" at the same gap.
    result = grammar(
        CompositeModel(gap=3).eval(),
        backgrounds,
        "POU5F1",
        "SOX2",
        gaps=range(0, 8),
        random_state=0,
    )
    best = result.best.iloc[0]
    assert (best["spacing"], best["orientation"]) == (3, "--")


def test_additive_model_has_no_preference(backgrounds):
    result = grammar(AdditiveModel().eval(), backgrounds, "SOX2", "POU5F1", random_state=0)
    best = result.best.iloc[0]
    assert best["no_preference"] and best["p_value"] >= 0.05
    # the joint effect is the sum of the parts wherever no window mixes the two motifs
    assert np.abs(result.table["interaction"]).max() < 0.1
    joint = grammar(
        AdditiveModel().eval(),
        backgrounds,
        "SOX2",
        "POU5F1",
        value="effect",
        gaps=range(3, 21),
        random_state=0,
    )
    assert bool(joint.best["no_preference"].iloc[0])


def test_table_matches_the_spacing_experiment(backgrounds):
    model = CompositeModel(gap=2).eval()
    result = grammar(
        model,
        backgrounds,
        "SOX2",
        "POU5F1",
        gaps=[0, 2, 5],
        orientations=["++", "-+"],
        random_state=1,
    )
    table = spacing(
        model, backgrounds, "SOX2", "POU5F1", [0, 2, 5], orientations=["++", "-+"], random_state=1
    )
    shared = list(table.columns)
    pd.testing.assert_frame_equal(result.table[shared].reset_index(drop=True), table)
    assert set(result.table["a"]) == {"SOX2"} and set(result.table["b"]) == {"POU5F1"}


def test_several_targets_get_one_best_row_each(backgrounds):
    class Two(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.one, self.two = CompositeModel(gap=1), CompositeModel(gap=4)

        def forward(self, x):
            return torch.cat([self.one(x), self.two(x)], dim=1)

    result = grammar(Two().eval(), backgrounds, "SOX2", "POU5F1", gaps=range(6), random_state=0)
    assert result.best["target"].tolist() == [0, 1]
    assert result.best["spacing"].tolist() == [1, 4]
    assert result.heatmap(1).shape == (4, 6)
    with pytest.raises(ValueError, match="target 7 is not in the table"):
        result.heatmap(7)


def test_no_preference_test_holds_its_level_and_has_power():
    rng = np.random.default_rng(0)
    # 84 arrangements with unequal spreads and correlated rows, all with mean 0: rejections
    # at 0.05 must stay near 5 % (the max over arrangements is corrected for)
    rejections = 0
    for trial in range(60):
        shared = rng.normal(size=(80, 1))
        values = shared + rng.normal(size=(80, 84)) * np.linspace(0.5, 2.0, 84)
        rejections += no_preference_test(values, n_bootstrap=400, random_state=trial)[1] < 0.05
    assert rejections <= 8  # 3 expected; P(>8 | 5 %) < 0.01
    values = rng.normal(size=(80, 84))
    values[:, 10] += 1.0
    assert no_preference_test(values, n_bootstrap=400, random_state=0)[1] < 0.01
    assert no_preference_test(np.ones((20, 5)), random_state=0) == (0.0, 1.0)


def test_refusals(backgrounds):
    model = CompositeModel().eval()
    with pytest.raises(ValueError, match="value must be one of"):
        grammar(model, backgrounds, "SOX2", "POU5F1", value="joint")
    with pytest.raises(ValueError, match="alpha must be a float in"):
        grammar(model, backgrounds, "SOX2", "POU5F1", alpha=5)
    with pytest.raises(ValueError, match="orientations must be strand pairs"):
        grammar(model, backgrounds, "SOX2", "POU5F1", orientations=["+"])
    with pytest.raises(ValueError, match="off the end of 120 bp backgrounds"):
        grammar(model, backgrounds, "SOX2", "POU5F1", gaps=[200])


def test_report_caption_says_when_no_arrangement_differs(backgrounds, tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from cislens.report.grammar import best_caption, grammar_figures

    result = grammar(
        AdditiveModel().eval(), backgrounds, "SOX2", "POU5F1", gaps=range(4), random_state=0
    )
    label = {"pair": "SOX2 x POU5F1"}
    result.table.assign(**label).to_csv(tmp_path / "gia_grammar.csv", index=False)
    result.best.assign(**label).to_csv(tmp_path / "gia_grammar_best.csv", index=False)
    figures = grammar_figures(tmp_path)
    assert len(figures) == 1
    caption = figures[0][0]
    assert caption == best_caption(result.best.assign(**label).iloc[0])
    assert "no arrangement differs from the others" in caption and "over 16 arrangements" in caption


def test_rounding_noise_is_not_a_preference(backgrounds):
    # A linear model's interaction is 0 up to float32 rounding (~1e-8 here); the test would
    # resolve that noise without the rounding tolerance and reject at random.
    for seed in range(6):
        torch.manual_seed(seed)
        model = torch.nn.Sequential(
            torch.nn.Conv1d(4, 3, 5), torch.nn.Flatten(), torch.nn.Linear(3 * 116, 1)
        ).eval()
        result = grammar(model, backgrounds, "SOX2", "POU5F1", gaps=range(5), random_state=seed)
        assert np.abs(result.table["interaction"]).max() < 1e-5
        assert result.best["p_value"].iloc[0] == 1.0 and result.best["no_preference"].iloc[0]
