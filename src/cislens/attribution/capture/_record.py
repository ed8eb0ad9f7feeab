"""Record one real forward pass of a model as an fx graph of torch-level calls.

A :class:`Recorder` is a :class:`torch.overrides.TorchFunctionMode`: while the model runs on real
tensors, every torch function, ``torch.nn.functional`` function and tensor method it calls passes
through :meth:`Recorder.__torch_function__`. A call that receives a tensor computed from the input
(an *input-dependent* tensor) becomes a graph node; everything else runs unrecorded, and the
tensors it makes (parameters, buffers, caches, position tables) enter the graph as literal
constants. ``nn`` modules dissolve into the functional calls they make (``F.conv1d``,
``F.batch_norm``, ``F.relu``); a forward pre/post hook on every module records which module each
call came from, and the Python stack gives the source line, for error messages.

Because the forward runs on real tensors, ordinary Python in ``forward`` is fine: shape
arithmetic (``x.shape[2]``), ``if x.shape[1] != 4``, einops, ``**kwargs``, helper functions and
caches filled on the first call. What a recording cannot represent is refused at the moment it
happens (:class:`~cislens.errors.UnsupportedModelError` naming the call, module and line): an
input-dependent value turned into a Python value (``bool(t)``, ``t.item()``, ``t.tolist()``,
iteration over the batch) -- that is data-dependent control flow, which one recording would
silently fix to one branch -- and in-place updates of a tensor that shares memory with another
input-dependent tensor (a view), whose other aliases would change behind the graph's back.
"""

from __future__ import annotations

import linecache
import operator
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import fx, nn
from torch.overrides import TorchFunctionMode

from cislens.attribution.capture._decompose import DECOMPOSITIONS
from cislens.attribution.heads import ExplainedModel
from cislens.errors import UnsupportedModelError

# tensor attributes that describe a tensor without reading its values
METADATA_ATTRIBUTES = frozenset(
    {
        "shape", "dtype", "device", "ndim", "is_cuda", "is_cpu", "layout", "requires_grad",
        "is_leaf", "grad_fn", "grad", "names", "itemsize", "nbytes", "is_sparse", "is_quantized",
        "is_meta", "is_nested", "is_mkldnn", "output_nr", "_version", "_base", "real",
    }
)  # fmt: skip
TRANSPOSE_ATTRIBUTES = frozenset({"T", "mT", "H", "mH"})
# calls that turn an input-dependent tensor into Python values: data-dependent control flow
ESCAPES = frozenset(
    {
        "__bool__", "item", "tolist", "__int__", "__float__", "__index__", "__complex__",
        "numpy", "__array__", "__iter__", "equal", "allclose", "is_nonzero", "__reversed__",
    }
)  # fmt: skip
# calls whose output shape depends on the values (a later len() or shape would silently fix it)
VALUE_SHAPED = frozenset(
    {"nonzero", "argwhere", "unique", "unique_consecutive", "masked_select", "nonzero_static"}
)
# reflected operators: ``c - x`` arrives as ``x.__rsub__(c)``; recorded with the operands in order
_REFLECTED = {
    "__rdiv__": operator.truediv,
    "__rtruediv__": operator.truediv,
    "__rpow__": operator.pow,
    "__rmatmul__": operator.matmul,
    "__radd__": operator.add,
    "__rmul__": operator.mul,
    "__rfloordiv__": operator.floordiv,
    "__rmod__": operator.mod,
}
_EINOPS = os.sep + "einops" + os.sep
# torch's own files and cislens's attribution package (the capture, the output wrapper, the
# engines): frames there are not the user's code
_SKIP_DIRS = tuple(
    os.path.dirname(path) for path in (torch.__file__, __file__, os.path.dirname(__file__))
)
FACTORIES = frozenset(
    {"zeros", "ones", "full", "empty", "arange", "zeros_like", "ones_like", "eye", "linspace"}
)


