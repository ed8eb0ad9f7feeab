"""`cislens run config.yaml`: config validation, and the pipeline on FASTA, BED + genome and HDF5
inputs at toy scale (a LabCNN trained for one epoch on a small lab3 simulation)."""

import copy
import json

import numpy as np
import pandas as pd
import pytest
import yaml

from cislens.cli import main
from cislens.errors import ConfigError
from cislens.pipeline import load_run_config, parse_run_config, run_pipeline

# At toy scale discovery finds too few seqlets for a pattern, and says so.
pytestmark = pytest.mark.filterwarnings("ignore:no motifs:cislens.errors.CislensWarning")

VALID = {"data": {"fasta": "seqs.fa"}, "model": {"checkpoint": "model"}}


def _with(path: str, value):
    """VALID with the dotted ``path`` set to ``value``."""
    config = copy.deepcopy(VALID)
    *parents, last = path.split(".")
    node = config
    for key in parents:
        node = node[key]
    node[last] = value
    return config


@pytest.mark.parametrize(
    ("config", "field", "fragments"),
    [
        (_with("methodz", "all"), "methodz", ["unknown field", "Did you mean 'methods'"]),
        (_with("data.lenght", 200), "data.lenght", ["unknown field"]),
        (_with("seed", "zero"), "seed", ["expected an integer", "'zero' (str)"]),
        (_with("gia", "yes"), "gia", ["expected true, false or a mapping", "'yes' (str)"]),
        (_with("methods", ["saliency", "salency"]), "methods[1]", ["Did you mean 'saliency'"]),
        (_with("data.hdf5", "d.h5"), "data", ["exactly one of", "['hdf5', 'fasta']"]),
        (
            {"data": {"bed": "p.bed", "genome": "g.fa"}, "model": VALID["model"]},
            "data.length",
            ["required with data.bed"],
        ),
        (_with("data.genome", "g.fa"), "data.genome", ["not used with data.fasta", "Remove it"]),
        (
            _with("model", {"architecture": "labcnn"}),
            "model.architecture",
            ["training needs labels", "data.labels"],
        ),
        (_with("model", {"architecture": "labcnnn"}), "model.architecture", ["Did you mean"]),
        (_with("model", {"class": "net.py:Net"}), "model.weights", ["required with model.class"]),
        (
            _with("methods", ["saliency"]),
            "motifs.method",
            ["'deeplift_shap', which is not among methods", "motifs: false"],
        ),
        (_with("n_examples", 0), "n_examples", ["expected an integer >= 1", "got 0"]),
        (_with("benchmark", "maybe"), "benchmark", ["expected one of ['auto', 'true', 'false']"]),
        (
            _with("data", {"fasta": "s.fa", "valid_fraction": 0.5, "test_fraction": 0.5}),
            "data",
            ["valid_fraction + test_fraction must be < 1"],
        ),
        (
            _with("model", {"architecture": "labcnn", "output": "counts"}),
            "model.output",
            ["applies to a given model", "Remove it (or the --output option)"],
        ),
        (
            _with("model.input_layout", "LNC"),
            "model.input_layout",
            ["expected one of ['NCL', 'NLC']", "'LNC' (str)"],
        ),
        (
            _with("model.output", 1.5),
            "model.output",
            ["expected an output index ('1'), a head", "KEY:HEAD", "1.5 (float)"],
        ),
        (_with("model.output", [0, "bogus"]), "model.output", ["or a pair such as [0, profile]"]),
    ],
)
def test_invalid_configs_name_the_field(config, field, fragments):
    with pytest.raises(ConfigError) as caught:
        parse_run_config(config, base_dir="/tmp")
    message = str(caught.value)
    assert message.startswith(f"{field}:"), message
    for fragment in fragments:
        assert fragment in message, message


