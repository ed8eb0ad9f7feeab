"""Training: :func:`fit` trains a model on a dataset and returns a :class:`History`."""

from __future__ import annotations

import contextlib
import logging
import math
import time
import warnings
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from cislens.errors import CislensWarning
from cislens.models import SequenceModel
from cislens.train._data import (
    TrainingData,
    as_training_data,
    batch_tensor,
    check_batch_size,
    resolve_task_types,
)
from cislens.train.defaults import TRAINING_DEFAULTS, epochs_for, lr_for
from cislens.train.evaluate import binary_metrics, predict_array
from cislens.train.history import History, format_epoch
from cislens.utils.device import resolve_device, using_model
from cislens.utils.random import derive_seed, resolve_seed

logger = logging.getLogger(__name__)

# The one set of defaults (cislens.train.defaults) is shared with `cislens train` and `run`.
DEFAULT_EPOCHS = TRAINING_DEFAULTS["epochs"]  # None: epochs_for(n_train, batch_size)
DEFAULT_BATCH_SIZE = TRAINING_DEFAULTS["batch_size"]
DEFAULT_LR = TRAINING_DEFAULTS["lr"]
DEFAULT_PATIENCE = TRAINING_DEFAULTS["patience"]
OPTIMIZERS = ("adam", "adamw", "sgd")
MONITORS = {"valid_loss": "min", "valid_auprc": "max", "valid_auroc": "max"}
LR_SCHEDULES = ("plateau", "none")


def _make_optimizer(name: str, parameters, lr: float, weight_decay: float):
    if name == "adam":
        return torch.optim.Adam(parameters, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(parameters, lr=lr, weight_decay=weight_decay)
    return torch.optim.SGD(parameters, lr=lr, momentum=0.9, weight_decay=weight_decay)


def _pos_weights(Y: np.ndarray, task_types, class_weight, task_names) -> list[float]:
    weights = []
    empty = []
    for t, kind in enumerate(task_types):
        if kind != "binary" or class_weight is None:
            weights.append(1.0)
            continue
        positives = float(np.mean(Y[:, t]))
        if positives in (0.0, 1.0):
            empty.append(task_names[t])
            weights.append(1.0)
        else:
            weights.append((1.0 - positives) / positives)
    if empty:
        warnings.warn(
            f"task(s) {empty} have a single class in Y_train; they cannot be learned and get no "
            "class weighting.",
            CislensWarning,
            stacklevel=3,
        )
    return weights


def _loss(logits, y, binary_mask, pos_weight, all_binary: bool):
    bce = F.binary_cross_entropy_with_logits(logits, y, pos_weight=pos_weight, reduction="none")
    if all_binary:
        return bce.mean()
    return torch.where(binary_mask, bce, (logits - y) ** 2).mean()


def _validate_args(
    epochs, lr, optimizer, weight_decay, class_weight, monitor, patience, max_batches, callback
) -> None:
    bad_epochs = isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1
    if epochs is not None and bad_epochs:
        raise ValueError(
            f"epochs must be a positive int or None (chosen from the data size); got {epochs!r}."
        )
    if lr is not None and (
        isinstance(lr, bool) or not isinstance(lr, (int, float)) or not 0 < lr < math.inf
    ):
        raise ValueError(f"lr must be a positive float or None (from the data size); got {lr!r}.")
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}; got {optimizer!r}.")
    if not isinstance(weight_decay, (int, float)) or weight_decay < 0:
        raise ValueError(f"weight_decay must be a float >= 0; got {weight_decay!r}.")
    if class_weight not in ("balanced", None):
        raise ValueError(f"class_weight must be 'balanced' or None; got {class_weight!r}.")
    if monitor not in MONITORS and monitor != "auto":
        raise ValueError(f"monitor must be one of {sorted(MONITORS)} or 'auto'; got {monitor!r}.")
    if patience is not None and (
        isinstance(patience, bool) or not isinstance(patience, int) or patience < 1
    ):
        raise ValueError(
            f"patience must be a positive int or None (no early stop); got {patience!r}."
        )
    if max_batches is not None and (
        isinstance(max_batches, bool) or not isinstance(max_batches, int) or max_batches < 1
    ):
        raise ValueError(f"max_batches must be a positive int or None (all); got {max_batches!r}.")
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable or None; got {type(callback).__name__}.")