# operator dunders under the name of the method they compute (``x ** 2`` is ``x.pow(2)``)
_DUNDERS = {
    "__add__": "add", "__iadd__": "add_", "__sub__": "sub", "__isub__": "sub_",
    "__mul__": "mul", "__imul__": "mul_", "__truediv__": "div", "__div__": "div",
    "__itruediv__": "div_", "__idiv__": "div_", "__pow__": "pow", "__ipow__": "pow_",
    "__matmul__": "matmul", "__neg__": "neg", "__abs__": "abs", "__floordiv__": "floor_divide",
    "__mod__": "remainder", "__rdiv__": "__rtruediv__",
}  # fmt: skip
_TENSOR_NAMES: dict[int, str] = {}
for _attribute in dir(torch.Tensor):
    _value = getattr(torch.Tensor, _attribute, None)
    if callable(_value) and (id(_value) not in _TENSOR_NAMES or not _attribute.startswith("__")):
        _TENSOR_NAMES[id(_value)] = _DUNDERS.get(_attribute, _attribute)
_NOT_METHODS = frozenset({"__rsub__", "__getitem__", "__setitem__"})


def _name(func) -> str:
    """The name a call is recorded under: a tensor method's own name (operators as the method
    they compute), ``get:shape`` for a property, else the function's name."""
    if getattr(func, "__name__", None) == "__get__" and hasattr(func, "__self__"):
        return "get:" + func.__self__.__name__
    name = _TENSOR_NAMES.get(id(func))
    if name is None:
        name = getattr(func, "__name__", repr(func))
        name = (
            _DUNDERS.get(name, name) if getattr(torch._C.TensorBase, name, None) is func else name
        )
    return name


def _is_method(func, name: str) -> bool:
    if name in _NOT_METHODS or name in _REFLECTED:
        return False
    return _TENSOR_NAMES.get(id(func)) == name or getattr(torch._C.TensorBase, name, None) is func


def source_line() -> tuple[str, int] | None:
    """``(file, line)`` of the innermost frame of the user's code (outside torch, cislens and
    einops) on the current stack. Walks the frames without reading source files (the capture
    calls it for every recorded call); :func:`describe_source` reads the line when needed."""
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not filename.startswith(_SKIP_DIRS) and _EINOPS not in filename:
            return filename, frame.f_lineno
        frame = frame.f_back
    return None


def describe_source(source: tuple[str, int] | None) -> str:
    """``at file.py:12 `the code``` for a :func:`source_line` result ("" for None).

    Examples
    --------
    >>> describe_source(None)
    ''
    """
    if source is None:
        return ""
    filename, lineno = source
    code = linecache.getline(filename, lineno).strip()
    return f"at {os.path.basename(filename)}:{lineno} `{code}`"


@dataclass
class Recording:
    """One recorded forward: the graph, its nodes in order and what the merge step needs."""

    graph: fx.Graph
    input: fx.Node
    nodes: list[fx.Node]
    output: object = None  # the model's output with input-dependent tensors replaced by nodes
    recipes: dict[int, tuple] = field(default_factory=dict)  # id(constant) -> factory call


