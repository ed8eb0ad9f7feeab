"""DeepLIFT and DeepLiftShap on one-hot DNA: the public functions.

Both explain one scalar per sequence (``target``) by the change of the model's pre-activation
logit between each input x and its references r. For every example-reference pair the engine
computes DeepLIFT multipliers ``m`` for all four channels (see :mod:`.propagate`), checks
summation-to-delta on ``m * (x - r)`` (see :mod:`.checks`), then forms the hypothetical
contributions ``H = m_k - sum_b m_b r_b`` (``docs/algorithms.md`` section 2.3), averages them
over the references and, unless ``hypothetical=True``, projects them onto the observed bases
(``H * X``).
"""

from __future__ import annotations

import torch
from torch import nn

from cislens.attribution._common import check_batch_size, prepare_inputs, resolve_baselines
from cislens.attribution.deeplift_engine import checks
from cislens.attribution.deeplift_engine.pairs import Recorder, check_options, iterate_pairs
from cislens.attribution.heads import explained_model
from cislens.utils.batching import DEFAULT_BATCH_SIZE
from cislens.utils.types import ArrayLike, Baselines, Device, OutputSpec, RandomState, TargetLike
from cislens.utils.validation import check_positive_int

_PARAMETERS = {
    "model": """model : torch.nn.Module
        Maps one-hot (N, 4, L) to (N, T) (or (N,)), or see ``output=``; any forward pass built
        from the supported operations (see :mod:`cislens.attribution.deeplift_engine`). Run in eval
        mode on ``device`` in ``dtype``; afterwards it is exactly as it was.""",
    "X": """X : torch.Tensor or numpy.ndarray (N, 4, L)
        One-hot sequences (A, C, G, T); all-zero columns (N) allowed.""",
    "target": """target : int, callable or None
        The output to explain: an index into the T outputs, or a callable mapping the logits
        (B, T) to (B,) that must be linear in them (e.g. a difference of two logits). None is
        allowed only for a single-output model. A final sigmoid is dropped and a final softmax
        or log-softmax replaced by mean-centred logits (section 1.8), so the explained value is
        a logit.""",
    "rule": """rule : {"rescale", "reveal_cancel", "genomics_default"}
        Rule for the elementwise nonlinearities. "genomics_default" (DeepLIFT's genomics mode):
        Rescale where a nonlinearity is fed (through batch norm, dropout, pooling, reshapes,
        softmaxes or elementwise products) by a convolution, RevealCancel where it is fed by a
        dense layer or a matrix product of activations. Max pooling, products of activations
        and softmaxes inside the network have one rule each under every setting.""",
    "hypothetical": """hypothetical : bool
        False (default): projected scores ``H * X``. True: the hypothetical contributions
        ``H[i, k] = m[i, k] - sum_b m[i, b] r[i, b]`` of all four bases, averaged over the
        references (the input of TF-MoDISco).""",
    "batch_size": """batch_size : int
        Forward-pass rows per batch (inputs and references together, default 128); results
        do not depend on it.""",
    "device": """device : str, torch.device or None
        None: CUDA when available, else the CPU. Results come back on the CPU.""",
    "random_state": """random_state : int, numpy.random.Generator or None
        Seed of the reference maker (shuffles depend on each sequence's content, the seed and
        the shuffle index only).""",
    "verbose": """verbose : bool
        Show a progress bar.""",
    "dtype": """dtype : torch.float32 or torch.float64
        Precision of the computation (default float32); float64 for strict checks. The output
        is float32 either way.""",
    "tolerance": """tolerance : float
        Largest relative summation-to-delta error allowed per example-reference pair (default
        1e-3; see :mod:`cislens.attribution.deeplift_engine.checks` for the definition).""",
    "on_check_failure": """on_check_failure : {"raise", "warn"}
        What a failed check does: raise :class:`SummationToDeltaError` (default, listing the
        worst pairs) or warn with :class:`~cislens.errors.CislensWarning`.""",
    "fast": """fast : bool or None
        None (default): the fast path (one real forward pass per input and per reference, the
        multipliers applied in the backward pass; see
        :mod:`cislens.attribution.deeplift_engine.fast`) whenever every nonlinearity uses
        Rescale, else the difference-network path; the log
        says which ran. True: require the fast path (raises naming the operation that
        prevents it). False: the difference network. Both agree up to rounding and both check
        every pair.""",
    "output": """output : None, int, str, callable or tuple
        Which model output to explain when it is not one (N, T) tensor: an index into a
        returned tuple, a key of a returned dict, a callable, a head ("profile", "counts",
        "sum", "mean") or (index or key, head); see :mod:`cislens.attribution.heads`. The
        selection is part of the explained computation (its operations get DeepLIFT rules).""",
    "input_layout": """input_layout : {"NCL", "NLC"}
        The layout the model takes: (N, 4, L) (default) or (N, L, 4). ``X`` and the result
        are (N, 4, L) either way.""",
}


