"""Reuse a captured graph across calls while the model is provably the one it was captured from.

Capturing a model (:func:`.graph.build_graph`: two recorded forward passes and their merge)
and the pre-flight checks (three more forward passes) cost about as much as explaining one
sequence against ten references; the fast path pays them on every call. They depend only on
the model, the call's options (rule, dtype, device) and the input's shape, so a graph can be
reused, but only as long as nothing the forward pass reads has changed. Each entry is tied to
the model object (a weak reference: dropping the model drops its entry) and to a **state
fingerprint** taken before every call; a single difference means a fresh capture:

- every module of the tree by name, object identity and class, every class's methods and
  class attributes (a patched ``forward`` or helper is a different function);
- every attribute of every module by value (numbers, strings, tuples, lists, dicts, sets,
  dtypes, NumPy arrays up to 64 KiB by their bytes), by identity (functions, with their code,
  defaults and closures by value), or, for tensors, parameters and buffers: identity, shape,
  strides, dtype, device, ``_version`` counter **and content** (a copy is kept and compared
  with ``torch.equal``, so changes that bypass the version counter, such as
  ``p.data.mul_(2)`` or ``p.data = q``, are seen too);
- the train/eval flag of every module (an attribute like any other), its hooks (forward,
  backward and pre-hooks are attributes too: adding or removing one changes the fingerprint),
  the global module hooks and ``torch.get_default_dtype()``.

A model is never cached (it is captured on every call, as without the cache) when its state
cannot be fingerprinted exactly: an attribute or hook of another type (an arbitrary object
whose state is unknown), a module outside the tree, or more than :data:`MAX_ELEMENTS` tensor
elements (the copy would cost too much memory). What no fingerprint sees is state outside the
model that ``forward`` (or a hook) reads, such as a global variable of its module;
:func:`no_capture_cache` turns the cache off for such models.

At most :data:`MAX_ENTRIES` graphs are held; the copies cost as much memory as the model's
tensors. :func:`clear_capture_cache` empties the cache.
"""

from __future__ import annotations

import enum
import functools
import threading
import types
import weakref
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

MAX_ENTRIES = 4
"""Captured graphs held at once, one per model and call options (rule, dtype, device, input
shape); the least recently used is dropped first."""
MAX_ELEMENTS = 1 << 26
"""Largest number of tensor elements of a cached model (a content copy is kept: 256 MiB in
float32); larger models are captured on every call."""
MAX_ARRAY_BYTES = 1 << 16
"""Largest NumPy array attribute fingerprinted by its bytes."""
_MAX_DEPTH = 8
_MAX_ATOMS = 100_000
_STATE_DICT_HOOKS = frozenset(
    (
        "_state_dict_hooks",
        "_state_dict_pre_hooks",
        "_load_state_dict_pre_hooks",
        "_load_state_dict_post_hooks",
    )
)
_SCALARS = (
    type(None),
    bool,
    int,
    float,
    complex,
    str,
    bytes,
    type(Ellipsis),
    torch.dtype,
    torch.device,
    torch.Size,
    torch.layout,
    torch.memory_format,
    enum.Enum,
    np.dtype,
)
_PLAIN = frozenset((type(None), bool, int, float, str))
_IDENTITIES = (
    types.BuiltinFunctionType,
    types.BuiltinMethodType,
    types.MethodDescriptorType,
    types.WrapperDescriptorType,
    types.GetSetDescriptorType,
    types.MemberDescriptorType,
    types.ModuleType,
    type,
    property,
)


class Uncacheable(Exception):
    """The model's state cannot be fingerprinted exactly (the reason is the message)."""


@dataclass
class ModelState:
    """A fingerprint: ``atoms`` compared by value, ``objects`` by identity, ``tensors`` by
    content (each also has an identity and a metadata atom)."""

    atoms: list = field(default_factory=list)
    objects: list = field(default_factory=list)
    tensors: list = field(default_factory=list)

    def identity(self, value) -> tuple:
        self.objects.append(value)
        return ("object", len(self.objects) - 1)