class Recorder(TorchFunctionMode):
    """Records the input-dependent torch calls of a forward pass (see the module docs)."""

    def __init__(self, rows: torch.Tensor, modules: dict[int, str]):
        super().__init__()
        self.graph = fx.Graph()
        self.input = self.graph.placeholder("x")
        self.nodes: list[fx.Node] = []
        self._var: dict[int, tuple[torch.Tensor, fx.Node]] = {id(rows): (rows, self.input)}
        self._names = modules
        self._stack: list[tuple[str, type, int]] = []
        self._calls: dict[int, int] = {}
        self.recipes: dict[int, tuple] = {}
        self.error: UnsupportedModelError | None = None

    # --- module stack (global hooks installed by :func:`record`) ------------------------------

    def enter_module(self, module: nn.Module, *_):
        key = id(module)
        self._calls[key] = self._calls.get(key, 0) + 1
        name = self._names.get(key, f"<{type(module).__name__} made in forward>")
        self._stack.append((name, type(module), self._calls[key]))

    def exit_module(self, module: nn.Module, *_):
        if self._stack:
            self._stack.pop()

    # --- the mode ----------------------------------------------------------------------------

    def node_of(self, value) -> fx.Node | None:
        entry = self._var.get(id(value))
        return entry[1] if entry is not None and entry[0] is value else None

    def _convert(self, obj):
        """``obj`` with input-dependent tensors replaced by their nodes (torch.Size -> tuple)."""
        if isinstance(obj, torch.Tensor):
            node = self.node_of(obj)
            return obj if node is None else node
        if isinstance(obj, torch.Size):
            return tuple(obj)
        if isinstance(obj, list | tuple):
            return (
                type(obj)(self._convert(item) for item in obj)
                if not hasattr(obj, "_fields")
                else tuple(self._convert(item) for item in obj)
            )
        if isinstance(obj, dict):
            return {key: self._convert(value) for key, value in obj.items()}
        return obj

    def _dependent(self, args, kwargs) -> bool:
        found = []
        fx.node.map_aggregate(
            (args, kwargs),
            lambda v: found.append(v) if isinstance(v, torch.Tensor) else None,
        )
        for value in found:
            if self.node_of(value) is not None:
                return True
            if self.node_of(_unwrapped(value)) is not None:  # a functorch (vmap) wrapper
                raise self.refuse(
                    "torch.vmap over an input-dependent tensor",
                    "runs inside functorch, where single calls act on whole batches in ways a "
                    "recording of torch calls cannot represent; see docs/models.md for a "
                    "vmap-free replacement of such a function (borzoi-pytorch's "
                    "fast_relative_shift)",
                )
        return False

    def refuse(self, what: str, why: str) -> UnsupportedModelError:
        where = self.where()
        error = UnsupportedModelError(
            f"cannot capture the model: {what}{where} {why}. Attribution methods that follow "
            "the model's computation (DeepLIFT, fast ISM) need a forward pass whose operations "
            "do not depend on the values of the input; use ism (naive) or integrated_gradients, "
            "which only need the model's output."
        )
        self.error = self.error or error
        return error

    def where(self) -> str:
        parts = []
        if self._stack:
            name, cls, _ = self._stack[-1]
            parts.append(f"in {name or 'the model'} ({cls.__name__})")
        source = source_line()
        if source is not None:
            parts.append(describe_source(source))
        return (" " + ", ".join(parts)) if parts else ""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if self.error is not None or not self._dependent(args, kwargs):
            result = func(*args, **kwargs)
            self._note_factory(func, args, kwargs, result)
            return result
        name = _name(func)
        if name.startswith("get:"):
            attribute = name[4:]
            if attribute in METADATA_ATTRIBUTES:
                return func(*args, **kwargs)
            if attribute not in TRANSPOSE_ATTRIBUTES and attribute != "data":
                raise self.refuse(f"the tensor attribute .{attribute}", "has no rule")
        if name in ESCAPES:
            raise self.refuse(
                f"Tensor.{name.strip('_')}() on an input-dependent tensor",
                "reads its values into Python (data-dependent control flow, which one "
                "recorded forward pass would fix to one branch)",
            )
        if name == "as_strided" and not (args[0].is_contiguous() and args[0].storage_offset() == 0):
            raise self.refuse(
                "Tensor.as_strided() on a non-contiguous or offset input-dependent tensor",
                "reads memory in an order that depends on how the tensor was made; call "
                ".contiguous() first",
            )
        if name in VALUE_SHAPED or (name == "where" and len(args) + len(kwargs) == 1):
            raise self.refuse(
                f"{name}() on an input-dependent tensor",
                "returns a tensor whose shape depends on the input's values, which one recorded "
                "forward pass would fix",
            )
        decomposition = DECOMPOSITIONS.get(func)
        if decomposition is not None:
            replaced = decomposition(self, *args, **kwargs)
            if replaced is not NotImplemented:
                return replaced
        result = func(*args, **kwargs)
        if not _holds_tensor(result):
            return result  # metadata (size(), dim(), stride(), ...): a Python value
        self._check_inplace(func, name, args, kwargs, result)
        node = self._emit(func, name, args, kwargs)
        self._bind(result, node)
        return result

    def run(self, fn: Callable, *args, **kwargs):
        """Call ``fn`` with recording on (used by decompositions: their calls are recorded)."""
        with self:
            return fn(*args, **kwargs)

    # --- emitting nodes ----------------------------------------------------------------------

    def _emit(self, func, name: str, args, kwargs) -> fx.Node:
        args, kwargs = self._convert(tuple(args)), self._convert(dict(kwargs))
        op: str
        target: str | Callable[..., Any]  # a method's name, or the function to call
        if name.startswith("get:"):
            attribute = name[4:]
            op, target = "call_method", "detach"
            args = (args[0],) if attribute == "data" else (args[0], attribute)
            if attribute != "data":
                op, target = "call_function", getattr
        elif name == "__getitem__":
            op, target = "call_function", operator.getitem
        elif name == "__rsub__":  # torch.rsub(x, c) is c - x: the operands stay in order
            op, target = "call_function", torch.rsub
        elif name in _REFLECTED:
            op, target, args = "call_function", _REFLECTED[name], (args[1], args[0], *args[2:])
        elif name == "__setitem__":
            op, target = "call_function", assign
        elif name == "as_strided":
            op, target = "call_function", strided
        elif _is_method(func, name):
            op, target = "call_method", name
        else:
            op, target = "call_function", func
        node = self.graph.create_node(op, target, args, kwargs)
        node.meta["source"] = source_line()
        if self._stack:
            node.meta["module"] = self._stack[-1]
            node.meta["nn_module_stack"] = {name: (name, cls) for name, cls, _ in self._stack}
        self.nodes.append(node)
        return node

    def _bind(self, result, node: fx.Node) -> None:
        if isinstance(result, torch.Tensor):
            self._var[id(result)] = (result, node)
            node.meta["shape"] = tuple(result.shape)
            return
        if isinstance(result, list | tuple):
            for index, item in enumerate(result):
                if isinstance(item, torch.Tensor):
                    item_node = self.graph.call_function(operator.getitem, (node, index))
                    item_node.meta.update(node.meta)
                    item_node.meta["shape"] = tuple(item.shape)
                    self.nodes.append(item_node)
                    self._var[id(item)] = (item, item_node)

    def _check_inplace(self, func, name, args, kwargs, result) -> None:
        if name == "__setitem__":
            target = args[0]
        elif result is args[0] and _inplace(name, args, kwargs):
            target = result
        else:
            if "out" in kwargs and kwargs["out"] is not None:
                raise self.refuse(f"{name}(out=...)", "writes into an existing tensor")
            return
        storage = target.untyped_storage().data_ptr()
        for other, _ in self._var.values():
            if other is not target and other.untyped_storage().data_ptr() == storage:
                raise self.refuse(
                    f"the in-place {name}",
                    "updates a tensor that shares memory with another input-dependent tensor "
                    "(a view or slice of it), so that tensor would change behind the graph's "
                    "back; write the update out of place (y = x + ... instead of x += ...)",
                )

    def _note_factory(self, func, args, kwargs, result) -> None:
        """Remember how a constant was made, in case its shape depends on the batch size."""
        if isinstance(result, torch.Tensor) and _name(func) in FACTORIES:
            self.recipes[id(result)] = (result, func, tuple(args), dict(kwargs))


