"""Variant effect scoring on the chunked machinery: reference vs alternative predictions.

For each VCF record (SNV, MNV or indel written with explicit bases), the reference window of
``length`` bp starts ``length // 2`` bases before the variant's first base; the alternative
window is the same stretch of genome with REF replaced by ALT, cut (insertions) or extended to
the right (deletions) to ``length``. Windows running off a chromosome are N-padded. Row blocks
of variants are Dask tasks writing the predictions of both alleles and their difference
(alt - ref) to a Zarr store with completion markers, so a killed run resumes. DeepLIFT
attributions of both alleles are then computed for the ``n_top`` variants with the largest
``|alt - ref|`` on the target.
"""

from __future__ import annotations

import gzip
import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cislens.scale.engine import (
    Block,
    ModelSpec,
    RunReport,
    check_cluster,
    dask_client,
    run_blocks,
    worker_model,
)
from cislens.scale.store import open_store, write_block
from cislens.utils.batching import DEFAULT_BATCH_SIZE
from cislens.utils.types import PathLike, RandomState
from cislens.utils.validation import check_non_negative_int, check_positive_int

FORMAT = "cislens-zarr-variants"
FORMAT_VERSION = 1
VCF_COLUMNS = ("chrom", "pos", "id", "ref", "alt")
_BASES = frozenset("ACGTN")


def _open_vcf(path: Path):
    with open(path, "rb") as handle:
        magic = handle.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rt", encoding="ascii", errors="replace")
    return open(path, encoding="ascii", errors="replace")


