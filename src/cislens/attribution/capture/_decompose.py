"""Composite operations recorded as the primitive calls they are made of.

When the recorder meets one of these calls on an input-dependent tensor, it runs the function
below instead, with recording on, so the graph holds primitives that have exact DeepLIFT rules
(docs/deeplift_rules.md): elementwise nonlinearities (Rescale), linear plumbing, and products of
two input-dependent tensors (the two-player Shapley rule). The values agree with the composite
call up to rounding; the engine checks the captured graph against the model's own output.

- layer norm: centre (linear), ``c * c`` (bilinear), mean (linear), ``rsqrt(v + eps)`` (Rescale),
  product of the centred values and the scale (bilinear), then the affine weight and bias;
- RMS norm: the same without centring;
- GLU: ``a * sigmoid(b)`` on the two halves;
- scaled dot-product attention: ``softmax(q @ k^T * scale + mask) @ v``, and
  ``nn.MultiheadAttention``'s projections, heads and attention (without masks or bias_k/v);
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
        # centred * centred (bilinear), as a hand-written norm: the same multipliers
        scale = torch.rsqrt((centred * centred).mean(dims, keepdim=True) + eps)
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
        y = x * torch.rsqrt((x * x).mean(dims, keepdim=True) + eps)
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


def _multi_head_attention(rec, query, key, value, embed_dim, num_heads, in_proj_weight,
                          in_proj_bias, bias_k, bias_v, add_zero_attn, dropout_p,
                          out_proj_weight, out_proj_bias, training=True, key_padding_mask=None,
                          need_weights=True, attn_mask=None, use_separate_proj_weight=False,
                          q_proj_weight=None, k_proj_weight=None, v_proj_weight=None,
                          static_k=None, static_v=None, average_attn_weights=True,
                          is_causal=False):  # fmt: skip
    """``nn.MultiheadAttention``'s functional core on (L, N, E) inputs, as primitives."""
    unsupported = (bias_k, bias_v, key_padding_mask, attn_mask, static_k, static_v)
    if (
        add_zero_attn
        or is_causal
        or (training and dropout_p)
        or any(t is not None for t in unsupported)
    ):
        return NotImplemented  # recorded whole and refused by the engine with its name
    if use_separate_proj_weight:
        weights = (q_proj_weight, k_proj_weight, v_proj_weight)
    else:
        weights = in_proj_weight.chunk(3)
    biases = (None,) * 3 if in_proj_bias is None else in_proj_bias.chunk(3)
    head = embed_dim // num_heads

    # batch first throughout (N, H, L, d): the engine keeps one row per sequence on axis 0
    def heads(t, weight, bias):
        t = F.linear(t.transpose(0, 1), weight, bias)
        return t.reshape(t.shape[0], t.shape[1], num_heads, head).transpose(1, 2)

    def run():
        inputs = zip((query, key, value), weights, biases, strict=True)
        q, k, v = (heads(t, w, b) for t, w, b in inputs)
        attention = torch.softmax((q * (1.0 / math.sqrt(head))) @ k.transpose(-2, -1), dim=-1)
        out = (attention @ v).transpose(1, 2).reshape(query.shape[1], query.shape[0], embed_dim)
        out = F.linear(out, out_proj_weight, out_proj_bias).transpose(0, 1)
        if not need_weights:
            return out, None
        return out, attention.mean(1) if average_attn_weights else attention

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
    (F.multi_head_attention_forward, _multi_head_attention),
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
