"""Training and evaluation: :func:`fit`, :func:`evaluate`, :func:`predict`.

``fit(model, data, *, epochs, ...)`` trains in place and returns a :class:`History`;
``evaluate`` returns a per-task metrics table (auROC, auPRC, accuracy, positives fraction);
``predict`` returns (N, T) logits or probabilities. Checkpoints live in :mod:`cislens.models`
(``save_model`` / ``load_model``) and are re-exported here for convenience.
"""

from cislens.models.checkpoint import load_model, load_user_model, save_model
from cislens.train.evaluate import METRIC_COLUMNS, evaluate, predict
from cislens.train.fit import fit
from cislens.train.history import History, format_epoch

__all__ = [
    "METRIC_COLUMNS",
    "History",
    "evaluate",
    "fit",
    "format_epoch",
    "load_model",
    "load_user_model",
    "predict",
    "save_model",
]
