"""In-silico saturation mutagenesis (ISM): every single-base substitution, scored exactly.

This is the naive (exact) ISM: each edited sequence is run through the model in full, with the
edits of all sequences batched together (``batch_size`` counts edited sequences). Identity edits
are skipped (3 edits per one-hot position); at an all-zero (N) column all 4 bases are tried.

For position i and base b, ``delta[i, b] = f(x with base b at i) - f(x)`` (0 at the observed
base). The ``scores`` option turns the deltas into a hypothetical map ``H`` (N, 4, L):

- ``"centred"`` (default): ``H[i, b] = delta[i, b] - mean_c delta[i, c]`` (mean over the 4
  bases, the observed one counting 0); this is tangermeme's ``saturation_mutagenesis``.
- ``"neg_mean"``: ``H[i, b] = delta[i, b] - mean_{c != b} delta[i, c]``, i.e. ``f(x with b at
  i)`` minus the mean of ``f`` over the other three bases; at the observed base this is the
  classic per-position score ``-mean of the 3 alternative deltas``. It equals ``4/3 * centred``.
- ``"delta"``: ``H = delta`` (all four channels; 0 at the observed base).

The projected scores (the default) are ``H * X``; ``hypothetical=True`` returns ``H``.
"""

from __future__ import annotations

import functools

import torch
from torch import nn

from cislens.attribution._common import check_batch_size, prepare_inputs
from cislens.attribution._docs import shared_parameters
from cislens.attribution.cost import DEFAULT_MAX_POSITIONS, check_cost, estimate_cost
from cislens.attribution.fast_ism import choose_fast, fast_ism_deltas
from cislens.attribution.gradients import (
    DEFAULT_BATCH_SIZE,
    finish,
    progress,
    row_batches,
    running_model,
    selected_output,
)
from cislens.attribution.heads import explained_model
from cislens.utils.batching import predict_in_batches
from cislens.utils.random import check_random_state_arg
from cislens.utils.types import ArrayLike, Device, OutputSpec, RandomState, TargetLike
from cislens.utils.validation import check_bool, check_choice, check_dtype

SCORES = ("centred", "neg_mean", "delta")
"""The values of ``ism(scores=...)``."""


def _window(start, end, length: int) -> tuple[int, int]:
    """Resolve ``start`` / ``end`` with Python slice semantics; reject an empty window."""
    for name, value in (("start", start), ("end", end)):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise TypeError(f"{name} must be an int or None; got {value!r}.")
    first, stop, _ = slice(start, end).indices(length)
    if stop <= first:
        raise ValueError(
            f"start={start} and end={end} select no position of sequences of length {length} "
            "(Python slice semantics: end is exclusive and end=-1 drops the last base); pass "
            "start < end, or end=None for the whole sequence."
        )
    return first, stop


