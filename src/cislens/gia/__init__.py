"""Global importance analysis (GIA): in-silico experiments with effect sizes and CIs.

Embed patterns into null backgrounds and measure the paired change of a model's predictions
(or of an attribution method's maps, ``func=``):

==========================  ==================================================================
:func:`null_backgrounds`    profile, shuffle, dinucleotide_shuffle, negatives, random nulls
:func:`embed`               write a pattern (string, motif, PWM samples) into sequences
:func:`marginalize`         the global importance of one pattern (:class:`GIAResult`)
:func:`position_effect`     the pattern at each position (table)
:func:`count_effect`        1..k copies (table)
:func:`spacing`             a then b at each gap and orientation, with the interaction (table)
:func:`interaction`         f(a+b) - f(a) - f(b) + f(null) (:class:`GIAResult`)
:func:`grammar`             every orientation x gap of a pair: best arrangement, no-preference
                            test (:class:`Grammar`)
:func:`flank_effect`        the pattern in different flanking contexts (table)
:func:`occlude`             replace instances in observed sequences and measure the drop
==========================  ==================================================================

Statistics (:mod:`cislens.gia.stats`): bootstrap CI of the mean paired difference, Wilcoxon
signed-rank p-values, standardized effect, BH correction across the conditions of one
experiment. Tables' columns are documented in :mod:`cislens.gia.result`.

Examples
--------
>>> import torch
>>> model = torch.nn.Sequential(torch.nn.Conv1d(4, 1, 1), torch.nn.Flatten(),
...                             torch.nn.Linear(20, 1))
>>> bg = null_backgrounds("random", n=25, length=20, random_state=0)
>>> marginalize(model, bg, "TGACTCA", random_state=0).n
25
"""

from cislens.gia.backgrounds import NULLS, null_backgrounds
from cislens.gia.embed import EmbedPattern, as_pattern, embed
from cislens.gia.experiments import count_effect, flank_effect, marginalize, position_effect
from cislens.gia.grammar import Grammar, grammar, no_preference_test
from cislens.gia.occlusion import REPLACEMENTS, occlude, occlusion_summary
from cislens.gia.pairs import ORIENTATIONS, interaction, spacing
from cislens.gia.plots import plot_count, plot_curve, plot_position, plot_spacing
from cislens.gia.result import STAT_COLUMNS, GIAResult
from cislens.gia.stats import (
    benjamini_hochberg,
    bootstrap_ci,
    standardized_effect,
    wilcoxon_p,
)

__all__ = [
    "NULLS",
    "ORIENTATIONS",
    "REPLACEMENTS",
    "STAT_COLUMNS",
    "EmbedPattern",
    "GIAResult",
    "Grammar",
    "as_pattern",
    "benjamini_hochberg",
    "bootstrap_ci",
    "count_effect",
    "embed",
    "flank_effect",
    "grammar",
    "interaction",
    "marginalize",
    "no_preference_test",
    "null_backgrounds",
    "occlude",
    "occlusion_summary",
    "plot_count",
    "plot_curve",
    "plot_position",
    "plot_spacing",
    "position_effect",
    "spacing",
    "standardized_effect",
    "wilcoxon_p",
]