def test_defaults_and_relative_paths(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(VALID))
    config = load_run_config(path)
    assert config.data.path == tmp_path / "seqs.fa"
    assert config.model.checkpoint == tmp_path / "model"
    assert config.out == tmp_path / "run_out"
    assert config.motifs.enabled and config.gia.enabled and config.benchmark == "auto"
    assert "deeplift_shap" in config.methods and config.seed == 0
    path.write_text("data: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_run_config(path)


def test_training_defaults_follow_the_architecture():
    def model(architecture, **train):
        raw = {
            "data": {"hdf5": "data.h5"},
            "model": {"architecture": architecture, **({"train": train} if train else {})},
        }
        return parse_run_config(raw, base_dir=".").model

    generic = model("deepbind")  # no training_defaults of its own
    # the library's defaults (cislens.train.defaults): epochs and lr chosen from the data size
    assert (generic.epochs, generic.lr, generic.train_batch_size) == (None, None, 64)
    argminn = model("argminn")  # its regularisation schedule needs 28 epochs at lr 3e-3
    assert (argminn.epochs, argminn.lr, argminn.train_batch_size) == (28, 3e-3, 128)
    assert model("argminn", epochs=40, lr=1e-3).epochs == 40
    assert model("argminn", epochs=40, lr=1e-3).lr == 1e-3
    assert (generic.restarts, argminn.restarts, argminn.selection_epochs) == (1, 4, 5)
    assert model("labcnn").restarts == 3  # LabCNN races three seeds (a seed can collapse)
    assert model("argminn", epochs=3).restarts == 1  # the default race does not fit 3 epochs
    with pytest.raises(ConfigError, match=r"model\.train\.selection_epochs: must be below"):
        model("argminn", epochs=3, restarts=2)
    assert model("labcnn", restarts=3, selection_epochs=2).restarts == 3


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        (1, 1),
        ("1", 1),
        ("counts", "counts"),
        ("human", "human"),
        ("0:profile", (0, "profile")),
        ("human:sum", ("human", "sum")),
        ([0, "profile"], (0, "profile")),
    ],
)
def test_model_output_takes_the_forms_of_the_option(value, parsed):
    config = parse_run_config(
        _with("model", {"class": "n.py:Net", "weights": "w", "output": value}), base_dir="/tmp"
    )
    assert config.model.output == parsed and config.model.input_layout == "NCL"
    recorded = config.to_dict()["model"]["output"]  # a pair as JSON holds it
    assert recorded == (list(parsed) if isinstance(parsed, tuple) else parsed)
    overridden = parse_run_config(
        VALID, base_dir="/tmp", model_overrides={"output": "1", "input_layout": "NLC"}
    )
    assert (overridden.model.output, overridden.model.input_layout) == (1, "NLC")


def test_documented_examples_are_valid():
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    blocks = []
    for doc in ("docs/run.md", "README.md"):
        blocks += re.findall(r"```yaml\n(.*?)```", (root / doc).read_text(), flags=re.S)
    assert len(blocks) >= 4
    for block in blocks:
        config = parse_run_config(yaml.safe_load(block), base_dir="/data")
        assert config.data.path.is_absolute()
    full = parse_run_config(yaml.safe_load(blocks[0]), base_dir="/data")
    assert (full.data.kind, full.data.length, full.model.architecture) == ("bed", 1000, "basset")
    assert full.model.args == {"dropout": 0.3} and full.data.label_columns == [7, 8]


# --------------------------------------------------------------------------------------------
# End to end


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """A small simulated dataset, a LabCNN trained on it for one epoch, and its test split as
    FASTA and as BED intervals on a made-up genome (one chromosome per sequence, with random
    flanks; odd sequences stored reverse-complemented and given on the minus strand)."""
    from testkit import save_lab3_inputs

    from cislens.sequence import write_fasta
    from cislens.sequence.onehot import decode

    root = tmp_path_factory.mktemp("run_inputs")
    data, model = save_lab3_inputs(root, n=240, epochs=1)
    seqs = decode(data.X["test"])
    write_fasta(root / "test.fa", seqs, names=[f"s{i}" for i in range(len(seqs))])
    rng = np.random.default_rng(1)
    complement = str.maketrans("ACGTN", "TGCAN")
    chroms, rows = {}, []
    for i, seq in enumerate(seqs):
        flank = lambda: "".join(rng.choice(list("ACGT"), 30))  # noqa: E731
        minus = i % 2 == 1
        body = seq.translate(complement)[::-1] if minus else seq
        chroms[f"chr{i}"] = flank() + body + flank()
        labels = [f"{v:g}" for v in data.Y["test"][i]]
        rows.append(
            "\t".join(
                [
                    f"chr{i}",
                    "30",
                    str(30 + len(seq)),
                    f"peak{i}",
                    "0",
                    "-" if minus else "+",
                    *labels,
                ]
            )
        )
    write_fasta(root / "genome.fa", chroms)
    (root / "peaks.bed").write_text("\n".join(rows) + "\n")
    return root, data, model.eval()


def _run_cli(config_path, out, *extra):
    return main(["run", str(config_path), "--out", str(out), *extra])


