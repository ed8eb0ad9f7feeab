"""Simulated DNA datasets with complete ground truth: motifs, backgrounds, grammar, presets.

Start with :func:`simulate` (a preset name or a config) and :func:`list_presets`; the config
schema is in ``docs/simulation.md``. :func:`labels_from_instances` recomputes the labels of a
dataset from its recorded instances and rules.
"""

from cislens.simulate.backgrounds import (
    HUMAN_DINUCLEOTIDE_FREQUENCIES,
    MarkovModel,
    fit_markov,
    human_markov,
    sample_background,
)
from cislens.simulate.config import (
    SimulationConfig,
    config_from_dict,
    load_config,
)
from cislens.simulate.distributions import CountSpec, PositionSpec, SpacingSpec
from cislens.simulate.grammar import (
    AllRule,
    AnyRule,
    AtLeastRule,
    MotifRule,
    NotRule,
    PairRule,
    parse_rule,
)
from cislens.simulate.labels import RuleLabels, labels_from_instances
from cislens.simulate.matching import (
    MatchModel,
    build_match_model,
    score_distribution,
    threshold_for_p_value,
)
from cislens.simulate.presets import list_presets, load_preset, preset_names, preset_path
from cislens.simulate.resolve import as_config
from cislens.simulate.simulator import load_simulation_motifs, simulate
from cislens.simulate.specs import BackgroundSpec, DistractorSpec, MotifSpec, ScanSpec, TaskSpec

__all__ = [
    "HUMAN_DINUCLEOTIDE_FREQUENCIES",
    "AllRule",
    "AnyRule",
    "AtLeastRule",
    "BackgroundSpec",
    "CountSpec",
    "DistractorSpec",
    "MarkovModel",
    "MatchModel",
    "MotifRule",
    "MotifSpec",
    "NotRule",
    "PairRule",
    "PositionSpec",
    "RuleLabels",
    "ScanSpec",
    "SimulationConfig",
    "SpacingSpec",
    "TaskSpec",
    "as_config",
    "build_match_model",
    "config_from_dict",
    "fit_markov",
    "human_markov",
    "labels_from_instances",
    "list_presets",
    "load_config",
    "load_preset",
    "load_simulation_motifs",
    "parse_rule",
    "preset_names",
    "preset_path",
    "sample_background",
    "score_distribution",
    "simulate",
    "threshold_for_p_value",
]
