"""The window path of fast ISM runs through the ChromBPNet / BPNet / DeepSTARR families (cropped
dilated residual blocks, global means, max pools, flatten + dense heads with batch norm) and
equals naive ISM to 1e-10 in float64; how far it runs is read from the plan, not from timings."""

from __future__ import annotations

import logging

import pytest
import torch
import torch.nn.functional as F
from testkit import single_thread  # noqa: F401 (autouse fixture: many small ops)
from torch import nn

from cislens.attribution import _fast_ism_dense, _fast_ism_windows
from cislens.attribution._common import borrowed_model
from cislens.attribution.fast_ism import chunk_size, edit_runner, plan_fast_ism
from cislens.attribution.ism import ism
from cislens.models import BPNetLike

F64 = torch.float64


class SmallChromBPNet(nn.Module):
    """ChromBPNet's body: valid convolutions, residuals cropped with ``x[:, :, c:-c]``, a
    cropped profile head and a global-mean counts head (few filters, short input)."""

    def __init__(self, filters: int = 4, layers: int = 3, out: int = 20):
        super().__init__()
        torch.manual_seed(0)
        self.iconv = nn.Conv1d(4, filters, 7)
        self.rconvs = nn.ModuleList(nn.Conv1d(filters, filters, 3, dilation=2**i)
                                    for i in range(1, layers + 1))  # fmt: skip
        self.fconv = nn.Conv1d(filters, 1, 5)
        self.linear = nn.Linear(filters, 1)
        self.out = out

    def forward(self, X):
        x = torch.relu(self.iconv(X))
        for conv in self.rconvs:
            x_conv = torch.relu(conv(x))
            crop = (x.shape[-1] - x_conv.shape[-1]) // 2
            x = x[:, :, crop:-crop] + x_conv
        profile = self.fconv(x)
        crop = (profile.shape[-1] - self.out) // 2
        return profile[:, 0, crop : crop + self.out], self.linear(x.mean(dim=-1))


