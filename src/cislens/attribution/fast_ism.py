"""Fast exact ISM: recompute only the window of each layer that a substitution changes.

The model is seen through a capture of its real forward passes
(:func:`cislens.attribution.capture.capture`, the capture DeepLIFT uses): ``forward`` runs on
real one-hot rows of the input's shape, so ordinary Python in it (``X.shape[2]``, ``if
x.shape[1] != 4``, crops computed from the length, einops, caches filled on the first call) is
simply executed, and the result is a graph of torch-level calls (``F.conv1d``, ``F.relu``,
``x.add(y)``, ``h[:, :, a:b]``, ...) with parameters as constants, specialised to the sequence
length. Capture runs inside :func:`~cislens.attribution._common.borrowed_model`, which puts back
whatever a forward pass writes onto the model.

The reference sequence is run once through the graph and every node's value is kept. A batch of
single-base edits of that sequence is then pushed through the graph as *windows*: for each
edit, the values of a (B, C, L) layer on positions ``[start, start + width)`` (a common width
for the batch), the rest being the reference values
(:mod:`~cislens.attribution._fast_ism_windows`). Which nodes run on windows is decided from
each call's function and arguments (:mod:`~cislens.attribution._fast_ism_rules`):

- The first convolution's change is a table lookup: ``W[:, :, j] @ (new base - old base)``.
- A convolution (stride 1, zero or ``'same'`` padding, any dilation) recomputes its output
  window from an input slab ``width + (k - 1) * dilation`` wide, gathered from the reference
  with the edit's window spliced in; windows are shifted to stay inside the layer. When the
  kernel is at least as wide as the input window (undilated; Basset's layers after pooling),
  the output window is instead the reference plus the transposed convolution of the input's
  change, about half the products.
- Position-wise calls (activations, eval batch norm, dropout, arithmetic with constants per
  channel or per position, residual sums of two windowed layers on the union of their
  windows) run on the window only; an eval batch norm that alone reads a convolution is first
  folded into it (:mod:`~cislens.attribution._fast_ism_fold`).
- Max / average pools recompute the pooling windows that overlap the change.
- Crops ``h[:, :, a:b]`` shift the window by ``a``; constant pads shift it the other way.
- A mean or sum over the length axis is the reference's plus the window's change (the
  reference's sums over every window of a width are computed once per sequence).
- Any other node (flatten, linear, reshape, ...) gets full-length tensors (the window written
  into the reference) and runs as captured, so it is exact by construction.

The reference runs of a call are batched across sequences (``batch_size`` rows); a window
batch takes the edits that fit in that batch's memory, capped on the CPU by the caches
(:mod:`~cislens.attribution._fast_ism_batches`). Edits run position by position across the
sequences (each layer's reference rows are kept as (C, S, L), so each edit's window is
gathered from its own sequence): a batch holds few positions, so its windows share their
starts and meet the ends of the layers only near the ends. A convolution whose change is added
to its reference, its activations and its pool run as one block on the pool's slabs
(:mod:`~cislens.attribution._fast_ism_fused`), with positions grouped by their phase in the
first such pool (:func:`~cislens.attribution._fast_ism_fused.edit_order`). Runs free values
after their last read; freed memory stays in the heap (:mod:`cislens.utils.heap`).

Which path runs is decided by the model's structure (:func:`plan_fast_ism`); the reason, with
the operations where the window path stops (``FastISMPlan.stops``), is logged. If the input
itself feeds a call that cannot run on windows, or the model cannot be captured, ISM falls back
to the naive path. Results equal naive ISM up to floating-point rounding (tests check 1e-10
relative in float64).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
from torch import fx, nn

from cislens.attribution._fast_ism_batches import (
    CACHE_BYTES,
    chunk_size,
    reference_rows,
    row_bytes,
)
from cislens.attribution._fast_ism_dense import dense_heads, dense_output
from cislens.attribution._fast_ism_fold import fold_batch_norms
from cislens.attribution._fast_ism_fused import (
    block_pool,
    block_slab,
    edit_order,
    fused_blocks,
    padded_reference,
)
from cislens.attribution._fast_ism_rules import (
    FROM_SHAPE_FUNCTIONS,
    FROM_SHAPE_METHODS,
    REDUCE,
    Context,
    classify,
)
from cislens.attribution._fast_ism_windows import (
    LazyRows,
    Win,
    apply,
    materialize,
    prepare,
    rows_of,
)
from cislens.attribution.capture import Captured, call, capture
from cislens.utils.heap import retain_freed_memory

logger = logging.getLogger(__name__)

INPUT, SHAPE, CONST, WINDOW, REDUCED, FULL = "input", "shape", "const", "window", "reduced", "full"
DENSE, SKIP = "dense", "skip"
"""Node kinds of a plan: the sequences; values made from the input's shape only (the batch
size, ``zeros_like(x)``); constants; computed on windows; a reduction of a window (a full
tensor, cheaply); computed on full-length tensors; a dense head ``linear(flatten(window))``
updated from the window (:mod:`~cislens.attribution._fast_ism_dense`) and its ``flatten``,
never computed."""


class FastISMUnsupported(ValueError):
    """The model's structure does not allow the window-restricted ISM path."""


