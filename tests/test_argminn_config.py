"""ARGMINN's hyperparameters are checked in one dataclass, and the model keeps what it says."""

from __future__ import annotations

import pytest

from cislens.argminn import ARGMINN
from cislens.models.argminn import ARGMINNConfig


def test_the_model_stores_the_configs_hparams_and_schedule():
    config = ARGMINNConfig(n_tasks=3, n_filters=5, warmup_epochs=6, ramp_epochs=2)
    model = ARGMINN(3, n_filters=5, warmup_epochs=6, ramp_epochs=2, random_state=0)
    assert model.hparams == config.hparams()
    assert model.schedule == config.schedule()
    assert config.guide_epochs == 3  # half the warm-up
    assert config.n_token_channels == 10  # strand tokens: two per filter
    assert ARGMINNConfig(n_tasks=1, strand_tokens=False).n_token_channels == 8
    assert model.scanner.weight.shape == (5, 4, 15)
    assert model.regularization_settled_epoch == 8


def test_from_arguments_takes_the_fields_and_ignores_the_rest():
    arguments = {**ARGMINNConfig(n_tasks=2).hparams(), "self": object(), "random_state": 4}
    assert ARGMINNConfig.from_arguments(arguments) == ARGMINNConfig(n_tasks=2)
    with pytest.raises(KeyError):
        ARGMINNConfig.from_arguments({"n_tasks": 2})


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"n_filters": 0}, "n_filters must be a positive int"),
        ({"token_dim": 30, "n_heads": 4}, "divisible by n_heads"),
        ({"position_dim": 5}, "position_dim must be even"),
        ({"guide_epochs": 13}, "guide_epochs must be an int in \\[0, warmup_epochs=12\\]"),
        ({"strand_tokens": 1}, "strand_tokens must be True or False"),
        ({"overlap_weight": -1.0}, "overlap_weight must be a float >= 0"),
        ({"input_length": 10}, "input_length=10 is shorter than filter_width=15"),
    ],
)
def test_bad_hyperparameters_are_refused_with_the_name(overrides, message):
    with pytest.raises(ValueError, match=message):
        ARGMINNConfig(n_tasks=1, **overrides)
    with pytest.raises(ValueError, match=message):
        ARGMINN(1, **overrides)
