"""The one set of training defaults of :func:`cislens.train.fit`, ``cislens train`` and
``cislens run``.

Every entry point takes its defaults from :data:`TRAINING_DEFAULTS` (through
:func:`training_settings`), so the command line, a run config and the library train the same way
when nothing is given. Why these values (measured in ``benchmarks/train_presets.py``):

- ``batch_size`` 64, and ``epochs`` chosen from the data size (:func:`epochs_for`): small
  data sets get enough optimizer steps to find a motif (2,000 sequences with batch 300 gave 50
  steps in 10 epochs, and every architecture stayed at chance), large ones are not run longer
  than needed (early stopping ends them).
- ``monitor`` "auto": the validation auROC when a task is binary, else the validation loss. The
  loss of a weighted cross-entropy can stall at chance for several epochs before a motif is
  found; stopping on it ended runs that would have learnt.
- ``lr`` 3e-3 (1e-2 below 2,000 training sequences, :func:`lr_for`) with ``lr_schedule``
  "plateau" (a linear warm-up over the first epoch, then the
  learning rate halves when the monitor has not improved for 5 epochs) and ``patience`` 20:
  a small motif in long random sequences is found suddenly after a long flat phase (LabCNN on
  2,000 x 300 bp: validation auROC ~0.5 for 17 epochs, then 0.9 within two), so stopping or
  lowering the rate early ends runs that would have learnt; at 1e-3 that phase was longer
  than any default run.
- ``reverse_complement`` True: the simulated and most real regulatory labels do not depend on
  the strand, and the augmentation halves what a filter must learn.

- ``restarts`` 1, but LabCNN's ``training_defaults`` race 3 seeds for ``selection_epochs``
  (4) epochs (:func:`cislens.train.fit_restarts`): at the full preset sizes LabCNN with seed 0
  collapsed at epoch 1 (validation auROC 0.50 for all 20 epochs) on jund_tead, grhl2_nfya and
  nrf1_zeb1 although the same presets at 3,000 sequences learnt; with the race jund_tead went
  0.500 -> 0.988 and grhl2_nfya 0.524 -> 1.000 (about 60 % more CPU).
- ``lr_candidates`` None (only ``lr``), but LabCNN's ``training_defaults`` race its 3 seeds at
  each of 3e-3 and 1e-3 (6 runs of ``selection_epochs``; the best pair by the validation
  monitor trains, :func:`resolve_lr_candidates`): a given ``lr`` is one fixed choice (no race),
  and below :data:`SMALL_DATA` training sequences, or in a run shorter than the race, the
  default race is dropped. Measured 2026-12-05 at the full preset sizes (seed 0, 1 thread,
  load 4-6; ``python benchmarks/train_presets.py --archs labcnn --presets nrf1_zeb1 rest
  tal_gata --tag lr_race --train-args '{"lr_candidates": [0.003, 0.001]}'`` and ``--presets
  spi1 e2f6_max --tag lr_race_check``): nrf1_zeb1 0.490 -> 0.998 (chose 1e-3; 74 CPU s), rest
  0.524 -> 0.999 (chose 1e-3; 105 CPU s), spi1 1.000 -> 1.000 (0.9996, chose 1e-3; 108 CPU s),
  e2f6_max 1.000 -> 1.000 (chose 3e-3; 103 CPU s), tal_gata 0.938 (chose 3e-3; 91 CPU s; still
  not met). Each preset costs about 2x the one-seed run. With the race as LabCNN's default
  (tags ``lr_race_default_{a,b,c}``): lab3, spi1_ctcf, composite_pair, tp53 and jund_tead stay
  met (all chose 3e-3), but grhl2_nfya falls 1.000 -> 0.884 (chose 1e-3 after 4 epochs, still
  rising at its last epoch) and celltypes5 stays unmet (1 of 5 tasks, lymphoid 0.978;
  tag ``lr_race_default_d``): 9 presets met instead of 8, so the race is the default.

- LabCNN beyond 200 bp (:func:`default_model_args`): batch norm after each convolution and an
  exponential first-layer activation. With the classic layers and a global max pool, 11-14 of
  the 16 second-layer ReLU channels were silent after the first epoch (a channel negative at
  every position gets no gradient again), so tal_gata (TAL1 or GATA1) learnt one motif (test
  auROC 0.938) and celltypes5 one of five tasks. Measured with both at the full preset sizes:
  ``benchmarks/results/train_presets.md`` (tags ``h_fit_bnexp_*``).

- LabCNN on several tasks beyond 200 bp (:data:`LABCNN_MULTITASK_ARGS`, 2026-12-05, 8th
  session): 64 ReLU first-layer filters, then per task 8 second-layer channels of its own
  (``task_towers="second"``) beside 16 that every task reads (``shared_channels``), 32 hidden
  units per task. On celltypes5 the shared model (32 / 16, exp) learnt 3 of 5 tasks: every
  (rate, seed) pair of its race missed at least two tasks after 20 epochs, so no race rule
  (the worst task instead of the mean included) could pick a good one, and 60 epochs, 64 / 64
  filters or one first layer per task did not help. What was missing differed by layout:
  the stalls at myeloid 0.91-0.93 and lymphoid 0.95 are exactly what a head on CEBPB alone
  (0.912) or EBF1 alone (0.956) gives, i.e. SPI1, which both AND rules need, went unfound
  in towers with their own channels only; the repressor REST (neural 0.90) and the GATA1-KLF1
  pair went unfound in the shared model. The mixed layout learnt all five (test auROC 0.978 /
  0.989 / 0.971 / 0.996 / 0.996 against the PWM baseline's 1.000; 1,251 CPU s with the default
  race, 3.2x the shared model, a quarter of Basset's; with seed 1, other data, 0.991 / 0.990 /
  0.991 / 0.972 / 0.991). Earlier (h_c5b, 7th session): towers
  with a shared first layer only (``"second"``) left REST unfound, a first layer per task
  (``"all"``) reached 3 of 5 tasks with the race at ~9x the CPU. Probes:
  ``benchmarks/results/train_probes_s8_celltypes5.json``; runs:
  ``benchmarks/results/train_presets.md``. Hepatocyte's earlier miss was the preset's weak
  HNF4A matrix, since replaced (MA0114.3).

Checked and left unchanged (2026-12-05, ``benchmarks/results/train_presets.md``):

- ``epochs``: at the full preset sizes (14,000 training sequences, 20 epochs) LabCNN reaches
  the PWM baseline on lab3, spi1, e2f6_max and tp53 (the chance-level runs at 2,100 training
  sequences were a small-data effect); on tal_gata it plateaus at 0.93 from epoch 15 to 29 of
  a 60-epoch run and on rest it stays at chance for all 60 epochs, so more epochs would only
  cost time.
- ``lr`` at the full sizes: 1e-2 leaves tal_gata at 0.500 (units silenced); 1e-3 rescues
  the runs that collapse at 3e-3 (nrf1_zeb1 0.49 -> 0.998, jund_tead 0.50 -> 0.985) but in 20
  epochs loses spi1 (1.000 -> 0.871), e2f6_max (1.000 -> 0.878) and tal_gata (0.935 -> 0.698),
  so 3e-3 stays from 2,000 training sequences; the rate race above takes 1e-3 where it helps.
- Basset on small data: learning rates 1e-3 / 3e-3 / 1e-2, widths from 2.6 M down to 22 k
  parameters, a global last pool, dropout 0.5, weight decay 0.05 and removing batch norm all
  leave it memorising 1,400 sequences at chance. What fixes it (2026-12-05, helper h_basset)
  is a sparse first layer (an exponential activation) with a global last pool and no dense
  batch norm, at 64 / 32 / 32 filters: :func:`basset_model_args`, Basset's default below
  :data:`SMALL_DATA` training sequences (own data, 3 seeds: 0.938 / 0.955 / 0.937).
- Beluga on small data (2026-12-05, helper h_beluga): the published layout's stage-1 ReLU
  channels die (output constant) at 1e-2, 3e-3 and 1e-3, with a ReLU or an exp first layer;
  batch norm after every convolution at 32 / 32 / 32 filters learns:
  :func:`beluga_model_args`, Beluga's default below :data:`SMALL_DATA` training sequences.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from cislens.models.basset import basset_unseen_bases, global_pool_sizes
from cislens.models.beluga import beluga_unseen_bases

TRAINING_DEFAULTS: dict = {
    "epochs": None,  # None: epochs_for(n_train, batch_size)
    "batch_size": 64,
    "lr": None,  # None: lr_for(n_train)
    "patience": 20,
    "monitor": "auto",
    "lr_schedule": "plateau",
    "reverse_complement": True,
    "restarts": 1,
    "selection_epochs": 4,
    "lr_candidates": None,  # None: only lr; a list: the rates race (fit_restarts)
}
"""The generic defaults; an architecture's ``training_defaults`` override them."""