@dataclass
class FastISMPlan:
    """A captured model ready for window-restricted ISM (see :func:`plan_fast_ism`)."""

    captured: Captured
    kinds: dict  # node -> kind (INPUT, SHAPE, CONST, WINDOW, REDUCED, FULL, DENSE, SKIP)
    ops: dict  # node -> WindowOp for WINDOW and REDUCED nodes
    windowed: list  # names of the nodes computed from windows
    full: list  # names of the input-dependent nodes computed on full-length tensors
    reason: str
    stops: list  # names of the full-length nodes that read windows, reductions or dense heads
    dense: dict  # linear node -> DenseHead: dense heads updated from their window
    covers: bool  # no full-length tensor is ever made from a window (see plan_fast_ism)
    blocks: dict  # conv node -> Block: conv -> position-wise -> pool computed on the pool's slab


def _label(node: fx.Node) -> str:
    """```target` in module (Class)`` for messages."""
    target = node.target if isinstance(node.target, str) else node.target.__name__
    module = node.meta.get("module")
    if module is None:
        return f"`{target}`"
    return f"`{target}` in {module[0] or 'the model'} ({module[1].__name__})"


def _kinds(captured: Captured) -> tuple[dict, dict, dict]:
    """Classify every node; returns kinds, window ops, and why each FULL node is not local."""
    graph = captured.graph
    shapes = {node: node.meta.get("shape") for node in graph.nodes}
    shapes[captured.input] = (2, *captured.shape)
    ctx = Context({captured.input}, shapes)
    kinds: dict = {captured.input: INPUT}
    ops: dict = {}
    why: dict = {}
    for node in graph.nodes:
        if node.op in ("placeholder", "output"):
            continue
        inputs = {kinds[n] for n in node.all_input_nodes}
        if (node.op == "call_method" and node.target in FROM_SHAPE_METHODS) or (
            node.op == "call_function" and node.target in FROM_SHAPE_FUNCTIONS
        ):
            kinds[node] = SHAPE
        elif inputs <= {SHAPE, CONST}:
            kinds[node] = SHAPE if SHAPE in inputs else CONST
        elif any(ctx.window(n) for n in node.all_input_nodes):
            op = classify(node, ctx)
            if isinstance(op, str):
                kinds[node], why[node] = FULL, op
            else:
                ops[node] = op
                kinds[node] = REDUCED if op.kind == REDUCE else WINDOW
                if op.kind != REDUCE:
                    ctx.windowed.add(node)
        else:
            kinds[node] = FULL
    return kinds, ops, why