def _probe_model(model: nn.Module, data: TrainingData, device) -> None:
    """Run two training sequences through the model to check its input and output shapes."""
    expected = data.n_tasks
    if isinstance(model, SequenceModel) and model.n_tasks != expected:
        raise ValueError(
            f"the model has n_tasks={model.n_tasks} outputs but the labels have {expected} tasks; "
            f"build the model with n_tasks={expected}."
        )
    if (
        isinstance(model, SequenceModel)
        and model.fixed_length
        and (model.input_length != data.length)
    ):
        raise ValueError(
            f"the model was built for input_length={model.input_length} but the training "
            f"sequences have length {data.length}; build it with input_length={data.length}."
        )
    with using_model(model, device=device, training=False), torch.no_grad():
        try:
            out = model(batch_tensor(data.X_train, slice(0, 2)).to(device))
        except RuntimeError as error:
            raise ValueError(
                f"the model failed on training input of shape (2, 4, {data.length}): {error}"
            ) from error
    if not isinstance(out, torch.Tensor) or out.ndim != 2 or out.shape[1] != expected:
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(
            f"the model must return (N, T) with T={expected} (the number of label columns); it "
            f"returned {shape} for 2 sequences."
        )


@contextlib.contextmanager
def flushing_denormals():
    """Flush subnormal floats to zero on CPU inside the block; restore the setting after.

    Examples
    --------
    >>> with flushing_denormals():
    ...     inside = float(torch.tensor([1e-39]) * 1.0)
    >>> inside, denormals_flushed()
    (0.0, False)
    """
    before = denormals_flushed()
    supported = torch.set_flush_denormal(True)
    try:
        yield supported
    finally:
        if supported and not before:
            torch.set_flush_denormal(False)


def denormals_flushed() -> bool:
    """Whether CPU float arithmetic currently flushes subnormal numbers to zero."""
    return float(torch.tensor([1e-39], dtype=torch.float32) * 1.0) == 0.0


