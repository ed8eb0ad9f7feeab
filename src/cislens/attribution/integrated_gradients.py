"""Integrated gradients (IG), with several references (expected gradients) and quadratures.

For an input x, a reference r and the target scalar f, IG integrates the gradient along the
straight path from r to x:

    gbar(r) = integral_0^1 grad f(r + a (x - r)) da       (approximated by a quadrature)
    raw IG  = (x - r) * gbar(r)                           (captum's output; all 4 channels)

With several references r_1..r_B per example (``baselines`` with B > 1, e.g. dinucleotide
shuffles), results are averaged over them (expected gradients / the IG-k of Prakash et al.).

cislens returns IG in the projected form shared with DeepLIFT (``hypothetical * X``), from the
hypothetical scores

    H[i, k] = mean_j ( gbar_j[i, k] - sum_b gbar_j[i, b] r_j[i, b] )

i.e. the IG contribution base k would make at position i, relative to the reference. At every
one-hot column of x the projected score ``sum_k x[i, k] H[i, k]`` equals the raw IG summed over
the four channels, for any reference: the per-position totals, and hence completeness
``sum(attributions) = f(x) - mean_j f(r_j)`` (up to the quadrature error), are the same in both
forms. At an all-zero (N) column of x the projected score is 0 while the raw total is
``-mean_j sum_b gbar_j[i, b] r_j[i, b]``; the two agree there only where the references are 0
(as for "zeros" and for shuffled references, which keep N in place). With the "zeros" reference
the projected output *is* raw IG, on any x.

Quadratures (nodes a_k, weights w_k summing to 1, ``n_steps`` nodes):

=====================  ======================================  =========================
``quadrature``         nodes                                   weights
=====================  ======================================  =========================
``"gausslegendre"``    (1 + xi_k) / 2, xi = Legendre nodes     w_k / 2
``"riemann_left"``     k / n, k = 0..n-1                       1 / n
``"riemann_right"``    k / n, k = 1..n                         1 / n
``"riemann_middle"``   (k + 1/2) / n                           1 / n
``"riemann_trapezoid"``  k / (n - 1), k = 0..n-1               1 / (n - 1), ends halved
=====================  ======================================  =========================

The trapezoid weights sum to 1 (captum's ``riemann_trapezoid`` uses 1/n with halved ends, which
sum to (n - 1)/n, so its attributions are (n - 1)/n times these).
"""

from __future__ import annotations

import functools
from typing import NamedTuple, cast

import numpy as np
import torch
from torch import nn

from cislens.attribution._common import (
    check_batch_size,
    prepare_inputs,
    resolve_baselines,
)
from cislens.attribution._docs import shared_parameters
from cislens.attribution.gradients import (
    DEFAULT_BATCH_SIZE,
    finish,
    input_gradients,
    progress,
    row_batches,
    running_model,
    selected_output,
)
from cislens.attribution.heads import explained_model
from cislens.utils.batching import predict_in_batches
from cislens.utils.random import resolve_seed
from cislens.utils.types import ArrayLike, Baselines, Device, OutputSpec, RandomState, TargetLike
from cislens.utils.validation import check_bool, check_choice, check_dtype, check_positive_int

QUADRATURES = (
    "gausslegendre",
    "riemann_left",
    "riemann_right",
    "riemann_middle",
    "riemann_trapezoid",
)
"""The values of ``integrated_gradients(quadrature=...)`` (captum's method names)."""


def quadrature_rule(n_steps: int, quadrature: str = "gausslegendre") -> tuple[np.ndarray, ...]:
    """Nodes in [0, 1] and weights (summing to 1) of an ``n_steps``-point quadrature.

    Examples
    --------
    >>> nodes, weights = quadrature_rule(3, "riemann_trapezoid")
    >>> nodes.tolist(), weights.tolist()
    ([0.0, 0.5, 1.0], [0.25, 0.5, 0.25])
    >>> round(float(quadrature_rule(5)[1].sum()), 12)
    1.0
    """
    check_choice(quadrature, QUADRATURES, name="quadrature")
    check_positive_int(n_steps, "n_steps")
    n = int(n_steps)
    if quadrature == "gausslegendre":
        xi, w = np.polynomial.legendre.leggauss(n)
        return (1.0 + xi) / 2.0, w / 2.0
    weights = np.full(n, 1.0 / n)
    if quadrature == "riemann_left":
        nodes = np.arange(n) / n
    elif quadrature == "riemann_right":
        nodes = np.arange(1, n + 1) / n
    elif quadrature == "riemann_middle":
        nodes = (np.arange(n) + 0.5) / n
    else:
        if n < 2:
            raise ValueError(
                f"n_steps must be at least 2 for quadrature='riemann_trapezoid'; got {n}."
            )
        nodes = np.linspace(0.0, 1.0, n)
        weights = np.full(n, 1.0 / (n - 1))
        weights[[0, -1]] /= 2
    return nodes, weights


