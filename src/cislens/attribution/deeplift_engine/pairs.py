"""Batching over example-reference pairs, pre-flight checks, and the raw-multiplier entry point.

Batching. The work is a sequence of *rows*: for each example its input x, then its J
references. ``batch_size`` rows at a time go through one forward pass; the activations of an x
are computed once and paired with all of its references, also with references in later batches
(the x activations of an example that straddles two batches are carried over, not recomputed).
Every pair is computed from its own example and reference only, and the average over references
adds the pairs of an example in reference order, so results do not depend on ``batch_size`` or on
which other examples are in the call.
"""

from __future__ import annotations

import functools
import logging
import math

import numpy as np
import torch
from tqdm.auto import tqdm

from cislens.attribution._common import (
    borrowed_model,
    check_batch_size,
    count_outputs,
    resolve_target,
)
from cislens.attribution.deeplift_engine import cache, checks
from cislens.attribution.deeplift_engine.fast import fast_blocker, propagate_fast
from cislens.attribution.deeplift_engine.graph import build_graph
from cislens.attribution.deeplift_engine.ops import CONST, NONLINEAR, OUTPUT_ACT, RULES, refuse
from cislens.attribution.deeplift_engine.propagate import propagate, run_real
from cislens.attribution.heads import ExplainedModel
from cislens.errors import UnsupportedModelError
from cislens.utils.batching import DEFAULT_BATCH_SIZE
from cislens.utils.device import resolve_device
from cislens.utils.validation import check_choice

logger = logging.getLogger(__name__)

DTYPES = (torch.float32, torch.float64)
FAILURE_MODES = ("raise", "warn")


# --- the pair iterator ---------------------------------------------------------------------------


def _constants(graph) -> dict:
    consts: dict = {}

    def lookup(n):
        return consts[n]

    with torch.no_grad():
        for op in graph.ops:
            if op.kind == CONST:
                value = op.real(lookup)
                consts[op.node] = value.detach() if isinstance(value, torch.Tensor) else value
    return consts


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    if a.shape != b.shape:
        return False
    rtol = 1e-4  # gross mismatches only: casts such as .float() are identity in the engine
    a, b = a.double(), b.double()
    scale = max(1.0, float(a.abs().max()) if a.numel() else 1.0)
    return bool(torch.allclose(a, b, rtol=rtol, atol=rtol * scale))


def _preflight(graph, consts, model, rows: torch.Tensor) -> int:
    """Check the captured graph against the model on two rows; the number of outputs."""
    with torch.no_grad():
        direct = model(rows)
    full = run_real(graph, consts, rows, strip=False)
    traced = full[graph.logits]
    if not isinstance(direct, torch.Tensor) or not _close(traced, direct):
        raise UnsupportedModelError(
            "DeepLIFT: the captured graph does not reproduce the model's own output (forward "
            "hooks that change outputs, or state that changes between calls?). Remove the hooks "
            "or use ism or integrated_gradients, which only need the model's output."
        )
    single = run_real(graph, consts, rows[:1], strip=False)[graph.logits]
    if traced.shape[:1] != rows.shape[:1] or not _close(traced[:1], single):
        raise UnsupportedModelError(
            "DeepLIFT: the model's output for one sequence depends on the other sequences in "
            "the batch, or the model changes the batch size (batch statistics, a reduction or "
            "concatenation over the batch dimension). DeepLIFT needs each output to depend on "
            "its own input only."
        )
    for op in graph.ops:
        if op.kind == NONLINEAR and full[op.node].shape != full[op.var_inputs[0]].shape:
            raise refuse(
                op.label,
                "it is not elementwise (its output shape differs from its "
                "input shape), so no single-input DeepLIFT rule applies",
            )
        if op.kind == OUTPUT_ACT and op.activation == "softmax":
            if traced.ndim != 2 or op.dim not in (1, -1):
                raise refuse(
                    op.label,
                    "only a final softmax over the outputs of an (N, T) model is supported",
                )
    # the explained logits (final sigmoid dropped, softmax centred) have the output's shape
    return count_outputs(traced)


def _prepared(net, rows: torch.Tensor, rule: str, probe: cache.Probe):
    """``(graph, constants, number of outputs, spare workspaces)``: from the cache when
    ``probe`` found them (the same model in the same state, see :mod:`.cache`), else captured,
    checked and kept."""
    if probe.found is not None:
        return probe.found
    graph = build_graph(net, rule, example=rows)
    consts = _constants(graph)
    prepared = (graph, consts, _preflight(graph, consts, net, rows), [])
    probe.keep(prepared)
    return prepared


