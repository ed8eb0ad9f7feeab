"""The record of a training run: :class:`History`, and the one-line epoch summary."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from cislens._version import __version__
from cislens.utils.reprs import compact_repr


@dataclass
class History:
    """What happened during :func:`fit`. Epochs are numbered from 1.

    Attributes
    ----------
    train_loss, valid_loss : list of float
        Mean training loss of each epoch (over its batches) and validation loss after it.
    valid_auroc, valid_auprc : list of float
        Validation auROC / auPRC after each epoch, averaged over the binary tasks (NaN when no
        binary task has both classes).
    epoch_time : list of float
        Seconds per epoch (training and validation).
    best_epoch : int
        The epoch whose weights the model holds at the end (best ``monitor`` value).
    best_score : float
        The ``monitor`` value at ``best_epoch``.
    monitor : str
        "valid_loss", "valid_auprc" or "valid_auroc".
    stopped_early : bool
        Whether training stopped before ``epochs`` because of ``patience``.
    total_time : float
        Seconds for the whole call.
    task_names, task_types : list of str
        Names (task_0, ... when unknown) and "binary" / "regression" per task.
    pos_weight : list of float
        The positive-class weight of each binary task (1.0 for regression or unweighted).
    params : dict
        The arguments of the call (``random_state`` as the resolved integer seed) and data sizes.
    cislens_version : str
    """

    __repr__ = compact_repr

    train_loss: list[float] = field(default_factory=list)
    valid_loss: list[float] = field(default_factory=list)
    valid_auroc: list[float] = field(default_factory=list)
    valid_auprc: list[float] = field(default_factory=list)
    epoch_time: list[float] = field(default_factory=list)
    best_epoch: int = 0
    best_score: float = float("nan")
    monitor: str = "valid_loss"
    stopped_early: bool = False
    total_time: float = 0.0
    task_names: list[str] = field(default_factory=list)
    task_types: list[str] = field(default_factory=list)
    pos_weight: list[float] = field(default_factory=list)
    params: dict = field(default_factory=dict)
    cislens_version: str = __version__

    @property
    def n_epochs(self) -> int:
        """Number of epochs run."""
        return len(self.train_loss)

    def to_frame(self) -> pd.DataFrame:
        """One row per epoch: epoch, train/valid loss, valid auROC/auPRC, time, best."""
        return pd.DataFrame(
            {
                "epoch": np.arange(1, self.n_epochs + 1),
                "train_loss": self.train_loss,
                "valid_loss": self.valid_loss,
                "valid_auroc": self.valid_auroc,
                "valid_auprc": self.valid_auprc,
                "time": self.epoch_time,
                "best": [epoch == self.best_epoch for epoch in range(1, self.n_epochs + 1)],
            }
        )

    def to_dict(self) -> dict:
        """A JSON-ready dict (NaN becomes None)."""
        return _json_ready(asdict(self))


def _json_ready(value):
    if isinstance(value, dict):
        return {key: _json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(item) for item in value]
    if isinstance(value, (float, np.floating)):
        return None if not math.isfinite(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


def format_epoch(record: dict) -> str:
    """One line summarising an epoch record (the dict passed to ``fit``'s ``callback``).

    Examples
    --------
    >>> format_epoch({"epoch": 2, "epochs": 5, "train_loss": 0.5, "valid_loss": 0.4,
    ...               "valid_auroc": 0.9, "valid_auprc": 0.8, "time": 1.25, "best": True})
    'epoch 2/5  train_loss 0.5000  valid_loss 0.4000  auROC 0.9000  auPRC 0.8000  1.2s *'
    """
    return (
        f"epoch {record['epoch']}/{record['epochs']}  train_loss {record['train_loss']:.4f}  "
        f"valid_loss {record['valid_loss']:.4f}  auROC {record['valid_auroc']:.4f}  "
        f"auPRC {record['valid_auprc']:.4f}  {record['time']:.1f}s"
        + (" *" if record["best"] else "")
    )


__all__ = ["History", "format_epoch"]
