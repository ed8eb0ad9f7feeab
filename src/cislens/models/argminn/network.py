"""The ARGMINN architecture: a motif scanner and a memory-stream syntax builder.

ARGMINN (Tseng et al. 2024) limits what the network can express so that the motifs and their
syntax can be read from its weights and activations:

- **motif scanner**: one ``Conv1d(4 -> F, W)`` (unpadded, with bias) and a ReLU. Each filter is
  meant to be one motif. With ``reverse_complement=True`` (our default, an extension) every
  filter reads both strands (the activation is the larger of the filter and its reverse
  complement), so a motif that occurs on both strands needs one filter, not two;
- **tokens**: at each of the ``P = L - W + 1`` placements, the F activations (optionally
  batch-normalised) and a sinusoidal positional encoding, projected to ``token_dim`` (with
  ``strand_tokens``, the default, each filter's two strands are two features). Tokens never
  attend to each other;
- **syntax builder**: a *memory stream*, a vector initialised to ones (the same for every
  sequence), read and written by ``n_layers`` attention layers. Each layer makes one query per
  head from the stream and attends over the tokens; the keys are the tokens themselves, the
  values a linear map of them; the result passes an output map, LayerNorm, an MLP and LayerNorm
  and is *added* to the stream. The first layer's query does not depend on the sequence, so its
  attention says which motif instances the model looks for;
- **heads**: LayerNorm on the stream, then one linear output per task, (N, T) logits.

The only route from the sequence to the prediction is: scanner activations at the attended
placements -> stream. Regularisers (filter overlap, L1, attention entropy) with their epoch
schedule are part of the model's config; :func:`cislens.train.fit` adds
:meth:`ARGMINN.regularization_loss` to the task loss.

Training recipe (measured on the six presets, ``benchmarks/argminn_presets.py``): the
attention starts near uniform, so each motif is found only after a plateau, and a head that has
locked onto one motif gives the next one little gradient; on ``tal_gata`` (20,000 sequences,
Adam lr 3e-3) TAL1 was found in epoch 3 and GATA1 only in epoch 9. Regularising before every
motif is found kills the late filters for good (a ReLU filter pushed below zero everywhere gets
no gradient back), so the warm-up is long (12 epochs) and the regularisers ramp up from weights
at which they are small next to the task loss. A live token batch norm would make the filters'
scale free (neither L1 nor the overlap penalty could switch a filter off), so the norm is frozen
once the regularisers start (``freeze_token_norm``).
"""

from __future__ import annotations

from typing import ClassVar, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from cislens.models._base import SequenceModel, _check_input_hook, initialize_parameters
from cislens.models.argminn.config import ARGMINNConfig
from cislens.models.argminn.layers import AttentionLayer, guide_weight, positional_encoding
from cislens.models.argminn.losses import attention_entropy, filter_l1, filter_overlap_penalty
from cislens.utils.random import derive_seed, resolve_seed
from cislens.utils.types import RandomState


class ARGMINNOutput(NamedTuple):
    """Everything one forward pass of :class:`ARGMINN` computes (tensors, batch first).

    Attributes
    ----------
    logits : tensor (N, T)
    activations : tensor (N, F, P)
        Scanner activations after the ReLU and before any batch norm (what the losses and the
        readout use); P = L - W + 1.
    strands : bool tensor (N, F, P)
        True where the reverse-complement filter produced the activation (all False when the
        scanner reads one strand).
    attention : tensor (N, n_layers, n_heads, P)
        Attention of each layer and head over the placements (each row sums to 1).
    """

    logits: torch.Tensor
    activations: torch.Tensor
    strands: torch.Tensor
    attention: torch.Tensor