REFERENCE_BLOCK = 64
"""Examples whose references are made at a time (bounds memory for many shuffles)."""


class _References:
    """Each example's references (B, 4, L), made block by block from ``baselines``.

    Names and callables are called on blocks of :data:`REFERENCE_BLOCK` examples with one int
    seed, so that memory stays bounded; cislens' reference makers depend only on the seed and
    each sequence, so the references do not depend on the blocks. Tensors are used as given.
    """

    def __init__(self, baselines, X: torch.Tensor, n_baselines, random_state):
        self.X, self.baselines, self.n_baselines = X, baselines, n_baselines
        self.full: torch.Tensor | None = None
        if isinstance(baselines, (torch.Tensor, np.ndarray)):
            self.full = resolve_baselines(baselines, X, n_baselines=n_baselines)
            self.seed = None
        else:
            self.seed = resolve_seed(random_state)
        self.block: torch.Tensor | None = None
        self.block_start = -1
        self.n_refs = self.block_of(0).shape[1]

    def block_of(self, example: int) -> torch.Tensor:
        start = example - example % REFERENCE_BLOCK
        if start != self.block_start:
            rows = slice(start, min(start + REFERENCE_BLOCK, self.X.shape[0]))
            if self.full is not None:
                block = self.full[rows]
            else:
                block = resolve_baselines(
                    self.baselines,
                    self.X[rows],
                    n_baselines=self.n_baselines,
                    random_state=self.seed,
                )
                if self.block is not None and block.shape[1] != self.n_refs:
                    raise ValueError(
                        f"baselines made {block.shape[1]} references per example for examples "
                        f"{rows.start}..{rows.stop - 1} but {self.n_refs} before; a callable "
                        "must make the same number for every block of examples."
                    )
            self.block, self.block_start = block, start
            return block
        return cast(torch.Tensor, self.block)  # made when block_start was set to this block

    def __getitem__(self, example: int) -> torch.Tensor:
        return self.block_of(example)[example - self.block_start]


def _integrated(
    model, X, target, refs, *, n_steps, quadrature, batch_size, device, dtype, verbose, outputs
):
    """Hypothetical scores H, raw IG (both (N, 4, L), ``dtype``) and, if ``outputs``, f(x), f(r).

    Rows (interpolation points) are ordered by example, reference, node; each example's
    path-averaged gradients are accumulated in float64 and reduced once all its rows are done.
    """
    batch_size = check_batch_size(batch_size)
    nodes, weights = quadrature_rule(n_steps, quadrature)
    n_examples, n_refs, n_nodes = X.shape[0], refs.n_refs, len(nodes)
    alphas = torch.as_tensor(nodes, dtype=dtype)
    weights = torch.as_tensor(weights, dtype=torch.float64)
    H = torch.empty_like(X)
    raw = torch.empty_like(X)
    f_x = torch.empty(n_examples, dtype=torch.float64)
    f_r = torch.empty(n_examples, n_refs, dtype=torch.float64)
    counts = [n_refs * n_nodes] * n_examples
    extra = n_examples * (1 + n_refs) if outputs else 0
    open_sums: dict[int, torch.Tensor] = {}
    with running_model(model, target, device=device, dtype=dtype) as (net, dev, resolved):
        with progress(sum(counts) + extra, verbose=verbose, desc="integrated_gradients") as bar:
            for segments in row_batches(counts, batch_size):
                parts, index = [], []
                for example, lo, hi in segments:
                    rows = torch.arange(lo, hi)
                    j, k = rows // n_nodes, rows % n_nodes
                    example_refs = refs[example]
                    r = example_refs[j]
                    a = alphas[k].view(-1, 1, 1)
                    parts.append(r + a * (X[example] - r))
                    index.append((example, j, k, hi, example_refs))
                batch = torch.cat(parts).to(device=dev, dtype=dtype)
                grads = input_gradients(net, batch, resolved).to("cpu", torch.float64)
                offset = 0
                for example, j, k, hi, example_refs in index:
                    size = len(j)
                    part = grads[offset : offset + size] * weights[k].view(-1, 1, 1)
                    if example not in open_sums:
                        open_sums[example] = torch.zeros(n_refs, *X.shape[1:], dtype=torch.float64)
                    sums = open_sums[example]
                    start = 0  # rows are sorted by reference: sum each run of one reference
                    refs_run, runs = torch.unique_consecutive(j, return_counts=True)
                    for ref, run in zip(refs_run.tolist(), runs.tolist(), strict=True):
                        sums[ref] += part[start : start + run].sum(dim=0)
                        start += run
                    offset += size
                    if hi == counts[example]:  # all rows of this example are done
                        gbar = open_sums.pop(example)
                        r = example_refs.to(torch.float64)
                        x = X[example].to(torch.float64)
                        hyp = gbar - (gbar * r).sum(dim=1, keepdim=True)
                        H[example] = hyp.mean(dim=0).to(dtype)
                        raw[example] = ((x - r) * gbar).mean(dim=0).to(dtype)
                bar.update(offset)
            if outputs:
                forward = functools.partial(selected_output, net, target=resolved)
                f_x[:] = predict_in_batches(forward, X, batch_size=batch_size, device=dev,
                                            dtype=dtype, on_batch=bar.update)  # fmt: skip
                with torch.no_grad():
                    for segments in row_batches([n_refs] * n_examples, batch_size):
                        batch = torch.cat([refs[i][lo:hi] for i, lo, hi in segments])
                        values = selected_output(net, batch.to(device=dev, dtype=dtype), resolved)
                        values = values.to("cpu", torch.float64)
                        offset = 0
                        for i, lo, hi in segments:
                            f_r[i, lo:hi] = values[offset : offset + hi - lo]
                            offset += hi - lo
                        bar.update(offset)
    return H, raw, f_x, f_r


