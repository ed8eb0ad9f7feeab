"""Helpers shared by the test files: small models and inputs, planted motif data, a user model
module, a ground-truth checker and a Fi-NeMo hits writer. No test file imports from another
test file; what two of them share lives here (checked by ``tests/test_testkit.py``)."""

from __future__ import annotations

import copy
import itertools

import numpy as np
import pandas as pd
import pytest
import torch
from numpy.lib.stride_tricks import sliding_window_view
from torch import nn

from cislens.simulate import labels_from_instances


def random_one_hot(n: int, length: int, seed: int, *, n_columns: int = 0) -> torch.Tensor:
    """Uniform random one-hot (n, 4, length) float32, with ``n_columns`` N columns in row 0."""
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, 4, size=(n, length))
    X = np.zeros((n, 4, length), dtype=np.float32)
    np.put_along_axis(X, tokens[:, None, :], 1.0, axis=1)
    if n_columns:
        X[0, :, rng.choice(length, size=n_columns, replace=False)] = 0.0
    return torch.from_numpy(X)


def init_weights(model: nn.Module, seed: int, scale: float = 0.4) -> nn.Module:
    """Deterministic normal weights from a local generator (no global RNG)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in model.parameters():
            param.copy_(scale * torch.randn(param.shape, generator=generator))
    return model.eval()


class SmallConv(nn.Module):
    """Conv -> ReLU -> MaxPool -> Conv -> ReLU -> Linear, 3 outputs; every ReLU a module."""

    def __init__(self, length: int = 24, n_outputs: int = 3, seed: int = 0):
        super().__init__()
        self.conv1 = nn.Conv1d(4, 6, 5)
        self.relu1 = nn.ReLU()
        self.pool = nn.MaxPool1d(2)
        self.conv2 = nn.Conv1d(6, 4, 3)
        self.relu2 = nn.ReLU()
        self.flatten = nn.Flatten()
        self.dense = nn.Linear(4 * ((length - 4) // 2 - 2), n_outputs)
        init_weights(self, seed)

    def forward(self, x):
        x = self.pool(self.relu1(self.conv1(x)))
        return self.dense(self.flatten(self.relu2(self.conv2(x))))


class SmoothConv(nn.Module):
    """A smooth (tanh / softplus) conv net with 2 outputs, for quadrature accuracy tests."""

    def __init__(self, length: int = 20, seed: int = 1):
        super().__init__()
        self.conv = nn.Conv1d(4, 5, 4)
        self.act = nn.Softplus()
        self.dense = nn.Linear(5 * (length - 3), 2)
        self.out = nn.Tanh()
        init_weights(self, seed, scale=0.8)
        with torch.no_grad():  # keep tanh away from saturation
            self.dense.weight.mul_(0.125)
            self.dense.bias.zero_()

    def forward(self, x):
        return self.out(self.dense(self.act(self.conv(x)).flatten(1)))


def small_labcnn(n_tasks: int = 2, length: int = 60, seed: int = 0):
    """A LabCNN (max-pooling, ceil mode) shrunk to run fast."""
    from cislens.models import LabCNN

    return LabCNN(
        n_tasks=n_tasks,
        input_length=length,
        n_filters=(8, 6),
        filter_widths=(7, 4),
        pool_sizes=(2, 3),
        n_hidden=16,
        random_state=seed,
    ).eval()


# A user's own BPNet-like architecture, written to a file so the command line, Dask workers and
# `cislens run` can load it as "two_heads.py:TwoHeads" with safetensors weights.
TWO_HEADS = """
import torch
from numpy.lib.stride_tricks import sliding_window_view
from torch import nn

from cislens.simulate import labels_from_instances


class TwoHeads(nn.Module):
    \"\"\"Profile logits (N, 2, L - 4) and counts (N, 1); takes (N, L, 4) when nlc=True.\"\"\"

    def __init__(self, nlc=False):
        super().__init__()
        self.nlc = nlc
        self.conv = nn.Conv1d(4, 6, 5, padding=2)
        self.relu = nn.ReLU()
        self.profile = nn.Conv1d(6, 2, 5)
        self.counts = nn.Linear(6, 1)

    def forward(self, x):
        if self.nlc:
            x = x.transpose(1, 2)
        h = self.relu(self.conv(x))
        return self.profile(h), self.counts(h.mean(-1))


