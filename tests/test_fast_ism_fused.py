"""Fused ``conv -> position-wise -> pool`` blocks of fast ISM (computed on the pool's slab) equal
naive ISM in float64 whatever the pool's padding, ceil mode or stride, the activation's sign,
the first layer's dilation and the batch size."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from testkit import single_thread  # noqa: F401 (autouse fixture: many small ops)
from torch import nn

from cislens.attribution import _fast_ism_fused, fast_ism
from cislens.attribution._common import borrowed_model
from cislens.attribution.fast_ism import plan_fast_ism
from cislens.attribution.ism import ism

F64 = torch.float64
POOLS = {
    # ceil mode pads the last window; tanh - 1 < 0 everywhere, so a padding position left at
    # anything but -inf would win the maximum
    "max_ceil": lambda x: F.max_pool1d(x, 3, 3, ceil_mode=True),
    "max_overlap_padded": lambda x: F.max_pool1d(x, 3, 2, padding=1),
    "avg_padded": lambda x: F.avg_pool1d(x, 2, 2, padding=1),
    "subsample": lambda x: F.max_pool1d(x, 1, 3),  # windows skip positions
}


class PoolBlocks(nn.Module):
    """Two fused blocks: a (dilated) first layer, then a wide kernel (its change is spread by a
    transposed convolution), each followed by position-wise calls and ``pool``."""

    def __init__(self, pool: str, dilation: int = 1, padding="same"):
        super().__init__()
        torch.manual_seed(3)
        self.c1 = nn.Conv1d(4, 5, 5, dilation=dilation, padding=padding)
        self.bn = nn.BatchNorm1d(5).eval()
        self.bn.running_mean.uniform_(-0.3, 0.3)
        self.c2, self.fc = nn.Conv1d(5, 3, 7, padding=2), nn.Linear(3, 2)
        self.pool = POOLS[pool]

    def forward(self, X):
        x = self.pool(torch.tanh(self.bn(self.c1(X))) - 1.0)
        x = self.pool(torch.tanh(self.c2(x)) - 1.0)
        return self.fc(x.amax(1, keepdim=True).mean(-1).expand(-1, 3))


def _one_hot(n: int, length: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    X = F.one_hot(torch.randint(0, 4, (n, length), generator=g), 4).permute(0, 2, 1).to(F64)
    X[0, :, 0] = X[-1, :, -1] = 0  # N columns at both ends: four edits each
    return X.contiguous()


@pytest.mark.parametrize("pool", sorted(POOLS))
@pytest.mark.parametrize(("dilation", "padding"), [(1, "same"), (2, 0)])
def test_fused_blocks_run_and_equal_naive(pool, dilation, padding, monkeypatch):
    model = PoolBlocks(pool, dilation, padding).eval()
    X = _one_hot(2, 41, seed=1)
    with borrowed_model(model, dtype=F64) as (net, _):
        plan = plan_fast_ism(net, X[:1])
    assert len(plan.blocks) == 2  # both convolutions are fused with their pools
    pooled = []
    block_pool = fast_ism.block_pool
    monkeypatch.setattr(fast_ism, "block_pool", lambda *a: pooled.append(1) or block_pool(*a))
    options = {"scores": "delta", "hypothetical": True, "dtype": F64, "target": 1}
    fast = ism(model, X, fast=True, **options)
    assert len(pooled) >= 2  # both blocks ran fused on every batch
    naive = ism(model, X, fast=False, **options)
    assert float(naive.abs().max()) > 0
    assert float((fast - naive).abs().max()) <= 1e-10 * float(naive.abs().max())


@pytest.mark.parametrize(("max_runs", "max_offsets"), [(0, 0), (0, 64), (16, 64)])
def test_fused_results_do_not_depend_on_batch_size(max_runs, max_offsets, monkeypatch):
    """Batches of 1 edit, of a few positions and of all edits (runs of offsets, edits sorted by
    offset in the block, or the aligned copy when neither is allowed) give the same deltas."""
    monkeypatch.setattr(_fast_ism_fused, "MAX_RUNS", max_runs)
    monkeypatch.setattr(_fast_ism_fused, "MAX_OFFSETS", max_offsets)
    model = PoolBlocks("max_ceil").eval()
    X = _one_hot(3, 41, seed=2)
    options = {"scores": "delta", "hypothetical": True, "dtype": F64, "target": 0}
    runs = [ism(model, X, batch_size=size, **options) for size in (1, 5, 1000)]
    scale = float(runs[0].abs().max())
    for other in runs[1:]:
        torch.testing.assert_close(other, runs[0], rtol=0, atol=1e-12 * scale)


@pytest.mark.parametrize("max_runs", [0, 16])
def test_add_at_adds_the_part_inside_the_slab(max_runs, monkeypatch):
    monkeypatch.setattr(_fast_ism_fused, "MAX_RUNS", max_runs)
    g = torch.Generator().manual_seed(0)
    slab, change = torch.randn(9, 2, 6, generator=g, dtype=F64), torch.randn(9, 2, 4, generator=g)
    change = change.to(F64)
    offset = torch.tensor([-5, -2, 0, 0, 1, 2, 2, 4, 7])  # outside, clipped, inside
    expected = slab.clone()
    for b, o in enumerate(offset.tolist()):
        for j in range(4):
            if 0 <= o + j < 6:
                expected[b, :, o + j] += change[b, :, j]
    _fast_ism_fused._add_at(slab, change, offset)
    torch.testing.assert_close(slab, expected, rtol=0, atol=1e-15)


def test_chains_with_a_second_reader_or_residual_are_not_fused():
    class Residual(nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.c1, self.c2 = nn.Conv1d(4, 3, 3, padding=1), nn.Conv1d(3, 3, 3, padding=1)

        def forward(self, X):
            h = torch.relu(self.c1(X))
            x = F.max_pool1d(h + torch.relu(self.c2(h)), 2)  # a residual sum before the pool
            return (x.mean(-1) + h.mean(-1)).sum(1, keepdim=True)

    model = Residual().eval()
    X = _one_hot(1, 20, seed=3)
    plan = plan_fast_ism(model.double(), X)
    assert plan.blocks == {}
    fast = ism(model, X, dtype=F64, scores="delta", hypothetical=True, target=0)
    naive = ism(model, X, dtype=F64, scores="delta", hypothetical=True, target=0, fast=False)
    assert float((fast - naive).abs().max()) <= 1e-10 * float(naive.abs().max())


def test_one_sequence_sorts_edits_by_offset_and_equals_naive(monkeypatch):
    """One sequence in one batch: the edits of a position share their offsets and those near
    the ends differ, so the blocks sort the batch by offset (more runs than MAX_RUNS) and put
    the pooled windows back in order; deltas equal naive ISM."""
    model = PoolBlocks("max_ceil").eval()
    X = _one_hot(1, 60, seed=4)
    orders = []
    block_pool = fast_ism.block_pool

    def spy(params, win, geometry, out_row):
        orders.append(geometry[-1])  # the order the block sorted its edits in, or None
        return block_pool(params, win, geometry, out_row)

    monkeypatch.setattr(fast_ism, "block_pool", spy)
    options = {"scores": "delta", "hypothetical": True, "dtype": F64, "target": 0}
    fast = ism(model, X, batch_size=1000, **options)
    assert any(order is not None for order in orders)  # a block sorted its edits
    naive = ism(model, X, fast=False, **options)
    assert float((fast - naive).abs().max()) <= 1e-10 * float(naive.abs().max())


@pytest.mark.parametrize(("run_elements", "max_runs"), [(1, 16), (10**9, 0)])
def test_gather_splices_windows_over_slab_edges(run_elements, max_runs, monkeypatch):
    """Windows inside, across the edges of and outside their slabs, by one slice copy per run
    of equal offsets or by one selection over the batch: the reference with each window's
    overlap written in."""
    from cislens.attribution import _fast_ism_windows as windows_module

    monkeypatch.setattr(windows_module, "RUN_ELEMENTS", run_elements)
    monkeypatch.setattr(windows_module, "MAX_RUNS", max_runs)
    g = torch.Generator().manual_seed(1)
    channels, count, length, left, width, n = 2, 3, 12, 2, 4, 5
    padded = torch.randn(channels, count, length + left + 3, generator=g, dtype=F64)
    start = torch.tensor([0, 0, 3, 5, 6, 6, 8, 1, 9])  # windows of the layer
    first = torch.tensor([-2, 1, 3, 2, 4, 4, 6, 7, 8])  # their slabs' first positions
    seq = torch.tensor([0, 1, 2, 0, 1, 1, 2, 0, 1])
    values = torch.randn(len(start), channels, width, generator=g, dtype=F64)
    got = windows_module.gather(values, start, padded, left, first, n, seq)
    for b in range(len(start)):
        for j in range(n):
            p = int(first[b]) + j
            inside = 0 <= p - int(start[b]) < width
            want = values[b, :, p - start[b]] if inside else padded[:, seq[b], p + left]
            torch.testing.assert_close(got[b, :, j], want, rtol=0, atol=0)
