"""The epoch loop of :func:`cislens.train.fit`: training steps, validation, best-epoch
tracking with early stopping, and the learning-rate schedule."""

from __future__ import annotations

import logging
import math
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from cislens.errors import CislensWarning
from cislens.train._checks import MONITORS
from cislens.train._data import TrainingData, batch_tensor
from cislens.train.evaluate import binary_metrics, predict_array
from cislens.train.history import History, format_epoch

logger = logging.getLogger("cislens.train.fit")


@dataclass
class LoopSettings:
    """The resolved settings of one training run (see ``fit`` for their meaning)."""

    device: torch.device
    epochs: int
    batch_size: int
    lr: float
    optimizer: str
    weight_decay: float
    patience: int | None
    max_batches: int | None
    reverse_complement: bool
    lr_schedule: str
    callback: object
    generator: torch.Generator
    verbose: bool


@dataclass
class _Losses:
    """Per-run tensors of the loss: which tasks are binary and their positive weights."""

    binary_mask: torch.Tensor
    pos_weight: torch.Tensor
    all_binary: bool

    def __call__(self, logits, y):
        bce = F.binary_cross_entropy_with_logits(
            logits, y, pos_weight=self.pos_weight, reduction="none"
        )
        if self.all_binary:
            return bce.mean()
        return torch.where(self.binary_mask, bce, (logits - y) ** 2).mean()


@dataclass
class _Tracker:
    """The best epoch so far (its weights) and the epochs since it improved."""

    history: History
    first_eligible: int
    best_state: dict | None = None
    since_best: int = 0
    mode: str = field(init=False)

    def __post_init__(self) -> None:
        self.mode = MONITORS[self.history.monitor]

    def _better(self, score: float) -> bool:
        if self.best_state is None:
            return True
        best = self.history.best_score
        if not math.isfinite(score):
            return False
        if not math.isfinite(best):
            return True
        return score < best if self.mode == "min" else score > best

    def update(self, model: nn.Module, epoch: int, score: float) -> bool:
        """Record the epoch's ``score``; keep the weights when it is the best so far."""
        if epoch < self.first_eligible:
            return False
        if not self._better(score):
            self.since_best += 1
            return False
        self.history.best_epoch, self.history.best_score, self.since_best = epoch, score, 0
        self.best_state = {
            key: value.detach().clone().cpu() for key, value in model.state_dict().items()
        }
        return True


class Schedule:
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


def make_optimizer(name: str, parameters, lr: float, weight_decay: float):
    """Adam, AdamW or SGD with momentum 0.9."""
    if name == "adam":
        return torch.optim.Adam(parameters, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(parameters, lr=lr, weight_decay=weight_decay)
    return torch.optim.SGD(parameters, lr=lr, momentum=0.9, weight_decay=weight_decay)


def _nanmean(values) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


def _first_eligible_epoch(model, epochs: int) -> int:
    """The first epoch that may become the best: ``model.regularization_settled_epoch``."""
    settled_epoch = int(getattr(model, "regularization_settled_epoch", 1))
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
            stacklevel=5,
        )
    return min(settled_epoch, epochs)