def plan_fast_ism(model: nn.Module, example: torch.Tensor) -> FastISMPlan:
    """Capture ``model`` on rows like ``example`` and plan window-restricted ISM.

    Parameters
    ----------
    model : torch.nn.Module
        In eval mode, on ``example``'s device and dtype; call this inside
        :func:`~cislens.attribution._common.borrowed_model`, which undoes whatever the forward
        passes of the capture write onto the model (caches, counters).
    example : torch.Tensor
        One-hot rows (k, 4, L); the plan is specialised to the length L.

    Returns
    -------
    FastISMPlan
        ``windowed`` names the nodes computed on windows, ``full`` the input-dependent nodes
        computed on full-length tensors, ``dense`` the ``linear(flatten(window))`` heads
        updated from their windows, ``stops`` the full-length nodes reading windowed values,
        ``covers`` whether windows end only in reductions and dense heads (never in a
        full-length tensor), and ``reason`` says so in a sentence.

    Raises
    ------
    FastISMUnsupported
        The model cannot be captured, its captured graph does not reproduce its output, or
        the input feeds a call that cannot run on windows (the message names it).

    Examples
    --------
    >>> net = nn.Sequential(nn.Conv1d(4, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(12, 1))
    >>> plan = plan_fast_ism(net.eval(), torch.zeros(1, 4, 8))
    >>> plan.windowed, plan.full, list(plan.dense), plan.covers
    (['conv1d', 'relu'], [], [linear], True)
    """
    rows = example[torch.arange(2) % example.shape[0]]  # not 1 row: squeeze() would differ
    try:
        captured = capture(model, example)
        with torch.no_grad():
            got, expected = captured.run(rows), model(rows)
    except Exception as error:  # any capture failure means "use the naive path"
        raise FastISMUnsupported(f"the model cannot be captured ({error})") from error
    scale = float(expected.abs().max()) if expected.numel() else 0.0
    if got.shape != expected.shape or not torch.allclose(got, expected, 1e-4, 1e-6 * scale):
        raise FastISMUnsupported(
            "the captured graph does not reproduce the model's output (state that changes "
            "between calls, or randomness in forward)"
        )
    fold_batch_norms(captured.graph)  # conv -> eval batch_norm: one call (exact to rounding)
    kinds, ops, why = _kinds(captured)
    for user in captured.input.users:
        if kinds.get(user) == FULL:
            raise FastISMUnsupported(f"the input goes to {_label(user)}: {why.get(user, '?')}")
    if not ops:
        raise FastISMUnsupported("no layer can be computed on windows")
    windowed = {node for node, kind in kinds.items() if kind in (INPUT, WINDOW)}
    dense = dense_heads(captured.graph, windowed, {n: n.meta.get("shape") for n in kinds})
    for head_node, head in dense.items():
        kinds[head_node], kinds[head.flatten] = DENSE, SKIP
    local = {node for node, kind in kinds.items() if kind in (WINDOW, REDUCED, DENSE)}
    full = [node for node, kind in kinds.items() if kind == FULL]
    stop = [n for n in full if any(a in local for a in n.all_input_nodes)]
    heads = f"; {len(dense)} dense heads updated from their windows" if dense else ""
    reason = (
        f"{len(ops)} operations run on windows{heads}; the window path stops at "
        f"{', '.join(map(_label, stop)) if stop else 'the output'} (full-length from there on)"
    )
    # covered: windows end only in reductions and dense heads, never in full-length tensors
    covers = not any(a in windowed for n in full for a in n.all_input_nodes)
    blocks = fused_blocks(captured.graph, ops)
    return FastISMPlan(
        captured, kinds, ops, [node.name for node in ops], [node.name for node in full],
        reason, [n.name for n in stop], dense, covers, blocks,
    )  # fmt: skip


def _batch_view(value):
    """A :class:`Win` as its reference expanded to the batch (right shape, dtype, device)."""
    if isinstance(value, Win):
        return rows_of(value.ref)[:, 0].expand(value.values.shape[0], -1, -1)
    return value