def _doc(*names: str):
    """Fill ``{parameters}`` (model, X, target) and ``{options}`` (the named options)."""

    def decorate(fn):
        def text(keys):
            return "\n    ".join(_PARAMETERS[key] for key in keys)

        doc = fn.__doc__.replace("{parameters}", text(("model", "X", "target")))
        fn.__doc__ = doc.replace("{options}", text(names))
        return fn

    return decorate


_COMMON = (
    "rule",
    "hypothetical",
    "batch_size",
    "device",
    "random_state",
    "verbose",
    "dtype",
    "tolerance",
    "on_check_failure",
    "fast",
    "output",
    "input_layout",
)


def _accumulate(total: torch.Tensor, examples: torch.Tensor, values: torch.Tensor) -> None:
    """``total[e] += v`` for each pair, each example's pairs added one by one in order.

    The pairs come grouped by example in reference order, so round ``k`` adds the k-th pair of
    every example in the batch (one ``index_add_`` with distinct rows, hence exactly
    ``total[e] + v``): every example's sum is the same left fold over its references whatever
    the batches, so results do not depend on ``batch_size``.
    """
    _, counts = torch.unique_consecutive(examples, return_counts=True)
    starts = torch.cumsum(counts, 0) - counts
    rounds = [starts[counts > k] + k for k in range(int(counts.max()))]
    order = torch.cat(rounds)  # round-major: one gather, then contiguous slices per round
    rows, ordered = examples[order], values[order]
    first = 0
    for chosen in rounds:
        last = first + chosen.numel()
        total.index_add_(0, rows[first:last], ordered[first:last])
        first = last


def _run(
    model,
    X,
    baselines,
    n_baselines,
    *,
    target,
    rule,
    hypothetical,
    batch_size,
    device,
    random_state,
    verbose,
    dtype,
    tolerance,
    on_check_failure,
    method,
    fast=None,
    accumulate=True,
    output=None,
    input_layout="NCL",
):
    model = explained_model(model, output=output, input_layout=input_layout)
    check_options(rule, dtype, tolerance, on_check_failure, hypothetical)
    batch_size = check_batch_size(batch_size)
    X = prepare_inputs(X, dtype=dtype)
    R = resolve_baselines(baselines, X, n_baselines=n_baselines, random_state=random_state)
    n_examples, n_refs = R.shape[:2]
    total = torch.zeros(X.shape, dtype=dtype) if accumulate else None
    recorder = Recorder(n_examples, n_refs, dtype)
    for examples, refs, result in iterate_pairs(
        model,
        X,
        R,
        target=target,
        rule=rule,
        batch_size=batch_size,
        device=device,
        dtype=dtype,
        verbose=verbose,
        fast=fast,
    ):
        m, r = result.multipliers, R[examples, refs]
        recorder.add(examples, refs, result, m * (X[examples] - r))
        if total is None:
            continue
        hyp = m - (m * r).sum(1, keepdim=True)  # H = m_k - sum_b m_b r_b (section 2.3)
        _accumulate(total, examples, hyp)
    deltas = recorder.result(tolerance)
    if total is None:
        return None, deltas
    checks.enforce(deltas, on_check_failure, method=method)
    hypothetical_scores = total / n_refs
    out = hypothetical_scores if hypothetical else hypothetical_scores * X
    return out.to(torch.float32), deltas


