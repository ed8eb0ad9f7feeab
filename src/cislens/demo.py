"""The end-to-end demo on built-in simulated data (``cislens demo``, ``make demo``).

Every stage runs for real and writes its output under ``out_dir``:

=============  ==================================================================================
``simulate``   a preset with recorded ground truth -> ``data.h5``
``train``      LabCNN, early stopping on the validation split -> ``model/``
``evaluate``   per-task test metrics -> ``metrics.csv``
``attribute``  every registered method on ``n_examples`` test positives per task (ISM on
               ``ism_examples``) -> ``attributions/<method>_t<task>.npz``,
               ``attributions/timings.json`` (method -> seconds)
``motifs``     discovery on the DeepLiftShap hypothetical scores (all tasks pooled), first-layer
               filter motifs, TOMTOM against JASPAR, CWM instance calls -> ``motifs.h5``,
               ``matches.csv``, ``filters.csv``, ``hits.csv``
``gia``        marginal effect of each discovered pattern on every task, the grammar of the top
               three (every orientation x gap 0-20, docs/gia.md), position and count ->
               ``gia.csv``, ``gia_grammar.csv``, ``gia_grammar_best.csv``, ``gia_position.csv``,
               ``gia_count.csv``
``benchmark``  attributions and motifs against the ground truth -> ``benchmark.csv``,
               ``benchmark_per_sequence.csv``, ``motif_recovery.csv``, ``instance_recovery.csv``
``report``     ``report_inputs.npz`` (the predictions and IG path densities the report shows),
               ``report.html`` (one self-contained file)
=============  ==================================================================================

With ``resume=True`` a stage whose record (``<stage>.params.json``) holds the key computed now
(its parameters and the digests of its upstream outputs) and whose files still have the
recorded digests is loaded instead of recomputed (:mod:`cislens.pipeline.stages`). The same
``random_state`` gives the same numbers. The demo is a run config
(:class:`cislens.pipeline.preset.DemoConfig`) that :func:`cislens.pipeline.run_pipeline` runs:
the stages after training are the ones ``cislens run`` runs on a user's own data and model.
"""

from __future__ import annotations

from cislens.pipeline import RunResult, run_pipeline
from cislens.pipeline.preset import DEFAULT_PRESET, DEMO_STAGES, DemoConfig

STAGES = DEMO_STAGES


def run_demo(
    out_dir,
    *,
    preset: str = DEFAULT_PRESET,
    n_sequences: int | None = None,
    epochs: int = 25,
    train_batch_size: int = 100,
    n_examples: int = 100,
    ism_examples: int = 20,
    methods="all",
    random_state: int = 0,
    resume: bool = False,
    device=None,
    verbose: bool = False,
) -> RunResult:
    """Simulate, train, attribute, discover motifs, run GIA, benchmark, and write a report.

    Parameters
    ----------
    out_dir : str or Path
        Where the outputs go (created if needed).
    preset : str
        Simulation preset (default "lab3"; see ``cislens simulate --list``).
    n_sequences : int, optional
        Scale the preset down to this many sequences (split proportions kept).
    epochs : int
        Maximum training epochs (early stopping on the validation loss, patience 5; default 25).
    train_batch_size : int
        Training rows per optimiser step (default 100).
    n_examples : int
        Test positives per task explained by each attribution method (default 100).
    ism_examples : int
        Of those, how many ISM explains (default 20; ISM costs 3 L forward passes each).
    methods : "all" or list of str
        Attribution methods (default every registered one).
    random_state : int
        Seed for every stage; the same seed gives the same numbers.
    resume : bool
        Reuse the outputs of finished stages with the same parameters.
    device : str, torch.device or None
        Where to compute (None: CUDA if available, else CPU).
    verbose : bool
        Progress bars and per-stage log lines.

    Returns
    -------
    RunResult
        With ``kind="demo"``.

    Examples
    --------
    >>> import tempfile
    >>> result = run_demo(tempfile.mkdtemp(), n_sequences=300, epochs=1)  # doctest: +SKIP
    """
    # Refusals come before the first write (and before minutes of training): an unknown method
    # or preset, or a preset that cannot be scaled to n_sequences, leaves no folder behind.
    config = DemoConfig.create(
        methods=methods,
        preset=preset,
        n_sequences=n_sequences,
        epochs=epochs,
        train_batch_size=train_batch_size,
        n_examples=n_examples,
        ism_examples=ism_examples,
        seed=random_state,
        device=device,
    )
    return run_pipeline(config, out=out_dir, resume=resume, verbose=verbose)


__all__ = ["DEFAULT_PRESET", "STAGES", "run_demo"]
