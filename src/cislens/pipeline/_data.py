"""Turn the ``data:`` section of a run config into a :class:`cislens.io.Dataset`.

FASTA and BED + genome inputs become one-hot (N, 4, L) sequences; labels come from a TSV
(``name`` column, optional ``split`` column, one numeric column per task) or from BED columns.
The interpreted sequences are always the ``test`` split: with a trained model and no ``split``
column every sequence is a test sequence; when the pipeline trains the model, sequences are
split at random (seeded) into train / valid / test. Without labels the model's predictions
(sigmoid of its outputs) stand in as ``Y`` and the dataset records ``labels = "predicted"``.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from cislens.errors import ConfigError
from cislens.utils.batching import DEFAULT_BATCH_SIZE

logger = logging.getLogger(__name__)


def fingerprint(*paths) -> list:
    """(path, size, mtime) of each existing file: a cheap "has this input changed" record."""
    records = []
    for path in paths:
        if path is None:
            continue
        path = Path(path)
        if path.is_file():
            stat = path.stat()
            records.append([str(path), stat.st_size, stat.st_mtime_ns])
        else:
            records.append([str(path), None, None])
    return records


def _fasta_inputs(config):
    from cislens.sequence import one_hot_encode, read_fasta

    if not config.path.is_file():
        raise FileNotFoundError(f"data.fasta: {str(config.path)!r} does not exist.")
    records = read_fasta(config.path)
    if not records:
        raise ValueError(f"data.fasta: {config.path} holds no sequences.")
    lengths = {len(seq) for seq in records.values()}
    if len(lengths) > 1:
        raise ValueError(
            f"data.fasta: the sequences of {config.path} have lengths {sorted(lengths)[:5]}; a "
            "model needs one length. Cut fixed windows first (e.g. `cislens extract` from BED "
            "+ genome, or data.bed with data.length)."
        )
    names = list(records)  # unique: read_fasta refuses repeated names
    X = np.asarray(one_hot_encode(list(records.values())), dtype=np.float32)
    return names, X, None


def _bed_rows(path: Path) -> pd.DataFrame:
    """All columns of a BED file as strings (read_bed keeps only the standard six)."""
    from cislens.sequence.fasta import open_text

    with open_text(path) as handle:
        lines = [
            line
            for line in handle
            if line.strip() and not line.startswith(("#", "track", "browser"))
        ]
    return pd.read_csv(io.StringIO("".join(lines)), sep="\t", header=None, dtype=str)


def _bed_inputs(config):
    from cislens.sequence import extract_intervals, interval_names, read_bed
    from cislens.sequence.windows import bed_windows

    # Every window placed and checked first: one off a chromosome fails in one line.
    bed_windows(
        config.path,
        config.genome,
        length=config.length,
        pad_with_n=config.pad_with_n,
        use_strand=config.use_strand,
        fix="set data.pad_with_n: true to pad it with N",
    )
    intervals = read_bed(config.path)
    X = np.asarray(
        extract_intervals(
            config.genome,
            intervals,
            length=config.length,
            pad_with_n=config.pad_with_n,
            use_strand=config.use_strand,
        ),
        dtype=np.float32,
    )
    names = interval_names(intervals)  # unique: read_bed refuses repeated names
    labels = None
    if config.label_columns:
        raw = _bed_rows(config.path)
        columns = []
        for number in config.label_columns:
            if number > raw.shape[1]:
                raise ConfigError(
                    f"data.label_columns: column {number} does not exist; {config.path} has "
                    f"{raw.shape[1]} columns. Use 1-based column numbers."
                )
            try:
                columns.append(raw.iloc[:, number - 1].astype(np.float32).to_numpy())
            except ValueError:
                raise ConfigError(
                    f"data.label_columns: column {number} of {config.path} is not numeric "
                    f"(first value {raw.iloc[0, number - 1]!r}); name the label columns."
                ) from None
        task_names = config.task_names or [f"column_{n}" for n in config.label_columns]
        labels = pd.DataFrame(np.stack(columns, 1), columns=task_names)
    return names, X, labels


def _read_labels(path: Path, names: list[str]) -> pd.DataFrame:
    """Labels TSV rows in the order of ``names``; columns: tasks and optionally ``split``."""
    if not path.is_file():
        raise FileNotFoundError(f"data.labels: {str(path)!r} does not exist.")
    table = pd.read_csv(path, sep="\t", dtype={"name": str})
    if "name" not in table.columns:
        raise ConfigError(
            f"data.labels: {path} must have a header with a 'name' column (the sequence names); "
            f"got columns {list(table.columns)}."
        )
    if table["name"].duplicated().any():
        raise ConfigError(
            f"data.labels: {path} lists the sequence "
            f"{table['name'][table['name'].duplicated()].iloc[0]!r} twice."
        )
    missing = [n for n in names if n not in set(table["name"])]
    if missing:
        raise ConfigError(
            f"data.labels: {len(missing)} sequence(s) have no row in {path}, e.g. "
            f"{missing[0]!r}; give every sequence a row (matched on the 'name' column)."
        )
    table = table.set_index("name").loc[names].reset_index(drop=True)
    tasks = [c for c in table.columns if c != "split"]
    if not tasks:
        raise ConfigError(f"data.labels: {path} has no task columns besides name/split.")
    for task in tasks:
        if not pd.api.types.is_numeric_dtype(table[task]):
            raise ConfigError(
                f"data.labels: column {task!r} of {path} must be numeric; got "
                f"{table[task].iloc[0]!r}."
            )
    return table


def _split_rows(n: int, config, labels, need_train: bool, random_state) -> dict[str, np.ndarray]:
    from cislens.io.dataset import SPLITS
    from cislens.utils.random import check_random_state

    if labels is not None and "split" in labels.columns:
        split = labels["split"].astype(str).to_numpy()
        bad = sorted(set(split) - set(SPLITS))
        if bad:
            raise ConfigError(
                f"data.labels: the split column must hold {list(SPLITS)}; got {bad[0]!r}."
            )
        return {s: np.flatnonzero(split == s) for s in SPLITS if (split == s).any()}
    if not need_train:
        return {"test": np.arange(n)}
    order = check_random_state(random_state).permutation(n)
    n_test = round(config.test_fraction * n)
    n_valid = round(config.valid_fraction * n)
    if n_test < 1 or n_valid < 1 or n - n_test - n_valid < 1:
        raise ConfigError(
            f"data: {n} sequences give {n - n_test - n_valid} train, {n_valid} valid and "
            f"{n_test} test sequences (valid_fraction {config.valid_fraction}, test_fraction "
            f"{config.test_fraction}); each split needs at least one. Add sequences or adjust "
            "the fractions."
        )
    return {
        "train": np.sort(order[n_test + n_valid :]),
        "valid": np.sort(order[n_test : n_test + n_valid]),
        "test": np.sort(order[:n_test]),
    }


def build_dataset(
    config,
    *,
    model=None,
    need_train: bool,
    random_state=0,
    batch_size=DEFAULT_BATCH_SIZE,
    device=None,
):
    """The Dataset of a ``data:`` config (see the module docstring for the rules).

    ``model`` is needed only for unlabelled data (its predictions become ``Y``). Returns the
    dataset and a table (split, row, name) of sequence names (None for an HDF5 dataset).
    """
    from cislens.io import Dataset, load_dataset

    if config.kind == "hdf5":
        if not config.path.is_file():
            raise FileNotFoundError(f"data.hdf5: {str(config.path)!r} does not exist.")
        return load_dataset(config.path), None
    if config.kind == "fasta":
        names, X, labels = _fasta_inputs(config)
    else:
        names, X, labels = _bed_inputs(config)
    if config.labels is not None:
        labels = _read_labels(config.labels, names)
    splits = _split_rows(len(X), config, labels, need_train, random_state)
    attrs = {"source": f"{config.kind}: {config.path.name}"}
    if labels is not None:
        tasks = [c for c in labels.columns if c != "split"]
        values = labels[tasks].to_numpy(np.float32)
        attrs["labels"] = "given"
    else:
        if model is None:
            raise ConfigError(
                "data: the sequences have no labels, so a trained model is needed "
                "to choose what to explain; give model.checkpoint or model.class."
            )
        from cislens.train import predict

        values = 1.0 / (1.0 + np.exp(-predict(model, X, batch_size=batch_size, device=device)))
        values = values.astype(np.float32)
        tasks = (
            config.task_names
            or list(getattr(model, "task_names", None) or [])
            or [f"task_{t}" for t in range(values.shape[1])]
        )
        if len(tasks) != values.shape[1]:
            raise ConfigError(
                f"data.task_names: the model has {values.shape[1]} outputs but "
                f"{len(tasks)} task names were given ({tasks}); give one per "
                "output."
            )
        attrs["labels"] = "predicted (sigmoid of the model's outputs; no labels given)"
    dataset = Dataset(
        X={s: X[r] for s, r in splits.items()},
        Y={s: values[r] for s, r in splits.items()},
        task_names=[str(t) for t in tasks],
        attrs=attrs,
    )
    # Rows are numbered within their split everywhere (attributions, hits, report); this table
    # maps them back to the user's sequence names.
    table = pd.DataFrame(
        [(s, i, names[r]) for s, rows in splits.items() for i, r in enumerate(rows)],
        columns=["split", "row", "name"],
    )
    return dataset, table


def write_genome_hits(config, out: Path, hits: pd.DataFrame, test_rows) -> Path | None:
    """``hits.bed`` and ``hits_summary.tsv`` in ``out`` for a run on BED + genome windows.

    ``hits["example"]`` indexes ``test_rows`` (the pooled attribution rows' test-split rows),
    which ``sequences.tsv`` maps to interval names and so to BED lines. Returns the BED path, or
    None when the data did not come from BED intervals.
    """
    from cislens.motifs.genome import hit_summary, hits_to_bed, write_hits_bed
    from cislens.run_folder import RunFolder
    from cislens.sequence.windows import bed_windows, chrom_sizes
    from cislens.utils.files import write_table

    if config.kind != "bed" or hits is None or test_rows is None:
        return None
    windows = bed_windows(
        config.path,
        config.genome,
        length=config.length,
        pad_with_n=config.pad_with_n,
        use_strand=config.use_strand,
    )
    names = RunFolder(out).read_table(RunFolder.SEQUENCES, sep="\t", dtype={"name": str})
    test = names[names["split"] == "test"].set_index("row")["name"]
    line_of = pd.Series(np.arange(len(windows)), index=windows["name"])
    rows = np.asarray(test_rows)[hits["example"].to_numpy(np.int64)]
    mapped = hits.assign(example=line_of.loc[test.loc[rows].to_numpy()].to_numpy())
    matches = RunFolder(out).table(RunFolder.MATCHES)
    bed = hits_to_bed(mapped, windows, sizes=chrom_sizes(config.genome), annotation=matches)
    write_hits_bed(bed, out / RunFolder.HITS_BED)
    write_table(hit_summary(bed), out / RunFolder.HITS_SUMMARY, sep="\t", index=False)
    return out / RunFolder.HITS_BED


__all__ = ["build_dataset", "fingerprint", "write_genome_hits"]