@_doc(*_COMMON)
def deeplift(
    model: nn.Module,
    X: ArrayLike,
    *,
    target: TargetLike = None,
    baselines: Baselines = "frequencies",
    n_baselines: int | None = None,
    rule: str = "rescale",
    hypothetical: bool = False,
    batch_size: int = DEFAULT_BATCH_SIZE,
    device: Device = None,
    random_state: RandomState = None,
    verbose: bool = False,
    dtype: torch.dtype = torch.float32,
    tolerance: float = 1e-3,
    on_check_failure: str = "raise",
    fast: bool | None = None,
    output: OutputSpec = None,
    input_layout: str = "NCL",
) -> torch.Tensor:
    """DeepLIFT attributions (Shrikumar et al. 2017) against fixed references.

    Parameters
    ----------
    {parameters}
    baselines : str, callable or tensor
        References: "frequencies" (default; every column (0.3, 0.2, 0.2, 0.3)), "zeros",
        "dinucleotide", "shuffle", a callable ``(X, n, random_state) -> (N, n, 4, L)``, or a
        tensor (N, B, 4, L), (B, 4, L) or (4, L). Several references are averaged.
    n_baselines : int or None
        References per sequence made by a name or callable (None: the maker's default).
    {options}

    Returns
    -------
    torch.Tensor (N, 4, L), float32 on the CPU
        Projected contributions ``H * X`` (or ``H`` with ``hypothetical=True``). They sum over
        positions and channels to ``f(x) - mean_j f(r_j)`` (except at N columns).

    Raises
    ------
    cislens.errors.UnsupportedModelError
        The model contains an operation without an exact DeepLIFT rule (the message names it).
    SummationToDeltaError
        Some example-reference pair breaks summation-to-delta (``on_check_failure="raise"``).
    ValueError, TypeError
        Invalid inputs or options.

    Examples
    --------
    >>> from torch import nn
    >>> from cislens import one_hot_encode
    >>> net = nn.Sequential(nn.Conv1d(4, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8, 1))
    >>> X = one_hot_encode(["ACGTAC", "TTGACA"])
    >>> attr = deeplift(net, X, baselines="zeros", dtype=torch.float64)
    >>> attr.shape, attr.dtype
    (torch.Size([2, 4, 6]), torch.float32)
    >>> with torch.no_grad():
    ...     delta = net(X) - net(torch.zeros(1, 4, 6))
    >>> bool(torch.allclose(attr.sum((1, 2)), delta[:, 0], atol=1e-5))
    True

    References
    ----------
    Shrikumar A, Greenside P, Kundaje A. Learning important features through propagating
    activation differences. ICML 2017 (arXiv:1704.02685).
    """
    out, _ = _run(
        model,
        X,
        baselines,
        n_baselines,
        target=target,
        rule=rule,
        hypothetical=hypothetical,
        batch_size=batch_size,
        device=device,
        random_state=random_state,
        verbose=verbose,
        dtype=dtype,
        tolerance=tolerance,
        on_check_failure=on_check_failure,
        method="deeplift",
        fast=fast,
        output=output,
        input_layout=input_layout,
    )
    return out


