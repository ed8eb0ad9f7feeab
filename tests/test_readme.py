"""Every ``cislens`` command in the README's shell blocks, run as written on small inputs.

The commands are read from README.md (``\\`` continuations joined, ``#`` comments and optional
``[--flag]`` parts dropped) and run in README order in one folder that holds small files under
the README's names: a 150-sequence lab3 dataset as ``data.h5``, a two-chromosome ``hg38.fa``,
``peaks.bed``, ``calls.vcf.gz`` matching that genome, and a BPNet-shaped ``bpnet.py`` with
``bpnet.safetensors``. Later commands use what earlier ones wrote (``runs/labcnn``,
``attr.h5``, ``peaks.fa``). ``simulate --preset lab3`` runs as written in a scratch folder, so
its 25,000 sequences do not replace the small ``data.h5``.

A few commands are parsed (every option name, type and required option checked by the CLI's
own parser) but not run, because their cost is the point of them, not their inputs: ``demo``
(the whole pipeline on 25,000 sequences; ``tests/test_demo.py`` runs it small), ``run`` (the
same on the user's data; ``tests/test_pipeline*.py``), ``report demo_out`` (needs the demo;
``test_demo.py`` renders it), ``benchmark --methods all`` (``test_benchmark_cli.py``) and
``train --model argminn`` (28 epochs; ``test_argminn_cli.py``): the ARGMINN example that
follows it reads a small untrained ARGMINN checkpoint instead.
"""

from __future__ import annotations

import gzip
import re
import shlex
import warnings
from pathlib import Path

import numpy as np
import pytest

from cislens.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"
PARSE_ONLY = {
    ("demo",): "the whole demo pipeline",
    ("run",): "the pipeline on the user's data",
    ("report",): "needs the demo's output",
    ("benchmark",): "every method on every test sequence",
    ("train", "argminn"): "28 ARGMINN epochs",
}

BPNET = '''
import torch
from torch import nn


class BPNet(nn.Module):
    """BPNet-shaped: profile logits (N, 2, L - 4) and log counts (N, 1)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(4, 6, 5, padding=2)
        self.profile = nn.Conv1d(6, 2, 5)
        self.counts = nn.Linear(6, 1)

    def forward(self, x):
        h = torch.relu(self.conv(x))
        return self.profile(h), self.counts(h.mean(-1))
'''


def readme_commands(text: str) -> list[list[str]]:
    """The argument lists of the ``cislens`` commands in the ```bash blocks of ``text``."""
    found = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if words and words[0] == "cislens":
                found.append([w for w in words[1:] if not re.fullmatch(r"\[.*\]", w)])
    return found


COMMANDS = readme_commands(README.read_text())


def _subcommand(argv):
    return next((word for word in argv if not word.startswith("-")), None)


def _parse_only(argv) -> bool:
    return any(all(word in argv for word in key) for key in PARSE_ONLY)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    import torch
    from safetensors.torch import save_file

    from cislens.argminn import ARGMINN
    from cislens.io import save_dataset
    from cislens.models import save_model
    from cislens.sequence.fasta import write_fasta
    from cislens.simulate import simulate

    root = tmp_path_factory.mktemp("readme")
    data = simulate("lab3", n=150, random_state=0)
    save_dataset(root / "data.h5", data)
    rng = np.random.default_rng(0)
    genome = {f"chr{i}": "".join(rng.choice(list("ACGT"), 3000)) for i in (1, 2)}
    write_fasta(root / "hg38.fa", genome)
    (root / "peaks.bed").write_text("".join(
        f"chr{1 + i % 2}\t{600 + 100 * i}\t{700 + 100 * i}\tpeak{i}\t0\t{'+-'[i % 2]}\n"
        for i in range(12)))  # fmt: skip
    lines = ["##fileformat=VCFv4.2", "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"]
    for i, pos in enumerate(range(800, 2200, 100)):
        ref = genome["chr1"][pos - 1]
        lines.append(f"chr1\t{pos}\trs{i}\t{ref}\t{'ACGT'[('ACGT'.index(ref) + 1) % 4]}\t.\t.\t.")
    with gzip.open(root / "calls.vcf.gz", "wt") as handle:
        handle.write("\n".join(lines) + "\n")
    (root / "bpnet.py").write_text(BPNET)
    shapes = {"conv.weight": (6, 4, 5), "conv.bias": (6,), "profile.weight": (2, 6, 5),
              "profile.bias": (2,), "counts.weight": (1, 6), "counts.bias": (1,)}  # fmt: skip
    # Small weights: the toy's profile head then passes DeepLiftShap's float32
    # summation-to-delta check for any drawn seed (larger random weights can miss it by ~0.2 %).
    weights = np.random.default_rng(1)
    save_file({k: torch.from_numpy(0.1 * weights.normal(size=v).astype(np.float32))
               for k, v in shapes.items()}, root / "bpnet.safetensors")  # fmt: skip
    # What `train --model argminn` (parsed, not run) would have written: an untrained one.
    net = ARGMINN(n_tasks=3, input_length=data.length, n_filters=4, filter_width=9,
                  random_state=0)  # fmt: skip
    save_model(net, root / "runs" / "argminn", task_names=data.task_names)
    (root / "scratch").mkdir()
    return root


def test_readme_lists_the_commands_it_should():
    names = {_subcommand(argv) for argv in COMMANDS}
    assert {"attribute", "variants", "motifs", "extract", "shuffle", "gia"} <= names
    assert any("--bigwig" in argv for argv in COMMANDS)


@pytest.mark.parametrize(
    "argv", COMMANDS, ids=[f"{i}-{_subcommand(a)}" for i, a in enumerate(COMMANDS)]
)
def test_readme_command_runs_as_written(argv, workdir, monkeypatch, capsys):
    import typer

    from cislens.cli import app

    if _parse_only(argv):
        group = typer.main.get_command(app)
        at = argv.index(_subcommand(argv))
        context = group.make_context("cislens", list(argv[: at + 1]))  # the global options
        command = group.get_command(context, argv[at])
        assert command is not None, f"no subcommand {argv[at]!r}"
        command.make_context(argv[at], list(argv[at + 1 :]), parent=context)  # raises if wrong
        return
    scratch = "simulate" in argv and "--preset" in argv
    monkeypatch.chdir(workdir / "scratch" if scratch else workdir)
    with warnings.catch_warnings():  # as in a user's shell: warnings are printed, not raised
        warnings.simplefilter("default")
        code = main(list(argv))
    captured = capsys.readouterr()
    assert code == 0, f"cislens {' '.join(argv)} failed: {captured.err.strip()}"