def test_fasta_without_labels_explains_the_top_predictions(inputs, tmp_path, capsys):
    from cislens.attribution import saliency
    from cislens.io import load_attributions, load_dataset
    from cislens.train import predict

    root, data, model = inputs
    config = {
        "data": {"fasta": "test.fa", "task_names": ["CTCF<b>", "ARID3A", "MAFK"]},
        "model": {"checkpoint": "model"},
        "tasks": ["CTCF<b>"],
        "methods": ["saliency", "deeplift_shap"],
        "n_examples": 3,
        "motifs": {"annotate": False, "filters": False},
    }
    path = root / "fasta.yaml"
    path.write_text(yaml.safe_dump(config))
    out = tmp_path / "fasta"
    assert _run_cli(path, out) == 0
    printed = capsys.readouterr().out
    assert "skipped train: a trained model was given" in printed
    assert "skipped evaluate: the data has no labels" in printed
    assert "skipped benchmark: the data has no ground truth" in printed

    # The FASTA became the test split, unchanged, with predictions standing in for labels.
    stored = load_dataset(out / "data.h5")
    np.testing.assert_array_equal(stored.X["test"], data.X["test"])
    logits = predict(model, data.X["test"])
    np.testing.assert_allclose(stored.Y["test"], 1 / (1 + np.exp(-logits)), rtol=1e-5)
    # Only the chosen task is explained, on the 3 sequences the model scores highest.
    assert not (out / "attributions/saliency_t1.npz").exists()
    result = load_attributions(out / "attributions/saliency_t0.npz")
    top = np.argsort(-logits[:, 0], kind="stable")[:3]
    np.testing.assert_array_equal(result.example_index, top)
    expected = saliency(model, data.X["test"][top], target=0)
    np.testing.assert_allclose(result.attributions, expected.numpy(), rtol=1e-5, atol=1e-7)
    names = pd.read_csv(out / "sequences.tsv", sep="\t")
    assert names["name"].tolist()[:2] == ["s0", "s1"]
    assert (out / "motifs.h5").exists() and len(pd.read_csv(out / "filters.csv")) == 0

    html = (out / "report.html").read_text()
    assert "CTCF&lt;b&gt;" in html and "CTCF<b>" not in html
    assert "the data has no ground truth" in html  # the skips are listed in the parameters
    assert f"<title>cislens run: {out.name}</title>" in html
    # the given checkpoint is kept beside the results, so `cislens report` can re-render them
    assert (out / "model" / "config.json").exists()


@pytest.fixture(scope="module")
def bed_run(inputs, tmp_path_factory):
    root, data, _ = inputs
    config = {
        "data": {
            "bed": str(root / "peaks.bed"),
            "genome": str(root / "genome.fa"),
            "length": data.length,
            "label_columns": [7, 8, 9],
            "task_names": list(data.task_names),
        },
        "model": {"checkpoint": str(root / "model")},
        "methods": ["saliency"],
        "tasks": ["ARID3A"],
        "n_examples": 2,
        "motifs": False,
        "seed": 3,
    }
    out = tmp_path_factory.mktemp("bed")
    return config, out, run_pipeline(config, out=out)


def test_bed_and_genome_with_label_columns(inputs, bed_run):
    from cislens.io import load_dataset
    from cislens.train import evaluate

    _, data, model = inputs
    _, out, result = bed_run
    stored = load_dataset(out / "data.h5")
    # Windows centred on the intervals, minus strand reverse-complemented: the original test set.
    np.testing.assert_array_equal(stored.X["test"], data.X["test"])
    np.testing.assert_array_equal(stored.Y["test"], data.Y["test"])
    expected = evaluate(model, data.X["test"], data.Y["test"], task_names=data.task_names)
    np.testing.assert_allclose(result.metrics["auroc"], expected["auroc"])
    assert set(result.skipped) == {"train", "motifs", "gia", "benchmark"}
    assert result.skipped["gia"].startswith("GIA embeds the discovered motifs")
    assert result.benchmark is None and not (out / "benchmark.csv").exists()
    # Labels given: the explained rows are the first test positives of the chosen task only.
    assert not (out / "attributions/saliency_t0.npz").exists()
    index = np.load(out / "attributions/saliency_t1.npz")["example_index"]
    positives = np.flatnonzero(data.Y["test"][:, 1] > 0.5)[:2]
    np.testing.assert_array_equal(index, positives)
    assert json.loads((out / "attribute.params.json").read_text())["random_state"] == 3


def test_resume_skips_finished_stages(bed_run):
    config, out, _ = bed_run
    attributions = out / "attributions/saliency_t1.npz"
    before = attributions.stat().st_mtime_ns
    again = run_pipeline(config, out=out, resume=True)
    assert again.resumed == ["data", "evaluate", "attribute", "report"]  # nothing changed
    assert attributions.stat().st_mtime_ns == before
    pd.testing.assert_frame_equal(again.metrics, pd.read_csv(out / "metrics.csv"))
    # A changed parameter reruns its stage and those after it, not the ones before.
    changed = run_pipeline({**config, "n_examples": 1}, out=out, resume=True)
    assert changed.resumed == ["data", "evaluate"]
    assert len(np.load(attributions)["example_index"]) == 1


