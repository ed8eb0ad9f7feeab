"""The readout says why each ARGMINN filter is or is not a motif (status, reason, site sharing)."""

from __future__ import annotations

import numpy as np
import torch
from testkit import zeroed_argminn

from cislens.argminn import ARGMINN, argminn_motifs
from cislens.argminn.readout import FILTER_COLUMNS, FILTER_STATUSES, site_sharing
from cislens.sequence import one_hot_encode

# filter -> (word it detects exactly, token column weight); None: no word
DESIGN = {
    0: ("GATAAG", 1.0),  # the motif
    1: ("GATAAG", 0.8),  # the same motif again, read a little less: redundant
    2: (None, 1.0),  # all-zero weights, negative bias: silent
    3: ("CACGTA", 0.05),  # a clean motif the tokens barely read: faded
    4: ("A", 1.0),  # one base: fires everywhere, no motif: unspecific
    5: ("TTGGTT", 1.0),  # planted in 3 sequences only: rare
}
N_FILTERS = len(DESIGN)


def status_model() -> ARGMINN:
    model = zeroed_argminn(N_FILTERS)
    with torch.no_grad():
        for k, (word, column) in DESIGN.items():
            if word is None:
                model.scanner.bias[k] = -1.0
            else:
                model.scanner.weight[k, :, : len(word)] = one_hot_encode([word])[0] * 2.0
                model.scanner.bias[k] = -2.0 * len(word) + 2.0  # 2.0 on an exact match only
            # strand tokens: channel k is the forward strand, N_FILTERS + k the reverse one
            model.tokenize.weight[:, [k, N_FILTERS + k]] = column
    return model.eval()


def planted(n: int = 80, length: int = 60) -> torch.Tensor:
    rng = np.random.default_rng(5)
    X = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (n, length))].transpose(0, 2, 1).copy()
    for i in range(n):
        word = "TTGGTT" if i < 3 else ("GATAAG" if i % 2 else "CACGTA")
        start = int(rng.integers(0, length - 6))
        X[i, :, start : start + 6] = one_hot_encode([word])[0].numpy()
    return torch.from_numpy(np.ascontiguousarray(X))


def test_every_filter_gets_a_status_and_a_reason_with_its_numbers():
    result = argminn_motifs(status_model(), planted(), annotate=False, min_sites=10)
    table = result.filters.set_index("filter")
    assert list(result.filters.columns) == list(FILTER_COLUMNS)
    assert table["status"].to_dict() == {
        0: "passing",
        1: "redundant",
        2: "silent",
        3: "faded",
        4: "unspecific",
        5: "rare",
    }
    assert set(table["status"]) <= set(FILTER_STATUSES)
    # redundant filters still pass (they are motifs, read twice); the others do not
    assert result.passing == [0, 1]
    assert table.loc[1, "shares_sites_with"] == 0 and table.loc[1, "shared_fraction"] == 1.0
    assert "filter_0" in table.loc[1, "reason"] and "100%" in table.loc[1, "reason"]
    assert str(table.loc[5, "n_sites"]) in table.loc[5, "reason"]
    assert "0.050" in table.loc[3, "reason"]  # its influence, relative to the strongest
    assert table.loc[2, "shares_sites_with"] == -1 and table.loc[2, "shared_fraction"] == 0.0
    assert "pruned" in table.loc[2, "reason"] and "pruned" not in table.loc[3, "reason"]
    assert table["reason"].str.len().min() > 10


def test_site_sharing_counts_cores_covered_by_another_filters_calls():
    model, X = status_model(), planted()
    cutoff = torch.full((N_FILTERS,), 1.0)
    spans = [(0, 6), (0, 6), (0, 0), (0, 6), (0, 1), (0, 6)]
    sharing = site_sharing(model, X, cutoff, spans, batch_size=7)
    assert sharing.shape == (N_FILTERS, N_FILTERS)
    np.testing.assert_array_equal(np.diag(sharing), 0.0)
    assert sharing[0, 1] == sharing[1, 0] == 1.0  # the same sites
    assert sharing[0, 3] == sharing[3, 0] == 0.0  # GATAAG and CACGTA never overlap here
    assert (sharing[2] == 0).all() and (sharing[:, 2] == 0).all()  # silent / empty span
    # the one-base filter fires on most windows; only those whose base lies in a GATAAG call
    assert 0.0 < sharing[4, 0] < 0.2
    np.testing.assert_allclose(site_sharing(model, X, cutoff, spans, batch_size=80), sharing)


def test_a_composite_filter_reports_its_two_parts():
    # one 13 bp filter reading GATAAG, a 1 bp spacer, then CACGTA: planted as that composite
    model = ARGMINN(n_tasks=1, n_filters=1, filter_width=13, random_state=0).eval()
    with torch.no_grad():
        model.scanner.weight.zero_()
        model.scanner.weight[0, :, :6] = one_hot_encode(["GATAAG"])[0] * 2.0
        model.scanner.weight[0, :, 7:] = one_hot_encode(["CACGTA"])[0] * 2.0
        model.scanner.bias[0] = -22.0  # 2.0 on the exact composite only
    X = planted()
    rng = np.random.default_rng(1)
    for i in range(X.shape[0]):
        start = int(rng.integers(0, X.shape[2] - 13))
        X[i, :, start : start + 6] = one_hot_encode(["GATAAG"])[0]
        X[i, :, start + 7 : start + 13] = one_hot_encode(["CACGTA"])[0]
    row = argminn_motifs(model, X, annotate=False).filters.iloc[0]
    assert row["status"] == "passing" and row["parts"] == "0-6;7-13"
    single = argminn_motifs(status_model(), planted(), annotate=False, min_sites=10).filters
    assert single.set_index("filter")["parts"].to_dict() == {
        0: "0-6",
        1: "0-6",
        2: "",
        3: "",
        4: "",
        5: "",
    }