class _Run:
    """The state shared by the epochs of one training run."""

    def __init__(self, model, data: TrainingData, history: History, run: LoopSettings) -> None:
        self.model, self.data, self.history, self.run = model, data, history, run
        device = run.device
        binary = [kind == "binary" for kind in history.task_types]
        self.loss = _Losses(
            torch.tensor(binary, device=device),
            torch.tensor(history.pos_weight, dtype=torch.float32, device=device),
            all(binary),
        )
        self.binary_cols = [t for t, is_binary in enumerate(binary) if is_binary]
        trainable = [p for p in model.parameters() if p.requires_grad]
        self.opt = make_optimizer(run.optimizer, trainable, run.lr, run.weight_decay)
        self.has_batchnorm = any(
            isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()
        )
        self.n_batches = math.ceil(len(data.X_train) / run.batch_size)
        if run.max_batches is not None:
            self.n_batches = min(self.n_batches, run.max_batches)
        wait = max(1, (run.patience or 20) // 2)
        self.schedule = Schedule(
            self.opt, run.lr, run.lr_schedule, n_steps_warmup=self.n_batches, wait=wait
        )
        # Generic regularisation hook: a model may define regularization_loss(epoch) -> scalar
        # tensor (computed from its last training forward pass), added to the task loss of
        # every training step. Its objective may change with the epoch (warm-up schedules);
        # epochs before model.regularization_settled_epoch neither become the best epoch nor
        # count for patience.
        regularizer = getattr(model, "regularization_loss", None)
        self.regularizer = regularizer if callable(regularizer) else None
        if self.regularizer is not None:
            history.params["regularization_loss"] = []
        self.tracker = _Tracker(history, _first_eligible_epoch(model, run.epochs))
        self.Y_valid_t = torch.from_numpy(data.Y_valid).to(device)

    def _step(self, epoch: int, b: int, index) -> tuple[float, float | None]:
        """One optimizer step on the rows ``index``; returns (task loss, regulariser loss)."""
        run, model = self.run, self.model
        xb = batch_tensor(self.data.X_train, index)
        if run.reverse_complement:
            flip = torch.rand(len(index), generator=run.generator) < 0.5
            xb = torch.where(flip[:, None, None], xb.flip(1, 2), xb)
        yb = torch.from_numpy(self.data.Y_train[index]).to(run.device)
        self.opt.zero_grad(set_to_none=True)
        task_loss = self.loss(model(xb.to(run.device)), yb)
        loss, reg_loss = task_loss, None
        if self.regularizer is not None:
            loss = task_loss + self.regularizer(epoch)
            reg_loss = float(loss.detach()) - float(task_loss.detach())
        if not torch.isfinite(loss):
            raise ValueError(
                f"the training loss became {loss.item()} at epoch {epoch}, batch {b + 1}; "
                "lower the learning rate (lr)."
            )
        loss.backward()
        self.schedule.before_step()
        self.opt.step()
        return task_loss.item(), reg_loss

    def train_epoch(self, epoch: int) -> float:
        """One pass over the (shuffled) training data; the mean task loss."""
        run, batch_size = self.run, self.run.batch_size
        self.model.train()
        epoch_hook = getattr(self.model, "on_epoch_start", None)
        if callable(epoch_hook):
            # e.g. ARGMINN freezes its token batch norm once its regularisers start.
            epoch_hook(epoch)
        order = torch.randperm(len(self.data.X_train), generator=run.generator).numpy()
        losses, sizes, reg_losses = [], [], []
        bar = tqdm(
            range(self.n_batches),
            disable=not run.verbose,
            desc=f"epoch {epoch}/{run.epochs}",
            leave=False,
        )
        for b in bar:
            index = order[b * batch_size : (b + 1) * batch_size]
            if len(index) == 1 and self.has_batchnorm:
                continue
            task_loss, reg_loss = self._step(epoch, b, index)
            losses.append(task_loss)
            if reg_loss is not None:
                reg_losses.append(reg_loss)
            sizes.append(len(index))
            bar.set_postfix(loss=f"{losses[-1]:.4f}")
        if self.regularizer is not None:
            reg_mean = float(np.average(reg_losses, weights=sizes)) if reg_losses else math.nan
            self.history.params["regularization_loss"].append(reg_mean)
        return float(np.average(losses, weights=sizes)) if losses else float("nan")

    def validate(self) -> tuple[float, float, float]:
        """Validation loss, mean auROC and mean auPRC over the binary tasks."""
        self.model.eval()
        data, run = self.data, self.run
        logits = predict_array(
            self.model, data.X_valid, batch_size=run.batch_size, device=run.device
        )
        with torch.no_grad():
            valid_loss = float(self.loss(torch.from_numpy(logits).to(run.device), self.Y_valid_t))
        aurocs, auprcs = [], []
        for t in self.binary_cols:
            auroc, auprc, _ = binary_metrics(data.Y_valid[:, t], logits[:, t])
            aurocs.append(auroc)
            auprcs.append(auprc)
        return valid_loss, _nanmean(aurocs), _nanmean(auprcs)

    def epoch(self, epoch: int) -> bool:
        """Train and validate one epoch, record it; True when training should stop."""
        history, run = self.history, self.run
        epoch_start = time.perf_counter()
        train_loss = self.train_epoch(epoch)
        valid_loss, valid_auroc, valid_auprc = self.validate()
        history.train_loss.append(train_loss)
        history.valid_loss.append(valid_loss)
        history.valid_auroc.append(valid_auroc)
        history.valid_auprc.append(valid_auprc)
        scores = {"valid_loss": valid_loss, "valid_auroc": valid_auroc, "valid_auprc": valid_auprc}
        improved = self.tracker.update(self.model, epoch, scores[history.monitor])
        self.schedule.after_epoch(self.tracker.since_best)
        history.epoch_time.append(time.perf_counter() - epoch_start)
        record = {"epoch": epoch, "epochs": run.epochs, "train_loss": train_loss, **scores}
        record.update(time=history.epoch_time[-1], best=improved)
        if self.regularizer is not None:
            record["regularization_loss"] = history.params["regularization_loss"][-1]
        logger.debug(format_epoch(record))
        if run.callback is not None:
            run.callback(record)
        return run.patience is not None and self.tracker.since_best >= run.patience


def train_loop(model, data: TrainingData, history: History, run: LoopSettings) -> None:
    """Train ``model`` for up to ``run.epochs`` epochs; load the best epoch's weights."""
    state = _Run(model, data, history, run)
    for epoch in range(1, run.epochs + 1):
        if state.epoch(epoch) and epoch < run.epochs:
            history.stopped_early = True
            logger.info("early stop after epoch %d; best epoch %d", epoch, history.best_epoch)
            break
    model.load_state_dict(state.tracker.best_state)
