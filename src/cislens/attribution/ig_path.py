"""The integrated-gradients path diagnostic: the model's predictions along the straight path
from each reference to its input.

Integrated gradients averages the gradient over the inputs ``r + alpha (x - r)``, alpha in
[0, 1]. The attributions are only as meaningful as those points are: when the model's
prediction jumps at one alpha, or the path runs through inputs the model never saw, the path
integral is dominated by that region. :func:`integrated_gradients_path_density` returns the
prediction at every alpha for every input and reference, so that the density of predictions per
alpha can be drawn (:func:`plot_path_density`), as in Shrikumar's talk: from
dinucleotide-shuffled references (alpha 0) to the original sequences (alpha 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from cislens.attribution._common import (
    batch_slices,
    check_batch_size,
    prepare_inputs,
    resolve_baselines,
)
from cislens.attribution.gradients import (
    DEFAULT_BATCH_SIZE,
    progress,
    running_model,
    selected_output,
)
from cislens.attribution.heads import explained_model
from cislens.utils.random import resolve_seed
from cislens.utils.types import ArrayLike, Baselines, Device, OutputSpec, RandomState, TargetLike
from cislens.utils.validation import check_dtype


@dataclass(repr=False)
class IGPathDensity:
    """What :func:`integrated_gradients_path_density` returns.

    Attributes
    ----------
    alphas : numpy.ndarray
        (S,) the interpolation points, 0 (the references) to 1 (the inputs).
    predictions : numpy.ndarray
        (S, N, B) float64: the target output at ``r_j + alpha_s (x_i - r_j)``.
    baselines : str
        What the references were (the name, or "given" for an array).
    """

    alphas: np.ndarray
    predictions: np.ndarray
    baselines: str = "given"

    @property
    def baseline_predictions(self) -> np.ndarray:
        """(N, B): the predictions at alpha 0, the references'."""
        return self.predictions[0]

    @property
    def input_predictions(self) -> np.ndarray:
        """(N,): the predictions at alpha 1, the inputs'."""
        return self.predictions[-1, :, 0]

    def __repr__(self) -> str:
        steps, n, b = self.predictions.shape
        return (
            f"IGPathDensity({steps} alphas from {self.alphas[0]:g} to {self.alphas[-1]:g}, "
            f"{n} inputs x {b} references ({self.baselines}); mean prediction "
            f"{self.predictions[0].mean():.3g} at alpha 0, "
            f"{self.predictions[-1].mean():.3g} at alpha 1)"
        )


def _alphas(n_alphas) -> np.ndarray:
    if isinstance(n_alphas, (int, np.integer)) and not isinstance(n_alphas, bool):
        if n_alphas < 2:
            raise ValueError(f"n_alphas must be at least 2 (alpha 0 and 1); got {n_alphas}.")
        return np.linspace(0.0, 1.0, int(n_alphas))
    alphas = np.asarray(n_alphas, dtype=float)
    if (
        alphas.ndim != 1
        or len(alphas) < 2
        or alphas[0] != 0
        or alphas[-1] != 1
        or (np.diff(alphas) <= 0).any()
    ):
        raise ValueError(
            "n_alphas must be an int >= 2 or increasing values from 0 to 1; got "
            f"{n_alphas!r}. Pass e.g. 11 or [0, 0.5, 1]."
        )
    return alphas