class _Walker:
    """Builds a :class:`ModelState`; raises :class:`Uncacheable` for unknown state."""

    def __init__(self, module_ids: set[int]):
        self.state = ModelState()
        self.module_ids = module_ids
        self.elements = 0

    def freeze(self, value, depth: int = 0):
        """A value-comparable stand-in for ``value``."""
        kind = type(value)
        if kind in _PLAIN:  # the common case first: one set lookup
            return (kind, value)
        if depth > _MAX_DEPTH or len(self.state.objects) > _MAX_ATOMS:
            raise Uncacheable("attributes nested too deeply or too many")
        if (kind is dict or kind is OrderedDict) and not value:
            return (kind,)
        if isinstance(value, torch.Tensor):
            return self.tensor(value)
        if isinstance(value, _SCALARS):
            return (type(value), value)
        if isinstance(value, list | tuple):
            return (type(value), tuple(self.freeze(v, depth + 1) for v in value))
        if isinstance(value, dict):
            items = tuple(
                (self.freeze(k, depth + 1), self.freeze(v, depth + 1)) for k, v in value.items()
            )
            return (type(value), items)
        if isinstance(value, set | frozenset):
            return (type(value), frozenset(self.freeze(v, depth + 1) for v in value))
        if isinstance(value, nn.Module):
            if id(value) not in self.module_ids:
                raise Uncacheable(f"a module outside the model's tree ({type(value).__name__})")
            return self.state.identity(value)
        if isinstance(value, np.ndarray):
            if value.dtype.hasobject or value.nbytes > MAX_ARRAY_BYTES:
                raise Uncacheable("a large or object-dtype NumPy array attribute")
            return ("ndarray", value.dtype.str, value.shape, value.tobytes())
        if isinstance(value, np.generic):
            return (type(value), value.item())
        return self.callable(value, depth)

    def callable(self, value, depth: int):
        if isinstance(value, _IDENTITIES):
            return self.state.identity(value)
        if isinstance(value, types.FunctionType):
            try:
                cells = tuple(c.cell_contents for c in value.__closure__ or ())
            except ValueError:  # an empty cell (a name not yet bound)
                raise Uncacheable("a function with an unbound closure variable") from None
            parts = (value.__defaults__, value.__kwdefaults__, cells)
            inner = self.freeze(parts, depth + 1)
            return (
                "function",
                self.state.identity(value),
                self.state.identity(value.__code__),
                inner,
            )
        if isinstance(value, types.MethodType):
            return (
                "method",
                self.freeze(value.__func__, depth + 1),
                self.freeze(value.__self__, depth + 1),
            )
        if isinstance(value, staticmethod | classmethod):
            return (type(value), self.freeze(value.__func__, depth + 1))
        if isinstance(value, functools.partial):
            return ("partial", self.freeze((value.func, value.args, value.keywords), depth + 1))
        raise Uncacheable(f"an attribute of type {type(value).__name__}")

    def tensor(self, value: torch.Tensor):
        if value.layout != torch.strided or value.is_meta or value.is_quantized:
            raise Uncacheable("a tensor that is not a plain strided tensor")
        self.elements += value.numel()
        if self.elements > MAX_ELEMENTS:
            raise Uncacheable(f"more than {MAX_ELEMENTS} tensor elements")
        try:
            version = value._version
        except RuntimeError:  # an inference tensor: no version counter
            raise Uncacheable("an inference-mode tensor") from None
        self.state.tensors.append(value)
        meta = (value.shape, value.stride(), value.storage_offset(), value.dtype, value.device)
        return ("tensor", self.state.identity(value), meta, version, type(value))

    def module(self, name: str, module: nn.Module, classes: set, identity: bool = True) -> None:
        atoms = self.state.atoms
        own = self.state.identity(module) if identity else "root"
        atoms.append(("module", name, own, self.state.identity(type(module))))
        for key, value in vars(module).items():
            if key in _STATE_DICT_HOOKS:
                continue
            atoms.append((key, self.freeze(value)))
        for cls in type(module).__mro__:
            if cls in (nn.Module, object) or cls in classes:
                continue
            classes.add(cls)
            for key, value in vars(cls).items():
                if not (key.startswith("__") and key.endswith("__")):
                    atoms.append((cls.__qualname__, key, self.freeze(value)))


def _global_hooks(walker: _Walker) -> None:
    """The hooks registered for every module (``nn.modules.module.register_module_*``)."""
    from torch.nn.modules import module as torch_module

    for key, value in vars(torch_module).items():
        if key.startswith("_global_") and "hook" in key and isinstance(value, dict):
            walker.state.atoms.append((key, walker.freeze(value)))


def model_state(model: nn.Module, *, root_identity: bool = True) -> ModelState:
    """The fingerprint of ``model``'s state (see the module docs).

    ``root_identity=False``: the root module is compared by class and attributes only (a
    wrapper made anew for each call, such as :class:`cislens.attribution.heads.ExplainedModel`
    around the user's model).

    Raises
    ------
    Uncacheable
        Some state cannot be fingerprinted exactly; the model must not be cached.

    Examples
    --------
    >>> net = nn.Sequential(nn.Linear(2, 1))
    >>> before = model_state(net)
    >>> copies = [t.detach().clone() for t in before.tensors]
    >>> same_state(before, model_state(net), copies)
    True
    >>> _ = net[0].weight.data.mul_(2)  # bypasses the version counter; the content shows it
    >>> same_state(before, model_state(net), copies)
    False
    """
    modules = list(model.named_modules(remove_duplicate=False))
    walker = _Walker({id(module) for _, module in modules})
    _global_hooks(walker)
    classes: set = set()
    for name, module in modules:
        walker.module(name, module, classes, identity=root_identity or module is not model)
    walker.state.atoms.append(("default dtype", torch.get_default_dtype()))
    return walker.state