def reference_values(plan: FastISMPlan, X: torch.Tensor) -> dict:
    """Every node's value on the sequences ``X`` (k, 4, L), and the output under "output"."""
    ref: dict = {plan.captured.input: X}
    for node in plan.captured.graph.nodes:
        if node.op == "output":
            ref["output"] = ref[node.args[0]]
        elif node.op != "placeholder":
            args = fx.node.map_arg(node.args, ref.__getitem__)
            kwargs = fx.node.map_arg(node.kwargs, ref.__getitem__)
            ref[node] = call(node, args, kwargs)
    return ref


def batched_references(plan: FastISMPlan, X, batch_size: int, device, dtype):
    """``(first example, sequences, reference values)`` for groups of consecutive sequences
    of ``X``: at most ``batch_size`` sequences, and about
    :data:`~cislens.attribution._fast_ism_batches.REFERENCE_BYTES` of layer values, per group."""
    batch_size = reference_rows(row_bytes(plan, dtype), batch_size)
    for lo in range(0, X.shape[0], batch_size):
        batch = X[lo : lo + batch_size].to(device=device, dtype=dtype)
        yield lo, batch, reference_values(plan, batch)


def _last_reads(plan: FastISMPlan) -> dict:
    """``{node: the values that node reads for the last time in a run}`` (a dense head reads
    its windowed layer, not its flatten)."""
    last: dict = {}
    for node in plan.captured.graph.nodes:  # the output's reads are never freed
        reads = list(node.all_input_nodes)
        if plan.kinds.get(node) == DENSE:
            reads.append(plan.dense[node].source)
        for value in reads:
            last[value] = node
    dead: dict = {}
    for value, node in last.items():
        dead.setdefault(node, []).append(value)
    return dead