def read_vcf(path: PathLike) -> pd.DataFrame:
    """Read the variants of a VCF (plain or gzip/bgzip) into a table, one row per ALT allele.

    Supports SNVs, MNVs and indels whose REF and ALT are explicit bases (A, C, G, T, N;
    case-insensitive). Multi-allelic records become one row per allele.

    Returns
    -------
    pandas.DataFrame
        Columns chrom (str), pos (1-based int), id (str; ``chrom:pos:REF>ALT`` when ``.``),
        ref and alt (upper-case str).

    Raises
    ------
    FileNotFoundError, ValueError
        A missing file; a line with fewer than 5 columns, a non-integer POS, or an allele that
        is symbolic (``<DEL>``), a breakend (``]chr1:5]A``), missing (``.`` / ``*``) or not
        made of bases; the message gives the line number and the supported forms.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "v.vcf"
    >>> _ = path.write_text("##fileformat=VCFv4.2\\n#CHROM\\tPOS\\tID\\tREF\\tALT\\n"
    ...                     "chr1\\t5\\trs1\\tA\\tG,T\\nchr1\\t9\\t.\\tCA\\tC\\n")
    >>> read_vcf(path)[["id", "pos", "ref", "alt"]].values.tolist()
    [['rs1', 5, 'A', 'G'], ['rs1', 5, 'A', 'T'], ['chr1:9:CA>C', 9, 'CA', 'C']]
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"VCF file not found: {str(path)!r}.")
    rows = []
    with _open_vcf(path) as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip() or line.startswith("#"):
                continue
            fields = line.rstrip("\n\r").split("\t")
            if len(fields) < 5:
                raise ValueError(
                    f"{path}: line {number} has {len(fields)} tab-separated columns; a VCF record "
                    "needs at least CHROM, POS, ID, REF, ALT."
                )
            chrom, pos, name, ref = fields[0], fields[1], fields[2], fields[3].upper()
            if not pos.isdigit() or int(pos) < 1:
                raise ValueError(f"{path}: line {number}: POS must be a positive int; got {pos!r}.")
            for alt in fields[4].split(","):
                alt = alt.upper()
                for label, allele in (("REF", ref), ("ALT", alt)):
                    if not allele or not set(allele) <= _BASES:
                        raise ValueError(
                            f"{path}: line {number} ({chrom}:{pos}): {label} {allele!r} is not "
                            "supported. cislens variants scores SNVs, MNVs and indels written as "
                            "bases (A, C, G, T, N); symbolic alleles (<DEL>), breakends, '*' and "
                            "'.' are not. Remove or normalise these records (e.g. bcftools norm)."
                        )
                label = name if name and name != "." else f"{chrom}:{pos}:{ref}>{alt}"
                rows.append((chrom, int(pos), label, ref, alt))
    if not rows:
        raise ValueError(f"{path}: no variant record found.")
    return pd.DataFrame(rows, columns=list(VCF_COLUMNS))


def allele_windows(genome, variants: pd.DataFrame, *, length: int) -> tuple[list, list]:
    """Reference and alternative windows (strings of ``length``) of each variant.

    ``genome`` is an open ``pyfaidx.Fasta`` (upper-case, raw strings). Raises ``ValueError``
    when a chromosome is missing or REF does not match the genome.

    Examples
    --------
    >>> import tempfile, pathlib, pyfaidx
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "g.fa"
    >>> _ = path.write_text(">c\\nAACCGGTT\\n")
    >>> table = pd.DataFrame({"chrom": ["c", "c"], "pos": [3, 5], "id": ["a", "b"],
    ...                       "ref": ["C", "GG"], "alt": ["T", "G"]})
    >>> with pyfaidx.Fasta(str(path), as_raw=True, sequence_always_upper=True) as genome:
    ...     allele_windows(genome, table, length=4)
    (['AACC', 'CCGG'], ['AATC', 'CCGT'])
    """
    refs, alts = [], []
    for row in variants.itertuples(index=False):
        chrom = str(row.chrom)
        if chrom not in genome:
            raise ValueError(f"variant {row.id}: chromosome {chrom!r} is not in the genome FASTA.")
        size = len(genome[chrom])
        at = int(row.pos) - 1  # 0-based first base of REF
        begin = at - length // 2
        stop = begin + length + max(0, len(row.ref) - len(row.alt))
        text = genome[chrom][max(0, begin) : min(stop, size)]
        text = "N" * max(0, -begin) + text + "N" * max(0, stop - size)
        offset = at - begin
        found = text[offset : offset + len(row.ref)]
        if found != row.ref:
            raise ValueError(
                f"variant {row.id} ({chrom}:{row.pos}): REF {row.ref!r} does not match the genome "
                f"({found!r}); is the VCF on another genome build, or not normalised?"
            )
        refs.append(text[:length])
        alts.append((text[:offset] + row.alt + text[offset + len(row.ref) :])[:length])
    return refs, alts


@dataclass(frozen=True)
class VariantTask:
    """What a worker needs to score a block of variants."""

    store: str
    genome: str
    model: ModelSpec
    length: int
    batch_size: int
    output: object = None  # JSON: None, an int, a str or an [index or key, head] pair
    input_layout: str = "NCL"


def _encode(sequences: list[str]):
    from cislens.sequence.onehot import one_hot_encode

    return one_hot_encode(sequences)


def score_block(block: Block, task: VariantTask) -> dict:
    """Worker side: predictions of both alleles for a block of variants, then the marker."""
    import pyfaidx
    import zarr

    from cislens.attribution.heads import explained_model
    from cislens.train.evaluate import predict

    model, loaded = worker_model(task.model)
    model = explained_model(model, output=task.output, input_layout=task.input_layout)
    with pyfaidx.Fasta(task.genome, as_raw=True, sequence_always_upper=True) as genome:
        refs, alts = allele_windows(genome, block.data, length=task.length)
    ref = predict(model, _encode(refs), batch_size=task.batch_size, device="cpu")
    alt = predict(model, _encode(alts), batch_size=task.batch_size, device="cpu")
    values = {"ref_predictions": ref, "alt_predictions": alt, "delta": alt - ref}
    write_block(
        zarr.open_group(task.store, mode="r+"), block.index, block.start, block.stop, values
    )
    return {"model_loaded": loaded}


def _genome_identity(genome: Path) -> str:
    import pyfaidx

    with pyfaidx.Fasta(str(genome), as_raw=True) as handle:
        index = "\n".join(f"{name}\t{len(handle[name])}" for name in handle.keys())
    return hashlib.sha256(index.encode()).hexdigest()


def score_variants(
    model: PathLike | ModelSpec,
    vcf: PathLike,
    genome: PathLike,
    out: PathLike,
    *,
    length: int | None = None,
    target: int | None = None,
    output: int | str | tuple | None = None,
    input_layout: str = "NCL",
    n_top: int = 10,
    chunk_size: int = 1024,
    batch_size: int = DEFAULT_BATCH_SIZE,
    weights: PathLike | None = None,
    model_args: dict | None = None,
    client: Any = None,
    scheduler: str | None = None,
    n_workers: int | None = None,
    random_state: RandomState = 0,
    verbose: bool = False,
    overwrite: bool = False,
) -> RunReport:
    """Score every VCF variant (alt - ref predictions) into ``out``; DeepLIFT the top ones.

    Parameters
    ----------
    model : str, Path or ModelSpec
        A checkpoint directory, or ``module.py:ClassName`` with ``weights``.
    vcf, genome : str or Path
        The variants (see :func:`read_vcf`) and the genome FASTA they refer to (indexed by
        pyfaidx; the path must be readable from the workers).
    out : str or Path
        The Zarr store (resumable as for :func:`attribute_to_zarr`).
    length : int, optional
        Window length; default the model's ``input_length``.
    target : int, optional
        Output ranking the variants and explained by DeepLIFT (required for multi-output models
        when ``n_top > 0``).
    output, input_layout
        How the model is read when it does not map (N, 4, L) to one (N, T) tensor, as for
        :func:`attribute_to_zarr`: predictions, deltas and the DeepLIFT step all use them.
        Recorded in the store.
    n_top : int
        Number of variants (largest ``|delta|`` on the target) to attribute; 0 skips it.
    chunk_size, batch_size, client, scheduler, n_workers, verbose
        As for :func:`attribute_to_zarr`.
    random_state : int
        Seed recorded for the DeepLIFT step (its default reference is deterministic).
    overwrite : bool
        Replace an existing store at ``out`` instead of resuming it (as for
        :func:`attribute_to_zarr`).

    Returns
    -------
    RunReport
    """
    from cislens.attribution.heads import check_input_layout, explained_model
    from cislens.scale.attribute import chunked_output
    from cislens.utils.random import resolve_seed

    check_non_negative_int(n_top, "n_top (--top)")
    check_positive_int(chunk_size, "chunk_size (--chunk-size)")
    # Before the store is created: a refused cluster must not leave an empty store behind.
    check_cluster(client=client, scheduler=scheduler, n_workers=n_workers)
    vcf, genome = Path(vcf).resolve(), Path(genome).resolve()
    if not genome.is_file():
        raise FileNotFoundError(f"genome FASTA not found: {str(genome)!r}.")
    view = {"output": chunked_output(output), "input_layout": check_input_layout(input_layout)}
    table = read_vcf(vcf)
    spec = ModelSpec.from_arguments(model, weights=weights, model_args=model_args)
    net, length, n_outputs, task_names = _scored_model(spec, length, target, n_top > 0, view)
    seed = resolve_seed(random_state)
    n, out = len(table), Path(out).resolve()
    n_blocks = -(-n // chunk_size)
    arrays = _variant_arrays(n, n_outputs, chunk_size)
    metadata = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "length": int(length),
        "chunk_size": chunk_size,
        "n": n,
        "model": spec.identity(),
        "input": _vcf_identity(vcf, genome),
        "task_names": task_names,
        **view,
    }
    started = time.perf_counter()
    initialize = _variant_initializer(table)
    group, done = open_store(out, metadata=metadata, arrays=arrays, n_chunks=n_blocks,
                             initialize=initialize, overwrite=overwrite)  # fmt: skip
    report = RunReport(out, n_blocks, skipped=[int(i) for i in np.flatnonzero(done)])
    task = VariantTask(str(out), str(genome), spec, int(length), int(batch_size), **view)
    todo = [int(i) for i in np.flatnonzero(~done)]
    blocks = _variant_blocks(table, todo, chunk_size)
    if todo:
        with dask_client(client=client, scheduler=scheduler, n_workers=n_workers) as active:
            report.tasks = run_blocks(
                active,
                score_block,
                blocks,
                task,
                total=n_blocks,
                done=int(done.sum()),
                verbose=verbose,
                path=out,
            )
    report.computed = sorted(item["index"] for item in report.tasks)
    if n_top:
        net = explained_model(net, **view)
        _attribute_top(group, net, table, genome, int(length), target, n_top, seed, batch_size)
    report.seconds = time.perf_counter() - started
    return report


def _scored_model(spec, length, target, require_target: bool, view: dict):
    """The model, the window length (default its ``input_length``), its number of outputs and
    the names of those outputs (None when ``output=`` selects other ones)."""
    from cislens.scale.attribute import check_model

    net = spec.load()
    if length is None:
        length = getattr(net, "input_length", None)
        if not length:
            raise ValueError("length (--length) is required: the model records no input_length.")
    n_outputs = check_model(
        net, length=int(length), target=target, require_target=require_target, **view
    )
    task_names = getattr(net, "task_names", None)
    if task_names is not None and len(task_names) != n_outputs:
        task_names = None  # they name the model's own outputs, not those output= selects
    return net, int(length), n_outputs, task_names


def _variant_arrays(n: int, n_outputs: int, chunk_size: int) -> dict[str, tuple]:
    """The store's arrays: ``name: (shape, chunks, dtype, fill value)``."""
    arrays: dict[str, tuple] = {
        name: ((n, n_outputs), (chunk_size, n_outputs), "float32", np.nan)
        for name in ("ref_predictions", "alt_predictions", "delta")
    }
    for name in ("chrom", "id", "ref", "alt"):
        arrays[name] = ((n,), (chunk_size,), str, "")
    arrays["pos"] = ((n,), (chunk_size,), "int64", 0)
    return arrays