class ARGMINN(SequenceModel):
    """ARGMINN: motifs are the scanner filters, syntax is the attention (Tseng et al. 2024).

    Parameters
    ----------
    n_tasks : int
        Number of outputs T (one linear head each; multi-task is a cislens extension).
    input_length : int or None
        Recorded for reference; any length >= ``filter_width`` works (default None).
    n_filters, filter_width : int
        Scanner filters F and their width W (defaults 8 and 15, the reference notebook's).
    reverse_complement : bool
        Each filter reads both strands (default True; the reference reads one strand).
    strand_tokens : bool
        With ``reverse_complement``, the tokens get each filter's forward- and reverse-strand
        activations as two features (2F in all) instead of their maximum (default True). The
        maximum forgets the strand, so a rule on orientation or order (JUND then TEAD1 on one
        strand; the two REST half-sites in order) cannot be told from its wrong-arrangement
        decoys: on ``rest``'s test split a one-layer model with maximum tokens ranked those
        decoys against the positives at auROC 0.58, with strand tokens 0.88 (two layers:
        0.97). With one layer, strand tokens stalled ``jund_tead``'s warm-up at validation
        auROC 0.80 (one seed; 0.96 without them); with two layers it reached 0.97. The
        activations of the losses and the readout are the per-filter maximum either way.
    token_batch_norm : bool
        BatchNorm on the scanner activations that form the tokens (default True; without it
        the small early activations barely move the attention and training stalls).
    freeze_token_norm : bool
        From the first regularised epoch on, the token batch norm uses its running statistics
        (frozen at the end of the warm-up) in training too (default True). A live batch norm
        divides each filter's activations by their batch spread, so a filter's scale changes
        nothing and neither L1 nor the overlap penalty can switch a redundant filter off; frozen,
        a filter that shrinks really fades from the tokens. Needs ``fit`` (which calls
        :meth:`on_epoch_start`); a custom loop must call it too.
    overlap_scale_free : bool
        Divide each filter's activations by their batch maximum in the overlap penalty (default
        False: with the token norm frozen, a redundant filter should escape the penalty by
        fading out, which the division would hide; see
        :func:`cislens.models.argminn.losses.filter_overlap_penalty`).
    prune_redundant : bool
        After training, ``cislens train`` and ``cislens run`` remove the filters the readout
        calls ``redundant`` (a second filter on the same sites) and fine-tune the model without
        them, keeping the result only if its validation score holds (default True; see
        :func:`cislens.argminn.prune_redundant`, which library users call after ``fit``). The
        overlap penalty alone left ``jund_tead`` with two filters one column apart on one unit.
    position_dim, token_dim, stream_dim : int
        Positional-encoding size (16), token size (32), memory-stream size (128).
    n_layers, n_heads : int
        Attention layers (default 2; the reference notebook used 1, its config 4) and heads per
        layer (default 4; must divide ``token_dim``). A later layer's query depends on what the
        earlier ones read, so it can look for a second motif at a position relative to the
        first: spacing rules need it. On ``rest`` (half-sites 0-10 bp apart; decoys 11-20)
        one-layer models ranked the wrong-spacing decoys against the positives at test auROC
        0.61-0.66, the two-layer default at 0.88 (``benchmarks/argminn_presets.py``, seed 0,
        20,000 sequences; its ``decoy_auroc_*`` columns).
    overlap_weight, overlap_start : float
        Filter-overlap penalty weight after the ramp and at its first epoch (defaults 1e5 and
        1). At 1e4 (our earlier default) ``spi1_ctcf`` kept two CTCF filters 2 bp apart: the
        penalty had fallen to about 1e-6, 0.013 after weighting, next to a task loss of 0.05;
        at 1e5 and 1e6 one CTCF filter was left (same seed, test auROC 0.999 both). After the
        warm-up the penalty is about 0.03-0.05, so the ramp starts well below the task loss.
        Starting at 1e4 switched off 5 of 8 filters within one epoch (``tal_gata``, before its
        second motif had a filter); starting at 10, the first regularised epoch already cut the
        penalty 5-fold and the filters' peak activations 4-fold (``jund_tead``).
    l1_weight, l1_start : float
        L1 weight on the filters after the ramp and at its first epoch (defaults 1e-2, 1e-4;
        ``sum |W|`` is about 50 after the warm-up).
    entropy_weight : float
        Attention-entropy weight after the warm-up (default 0: off).
    warmup_epochs, ramp_epochs : int
        Epochs without regularisation (default 12), then of the log-spaced ramp (default 10);
        train for a few more epochs at the final weights (28 in all, Adam lr 3e-3, batch 128,
        is our benchmark's setting, with the best of 4 seeds after 5 epochs, see
        :func:`cislens.train.fit_restarts`; the reference notebook used 10 + 20 + 10 at lr
        1e-3).
    guide_epochs : int or None
        Epochs of the training guide (default None: half the warm-up, 6; 0: none; at most
        ``warmup_epochs``). A cislens extension: during the first ``guide_epochs`` epochs the
        logits get an extra term, ``g * Linear(max over positions of each filter's
        activation)``, with ``g`` falling
        linearly from 1 (epoch 1) to 0 (epoch ``guide_epochs + 1``; :func:`guide_weight`, set
        by :meth:`on_epoch_start`). It gives every filter a direct gradient, as a CNN's pooling
        does, while the attention is still near uniform and passes the filters almost none; by
        the time the regularisers start it is gone and the model is plain ARGMINN (a model used
        outside ``fit`` never applies it). Measured on ``e2f6_max`` (20,000 sequences, lr 3e-3):
        seeds 0 and 1, which without the guide learned only MAX and stayed at validation auROC
        0.88 for 28 epochs, reached 0.99 and 1.00 with it, without the guide's help from epoch
        7 on.
    random_state : int, numpy.random.Generator or None
        Seed of the weight initialisation.

    References
    ----------
    Tseng AM, Eraslan G, Biancalani T, Scalia G. A mechanistically interpretable neural network
    for regulatory genomics. arXiv:2410.06211 (2024).

    Examples
    --------
    >>> model = ARGMINN(n_tasks=2, random_state=0).eval()
    >>> out = model.forward_details(torch.zeros(3, 4, 100))
    >>> out.logits.shape, out.activations.shape, out.attention.shape
    (torch.Size([3, 2]), torch.Size([3, 8, 86]), torch.Size([3, 2, 4, 86]))
    """

    name = "argminn"
    fixed_length = False
    # What benchmarks/argminn_presets.py trains with: the 12 + 10 epochs of the schedule plus 6
    # at the final weights; at lr 1e-3 the attention finds a second motif too late. Whether a
    # seed finds every motif shows in its first epochs (e2f6_max: 3 of 6 seeds learnt one
    # filter per motif by epoch 5, the others only one of the two motifs, for good), so 4
    # seeds race for 5 epochs and the best by validation loss trains (cislens.train.restarts).
    # Its regulariser schedule was tuned with a constant lr and the loss as the monitor.
    training_defaults: ClassVar[dict] = {
        "epochs": 28,
        "lr": 3e-3,
        "batch_size": 128,
        "restarts": 4,
        "selection_epochs": 5,
        "monitor": "valid_loss",
        "lr_schedule": "none",
    }

    def __init__(
        self,
        n_tasks: int,
        input_length: int | None = None,
        *,
        n_filters: int = 8,
        filter_width: int = 15,
        reverse_complement: bool = True,
        strand_tokens: bool = True,
        token_batch_norm: bool = True,
        freeze_token_norm: bool = True,
        overlap_scale_free: bool = False,
        prune_redundant: bool = True,
        position_dim: int = 16,
        token_dim: int = 32,
        stream_dim: int = 128,
        n_layers: int = 2,
        n_heads: int = 4,
        overlap_weight: float = 1e5,
        overlap_start: float = 1.0,
        l1_weight: float = 1e-2,
        l1_start: float = 1e-4,
        entropy_weight: float = 0.0,
        warmup_epochs: int = 12,
        ramp_epochs: int = 10,
        guide_epochs: int | None = None,
        random_state: RandomState = None,
    ) -> None:
        super().__init__()
        config = ARGMINNConfig.from_arguments(locals())
        self.hparams = config.hparams()
        self.schedule = config.schedule()
        self._build(config)
        self._train_cache: ARGMINNOutput | None = None
        self._norm_frozen = False  # set by on_epoch_start (see freeze_token_norm)
        self._guide_weight = 0.0  # set by on_epoch_start (see guide_epochs)
        self._initialize(random_state)

    def _build(self, config: ARGMINNConfig) -> None:
        """The layers, on the meta device (``_initialize`` allocates and fills them)."""
        channels = config.n_token_channels
        with torch.device("meta"):
            self.scanner = nn.Conv1d(4, config.n_filters, config.filter_width)
            self.scanner_relu = nn.ReLU()
            self.token_norm = nn.BatchNorm1d(channels) if config.token_batch_norm else None
            self.tokenize = nn.Linear(channels + config.position_dim, config.token_dim)
            self.layers = nn.ModuleList(
                AttentionLayer(config.stream_dim, config.token_dim, config.n_heads)
                for _ in range(config.n_layers)
            )
            self.final_norm = nn.LayerNorm(config.stream_dim)
            self.head = nn.Linear(config.stream_dim, config.n_tasks)
            # The training guide (see guide_epochs): a linear read of each filter's maximum.
            self.guide = (
                nn.Linear(config.n_filters, config.n_tasks) if config.guide_epochs else None
            )

    def _initialize(self, random_state) -> None:
        # initialize_parameters knows Conv1d / Linear / BatchNorm1d; LayerNorm starts at (1, 0).
        self.to_empty(device="cpu")
        seed = resolve_seed(random_state)
        weighted = nn.ModuleList(
            m for m in self.modules() if isinstance(m, (nn.Conv1d, nn.Linear, nn.BatchNorm1d))
        )
        initialize_parameters(weighted, random_state=derive_seed(seed, 0))
        for module in self.modules():
            if isinstance(module, nn.LayerNorm):
                module.reset_parameters()
        self.register_forward_pre_hook(_check_input_hook)

    @property
    def min_length(self) -> int:
        return int(self.hparams["filter_width"])

    @property
    def n_token_channels(self) -> int:
        """Scanner features per token: 2F with strand tokens (forward, reverse), else F."""
        h = self.hparams
        both = h["reverse_complement"] and h["strand_tokens"]
        return h["n_filters"] * (2 if both else 1)

    def _scan_parts(self, x: torch.Tensor):
        """(activations, strands, forward, reverse): the maximum over strands after the ReLU,
        where the reverse strand won, and the two strands' pre-ReLU scores (reverse is None for
        a one-strand scanner)."""
        forward = self.scanner(x)
        if not self.hparams["reverse_complement"]:
            strands = torch.zeros_like(forward, dtype=torch.bool)
            return self.scanner_relu(forward), strands, forward, None
        # The reverse-complement filter: complement the bases (A<->T, C<->G is a flip of the
        # ACGT channel axis) and reverse the columns.
        reverse = F.conv1d(x, self.scanner.weight.flip(1, 2), self.scanner.bias)
        activations = self.scanner_relu(torch.maximum(forward, reverse))
        return activations, reverse > forward, forward, reverse

    def scan(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Scanner activations (N, F, P) after the ReLU and the winning strand (N, F, P)."""
        activations, strands, _, _ = self._scan_parts(x)
        return activations, strands

    def on_epoch_start(self, epoch: int) -> None:
        """Called by :func:`cislens.train.fit` before each training epoch (from 1): freezes
        the token batch norm once the regularisers start (``freeze_token_norm``) and sets the
        training guide's weight (``guide_epochs``)."""
        self._norm_frozen = bool(
            self.hparams["freeze_token_norm"] and epoch > self.schedule.warmup_epochs
        )
        self._guide_weight = guide_weight(epoch, self.hparams["guide_epochs"])

    def _normalize_tokens(self, activations: torch.Tensor) -> torch.Tensor:
        norm = self.token_norm
        if norm is None:
            return activations
        if self.training and self._norm_frozen:  # running statistics, not the batch's
            return F.batch_norm(
                activations,
                norm.running_mean,
                norm.running_var,
                norm.weight,
                norm.bias,
                False,
                0.0,
                norm.eps,
            )
        return norm(activations)

    def forward_details(self, x: torch.Tensor) -> ARGMINNOutput:
        """Run the model and return the logits with the activations and attention maps."""
        activations, strands, forward, reverse = self._scan_parts(x)
        if self.n_token_channels == activations.shape[1]:
            features = activations
        else:  # strand tokens: (forward, reverse) activations of every filter
            features = self.scanner_relu(torch.cat([forward, reverse], 1))
        token_input = self._normalize_tokens(features)
        pe = positional_encoding(
            token_input.shape[2], self.hparams["position_dim"], device=x.device
        ).to(token_input.dtype)
        # tokenize(concat(features, pe)), with the encoding's share (the same for every
        # sequence) projected once per batch instead of once per sequence.
        channels = token_input.shape[1]
        weight = self.tokenize.weight
        tokens = F.linear(token_input.transpose(1, 2), weight[:, :channels]) + F.linear(
            pe.T, weight[:, channels:], self.tokenize.bias
        )
        stream = tokens.new_ones(tokens.shape[0], self.hparams["stream_dim"])
        maps = []
        for layer in self.layers:
            stream, attention = layer(stream, tokens)
            maps.append(attention)
        logits = self.head(self.final_norm(stream))
        if self.guide is not None and self._guide_weight > 0.0:
            logits = logits + self._guide_weight * self.guide(activations.amax(2))
        return ARGMINNOutput(logits, activations, strands, torch.stack(maps, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.forward_details(x)
        # Training steps keep this batch's activations for regularization_loss (called by fit
        # right after the forward pass); nothing is kept in eval mode or without gradients.
        self._train_cache = out if (self.training and torch.is_grad_enabled()) else None
        return out.logits

    @property
    def regularization_settled_epoch(self) -> int:
        """First epoch under the final regulariser weights; ``fit`` picks its best epoch from
        here on (earlier epochs optimise a different objective)."""
        return self.schedule.settled_epoch

    def regularization_loss(self, epoch: int) -> torch.Tensor:
        """The weighted regularisers of the last training batch at ``epoch`` (from 1).

        ``overlap * filter_overlap_penalty + l1 * sum|W| + entropy * attention_entropy`` with
        the weights of :attr:`schedule` at ``epoch``; 0 during the warm-up.

        Raises
        ------
        RuntimeError
            When no training forward pass (train mode, gradients on) preceded the call.
        """
        weights = self.schedule.weights(epoch)
        weight = self.scanner.weight
        if not any(weights.values()):
            return weight.new_zeros(())
        cache, self._train_cache = self._train_cache, None  # one batch, used once
        if cache is None:
            raise RuntimeError(
                "ARGMINN.regularization_loss needs the activations of a training forward pass: "
                "call model(x) in train mode with gradients enabled first."
            )
        total = weight.new_zeros(())
        if weights["overlap"]:
            strands = cache.strands if self.hparams["reverse_complement"] else None
            penalty = filter_overlap_penalty(
                cache.activations,
                weight,
                strands=strands,
                scale_free=self.hparams["overlap_scale_free"],
            )
            total = total + weights["overlap"] * penalty
        if weights["l1"]:
            total = total + weights["l1"] * filter_l1(weight)
        if weights["entropy"]:
            total = total + weights["entropy"] * attention_entropy(cache.attention)
        return total


__all__ = ["ARGMINN", "ARGMINNOutput", "positional_encoding"]