LABCNN_MULTITASK_ARGS: dict = {
    "task_towers": "second",
    "shared_channels": 16,
    "n_filters": [64, 8],
    "n_hidden": 32,
    "activation1": "relu",
}
"""LabCNN beyond 200 bp with two or more tasks (:func:`default_model_args`): a shared first
layer of 64 filters (ReLU), then 16 second-layer channels that every task reads and 8 of each
task's own, and a dense layer of 32 units per task."""

SMALL_DATA = 2000
"""Below this many training sequences the default learning rate is 1e-2, else 3e-3."""
TARGET_STEPS = 4000
"""Optimizer steps that :func:`epochs_for` aims at."""
MIN_EPOCHS, MAX_EPOCHS = 20, 100


def epochs_for(n_train: int, batch_size: int) -> int:
    """Default maximum epochs for ``n_train`` training sequences: about :data:`TARGET_STEPS`
    optimizer steps, at least 20 and at most 100 epochs (early stopping usually ends sooner).

    Examples
    --------
    >>> epochs_for(1400, 64), epochs_for(14000, 64), epochs_for(100000, 64)
    (100, 20, 20)
    """
    if n_train < 1 or batch_size < 1:
        raise ValueError(
            f"epochs_for needs n_train >= 1 and batch_size >= 1; got {n_train}, {batch_size}."
        )
    steps_per_epoch = math.ceil(n_train / batch_size)
    return int(min(MAX_EPOCHS, max(MIN_EPOCHS, math.ceil(TARGET_STEPS / steps_per_epoch))))


