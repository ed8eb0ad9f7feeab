"""ARGMINN: a mechanistically interpretable architecture whose weights are the motifs.

ARGMINN (Tseng, Eraslan, Biancalani, Scalia 2024, arXiv:2410.06211) is a motif scanner (one
convolution, one filter per motif) followed by a memory stream that attends over the scanner's
activations. Motifs, their instances and the syntax are read from one forward pass instead of
from post-hoc importance scores. A clean-room implementation from ``docs/algorithms.md``
section 7; the reference code was not read.

- :class:`ARGMINN`: the model (registered as ``"argminn"``: ``build_model``, ``save_model`` /
  ``load_model``, ``cislens train --model argminn`` work as for the other architectures);
- :func:`filter_overlap_penalty`, :func:`filter_l1`, :func:`attention_entropy`,
  :class:`RegularizationSchedule`: the regularisers and their per-epoch weights
  (:func:`cislens.train.fit` adds ``model.regularization_loss(epoch)`` to the task loss);
- :func:`argminn_motifs`, :func:`argminn_instances`, :func:`argminn_syntax`: the readout
  (passing filters that read one unit at a fixed arrangement are grouped by
  :mod:`cislens.argminn.units` into ``ArgminnMotifs.units``);
- :func:`prune_redundant`: after training, remove the filters the readout calls ``redundant``
  and fine-tune without them (``cislens train`` / ``cislens run`` do it when the model's
  ``prune_redundant`` is True, the default).
"""

from cislens.argminn.instances import argminn_instances, argminn_syntax
from cislens.argminn.prune import PruneResult, prune_after_training, prune_redundant
from cislens.argminn.readout import ArgminnMotifs, argminn_motifs
from cislens.models.argminn import (
    ARGMINN,
    ARGMINNOutput,
    RegularizationSchedule,
    attention_entropy,
    column_mass,
    filter_l1,
    filter_overlap_penalty,
    positional_encoding,
    ramp_weight,
)

__all__ = [
    "ARGMINN",
    "ARGMINNOutput",
    "ArgminnMotifs",
    "PruneResult",
    "RegularizationSchedule",
    "argminn_instances",
    "argminn_motifs",
    "argminn_syntax",
    "attention_entropy",
    "column_mass",
    "filter_l1",
    "filter_overlap_penalty",
    "positional_encoding",
    "prune_after_training",
    "prune_redundant",
    "ramp_weight",
]
