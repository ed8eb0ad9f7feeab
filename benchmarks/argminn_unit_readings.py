"""What the readout units of saved ARGMINN models read: each unit's span, parts, gaps and the
TOMTOM match of each part (``cislens.argminn.units``; ``units.reading``).

Usage::

    python benchmarks/argminn_unit_readings.py --model jund_tead=runs/models/jund_tead \\
        --model composite_pair=runs/models_new/composite_pair --out /tmp/unit_readings

For each ``preset=checkpoint`` the preset is simulated with ``--seed`` at its own size, the
model's whole test split is read with ``argminn_motifs`` (defaults, TOMTOM against JASPAR CORE
vertebrates), and one row per readout unit is written to ``OUT.csv`` (``preset``, ``model``, the
``units`` columns, ``parts_matches``: each part's rank-1 match with q-value, offset and strand),
with the command, the CPU time and peak memory of each readout and the load average in
``OUT.txt``. A unit of one filter with one part keeps its filter's PFM (no parts, no reading).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import pandas as pd  # noqa: E402
import torch  # noqa: E402
from _memory import reset_peak_rss, status_kib  # noqa: E402


def read_units(preset: str, path: str, seed: int) -> tuple[pd.DataFrame, str]:
    """The readout units of the model at ``path`` on ``preset``'s test split, and a log line."""
    from cislens.argminn import argminn_motifs
    from cislens.models import load_model
    from cislens.simulate import simulate

    data = simulate(preset, random_state=seed)
    model = load_model(path)
    reset_peak_rss()
    base = status_kib("VmRSS")
    start = time.process_time()
    found = argminn_motifs(model, data.X["test"], annotate=True)
    seconds = time.process_time() - start
    peak = status_kib("VmHWM")
    table = found.units.copy()
    best = found.unit_annotation
    best = best[best["rank"] == 1] if len(best.columns) else best
    table["parts_matches"] = [
        "; ".join(
            f"{r.pattern.split(':')[1]} {r.target_name or '-'} q {r.q_value:.2g} "
            f"offset {r.offset} {r.strand}"
            for r in best.itertuples()
            if r.pattern.startswith(f"{unit}:")
        )
        for unit in table["unit"]
    ]
    table.insert(0, "model", path)
    table.insert(0, "preset", preset)
    memory = f"{(peak - base) / 1024:.0f} MiB" if peak is not None and base is not None else "n/a"
    line = (
        f"{preset} ({path}): {len(data.X['test'])} test sequences, readout {seconds:.1f} CPU s, "
        f"peak memory +{memory}"
    )
    return table, line


def main(argv=None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", action="append", required=True, metavar="PRESET=PATH")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="benchmarks/results/argminn_unit_readings")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    load = os.getloadavg()
    tables, lines = [], []
    for item in args.model:
        preset, path = item.split("=", 1)
        table, line = read_units(preset, path, args.seed)
        tables.append(table)
        lines.append(line)
        print(line, flush=True)
    result = pd.concat(tables, ignore_index=True)
    result.to_csv(f"{args.out}.csv", index=False)
    with pd.option_context("display.width", 250, "display.max_colwidth", 120):
        shown = result[["preset", "unit", "filters", "start", "end", "parts", "gaps", "reading"]]
        text = shown.to_string(index=False)
    print(text)
    with open(f"{args.out}.txt", "w") as handle:
        handle.write(f"# python {' '.join(sys.argv)}\n# load average at start {load}\n")
        handle.write("\n".join(lines) + "\n\n" + text + "\n")
    return result


if __name__ == "__main__":
    main()