def integrated_gradients_path_density(
    model: nn.Module,
    X: ArrayLike,
    *,
    target: TargetLike = None,
    baselines: Baselines = "dinucleotide",
    n_baselines: int | None = 1,
    n_alphas: int = 11,
    batch_size: int = DEFAULT_BATCH_SIZE,
    device: Device = None,
    random_state: RandomState = None,
    verbose: bool = False,
    dtype: torch.dtype = torch.float32,
    output: OutputSpec = None,
    input_layout: str = "NCL",
) -> IGPathDensity:
    """The model's predictions along the integrated-gradients path, per alpha.

    Parameters
    ----------
    model : torch.nn.Module
        Maps one-hot (N, 4, L) to outputs (N, T) (use logits). Borrowed in eval mode.
    X : array or tensor
        One-hot inputs (N, 4, L).
    target : int, callable or None
        The output whose predictions are returned (None: the single output).
    baselines : str, callable, tensor or array
        The references, as in :func:`cislens.attribution.integrated_gradients`; default
        "dinucleotide" (dinucleotide shuffles of each input).
    n_baselines : int or None
        References per input made by a name or callable (default 1).
    n_alphas : int or sequence of float
        How many evenly spaced alphas from 0 to 1 (default 11), or the alphas themselves
        (increasing, first 0, last 1).
    batch_size : int
        Forward rows per batch (results do not depend on it).
    device : str, torch.device or None
        Where to compute (None: the model's device).
    random_state : int, numpy.random.Generator or None
        Seed of the shuffled references.
    verbose : bool
        Show a progress bar.
    dtype : torch.dtype
        Precision of the forward passes (default float32).
    output, input_layout
        How to read the model (see :func:`cislens.attribution.heads.explained_model`).

    Returns
    -------
    IGPathDensity
        ``alphas`` (S,) and ``predictions`` (S, N, B); alpha 0 gives the references'
        predictions, alpha 1 the inputs'.

    Examples
    --------
    >>> net = nn.Sequential(nn.Flatten(), nn.Linear(12, 1))
    >>> X = torch.eye(4)[torch.tensor([[0, 1, 3], [2, 2, 0]])].transpose(1, 2)
    >>> path = integrated_gradients_path_density(net, X, baselines="zeros", n_alphas=3)
    >>> path.predictions.shape
    (3, 2, 1)
    >>> bool(np.allclose(path.input_predictions, net(X)[:, 0].detach().numpy(), atol=1e-6))
    True
    """
    model = explained_model(model, output=output, input_layout=input_layout)
    check_dtype(dtype)
    batch_size = check_batch_size(batch_size)
    alphas = _alphas(n_alphas)
    X = prepare_inputs(X, dtype=dtype)
    seed = None if isinstance(baselines, (torch.Tensor, np.ndarray)) else resolve_seed(random_state)
    refs = resolve_baselines(baselines, X, n_baselines=n_baselines, random_state=seed).to(dtype)
    n, b = refs.shape[:2]
    # Rows ordered (alpha, input, reference): row r is alpha r // (N B), pair r % (N B).
    flat_refs = refs.reshape(n * b, *X.shape[1:])
    flat_x = X.repeat_interleave(b, dim=0)
    weights = torch.as_tensor(alphas, dtype=dtype)
    total = len(alphas) * n * b
    values = torch.empty(total, dtype=torch.float64)
    with running_model(model, target, device=device, dtype=dtype) as (net, dev, resolved):
        with progress(total, verbose=verbose, desc="ig path") as bar, torch.no_grad():
            for rows in batch_slices(total, batch_size):
                index = torch.arange(rows.start, rows.stop)
                a = weights[index // (n * b)].view(-1, 1, 1)
                pair = index % (n * b)
                r = flat_refs[pair]
                batch = (r + a * (flat_x[pair] - r)).to(device=dev, dtype=dtype)
                values[rows] = selected_output(net, batch, resolved).to("cpu", torch.float64)
                bar.update(rows.stop - rows.start)
    name = baselines if isinstance(baselines, str) else "given"
    return IGPathDensity(alphas, values.numpy().reshape(len(alphas), n, b), name)


def plot_path_density(path: IGPathDensity, *, ax=None, title: str | None = None):
    """Draw one violin of the predictions per alpha (references at 0, inputs at 1); return the
    axes.

    Examples
    --------
    >>> path = IGPathDensity(np.linspace(0, 1, 3), np.arange(12.0).reshape(3, 4, 1), "zeros")
    >>> len(plot_path_density(path).collections) >= 3
    True
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(7, 2.8))
    data = [row.ravel() for row in path.predictions]
    width = 0.8 * float(np.min(np.diff(path.alphas)))
    parts = ax.violinplot(data, positions=path.alphas, widths=width, showmedians=True)
    colours = ["tab:gray"] + ["tab:blue"] * (len(data) - 2) + ["tab:red"]
    for body, colour in zip(parts["bodies"], colours, strict=True):
        body.set_facecolor(colour)
        body.set_alpha(0.5)
    ax.set_xlabel(f"alpha (0: {path.baselines} references, 1: the original sequences)")
    ax.set_ylabel("prediction (logit)")
    if title:
        ax.set_title(title, fontsize=9, loc="left")
    return ax


__all__ = ["IGPathDensity", "integrated_gradients_path_density", "plot_path_density"]