def _vcf_identity(vcf: Path, genome: Path) -> dict:
    """What the input is: the VCF and genome paths and content hashes."""
    return {
        "kind": "vcf",
        "path": str(vcf),
        "genome": str(genome),
        "sha256": hashlib.sha256(vcf.read_bytes()).hexdigest(),
        "genome_index_sha256": _genome_identity(genome),
    }


def _variant_initializer(table):
    """Writes the variant columns of a new store."""

    def initialize(group):
        for name in ("chrom", "id", "ref", "alt"):
            group[name][:] = table[name].to_numpy(dtype=str)
        group["pos"][:] = table["pos"].to_numpy(dtype=np.int64)

    return initialize


def _variant_blocks(table, todo: list[int], chunk_size: int):
    """The blocks still to score, each carrying its rows of the variant table."""
    n = len(table)
    return (
        Block(
            i,
            i * chunk_size,
            min(n, (i + 1) * chunk_size),
            table.iloc[i * chunk_size : (i + 1) * chunk_size].reset_index(drop=True),
        )
        for i in todo
    )


def _attribute_top(group, net, table, genome, length, target, n_top, seed, batch_size) -> None:
    # Small (n_top rows): computed on the client from the finished predictions.
    import pyfaidx

    from cislens.attribution import attribution_set

    column = 0 if target is None else target
    delta = np.asarray(group["delta"][:, column])
    order = np.argsort(-np.abs(delta), kind="stable")[: min(n_top, len(delta))]
    with pyfaidx.Fasta(str(genome), as_raw=True, sequence_always_upper=True) as handle:
        refs, alts = allele_windows(handle, table.iloc[order], length=length)
    results = {}
    for label, sequences in (("ref", refs), ("alt", alts)):
        X = _encode(sequences)
        result = attribution_set(
            net,
            X,
            method="deeplift",
            target=target,
            hypothetical=True,
            random_state=seed,
            batch_size=batch_size,
        )
        results[f"top_{label}_sequences"] = X.numpy().astype(np.int8)
        results[f"top_{label}_attributions"] = result.attributions
        results[f"top_{label}_hypothetical"] = result.hypothetical
    results["top_index"] = order.astype(np.int64)
    for name, values in results.items():
        group.create_array(name, shape=values.shape, dtype=values.dtype, overwrite=True)
        group[name][...] = values
    group.attrs["cislens_top"] = {
        "n_top": len(order),
        "target": target,
        "method": "deeplift",
        "ranked_by": "abs(delta[:, target])",
        "random_state": seed,
    }


def variant_table(path: PathLike) -> pd.DataFrame:
    """The scored variants of a store as a table: chrom, pos, id, ref, alt, then per task
    ``ref_<task>``, ``alt_<task>``, ``delta_<task>``.
    """
    from cislens.scale._deps import require
    from cislens.scale.store import read_metadata

    zarr = require("zarr")
    group = zarr.open_group(str(path), mode="r")
    tasks = read_metadata(path).get("task_names")
    frame = pd.DataFrame({name: np.asarray(group[name][:]) for name in VCF_COLUMNS})
    n_outputs = group["delta"].shape[1]
    tasks = list(tasks) if tasks else [f"task_{i}" for i in range(n_outputs)]
    for prefix, name in (
        ("ref", "ref_predictions"),
        ("alt", "alt_predictions"),
        ("delta", "delta"),
    ):
        values = np.asarray(group[name][:])
        for k, task in enumerate(tasks):
            frame[f"{prefix}_{task}"] = values[:, k]
    return frame


__all__ = ["FORMAT", "VCF_COLUMNS", "allele_windows", "read_vcf", "score_variants", "variant_table"]