KEEP_WORKSPACE_BYTES = 64 << 20
"""Largest fast-path workspace (its per-batch buffers, :func:`.fast.propagate_fast`) kept with
a cached graph for the next call. Fresh buffers cost page faults on first touch, about as much
as an elementwise pass over them (0.1x of the floor on a small model such as DeepSTARR); a
larger workspace is dropped after the call."""


def _give_back(spare: list, workspace: dict) -> None:
    """Keep ``workspace`` for the cached graph's next call if it is small (one at a time: a call
    takes it with ``spare.pop()``, so concurrent calls never share buffers)."""
    size = sum(t.nbytes for t in workspace.values() if isinstance(t, torch.Tensor))
    if not spare and size <= KEEP_WORKSPACE_BYTES:
        spare.append(workspace)


def iterate_pairs(
    model,
    X,
    R,
    *,
    target=None,
    rule="rescale",
    batch_size=DEFAULT_BATCH_SIZE,
    device=None,
    dtype=torch.float32,
    verbose=False,
    fast=None,
):
    """Yield ``(examples, references, PairResult)`` for all pairs, in order, on the CPU.

    ``X`` is (N, ...) and ``R`` (N, J, ...), any float values (the one-hot checks are done by
    the public functions). Multipliers have X's trailing shape. ``fast``: see
    :func:`choose_path`.
    """
    n_examples, n_refs = R.shape[:2]
    total = n_examples * (n_refs + 1)
    # the user's model, when ``model`` is the wrapper of ``output=`` made for this call
    owner = model.model if type(model) is ExplainedModel else model
    key = (rule, dtype, resolve_device(device), tuple(X.shape[1:]))
    probe = cache.Probe(owner, model, key)  # before borrowing: the model as the user holds it
    with borrowed_model(model, device=device, dtype=dtype) as (net, dev):
        rows = torch.cat([X[:1], R[:1, 0]]).to(dev)
        graph, consts, n_outputs, spare = _prepared(net, rows, rule, probe)
        resolved = resolve_target(target, n_outputs)
        if graph.activation is not None:
            logger.info("DeepLIFT explains the logits before the final %s.", graph.activation)
        step, workspace = propagate, None
        if choose_path(graph, fast):  # buffers reused across batches (and calls, if small)
            try:
                workspace = spare.pop()
            except IndexError:  # none kept, or another thread's call holds it
                workspace = {}
            step = functools.partial(propagate_fast, workspace=workspace)
        bank: dict = {}
        cached: list[int] = []
        starts = range(0, total, batch_size)
        for start in tqdm(starts, disable=not verbose, desc="deeplift", unit="batch"):
            stop = min(total, start + batch_size)
            index = torch.arange(start, stop)
            example, slot = index // (n_refs + 1), index % (n_refs + 1)
            is_x = slot == 0
            x_examples = example[is_x]
            pair_examples, pair_refs = example[~is_x], slot[~is_x] - 1
            bank_examples = torch.cat([torch.tensor(cached, dtype=torch.long), x_examples])
            pair_bank = torch.searchsorted(bank_examples, pair_examples)
            rows = torch.cat([X[x_examples], R[pair_examples, pair_refs]]).to(dev)
            result, xbank = step(
                graph, consts, rows, int(is_x.sum()), bank, pair_bank.to(dev), resolved
            )
            if stop < total and stop % (n_refs + 1):
                bank = {node: value[-1:] for node, value in xbank.items()}
                cached = [int(bank_examples[-1])]
            else:
                bank, cached = {}, []
            if result is not None:
                result.multipliers = result.multipliers.cpu()
                result.output = result.output.cpu()
                result.reference_output = result.reference_output.cpu()
                yield pair_examples, pair_refs, result
        if workspace is not None:
            _give_back(spare, workspace)


def choose_path(graph, fast) -> bool:
    """Whether the fast path (:mod:`.fast`) runs: chosen by the graph's structure, logged.

    ``fast=None``: fast whenever every nonlinearity uses Rescale (no positive/negative split);
    ``True``: required (raises naming the operation that prevents it); ``False``: the
    difference network of :mod:`.propagate`. Both give the same multipliers up to rounding.
    """
    if fast is not None and not isinstance(fast, bool):
        raise TypeError(f"fast must be None, True or False; got {fast!r}.")
    if fast is False:
        logger.info("DeepLIFT: difference-network path (fast=False).")
        return False
    blocker = fast_blocker(graph)
    if blocker is None:
        logger.info("DeepLIFT: fast path (gradient overrides on the real forward pass).")
        return True
    if fast:
        raise UnsupportedModelError(
            f"DeepLIFT fast=True needs Rescale at every nonlinearity and no positive/negative "
            f"split, but {blocker}. Use fast=None (picks the difference-network path here) or "
            "rule='rescale'."
        )
    logger.info("DeepLIFT: difference-network path, since %s.", blocker)
    return False


