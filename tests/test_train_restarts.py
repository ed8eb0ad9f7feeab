"""``fit_restarts``: seeds race for a few epochs, the best trains in full."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cislens.models import DeepBind
from cislens.train import RESTART_COLUMNS, fit, fit_restarts, restart_seeds


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (160, 30))].transpose(0, 2, 1)
    X = np.ascontiguousarray(X)
    Y = (X[:, 0].sum(1, keepdims=True) > 7).astype(np.float32)
    return X[:120], Y[:120], X[120:], Y[120:]


def build(seed):
    return DeepBind(n_tasks=1, filter_width=4, n_filters=4, n_hidden=8, random_state=seed)


OPTIONS = {"batch_size": 16, "lr": 1e-2, "patience": None}


def _same_weights(a, b):
    return all(
        torch.equal(x, y)
        for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True)
    )


def test_one_restart_is_exactly_fit(data):
    model, history, table = fit_restarts(
        build, data, restarts=1, epochs=3, random_state=5, **OPTIONS
    )
    plain = build(5)
    plain_history = fit(plain, data, epochs=3, random_state=5, **OPTIONS)
    assert _same_weights(model, plain)
    assert history.valid_loss == plain_history.valid_loss
    assert table["seed"].tolist() == [5] and table["chosen"].tolist() == [True]


def test_the_best_restart_is_trained_and_repeats_its_race(data):
    model, history, table = fit_restarts(
        build, data, restarts=3, selection_epochs=2, epochs=4, random_state=1, **OPTIONS
    )
    assert list(table.columns) == list(RESTART_COLUMNS)
    assert table["seed"].tolist() == restart_seeds(1, 3)
    assert table["chosen"].sum() == 1
    chosen = table[table["chosen"]].iloc[0]
    assert chosen["valid_loss"] == table["valid_loss"].min()
    # The full run repeats the chosen seed's first epochs exactly (deterministic on the CPU).
    assert history.valid_loss[1] == pytest.approx(chosen["valid_loss"], rel=0, abs=0)
    assert history.n_epochs == 4 and history.params["selection_epochs"] == 2
    assert [row["seed"] for row in history.params["restarts"]] == table["seed"].tolist()
    again = build(int(chosen["seed"]))
    fit(again, data, epochs=4, random_state=int(chosen["seed"]), **OPTIONS)
    assert _same_weights(model, again)


def test_a_maximised_monitor_picks_the_largest(data):
    _, _, table = fit_restarts(
        build,
        data,
        restarts=3,
        selection_epochs=1,
        epochs=2,
        random_state=2,
        monitor="valid_auroc",
        **OPTIONS,
    )
    assert table.loc[table["chosen"], "valid_auroc"].iloc[0] == table["valid_auroc"].max()


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"restarts": 0}, "restarts must be an int >= 1"),
        (
            {"restarts": 2, "selection_epochs": 3, "epochs": 3},
            "selection_epochs (3) must be smaller",
        ),
        ({"selection_epochs": 1.5}, "selection_epochs must be an int"),
        ({"monitor": "auroc"}, "monitor must be one of"),
    ],
)
def test_bad_arguments_are_named(data, kwargs, fragment):
    options = {"epochs": 3, **kwargs}
    with pytest.raises(ValueError) as caught:
        fit_restarts(build, data, random_state=0, **options)
    assert fragment in str(caught.value)


def test_restart_seeds_start_with_the_given_seed():
    seeds = restart_seeds(11, 4)
    assert seeds[0] == 11 and len(set(seeds)) == 4
    assert restart_seeds(11, 2) == seeds[:2]


def test_learning_rates_race_with_every_seed(data):
    options = {key: value for key, value in OPTIONS.items() if key != "lr"}
    model, history, table = fit_restarts(
        build,
        data,
        restarts=2,
        selection_epochs=2,
        epochs=3,
        lr_candidates=[3e-2, 1e-4],
        random_state=4,
        **options,
    )
    # every candidate runs with every seed, candidate-major
    assert table["lr"].tolist() == [3e-2, 3e-2, 1e-4, 1e-4]
    assert table["seed"].tolist() == restart_seeds(4, 2) * 2
    chosen = table[table["chosen"]].iloc[0]
    assert chosen["valid_loss"] == table["valid_loss"].min()
    # the chosen rate trains the full run and is recorded in the history
    assert history.params["lr"] == chosen["lr"]
    assert history.params["lr_candidates"] == [3e-2, 1e-4]
    assert [row["lr"] for row in history.params["restarts"]] == table["lr"].tolist()
    assert history.valid_loss[1] == chosen["valid_loss"]
    again = build(int(chosen["seed"]))
    fit(again, data, epochs=3, random_state=int(chosen["seed"]), lr=chosen["lr"], **options)
    assert _same_weights(model, again)


def test_one_learning_rate_candidate_is_exactly_fit_at_that_rate(data):
    options = {key: value for key, value in OPTIONS.items() if key != "lr"}
    model, history, table = fit_restarts(
        build, data, epochs=2, lr_candidates=[5e-3], random_state=3, **options
    )
    plain = build(3)
    fit(plain, data, epochs=2, random_state=3, lr=5e-3, **options)
    assert _same_weights(model, plain)
    assert history.params["lr"] == 5e-3 and table["lr"].tolist() == [5e-3]
    assert history.params["selection_epochs"] is None  # no race ran


@pytest.mark.parametrize("candidates", [[], [0.0], [1e-3, -1e-3], "0.001", [True]])
def test_bad_learning_rate_candidates_are_named(data, candidates):
    with pytest.raises(ValueError, match="lr_candidates must be None or a non-empty list"):
        fit_restarts(build, data, epochs=3, lr_candidates=candidates, random_state=0)


def test_a_given_lr_and_candidates_together_are_refused(data):
    with pytest.raises(ValueError, match="got both lr"):
        fit_restarts(build, data, epochs=5, lr=1e-3, lr_candidates=[1e-2, 1e-3], random_state=0)


def test_a_race_with_epochs_from_the_data(data):
    # epochs None (cislens run's default) is fit's epochs_for, at least MIN_EPOCHS
    _, history, table = fit_restarts(
        build,
        data,
        restarts=2,
        selection_epochs=1,
        epochs=None,
        random_state=0,
        max_batches=1,
        **OPTIONS,
    )
    assert len(table) == 2 and history.n_epochs >= 20
