"""GIA experiments on a hand-built model with a known rule.

``PairModel`` has two outputs:

0. 1 when motif A is followed by motif B with a gap of exactly ``GAP`` bp, both on the + strand
   (max over positions of the product of two exact-match tracks), else 0;
1. the number of exact matches of A (+ strand).

Exact-match tracks come from convolutions whose weights are the motifs' one-hot matrices with
bias -(W - 1): ReLU(score - (W - 1)) is 1 at an exact match and 0 elsewhere.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from cislens.gia import (
    GIAResult,
    count_effect,
    embed,
    flank_effect,
    interaction,
    marginalize,
    null_backgrounds,
    occlude,
    occlusion_summary,
    position_effect,
    spacing,
)
from cislens.sequence import decode, one_hot_encode

A = "TGACTCA"
B = "GGAATGT"
IRRELEVANT = "CCCGCGG"
GAP = 12
LENGTH = 120


class PairModel(nn.Module):
    def __init__(self, a: str = A, b: str = B, gap: int = GAP):
        super().__init__()
        self.match_a = nn.Conv1d(4, 1, len(a))
        self.match_b = nn.Conv1d(4, 1, len(b))
        with torch.no_grad():
            self.match_a.weight.copy_(one_hot_encode([a]))
            self.match_a.bias.fill_(-(len(a) - 1))
            self.match_b.weight.copy_(one_hot_encode([b]))
            self.match_b.bias.fill_(-(len(b) - 1))
        self.relu_a, self.relu_b = nn.ReLU(), nn.ReLU()
        self.shift = len(a) + gap

    def forward(self, x):
        ma = self.relu_a(self.match_a(x))[:, 0]  # (N, L - Wa + 1): A starts
        mb = self.relu_b(self.match_b(x))[:, 0]
        n = min(ma.shape[1] - self.shift, mb.shape[1] - self.shift)
        pair = (ma[:, :n] * mb[:, self.shift : self.shift + n]).amax(dim=1)
        return torch.stack([pair, ma.sum(dim=1)], dim=1)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny models run ~50x faster on one thread when the CPU is shared (no spin-waiting)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def model():
    return PairModel().eval()


@pytest.fixture(scope="module")
def backgrounds():
    return null_backgrounds("random", n=60, length=LENGTH, random_state=1)


def test_model_implements_the_rule(model):
    left = "A" * 30 + A + "C" * GAP + B
    X = one_hot_encode(
        [
            left + "A" * (LENGTH - len(left)),
            left.replace("C" * GAP, "C" * 11) + "A" * (LENGTH - len(left) + 1),
        ]
    )
    assert model(X).tolist() == [[1.0, 1.0], [0.0, 1.0]]


def test_spacing_peaks_at_the_rule(model, backgrounds):
    table = spacing(model, backgrounds, A, B, range(0, 25), target=0, random_state=0)
    assert list(table["spacing"]) == list(range(25))
    peak = table.loc[table["effect"].idxmax()]
    assert peak["spacing"] == GAP
    assert peak["effect"] == pytest.approx(1.0)
    others = table[table["spacing"] != GAP]
    assert peak["ci_low"] > others["ci_high"].max()
    assert peak["p_adj"] < 1e-6
    # the interaction is the whole effect at the rule's gap and ~0 elsewhere
    assert peak["interaction"] == pytest.approx(1.0)
    assert peak["interaction_ci_low"] > 0.9
    assert others["interaction"].abs().max() < 0.05
    assert (table["start_b"] - table["start_a"] - len(A) == table["spacing"]).all()


def test_spacing_orientations(model, backgrounds):
    table = spacing(
        model,
        backgrounds,
        A,
        B,
        [GAP],
        orientations=["++", "+-", "-+", "--"],
        target=0,
        random_state=0,
    )
    effects = dict(zip(table["orientation"], table["effect"], strict=True))
    assert effects["++"] == pytest.approx(1.0)
    assert max(effects["+-"], effects["-+"], effects["--"]) < 0.05


def test_interaction_at_and_off_the_rule(model, backgrounds):
    result = interaction(model, backgrounds, A, B, GAP, target=0, random_state=0)
    assert isinstance(result, GIAResult)
    assert result.effect[0] == pytest.approx(1.0)
    assert result.ci_low[0] > 0.9
    assert result.p_value[0] < 1e-6
    off = interaction(model, backgrounds, A, B, 5, target=0, random_state=0)
    assert abs(off.effect[0]) < 0.05
    assert off.ci_low[0] <= 0.0 <= off.ci_high[0]


def test_marginalize_relevant_and_irrelevant(model, backgrounds):
    irrelevant = marginalize(model, backgrounds, IRRELEVANT, random_state=0)
    assert irrelevant.outputs == [0, 1]  # target=None reports every output
    assert (irrelevant.ci_low <= 0).all() and (irrelevant.ci_high >= 0).all()
    relevant = marginalize(model, backgrounds, A, target=1, random_state=0)
    assert relevant.effect[0] == pytest.approx(1.0, abs=0.05)
    assert relevant.ci_low[0] > 0.9
    assert relevant.null_mean[0] == pytest.approx(model(backgrounds)[:, 1].mean().item(), abs=1e-6)
    assert relevant.differences.shape == (60, 1)
    frame = relevant.to_frame()
    assert list(frame.columns[:3]) == ["target", "effect", "ci_low"]


def test_marginalize_reverse_strand_is_not_a(model, backgrounds):
    result = marginalize(model, backgrounds, A, strand="-", target=1, random_state=0)
    assert abs(result.effect[0]) < 0.05


def test_position_and_count_effects(model, backgrounds):
    table = position_effect(model, backgrounds, A, positions=[0, 50, 113], target=1, random_state=0)
    assert table["effect"].to_numpy() == pytest.approx([1.0, 1.0, 1.0], abs=0.05)
    counts = count_effect(model, backgrounds, A, max_count=3, target=1, random_state=0)
    assert counts["count"].tolist() == [1, 2, 3]
    assert counts["effect"].to_numpy() == pytest.approx([1.0, 2.0, 3.0], abs=0.1)
    assert (counts["p_adj"] >= counts["p_value"] * (1 - 1e-9)).all()


def test_flank_effect_breaks_and_completes_the_rule(model, backgrounds):
    # a flank that completes B after A at the rule's gap makes A worth a pair
    flank = ("", "C" * GAP + B)
    table = flank_effect(model, backgrounds, A, ["", flank], target=0, random_state=0)
    assert table["flank"].tolist() == ["none", "|" + "C" * GAP + B]
    assert table["effect"].to_numpy() == pytest.approx([0.0, 1.0], abs=0.05)


def test_batch_size_independence(model, backgrounds):
    kwargs = dict(target=0, random_state=3)
    tables = [
        spacing(model, backgrounds[:20], A, B, [10, 12], batch_size=b, **kwargs)
        for b in (1, 7, 256)
    ]
    for other in tables[1:]:
        pd.testing.assert_frame_equal(tables[0], other)
    results = [
        marginalize(model, backgrounds, "JUND", sample=True, batch_size=b, target=1, random_state=3)
        for b in (5, 64)
    ]
    np.testing.assert_array_equal(results[0].differences, results[1].differences)
    np.testing.assert_array_equal(results[0].ci_low, results[1].ci_low)


def test_random_state_determinism(model, backgrounds):
    first = marginalize(model, backgrounds, "JUND", sample=True, random_state=5)
    again = marginalize(model, backgrounds, "JUND", sample=True, random_state=5)
    np.testing.assert_array_equal(first.differences, again.differences)
    np.testing.assert_array_equal(first.ci_high, again.ci_high)
    bg1 = null_backgrounds("profile", backgrounds, n=10, random_state=2)
    assert torch.equal(bg1, null_backgrounds("profile", backgrounds, n=10, random_state=2))
    X1 = embed(backgrounds[:5], "JUND", sample=True, random_state=1)
    X2 = embed(backgrounds[:5], "JUND", sample=True, random_state=2)
    assert torch.equal(X1, embed(backgrounds[:5], "JUND", sample=True, random_state=1))
    assert not torch.equal(X1, X2)


def test_attribution_func(model, backgrounds):
    result = marginalize(
        model, backgrounds[:20], A, func="saliency", target=1, func_kwargs={}, random_state=0
    )
    assert result.outputs is None
    assert result.effect.shape == (4, LENGTH)
    assert result.differences.shape == (20, 4, LENGTH)
    assert result.ci_low.shape == (4, LENGTH)
    # the saliency of the A filter is its weight at each match: embedding one match at the
    # centre adds exactly the one-hot of A there
    start = LENGTH // 2 - len(A) // 2
    window = result.effect[:, start : start + len(A)]
    assert window == pytest.approx(one_hot_encode([A])[0].numpy(), abs=0.2)
    frame = result.to_frame()
    assert len(frame) == 4 * LENGTH and {"base", "position"} <= set(frame.columns)
    table = spacing(model, backgrounds[:10], A, B, [GAP], func="saliency", target=0, random_state=0)
    assert table["target"].tolist() == ["attribution_sum"]


def test_occlude_instances(model):
    left = "A" * 30 + A + "C" * GAP + B
    X = one_hot_encode([left + "A" * (LENGTH - len(left)), "C" * LENGTH])
    instances = pd.DataFrame(
        {
            "sequence": [0, 0, 1],
            "start": [30, 30 + len(A) + GAP, 5],
            "end": [30 + len(A), 30 + len(A) + GAP + len(B), 12],
            "motif": ["A", "B", "none"],
        }
    )
    table = occlude(model, X, instances, target=0, n_occlusions=10, random_state=0)
    assert table["effect"].to_numpy() == pytest.approx([1.0, 1.0, 0.0])
    again = occlude(model, X, instances, target=0, n_occlusions=10, random_state=0, batch_size=3)
    pd.testing.assert_frame_equal(table, again)
    shuffled = occlude(
        model,
        X,
        instances,
        method="dinucleotide_shuffle",
        target=[0, 1],
        n_occlusions=5,
        random_state=0,
    )
    assert len(shuffled) == 6 and set(shuffled["target"]) == {0, 1}
    summary = occlusion_summary(table, random_state=0)
    assert summary["motif"].tolist() == ["A", "B", "none"]


def test_embed_strings_strands_and_n():
    X = one_hot_encode(["A" * 10, "C" * 10])
    out = embed(X, "GGNT", position=3)
    assert decode(out) == ["AAAGGATAAA", "CCCGGCTCCC"]
    assert decode(embed(X, "GGT", strand="-", position=0)) == ["ACCAAAAAAA", "ACCCCCCCCC"]
    assert isinstance(embed(X, "GG"), torch.Tensor)
    assert isinstance(embed(X.numpy(), "GG"), np.ndarray)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda m, bg: marginalize(m, bg[:, :, :5], A), "longer than the backgrounds"),
        (lambda m, bg: marginalize(m, bg, A, position=LENGTH - 3), "position must be in"),
        (lambda m, bg: marginalize(m, bg, A, position=-1), "position must be in"),
        (lambda m, bg: marginalize(m, bg, "NOSUCHMOTIF1"), "could not be resolved"),
        (lambda m, bg: spacing(m, bg, A, B, [-2]), "overlap at spacing -2"),
        (lambda m, bg: spacing(m, bg, A, B, [200]), "off the end"),
        (lambda m, bg: spacing(m, bg, A, B, [1], orientations=["+"]), "orientations must"),
        (lambda m, bg: count_effect(m, bg, A, max_count=3, positions=[0, 3, 50]), "overlap"),
        (lambda m, bg: marginalize(m, bg, A, target=2), "target must be an int in"),
        (lambda m, bg: marginalize(m, bg, A, func="saliency"), "target must be given"),
        (lambda m, bg: marginalize(m, bg, "ACGT", sample=True), "needs a PWM"),
        (lambda m, bg: embed(bg, "A" * 200), "longer than the backgrounds"),
        (lambda m, bg: null_backgrounds("gc", n=3, length=5), "kind must be one of"),
        (lambda m, bg: null_backgrounds("profile", n=3), "pass X"),
        (lambda m, bg: null_backgrounds("negatives", bg, n=3), "needs model="),
    ],
)
def test_clear_errors(model, backgrounds, call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call(model, backgrounds[:8])


# --------------------------------------------------------------------------------------------
# output= and input_layout=: a model that returns (profile, counts), and one that takes (N, L, 4)


@pytest.fixture(scope="module")
def two_heads(tmp_path_factory):
    from testkit import two_heads_files

    from cislens.models import load_user_model

    spec, weights, model = two_heads_files(tmp_path_factory.mktemp("gia_heads"))
    return model, load_user_model(spec, weights, nlc=True)


def _same(ours, theirs):
    for column in ("effect", "ci_low", "ci_high", "p_value", "null_mean"):
        np.testing.assert_allclose(ours[column], theirs[column], rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("head", ["counts", "profile"])
def test_output_head_equals_a_hand_written_wrapper(two_heads, head):
    from testkit import HandWritten

    model, _ = two_heads
    bg = null_backgrounds("random", n=16, length=40, random_state=0)
    ours = marginalize(model, bg, A, output=head, random_state=0)
    theirs = marginalize(HandWritten(model, head), bg, A, random_state=0)
    np.testing.assert_allclose(ours.differences, theirs.differences, rtol=1e-6, atol=1e-7)
    _same(ours.to_frame(), theirs.to_frame())
    # Two patterns, an attribution func, and the pair form of output= on the same model
    pair = (0, "profile") if head == "profile" else 1
    ours = spacing(
        model, bg[:6], "GGG", "TTT", [0, 3], func="saliency", output=pair, random_state=0
    )
    theirs = spacing(
        HandWritten(model, head), bg[:6], "GGG", "TTT", [0, 3], func="saliency", random_state=0
    )
    _same(ours, theirs)
    sites = pd.DataFrame({"sequence": [0, 1], "start": [3, 10], "end": [9, 14]})
    ours = occlude(model, bg[:2], sites, n_occlusions=3, output=head, random_state=0)
    theirs = occlude(HandWritten(model, head), bg[:2], sites, n_occlusions=3, random_state=0)
    pd.testing.assert_frame_equal(ours, theirs)


def test_input_layout_nlc_equals_the_same_model_in_ncl(two_heads):
    from testkit import HandWritten

    model, length_first = two_heads
    X = null_backgrounds("random", n=40, length=40, random_state=2)
    bg = null_backgrounds(
        "negatives", X, n=8, model=length_first, output="counts", input_layout="NLC", random_state=0
    )
    expected = null_backgrounds(
        "negatives", X, n=8, model=HandWritten(model, "counts"), random_state=0
    )
    assert torch.equal(bg, expected)
    ours = position_effect(
        length_first,
        bg,
        "GGAT",
        positions=[0, 20],
        output="profile",
        input_layout="NLC",
        random_state=0,
    )
    theirs = position_effect(
        HandWritten(length_first, "profile", nlc=True),
        bg,
        "GGAT",
        positions=[0, 20],
        random_state=0,
    )
    _same(ours, theirs)


def test_output_errors_name_the_option(two_heads):
    model, length_first = two_heads
    bg = null_backgrounds("random", n=4, length=40, random_state=0)
    with pytest.raises(ValueError, match=r"returns tuple \(tensor .*choose .* output="):
        marginalize(model, bg, A)
    with pytest.raises(ValueError, match=r"output=7 does not name .*available: indices 0\.\.1"):
        marginalize(model, bg, A, output=7)
    with pytest.raises(ValueError, match=r"input_layout='NLC'"):
        marginalize(length_first, bg, A, output="counts")
    with pytest.raises(ValueError, match=r"func_kwargs must not set 'output'"):
        marginalize(model, bg, A, func="saliency", func_kwargs={"output": "counts"})