def same_state(saved: ModelState, now: ModelState, copies: list) -> bool:
    """Whether ``now`` fingerprints the same state as ``saved``, whose tensors' contents at the
    time were ``copies``. ``saved.objects`` may hold weak references (see :class:`_Entry`)."""
    if saved.atoms != now.atoms or len(saved.objects) != len(now.objects):
        return False
    for ref, obj in zip(saved.objects, now.objects, strict=True):
        if (ref() if isinstance(ref, weakref.ref) else ref) is not obj:
            return False
    return all(torch.equal(copy, tensor) for copy, tensor in zip(copies, now.tensors, strict=True))


def _weak(value):
    try:
        return weakref.ref(value)
    except TypeError:  # builtins and the like: small and long-lived, held strongly
        return value


@dataclass
class _Entry:
    key: tuple
    state: ModelState
    copies: list
    value: object
    ref: weakref.ref


class _Cache:
    """Entries by (model id, call key), least recently used first."""

    def __init__(self) -> None:
        self.entries: OrderedDict[tuple, _Entry] = OrderedDict()
        self.lock = threading.RLock()  # RLock: a weak-reference callback may run inside
        self.enabled = True

    def get(self, model: nn.Module, key: tuple, state: ModelState):
        with self.lock:
            entry = self.entries.get((id(model), key))
            if entry is None or entry.ref() is not model:
                return None
            self.entries.move_to_end((id(model), key))
        return entry.value if same_state(entry.state, state, entry.copies) else None

    def put(self, model: nn.Module, key: tuple, state: ModelState, copies: list, value) -> None:
        saved = ModelState(state.atoms, [_weak(obj) for obj in state.objects], [])
        slot = (id(model), key)
        # the callback holds the slot only: a dropped model takes its entries with it
        ref = weakref.ref(model, functools.partial(self.dropped, slot))
        with self.lock:
            self.entries[slot] = _Entry(key, saved, copies, value, ref)
            self.entries.move_to_end(slot)
            while len(self.entries) > MAX_ENTRIES:
                self.entries.popitem(last=False)

    def dropped(self, slot: tuple, ref: weakref.ref) -> None:
        with self.lock:
            entry = self.entries.get(slot)
            if entry is not None and entry.ref is ref:
                del self.entries[slot]


_CACHE = _Cache()


class Probe:
    """One call's view of the cache: :meth:`found` the cached value or None, :meth:`keep` a new
    one. Built before the model is borrowed (moved, cast), so the fingerprint is of the
    model as the user holds it."""

    def __init__(self, owner: nn.Module, model: nn.Module, key: tuple):
        self.owner, self.key, self.state, self.copies = owner, key, None, None
        self.found = None
        if not _CACHE.enabled:
            return
        try:
            self.state = model_state(model, root_identity=model is owner)
        except Uncacheable:
            return
        # the state the value will be made from; copied now, before the model is borrowed
        self.found = _CACHE.get(owner, key, self.state)
        if self.found is None:
            self.copies = [t.detach().clone() for t in self.state.tensors]

    def keep(self, value) -> None:
        """Cache ``value`` for this model, key and state (nothing when uncacheable)."""
        if self.copies is not None and self.state is not None:
            _CACHE.put(self.owner, self.key, self.state, self.copies, value)


def cached_models() -> int:
    """The number of cached graphs (one per model and call options).

    Examples
    --------
    >>> clear_capture_cache(); cached_models()
    0
    """
    with _CACHE.lock:
        return len(_CACHE.entries)


def clear_capture_cache() -> None:
    """Drop every cached graph.

    Examples
    --------
    >>> clear_capture_cache()
    """
    with _CACHE.lock:
        _CACHE.entries.clear()


@contextmanager
def no_capture_cache() -> Iterator[None]:
    """Capture the model on every call inside this block (for a ``forward`` that reads state
    outside the model, such as a global variable). Process-wide: other threads' calls in the
    meantime capture too.

    Examples
    --------
    >>> with no_capture_cache():
    ...     pass
    """
    before, _CACHE.enabled = _CACHE.enabled, False
    try:
        yield
    finally:
        _CACHE.enabled = before


__all__ = [
    "MAX_ELEMENTS",
    "MAX_ENTRIES",
    "ModelState",
    "Probe",
    "Uncacheable",
    "cached_models",
    "clear_capture_cache",
    "model_state",
    "no_capture_cache",
    "same_state",
]
