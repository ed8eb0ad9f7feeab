"""Score attribution maps against the motif instances a simulation planted.

How maps are scored against planted instances: ``docs/algorithms.md`` section 9.4.

Per-position score
    ``signed``: the projected score summed over channels, ``sum_b attr[b, i] * x[b, i]`` (the
    Koo-lab "interpretability performance" score; for methods that return a map on all four
    channels, such as saliency, this is the value at the observed base).
    ``absolute``: its absolute value (Prakash et al. 2022).
    The **headline** figures (``auroc``, ``auprc``) use the signed score: the map explains the
    positive class of its target, so important positions should score high, not merely far from
    zero. The absolute versions are reported alongside (``auroc_abs``, ``auprc_abs``).

Labels
    Positions inside the recorded instances that are relevant to the target task
    (``relevant_<task>``) are 1, all others 0. Only *positive* sequences (at least one relevant
    instance) are scored with auROC / auPRC; sequences without one are *negatives* and are only
    used for the decoy figure.

Per method the table gives the mean, median and 95 % confidence interval (Student t over
sequences) of the per-sequence auROC and auPRC, the median signal-to-noise ratio
``(mean score inside - mean score outside) / sd(score outside)`` and, on negatives, the decoy
ratio ``mean |score| inside other (irrelevant) instances / mean |score| outside instances``
(1 means decoys get no more importance than background; larger is worse).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.metrics import average_precision_score, roc_auc_score

from cislens.utils.reprs import compact_repr
from cislens.utils.types import ArrayLike
from cislens.utils.validation import check_choice

if TYPE_CHECKING:  # annotations only
    from cislens.io.attributions import AttributionSet
    from cislens.io.dataset_schema import GroundTruth

SCORES = ("signed", "absolute")

SUMMARY_COLUMNS = (
    "method",
    "n_sequences",
    "n_negatives",
    "auroc",
    "auroc_median",
    "auroc_ci_low",
    "auroc_ci_high",
    "auprc",
    "auprc_median",
    "auprc_ci_low",
    "auprc_ci_high",
    "auroc_abs",
    "auprc_abs",
    "snr",
    "decoy_ratio",
    "seconds_per_sequence",
)

"""Columns of :attr:`AttributionBenchmark.summary` (one row per method; ``auroc`` and ``auprc``
are means of per-sequence values of the signed score, ``*_abs`` of the absolute score)."""


@dataclass
class AttributionBenchmark:
    """What :func:`benchmark_attributions` returns.

    Attributes
    ----------
    summary : pandas.DataFrame
        One row per method, columns :data:`SUMMARY_COLUMNS`, sorted by decreasing ``auroc``.
    per_sequence : pandas.DataFrame
        One row per (method, target, positive sequence): ``method, target, sequence, auroc,
        auprc, auroc_abs, auprc_abs, snr``.
    headline : str
        Which per-position score the ``auroc`` / ``auprc`` columns use ("signed").
    """

    __repr__ = compact_repr

    summary: pd.DataFrame
    per_sequence: pd.DataFrame
    headline: str = "signed"
    params: dict = field(default_factory=dict)

    @property
    def best(self) -> str | None:
        """The method with the highest mean auROC (None when nothing was scored)."""
        rows = self.summary.dropna(subset=["auroc"])
        return None if rows.empty else str(rows.iloc[0]["method"])


def position_scores(attributions: ArrayLike, X: ArrayLike, *, score: str = "signed") -> np.ndarray:
    """Per-position importance (N, L) of attributions (N, 4, L) on one-hot X (N, 4, L).

    Examples
    --------
    >>> X = np.eye(4, dtype=np.float32)[[[0, 1, 2]]].transpose(0, 2, 1)
    >>> A = -np.ones_like(X)
    >>> position_scores(A, X).tolist(), position_scores(A, X, score="absolute").tolist()
    ([[-1.0, -1.0, -1.0]], [[1.0, 1.0, 1.0]])
    """
    check_choice(score, SCORES, name="score")
    A = np.asarray(attributions, dtype=np.float64)
    X = np.asarray(X, dtype=np.float64)
    if A.shape != X.shape or A.ndim != 3 or A.shape[1] != 4:
        raise ValueError(f"attributions and X must both be (N, 4, L); got {A.shape} and {X.shape}.")
    values = (A * X).sum(axis=1)
    return np.abs(values) if score == "absolute" else values


def instance_mask(
    instances: pd.DataFrame,
    sequences: ArrayLike,
    length: int,
    *,
    task: str | None = None,
    relevant: bool = True,
) -> np.ndarray:
    """Boolean (len(sequences), L) mask of positions inside instances of the given sequences.

    ``task`` with ``relevant=True`` keeps instances with ``relevant_<task>`` True; with
    ``relevant=False`` those with it False (decoys for that task); ``task=None`` keeps all.

    Examples
    --------
    >>> truth = pd.DataFrame({"sequence": [1], "start": [2], "end": [4], "relevant_a": [True]})
    >>> instance_mask(truth, [0, 1], 6, task="a").astype(int).tolist()
    [[0, 0, 0, 0, 0, 0], [0, 0, 1, 1, 0, 0]]
    """
    sequences = np.asarray(sequences)
    mask = np.zeros((len(sequences), length), dtype=bool)
    rows = instances
    if task is not None:
        column = f"relevant_{task}"
        if column not in instances.columns:
            found = [c[len("relevant_") :] for c in instances.columns if c.startswith("relevant_")]
            raise ValueError(f"no ground truth for task {task!r}; the tasks are {found}.")
        keep = instances[column].astype(bool)
        rows = instances[keep if relevant else ~keep]
    where = {int(s): i for i, s in enumerate(sequences)}
    for seq, start, end in zip(rows["sequence"], rows["start"], rows["end"], strict=True):
        i = where.get(int(seq))
        if i is not None:
            mask[i, max(int(start), 0) : max(min(int(end), length), 0)] = True
    return mask


def _truth_table(ground_truth, split):
    instances = getattr(ground_truth, "instances", ground_truth)
    if not isinstance(instances, pd.DataFrame):
        raise TypeError(
            "ground_truth must be a cislens.io.GroundTruth or its instances DataFrame; "
            f"got {type(ground_truth).__name__}."
        )
    if split is not None and "split" in instances.columns:
        instances = instances[instances["split"] == split]
    return instances


def _task_name(result) -> str:
    target = result.target
    names = result.task_names
    if isinstance(target, (int, np.integer)) and names is not None:
        return str(names[int(target)])
    if target is None and names is not None and len(names) == 1:
        return str(names[0])
    if target is None:
        raise ValueError(
            f"attributions for {result.method!r} have no target; benchmark needs the task "
            "each map explains (target and task_names)."
        )
    return str(target)


def _ci(values, confidence=0.95):
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return np.nan, np.nan, np.nan, np.nan
    mean = float(values.mean())
    if len(values) < 2:
        return mean, float(np.median(values)), mean, mean
    half = stats.t.ppf(0.5 + confidence / 2, len(values) - 1) * stats.sem(values)
    return mean, float(np.median(values)), mean - half, mean + half


def score_sequences(scores: ArrayLike, labels: ArrayLike) -> pd.DataFrame:
    """Per-sequence auROC / auPRC (and signal-to-noise) of scores (N, L) against labels (N, L).

    Sequences whose labels are all 0 or all 1 get NaN.

    Examples
    --------
    >>> scores = np.array([[0.9, 0.8, 0.1, 0.2], [0.1, 0.9, 0.8, 0.2]])
    >>> labels = np.array([[1, 1, 0, 0], [1, 1, 0, 0]])
    >>> score_sequences(scores, labels)["auroc"].tolist()
    [1.0, 0.5]
    """
    scores = np.asarray(scores, dtype=float)
    labels = np.asarray(labels, dtype=bool)
    rows = []
    for s, y in zip(scores, labels, strict=True):
        if y.all() or not y.any():
            rows.append({"auroc": np.nan, "auprc": np.nan, "snr": np.nan})
            continue
        outside = s[~y]
        sd = outside.std()
        snr = (s[y].mean() - outside.mean()) / sd if sd > 0 else np.nan
        rows.append(
            {
                "auroc": roc_auc_score(y, s),
                "auprc": average_precision_score(y, s),
                "snr": snr,
            }
        )
    return pd.DataFrame(rows, columns=["auroc", "auprc", "snr"])


def _summary_row(method, group, decoys, seconds_per_sequence, confidence) -> dict:
    """One method's row of the summary from its per-sequence scores and decoy magnitudes
    (``[inside, outside, n_negatives]`` or None)."""
    auroc = _ci(group["auroc"], confidence)
    auprc = _ci(group["auprc"], confidence)
    decoy_ratio, n_neg = np.nan, 0
    if decoys is not None:
        inside = np.concatenate(decoys[0])
        outside = np.concatenate(decoys[1])
        n_neg = decoys[2]
        if inside.size and outside.size and outside.mean() > 0:
            decoy_ratio = float(inside.mean() / outside.mean())
    return {
        "method": method,
        "n_sequences": int(group["auroc"].notna().sum()),
        "n_negatives": n_neg,
        "auroc": auroc[0],
        "auroc_median": auroc[1],
        "auroc_ci_low": auroc[2],
        "auroc_ci_high": auroc[3],
        "auprc": auprc[0],
        "auprc_median": auprc[1],
        "auprc_ci_low": auprc[2],
        "auprc_ci_high": auprc[3],
        "auroc_abs": float(group["auroc_abs"].mean()),
        "auprc_abs": float(group["auprc_abs"].mean()),
        "snr": float(group["snr"].median()),
        "decoy_ratio": decoy_ratio,
        "seconds_per_sequence": seconds_per_sequence,
    }


def benchmark_attributions(
    attributions: AttributionSet | list[AttributionSet] | tuple[AttributionSet, ...],
    ground_truth: GroundTruth | pd.DataFrame,
    *,
    split: str | None = "test",
    timings: dict[str, float] | None = None,
    confidence: float = 0.95,
) -> AttributionBenchmark:
    """Score attribution maps against the recorded, rule-relevant motif instances.

    Parameters
    ----------
    attributions : AttributionSet or list of AttributionSet
        One set per (method, target task). ``example_index`` gives each map's row in ``split``
        (default: rows 0..N-1); ``target`` with ``task_names`` names the task explained.
    ground_truth : cislens.io.GroundTruth or pandas.DataFrame
        Recorded instances (``sequence, split, start, end, relevant_<task>``).
    split : str or None
        Which split the rows refer to (default "test"; None: do not filter on ``split``).
    timings : dict, optional
        Method -> seconds spent computing its sets (summed); reported per sequence.
    confidence : float
        Level of the confidence intervals (default 0.95).

    Returns
    -------
    AttributionBenchmark
        ``summary`` (one row per method, see :data:`SUMMARY_COLUMNS` and the module docstring)
        and ``per_sequence``.

    Examples
    --------
    >>> from cislens.io import AttributionSet
    >>> X = np.eye(4, dtype=np.float32)[np.zeros((2, 6), dtype=int)].transpose(0, 2, 1)
    >>> A = X.copy(); A[:, :, :3] *= 2  # more importance on positions 0-2
    >>> truth = pd.DataFrame({"sequence": [0, 1], "split": "test", "start": [0, 1],
    ...                       "end": [3, 3], "relevant_tf": [True, True]})
    >>> result = AttributionSet(X=X, attributions=A, method="toy", target=0, task_names=["tf"])
    >>> bench = benchmark_attributions([result], truth)
    >>> bench.summary[["method", "auroc"]].values.tolist()
    [['toy', 0.9375]]
    """
    if not isinstance(attributions, (list, tuple)):
        attributions = [attributions]
    if not attributions:
        raise ValueError("attributions is empty; pass at least one AttributionSet.")
    timings = dict(timings or {})
    instances = _truth_table(ground_truth, split)
    per_seq: list = []
    decoys: dict = {}
    counts: dict = {}
    for result in attributions:
        task = _task_name(result)
        index = (
            np.arange(result.n_examples)
            if result.example_index is None
            else np.asarray(result.example_index)
        )
        relevant = instance_mask(instances, index, result.length, task=task)
        positive = relevant.any(axis=1)
        signed = position_scores(result.attributions, result.X)
        counts[result.method] = counts.get(result.method, 0) + result.n_examples
        table = score_sequences(signed[positive], relevant[positive])
        absolute = score_sequences(np.abs(signed[positive]), relevant[positive])
        table["auroc_abs"] = absolute["auroc"].to_numpy()
        table["auprc_abs"] = absolute["auprc"].to_numpy()
        table.insert(0, "sequence", index[positive])
        table.insert(0, "target", task)
        table.insert(0, "method", result.method)
        per_seq.append(table)
        negative = ~positive
        if negative.any():
            decoy = instance_mask(
                instances, index[negative], result.length, task=task, relevant=False
            )
            anywhere = instance_mask(instances, index[negative], result.length)
            magnitude = np.abs(signed[negative])
            inside, outside = magnitude[decoy], magnitude[~anywhere]
            store = decoys.setdefault(result.method, [[], [], 0])
            store[0].append(inside)
            store[1].append(outside)
            store[2] += int(negative.sum())
    per_sequence = pd.concat(per_seq, ignore_index=True)
    rows = []
    for method, group in per_sequence.groupby("method", sort=False):
        seconds = timings.get(method)
        per_example = np.nan if seconds is None else float(seconds) / max(counts[method], 1)
        rows.append(_summary_row(method, group, decoys.get(method), per_example, confidence))
    summary = pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))
    summary = summary.sort_values("auroc", ascending=False, kind="stable", na_position="last")
    summary = summary.reset_index(drop=True)
    return AttributionBenchmark(
        summary, per_sequence, "signed", {"split": split, "confidence": confidence}
    )


__all__ = [
    "SUMMARY_COLUMNS",
    "AttributionBenchmark",
    "benchmark_attributions",
    "instance_mask",
    "position_scores",
    "score_sequences",
]