class _Runner:
    """Runs reference sequences (S, 4, L), then batches of their edits, through a plan.

    A batch may mix edits of different sequences: the windowed layers' reference values are
    kept as (C, S, L) rows (:func:`~cislens.attribution._fast_ism_windows.windows`), so every
    gather takes each edit's window from its own sequence.
    """

    def __init__(self, plan: FastISMPlan, x: torch.Tensor, ref: dict | None = None):
        self.plan = plan
        self.input = plan.captured.input
        if ref is None:
            ref = reference_values(plan, x)
        self.ref_output = ref["output"]
        # contiguous (C, S, L) reference rows of the windowed layers (windows are strided
        # views), made when first read: many layers' rows never are (a convolution's output
        # whose windows a ReLU reads whole), and copying them cost more per sequence than its
        # reference run (ChromBPNet-like)
        self.rows = {
            node: LazyRows(ref[node]) for node, kind in plan.kinds.items() if kind == WINDOW
        }
        self.rows[self.input] = ref[self.input].transpose(0, 1).contiguous()
        self.aux = {
            node: prepare(op, ref[op.source], ref[node])
            for node, op in plan.ops.items()
            if op.source is not None
        }
        # a fused block's convolution reads its reference output on the pool's slabs
        self.block_rows = {
            conv: padded_reference(plan.ops[b.pool].params, ref[conv], ref[b.pool].shape[-1])
            for conv, b in plan.blocks.items()
        }
        # set by a run with measure=True: bytes of one edit's widest window, and the most one
        # edit's run holds at once
        self.window_bytes = self.edit_bytes = 0
        self.dead = _last_reads(plan)
        # run() reads the reference values of constants, reductions, dense heads and the
        # output only; the full-length values of the other layers of S sequences are dropped
        keep = (CONST, REDUCED, DENSE)
        self.ref = {n: v for n, v in ref.items() if plan.kinds.get(n) in keep}
        self.ref["output"] = ref["output"]

    def _call(self, node: fx.Node, env: dict, shape_only: bool):
        args = fx.node.map_arg(node.args, env.__getitem__)
        kwargs = fx.node.map_arg(node.kwargs, env.__getitem__)
        # a call reading only shapes gets a zero-copy view of the batch's shape, others the
        # full-length values
        full = _batch_view if shape_only else materialize
        args, kwargs = fx.node.map_aggregate((args, kwargs), full)
        return call(node, args, kwargs)

    def run(self, positions, columns, seq=None, *, measure: bool = False) -> torch.Tensor:
        """Model outputs for the edits ``x[seq, :, positions] = columns`` (B,), (B, 4) and
        (B,) (``seq`` None: all of sequence 0); ``measure`` sets ``window_bytes`` and
        ``edit_bytes`` (see :func:`chunk_size`)."""
        x = self.rows[self.input]
        if seq is None:
            seq = torch.zeros_like(positions)
        old = x[:, seq, positions].T
        kinds, ops, blocks = self.plan.kinds, self.plan.ops, self.plan.blocks
        env: dict = {}
        slabs: dict = {}  # pool of a fused block -> its window (start, width, input length)
        for node in self.plan.captured.graph.nodes:
            kind = kinds.get(node)
            if node.op == "placeholder":
                env[node] = Win(columns[:, :, None], positions, x, seq, columns - old)
            elif node.op == "output":
                return materialize(env[node.args[0]])
            elif kind == CONST:
                env[node] = self.ref[node]
            elif kind == SKIP:  # the flatten of a dense head: never read
                env[node] = None
            elif kind == DENSE:
                head = self.plan.dense[node]
                win = env[head.source]
                env[node] = dense_output(head, win, self.ref[node], materialize)
            elif node in slabs:  # the pool of a fused block
                env[node] = block_pool(ops[node].params, env[ops[node].source], slabs.pop(node),
                                       self.rows[node])  # fmt: skip
            elif node in blocks and (made := self._block(blocks[node], env)) is not None:
                env[node], slabs[blocks[node].pool] = made
            elif kind in (WINDOW, REDUCED):
                env[node] = apply(
                    ops[node], node, env, self.ref.get(node), self.rows.get(node),
                    self.aux.get(node),
                )  # fmt: skip
            else:
                env[node] = self._call(node, env, kind == SHAPE)
            if measure:  # what one edit holds at once: the values still to be read
                self._measure(env, len(positions))
            if node in self.dead:
                # values read for the last time: their memory, still in the caches, serves
                # the next layers (rather than every layer writing to memory of its own)
                for value in self.dead[node]:
                    del env[value]
        raise RuntimeError("the captured graph has no output")

    def _block(self, block, env: dict):
        """A fused block's slab and pool window (None: its convolution adds no change)."""
        rows = self.rows
        lengths = rows[block.conv].shape[-1], rows[block.pool].shape[-1]
        source = env[self.plan.ops[block.conv].source]
        return block_slab(block, self.plan.ops, source, self.block_rows[block.conv], *lengths)

    def _measure(self, env: dict, batch: int) -> None:
        """Raise ``window_bytes`` / ``edit_bytes`` to the bytes per edit of the widest window /
        of the per-edit values alive now (after a node ran, before it frees its last reads)."""
        widest, total = self.window_bytes, 0
        for node, value in env.items():
            if self.plan.kinds.get(node) in (CONST, SHAPE, SKIP):
                continue  # shared by the batch (constants, shapes), or never made
            tensor = value.values if isinstance(value, Win) else value
            if isinstance(tensor, torch.Tensor) and tensor.ndim and len(tensor) == batch:
                size = tensor[0].numel() * tensor.element_size()
                total += size
                if isinstance(value, Win) and node is not self.input:
                    widest = max(widest, size)
        self.window_bytes, self.edit_bytes = widest, max(self.edit_bytes, total)