def lr_for(n_train: int) -> float:
    """Default Adam learning rate: 1e-2 below :data:`SMALL_DATA` training sequences, else 3e-3.

    Measured (``benchmarks/train_presets.py``): on 1,400 training sequences of 300 bp with a
    planted 6-mer, LabCNN and DeepBind stayed at chance at 3e-3 within the default epochs
    (test auROC 0.44, 0.82) and reached 0.95, 0.89 at 1e-2; on the presets with 2,100 or more
    training sequences, 1e-2 silenced LabCNN's units (celltypes5: every output constant) where
    3e-3 learnt (spi1: 0.995).

    Examples
    --------
    >>> lr_for(1400), lr_for(14000)
    (0.01, 0.003)
    """
    return 1e-2 if n_train < SMALL_DATA else 3e-3


def default_model_args(
    name: str,
    input_length: int,
    n_train: int | None = None,
    n_tasks: int | None = None,
    given: Mapping | None = None,
) -> dict:
    """Architecture hyperparameters chosen by the input length (and, for Basset, the number
    of training sequences ``n_train``; None: not known, no small-data change; for LabCNN, the
    number of tasks ``n_tasks``) when the user gives none. The user's own arguments are merged
    after these and win; ``given`` (the user's arguments) only leaves out LabCNN's several-task
    layout when the user chose ``task_towers`` themselves (its settings belong together).

    LabCNN's second pool is 8 (the classic model, made for 200 bp) up to 200 bp; for longer
    inputs it covers the whole second feature map (a global max-pool) and dropout 0.5 comes
    before the output: with positions kept, LabCNN memorised 1,400 training sequences of
    300 bp before finding a planted 6-mer (test auROC 0.5); with a global pool it found it.
    Beyond 200 bp LabCNN also gets ``batch_norm`` (no second-layer channel falls silent for
    good under the global pool) and ``activation1="exp"`` (Koo & Ploenzke 2021): tal_gata
    0.938 -> 0.999 test auROC at the full size (``benchmarks/results/train_presets.md``).
    BPNetLike beyond 200 bp pools globally with the max instead of the mean: the mean of 300
    positions drowned the one planted 6-mer (test auROC 0.51; 0.93 with the max). Basset
    below 2,000 training sequences: :func:`basset_model_args`; Beluga:
    :func:`beluga_model_args` (both also keep the pools' last partial windows where the
    published pools would leave the input's last bases unread). Other architectures: no
    change (empty dict).

    Examples
    --------
    >>> default_model_args("labcnn", 200)
    {}
    >>> default_model_args("labcnn", 500)
    {'pool_sizes': [4, 114], 'dropout': 0.5, 'batch_norm': True, 'activation1': 'exp'}
    >>> default_model_args("labcnn", 1000, 21000, n_tasks=5)["task_towers"]
    'second'
    """
    if name == "basset":
        return basset_model_args(input_length, n_train)
    if name == "beluga":
        return beluga_model_args(input_length, n_train)
    if input_length <= 200:
        return {}
    if name == "bpnet":
        return {"pooling": "max"}
    if name != "labcnn":
        return {}
    after_conv2 = math.ceil((input_length - 19 + 1) / 4) - 8 + 1
    args = {
        "pool_sizes": [4, max(1, after_conv2)],
        "dropout": 0.5,
        "batch_norm": True,
        "activation1": "exp",
    }
    if n_tasks is not None and n_tasks >= 2 and "task_towers" not in (given or {}):
        args.update(LABCNN_MULTITASK_ARGS)
    return args