def fit(
    model: nn.Module,
    data,
    *,
    epochs: int | None = DEFAULT_EPOCHS,
    batch_size: int = DEFAULT_BATCH_SIZE,
    lr: float | None = DEFAULT_LR,
    optimizer: str = "adam",
    weight_decay: float = 0.0,
    task_type=None,
    class_weight: str | None = "balanced",
    monitor: str = "valid_loss",
    patience: int | None = DEFAULT_PATIENCE,
    max_batches: int | None = None,
    reverse_complement: bool = False,
    lr_schedule: str | None = None,
    callback: Callable[[dict], None] | None = None,
    random_state=None,
    device=None,
    verbose: bool = False,
) -> History:
    """Train ``model`` in place; keep the weights of the best validation epoch.

    Binary tasks (labels in {0, 1}) use binary cross-entropy on the logits, with the positive
    class weighted by (1 - p) / p where p is its fraction in the training labels; regression
    tasks use the squared error; the loss is the mean over sequences and tasks. After each epoch
    the model is scored on the validation split; training stops when ``monitor`` has not improved
    for ``patience`` epochs, and the model is given the weights of its best epoch.

    Parameters
    ----------
    model : torch.nn.Module
        Maps (N, 4, L) to (N, T) logits. Its device and train/eval mode are restored at the end.
    data : Dataset, dict or tuple
        A ``cislens.io.dataset.Dataset`` (splits "train" and "valid"), a dict with keys
        ``X_train, Y_train, X_valid, Y_valid`` (and optionally ``task_names``), or a tuple
        ``(X_train, Y_train, X_valid, Y_valid)``. X is (N, 4, L) one-hot, Y is (N, T).
    epochs : int or None
        Maximum number of passes over the training data. None (default): chosen from the data
        size by :func:`cislens.train.defaults.epochs_for` (about 4,000 steps, 20 to 100 epochs).
    batch_size : int
        Training rows per step (default 64); validation uses the same size.
    lr : float or None
        Learning rate. None (default): :func:`cislens.train.defaults.lr_for` of the data size
        (1e-2 below 2,000 training sequences, else 3e-3).
    optimizer : {"adam", "adamw", "sgd"}
        Optimizer (SGD with momentum 0.9). Default "adam".
    weight_decay : float
        L2 penalty passed to the optimizer (default 0).
    task_type : {"binary", "regression"}, list of those, or None
        None (default) treats tasks whose labels are all 0 or 1 as binary.
    class_weight : {"balanced", None}
        "balanced" (default) weights positives of each binary task by (1 - p) / p.
    monitor : {"valid_loss", "valid_auprc", "valid_auroc", "auto"}
        What picks the best epoch and drives early stopping (default "valid_loss"). "auto" (the
        default of ``cislens train`` and ``run``): "valid_auroc" when a task is binary, else
        "valid_loss".
    patience : int or None
        Epochs without improvement before stopping (default 20); None never stops early.
    max_batches : int or None
        Limit the training steps per epoch (default None: the whole training split).
    reverse_complement : bool
        Augment: replace each training sequence by its reverse complement with probability 1/2
        (labels unchanged). Default False (``cislens train`` and ``run``: True).
    lr_schedule : {"plateau", "none"} or None
        "plateau": a linear warm-up of the learning rate over the first epoch, then halve it
        whenever ``monitor`` has not improved for half of ``patience`` epochs (10 when
        ``patience`` is None; never below lr / 64). None or "none" (default): constant ``lr``
        (``cislens train`` and ``run``: "plateau").
    callback : callable or None
        Called after each epoch with a dict (epoch, train_loss, valid_loss, valid_auroc,
        valid_auprc, time, best; regularization_loss for models with the hook below).
    random_state : int, numpy.random.Generator or None
        Seeds the shuffling, the augmentation and dropout. With the same model initialisation,
        data and seed, training on the CPU gives identical weights.
    device : str, torch.device or None
        None (default): CUDA if available, else CPU.
    verbose : bool
        Show a progress bar per epoch.

    Returns
    -------
    History
        Per-epoch losses and metrics, best epoch, timings and parameters.

    Raises
    ------
    ValueError, TypeError
        Bad data (wrong shapes, NaN labels, empty splits), a model whose outputs do not match
        the number of tasks or whose input length does not match the data, bad arguments.

    Notes
    -----
    Models with built-in regularisers (e.g. ARGMINN) define ``regularization_loss(epoch)``: a
    scalar tensor from the model's last training forward pass, added to every step's loss.
    ``train_loss`` stays the task loss; the epoch means of the regulariser are in
    ``history.params["regularization_loss"]``. When the model also defines
    ``regularization_settled_epoch`` (its regulariser weights change until then), earlier epochs
    are neither chosen as best nor counted for ``patience``. A model's ``on_epoch_start(epoch)``
    (if defined) is called before each training epoch, numbered from 1.

    Dropout draws from torch's global generator (``nn.Dropout`` takes no generator): ``fit``
    runs inside ``torch.random.fork_rng``, seeds that generator from ``random_state`` and the
    caller's generator state is restored afterwards. A final batch of one sequence is skipped
    when the model has batch-norm layers (they cannot train on a single example).

    On CPU, subnormal floats are flushed to zero while ``fit`` runs (``torch.set_flush_denormal``;
    the caller's setting is restored afterwards). Adam's moment estimates of a unit that no longer
    gets gradient (a dead ReLU filter, a filter switched off by ARGMINN's regularisers) decay
    geometrically into the subnormal range, where each optimizer step costs about 3 times as
    much CPU (measured with torch 2.13 on this project's x86 machines).

    Examples
    --------
    >>> from cislens.models import DeepBind
    >>> rng = np.random.default_rng(0)
    >>> X = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (40, 30))].transpose(0, 2, 1)
    >>> Y = (X[:, 0].sum(1, keepdims=True) > 7).astype(np.float32)
    >>> model = DeepBind(n_tasks=1, filter_width=4, random_state=0)
    >>> history = fit(model, (X[:30], Y[:30], X[30:], Y[30:]), epochs=2, batch_size=10,
    ...               random_state=0)
    >>> history.n_epochs, history.best_epoch in (1, 2)
    (2, True)
    """
    start_time = time.perf_counter()
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module; got {type(model).__name__}.")
    _validate_args(
        epochs, lr, optimizer, weight_decay, class_weight, monitor, patience, max_batches, callback
    )
    if lr_schedule not in (None, *LR_SCHEDULES):
        raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES} or None; got {lr_schedule!r}.")
    batch_size = check_batch_size(batch_size)
    train_data = as_training_data(data)
    if epochs is None:
        epochs = epochs_for(len(train_data.X_train), batch_size)
    if lr is None:
        lr = lr_for(len(train_data.X_train))
    task_names = train_data.task_names or [f"task_{t}" for t in range(train_data.n_tasks)]
    task_types = resolve_task_types(train_data.Y_train, task_type)
    valid_types = resolve_task_types(train_data.Y_valid, task_type)
    for t, (kind, valid_kind) in enumerate(zip(task_types, valid_types, strict=True)):
        if kind == "binary" and valid_kind != "binary":
            raise ValueError(
                f"task {task_names[t]!r} is binary in Y_train but Y_valid has values other than "
                "0 and 1; make the labels consistent or pass task_type='regression'."
            )
    if monitor == "auto":
        monitor = "valid_auroc" if "binary" in task_types else "valid_loss"
    if monitor != "valid_loss" and "binary" not in task_types:
        raise ValueError(f"monitor={monitor!r} needs at least one binary task; use 'valid_loss'.")
    device = resolve_device(device)
    if not any(p.requires_grad for p in model.parameters()):
        raise ValueError("model has no trainable parameters (requires_grad=True).")
    _probe_model(model, train_data, device)

    seed = resolve_seed(random_state)
    pos_weight = _pos_weights(train_data.Y_train, task_types, class_weight, task_names)
    single_valid = [
        name
        for name, kind, y in zip(task_names, task_types, train_data.Y_valid.T, strict=True)
        if kind == "binary" and np.unique(y).size < 2
    ]
    if single_valid:
        warnings.warn(
            f"task(s) {single_valid} have a single class in Y_valid; their validation auROC and "
            "auPRC are NaN and left out of the averages.",
            CislensWarning,
            stacklevel=2,
        )
    params = {
        "epochs": epochs,
        "batch_size": batch_size,
        "lr": float(lr),
        "optimizer": optimizer,
        "weight_decay": float(weight_decay),
        "task_type": task_type,
        "class_weight": class_weight,
        "monitor": monitor,
        "patience": patience,
        "max_batches": max_batches,
        "reverse_complement": bool(reverse_complement),
        "lr_schedule": lr_schedule or "none",
        "random_state": seed,
        "device": str(device),
        "n_train": len(train_data.X_train),
        "n_valid": len(train_data.X_valid),
        "input_length": train_data.length,
    }
    history = History(
        monitor=monitor,
        task_names=task_names,
        task_types=task_types,
        pos_weight=pos_weight,
        params=params,
    )
    fork_devices = [device.index or 0] if device.type == "cuda" else []
    with (
        torch.random.fork_rng(devices=fork_devices),
        using_model(model, device=device, training=True),
        flushing_denormals(),
    ):
        torch.default_generator.manual_seed(derive_seed(seed, 1))
        if device.type == "cuda":
            torch.cuda.default_generators[device.index or 0].manual_seed(derive_seed(seed, 2))
        _train_loop(
            model,
            train_data,
            history,
            device=device,
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            optimizer=optimizer,
            weight_decay=weight_decay,
            patience=patience,
            max_batches=max_batches,
            reverse_complement=reverse_complement,
            lr_schedule=lr_schedule or "none",
            callback=callback,
            generator=torch.Generator().manual_seed(derive_seed(seed, 0)),
            verbose=verbose,
        )
    if isinstance(model, SequenceModel):
        model.task_names = list(task_names)
    history.total_time = time.perf_counter() - start_time
    return history


