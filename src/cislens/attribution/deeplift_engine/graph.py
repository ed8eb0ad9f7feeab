"""Capture a model (:mod:`cislens.attribution.capture`) into an explicit DeepLIFT op graph.

Each captured node becomes an :class:`Op` with a *kind* (see :mod:`.ops` for the groups):

``input``      the sequence placeholder;
``const``      depends on no input (parameters, literals, tensors built in ``forward``);
``shape``      depends on the input only through its shape (``x.size(0)``, ``zeros_like(x)``);
``mixing``     Conv1d / Linear / matmul with a constant weight (Linear rule, sign split);
``linear``     linear plumbing with a sign (+1 or -1) per input (reshapes, sums, adds, ...);
``scale``      elementwise multiplication by a constant tensor with mixed signs (batch norm);
``nonlinear``  an elementwise function of one input (Rescale or RevealCancel);
``maxpool``    max pooling (DeepSHAP max rule);
``bilinear``   a product of two input-dependent tensors (two-player Shapley rule);
``softmax``    a softmax or log-softmax inside the network (composed rule);
``output_act`` a final sigmoid (dropped) or softmax (replaced by mean-centred logits).

The capture records the real forward pass at the level of torch functions and tensor methods
(``nn`` layers dissolve into ``F.conv1d``, ``F.relu``, ...), with parameters and other
constants as literal tensors. Every call is its own op, so a module instance called twice is
two ops, each with its own activations: reused modules are handled, not refused. Anything the
engine cannot treat exactly raises :class:`~cislens.errors.UnsupportedModelError` naming the
module (its qualified name in the model and class) or the function and the line of ``forward``
that calls it.
Composites with exact rules as compositions (layer norm, RMS norm, GLU, attention, a quotient
of two input-dependent tensors) are recorded by the capture as their pieces
(:mod:`cislens.attribution.capture`), so each piece is classified and named like any other op.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from operator import getitem

import torch
from torch import fx, nn

from cislens.attribution.capture import capture
from cislens.attribution.deeplift_engine.classify import classify
from cislens.attribution.deeplift_engine.nodes import label
from cislens.attribution.deeplift_engine.ops import (
    BILINEAR,
    CONST,
    GENOMICS_DEFAULT,
    INPUT,
    LINEAR,
    MAXPOOL,
    MIXING,
    NONLINEAR,
    OUTPUT_ACT,
    RESCALE,
    REVEAL_CANCEL,
    RULES,
    SCALE,
    SHAPE,
    SOFTMAX,
    Op,
    refuse,
)
from cislens.errors import UnsupportedModelError
from cislens.utils.validation import check_choice


@dataclass
class OpGraph:
    """The classified graph: ops in execution order and where the explained logits are."""

    ops: list[Op]
    input: fx.Node
    logits: fx.Node
    activation: str | None
    by_node: dict[fx.Node, Op] = field(default_factory=dict)
    last_use: dict[fx.Node, int] = field(default_factory=dict)

    def rules(self) -> dict[str, str]:
        """The rule of each nonlinearity, by label (for reports and tests)."""
        return {op.label: op.rule for op in self.ops if op.kind == NONLINEAR}


def _labels(graph: fx.Graph) -> dict[fx.Node, str]:
    """Names for error messages and reports: a built-in layer's own name when the node is the
    one call it made (``conv.relu1 (nn.ReLU)``, with ``call k of n`` when called several times),
    else the function with its module and source line."""
    made: dict[tuple[str, int], list[fx.Node]] = {}
    calls: dict[str, int] = {}
    for node in graph.nodes:
        module = node.meta.get("module")
        if module is not None and node.op != "placeholder":
            name, _, index = module
            made.setdefault((name, index), []).append(node)
            calls[name] = max(calls.get(name, 0), index)
    labels = {}
    for (name, index), nodes in made.items():
        cls = nodes[0].meta["module"][1]
        real = [n for n in nodes if not (n.op == "call_function" and n.target is getitem)]
        if len(real) == 1 and cls.__module__.startswith("torch.nn"):
            text = f"{name or 'the model'} (nn.{cls.__name__})"
            if calls[name] > 1:
                text += f", call {index} of {calls[name]}"
            labels[real[0]] = text
    return labels


# --- classification ------------------------------------------------------------------------------


def build_graph(model: nn.Module, rule: str = RESCALE, example=None) -> OpGraph:
    """Capture ``model`` on rows like ``example`` and classify every operation.

    ``example`` (k, ...) gives the input shape (default: one (1, 4, 100) row of zeros in the
    dtype of the model's parameters); the
    model is run on it as it is (eval mode, device and dtype are the caller's business, see
    :func:`cislens.attribution.borrowed_model`). Raises for anything unsupported.

    Examples
    --------
    >>> net = nn.Sequential(nn.Conv1d(4, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4, 1))
    >>> graph = build_graph(net, rule="genomics_default", example=torch.zeros(1, 4, 4))
    >>> [op.kind for op in graph.ops]
    ['input', 'mixing', 'nonlinear', 'linear', 'mixing']
    >>> graph.rules()
    {'1 (nn.ReLU)': 'rescale'}
    """
    check_choice(rule, RULES, name="rule")
    if example is None:
        dtypes = [p.dtype for p in model.parameters() if p.is_floating_point()]
        example = torch.zeros(1, 4, 100, dtype=dtypes[0] if dtypes else torch.float32)
    captured = capture(model, example)
    fx_graph = captured.graph
    labels = _labels(fx_graph)
    modules: dict[str, nn.Module] = {}
    calls: dict[str, int] = {}
    deps: dict[fx.Node, str] = {}
    ops: list[Op] = []
    by_node: dict[fx.Node, Op] = {}
    input_node = output = None

    def add(op: Op) -> None:
        deps[op.node] = {INPUT: "var", CONST: "const", SHAPE: "shape"}.get(op.kind, "var")
        ops.append(op)
        by_node[op.node] = op

    for node in fx_graph.nodes:
        if node.op == "output":
            output = node
            continue
        if node.op == "placeholder":
            input_node = node
            add(Op(node, INPUT, f"input {node.name!r}", real=lambda lookup: None))
        else:
            full = label(node, modules, calls)  # the function, its module and source line
            short = labels.get(node)
            try:
                add(classify(node, modules, deps, short or full))
            except UnsupportedModelError as error:
                if short is None:
                    raise
                text = str(error).replace(short, f"{short} [{full}]", 1)
                raise UnsupportedModelError(text) from None
    if input_node is None:
        raise UnsupportedModelError("DeepLIFT needs a model whose forward takes the sequences.")
    result = output.args[0]
    if not isinstance(result, fx.Node) or deps.get(result) != "var":
        raise UnsupportedModelError(
            "DeepLIFT needs a model that returns one tensor (N, T) computed from its input; this "
            f"model returns {type(result).__name__}. Wrap it so forward returns a single tensor "
            "(for example select the head to explain)."
        )
    graph = OpGraph(ops, input_node, result, None, by_node)
    _resolve_output(graph)
    for op in ops:
        if op.activation == "softmax_candidate":  # not the output: a softmax op of its own
            op.kind, op.activation = SOFTMAX, None
    _check_batch_axis(graph)
    _assign_rules(graph, rule)
    _mark_streams(graph)
    for index, op in enumerate(ops):
        for node in op.node.all_input_nodes:
            graph.last_use[node] = index
    graph.last_use[graph.logits] = len(ops)
    return graph


# --- output, rules, streams ----------------------------------------------------------------------


def _check_batch_axis(graph: OpGraph) -> None:
    """Refuse rules applied where axis 0 is not one row per sequence.

    The engine pairs each sequence's activations with its references' along axis 0. Linear
    plumbing may move the batch axis and back ((N, L, E) -> (L, N, E)), but a nonlinearity,
    product, softmax or pool in between would be paired wrongly, so it is refused by name.
    """
    for op in graph.ops:
        if op.kind not in (NONLINEAR, MAXPOOL, BILINEAR, SOFTMAX, OUTPUT_ACT):
            continue
        for node in (op.node, *op.var_inputs):
            if node.meta.get("batch_first", True) is False:
                raise refuse(
                    op.label,
                    f"its {'input' if node is not op.node else 'output'} does not keep one row "
                    "per sequence on axis 0 (the batch axis is moved or merged with another, "
                    "e.g. (L, N, E) or (N * heads, L, d)), which the engine needs to pair each "
                    "sequence with its references; keep the batch axis first around it",
                )


def _resolve_output(graph: OpGraph) -> None:
    """Find a final sigmoid / softmax (through reshapes) and mark it as the output activation."""
    node = graph.logits
    while True:
        op = graph.by_node[node]
        if op.kind == LINEAR and op.reshape_like and len(op.var_inputs) == 1:
            node = op.var_inputs[0]
            continue
        break
    if op.activation == "sigmoid_candidate":
        op.kind, op.activation = OUTPUT_ACT, "sigmoid"
        graph.activation = "sigmoid"
    elif op.activation == "softmax_candidate":
        op.kind, op.activation = OUTPUT_ACT, "softmax"
        graph.activation = "softmax"
    for other in graph.ops:
        if other.activation == "sigmoid_candidate":
            other.activation = None


def _feeders(graph: OpGraph, op: Op) -> set[str]:
    """The layers feeding a nonlinearity, through linear plumbing, scaling, pooling, other
    nonlinearities (``exp(-abs(h))`` takes the rule of the layer producing ``h``), softmaxes and
    elementwise products (gating, the scaling of a normalisation). A matrix product of
    activations (``bilinear``) sums many products, as a dense layer sums many terms."""
    found: set[str] = set()
    stack, seen = list(op.var_inputs), set()
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        producer = graph.by_node[node]
        walk = producer.kind in (LINEAR, SCALE, MAXPOOL, NONLINEAR, SOFTMAX)
        if walk or (producer.kind == BILINEAR and producer.family == "product"):
            stack.extend(producer.var_inputs)
        elif producer.kind in (MIXING, BILINEAR):
            found.add(producer.family)
        else:
            found.add(producer.kind)
    return found


_FEEDER_NAMES = {
    "conv": "convolutions",
    "linear": "dense layers",
    "bilinear": "matrix products of activations",
}


def _assign_rules(graph: OpGraph, rule: str) -> None:
    for op in graph.ops:
        if op.kind != NONLINEAR:
            continue
        if rule != GENOMICS_DEFAULT:
            op.rule = rule
            continue
        feeders = _feeders(graph, op)
        if feeders == {"conv"}:
            op.rule = RESCALE
        elif feeders and feeders <= {"linear", "bilinear"}:
            op.rule = REVEAL_CANCEL
        else:
            names = " and ".join(sorted(_FEEDER_NAMES.get(f, f) for f in feeders))
            raise UnsupportedModelError(
                f"rule='genomics_default' uses Rescale for nonlinearities fed by convolutions and "
                f"RevealCancel for those fed by dense layers (or matrix products of activations), "
                f"but {op.label} is fed by {names}. Use rule='rescale' or rule='reveal_cancel'."
            )


def _mark_streams(graph: OpGraph) -> None:
    """Mark which ops must carry separate positive and negative parts (for RevealCancel)."""
    for op in reversed(graph.ops):
        # a softmax passes parts through its composed linear ops; mixing and bilinear ops split
        # their output by the sign of each term (the Linear rule), from the total difference
        wants_split = op.split_out and op.kind in (LINEAR, SCALE, MAXPOOL, SOFTMAX)
        wants_split |= op.kind == NONLINEAR and (op.rule == REVEAL_CANCEL or op.split_out)
        if wants_split:
            for node in op.var_inputs:
                graph.by_node[node].split_out = True
        if op.kind in (NONLINEAR, MAXPOOL, SOFTMAX):
            op.keep_x = True
        # a splitting mixing op takes the signs of its terms from its input's real difference
        split_mixing = op.kind == MIXING and op.split_out
        if op.kind in (NONLINEAR, MAXPOOL, SOFTMAX, BILINEAR) or split_mixing:
            for node in op.var_inputs:
                graph.by_node[node].keep_x = True
    graph.by_node[graph.input].keep_x = True
    graph.by_node[graph.logits].keep_x = True


__all__ = ["RULES", "Op", "OpGraph", "build_graph"]
