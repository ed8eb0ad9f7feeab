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
``output_act`` a final sigmoid (dropped) or softmax (replaced by mean-centred logits).

The capture records the real forward pass at the level of torch functions and tensor methods
(``nn`` layers dissolve into ``F.conv1d``, ``F.relu``, ...), with parameters and other
constants as literal tensors. Every call is its own op, so a module instance called twice is
two ops, each with its own activations: reused modules are handled, not refused. Anything the
engine cannot treat exactly raises :class:`~cislens.errors.UnsupportedModelError` naming the
module (its qualified name in the model and class) or the function and the line of ``forward``
that calls it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from operator import getitem

import torch
from torch import fx, nn

from cislens.attribution.capture import capture
from cislens.attribution.deeplift.classify import classify
from cislens.attribution.deeplift.nodes import label
from cislens.attribution.deeplift.ops import (
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
    Op,
    refuse,
)
from cislens.errors import UnsupportedModelError


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

    ``example`` (k, ...) gives the input shape (default: one (1, 4, 100) row of zeros); the
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
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}; got {rule!r}.")
    example = torch.zeros(1, 4, 100) if example is None else example
    captured = capture(model, example)
    fx_graph = captured.graph
    labels = _labels(fx_graph)
    modules: dict[str, nn.Module] = {}
    calls: dict[str, int] = {}
    deps: dict[fx.Node, str] = {}
    ops: list[Op] = []
    by_node: dict[fx.Node, Op] = {}
    input_node = output = None
    for node in fx_graph.nodes:
        if node.op == "output":
            output = node
            continue
        if node.op == "placeholder":
            input_node = node
            op = Op(node, INPUT, f"input {node.name!r}", real=lambda lookup: None)
        else:
            op = classify(node, modules, deps, labels.get(node) or label(node, modules, calls))
        deps[node] = {INPUT: "var", CONST: "const", SHAPE: "shape"}.get(op.kind, "var")
        ops.append(op)
        by_node[node] = op
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
        if op.activation == "softmax_candidate":
            raise refuse(
                op.label,
                "a softmax inside the network couples its inputs (only a "
                "final softmax over the outputs is supported, as mean-centred logits)",
            )
    _assign_rules(graph, rule)
    _mark_streams(graph)
    for index, op in enumerate(ops):
        for node in op.node.all_input_nodes:
            graph.last_use[node] = index
    graph.last_use[graph.logits] = len(ops)
    return graph


# --- output, rules, streams ----------------------------------------------------------------------


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
    """The layers feeding a nonlinearity, through linear plumbing, scaling, pooling and other
    elementwise nonlinearities (``exp(-abs(h))`` takes the rule of the layer producing ``h``)."""
    found: set[str] = set()
    stack, seen = list(op.var_inputs), set()
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        producer = graph.by_node[node]
        if producer.kind in (LINEAR, SCALE, MAXPOOL, NONLINEAR):
            stack.extend(producer.var_inputs)
        elif producer.kind == MIXING:
            found.add(producer.family)
        else:
            found.add(producer.kind)
    return found


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
        elif feeders == {"linear"}:
            op.rule = REVEAL_CANCEL
        else:
            raise UnsupportedModelError(
                f"rule='genomics_default' uses Rescale for nonlinearities fed by convolutions and "
                f"RevealCancel for those fed by dense layers, but {op.label} is fed by "
                f"{' and '.join(sorted(feeders))}. Use rule='rescale' or rule='reveal_cancel'."
            )


def _mark_streams(graph: OpGraph) -> None:
    """Mark which ops must carry separate positive and negative parts (for RevealCancel)."""
    for op in reversed(graph.ops):
        wants_split = op.split_out and op.kind in (LINEAR, SCALE, MAXPOOL)
        wants_split |= op.kind == NONLINEAR and (op.rule == REVEAL_CANCEL or op.split_out)
        if wants_split:
            for node in op.var_inputs:
                graph.by_node[node].split_out = True
        if op.kind in (NONLINEAR, MAXPOOL):
            op.keep_x = True
            for node in op.var_inputs:
                graph.by_node[node].keep_x = True
    graph.by_node[graph.input].keep_x = True
    graph.by_node[graph.logits].keep_x = True


__all__ = ["RULES", "Op", "OpGraph", "build_graph"]
