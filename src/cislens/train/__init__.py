"""Training and evaluation: :func:`fit`, :func:`evaluate`, :func:`predict`.

``fit(model, data, *, epochs, ...)`` trains in place and returns a :class:`History`;
``fit_restarts(build, data, *, restarts, selection_epochs, ...)`` races several seeds for a few
epochs and fully trains the best;
``evaluate`` returns a per-task metrics table (auROC, auPRC, accuracy, positives fraction);
``predict`` returns (N, T) logits or probabilities; ``quality_warnings`` flags tasks whose test
metrics are near chance. Checkpoints live in :mod:`cislens.models`
(``save_model`` / ``load_model``) and are re-exported here for convenience.
"""

from cislens.models.checkpoint import load_model, load_user_model, save_model
from cislens.train.evaluate import METRIC_COLUMNS, evaluate, predict
from cislens.train.fit import fit
from cislens.train.history import History, format_epoch
from cislens.train.quality import MIN_AUROC, MIN_PEARSON, quality_warnings
from cislens.train.restarts import RESTART_COLUMNS, fit_restarts, restart_seeds

__all__ = [
    "METRIC_COLUMNS",
    "MIN_AUROC",
    "MIN_PEARSON",
    "RESTART_COLUMNS",
    "History",
    "evaluate",
    "fit",
    "fit_restarts",
    "format_epoch",
    "load_model",
    "load_user_model",
    "predict",
    "quality_warnings",
    "restart_seeds",
    "save_model",
]
