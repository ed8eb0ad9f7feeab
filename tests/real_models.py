"""Small random-weight instances of real DNA-model architectures.

Every factory returns ``(model, info)``: ``model`` is an ``nn.Module`` in eval
mode built from a tiny config with fixed seeds (no downloads), ``info`` a dict
with keys

    length          the smallest input length L the model accepts
    test_length     a longer valid length where every path is non-trivial
                    (>= 2 attention tokens, >1 profile position, shuffles
                    that differ from the input)
    length_rule     which other lengths work
    layout          "NCL" for (N, 4, L) input, "NLC" for (N, L, 4)
    outputs         what forward returns (structure and shapes for L=length)
    forward_kwargs  extra keyword arguments for forward (usually {})
    n_params        number of parameters
    notes           anything a caller must know

``randomize=True`` (the default) gives every BatchNorm random running
statistics and affine parameters, and re-draws every weight the library
initialises to exactly zero (the ``to_out`` projection of the Enformer/Borzoi
attention), so that no layer is an identity or dead path. With
``randomize=False`` the weights are the library's own initialisation.

Factories take ``length=None`` (use the minimum) or another valid length, and
``seed`` (default 0).
"""

import math

import torch
from torch import nn

__all__ = [
    "FACTORIES",
    "borzoi_forward_nocast",
    "borzoi_pytorch",
    "bpnetlite_bpnet",
    "bpnetlite_chrombpnet",
    "chrombpnet_pytorch",
    "enformer_pytorch",
    "grelu_conv_gelu",
    "grelu_conv_relu",
    "grelu_dilated_conv",
    "grelu_enformer",
    "random_onehot",
]


def _n_params(model):
    return sum(p.numel() for p in model.parameters())


@torch.no_grad()
def _randomize(model, seed):
    """Random BatchNorm statistics/affine and re-drawn all-zero weights."""
    g = torch.Generator().manual_seed(seed + 12345)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            c = m.num_features
            if m.running_mean is not None:
                m.running_mean.copy_(0.1 * torch.randn(c, generator=g))
                m.running_var.copy_(0.5 + torch.rand(c, generator=g))
            if m.affine:
                m.weight.copy_(0.5 + torch.rand(c, generator=g))
                m.bias.copy_(0.1 * torch.randn(c, generator=g))
        elif isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d)):
            if m.weight.numel() and bool((m.weight == 0).all()):
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) / math.sqrt(fan_in))
                if m.bias is not None:
                    m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=g))


def _finish(model, seed, randomize):
    if randomize:
        _randomize(model, seed)
    for p in model.parameters():
        p.requires_grad_(True)
    return model.eval()


def _done(model, seed, randomize, **info):
    """``(model, info)`` as every factory returns it: the model finished (see :func:`_finish`),
    ``info`` completed with the parameter count and the (empty) forward keyword arguments."""
    info.update(forward_kwargs={}, n_params=_n_params(model))
    return _finish(model, seed, randomize), info


def _cropped_lengths(length, trim):
    """The length fields of a BPNet-style model that crops ``trim`` positions per side."""
    return dict(
        length=length or 2 * trim + 1,
        test_length=2 * trim + 32,
        length_rule=f"any L >= {2 * trim + 1} (output length L - {2 * trim})",
    )


def random_onehot(n, length, layout="NCL", seed=0, dtype=torch.float32):
    """A batch of random one-hot DNA sequences in the given layout."""
    g = torch.Generator().manual_seed(seed)
    idx = torch.randint(0, 4, (n, length), generator=g)
    x = torch.nn.functional.one_hot(idx, 4).to(dtype)  # (N, L, 4)
    return x if layout == "NLC" else x.transpose(1, 2).contiguous()


# --------------------------------------------------------------------------
# bpnet-lite
# --------------------------------------------------------------------------


def bpnetlite_bpnet(length=None, seed=0, randomize=True, n_filters=8, n_layers=2, n_outputs=2):
    """bpnetlite.BPNet, no control track, 'same'-padded convolutions.

    trimming defaults to 47 + sum(2**i, i=1..n_layers); profile output length
    is L - 2*trimming, so L >= 2*trimming + 1.
    """
    from bpnetlite import BPNet

    torch.manual_seed(seed)
    model = BPNet(
        n_filters=n_filters,
        n_layers=n_layers,
        n_outputs=n_outputs,
        n_control_tracks=0,
        verbose=False,
    )
    trim = model.trimming
    return _done(
        model,
        seed,
        randomize,
        **_cropped_lengths(length, trim),
        layout="NCL",
        outputs=f"tuple (profile (N,{n_outputs},L-{2 * trim}), counts (N,1))",
        notes="forward(X, X_ctl=None); with n_control_tracks=0 X_ctl must be None",
    )