def basset_model_args(input_length: int, n_train: int | None = None) -> dict:
    """Basset's ``cislens train`` / ``run`` defaults: below :data:`SMALL_DATA` training
    sequences a compact Basset (64 / 32 / 32 filters) with an exponential first activation,
    a global last max-pool (sized by ``input_length``), no batch norm in the dense blocks and
    dropout 0.5; from :data:`SMALL_DATA` (or ``n_train`` None) the published topology
    (``Basset()``). At any size ``pool_ceil=True`` where the pools would otherwise leave the
    input's last bases unread (:func:`cislens.models.basset_unseen_bases`: 32 of 200 bp, 44
    of 500; none at 600).

    Why ``pool_ceil`` (2026-12-05): the published pools fit 600 bp; on lab3 (200 bp, motifs
    anywhere) the published Basset trained on 17,500 sequences reached test auROC 0.94-0.96
    against the PWM baseline's 1.000, because a motif in the last 32 bp is invisible to it.

    Why (2026-12-05, ``benchmarks/results/train_presets.md``): on 1,400 training sequences of
    300 bp with one planted 6-mer the published Basset memorised the training set at chance
    (test auROC 0.47-0.55 over 10 variants). With ReLU after the first convolution about half
    of the positions pass, so the later max-pools pick background and the motif's filter gets
    no gradient; ``exp`` passes only filter matches (the same 3-block net: 0.50 -> 0.91).
    The positional flatten and the dense batch norm let the head memorise (with ``exp``:
    0.53-0.66 with them, 0.91-0.92 without, 3 seeds). The published widths (300 / 200 /
    200 filters) with the same changes still memorised (0.53); 64 / 32 / 32 found the motif
    (0.94 with the published 1,000-unit dense layers).

    Examples
    --------
    >>> basset_model_args(300, 1400)["pool_sizes"], basset_model_args(600, 1400)["pool_sizes"]
    ([3, 4, 15], [3, 4, 40])
    >>> basset_model_args(600, 14000), basset_model_args(200, 14000)
    ({}, {'pool_ceil': True})
    >>> basset_model_args(200, 1400)["pool_sizes"], basset_model_args(200, 1400)["pool_ceil"]
    ([3, 4, 7], True)
    """
    if n_train is None or n_train >= SMALL_DATA:
        return {"pool_ceil": True} if basset_unseen_bases(input_length) else {}
    pools = global_pool_sizes(input_length)
    ceil = {"pool_ceil": True} if basset_unseen_bases(input_length, pool_sizes=pools) else {}
    return {
        "n_filters": [64, 32, 32],
        "first_activation": "exp",
        "pool_sizes": global_pool_sizes(input_length, **ceil),
        "dense_batchnorm": False,
        "dropout": 0.5,
        **ceil,
    }


def beluga_model_args(input_length: int, n_train: int | None = None) -> dict:
    """Beluga's ``cislens train`` / ``run`` defaults: below :data:`SMALL_DATA` training
    sequences a compact Beluga (32 filters in each of the 3 stages) with batch norm after every
    convolution; from :data:`SMALL_DATA` (or ``n_train`` None) the published topology
    (``DeepSEABeluga()``). At any size ``pool_ceil=True`` where the pools would otherwise
    leave the input's last bases unread (:func:`cislens.models.beluga_unseen_bases`: 14 of
    500 bp, 10 of Beluga's own 2,000; none at 300).

    Why (2026-12-05, ``benchmarks/results/train_presets.md``, helper h_beluga): on 1,400
    training sequences of 300 bp with one planted 6-mer, Beluga without normalisation collapsed
    to a constant output (train loss 0.69 throughout): after one epoch at lr 1e-2 the ReLU of
    the second convolution was 0 at every position (a dead channel gets no gradient again), and
    at 1e-3 or 3e-3 it died within a few epochs too, with a ReLU or an exponential first layer.
    Batch norm centres every channel over the batch, so none stays dead: 32 / 32 / 32 filters
    with batch norm reached 0.963 / 0.982 / 0.945 test auROC (seeds 0-2; 0.963 / 0.944 for
    seeds 3-4). Wider is worse: 64 / 64 / 64 stayed in its flat phase past the patience (seed
    0: 0.50), and the published widths with batch norm gave a constant output for 6 epochs.

    Examples
    --------
    >>> beluga_model_args(300, 1400)
    {'n_filters': [32, 32, 32], 'batch_norm': True}
    >>> beluga_model_args(300, 14000), beluga_model_args(500)
    ({}, {'pool_ceil': True})
    """
    ceil = {"pool_ceil": True} if beluga_unseen_bases(input_length) else {}
    if n_train is None or n_train >= SMALL_DATA:
        return ceil
    return {"n_filters": [32, 32, 32], "batch_norm": True, **ceil}


