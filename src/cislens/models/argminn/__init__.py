"""The ARGMINN network and its training-time parts (regularisers and their schedule).

The network lives with the other architectures so that the model zoo does not depend on the
readout: :mod:`cislens.argminn` (motifs, instances and syntax read from a trained model)
imports from here, never the other way round.
"""

from cislens.models.argminn.config import ARGMINNConfig
from cislens.models.argminn.layers import guide_weight
from cislens.models.argminn.losses import (
    attention_entropy,
    column_mass,
    filter_l1,
    filter_overlap_penalty,
)
from cislens.models.argminn.network import ARGMINN, ARGMINNOutput, positional_encoding
from cislens.models.argminn.schedule import RegularizationSchedule, ramp_weight

__all__ = [
    "ARGMINN",
    "ARGMINNConfig",
    "ARGMINNOutput",
    "RegularizationSchedule",
    "attention_entropy",
    "column_mass",
    "filter_l1",
    "filter_overlap_penalty",
    "guide_weight",
    "positional_encoding",
    "ramp_weight",
]
