"""The report's sequence browser and motif pages: every explained sequence, every instance.

- :func:`browser_data`: one record per explained test sequence (its bases, the model's
  predictions and the labels per task, the recorded and the called motif instances, and each
  method's per-position score, quantised to 8 bits), for the inlined JavaScript to draw;
- :func:`motif_pages`: per discovered pattern, its called instances (test row, position,
  bases) and GIA effects, for the motif pages;
- :func:`encode_tracks`: per-position scores as base64 int8 with one scale per track.

The data is embedded in the HTML as JSON (``<``, ``>`` and ``&`` escaped) and never fetched.
"""

from __future__ import annotations

import base64
import json
import re

import numpy as np
import pandas as pd

BASES = "ACGT"


def encode_tracks(scores) -> tuple[float, str]:
    """A per-position score (L,) as ``(scale, base64 int8)``: ``value = q / 127 * scale``.

    Examples
    --------
    >>> scale, text = encode_tracks(np.array([0.5, -1.0, 0.0]))
    >>> scale, np.frombuffer(base64.b64decode(text), np.int8).tolist()
    (1.0, [64, -127, 0])
    """
    values = np.nan_to_num(np.asarray(scores, dtype=float))
    scale = float(np.abs(values).max()) if values.size else 0.0
    q = (
        np.zeros(values.shape, np.int8)
        if scale == 0
        else np.round(127 * values / scale).astype(np.int8)
    )
    return scale, base64.b64encode(q.tobytes()).decode("ascii")


def sequence_text(onehot) -> str:
    """The bases of a one-hot (4, L) column by column ("N" where no base is set).

    Examples
    --------
    >>> sequence_text(np.eye(4)[:, [0, 3, 2]])
    'ATG'
    """
    onehot = np.asarray(onehot)
    letters = np.array(list(BASES))[onehot.argmax(0)]
    letters[onehot.max(0) <= 0] = "N"
    return "".join(letters)


def anchor(name) -> str:
    """An HTML id made from a pattern name (letters, digits, ``-`` and ``_`` kept)."""
    return "motif-" + re.sub(r"[^A-Za-z0-9_-]", "_", str(name))


def hits_by_row(hits: pd.DataFrame | None, index) -> pd.DataFrame:
    """``hits`` with ``example`` (row of the pooled explained sequences) replaced by ``row``
    (the test row), duplicates (a sequence explained for several tasks) dropped."""
    columns = ["row", "pattern", "start", "end", "strand", "score"]
    if hits is None or not len(hits) or index is None:
        return pd.DataFrame(columns=columns)
    index = np.asarray(index)
    frame = hits[hits["example"] < len(index)].copy()
    frame["row"] = index[frame["example"].to_numpy(int)]
    frame = frame.drop_duplicates(["row", "pattern", "start", "end", "strand"])
    return frame[columns].reset_index(drop=True)


def _truth_by_row(dataset) -> dict:
    truth = dataset.ground_truth.instances if dataset.ground_truth is not None else None
    if truth is None or not len(truth):
        return {}
    test = truth[truth["split"] == "test"]
    tasks = [(t, f"relevant_{name}") for t, name in enumerate(dataset.task_names)]
    found: dict = {}
    for record in test.to_dict("records"):
        relevant = [t for t, column in tasks if bool(record.get(column, False))]
        found.setdefault(int(record["sequence"]), []).append(
            [
                str(record["motif"]),
                int(record["start"]),
                int(record["end"]),
                str(record.get("strand", "+")),
                relevant,
            ]
        )
    return found


def _number(value):
    value = float(value)
    return round(value, 3) if np.isfinite(value) else None  # JSON has no NaN


def browser_data(sets: dict, dataset, predictions, hits: pd.DataFrame) -> dict:
    """The sequence browser's content (see the module docstring); ``predictions`` maps each
    explained test row to the model's (T,) outputs, ``hits`` is :func:`hits_by_row`'s table."""
    rows = sorted(
        {int(r) for results in sets.values() for s in results for r in np.asarray(s.example_index)}
    )
    truth = _truth_by_row(dataset)
    Y = dataset.Y.get("test") if dataset.Y is not None else None
    labelled = dataset.attrs.get("labels", "given") == "given" and Y is not None
    grouped = {row: frame for row, frame in hits.groupby("row")} if len(hits) else {}
    records = {}
    for row in rows:
        own = grouped.get(row)
        records[row] = {
            "row": row,
            "seq": sequence_text(dataset.X["test"][row]),
            "pred": [_number(v) for v in predictions[row]],
            "label": [_number(v) for v in Y[row]] if labelled else None,
            "truth": truth.get(row, []),
            "hits": []
            if own is None
            else [
                [str(h.pattern), int(h.start), int(h.end), str(h.strand), _number(h.score)]
                for h in own.itertuples()
            ],
            "tracks": {},
        }
    methods = list(sets)
    for method, results in sets.items():
        for result in results:
            projected = (np.asarray(result.attributions) * np.asarray(result.X)).sum(1)
            for i, row in enumerate(np.asarray(result.example_index).tolist()):
                records[int(row)]["tracks"].setdefault(method, {})[str(int(result.target))] = list(
                    encode_tracks(projected[i])
                )
    return {
        "tasks": list(dataset.task_names),
        "methods": methods,
        "length": dataset.length,
        "labelled": labelled,
        "sequences": [records[r] for r in rows],
    }


def browser_json(data: dict) -> str:
    """``data`` as JSON that is safe inside ``<script type="application/json">``."""
    text = json.dumps(data, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def motif_pages(
    patterns,
    hits: pd.DataFrame,
    dataset,
    gia_table: pd.DataFrame | None,
    *,
    max_instances: int = 500,
) -> dict:
    """Per pattern name: ``instances`` (test row, start, end, strand, score, the bases on the
    pattern's strand; at most ``max_instances``, best score first), ``n_instances`` and
    ``gia`` (its rows of the GIA table)."""
    pages = {}
    for pattern in patterns:
        own = hits[hits["pattern"] == pattern.name] if len(hits) else hits
        own = own.sort_values("score", ascending=False, kind="stable")
        shown = own.head(max_instances)
        bases = []
        for h in shown.itertuples():
            window = dataset.X["test"][int(h.row)][:, int(h.start) : int(h.end)]
            if h.strand == "-":
                window = window[::-1, ::-1]  # ACGT order: the complement reverses the channels
            bases.append(sequence_text(window))
        table = shown.assign(bases=bases)[["row", "start", "end", "strand", "score", "bases"]]
        gia = None
        if gia_table is not None and len(gia_table) and "pattern" in gia_table:
            gia = gia_table[gia_table["pattern"] == pattern.name].drop(columns=["pattern"])
        pages[pattern.name] = {
            "instances": table,
            "n_instances": len(own),
            "gia": gia,
            "anchor": anchor(pattern.name),
        }
    return pages


__all__ = [
    "anchor",
    "browser_data",
    "browser_json",
    "encode_tracks",
    "hits_by_row",
    "motif_pages",
    "sequence_text",
]