class SmallDeepSTARR(nn.Module):
    """DeepSTARR's layout: (conv 'same' + batch norm + ReLU + max pool) x 2, flatten, dense +
    batch norm + ReLU + dropout, a linear output; batch norm with non-trivial statistics."""

    def __init__(self, length: int = 40):
        super().__init__()
        torch.manual_seed(1)
        self.body = nn.Sequential(
            nn.Conv1d(4, 6, 7, padding="same"), nn.BatchNorm1d(6), nn.ReLU(), nn.MaxPool1d(2),
            nn.Conv1d(6, 5, 3, padding="same"), nn.BatchNorm1d(5), nn.ReLU(), nn.MaxPool1d(2),
        )  # fmt: skip
        self.head = nn.Sequential(
            nn.Flatten(), nn.Linear(5 * (length // 4), 8), nn.BatchNorm1d(8), nn.ReLU(),
            nn.Dropout(0.4), nn.Linear(8, 2),
        )  # fmt: skip
        for module in self.modules():
            if isinstance(module, nn.BatchNorm1d):
                module.running_mean.uniform_(-0.3, 0.3)
                module.running_var.uniform_(0.5, 1.5)

    def forward(self, X):
        return self.head(self.body(X))


class WideKernels(nn.Module):
    """Kernels as wide as the windows after pooling (Basset-like): the change is spread by a
    transposed convolution; valid and 'same' padding, so windows meet both ends."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(2)
        self.c1, self.c2 = nn.Conv1d(4, 5, 5), nn.Conv1d(5, 4, 7, padding=3)
        self.c3, self.fc = nn.Conv1d(4, 3, 9), nn.Linear(3, 2)

    def forward(self, X):
        x = F.max_pool1d(torch.relu(self.c1(X)), 3)
        x = torch.relu(self.c3(torch.relu(self.c2(x))))
        return self.fc(x.mean(-1))


def _one_hot(n: int, length: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    X = F.one_hot(torch.randint(0, 4, (n, length), generator=g), 4).permute(0, 2, 1).to(F64)
    X[0, :, 0] = 0  # an N column at an end: all four bases are edits there
    return X.contiguous()


def _fast_and_naive(model, x, output):
    """Deltas f(edit) - f(x) (E,) of every edit of one sequence by both paths, float64."""
    with borrowed_model(model, device="cpu", dtype=F64) as (net, _), torch.inference_mode():
        runner, positions, columns = edit_runner(net, x)
        fast = torch.cat([runner.run(positions[i : i + 7], columns[i : i + 7])
                          for i in range(0, len(positions), 7)])  # fmt: skip
        rows = x.expand(len(positions), -1, -1).clone()
        rows[torch.arange(len(positions)), :, positions] = columns
        naive = net(rows)
        out = net(x)
        if output is not None:
            naive, out = naive[output], out[output]
        return fast - runner.ref_output, naive - out, runner


def test_cropped_residual_blocks_run_on_windows_and_equal_naive():
    model = SmallChromBPNet().eval()
    x = _one_hot(1, 60, seed=0)
    with borrowed_model(model, dtype=F64) as (net, _):
        from cislens.attribution.heads import explained_model

        counts = explained_model(net, output=(1, "counts"), input_layout="NCL")
        plan = plan_fast_ism(counts, x)
    # every convolution and crop of the body is windowed; the global mean is updated from the
    # window; only the dense counts layer gets full tensors
    assert plan.covers and plan.stops == ["linear"]
    assert sum(name.startswith("conv1d") for name in plan.windowed) == 4
    assert sum(name.startswith("getitem") for name in plan.windowed) == 3
    assert "mean" in plan.windowed
    fast, naive, _ = _fast_and_naive(counts, x, None)
    assert float((fast - naive).abs().max()) <= 1e-10 * float(naive.abs().max())


def test_profile_output_of_cropped_model_equals_naive():
    model = SmallChromBPNet().eval()
    x = _one_hot(1, 60, seed=3)
    from cislens.attribution.heads import explained_model

    profile = explained_model(model, output=(0, "profile"), input_layout="NCL")
    H = ism(profile, x, scores="delta", hypothetical=True, dtype=F64)
    N = ism(profile, x, scores="delta", hypothetical=True, dtype=F64, fast=False)
    torch.testing.assert_close(H, N, rtol=1e-6, atol=1e-6 * float(N.abs().max()))


@pytest.mark.parametrize("groups", [32, 0])
def test_deepstarr_pools_flatten_dense_batch_norm(groups, monkeypatch):
    # groups=0: every batch has more window starts than allowed, so the dense head runs on
    # the full-length layer as captured; both ways equal naive ISM
    monkeypatch.setattr(_fast_ism_dense, "MAX_GROUPS", groups)
    model = SmallDeepSTARR().eval()
    x = _one_hot(1, 40, seed=1)
    with borrowed_model(model, dtype=F64) as (net, _):
        plan = plan_fast_ism(net, x)
    # the body is windowed and the first dense layer is updated from the last window: full
    # tensors start after it (its batch norm); the body's batch norms are folded into their
    # convolutions (_fast_ism_fold), the dense layer's is not
    assert plan.covers and [n.name for n in plan.dense] == ["linear"]
    assert plan.stops == ["batch_norm_2"] and "flatten" not in plan.full
    assert {"max_pool1d", "max_pool1d_1"} <= set(plan.windowed)
    assert not [name for name in plan.windowed if name.startswith("batch_norm")]
    fast, naive, _ = _fast_and_naive(model, x, None)
    assert float((fast - naive).abs().max()) <= 1e-10 * float(naive.abs().max())


def test_bpnet_like_equals_naive_and_is_covered():
    model = BPNetLike(2, n_filters=5, n_layers=4, random_state=0).eval()
    x = _one_hot(1, 48, seed=2)
    with borrowed_model(model, dtype=F64) as (net, _):
        plan = plan_fast_ism(net, x)
    assert plan.covers
    fast, naive, _ = _fast_and_naive(model, x, None)
    assert float((fast - naive).abs().max()) <= 1e-10 * float(naive.abs().max())


def test_wide_kernels_spread_the_change_and_equal_naive(monkeypatch):
    calls = []
    spread = _fast_ism_windows._spread

    def spy(*args, **kwargs):
        calls.append(1)
        return spread(*args, **kwargs)

    monkeypatch.setattr(_fast_ism_windows, "_spread", spy)
    model = WideKernels().eval()
    x = _one_hot(1, 45, seed=4)
    fast, naive, _ = _fast_and_naive(model, x, None)
    assert calls  # the transposed-convolution path ran, at the ends too (all positions)
    assert float((fast - naive).abs().max()) <= 1e-10 * float(naive.abs().max())


def test_cache_sized_batches_do_not_change_results(caplog):
    model = SmallChromBPNet(filters=6).eval()
    X = _one_hot(2, 60, seed=5)
    from cislens.attribution.heads import explained_model

    counts = explained_model(model, output=(1, "counts"), input_layout="NCL")
    with caplog.at_level(logging.INFO, logger="cislens.attribution.fast_ism"):
        a = ism(counts, X, dtype=F64, batch_size=3, scores="delta", hypothetical=True)
    assert "stops at `linear`" in caplog.text
    b = ism(counts, X, dtype=F64, batch_size=500, scores="delta", hypothetical=True)
    torch.testing.assert_close(a, b, rtol=0, atol=1e-6 * float(a.abs().max()))
    assert chunk_size(10**9, 64, "cpu") == 1 and chunk_size(10, 64, "cpu") == 64


@pytest.mark.parametrize(
    ("make", "length", "output"),
    [
        (lambda: SmallChromBPNet().eval(), 60, (1, "counts")),  # crops, a global mean
        (lambda: SmallChromBPNet().eval(), 60, (0, "profile")),  # crops, a full-length head
        (lambda: SmallDeepSTARR().eval(), 40, None),  # pools, batch norm, a dense head
    ],
)
def test_batches_mixing_sequences_equal_naive(make, length, output):
    """Three sequences whose edits share batches (batch_size 50 > the edits of one sequence,
    so batches straddle sequences) give naive ISM's deltas, float64."""
    from cislens.attribution.heads import explained_model

    model = explained_model(make(), output=output, input_layout="NCL")
    X = _one_hot(3, length, seed=7)
    options = {"scores": "delta", "hypothetical": True, "dtype": F64, "target": 0}
    fast = ism(model, X, batch_size=50, **options)
    naive = ism(model, X, fast=False, **options)
    assert float(naive.abs().max()) > 0
    assert float((fast - naive).abs().max()) <= 1e-10 * float(naive.abs().max())


@pytest.mark.parametrize("k", range(1, _fast_ism_windows.MAX_TAPS + 2))
def test_strided_max_is_max_pool(k):
    """The strided maxima equal max_pool1d bit for bit, NaN and -inf included, for every
    stride (overlapping, tiling and skipping pools)."""
    g = torch.Generator().manual_seed(k)
    slab = torch.randn(3, 2, 4 * k + 3, generator=g, dtype=F64)
    slab[0, 0, 1], slab[1, 1, :3], slab[2, 0, -2] = float("nan"), float("-inf"), float("inf")
    for s in range(1, k + 2):
        width = (slab.shape[-1] - k) // s + 1
        got = _fast_ism_windows.strided_max(slab, k, s, width)
        torch.testing.assert_close(got, F.max_pool1d(slab, k, s), rtol=0, atol=0, equal_nan=True)


def test_window_batches_fill_the_memory_of_a_reference_batch(monkeypatch):
    """batch_size caps forward rows; a window batch takes the edits whose values fit in the
    memory of the reference batch (more than batch_size when windows are small, never more
    bytes), and the deltas stay naive ISM's."""
    from cislens.attribution import fast_ism
    from cislens.models import LabCNN

    sizes = []
    run = fast_ism._Runner.run
    monkeypatch.setattr(fast_ism._Runner, "run", lambda self, p, *a, **k: sizes.append(len(p))
                        or run(self, p, *a, **k))  # fmt: skip
    model = LabCNN(n_tasks=2, input_length=60, random_state=0).eval()
    X = _one_hot(3, 60, seed=8)
    options = {"scores": "delta", "hypothetical": True, "dtype": F64, "target": 1}
    fast = ism(model, X, batch_size=4, **options)
    assert max(sizes) > 4 and sum(sizes) == 3 * 3 * 60 + 1  # the N column: 4 edits
    naive = ism(model, X, fast=False, **options)
    assert float((fast - naive).abs().max()) <= 1e-10 * float(naive.abs().max())
    for window, edit, row in ((10**3, 10**4, 10**5), (10**5, 10**4, 10**5), (0, 0, 0)):
        edits = chunk_size(window, 4, "cpu", edit, row)
        assert edits * edit <= 4 * row and edits >= min(4, fast_ism.CACHE_BYTES // max(window, 1))