def _prepare(X, baselines, n_baselines, random_state, dtype):
    check_dtype(dtype)
    X = prepare_inputs(X, dtype=dtype)
    return X, _References(baselines, X, n_baselines, random_state)


@shared_parameters
def integrated_gradients(
    model: nn.Module,
    X: ArrayLike,
    *,
    target: TargetLike = None,
    baselines: Baselines = "zeros",
    n_baselines: int | None = None,
    n_steps: int = 50,
    quadrature: str = "gausslegendre",
    hypothetical: bool = False,
    batch_size: int = DEFAULT_BATCH_SIZE,
    device: Device = None,
    random_state: RandomState = None,
    verbose: bool = False,
    dtype: torch.dtype = torch.float32,
    output: OutputSpec = None,
    input_layout: str = "NCL",
) -> torch.Tensor:
    """Integrated gradients, averaged over one or several references, in the projected form.

    See the module docstring for the definitions, the quadratures and how the projected form
    relates to captum's raw IG.

    Parameters
    ----------
    model : torch.nn.Module
        Maps one-hot (N, 4, L) to outputs (N, T); use logits for classifiers. Borrowed in eval
        mode and restored afterwards.
    {X}
    {target}
    baselines : str, callable, tensor or array
        The references: a name from :data:`cislens.shuffle.REFERENCES` ("zeros" (default, the
        all-N sequence: then the output equals captum's IG), "frequencies", "dinucleotide",
        "shuffle"), a callable ``(X, n, random_state) -> (N, n, 4, L)``, or a tensor (N, B, 4,
        L), (B, 4, L) or (4, L).
    n_baselines : int or None
        References per example made by a name or callable (None: the maker's default, 1 for
        "zeros" / "frequencies", 20 for the shuffles).
    n_steps : int
        Quadrature nodes per reference (default 50).
    quadrature : {"gausslegendre", "riemann_left", "riemann_right", "riemann_middle",
    "riemann_trapezoid"}
        The rule approximating the path integral (default "gausslegendre", as captum).
    hypothetical : bool
        False (default): projected scores ``H * X``. True: the hypothetical scores ``H`` of all
        four bases.
    batch_size : int
        Forward-pass rows per batch: interpolation points, across examples and references.
        Results do not depend on it. Default 128.
    {device}
    random_state : int, numpy.random.Generator or None
        Seed of the shuffled references, resolved to one int seed (a Generator gives one draw,
        None fresh entropy). Each sequence's shuffles depend only on it and on the sequence,
        not on the batch; references are made for blocks of 64 examples at a time, so a
        callable ``baselines`` is called once per block with that int seed.
    verbose : bool
        Show a progress bar over forward rows.
    {dtype}
    {output}
    {input_layout}

    Returns
    -------
    torch.Tensor
        Shape (N, 4, L), float32, on the CPU.

    Raises
    ------
    ValueError, TypeError
        Invalid ``X``, ``target``, ``baselines``, ``n_steps``, ``quadrature``.

    See Also
    --------
    integrated_gradients_completeness : the completeness gap per example.

    References
    ----------
    Sundararajan M, Taly A, Yan Q. Axiomatic attribution for deep networks. ICML (2017).
    Erion G et al. Improving performance of deep learning models with axiomatic attribution
    priors and expected gradients. Nature Machine Intelligence 3, 620-631 (2021).

    Examples
    --------
    For a linear model IG is exactly ``w * (x - r)``:

    >>> net = nn.Sequential(nn.Flatten(), nn.Linear(12, 1))
    >>> X = torch.eye(4)[torch.tensor([[0, 1, 3]])].transpose(1, 2)
    >>> attr = integrated_gradients(net, X, n_steps=2)
    >>> bool(torch.allclose(attr, X * net[1].weight.view(1, 4, 3)))
    True
    """
    model = explained_model(model, output=output, input_layout=input_layout)
    hypothetical = check_bool(hypothetical, name="hypothetical")
    X, refs = _prepare(X, baselines, n_baselines, random_state, dtype)
    H, _, _, _ = _integrated(
        model,
        X,
        target,
        refs,
        n_steps=n_steps,
        quadrature=quadrature,
        batch_size=batch_size,
        device=device,
        dtype=dtype,
        verbose=verbose,
        outputs=False,
    )
    return finish(H if hypothetical else H * X)