class TwoHeadsNLC(TwoHeads):
    \"\"\"The same, taking (N, L, 4) without constructor arguments.\"\"\"

    def __init__(self):
        super().__init__(nlc=True)
"""


def two_heads_files(folder, *, seed: int = 0, nlc: bool = False):
    """Write ``TWO_HEADS`` and seeded safetensors weights to ``folder``.

    Returns ``(spec, weights, model)``: the class spec, the weights file and the loaded model.
    """
    from pathlib import Path

    from safetensors.torch import save_file

    from cislens.models import load_user_model

    folder = Path(folder)
    (folder / "two_heads.py").write_text(TWO_HEADS)
    rng = np.random.default_rng(seed)  # a local generator, not torch's global one
    shapes = {"conv.weight": (6, 4, 5), "conv.bias": (6,), "profile.weight": (2, 6, 5),
              "profile.bias": (2,), "counts.weight": (1, 6), "counts.bias": (1,)}  # fmt: skip
    state = {k: torch.from_numpy(0.5 * rng.normal(size=v).astype(np.float32))
             for k, v in shapes.items()}  # fmt: skip
    save_file(state, folder / "two_heads.safetensors")
    spec = f"{folder / 'two_heads.py'}:TwoHeads"
    weights = folder / "two_heads.safetensors"
    return spec, weights, load_user_model(spec, weights, nlc=nlc)


class HandWritten(nn.Module):
    """The wrapper a user writes for a (profile, counts) model before output= existed."""

    def __init__(self, model: nn.Module, head: str, nlc: bool = False):
        super().__init__()
        self.model, self.head, self.nlc = model, head, nlc

    def forward(self, x):
        profile, counts = self.model(x.transpose(1, 2) if self.nlc else x)
        if self.head == "counts":
            return counts
        logits = profile.flatten(1)
        logits = logits - logits.mean(-1, keepdim=True)
        return (torch.softmax(logits, -1).detach() * logits).sum(-1, keepdim=True)


def float64_copy(model: nn.Module) -> nn.Module:
    return copy.deepcopy(model).double().eval()


def model_snapshot(model: nn.Module) -> dict:
    """Everything the methods must leave unchanged on a model."""
    return {
        "state": {key: value.clone() for key, value in model.state_dict().items()},
        "dtypes": {key: value.dtype for key, value in model.state_dict().items()},
        "modes": [module.training for module in model.modules()],
        "requires_grad": [param.requires_grad for param in model.parameters()],
        "grads": [param.grad for param in model.parameters()],
        "hooks": [
            len(module._forward_hooks)
            + len(module._forward_pre_hooks)
            + len(module._backward_hooks)
            + len(getattr(module, "_backward_pre_hooks", {}))
            for module in model.modules()
        ],
        "attributes": [sorted(vars(module)) for module in model.modules()],
    }


def assert_unchanged(model: nn.Module, snapshot: dict) -> None:
    after = model_snapshot(model)
    assert after["dtypes"] == snapshot["dtypes"]
    for key, value in snapshot["state"].items():
        assert torch.equal(after["state"][key], value), key
    for name in ("modes", "requires_grad", "hooks", "attributes"):
        assert after[name] == snapshot[name], name
    assert all(grad is None for grad in after["grads"])


TINY_ARGMINN = {
    "n_filters": 3,
    "filter_width": 6,
    "token_dim": 8,
    "stream_dim": 8,
    "n_heads": 2,
    "warmup_epochs": 1,
    "ramp_epochs": 1,
}
"""Hyperparameters of an ARGMINN small enough to train in a test (3 filters of 6 bp)."""


def zeroed_argminn(n_filters: int, **overrides):
    """A one-task ARGMINN (6-wide filters, 8-wide tokens and stream, 2 heads; ``overrides``
    replace these arguments) with every parameter zero, for tests that write exact filters and
    tokens by hand."""
    from cislens.argminn import ARGMINN

    settings = {"filter_width": 6, "token_dim": 8, "stream_dim": 8, "n_heads": 2, **overrides}
    model = ARGMINN(
        n_tasks=1,
        n_filters=n_filters,
        token_batch_norm=False,
        position_dim=4,
        random_state=0,
        **settings,
    )
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.zero_()
    return model


@pytest.fixture(autouse=True)
def single_thread():
    """Run torch single-threaded during a test (tiny models; avoids thread contention)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def save_lab3_inputs(root, *, n: int, epochs: int):
    """A lab3 simulation of ``n`` sequences saved as ``root/data.h5`` and a LabCNN for it saved
    as ``root/model`` (trained ``epochs`` epochs, 0: untrained); returns ``(data, model)``."""
    from cislens.io import save_dataset
    from cislens.models import LabCNN, save_model
    from cislens.simulate import simulate
    from cislens.train import fit

    data = simulate("lab3", n=n, random_state=0)
    save_dataset(root / "data.h5", data)
    model = LabCNN(n_tasks=data.n_tasks, input_length=data.length, random_state=0)
    if epochs:
        fit(model, data, epochs=epochs, batch_size=100, random_state=0)
    save_model(model, root / "model", task_names=data.task_names)
    return data, model


