"""The pipeline's ``gia`` stage: marginal effects of the discovered patterns (``gia.csv``) and
the grammar, position and count experiments of :mod:`cislens.pipeline._gia`."""

from __future__ import annotations

import pandas as pd

from cislens.pipeline._gia import (
    N_MARGINAL_BACKGROUNDS,
    GiaConfig,
    run_grammar,
    write_grammar,
)
from cislens.pipeline.discovery import trimmed
from cislens.run_folder import RunFolder


def gia_stage(
    stages, params, model, dataset, discovery, *, config=None, device=None, verbose=False, view=None
):
    """Marginal effect of each of the first four positive patterns (and each motif named in
    ``config.motifs``) on every task, embedded in dinucleotide-shuffled test sequences; then the
    grammar of pattern pairs, position and count experiments (:mod:`cislens.pipeline._gia`).
    ``config`` is a :class:`~cislens.pipeline._gia.GiaConfig` (default: its defaults); ``view``
    holds ``output`` and ``input_layout`` for the model."""
    from cislens.gia import marginalize, null_backgrounds
    from cislens.pwm import Motif

    config = config or GiaConfig()
    folder: RunFolder = stages.folder
    if stages.done("gia", params, RunFolder.GIA, *RunFolder.GRAMMAR_FILES):
        stages.finish("gia")
        return
    (folder / RunFolder.GIA_SPACING_OLD).unlink(missing_ok=True)
    found = [] if discovery is None else discovery.patterns
    patterns = [(p.name, Motif(p.name, trimmed(p))) for p in found if p.metacluster == "pos"][:4]
    patterns += [(name, name) for name in config.motifs]
    rows, seed = [], params["random_state"]
    backgrounds = null_backgrounds(
        "dinucleotide_shuffle",
        dataset.X["test"][:1000],
        n=max(N_MARGINAL_BACKGROUNDS, config.n_backgrounds),
        random_state=seed,
    )
    for name, pattern in patterns:
        result = marginalize(
            model,
            backgrounds[:N_MARGINAL_BACKGROUNDS],
            pattern,
            device=device,
            random_state=seed,
            verbose=verbose,
            **(view or {}),
        )
        frame = result.to_frame()
        frame["target"] = [
            dataset.task_names[int(t)] if str(t).isdigit() else t for t in frame["target"]
        ]
        frame.insert(0, "pattern", name)
        rows.append(frame)
    table = (
        pd.concat(rows, ignore_index=True)
        if rows
        else pd.DataFrame(columns=["pattern", "target", "effect", "ci_low", "ci_high", "p_value"])
    )
    folder.write_table(RunFolder.GIA, table)
    write_grammar(
        folder,
        run_grammar(
            model,
            dataset,
            discovery,
            config,
            backgrounds,
            seed=seed,
            device=device,
            verbose=verbose,
            view=view,
        ),
    )
    stages.finish("gia", params)


__all__ = ["gia_stage"]