class IGCompleteness(NamedTuple):
    """What :func:`integrated_gradients_completeness` returns; per-example values are (N,).

    Attributes
    ----------
    attributions : torch.Tensor
        The projected IG (N, 4, L), float32: what :func:`integrated_gradients` returns.
    output_difference : torch.Tensor
        ``f(x) - mean_j f(r_j)``, float64.
    attribution_sum : torch.Tensor
        Sum of the projected attributions over channels and positions (from the ``dtype``
        values, before the cast to float32), float64.
    raw_attribution_sum : torch.Tensor
        Sum of captum-style raw IG ``mean_j (x - r_j) * gbar_j``, float64; equal to
        ``attribution_sum`` unless x has N columns where a reference is not 0.
    """

    attributions: torch.Tensor
    output_difference: torch.Tensor
    attribution_sum: torch.Tensor
    raw_attribution_sum: torch.Tensor

    @property
    def gap(self) -> torch.Tensor:
        """``attribution_sum - output_difference`` (N,): the completeness gap."""
        return self.attribution_sum - self.output_difference

    @property
    def raw_gap(self) -> torch.Tensor:
        """``raw_attribution_sum - output_difference`` (N,): the quadrature error alone."""
        return self.raw_attribution_sum - self.output_difference


def integrated_gradients_completeness(
    model: nn.Module,
    X: ArrayLike,
    *,
    target: TargetLike = None,
    baselines: Baselines = "zeros",
    n_baselines: int | None = None,
    n_steps: int = 50,
    quadrature: str = "gausslegendre",
    batch_size: int = DEFAULT_BATCH_SIZE,
    device: Device = None,
    random_state: RandomState = None,
    verbose: bool = False,
    dtype: torch.dtype = torch.float32,
) -> IGCompleteness:
    """Integrated gradients together with their completeness gap per example.

    Completeness says ``sum(IG) = f(x) - mean_j f(r_j)``; the gap measures how far the
    quadrature (``n_steps``, ``quadrature``) is from it. Increase ``n_steps`` until
    ``|gap|`` is small relative to ``|output_difference|``. The options are those of
    :func:`integrated_gradients` (with the same values, the attributions are identical); it
    costs ``N * (1 + B)`` extra forward rows for ``f(x)`` and ``f(r_j)``.

    Returns
    -------
    IGCompleteness
        ``attributions`` (N, 4, L) float32, and (N,) float64 ``output_difference``,
        ``attribution_sum``, ``raw_attribution_sum``, with properties ``gap`` and ``raw_gap``.

    Examples
    --------
    >>> net = nn.Sequential(nn.Flatten(), nn.Linear(12, 1), nn.Tanh())
    >>> X = torch.eye(4)[torch.tensor([[0, 1, 3], [2, 2, 0]])].transpose(1, 2)
    >>> coarse = integrated_gradients_completeness(net, X, n_steps=2, dtype=torch.float64)
    >>> fine = integrated_gradients_completeness(net, X, n_steps=8, dtype=torch.float64)
    >>> bool((fine.gap.abs() <= coarse.gap.abs()).all()), fine.gap.shape
    (True, torch.Size([2]))
    """
    X, refs = _prepare(X, baselines, n_baselines, random_state, dtype)
    H, raw, f_x, f_r = _integrated(
        model,
        X,
        target,
        refs,
        n_steps=n_steps,
        quadrature=quadrature,
        batch_size=batch_size,
        device=device,
        dtype=dtype,
        verbose=verbose,
        outputs=True,
    )
    projected = H * X
    return IGCompleteness(
        attributions=finish(projected),
        output_difference=f_x - f_r.mean(dim=1),
        attribution_sum=projected.to(torch.float64).sum(dim=(1, 2)),
        raw_attribution_sum=raw.to(torch.float64).sum(dim=(1, 2)),
    )


__all__ = [
    "QUADRATURES",
    "IGCompleteness",
    "integrated_gradients",
    "integrated_gradients_completeness",
    "quadrature_rule",
]
