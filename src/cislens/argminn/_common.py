"""What every ARGMINN readout function does first: check the model and the sequences, and run
the model over them in batches (eval mode, no gradients, the model's mode and device restored)."""

from __future__ import annotations

import numpy as np
import torch
from tqdm.auto import tqdm


def check_model(model):
    from cislens.errors import UnsupportedModelError
    from cislens.models import ARGMINN

    if not isinstance(model, ARGMINN):
        raise UnsupportedModelError(
            f"model must be a cislens ARGMINN (cislens.argminn.ARGMINN); got "
            f"{type(model).__name__}. Train one with `cislens train --model argminn`."
        )


def prepare(model, X, batch_size):
    from cislens.sequence.onehot import check_one_hot
    from cislens.utils.arrays import as_numpy
    from cislens.utils.batching import check_batch_size

    check_model(model)
    check_one_hot(X, name="X")
    X = torch.from_numpy(np.ascontiguousarray(as_numpy(X), dtype=np.float32))
    if X.shape[2] < model.min_length:
        raise ValueError(
            f"X has length {X.shape[2]} but the model's filters are {model.min_length} bp wide; "
            "pass longer sequences."
        )
    return X, check_batch_size(batch_size)


def batches(model, X, batch_size, device, verbose, desc, *, scan_only=False):
    """Yield (offset, outputs on the CPU) over X in eval mode (model restored after): the
    ARGMINNOutput, or with ``scan_only`` just (activations, strands) of the scanner."""
    from cislens.utils.device import resolve_device, using_model

    resolved = resolve_device(device)
    with using_model(model, device=resolved), torch.no_grad():
        for lo in tqdm(range(0, X.shape[0], batch_size), disable=not verbose, desc=desc):
            batch = X[lo : lo + batch_size].to(resolved)
            if scan_only:
                yield lo, tuple(t.cpu() for t in model.scan(batch))
            else:
                out = model.forward_details(batch)
                yield lo, type(out)(*(t.cpu() for t in out))


__all__ = ["batches", "check_model", "prepare"]
