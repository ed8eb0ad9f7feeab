"""A real-data example: ChIP-seq peak sequences that a PyPI package ships, end to end.

The Janggu package (``pip install --no-deps janggu``; GPL-3.0; Kopp et al., Nat Commun 11,
3488, 2020) ships, in ``janggu/resources/``, two FASTA files of 200-bp windows around
transcription-factor ChIP-seq peaks, used by its own tutorial to tell Oct4 from MafK binding
sites: ``sample.fa`` (3,897 Oct4 / POU5F1 peaks) and ``sample2.fa`` (3,900 MafK peaks), headers
``chrN:start-end``. cislens reads the files where pip put them (it neither imports Janggu, whose
TensorFlow-era pins would break this environment, nor copies the data).

:func:`peaks_example` runs the whole workflow on one of them: train a small CNN on the peaks
against dinucleotide shuffles of themselves (same 2-mer content, so only the arrangement of
bases, motifs first, tells them apart), DeepLiftShap hypothetical scores on peaks, motif
discovery, and TOMTOM against JASPAR CORE vertebrates. ``docs/real_data.md`` shows the result.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from cislens.utils.validation import check_choice, check_positive_int

PEAK_SETS = {"oct4": "sample.fa", "mafk": "sample2.fa"}
"""Peak sets of the Janggu package: name -> file in ``janggu/resources``."""


def janggu_peaks(name: str = "oct4") -> Path:
    """The path of one of Janggu's peak FASTA files (found without importing Janggu).

    Raises
    ------
    ValueError
        An unknown ``name`` (the message lists :data:`PEAK_SETS`).
    ModuleNotFoundError
        Janggu is not installed; the message says how to install it for its data alone.
    """
    check_choice(name, sorted(PEAK_SETS), name="name")
    spec = importlib.util.find_spec("janggu")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            "the real-data example reads the peak sequences shipped by the 'janggu' package; "
            "install it for its data alone with 'pip install --no-deps janggu' (its own "
            "dependencies are not needed)."
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "resources" / PEAK_SETS[name]
    if not path.is_file():
        raise FileNotFoundError(f"the janggu package has no '{path}'; reinstall janggu 0.10.")
    return path


def load_peaks(name: str = "oct4", *, n: int | None = None) -> np.ndarray:
    """The first ``n`` (default all) peak sequences of a Janggu set, one-hot float32 (N, 4, 200)."""
    from cislens.sequence import iter_fasta, one_hot_encode

    sequences = [record.sequence for record in iter_fasta(janggu_peaks(name))]
    if n is not None:
        sequences = sequences[: check_positive_int(n, "n")]
    return np.asarray(one_hot_encode(sequences), dtype=np.float32)


@dataclass
class PeakExample:
    """What :func:`peaks_example` produced.

    Attributes
    ----------
    model : torch.nn.Module
        The trained CNN.
    valid_auroc : float
        auROC of peaks vs shuffles on the held-out 10%.
    attributions : cislens.io.AttributionSet
        DeepLiftShap scores (with hypothetical scores) of the explained peaks.
    discovery : cislens.motifs.MotifDiscoveryResult
        The discovered patterns.
    matches : pandas.DataFrame
        TOMTOM matches of every pattern (:data:`cislens.motifs.MATCH_COLUMNS`).
    """

    model: object
    valid_auroc: float
    attributions: object
    discovery: object
    matches: pd.DataFrame


def peaks_vs_shuffles(X, *, random_state=None):
    """Peaks (label 1) and one dinucleotide shuffle of each (label 0): ``(X, Y)``, (2N, 4, L)."""
    from cislens.shuffle import dinucleotide_shuffle

    X = np.asarray(X, dtype=np.float32)
    negatives = np.asarray(dinucleotide_shuffle(X, n=1, random_state=random_state))[:, 0]
    Y = np.concatenate([np.ones(len(X)), np.zeros(len(X))])[:, None].astype(np.float32)
    return np.concatenate([X, negatives]), Y


def peaks_example(
    name: str = "oct4",
    *,
    n_peaks: int = 1500,
    epochs: int = 12,
    n_explain: int = 400,
    n_shuffles: int = 10,
    database="jaspar",
    random_state: int = 0,
    verbose: bool = False,
) -> PeakExample:
    """Train on real peaks vs their dinucleotide shuffles, attribute, discover and annotate.

    Parameters
    ----------
    name : {"oct4", "mafk"}
        The Janggu peak set.
    n_peaks : int
        Peaks used (the first ones in the file); as many shuffles are added as negatives and
        10% of both are held out for early stopping and the auROC.
    epochs : int
        Training epochs (the best validation epoch is kept).
    n_explain : int
        Peaks explained (the first ones), with DeepLiftShap over ``n_shuffles`` references.
    database : str or list of Motif
        The TOMTOM database (:func:`cislens.motifs.annotate`); default JASPAR CORE vertebrates.
    random_state : int
        Seeds the shuffles, the split, the weights, training, the references and discovery.

    Returns
    -------
    PeakExample
    """
    import torch
    from sklearn.metrics import roc_auc_score

    from cislens.attribution import attribution_set
    from cislens.models import LabCNN
    from cislens.motifs import annotate, discover_motifs
    from cislens.train import fit

    peaks = load_peaks(name, n=n_peaks)
    X, Y = peaks_vs_shuffles(peaks, random_state=random_state)
    order = np.random.default_rng(random_state).permutation(len(X))
    valid, train = order[: len(X) // 10], order[len(X) // 10 :]
    model = LabCNN(
        n_tasks=1,
        input_length=X.shape[2],
        n_filters=(16, 8),
        filter_widths=(15, 5),
        pool_sizes=(4, 4),
        n_hidden=16,
        random_state=random_state,
    )
    fit(
        model,
        (X[train], Y[train], X[valid], Y[valid]),
        epochs=epochs,
        batch_size=100,
        lr=3e-3,
        patience=3,
        random_state=random_state,
        verbose=verbose,
    )
    model.eval()
    with torch.no_grad():
        logits = model(torch.from_numpy(X[valid])).numpy()[:, 0]
    auroc = float(roc_auc_score(Y[valid, 0], logits))
    scores = attribution_set(
        model,
        peaks[:n_explain],
        method="deeplift_shap",
        target=0,
        hypothetical=True,
        n_shuffles=n_shuffles,
        random_state=random_state,
    )
    discovery = discover_motifs(
        scores.X, scores.hypothetical, random_state=random_state, n_leiden_runs=3, verbose=verbose
    )
    matches = annotate(discovery.patterns, database=database) if discovery.patterns else None
    return PeakExample(model, auroc, scores, discovery, matches)


__all__ = [
    "PEAK_SETS",
    "PeakExample",
    "janggu_peaks",
    "load_peaks",
    "peaks_example",
    "peaks_vs_shuffles",
]