def test_hdf5_with_ground_truth_trains_and_benchmarks(inputs, tmp_path):
    root, _, _ = inputs
    config = {
        "data": {"hdf5": str(root / "data.h5")},
        "model": {"architecture": "labcnn", "train": {"epochs": 1}},
        "methods": ["saliency", "grad_x_input"],
        "tasks": [2],
        "n_examples": 2,
        "motifs": False,
        "gia": False,
    }
    result = run_pipeline(config, out=tmp_path)
    assert (tmp_path / "model/config.json").exists() and "train" not in result.skipped
    assert set(result.skipped) == {"motifs", "gia"}
    assert set(result.benchmark["method"]) == {"saliency", "grad_x_input"}
    # Two positives of the chosen task, each with a recorded relevant instance, were scored.
    assert (result.benchmark["n_sequences"] == 2).all()
    assert ((result.benchmark["auroc"] >= 0) & (result.benchmark["auroc"] <= 1)).all()
    assert '<section id="benchmark">' in (tmp_path / "report.html").read_text()


def test_cli_reports_config_errors(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({**VALID, "sed": 1}))
    assert _run_cli(path, tmp_path / "out") == 2
    assert "cislens: error: sed: unknown field" in capsys.readouterr().err


USER_MODEL = """
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self, n_out=2):
        super().__init__()
        self.conv = nn.Conv1d(4, 3, 5)
        self.head = nn.Linear(3, n_out)

    def forward(self, x):
        return self.head(torch.relu(self.conv(x)).amax(-1))
"""


def test_user_class_with_safetensors_weights(inputs, tmp_path):
    import importlib.util

    import torch
    from safetensors.torch import save_file

    from cislens.attribution import grad_x_input
    from cislens.io import load_attributions
    from cislens.models import load_user_model

    root, data, _ = inputs
    (tmp_path / "net.py").write_text(USER_MODEL)
    module_spec = importlib.util.spec_from_file_location("_test_net", tmp_path / "net.py")
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    rng = np.random.default_rng(0)  # weights from a local generator, not torch's global one
    state = {
        k: torch.from_numpy(rng.normal(size=tuple(v.shape)).astype(np.float32))
        for k, v in module.Net(n_out=2).state_dict().items()
    }
    save_file(state, tmp_path / "net.safetensors")
    net = load_user_model(f"{tmp_path / 'net.py'}:Net", tmp_path / "net.safetensors", n_out=2)
    spec = {"class": "net.py:Net", "weights": "net.safetensors", "args": {"n_out": 2}}
    path = tmp_path / "user.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "data": {"fasta": str(root / "test.fa")},
                "model": spec,
                "methods": ["grad_x_input"],
                "n_examples": 2,
                "motifs": False,
            }
        )
    )
    result = run_pipeline(load_run_config(path), out=tmp_path / "out")
    assert "train" in result.skipped and "evaluate" in result.skipped
    saved = load_attributions(tmp_path / "out/attributions/grad_x_input_t1.npz")
    X = data.X["test"][saved.example_index]
    expected = grad_x_input(net, X, target=1).numpy()
    np.testing.assert_allclose(saved.attributions, expected, rtol=1e-5, atol=1e-7)


def test_output_and_input_layout_from_the_config_and_the_command_line(inputs, tmp_path, capsys):
    """A (profile, counts) user class taking (N, L, 4) on unlabelled FASTA; --output and
    --input-layout override the config's model.output / model.input_layout."""
    from testkit import HandWritten, two_heads_files

    from cislens.attribution import grad_x_input
    from cislens.io import load_attributions

    root, data, _ = inputs
    *_, model = two_heads_files(tmp_path)  # written beside the config
    config = {
        "data": {"fasta": str(root / "test.fa")},
        "model": {
            "class": "two_heads.py:TwoHeadsNLC",
            "weights": "two_heads.safetensors",
            "output": "counts",
        },
        "methods": ["grad_x_input"],
        "n_examples": 2,
        "motifs": False,
    }
    path = tmp_path / "heads.yaml"
    path.write_text(yaml.safe_dump(config))
    out = tmp_path / "out"
    assert _run_cli(path, out, "--output", "0:profile", "--input-layout", "NLC") == 0, (
        capsys.readouterr().err
    )
    saved = load_attributions(out / "attributions/grad_x_input_t0.npz")
    assert saved.params["output"] == [0, "profile"] and saved.params["input_layout"] == "NLC"
    X = data.X["test"][saved.example_index]
    expected = grad_x_input(HandWritten(model, "profile"), X).numpy()
    np.testing.assert_allclose(saved.attributions, expected, rtol=1e-5, atol=1e-7)
    recorded = json.loads((out / "run_config.json").read_text())["model"]
    assert recorded["output"] == [0, "profile"] and recorded["input_layout"] == "NLC"
    assert json.loads((out / "attribute.params.json").read_text())["model"]["output"] == [
        0, "profile"]  # fmt: skip
    capsys.readouterr()
    assert _run_cli(path, out, "--input-layout", "LNC") == 2
    err = capsys.readouterr().err
    assert err.startswith("cislens: error: --input-layout must be 'NCL'") and "got 'LNC'" in err