def fast_ism_deltas(plan, X, *, first, stop, batch_size, device, dtype, resolved, bar, delta):
    """Fill ``delta`` (N, 4, stop - first) with ``f(edit) - f(x)`` using ``plan``."""
    eye = torch.eye(4, dtype=dtype, device=device)
    if torch.device(device).type == "cpu":
        retain_freed_memory()  # window batches reuse heap memory instead of fresh pages
    # a first small batch measures the windows; their widths depend on the plan only, so the
    # measure holds for every sequence
    step, per_row = 0, row_bytes(plan, dtype)
    with torch.inference_mode():
        for example, x, ref in batched_references(plan, X, batch_size, device, dtype):
            runner = _Runner(plan, x, ref)
            del ref  # the runner keeps what it reads
            reference = resolved.select(runner.ref_output).to("cpu", dtype)
            bar.update(len(x))
            # every edit of the group's sequences (observed bases are no edits), position by
            # position across the sequences: a batch then holds few positions, so its edits
            # share their windows' starts (one product per start in dense heads) and rarely
            # meet the ends of the layers (shifted windows take extra work)
            keep = (X[example : example + len(x), :, first:stop] == 0).permute(2, 0, 1)
            positions, seqs, bases = torch.nonzero(keep, as_tuple=True)
            positions = positions + first
            order = edit_order(plan.blocks, plan.ops, positions)
            positions, seqs, bases = positions[order], seqs[order], bases[order]
            lo = 0
            while lo < len(positions):
                pos, base, seq = (v[lo : lo + (step or 4)] for v in (positions, bases, seqs))
                out = runner.run(pos.to(device), eye[base.to(device)], seq.to(device),
                                 measure=not step)  # fmt: skip
                values = resolved.select(out).to("cpu", dtype) - reference[seq]
                delta[example + seq, base, pos - first] = values
                bar.update(len(pos))
                lo += len(pos)
                if not step:
                    step = chunk_size(runner.window_bytes, batch_size, device,
                                      runner.edit_bytes, per_row)  # fmt: skip


def edit_runner(model: nn.Module, x: torch.Tensor, first: int = 0, stop: int | None = None):
    """A runner of single-base edits of one sequence, for benchmarks and diagnostics.

    Returns ``(runner, positions, columns)``: ``runner.run(positions[:b], columns[:b])`` gives
    the model's outputs for the edits ``x[:, positions] = columns`` and ``runner.ref_output``
    the output for ``x`` itself; ``positions`` (E,) and ``columns`` (E, 4) list every real
    edit in ``[first, stop)``. Call inside
    :func:`~cislens.attribution._common.borrowed_model` with ``x`` (1, 4, L) on the model's
    device and dtype, under ``torch.inference_mode()``.

    Examples
    --------
    >>> net = nn.Sequential(nn.Conv1d(4, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(12, 1))
    >>> x = torch.eye(4)[torch.tensor([0, 1, 2, 3, 0, 1, 2, 3])].T[None]
    >>> runner, positions, columns = edit_runner(net.eval(), x)
    >>> with torch.no_grad():
    ...     out = runner.run(positions[:5], columns[:5])
    >>> out.shape, len(positions)
    (torch.Size([5, 1]), 24)
    """
    stop = x.shape[-1] if stop is None else stop
    runner = _Runner(plan_fast_ism(model, x), x)
    positions, bases = torch.nonzero((x[0, :, first:stop] == 0).T, as_tuple=True)
    eye = torch.eye(4, dtype=x.dtype, device=x.device)
    return runner, (positions + first).to(x.device), eye[bases.to(x.device)]


def choose_fast(model: nn.Module, fast: bool | None, example: torch.Tensor) -> FastISMPlan | None:
    """The plan for ``ism(fast=...)``: None means the naive path; the choice is logged.

    ``example`` is one input row (1, 4, L) on the model's device and dtype; call inside
    :func:`~cislens.attribution._common.borrowed_model`.
    """
    if fast is False:
        logger.info("ism: naive path (fast=False)")
        return None
    try:
        plan = plan_fast_ism(model, example)
    except FastISMUnsupported as error:
        if fast:
            raise FastISMUnsupported(
                f"fast=True but the window-restricted ISM cannot handle this model: {error}; "
                "pass fast=None to fall back to the naive path."
            ) from None
        logger.info("ism: naive path (%s)", error)
        return None
    logger.info("ism: fast path (%s)", plan.reason)
    return plan


__all__ = [
    "CACHE_BYTES", "FastISMPlan", "FastISMUnsupported", "choose_fast", "chunk_size", "edit_runner",
    "fast_ism_deltas", "plan_fast_ism", "row_bytes",
]  # fmt: skip
