"""The pipeline's ``benchmark`` stage: attributions and motifs scored against the ground truth
(``benchmark.csv``, ``benchmark_per_sequence.csv``, ``motif_recovery.csv``,
``instance_recovery.csv``, ``motif_benchmark.json``)."""

from __future__ import annotations

from cislens.pipeline.discovery import pooled
from cislens.pipeline.stages import MOTIF_METHOD
from cislens.run_folder import RunFolder


def benchmark_stage(stages, params, dataset, sets, discovery, hits, *, motif_method=MOTIF_METHOD):
    """Score the attributions and (when discovery ran) the motifs against the ground truth."""
    from cislens.benchmark import benchmark_attributions, benchmark_motifs

    folder: RunFolder = stages.folder
    files = (RunFolder.BENCHMARK,) + ((RunFolder.MOTIF_RECOVERY,) if discovery is not None else ())
    if stages.done("benchmark", params, *files):
        stages.finish("benchmark")
        return (
            folder.read_table(RunFolder.BENCHMARK),
            folder.read_table(RunFolder.MOTIF_RECOVERY) if discovery is not None else None,
        )
    for stale in RunFolder.BENCHMARK_FILES:
        (folder / stale).unlink(missing_ok=True)
    truth = dataset.ground_truth
    timings = folder.attribution_timings()
    flat = [s for results in sets.values() for s in results]
    bench = benchmark_attributions(flat, truth, timings=timings)
    folder.write_table(RunFolder.BENCHMARK, bench.summary)
    folder.write_table(RunFolder.BENCHMARK_PER_SEQUENCE, bench.per_sequence)
    recovery = None
    if discovery is not None:
        _, _, index = pooled(sets.get(motif_method, []))
        motif_bench = benchmark_motifs(discovery.patterns, truth, hits=hits, example_index=index)
        folder.write_table(RunFolder.MOTIF_RECOVERY, motif_bench.motifs)
        folder.write_table(RunFolder.INSTANCE_RECOVERY, motif_bench.instances)
        folder.write_json(
            RunFolder.MOTIF_BENCHMARK,
            {"n_spurious": motif_bench.n_spurious, "pattern_truth": motif_bench.pattern_truth},
        )
        recovery = motif_bench.motifs
    stages.finish("benchmark", params)
    return bench.summary, recovery


__all__ = ["benchmark_stage"]