def _edits(x: torch.Tensor, first: int, stop: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(positions, bases) of the real single-base edits of one sequence (4, L) in the window.

    Ordered by position, then base. One-hot columns get the 3 other bases; all-zero columns
    (N) get all 4.
    """
    window = x[:, first:stop] != 0  # (4, W)
    keep = ~window  # the observed base is no edit
    positions, bases = torch.nonzero(keep.T, as_tuple=True)
    return positions + first, bases


def _naive_deltas(run, X, counts, first, stop, batch_size, bar, delta) -> None:
    """Fill ``delta`` (N, 4, W) with ``f(edit) - f(x)``, every edited sequence run in full.

    ``run`` is ``(forward, device, dtype)``, ``forward`` mapping a batch to its (B,) target
    scalars; edits of several sequences share a batch of ``batch_size`` rows.
    """
    forward, dev, dtype = run
    reference = predict_in_batches(forward, X, batch_size=batch_size, device=dev, dtype=dtype,
                                   on_batch=bar.update).to(dtype)  # fmt: skip
    current: list = [None, None]  # rows come in example order: keep one sequence's edits

    def edits_of(example: int) -> tuple[torch.Tensor, torch.Tensor]:
        if current[0] != example:
            current[:] = [example, _edits(X[example], first, stop)]
        return current[1]

    with torch.no_grad():
        for segments in row_batches(counts, batch_size):
            parts, where = [], []
            for example, lo, hi in segments:
                positions, bases = (edit[lo:hi] for edit in edits_of(example))
                where.append((example, positions, bases))
                rows = X[example].expand(hi - lo, -1, -1).clone()
                index = torch.arange(hi - lo)
                rows[index, :, positions] = 0
                rows[index, bases, positions] = 1
                parts.append(rows)
            batch = torch.cat(parts).to(device=dev, dtype=dtype)
            outputs = forward(batch).to("cpu", dtype)
            offset = 0
            for example, positions, bases in where:
                size = len(positions)
                values = outputs[offset : offset + size] - reference[example]
                delta[example, bases, positions - first] = values
                offset += size
            bar.update(offset)


@shared_parameters
def ism(
    model: nn.Module,
    X: ArrayLike,
    *,
    target: TargetLike = None,
    scores: str = "centred",
    hypothetical: bool = False,
    start: int | None = 0,
    end: int | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    device: Device = None,
    random_state: RandomState = None,
    verbose: bool = False,
    dtype: torch.dtype = torch.float32,
    fast: bool | None = None,
    output: OutputSpec = None,
    input_layout: str = "NCL",
    max_positions: float | None = DEFAULT_MAX_POSITIONS,
) -> torch.Tensor:
    """In-silico saturation mutagenesis: the effect of every single-base substitution.

    Parameters
    ----------
    model : torch.nn.Module
        Maps one-hot (N, 4, L) to outputs (N, T); use logits for classifiers. Borrowed in eval
        mode and restored afterwards.
    X : torch.Tensor or numpy.ndarray
        One-hot sequences (N, 4, L), channels A, C, G, T; all-zero columns (N) allowed.
    target : int, callable or None
        The output explained: an index in [0, T), a callable mapping the output (B, T) to (B,),
        or None for a single-output model (None on a multi-output model raises; outputs are
        never averaged).
    scores : {"centred", "neg_mean", "delta"}
        How deltas become scores (see the module docstring). With ``delta = f(x with base b at
        i) - f(x)``:

        - "centred" (default): ``delta - mean over the 4 bases`` at each position;
        - "neg_mean": ``delta[b] - mean of delta over the 3 other bases``, so the projected score
          of the observed base is ``-mean of the 3 alternative deltas`` (the classic score);
        - "delta": the raw deltas. They are 0 at the observed base, so their projection is all
          zeros: "delta" requires ``hypothetical=True``.
    hypothetical : bool
        False (default): projected scores ``H * X`` (one value per position, at the observed
        base). True: the scores ``H`` of all four bases.
    start, end : int or None
        Mutate positions ``start:end`` only (Python slice semantics: ``end`` is exclusive and
        negative values count from the end, so ``end=-1`` leaves out the last base, unlike
        tangermeme; ``end=None``, the default, goes to the end). Scores outside are 0.
    batch_size : int
        Forward-pass rows per batch: edited (and original) sequences, across examples. The
        window path (``fast``) runs as many edits per batch as fit in the memory of
        ``batch_size`` full rows (its windows are much smaller than a row), capped on the CPU
        to stay in the caches. Results do not depend on it. Default 128.
    device : str, torch.device or None
        Where to run; None picks CUDA when available. Results come back on the CPU.
    random_state : int, numpy.random.Generator or None
        Accepted for the common signature; unused (ISM is deterministic).
    verbose : bool
        Show a progress bar over forward rows.
    dtype : torch.dtype
        Compute dtype of the model and inputs (default float32; float64 for exact checks).
    fast : bool or None
        Window-restricted ISM (:mod:`cislens.attribution.fast_ism`), equal to the naive one up to
        rounding. None (default): used when the model's structure allows it (the log says which
        path ran and why); True: required (raises naming the unsupported layer); False: naive.
    {output}
    {input_layout}
    max_positions : float or None
        ISM's cost grows with the square of the length, so it states its estimated cost up
        front (logged) and refuses, before any work, a call over this many positions (forward
        rows x length; default 1e10, see :mod:`cislens.attribution.cost`); None lifts the limit.

    Returns
    -------
    torch.Tensor
        Shape (N, 4, L), float32, on the CPU.

    Raises
    ------
    ValueError, TypeError
        Invalid ``X``, ``target``, ``scores``, an empty window, ``scores="delta"`` without
        ``hypothetical=True``.

    Notes
    -----
    Cost: ``N + sum_i (edits of sequence i)`` forward rows, about ``3 * (end - start)`` per
    sequence. The deltas are ``f(edit) - f(x)`` computed in ``dtype``.

    Examples
    --------
    A linear model's deltas are differences of weights:

    >>> net = nn.Sequential(nn.Flatten(), nn.Linear(8, 1))
    >>> X = torch.eye(4)[torch.tensor([[0, 2]])].transpose(1, 2)  # "AG"
    >>> H = ism(net, X, scores="delta", hypothetical=True, dtype=torch.float64)
    >>> w = net[1].weight.detach().view(4, 2).double()
    >>> bool(torch.allclose(H[0, :, 0], (w[:, 0] - w[0, 0]).float()))
    True
    >>> ism(net, X).sum(1).shape  # projected: one score per position
    torch.Size([1, 2])
    """
    model = explained_model(model, output=output, input_layout=input_layout)
    check_dtype(dtype)
    check_random_state_arg(random_state)
    check_choice(scores, SCORES, name="scores")
    hypothetical = check_bool(hypothetical, name="hypothetical")
    if scores == "delta" and not hypothetical:
        raise ValueError(
            "scores='delta' is 0 at the observed base by definition, so its projection is all "
            "zeros; pass hypothetical=True for the deltas of all four bases, or scores='centred' "
            "or 'neg_mean' for projected scores."
        )
    batch_size = check_batch_size(batch_size)
    X = prepare_inputs(X, dtype=dtype)
    n_examples, _, length = X.shape
    first, stop = _window(start, end, length)
    cost = estimate_cost("ism", tuple(X.shape), start=start, end=end, batch_size=batch_size,
                         dtype=dtype)  # fmt: skip
    check_cost(cost, max_positions)

    # Edits per sequence: 4 per window position minus one per observed (one-hot) base.
    observed = (X[:, :, first:stop] != 0).sum(dim=(1, 2))
    counts = (4 * (stop - first) - observed).tolist()
    delta = torch.zeros(n_examples, 4, stop - first, dtype=dtype)
    with running_model(model, target, device=device, dtype=dtype) as (net, dev, resolved):
        with progress(n_examples + sum(counts), verbose=verbose, desc="ism") as bar:
            # the capture specialises on the length: one row of X is the example
            plan = choose_fast(net, fast, X[:1].to(device=dev, dtype=dtype))
            if plan is not None:
                fast_ism_deltas(plan, X, first=first, stop=stop, batch_size=batch_size,
                                device=dev, dtype=dtype, resolved=resolved, bar=bar,
                                delta=delta)  # fmt: skip
            else:
                run = (functools.partial(selected_output, net, target=resolved), dev, dtype)
                _naive_deltas(run, X, counts, first, stop, batch_size, bar, delta)

    if scores == "delta":
        H = delta
    elif scores == "centred":
        H = delta - delta.mean(dim=1, keepdim=True)
    else:  # neg_mean: delta[b] - (sum over the other 3 bases) / 3
        others = [[c for c in range(4) if c != b] for b in range(4)]
        H = delta - torch.stack([delta[:, index].sum(dim=1) for index in others], dim=1) / 3
    out = torch.zeros(n_examples, 4, length, dtype=dtype)
    out[:, :, first:stop] = H
    return finish(out if hypothetical else out * X)


__all__ = ["SCORES", "ism"]
