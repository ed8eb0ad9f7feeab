"""Composite operations recorded as the primitive calls they are made of.

When the recorder meets one of these calls on an input-dependent tensor, it runs the function
below instead, with recording on, so the graph holds primitives that have exact DeepLIFT rules
(docs/deeplift_rules.md): elementwise nonlinearities (Rescale), linear plumbing, and products of
two input-dependent tensors (the two-player Shapley rule). The values agree with the composite
call up to rounding; the engine checks the captured graph against the model's own output.

- layer norm: centre (linear), square (Rescale), mean (linear), ``rsqrt(v + eps)`` (Rescale),
  product of the centred values and the scale (bilinear), then the affine weight and bias;
- RMS norm: the same without centring;
- GLU: ``a * sigmoid(b)`` on the two halves;
- scaled dot-product attention: ``softmax(q @ k^T * scale + mask) @ v``;
- a quotient of two input-dependent tensors: ``a * reciprocal(b)``.

Each function returns ``NotImplemented`` when the call is not one it decomposes (for example a
quotient with a constant denominator, which the engine handles as it is).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def _layer_norm(rec, x, normalized_shape, weight=None, bias=None, eps=1e-5, *_, **__):
    dims = tuple(range(-len(tuple(normalized_shape)), 0))

    def run():
        centred = x - x.mean(dims, keepdim=True)
        scale = torch.rsqrt(torch.square(centred).mean(dims, keepdim=True) + eps)
        y = centred * scale
        if weight is not None:
            y = y * weight
        if bias is not None:
            y = y + bias
        return y

    return rec.run(run)


def _rms_norm(rec, x, normalized_shape, weight=None, eps=None):
    dims = tuple(range(-len(tuple(normalized_shape)), 0))
    eps = torch.finfo(x.dtype).eps if eps is None else eps

    def run():
        y = x * torch.rsqrt(torch.square(x).mean(dims, keepdim=True) + eps)
        return y * weight if weight is not None else y

    return rec.run(run)


def _glu(rec, x, dim=-1):
    def run():
        a, b = x.chunk(2, dim)
        return a * torch.sigmoid(b)

    return rec.run(run)


def _attention(
    rec, q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, enable_gqa=False
):
    if (
        dropout_p
        or is_causal
        or enable_gqa
        or (attn_mask is not None and attn_mask.dtype == torch.bool)
    ):
        return NotImplemented  # recorded whole and refused by the engine with its name
    factor = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale

    def run():
        logits = (q @ k.transpose(-2, -1)) * factor
        if attn_mask is not None:
            logits = logits + attn_mask
        return torch.softmax(logits, dim=-1) @ v

    return rec.run(run)


def _quotient(rec, a, b, *args, **kwargs):
    if args or kwargs.get("rounding_mode") is not None:
        return NotImplemented
    if rec.node_of(a) is None or not isinstance(b, torch.Tensor) or rec.node_of(b) is None:
        return NotImplemented
    return rec.run(lambda: a * torch.reciprocal(b))


def _present(*pairs):
    return {func: fn for func, fn in pairs if func is not None}


DECOMPOSITIONS = _present(
    (F.layer_norm, _layer_norm),
    (torch.layer_norm, _layer_norm),
    (getattr(F, "rms_norm", None), _rms_norm),
    (getattr(torch, "rms_norm", None), _rms_norm),
    (F.glu, _glu),
    (getattr(F, "scaled_dot_product_attention", None), _attention),
    (torch.div, _quotient),
    (torch.true_divide, _quotient),
    (torch.Tensor.div, _quotient),
    (torch.Tensor.true_divide, _quotient),
    (torch.Tensor.__truediv__, _quotient),
    (torch._C.TensorBase.div, _quotient),
)
"""Composite call -> function(recorder, *args, **kwargs) recording its primitives."""

__all__ = ["DECOMPOSITIONS"]