# --- validation ----------------------------------------------------------------------------------


def check_options(rule, dtype, tolerance, on_check_failure, hypothetical=False):
    check_choice(rule, RULES, name="rule")
    if dtype not in DTYPES:
        raise ValueError(
            f"dtype must be torch.float32 or torch.float64; got {dtype!r}. Use torch.float64 "
            "for strict summation checks."
        )
    if (
        isinstance(tolerance, bool)
        or not isinstance(tolerance, int | float | np.floating)
        or not (math.isfinite(tolerance) and tolerance > 0)
    ):
        raise ValueError(f"tolerance must be a positive number; got {tolerance!r}.")
    check_choice(on_check_failure, FAILURE_MODES, name="on_check_failure")
    if not isinstance(hypothetical, bool):
        raise TypeError(f"hypothetical must be True or False; got {hypothetical!r}.")


class Recorder:
    """Collects the per-pair sums for the summation check."""

    def __init__(self, n_examples: int, n_refs: int, dtype):
        shape = (n_examples, n_refs)
        self.sums = torch.zeros(shape, dtype=dtype)
        self.l1 = torch.zeros(shape, dtype=dtype)
        self.outputs = torch.zeros(n_examples, dtype=dtype)
        self.ref_outputs = torch.zeros(shape, dtype=dtype)

    def add(self, examples, refs, result, contributions):
        flat = contributions.flatten(1)
        self.sums[examples, refs] = flat.sum(1)
        self.l1[examples, refs] = flat.abs().sum(1)
        self.outputs[examples] = result.output.to(self.outputs.dtype)
        self.ref_outputs[examples, refs] = result.reference_output.to(self.outputs.dtype)

    def result(self, tolerance) -> checks.SummationDeltas:
        return checks.summarize(self.sums, self.l1, self.outputs, self.ref_outputs, tolerance)


def deeplift_pairs(
    model,
    inputs,
    references,
    *,
    target=None,
    rule="rescale",
    batch_size=DEFAULT_BATCH_SIZE,
    device=None,
    dtype=torch.float32,
    tolerance=1e-3,
    verbose=False,
    fast=None,
):
    """The engine on arbitrary float inputs: multipliers of every example-reference pair.

    Parameters
    ----------
    inputs : Tensor (N, ...)
        Model inputs (any shape the model takes; not checked to be one-hot).
    references : Tensor (N, J, ...)
        J references per input.

    Returns
    -------
    (Tensor (N, J, ...), SummationDeltas)
        The multipliers ``m`` (contributions are ``m * (x - r)``) in ``dtype`` on the CPU, and
        the summation diagnostics (never raised here).

    Examples
    --------
    >>> net = torch.nn.Sequential(torch.nn.Linear(2, 1), torch.nn.ReLU())
    >>> m, deltas = deeplift_pairs(net, torch.ones(1, 2), torch.zeros(1, 1, 2))
    >>> m.shape, deltas.all_passed
    (torch.Size([1, 1, 2]), True)
    """
    check_options(rule, dtype, tolerance, "raise")
    batch_size = check_batch_size(batch_size)
    X = torch.as_tensor(inputs).detach().to("cpu", dtype)
    R = torch.as_tensor(references).detach().to("cpu", dtype)
    if X.ndim < 1 or R.shape[:1] != X.shape[:1] or R.shape[2:] != X.shape[1:] or not X.shape[0]:
        raise ValueError(
            f"references must have shape (N, J, ...) matching inputs {tuple(X.shape)}; got "
            f"{tuple(R.shape)}."
        )
    multipliers = torch.zeros(R.shape, dtype=dtype)
    recorder = Recorder(R.shape[0], R.shape[1], dtype)
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
        multipliers[examples, refs] = result.multipliers
        recorder.add(examples, refs, result, result.multipliers * (X[examples] - R[examples, refs]))
    return multipliers, recorder.result(tolerance)


__all__ = ["Recorder", "check_options", "choose_path", "deeplift_pairs", "iterate_pairs"]