def test_report_rerender_reads_the_model_as_the_run_did(inputs, tmp_path):
    from cislens.attribution.heads import ExplainedModel
    from cislens.run_folder import RunFolder

    root, _, _ = inputs
    config = {
        "data": {"fasta": str(root / "test.fa")},
        "model": {"checkpoint": str(root / "model"), "output": "counts"},
        "methods": ["saliency"],
        "tasks": [0],
        "n_examples": 2,
        "motifs": False,
    }
    run_pipeline(config, out=tmp_path)
    model = RunFolder(tmp_path).model()  # the run folder's model, read as the run read it
    assert isinstance(model, ExplainedModel) and model.output == "counts"
    assert main(["report", str(tmp_path)]) == 0


def test_hits_of_a_bed_run_land_on_their_genome_bases(inputs, bed_run, tmp_path):
    """hits.bed of a BED + genome run: pooled hit rows -> test rows -> BED lines -> genome."""
    from cislens.motifs.genome import HITS_BED_COLUMNS
    from cislens.pipeline._data import write_genome_hits
    from cislens.pipeline.config import parse_run_config
    from cislens.sequence import reverse_complement
    from cislens.sequence.fasta import read_fasta
    from cislens.sequence.onehot import decode

    root, data, _ = inputs
    config, out, _ = bed_run
    test_rows = np.array([3, 0, 5])  # pooled attribution rows -> rows of the test split
    hits = pd.DataFrame(
        {
            "example": [0, 1, 2, 2],
            "start": [4, 10, 0, 50],
            "end": [12, 16, 9, 61],
            "strand": ["+", "-", "+", "-"],
            "pattern": ["p0", "p0", "p1", "p1"],
            "score": [0.9, 0.8, 0.7, 0.6],
            "similarity": [0.9, 0.8, 0.7, 0.6],
        }
    )
    parsed = parse_run_config(config, base_dir=str(root))
    path = write_genome_hits(parsed.data, out, hits, test_rows)
    bed = pd.read_csv(path, sep="\t", comment="#", header=None)
    header = path.read_text().splitlines()[0][1:].split("\t")
    bed.columns = header
    assert header[: len(HITS_BED_COLUMNS)] == list(HITS_BED_COLUMNS)
    genome, windows = read_fasta(root / "genome.fa"), decode(data.X["test"])
    assert len(bed) == len(hits)
    for record in bed.itertuples():
        hit = hits.iloc[int(np.flatnonzero(hits["score"] == record.hit_score)[0])]
        called = windows[test_rows[hit.example]][hit.start : hit.end]
        called = called if hit.strand == "+" else reverse_complement(called)
        bases = genome[record.chrom][record.start : record.end]
        assert (bases if record.strand == "+" else reverse_complement(bases)) == called
        assert record.window == f"peak{test_rows[hit.example]}"
    assert (out / "hits_summary.tsv").is_file()


def test_bed_window_off_a_chromosome_names_the_config_field(inputs, tmp_path):
    root, data, _ = inputs
    bed = tmp_path / "edge.bed"
    bed.write_text("chr0\t30\t230\tpeak0\t0\t+\nchr1\t0\t20\tedge\t0\t+\n")
    config = {
        "data": {"bed": str(bed), "genome": str(root / "genome.fa"), "length": data.length},
        "model": {"checkpoint": str(root / "model")},
        "methods": ["saliency"],
        "motifs": False,
    }
    with pytest.raises(
        ValueError,
        match=r"edge.bed:2: interval chr1:0-20: .*runs off chr1 "
        r"\(length 260\); set data.pad_with_n: true",
    ):
        run_pipeline(config, out=tmp_path / "out")
