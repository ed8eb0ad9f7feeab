"""Chunked, resumable attribution on a local Dask cluster (2 worker processes) into Zarr.

Ground truth is the single-process path (``attribution_set``, what ``cislens attribute`` runs):
a chunked run must reproduce it within 1e-6 whatever the chunking, after a worker is killed
mid-run, and after an interrupted run is resumed.
"""

from __future__ import annotations

import gzip
import itertools
import logging
import shutil

import numpy as np
import pytest
import torch
from testkit import random_one_hot, small_labcnn, two_heads_files

pytest.importorskip("distributed")
zarr = pytest.importorskip("zarr")

from cislens.attribution import attribution_set  # noqa: E402
from cislens.cli import main  # noqa: E402
from cislens.errors import CislensError, ConfigError  # noqa: E402
from cislens.io import Dataset, save_dataset  # noqa: E402
from cislens.scale import (  # noqa: E402
    BedSource,
    FastaSource,
    HDF5Source,
    attribute_to_zarr,
    completed_blocks,
    read_metadata,
)
from cislens.scale.store import open_store, write_block  # noqa: E402
from cislens.sequence import decode  # noqa: E402
from cislens.sequence.fasta import extract_intervals, write_fasta  # noqa: E402

N, LENGTH, CHUNK, SEED = 2100, 40, 500, 11
POISON = 1234  # row holding the all-A sequence the trap models react to (block 2)
ARCH = {
    "n_tasks": 2,
    "input_length": LENGTH,
    "n_filters": [8, 6],
    "filter_widths": [7, 4],
    "pool_sizes": [2, 3],
    "n_hidden": 16,
}

# A model that sabotages the first block holding the all-A sequence, once: it kills its worker
# process ("kill") or raises ("raise") when the sentinel file exists and it runs on a worker.
TRAP = """
import os
import torch
from distributed import get_worker
from cislens.models import LabCNN


class Trap(LabCNN):
    def __init__(self, *, sentinel, mode, **kwargs):
        super().__init__(**kwargs)
        self.sentinel, self.mode = sentinel, mode

    def forward(self, x):
        try:
            get_worker()
        except ValueError:  # on the client (model check): behave
            return super().forward(x)
        if (x[:, 0, :].sum(1) == x.shape[2]).any() and os.path.exists(self.sentinel):
            if self.mode == "kill":
                os.rename(self.sentinel, self.sentinel + ".used")  # only one worker dies
                os._exit(1)
            raise RuntimeError("planted failure")
        return super().forward(x)
"""


@pytest.fixture(scope="module")
def client():
    import distributed

    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",  # any free port: never clash on 8787
            silence_logs=logging.CRITICAL,
        ) as cluster,
        distributed.Client(cluster) as active,
    ):
        yield active


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    from cislens.models import save_model

    folder = tmp_path_factory.mktemp("scale")
    X = random_one_hot(N, LENGTH, 5).numpy()
    X[POISON] = 0
    X[POISON, 0] = 1  # all A
    X[7, :, 10:13] = 0  # N columns
    data = save_dataset(
        folder / "data.h5",
        Dataset({"test": X}, {"test": np.zeros((N, 2), np.float32)}, ["a", "b"]),
    )
    model = small_labcnn(n_tasks=2, length=LENGTH)
    checkpoint = save_model(model, folder / "model", task_names=["a", "b"])
    (folder / "trap.py").write_text(TRAP)
    return {"folder": folder, "X": X, "data": data, "checkpoint": checkpoint, "model": model}