@_doc(*_COMMON)
def deeplift_shap(
    model: nn.Module,
    X: ArrayLike,
    *,
    target: TargetLike = None,
    n_shuffles: int = 20,
    baselines: Baselines = "dinucleotide",
    rule: str = "rescale",
    hypothetical: bool = False,
    batch_size: int = DEFAULT_BATCH_SIZE,
    device: Device = None,
    random_state: RandomState = None,
    verbose: bool = False,
    dtype: torch.dtype = torch.float32,
    tolerance: float = 1e-3,
    on_check_failure: str = "raise",
    fast: bool | None = None,
    output: OutputSpec = None,
    input_layout: str = "NCL",
) -> torch.Tensor:
    """DeepLiftShap: DeepLIFT averaged over shuffled references of each sequence.

    Parameters
    ----------
    {parameters}
    n_shuffles : int
        References per sequence (default 20).
    baselines : str, callable or tensor
        The reference maker, default "dinucleotide" (exact uniform dinucleotide shuffles of each
        sequence); any ``baselines`` value of :func:`deeplift`.
    {options}

    Returns
    -------
    torch.Tensor (N, 4, L), float32 on the CPU
        Projected contributions ``H * X`` (``H`` with ``hypothetical=True``), averaged over the
        references; they sum to ``f(x) - mean_j f(r_j)`` (except at N columns).

    Raises
    ------
    cislens.errors.UnsupportedModelError, SummationToDeltaError, ValueError, TypeError
        As :func:`deeplift`.

    Examples
    --------
    >>> from torch import nn
    >>> from cislens import one_hot_encode
    >>> net = nn.Sequential(nn.Conv1d(4, 2, 3), nn.ReLU(), nn.MaxPool1d(2), nn.Flatten(),
    ...                     nn.Linear(12, 1))
    >>> X = one_hot_encode(["ACGTACGTAGCAAT"])
    >>> attr = deeplift_shap(net, X, n_shuffles=4, random_state=0)
    >>> attr.shape
    torch.Size([1, 4, 14])
    """
    check_positive_int(n_shuffles, "n_shuffles")
    out, _ = _run(
        model,
        X,
        baselines,
        int(n_shuffles),
        target=target,
        rule=rule,
        hypothetical=hypothetical,
        batch_size=batch_size,
        device=device,
        random_state=random_state,
        verbose=verbose,
        dtype=dtype,
        tolerance=tolerance,
        on_check_failure=on_check_failure,
        method="deeplift_shap",
        fast=fast,
        output=output,
        input_layout=input_layout,
    )
    return out


@_doc(
    "rule",
    "batch_size",
    "device",
    "random_state",
    "verbose",
    "dtype",
    "tolerance",
    "fast",
    "output",
    "input_layout",
)
def summation_deltas(
    model,
    X,
    *,
    target=None,
    baselines="frequencies",
    n_baselines=None,
    rule="rescale",
    batch_size=DEFAULT_BATCH_SIZE,
    device=None,
    random_state=None,
    verbose=False,
    dtype=torch.float32,
    tolerance=1e-3,
    fast=None,
    output=None,
    input_layout="NCL",
) -> checks.SummationDeltas:
    """Summation-to-delta diagnostics of every example-reference pair (never raises for them).

    Runs the same computation as :func:`deeplift` (and, with ``baselines="dinucleotide"`` and
    ``n_baselines=n_shuffles``, as :func:`deeplift_shap` with the same ``random_state``) and
    returns, per pair, the sum of the contributions, ``f(x) - f(r)`` and the errors.

    Parameters
    ----------
    {parameters}
    baselines, n_baselines
        As in :func:`deeplift`.
    {options}

    Returns
    -------
    SummationDeltas
        Tensors of shape (N, J): ``contributions``, ``deltas``, ``absolute_errors``,
        ``relative_errors``; ``passed``, ``worst(k)``, ``describe()``.

    Examples
    --------
    >>> from torch import nn
    >>> from cislens import one_hot_encode
    >>> net = nn.Sequential(nn.Conv1d(4, 2, 3), nn.ELU(), nn.Flatten(), nn.Linear(8, 1))
    >>> result = summation_deltas(net, one_hot_encode(["ACGTAC"]), baselines="dinucleotide",
    ...                           n_baselines=3, random_state=0, dtype=torch.float64)
    >>> result.relative_errors.shape, result.all_passed
    (torch.Size([1, 3]), True)
    """
    _, deltas = _run(
        model,
        X,
        baselines,
        n_baselines,
        target=target,
        rule=rule,
        hypothetical=False,
        batch_size=batch_size,
        device=device,
        random_state=random_state,
        verbose=verbose,
        dtype=dtype,
        tolerance=tolerance,
        on_check_failure="raise",
        method="summation_deltas",
        fast=fast,
        accumulate=False,
        output=output,
        input_layout=input_layout,
    )
    return deltas


__all__ = ["deeplift", "deeplift_shap", "summation_deltas"]