def _train_loop(
    model,
    data: TrainingData,
    history: History,
    *,
    device,
    epochs,
    batch_size,
    lr,
    optimizer,
    weight_decay,
    patience,
    max_batches,
    reverse_complement,
    lr_schedule,
    callback,
    generator,
    verbose,
) -> None:
    task_types = history.task_types
    binary_mask = torch.tensor([kind == "binary" for kind in task_types], device=device)
    all_binary = bool(binary_mask.all())
    pos_weight = torch.tensor(history.pos_weight, dtype=torch.float32, device=device)
    opt = _make_optimizer(
        optimizer, [p for p in model.parameters() if p.requires_grad], lr, weight_decay
    )
    has_batchnorm = any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
    n_train = len(data.X_train)
    n_batches = math.ceil(n_train / batch_size)
    if max_batches is not None:
        n_batches = min(n_batches, max_batches)
    schedule = _Schedule(
        opt, lr, lr_schedule, n_steps_warmup=n_batches, wait=max(1, (patience or 20) // 2)
    )
    mode = MONITORS[history.monitor]
    best_state, since_best = None, 0
    # Generic regularisation hook: a model may define regularization_loss(epoch) -> scalar
    # tensor (computed from its last training forward pass), added to the task loss of every
    # training step. Its objective may change with the epoch (warm-up schedules); epochs before
    # model.regularization_settled_epoch neither become the best epoch nor count for patience.
    regularizer = getattr(model, "regularization_loss", None)
    regularizer = regularizer if callable(regularizer) else None
    settled_epoch = int(getattr(model, "regularization_settled_epoch", 1))
    first_eligible = min(settled_epoch, epochs)
    if epochs < settled_epoch:
        # Not an error (a short run is a fine smoke test), but the model's regularisers never
        # reach their final weights, so what it is meant to learn (e.g. ARGMINN: one motif per
        # filter) is not what it learns.
        warnings.warn(
            f"fit: {type(model).__name__} reaches its final regulariser weights at epoch "
            f"{settled_epoch}, but epochs={epochs}; the trained model is not (fully) "
            f"regularised. Pass epochs >= {settled_epoch} (a few more to train under the final "
            "objective).",
            CislensWarning,
            stacklevel=2,
        )
    if regularizer is not None:
        history.params["regularization_loss"] = []
    Y_valid_t = torch.from_numpy(data.Y_valid).to(device)
    binary_cols = [t for t, kind in enumerate(task_types) if kind == "binary"]

    # A model may also define on_epoch_start(epoch), called before each training epoch (e.g.
    # ARGMINN freezes its token batch norm once its regularisers start).
    epoch_hook = getattr(model, "on_epoch_start", None)
    for epoch in range(1, epochs + 1):
        epoch_start = time.perf_counter()
        model.train()
        if callable(epoch_hook):
            epoch_hook(epoch)
        order = torch.randperm(n_train, generator=generator).numpy()
        losses, sizes, reg_losses = [], [], []
        bar = tqdm(
            range(n_batches), disable=not verbose, desc=f"epoch {epoch}/{epochs}", leave=False
        )
        for b in bar:
            index = order[b * batch_size : (b + 1) * batch_size]
            if len(index) == 1 and has_batchnorm:
                continue
            xb = batch_tensor(data.X_train, index)
            if reverse_complement:
                flip = torch.rand(len(index), generator=generator) < 0.5
                xb = torch.where(flip[:, None, None], xb.flip(1, 2), xb)
            yb = torch.from_numpy(data.Y_train[index]).to(device)
            opt.zero_grad(set_to_none=True)
            task_loss = _loss(model(xb.to(device)), yb, binary_mask, pos_weight, all_binary)
            loss = task_loss
            if regularizer is not None:
                loss = task_loss + regularizer(epoch)
                reg_losses.append(float(loss.detach()) - float(task_loss.detach()))
            if not torch.isfinite(loss):
                raise ValueError(
                    f"the training loss became {loss.item()} at epoch {epoch}, batch {b + 1}; "
                    "lower the learning rate (lr)."
                )
            loss.backward()
            schedule.before_step()
            opt.step()
            losses.append(task_loss.item())
            sizes.append(len(index))
            bar.set_postfix(loss=f"{losses[-1]:.4f}")
        train_loss = float(np.average(losses, weights=sizes)) if losses else float("nan")
        if regularizer is not None:
            reg_loss = float(np.average(reg_losses, weights=sizes)) if reg_losses else float("nan")
            history.params["regularization_loss"].append(reg_loss)

        model.eval()
        logits = predict_array(model, data.X_valid, batch_size=batch_size, device=device)
        with torch.no_grad():
            valid_loss = float(
                _loss(
                    torch.from_numpy(logits).to(device),
                    Y_valid_t,
                    binary_mask,
                    pos_weight,
                    all_binary,
                )
            )
        aurocs, auprcs = [], []
        for t in binary_cols:
            auroc, auprc, _ = binary_metrics(data.Y_valid[:, t], logits[:, t])
            aurocs.append(auroc)
            auprcs.append(auprc)
        valid_auroc = _nanmean(aurocs)
        valid_auprc = _nanmean(auprcs)

        history.train_loss.append(train_loss)
        history.valid_loss.append(valid_loss)
        history.valid_auroc.append(valid_auroc)
        history.valid_auprc.append(valid_auprc)
        score = {"valid_loss": valid_loss, "valid_auroc": valid_auroc, "valid_auprc": valid_auprc}[
            history.monitor
        ]
        improved = epoch >= first_eligible and (
            best_state is None
            or (
                math.isfinite(score)
                and (
                    not math.isfinite(history.best_score)
                    or (score < history.best_score if mode == "min" else score > history.best_score)
                )
            )
        )
        if improved:
            history.best_epoch, history.best_score, since_best = epoch, score, 0
            best_state = {
                key: value.detach().clone().cpu() for key, value in model.state_dict().items()
            }
        elif epoch >= first_eligible:
            since_best += 1
        schedule.after_epoch(since_best)
        history.epoch_time.append(time.perf_counter() - epoch_start)
        record = {
            "epoch": epoch,
            "epochs": epochs,
            "train_loss": train_loss,
            "valid_loss": valid_loss,
            "valid_auroc": valid_auroc,
            "valid_auprc": valid_auprc,
            "time": history.epoch_time[-1],
            "best": improved,
        }
        if regularizer is not None:
            record["regularization_loss"] = history.params["regularization_loss"][-1]
        logger.debug(format_epoch(record))
        if callback is not None:
            callback(record)
        if patience is not None and since_best >= patience and epoch < epochs:
            history.stopped_early = True
            logger.info("early stop after epoch %d; best epoch %d", epoch, history.best_epoch)
            break
    model.load_state_dict(best_state)


class _Schedule:
    """Learning-rate schedule: linear warm-up over the first epoch's steps, then halving after
    ``wait`` epochs without improvement of the monitor (not below lr / 64); "none": constant."""

    def __init__(self, opt, lr: float, kind: str, *, n_steps_warmup: int, wait: int) -> None:
        self.opt, self.lr, self.kind, self.wait = opt, float(lr), kind, wait
        self.n_warmup, self.step = n_steps_warmup, 0
        self.current, self.waited = float(lr), 0

    def _set(self, value: float) -> None:
        for group in self.opt.param_groups:
            group["lr"] = value

    def before_step(self) -> None:
        if self.kind == "none":
            return
        self.step += 1
        if self.step <= self.n_warmup:
            self._set(self.current * self.step / self.n_warmup)

    def after_epoch(self, since_best: int) -> None:
        if self.kind == "none":
            return
        self.waited = 0 if since_best == 0 else self.waited + 1
        if self.waited >= self.wait and self.current > self.lr / 64:
            self.current, self.waited = self.current / 2, 0
            logger.info("learning rate lowered to %g", self.current)
        self._set(self.current)


def _nanmean(values) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


__all__ = ["fit"]