@pytest.fixture(scope="module")
def reference(files):
    """Single-process DeepLiftShap (hypothetical) of every row: what the chunked run must equal."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the workers run one thread each; compare like with like
    try:
        return attribution_set(
            files["model"],
            files["X"],
            method="deeplift_shap",
            target=1,
            hypothetical=True,
            random_state=SEED,
            n_shuffles=3,
        )
    finally:
        torch.set_num_threads(threads)


def _deepliftshap(files, client, out, **kwargs):
    settings = {
        "method": "deeplift_shap",
        "target": 1,
        "hypothetical": True,
        "n_shuffles": 3,
        "chunk_size": CHUNK,
        "random_state": SEED,
    }
    settings.update(kwargs)
    source = HDF5Source(files["data"], split="test")
    return attribute_to_zarr(files["checkpoint"], source, out, client=client, **settings)


def test_chunked_deepliftshap_equals_single_process(files, client, reference):
    out = files["folder"] / "attr.zarr"
    report = _deepliftshap(files, client, out)
    assert report.n_blocks == 5 and report.computed == [0, 1, 2, 3, 4] and not report.skipped
    store = zarr.open_group(str(out), mode="r")
    np.testing.assert_allclose(store["attributions"][:], reference.attributions, atol=1e-6)
    np.testing.assert_allclose(store["hypothetical"][:], reference.hypothetical, atol=1e-6)
    np.testing.assert_array_equal(store["sequences"][:], files["X"].astype(np.int8))
    assert store["sequences"].dtype == np.int8 and store["attributions"].chunks == (CHUNK, 4, 40)
    assert list(store["example_ids"][:3]) == ["test/0", "test/1", "test/2"]
    np.testing.assert_array_equal(store["example_index"][:], np.arange(N))
    # The model is loaded once per worker process, not once per chunk.
    pids = {task["pid"] for task in report.tasks}
    assert sum(task["model_loaded"] for task in report.tasks) <= len(pids) <= 2
    meta = read_metadata(out)
    assert meta["random_state"] == SEED and meta["params"]["n_shuffles"] == 3
    assert meta["model"]["weights_sha256"] and meta["input"]["sha256"]
    # Re-running the finished job computes nothing; without a seed it reuses the recorded one.
    again = attribute_to_zarr(
        files["checkpoint"], files["data"], out, method="deeplift_shap", target=1,
        hypothetical=True, chunk_size=CHUNK, n_shuffles=3, client=client,
    )  # fmt: skip
    assert again.computed == [] and again.skipped == [0, 1, 2, 3, 4]


def test_refuses_to_resume_with_other_settings(files, client, reference):
    out = files["folder"] / "attr.zarr"
    if not out.exists():
        _deepliftshap(files, client, out)
    with pytest.raises(ConfigError, match=r"random_state: store has 11, this run has 12"):
        _deepliftshap(files, client, out, random_state=12)
    with pytest.raises(ConfigError, match=r"params\.n_shuffles: store has 3, this run has 4"):
        _deepliftshap(files, client, out, n_shuffles=4)
    with pytest.raises(ConfigError, match=r"target: store has 1, this run has 0"):
        _deepliftshap(files, client, out, target=0)
    other = files["folder"] / "other_model"
    from cislens.models import save_model

    save_model(small_labcnn(n_tasks=2, length=LENGTH, seed=3), other)
    with pytest.raises(ConfigError, match=r"model\.weights_sha256"):
        attribute_to_zarr(
            other, files["data"], out, method="deeplift_shap", target=1, hypothetical=True,
            chunk_size=CHUNK, n_shuffles=3, random_state=SEED, client=client,
        )  # fmt: skip
    assert completed_blocks(out).all()  # the refusals touched nothing


def _trap_run(files, client, out, mode, *, method="grad_x_input"):
    folder = files["folder"]
    return attribute_to_zarr(
        f"{folder / 'trap.py'}:Trap",
        files["data"],
        out,
        weights=files["checkpoint"] / "weights.safetensors",
        model_args={**ARCH, "sentinel": str(folder / f"sentinel-{mode}"), "mode": mode},
        method=method,
        target=0,
        chunk_size=CHUNK,
        random_state=SEED,
        client=client,
    )


def test_interrupted_run_resumes_only_missing_chunks(files, client):
    sentinel = files["folder"] / "sentinel-raise"
    sentinel.write_text("")
    out = files["folder"] / "interrupted.zarr"
    with pytest.raises(CislensError, match=r"chunk 2 \(rows 1000-1500\) failed.*re-run"):
        _trap_run(files, client, out, "raise")
    done = completed_blocks(out)
    assert not done[2] and 0 < done.sum() < 5
    store = zarr.open_group(str(out), mode="r")
    assert np.isnan(store["attributions"][1000:1500]).all()  # the failed block wrote nothing
    sentinel.unlink()
    report = _trap_run(files, client, out, "raise")
    assert report.computed == sorted(np.flatnonzero(~done).tolist())  # only the missing ones
    assert sorted(report.computed + report.skipped) == [0, 1, 2, 3, 4]
    expected = attribution_set(files["model"], files["X"], method="grad_x_input", target=0)
    np.testing.assert_allclose(store["attributions"][:], expected.attributions, atol=1e-6)


def test_unmarked_block_is_recomputed_not_trusted(files, client, reference):
    """A block whose data was (partly) written but whose marker was not is redone on resume."""
    out = files["folder"] / "partial.zarr"
    shutil.copytree(files["folder"] / "attr.zarr", out)
    store = zarr.open_group(str(out), mode="r+")
    store["attributions"][500:700] = 123.0  # a worker died half-way through block 1 ...
    store["completed"][1] = 0  # ... so its marker was never written
    report = _deepliftshap(files, client, out)
    assert report.computed == [1]
    np.testing.assert_allclose(store["attributions"][:], reference.attributions, atol=1e-6)


def test_write_block_marks_only_after_all_data(tmp_path):
    arrays = {"a": ((4, 2), (2, 2), "float32", np.nan), "b": ((4, 2), (2, 2), "float32", np.nan)}
    group, _ = open_store(tmp_path / "s.zarr", metadata={"format": "t"}, arrays=arrays, n_chunks=2)

    class Crash:  # the worker dies while producing the second array
        def __array__(self, *args, **kwargs):
            raise RuntimeError("worker lost")

    with pytest.raises(RuntimeError, match="worker lost"):
        write_block(group, 1, 2, 4, {"a": np.ones((2, 2)), "b": Crash()})
    assert completed_blocks(tmp_path / "s.zarr").tolist() == [False, False]
    write_block(group, 1, 2, 4, {"a": np.ones((2, 2)), "b": np.zeros((2, 2))})
    assert completed_blocks(tmp_path / "s.zarr").tolist() == [False, True]


def test_gzip_fasta_cli_run_equals_hdf5_run(files, client, reference):
    """The CLI route (--fasta, .zarr --out, --scheduler) on a gzip FASTA streamed by the client."""
    rows = 600  # per-example seeding: the first rows alone give the same scores
    fasta = files["folder"] / "seqs.fa"
    names = [f"seq{i}" for i in range(rows)]
    write_fasta(fasta, files["X"][:rows], names=names)
    packed = files["folder"] / "seqs.fa.gz"
    packed.write_bytes(gzip.compress(fasta.read_bytes()))
    source = FastaSource(packed)
    assert not source.random_access and (source.n, source.length) == (rows, LENGTH)
    plain = FastaSource(fasta)
    np.testing.assert_array_equal(plain.read(495, 510), files["X"][495:510])
    out = files["folder"] / "fasta.zarr"
    code = main([
        "attribute", "--model", str(files["checkpoint"]), "--fasta", str(packed), "--out",
        str(out), "--method", "deeplift_shap", "--target", "b", "--hypothetical", "--seed",
        str(SEED), "--chunk-size", "250", "--method-args", '{"n_shuffles": 3}', "--scheduler",
        client.scheduler.address,
    ])  # fmt: skip
    assert code == 0
    store = zarr.open_group(str(out), mode="r")
    assert completed_blocks(out).tolist() == [True, True, True]
    np.testing.assert_allclose(store["attributions"][:], reference.attributions[:rows], atol=1e-6)
    np.testing.assert_allclose(store["hypothetical"][:], reference.hypothetical[:rows], atol=1e-6)
    assert list(store["example_ids"][-2:]) == names[-2:]


def test_bed_source_reads_the_windows_of_extract_intervals(tmp_path):
    rng = np.random.default_rng(0)
    genome = tmp_path / "g.fa"
    write_fasta(genome, {"c1": "".join(rng.choice(list("ACGT"), 300)), "c2": "ACGT" * 50})
    bed = tmp_path / "r.bed"
    bed.write_text("c1\t10\t30\tp0\t0\t+\nc1\t100\t140\tp1\t0\t-\nc2\t60\t61\tp2\t0\t+\n")
    source = BedSource(bed, genome, length=20)
    expected = extract_intervals(genome, bed, length=20).numpy()
    np.testing.assert_array_equal(source.read(0, 3), expected)
    np.testing.assert_array_equal(source.read(1, 3), expected[1:])
    assert source.example_ids(0, 3) == ["p0", "p1", "p2"]
    assert decode(source.read(2, 3))[0] == ("ACGT" * 5)[2:] + "AC"
    assert source.identity()["n"] == 3


def test_ism_from_bed_and_genome_equals_single_process(files, client):
    rng = np.random.default_rng(1)
    folder = files["folder"]
    genome = folder / "genome.fa"
    write_fasta(genome, {name: "".join(rng.choice(list("ACGT"), 400)) for name in ("c1", "c2")})
    starts = rng.integers(30, 330, size=25)
    strands = rng.choice(["+", "-"], size=25)
    lines = [f"c{1 + i % 2}\t{s}\t{s + 10}\tpeak{i}\t0\t{d}" for i, (s, d) in
             enumerate(zip(starts, strands, strict=True))]  # fmt: skip
    bed = folder / "peaks.bed"
    bed.write_text("\n".join(lines) + "\n")
    out = folder / "ism.zarr"
    report = attribute_to_zarr(
        files["checkpoint"], BedSource(bed, genome, length=LENGTH), out, method="ism",
        target=0, chunk_size=10, random_state=0, client=client,
    )  # fmt: skip
    assert report.computed == [0, 1, 2]
    X = extract_intervals(genome, bed, length=LENGTH)
    expected = attribution_set(files["model"], X, method="ism", target=0)
    store = zarr.open_group(str(out), mode="r")
    np.testing.assert_allclose(store["attributions"][:], expected.attributions, atol=1e-6)
    assert list(store["example_ids"][:2]) == ["peak0", "peak1"]


def test_threaded_worker_runs_blocks_one_at_a_time_with_exact_results(files, reference, tmp_path):
    # Several threads in one worker share the model; DeepLIFT traces it with torch.fx, which
    # patches nn.Module.__call__ process-wide. Blocks must not overlap in one process.
    import distributed

    with (
        distributed.LocalCluster(
            n_workers=1,
            threads_per_worker=3,
            processes=False,
            dashboard_address=":0",
            silence_logs=logging.CRITICAL,
        ) as cluster,
        distributed.Client(cluster) as threaded,
    ):
        report = _deepliftshap(files, threaded, tmp_path / "threads.zarr")
    assert report.computed == list(range(report.n_blocks))
    store = zarr.open_group(str(tmp_path / "threads.zarr"), mode="r")
    np.testing.assert_allclose(store["attributions"][:], reference.attributions, atol=1e-6)
    spans = sorted((t["started"], t["started"] + t["seconds"]) for t in report.tasks)
    assert all(end <= after + 1e-6 for (_, end), (after, _) in itertools.pairwise(spans))


def test_clear_errors(files, tmp_path):
    with pytest.raises(ValueError, match="chunk_size"):
        attribute_to_zarr(files["checkpoint"], files["data"], tmp_path / "x.zarr",
                          method="ism", chunk_size=0)  # fmt: skip
    with pytest.raises(ValueError, match="target is required for a model with 2 outputs"):
        attribute_to_zarr(files["checkpoint"], files["data"], tmp_path / "x.zarr", method="ism")
    with pytest.raises(ValueError, match="no hypothetical scores"):
        attribute_to_zarr(files["checkpoint"], files["data"], tmp_path / "x.zarr",
                          method="saliency", target=0, hypothetical=True)  # fmt: skip
    ragged = tmp_path / "ragged.fa"
    ragged.write_text(">a\nACGT\n>b\nACG\n")
    with pytest.raises(ValueError, match=r"differ in length.*--length"):
        FastaSource(ragged)
    assert not (tmp_path / "x.zarr").exists()  # nothing was created by a refused run


def test_output_and_input_layout_reach_the_workers_and_are_recorded(files, client):
    """A (profile, counts) model that takes (N, L, 4), loaded on the workers from its file."""
    folder = files["folder"] / "heads"
    folder.mkdir(exist_ok=True)
    spec, weights, model = two_heads_files(folder, nlc=True)
    rows = 60
    write_fasta(folder / "x.fa", files["X"][:rows])
    out = folder / "heads.zarr"

    def run(**kwargs):
        settings = {"output": (0, "profile"), "input_layout": "NLC", **kwargs}
        return attribute_to_zarr(
            spec, folder / "x.fa", out, weights=weights, model_args={"nlc": True},
            method="grad_x_input", chunk_size=25, random_state=0, client=client, **settings,
        )  # fmt: skip

    assert run().computed == [0, 1, 2]
    expected = attribution_set(model, files["X"][:rows], method="grad_x_input",
                               output=(0, "profile"), input_layout="NLC")  # fmt: skip
    store = zarr.open_group(str(out), mode="r")
    np.testing.assert_allclose(store["attributions"][:], expected.attributions, atol=1e-6)
    params = read_metadata(out)["params"]
    assert params["output"] == [0, "profile"] and params["input_layout"] == "NLC"
    assert run(output=[0, "profile"]).computed == []  # the pair as JSON holds it: same run
    with pytest.raises(ConfigError, match=r"params\.output: store has \[0, 'profile'\], this "
                                          r"run has 'counts'"):  # fmt: skip
        run(output="counts")
    with pytest.raises(ValueError, match=r"input_layout='NLC'"):  # checked before any block
        run(input_layout="NCL")
    with pytest.raises(TypeError, match=r"output must be an index, .* in a chunked run"):
        run(output=lambda raw: raw[1])
    assert completed_blocks(out).all()
    # The command line's chunked route: the same options, the same numbers.
    code = main([
        "attribute", "--model", spec, "--weights", str(weights), "--model-args", '{"nlc": true}',
        "--fasta", str(folder / "x.fa"), "--out", str(folder / "cli.zarr"), "--method",
        "grad_x_input", "--output", "0:profile", "--input-layout", "NLC", "--chunk-size", "30",
        "--scheduler", client.scheduler.address,
    ])  # fmt: skip
    assert code == 0
    cli = zarr.open_group(str(folder / "cli.zarr"), mode="r")
    np.testing.assert_allclose(cli["attributions"][:], expected.attributions, atol=1e-6)


def test_worker_killed_mid_run_then_completes(files, client):
    # Last in the file: the worker Dask restarts after the kill starts cold (imports, JIT).
    (files["folder"] / "sentinel-kill").write_text("")
    out = files["folder"] / "killed.zarr"
    report = _trap_run(files, client, out, "kill")
    assert (files["folder"] / "sentinel-kill.used").exists()  # a worker did die on block 2
    expected = attribution_set(files["model"], files["X"], method="grad_x_input", target=0)
    # Dask re-ran the lost block on a live worker: every block once, none missing.
    assert report.computed == [0, 1, 2, 3, 4]
    assert completed_blocks(out).all()
    store = zarr.open_group(str(out), mode="r")
    np.testing.assert_allclose(store["attributions"][:], expected.attributions, atol=1e-6)
    # The same command again finds everything done.
    assert _trap_run(files, client, out, "kill").computed == []