def bpnetlite_chrombpnet(
    length=None, seed=0, randomize=True, n_filters=8, bias_layers=2, acc_layers=3
):
    """bpnetlite.chrombpnet.ChromBPNet(bias=BPNet, accessibility=BPNet).

    Both sub-models are single-output BPNets without control tracks;
    acc_layers >= bias_layers is required (the bias profile is centre-cropped
    to the accessibility one, never the other way round). The
    profile of the model with the larger trimming (acc_layers > bias_layers,
    so the accessibility one) fixes the output length; the bias profile is
    centre-cropped to it. Counts are log(exp(acc) + exp(bias)).
    """
    from bpnetlite import BPNet
    from bpnetlite.chrombpnet import ChromBPNet

    torch.manual_seed(seed)
    bias = BPNet(
        n_filters=n_filters, n_layers=bias_layers, n_outputs=1, n_control_tracks=0, verbose=False
    )
    acc = BPNet(
        n_filters=n_filters, n_layers=acc_layers, n_outputs=1, n_control_tracks=0, verbose=False
    )
    model = ChromBPNet(bias=bias, accessibility=acc)
    trim = max(bias.trimming, acc.trimming)
    return _done(
        model,
        seed,
        randomize,
        **_cropped_lengths(length, trim),
        layout="NCL",
        outputs=f"tuple (profile (N,1,L-{2 * trim}), counts (N,1))",
        notes=(
            "ChromBPNet.__init__ sets requires_grad=False on the bias "
            "parameters; the factory turns it back on so gradient checks "
            "see every weight (input gradients are unaffected either way)"
        ),
    )


# --------------------------------------------------------------------------
# chrombpnet-pytorch
# --------------------------------------------------------------------------


def chrombpnet_pytorch(
    length=None, seed=0, randomize=True, n_filters=8, n_layers=2, out_dim=4, small_bias=True
):
    """chrombpnet.chrombpnet.ChromBPNet(ChromBPNetConfig(...)).

    The class hard-codes its bias sub-model as
    chrombpnet.bpnet.BPNet(out_dim=config.out_dim, n_layers=4, n_filters=128)
    (~218k parameters). With small_bias=True the factory swaps it for the
    same class at n_filters=n_filters (same n_layers=4, same kernels), which
    keeps every operation and shape rule and only shrinks widths.
    All convolutions are 'valid'. Trunk length after the bias model is
    L - 20 - 60 = L - 80, its profile conv (k=75) gives L - 154, which is
    then centre-cropped (or zero-padded) to out_dim. Both profiles have the
    parity of L, so both crops agree: the output has out_dim positions when
    L - out_dim is even and out_dim + 1 when it is odd.
    """
    from chrombpnet.bpnet import BPNet as CBPNet
    from chrombpnet.chrombpnet import ChromBPNet
    from chrombpnet.model_config import ChromBPNetConfig

    torch.manual_seed(seed)
    cfg = ChromBPNetConfig(out_dim=out_dim, n_filters=n_filters, n_layers=n_layers)
    model = ChromBPNet(cfg)
    if small_bias:
        model.bias = CBPNet(out_dim=out_dim, n_layers=4, n_filters=n_filters)
    L = length or 154 + out_dim
    return _done(
        model,
        seed,
        randomize,
        length=L,
        test_length=170,
        length_rule=(
            f"any L >= 155; profile length is out_dim={out_dim} when "
            "L - out_dim is even, out_dim + 1 when odd; for L < "
            f"{154 + out_dim} the bias profile is zero-padded (F.pad)"
        ),
        layout="NCL (the BPNet forward permutes (N,L,4) to (N,4,L) when x.shape[1] != 4)",
        outputs=f"tuple (profile (N,{out_dim}) [squeezed channel], counts (N,1))",
        notes=(
            f"bias BPNet hard-coded to 128 filters; replaced by an {n_filters}-filter one"
            if small_bias
            else "bias BPNet hard-coded to 128 filters (kept)"
        ),
    )


