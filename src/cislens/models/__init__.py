"""Model zoo: architectures mapping one-hot DNA (N, 4, L) to per-task logits (N, T).

Each architecture is built from a config ``{"name": ..., **hyperparameters}`` (see
:func:`build_model`), records its hyperparameters in ``model.hparams``, is
``torch.fx.symbolic_trace``-able, and uses each nonlinearity module exactly once (what exact
attribution methods need). Checkpoints: :func:`save_model` / :func:`load_model` (a directory with
``weights.safetensors`` and ``config.json``; nothing is ever unpickled); your own architecture:
:func:`load_user_model`.

- ``labcnn``: :class:`LabCNN`, 2 conv + 2 dense, the classic teaching-lab model;
- ``deepbind``: :class:`DeepBind`, 1 conv, global max + average pooling, a small MLP;
- ``basset``: :class:`Basset`, 3 conv blocks with batch norm, 2 dense layers of 1,000;
- ``beluga``: :class:`DeepSEABeluga`, DeepSEA Beluga: 3 stages of 2 convs, 1 hidden dense;
- ``bpnet``: :class:`BPNetLike`, a dilated residual stack, one scalar head per task;
- ``argminn``: :class:`cislens.argminn.ARGMINN`, a motif scanner and an attention memory
  stream whose filters are the motifs (readout and regularisers in :mod:`cislens.argminn`).
"""

from cislens.models._base import SequenceModel, initialize_parameters
from cislens.models.argminn import ARGMINN
from cislens.models.basset import Basset, basset_unseen_bases
from cislens.models.beluga import DeepSEABeluga, beluga_unseen_bases
from cislens.models.bpnet import BPNetLike
from cislens.models.checkpoint import (
    load_model,
    load_model_from_spec,
    load_user_model,
    read_model_config,
    read_state_dict,
    save_model,
)
from cislens.models.deepbind import DeepBind
from cislens.models.labcnn import LabCNN
from cislens.models.registry import (
    MODELS,
    build_model,
    get_model_class,
    model_config,
    register_model,
)
from cislens.models.utils import count_parameters

__all__ = [
    "ARGMINN",
    "MODELS",
    "BPNetLike",
    "Basset",
    "DeepBind",
    "DeepSEABeluga",
    "LabCNN",
    "SequenceModel",
    "basset_unseen_bases",
    "beluga_unseen_bases",
    "build_model",
    "count_parameters",
    "get_model_class",
    "initialize_parameters",
    "load_model",
    "load_model_from_spec",
    "load_user_model",
    "model_config",
    "read_model_config",
    "read_state_dict",
    "register_model",
    "save_model",
]
