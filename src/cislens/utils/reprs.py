"""A short ``repr`` for result objects: arrays, tensors and tables by their shape, not content.

``print(result)`` of a dataclass holding arrays would otherwise dump every number. Classes opt
in with ``__repr__ = compact_repr`` in their body (a dataclass keeps a ``__repr__`` its body
defines).
"""

from __future__ import annotations

import dataclasses

MAX_TEXT = 60
"""Longer values are cut to this many characters."""


def _short(value) -> str:
    shape = getattr(value, "shape", None)
    if shape is not None and hasattr(value, "dtype"):
        kind = "tensor" if type(value).__module__.startswith("torch") else "array"
        return f"{kind}(shape={tuple(shape)}, {str(value.dtype).replace('torch.', '')})"
    if hasattr(value, "columns") and hasattr(value, "iloc"):
        columns = ", ".join(map(str, list(value.columns)[:6]))
        more = ", ..." if len(value.columns) > 6 else ""
        return f"DataFrame({len(value)} rows: {columns}{more})"
    if isinstance(value, (list, tuple)) and len(value) > 4:
        return f"[{len(value)} items]" if isinstance(value, list) else f"({len(value)} items)"
    if isinstance(value, dict) and len(value) > 4:
        return f"{{{len(value)} entries}}"
    text = repr(value)
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 3] + "..."


def compact_repr(self) -> str:
    """``Name(field=value, ...)`` with arrays, tables and long values summarised.

    Examples
    --------
    >>> import numpy as np
    >>> @dataclasses.dataclass
    ... class Result:
    ...     weights: np.ndarray
    ...     names: list
    ...     __repr__ = compact_repr
    >>> Result(np.zeros((2, 4, 9), np.float32), ["a", "b"])
    Result(weights=array(shape=(2, 4, 9), float32), names=['a', 'b'])
    """
    if dataclasses.is_dataclass(self):
        names = [f.name for f in dataclasses.fields(self) if f.repr]
    else:
        names = [k for k in vars(self) if not k.startswith("_")]
    parts = ", ".join(f"{name}={_short(getattr(self, name))}" for name in names)
    return f"{type(self).__name__}({parts})"


__all__ = ["compact_repr"]