def training_settings(architecture, given: Mapping, *, n_train: int | None) -> dict:
    """Resolved training settings: each key of :data:`TRAINING_DEFAULTS` from ``given`` when
    not None, else from the architecture's ``training_defaults``, else the generic default;
    ``epochs`` None becomes :func:`epochs_for` of the data.

    Parameters
    ----------
    architecture : type
        A ``SequenceModel`` subclass (``training_settings`` and ``training_defaults``), or None.
    given : mapping
        The user's settings (None: not given). Unknown keys raise ``ValueError``.
    n_train : int or None
        Training sequences (for the epochs); None leaves ``epochs`` None, which ``fit`` turns
        into the same :func:`epochs_for` once it sees the data.

    Examples
    --------
    >>> from cislens.models import LabCNN
    >>> settings = training_settings(LabCNN, {"lr": 3e-3}, n_train=14000)
    >>> settings["lr"], settings["epochs"], settings["batch_size"], settings["monitor"]
    (0.003, 20, 64, 'auto')
    """
    unknown = sorted(set(given) - set(TRAINING_DEFAULTS))
    if unknown:
        raise ValueError(
            f"unknown training setting(s) {unknown}; the settings are {sorted(TRAINING_DEFAULTS)}."
        )
    arch_defaults = dict(getattr(architecture, "training_defaults", {}) or {})
    batch_size = given.get("batch_size") or arch_defaults.get(
        "batch_size", TRAINING_DEFAULTS["batch_size"]
    )
    generic = dict(TRAINING_DEFAULTS)
    if n_train is not None and generic["epochs"] is None and arch_defaults.get("epochs") is None:
        generic["epochs"] = epochs_for(n_train, int(batch_size))
    if n_train is not None and generic["lr"] is None and arch_defaults.get("lr") is None:
        generic["lr"] = lr_for(n_train)
    if architecture is not None and hasattr(architecture, "training_settings"):
        settings = architecture.training_settings(dict(given), generic)
    else:
        settings = {
            key: given[key] if given.get(key) is not None else value
            for key, value in generic.items()
        }
    return resolve_lr_candidates(settings, given, n_train=n_train)


def resolve_lr_candidates(settings: dict, given: Mapping, *, n_train: int | None) -> dict:
    """The learning-rate race of resolved ``settings``: a user's ``lr`` is one fixed choice
    (no race), a race of rates replaces the default ``lr`` (set to None), and a default race
    is dropped below :data:`SMALL_DATA` training sequences (there :func:`lr_for`'s 1e-2 was
    measured) or when it does not fit in ``epochs``.

    Examples
    --------
    >>> resolve_lr_candidates({"lr": 0.003, "lr_candidates": [0.003, 0.001]}, {}, n_train=14000)
    {'lr': None, 'lr_candidates': [0.003, 0.001]}
    >>> resolve_lr_candidates({"lr": 0.01, "lr_candidates": [0.003, 0.001]}, {"lr": 0.01},
    ...                       n_train=14000)
    {'lr': 0.01, 'lr_candidates': None}
    """
    settings = dict(settings)
    candidates = settings.get("lr_candidates")
    if given.get("lr") is not None and given.get("lr_candidates") is not None:
        raise ValueError(
            f"got both lr ({given['lr']!r}) and lr_candidates ({given['lr_candidates']!r}); "
            "lr is one fixed rate, lr_candidates a race of rates. Give one of them."
        )
    epochs, selection = settings.get("epochs"), settings.get("selection_epochs")
    by_default = given.get("lr_candidates") is None
    if candidates is None or given.get("lr") is not None:
        candidates = None
    elif by_default and n_train is not None and n_train < SMALL_DATA:
        candidates = None
    elif by_default and isinstance(epochs, int) and isinstance(selection, int):
        candidates = None if selection >= epochs else candidates
    if isinstance(candidates, tuple):
        candidates = list(candidates)
    settings["lr_candidates"] = candidates  # checked where it is used (fit_restarts, run config)
    if candidates is not None:
        settings["lr"] = None
    return settings


__all__ = [
    "TARGET_STEPS",
    "TRAINING_DEFAULTS",
    "basset_model_args",
    "beluga_model_args",
    "default_model_args",
    "epochs_for",
    "lr_for",
    "resolve_lr_candidates",
    "training_settings",
]