# --- planted motif data (motif discovery tests) ---

MOTIFS = ("GATTACAGGC", "CCGTTAACTT")
FAST = {"n_leiden_runs": 3, "n_neighbors": 60}


def planted(n=240, length=90, motifs=MOTIFS, seed=0, noise=0.05, revcomp=True):
    """Random sequences, one motif each (alternating), hypothetical scores = motif + noise."""
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, 4, (n, length))
    hyp = rng.normal(0, noise, (n, 4, length)).astype(np.float32)
    truth = []
    for i in range(n):
        name = motifs[i % len(motifs)]
        site = np.array(["ACGT".index(c) for c in name])
        strand = "-" if (revcomp and rng.random() < 0.5) else "+"
        if strand == "-":
            site = 3 - site[::-1]
        start = int(rng.integers(15, length - 15 - len(site)))
        tokens[i, start : start + len(site)] = site
        hyp[i, :, start : start + len(site)] -= 0.3
        hyp[i, site, np.arange(start, start + len(site))] += 1.3
        truth.append(
            {
                "sequence": i,
                "motif": name,
                "start": start,
                "end": start + len(site),
                "strand": strand,
            }
        )
    X = np.eye(4, dtype=np.float32)[tokens].transpose(0, 2, 1).copy()
    return X, hyp, pd.DataFrame(truth)


# --- a user model module (CLI tests) ---

MODULE = """
import torch
from torch import nn


class TinyNet(nn.Module):
    def __init__(self, length=60, n_filters=3):
        super().__init__()
        self.conv = nn.Conv1d(4, n_filters, 5)
        self.relu = nn.ReLU()
        self.dense = nn.Linear(n_filters * (length - 4), 2)

    def forward(self, x):
        return self.dense(self.relu(self.conv(x)).flatten(1))
"""


# --- Fi-NeMo hits (genome hits and tracks tests) ---


def finemo_hits_file(path, rows):
    """A Fi-NeMo hits.tsv for windows without peak coordinates, by Fi-NeMo's own writer."""
    pl = pytest.importorskip("polars")
    data_io = pytest.importorskip("finemo.data_io")
    n = max(r[0] for r in rows) + 1
    peaks = pl.DataFrame(
        {
            "chr": ["NA"] * n,
            "chr_id": np.arange(n, dtype=np.uint32),
            "peak_region_start": np.zeros(n, dtype=np.int32),
            "peak_id": np.arange(n, dtype=np.uint32),
            "peak_name": ["NA"] * n,
        }
    )
    motifs = pl.DataFrame(
        {
            "motif_id": [0, 1],
            "motif_name": ["pos_0", "pos_0"],
            "strand": ["+", "-"],
            "motif_start": [1, 1],
            "motif_end": [7, 7],
            "lambda": [0.7, 0.7],
        }
    )
    hits = pl.DataFrame(
        {
            "peak_id": np.array([r[0] for r in rows], dtype=np.uint32),
            "motif_id": [0 if r[2] == "+" else 1 for r in rows],
            "hit_start": [r[1] - 1 for r in rows],
            "hit_coefficient": [1.0] * len(rows),
            "hit_similarity": [0.8] * len(rows),
            "hit_importance": [2.0] * len(rows),
            "hit_importance_sq": [4.0] * len(rows),
        }
    )
    qc = pl.DataFrame({"peak_id": np.arange(n, dtype=np.uint32), "global_scale": [1.0] * n})
    data_io.write_hits(hits, peaks, motifs, qc, str(path), motif_width=8)
    return path / "hits.tsv"


# --- the simulator's ground-truth contract (simulation tests) ---