def _unwrapped(value: torch.Tensor) -> torch.Tensor:
    """The plain tensor under functorch wrappers (vmap's batched tensors), else ``value``."""
    functorch = getattr(torch._C, "_functorch", None)
    if functorch is None:
        return value
    while functorch.is_functorch_wrapped_tensor(value):
        value = functorch.get_unwrapped(value)
    return value


def _holds_tensor(value) -> bool:
    if isinstance(value, torch.Tensor):
        return True
    return isinstance(value, list | tuple) and any(isinstance(v, torch.Tensor) for v in value)


def _inplace(name: str, args, kwargs) -> bool:
    if name.startswith("__i") and name.endswith("__"):
        return True
    if name.endswith("_") and not name.startswith("_"):
        return True
    return bool(kwargs.get("inplace")) or (len(args) > 1 and args[-1] is True)


def assign(target: torch.Tensor, index, value) -> torch.Tensor:
    """``target[index] = value`` out of place: a copy of ``target`` with the slice replaced.

    Linear in ``(target, value)`` jointly, which is how the DeepLIFT engine treats it.

    Examples
    --------
    >>> assign(torch.zeros(3), slice(1, 3), torch.ones(2)).tolist()
    [0.0, 1.0, 1.0]
    """
    out = target.clone()
    out[index] = value
    return out


