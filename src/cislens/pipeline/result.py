"""What a run produced (:class:`RunResult`), for ``cislens run`` and ``cislens demo`` alike."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from cislens.utils.reprs import compact_repr

if TYPE_CHECKING:  # only for the annotation: the stage module imports this one
    from cislens.pipeline._argminn import ArgminnStageResult


@dataclass
class RunResult:
    """What :func:`cislens.pipeline.run_pipeline` produced: outputs, metrics (None without
    labels), stage timings (wall and process CPU seconds), resumed and skipped stages (with the
    reasons), the benchmark tables when run, and the ARGMINN readout for an ARGMINN model.

    ``kind`` is "run" or "demo" (a :class:`~cislens.pipeline.preset.DemoConfig`); the demo's
    summary names its model and shows the absolute-score auROC and the CPU time per stage.

    Examples
    --------
    >>> result = RunResult(Path("out"), "3 tasks", None, {"data": 1.0})
    >>> result.summary().splitlines()[-1]
    'outputs in out'
    """

    __repr__ = compact_repr

    out_dir: Path
    dataset_summary: str
    metrics: pd.DataFrame | None
    timings: dict[str, float] = field(default_factory=dict)
    resumed: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    benchmark: pd.DataFrame | None = None
    motif_recovery: pd.DataFrame | None = None
    report: Path | None = None
    argminn: ArgminnStageResult | None = None
    cpu_timings: dict[str, float] = field(default_factory=dict)  # process CPU s, all threads
    kind: str = "run"

    def _tables(self) -> list[str]:
        demo = self.kind == "demo"
        lines = []
        if self.metrics is not None:
            if demo:
                lines += ["", "test metrics (LabCNN):", self.metrics.to_string()]
            else:
                lines += ["", "test metrics:", self.metrics.to_string(index=False)]
        if self.benchmark is not None:
            cols = ["method", "auroc", "auprc", "seconds_per_sequence"]
            if demo:
                cols.insert(3, "auroc_abs")
            lines += [
                "",
                "attribution benchmark (signed score; per-sequence means):"
                if demo
                else "attribution benchmark (per-sequence means):",
                self.benchmark[cols].to_string(index=False, float_format="%.3f"),
            ]
        if self.motif_recovery is not None:
            lines += ["", "simulated motifs:", self.motif_recovery.to_string(index=False)]
        if self.argminn is not None:
            lines += ["", self.argminn.summary()]
            if self.argminn.motif_recovery is not None:
                lines.append(self.argminn.motif_recovery.to_string(index=False))
        return lines

    def summary(self) -> str:
        """The dataset, the tables, the stage timings and where the outputs are."""
        cpu = self.cpu_timings if self.kind == "demo" else {}
        stages = ", ".join(
            f"{name} {seconds:.1f} s" + (f" (CPU {cpu[name]:.1f} s)" if name in cpu else "")
            for name, seconds in self.timings.items()
        )
        lines = [self.dataset_summary, *self._tables(), "", f"stages: {stages}"]
        for name, reason in self.skipped.items():
            lines.append(f"skipped {name}: {reason}")
        if self.resumed:
            lines.append(f"resumed (loaded, not recomputed): {', '.join(self.resumed)}")
        if self.report is not None:
            lines.append(f"report: {self.report}")
        lines.append(f"outputs in {self.out_dir}")
        return "\n".join(lines)


__all__ = ["RunResult"]