# --------------------------------------------------------------------------
# enformer-pytorch
# --------------------------------------------------------------------------


def enformer_pytorch(
    length=None,
    seed=0,
    randomize=True,
    dim=12,
    depth=1,
    heads=2,
    num_downsamples=3,
    target_length=2,
    n_out=3,
):
    """enformer_pytorch.Enformer.from_hparams(...) with tiny hyper-parameters.

    Constraints: num_downsamples >= 3 (the conv-tower filter list divides by
    num_downsamples - 2); dim_divisible_by small (the default 128 rounds the
    tower widths of a tiny dim to 0); dim // heads divisible by 6 (relative
    position features come in 3 kinds x 2 signs). The trunk pools by
    2**num_downsamples; L should be a multiple of it (otherwise AttentionPool
    pads and masks), and L / 2**num_downsamples >= target_length with an even
    difference (TargetLengthCrop trims (diff)//2 from each end; an odd
    difference silently gives target_length - 1 bins).
    """
    from enformer_pytorch import Enformer

    torch.manual_seed(seed)
    model = Enformer.from_hparams(
        dim=dim,
        depth=depth,
        heads=heads,
        attn_dim_key=4,
        output_heads=dict(human=n_out),
        target_length=target_length,
        num_downsamples=num_downsamples,
        dim_divisible_by=2,
        dropout_rate=0.0,
        attn_dropout=0.0,
        pos_dropout=0.0,
    )
    pool = 2**num_downsamples
    L = length or pool * target_length
    return _done(
        model,
        seed,
        randomize,
        length=L,
        test_length=pool * (target_length + 6),
        length_rule=(
            f"L multiple of {pool} (else AttentionPool pads+masks), "
            f"L/{pool} >= target_length={target_length}; if "
            f"L/{pool} - target_length is odd the crop silently "
            "returns target_length - 1 bins"
        ),
        layout="NLC",
        outputs=(f"dict {{'human': tensor (N, {target_length}, {n_out})}} (softplus outputs)"),
        notes=(
            "transformers PreTrainedModel; forward also accepts "
            "head='human' to return the tensor directly; Attention.to_out "
            "is zero-initialised by the library (re-drawn when randomize)"
        ),
    )


# --------------------------------------------------------------------------
# borzoi-pytorch
# --------------------------------------------------------------------------


def borzoi_pytorch(
    length=None, seed=0, randomize=True, dim=8, depth=1, heads=2, n_tracks=3, bins=None
):
    """borzoi_pytorch.Borzoi(BorzoiConfig(...)) with a tiny transformer.

    Only dim/depth/heads/attn dims are configurable; the convolution widths
    (512..1280, 1920) are hard-coded. The 7611-track human head is replaced
    by a Conv1d(1920, n_tracks, 1) (what Borzoi.set_track_subset does,
    without keeping the 14.6M-parameter backup). Total downsampling is 128,
    two 2x upsamplings bring it back to L/32 bins, then a centre crop to
    bins_to_return.
    """
    from borzoi_pytorch import Borzoi
    from borzoi_pytorch.config_borzoi import BorzoiConfig

    torch.manual_seed(seed)
    L = length or 128
    nb = bins or L // 32
    cfg = BorzoiConfig(
        dim=dim,
        depth=depth,
        heads=heads,
        attn_dim_key=4,
        attn_dim_value=4,
        dropout_rate=0.0,
        attn_dropout=0.0,
        pos_dropout=0.0,
        return_center_bins_only=True,
        bins_to_return=nb,
        enable_mouse_head=False,
    )
    model = Borzoi(cfg)
    model.human_head = nn.Conv1d(1920, n_tracks, 1)
    return _done(
        model,
        seed,
        randomize,
        length=L,
        test_length=512,
        length_rule=(
            "L multiple of 128 (max-pools must divide exactly for the "
            "U-net additions); bins_to_return <= L/32"
        ),
        layout="NCL",
        outputs=f"tensor (N, {n_tracks}, {nb}) (softplus outputs)",
        notes=(
            "forward casts the last activations to float32 (x.float()) "
            "before the head, so model.double() fails unless the head is "
            "float32; relative-position features are a buffer computed in "
            "__init__ for 4096 tokens regardless of L"
        ),
    )