def strided(x: torch.Tensor, size, stride, storage_offset=0) -> torch.Tensor:
    """``x.as_strided(...)`` on a contiguous copy of ``x``: a selection of its elements.

    The capture records ``as_strided`` so (only from contiguous tensors), which makes it a
    function of the values alone, linear in ``x``, whatever layout a replay produces.

    Examples
    --------
    >>> strided(torch.arange(6.0).reshape(2, 3).t(), (2,), (1,), 1).tolist()
    [3.0, 1.0]
    """
    return x.contiguous().as_strided(size, stride, storage_offset)


def call(node: fx.Node, args, kwargs):
    """Run one captured call on concrete ``args`` out of place (``relu_`` as ``relu``, no
    ``inplace=True``), so replaying a graph never changes a value already computed."""
    if kwargs.get("inplace"):
        kwargs = {**kwargs, "inplace": False}
    if node.op == "call_method":
        name = cast(str, node.target)  # fx keeps a method's name as the target of call_method
        if name.endswith("_") and not name.startswith("_") and hasattr(torch.Tensor, name[:-1]):
            name = name[:-1]
        return getattr(args[0], name)(*args[1:], **kwargs)
    target = _OUT_OF_PLACE.get(node.target, node.target)
    if args and args[-1] is True and getattr(target, "__module__", "") == F.__name__:
        args = (args[0].clone(), *args[1:])  # F.relu(x, True): a positional inplace flag
    return target(*args, **kwargs)


_OUT_OF_PLACE = {
    getattr(F, name): getattr(F, name[:-1])
    for name in ("relu_", "elu_", "leaky_relu_", "hardtanh_", "threshold_", "rrelu_", "celu_")
    if hasattr(F, name) and hasattr(F, name[:-1])
}


def record(model: nn.Module, rows: torch.Tensor) -> Recording:
    """Run ``model(rows)`` once under a :class:`Recorder`; see :func:`~.capture`."""
    names: dict[int, str] = {}
    # errors name layers as the user knows them, not under cislens's output wrapper
    root = model.model if isinstance(model, ExplainedModel) else model
    for name, module in root.named_modules(remove_duplicate=False):
        names.setdefault(id(module), name)
    recorder = Recorder(rows, names)
    hooks = [
        nn.modules.module.register_module_forward_pre_hook(recorder.enter_module),
        nn.modules.module.register_module_forward_hook(recorder.exit_module, always_call=True),
    ]
    try:
        with torch.no_grad(), recorder:
            output = model(rows)
    except UnsupportedModelError:
        raise
    except Exception as error:
        if recorder.error is not None:
            raise recorder.error from error
        raise
    finally:
        for hook in hooks:
            hook.remove()
    if recorder.error is not None:  # raised inside forward and caught there by the model
        raise recorder.error
    converted = recorder._convert(output)
    return Recording(recorder.graph, recorder.input, recorder.nodes, converted, recorder.recipes)


__all__ = [
    "ESCAPES",
    "Recorder",
    "Recording",
    "assign",
    "call",
    "describe_source",
    "record",
    "source_line",
    "strided",
]
