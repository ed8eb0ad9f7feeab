"""DeepLIFT engine: DeepLIFT (Rescale, RevealCancel, genomics default) and DeepLiftShap.

The model is captured by running it on real one-hot rows and recording its torch calls
(:mod:`cislens.attribution.capture`, then :mod:`.graph`), so any ``forward`` runs as written
(shape arithmetic, einops, kwargs, caches), every nonlinearity call is known with the layer that
feeds it, reused module instances and functional calls (``F.relu``, ``torch.sigmoid``) are
separate graph nodes handled exactly, and anything without an exact rule is refused with
:class:`~cislens.errors.UnsupportedModelError` naming the layer, the function and the source
line.

Supported operations: Conv1d, Linear (modules and ``F.conv1d`` / ``F.linear`` / ``@`` /
``torch.einsum`` with a constant), eval-mode BatchNorm1d, the elementwise nonlinearities ReLU,
ReLU6, LeakyReLU, PReLU, ELU, SELU, CELU, GELU, SiLU, Mish, Softplus, Sigmoid, Tanh, Hardtanh,
Hardsigmoid, Hardswish, LogSigmoid, Softsign, exp, log, sqrt, rsqrt, reciprocal, abs, square,
clamp, powers by constants (module or functional form), MaxPool1d and AdaptiveMaxPool1d (DeepSHAP
max rule), AvgPool1d, AdaptiveAvgPool1d, padding, Flatten, Dropout, residual additions and
subtractions, concatenation, and tensor plumbing (view, reshape, flatten, permute, transpose,
squeeze, unsqueeze, slicing, split, chunk, flip, roll, expand, broadcast_to, repeat,
repeat_interleave, ``F.interpolate`` / ``nn.Upsample`` in the nearest, linear and area modes,
``masked_fill`` with a constant mask, sums and means over non-batch dimensions, multiplication or
division by a constant, addition of a constant). Products of two input-dependent tensors
(``a * b``, ``a @ b``, ``torch.bmm``, two-operand ``torch.einsum``) use the two-player Shapley
rule, a division ``a / b`` of two input-dependent tensors becomes ``a * reciprocal(b)``,
layer norm, RMS norm, GLU and attention are recorded as their pieces (the capture), and a softmax
or log-softmax inside the network uses an exact composed rule (:mod:`.coupled`), so attention,
gating (GLU) and RMSNorm written with these operations are explained exactly. A final sigmoid
or softmax is explained at its logits. ``docs/deeplift_rules.md`` derives every rule.

Every example-reference pair is checked for summation-to-delta before averaging and
projection (:mod:`.checks`); :func:`summation_deltas` returns the diagnostics.

The capture and the pre-flight checks (about five forward passes of two rows) are kept per
model and reused by later calls while the model is provably unchanged (:mod:`.cache`: its
module tree, attributes, hooks, and the identity, version and content of every tensor are
compared before each call); :func:`no_capture_cache` captures on every call instead.

Two exact paths compute the multipliers. When every nonlinearity uses Rescale (``rule="rescale"``
or a model without dense-fed nonlinearities under ``"genomics_default"``), the fast path
(:mod:`.fast`) runs one real forward pass per input and per reference and applies the
multipliers (and the product and softmax rules) in the backward pass; otherwise the difference
network (:mod:`.propagate`) runs. ``fast=False`` forces the difference network; the log says which
path ran.
"""

from cislens.attribution.deeplift_engine.cache import clear_capture_cache, no_capture_cache
from cislens.attribution.deeplift_engine.checks import SummationDeltas, SummationToDeltaError
from cislens.attribution.deeplift_engine.engine import deeplift, deeplift_shap, summation_deltas
from cislens.attribution.deeplift_engine.rules import NEAR_ZERO

__all__ = [
    "NEAR_ZERO",
    "SummationDeltas",
    "SummationToDeltaError",
    "clear_capture_cache",
    "deeplift",
    "deeplift_shap",
    "no_capture_cache",
    "summation_deltas",
]