def borzoi_forward_nocast(model, x):
    """Borzoi.forward (human head, no DDP branch) without its x.float() cast,
    so that a model.double() Borzoi runs end to end in float64."""
    x = model.get_embs_after_crop(x)
    x = model.final_joined_convs(x)
    return model.final_softplus(model.human_head(x))


# --------------------------------------------------------------------------
# gReLU
# --------------------------------------------------------------------------


def _grelu_done(model, seed, randomize, **info):
    """:func:`_done` for the gReLU models: (N, 4, L) in, (N, 2, 1) out, tested at 64 bp."""
    outputs = "tensor (N, 2, 1) (final adaptive average pool)"
    return _done(model, seed, randomize, test_length=64, layout="NCL", outputs=outputs, **info)


def _grelu_conv(act_func, length, seed, randomize):
    from grelu.model.models import ConvModel

    torch.manual_seed(seed)
    model = ConvModel(
        n_tasks=2,
        stem_channels=8,
        stem_kernel_size=7,
        n_conv=3,
        channel_init=8,
        kernel_size=3,
        act_func=act_func,
        norm=True,
        pool_func="max",
        pool_size=2,
        residual=True,
        final_pool_func="avg",
    )
    L = length or 4
    return _grelu_done(
        model,
        seed,
        randomize,
        length=L,
        length_rule="any L >= 4 (two max-pools of width 2; odd remainders are dropped)",
        notes=f"act_func={act_func!r}, BatchNorm + residual + max-pool",
    )


def grelu_conv_relu(length=None, seed=0, randomize=True):
    """grelu.model.models.ConvModel(act_func='relu', ...)."""
    return _grelu_conv("relu", length, seed, randomize)


def grelu_conv_gelu(length=None, seed=0, randomize=True):
    """grelu.model.models.ConvModel(act_func='gelu', ...)."""
    return _grelu_conv("gelu", length, seed, randomize)


def grelu_dilated_conv(length=None, seed=0, randomize=True):
    """grelu.model.models.DilatedConvModel(...), crop_len='auto'."""
    from grelu.model.models import DilatedConvModel

    torch.manual_seed(seed)
    model = DilatedConvModel(
        n_tasks=2,
        channels=8,
        stem_kernel_size=21,
        kernel_size=3,
        dilation_mult=2,
        act_func="relu",
        n_conv=3,
        crop_len="auto",
        final_pool_func="avg",
    )
    rf = model.embedding.conv_tower.receptive_field
    crop = rf // 2
    L = length or 2 * crop + 1
    return _grelu_done(
        model,
        seed,
        randomize,
        length=L,
        length_rule=f"any L >= {2 * crop + 1} ('auto' crop of {crop} per side)",
        notes="residual dilated convs, order 'CDNRA' (no norm)",
    )


def grelu_enformer(length=None, seed=0, randomize=True):
    """grelu.model.models.EnformerModel(...) at its smallest legal size.

    The conv tower rounds widths to multiples of 128 (hard-coded) and the
    enformer_pytorch Attention needs channels // n_heads divisible by 6, so
    channels must be a multiple of 384; n_conv >= 3 (n_conv - 2 divides).
    """
    from grelu.model.models import EnformerModel

    torch.manual_seed(seed)
    model = EnformerModel(
        n_tasks=2,
        n_conv=3,
        channels=384,
        n_transformers=1,
        n_heads=8,
        key_len=4,
        attn_dropout=0.0,
        pos_dropout=0.0,
        ff_dropout=0.0,
        crop_len=0,
        final_act_func=None,
        final_pool_func="avg",
    )
    L = length or 8
    return _grelu_done(
        model,
        seed,
        randomize,
        length=L,
        length_rule="L multiple of 8 (3 attention pools of 2); other L pad+mask",
        notes=(
            "channels=384 is the smallest width the tower+attention accept; "
            "uses enformer_pytorch Attention/AttentionPool/GELU"
        ),
    )


FACTORIES = {
    "bpnetlite_bpnet": bpnetlite_bpnet,
    "bpnetlite_chrombpnet": bpnetlite_chrombpnet,
    "chrombpnet_pytorch": chrombpnet_pytorch,
    "enformer_pytorch": enformer_pytorch,
    "borzoi_pytorch": borzoi_pytorch,
    "grelu_conv_relu": grelu_conv_relu,
    "grelu_conv_gelu": grelu_conv_gelu,
    "grelu_dilated_conv": grelu_dilated_conv,
    "grelu_enformer": grelu_enformer,
}