def binned_tables(dataset):
    """Per motif, the (+, -) binned log-odds tables, (4, W) each, from the dataset's records."""
    comp = np.array(dataset.attrs["background_composition"])
    size = dataset.attrs["score_bin_size"]
    out = {}
    for name, p in dataset.ground_truth.motifs.items():
        plus = np.rint(np.log2(p / comp[:, None]) / size).astype(int)
        minus = np.rint(np.log2(p[::-1, ::-1] / comp[:, None]) / size).astype(int)
        out[name] = (plus, minus)
    return out


def window_scores(tokens, table):
    width = table.shape[1]
    windows = sliding_window_view(tokens, width, axis=1)  # (N, L - W + 1, W)
    return table[windows, np.arange(width)].sum(-1)


def check_truth(dataset):
    """Assert the ground-truth contract; return the number of instances checked."""
    truth = dataset.ground_truth
    thresholds = dataset.attrs["match_thresholds"]
    size = dataset.attrs["score_bin_size"]
    tables = binned_tables(dataset)
    checked = 0
    for split in dataset.splits:
        X = dataset.X[split]
        assert ((X == 0) | (X == 1)).all() and (X.sum(axis=1) == 1).all()
        tokens = X.argmax(axis=1)
        table = truth.instances[truth.instances["split"] == split].reset_index(drop=True)
        # instances lie inside the sequence and never overlap
        assert ((table.start >= 0) & (table.end <= dataset.length)).all()
        for _, group in table.groupby("sequence"):
            spans = sorted(zip(group.start, group.end, strict=True))
            assert all(b <= c for (_, b), (c, _) in itertools.pairwise(spans))
        # every recorded instance is a strong match of its motif, on its strand
        for row in table.itertuples():
            plus, minus = tables[row.motif]
            own = plus if row.strand == "+" else minus
            score = own[tokens[row.sequence, row.start : row.end], np.arange(own.shape[1])].sum()
            bits = score * size
            assert bits >= thresholds[row.motif][row.strand] - 1e-9
            assert bits > 0 and abs(bits - row.score) < 1e-6
            checked += 1
        # no window matches a motif above threshold unless recorded instances of the same
        # motif cover at least half of it (instances never overlap, so overlaps add up)
        for name, (plus, minus) in tables.items():
            width = plus.shape[1]
            spans = {
                k: list(zip(g.start, g.end, strict=True))
                for k, g in table[table.motif == name].groupby("sequence")
            }
            for strand, own in (("+", plus), ("-", minus)):
                hits = np.argwhere(window_scores(tokens, own) * size >= thresholds[name][strand])
                for seq, pos in hits:
                    overlaps = [min(pos + width, e) - max(pos, s) for s, e in spans.get(seq, [])]
                    covered = sum(max(o, 0) for o in overlaps)
                    assert covered >= width / 2, (split, name, strand, seq, pos)
        # labels and relevance follow from the recorded instances by the rules
        result = labels_from_instances(table, truth.config, n_sequences=len(X))
        flips = dataset.attrs["label_flips"][split]
        changed = (result.labels != dataset.Y[split]).sum(axis=0)
        assert changed.tolist() == [flips[t] for t in dataset.task_names]
        for t, task in enumerate(dataset.task_names):
            assert (result.relevant[:, t] == table[f"relevant_{task}"].to_numpy()).all()
            positive = set(np.flatnonzero(result.labels[:, t]))
            assert set(table.sequence[table[f"relevant_{task}"]]) <= positive
    return checked


def planted_kmer_data(seed=0, n=2000, length=300, motif="GATAAG"):
    """The #21 own-data case: random DNA, ``motif`` at a random position in half of the
    sequences, labels = planted; (X, Y) for train / valid / test split 70 / 10 / 20."""
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, 4, (n, length))
    y = np.zeros(n, np.float32)
    y[rng.permutation(n)[: n // 2]] = 1
    site = np.array(["ACGT".index(c) for c in motif])
    for i in np.flatnonzero(y):
        start = rng.integers(0, length - len(site) + 1)
        tokens[i, start : start + len(site)] = site
    X = np.eye(4, dtype=np.float32)[tokens].transpose(0, 2, 1)
    a, b = int(0.7 * n), int(0.8 * n)
    return X[:a], y[:a, None], X[a:b], y[a:b, None], X[b:], y[b:, None]
