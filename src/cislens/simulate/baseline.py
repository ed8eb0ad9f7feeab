"""The PWM scan baseline of a simulated dataset: what its own motifs and rules predict.

For simulated data the truth is known, so a model's test auROC can be compared with the
best a motif scanner achieves with the *true* motifs: :func:`pwm_baseline_scores` scores each
sequence, for each task, by

- a task whose rule is the presence of one motif (or of any of several motifs, at least one
  instance each): the best window's log-odds score (log2(p / b), ``b`` the base composition),
  over both strands and every position, normalised by the motif's best possible score and
  maximised over the motifs - a continuous score;
- any other rule (AND, ``not``, a spaced pair, counts): the rule applied to the scanned sites
  (every window that reaches the simulator's match threshold), 1 or 0, plus half the mean
  normalised best-window score of the motifs the rule requires (not those under ``not``), to
  order the sequences within each class.

``cislens evaluate`` and :func:`cislens.train.evaluate` report its auROC next to the model's
(column ``pwm_auroc``), so a model that underfits shows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from cislens.pwm import Motif
from cislens.simulate.grammar import AnyRule, MotifRule, NotRule, iter_rules
from cislens.simulate.labels import labels_from_instances
from cislens.simulate.matching import build_match_model
from cislens.simulate.resolve import as_config


def _composition(X: np.ndarray) -> np.ndarray:
    counts = X.sum(axis=(0, 2)).astype(np.float64) + 1.0
    return counts / counts.sum()


def best_window_scores(X: np.ndarray, motifs: dict, composition) -> dict[str, np.ndarray]:
    """Per motif, each sequence's best log-odds window score over both strands, divided by the
    motif's best possible score (so 1 is a consensus match).

    Examples
    --------
    >>> from cislens.sequence import one_hot_encode
    >>> probs = np.full((4, 3), 0.01); probs[[0, 1, 2], [0, 1, 2]] = 0.97
    >>> X = one_hot_encode(["TTACGTT", "TTTTTTT"])
    >>> scores = best_window_scores(X, {"ACG": probs}, [0.25] * 4)["ACG"]
    >>> [round(float(s), 2) for s in scores]
    [1.0, -1.25]
    """
    x = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))
    out = {}
    for name, probs in motifs.items():
        motif = Motif(name, np.asarray(probs, dtype=np.float64))
        best = -np.inf
        per_strand = []
        for strand in (motif, motif.reverse_complement()):
            table = strand.log_odds(np.asarray(composition, dtype=np.float64))
            best = max(best, float(table.max(axis=0).sum()))
            weight = torch.from_numpy(table.astype(np.float32))[None]
            per_strand.append(F.conv1d(x, weight).amax(dim=(1, 2)).numpy())
        out[name] = np.maximum(*per_strand).astype(np.float64) / best
    return out


def scanned_sites(X: np.ndarray, motifs: dict, composition, scan) -> pd.DataFrame:
    """Sites of ``motifs`` in one-hot ``X``: every window (either strand) reaching the
    simulator's match threshold. Columns as ``ground_truth.instances`` (``sequence, motif,
    start, end, strand``). Overlapping sites are all kept: dropping the weaker of two
    overlapping windows of a palindrome can drop the planted one and break a spacing rule."""
    objects = {name: Motif(name, np.asarray(p, dtype=np.float64)) for name, p in motifs.items()}
    match = build_match_model(objects, np.asarray(composition, dtype=np.float64), scan)
    tokens = np.asarray(X).argmax(axis=1).astype(np.uint8)
    row, pos, motif, strand, _ = match.scan(tokens)
    table = pd.DataFrame(
        {
            "sequence": row,
            "motif": np.asarray(match.names)[motif],
            "start": pos,
            "end": pos + match.widths[motif],
            "strand": np.where(strand == 0, "+", "-"),
        }
    )
    return table.drop_duplicates().reset_index(drop=True)


def _required_motifs(rule) -> set[str]:
    negated = set()
    for sub in iter_rules(rule):
        if isinstance(sub, NotRule):
            negated |= sub.rule.motifs()
    return rule.motifs() - negated


def _is_presence(rule) -> bool:
    children = rule.rules if isinstance(rule, AnyRule) else (rule,)
    return all(isinstance(c, MotifRule) and c.min_count <= 1 for c in children)


def pwm_baseline_scores(X, truth, *, composition=None) -> np.ndarray:
    """Scores (N, T) of the PWM scan baseline for the tasks of a simulated dataset.

    Parameters
    ----------
    X : numpy.ndarray
        One-hot sequences (N, 4, L), e.g. ``dataset.X["test"]``.
    truth : GroundTruth
        ``dataset.ground_truth`` (its ``motifs`` and ``config``).
    composition : array (4,), optional
        Background base frequencies of the log-odds; default those of ``X``.

    Returns
    -------
    numpy.ndarray
        (N, T) float64, higher meaning positive (see the module docstring).

    Examples
    --------
    >>> from cislens.simulate import simulate
    >>> data = simulate("spi1", n=400, random_state=0)
    >>> scores = pwm_baseline_scores(data.X["test"], data.ground_truth)
    >>> from sklearn.metrics import roc_auc_score
    >>> round(roc_auc_score(data.Y["test"][:, 0], scores[:, 0]), 2)
    1.0
    """
    if getattr(truth, "config", None) is None:
        raise ValueError(
            "pwm_baseline_scores needs the simulation's ground truth with its config "
            "(dataset.ground_truth of a `cislens simulate` dataset); got none."
        )
    config = as_config(truth.config)
    X = np.asarray(X)
    comp = _composition(X) if composition is None else np.asarray(composition, dtype=np.float64)
    motifs = {name: truth.motifs[name] for name in config.motif_names}
    best = best_window_scores(X, motifs, comp)
    sites = scanned_sites(X, motifs, comp, config.scan)
    ruled = labels_from_instances(sites, config, n_sequences=len(X)).labels
    scores = np.zeros((len(X), len(config.tasks)))
    for t, task in enumerate(config.tasks):
        required = sorted(_required_motifs(task.rule))
        if _is_presence(task.rule):
            scores[:, t] = np.max([best[m] for m in required], axis=0)
        else:
            tie = np.mean([np.clip(best[m], 0, 1) for m in required], axis=0) if required else 0
            scores[:, t] = ruled[:, t] + 0.5 * tie
    return scores


__all__ = ["best_window_scores", "pwm_baseline_scores", "scanned_sites"]
