"""Reading and writing cislens files: labelled datasets and attribution stores.

Every schema is documented in ``docs/formats.md``. MEME motif files live with the motifs, in
:mod:`cislens.pwm` (``read_meme``, ``read_meme_background``, ``write_meme``).
"""

from cislens.io.attributions import (
    AttributionSet,
    load_attributions,
    save_attributions,
    validate_attribution_set,
)
from cislens.io.dataset import (
    LAYOUTS,
    SPLITS,
    Dataset,
    GroundTruth,
    load_dataset,
    save_dataset,
    validate_dataset,
)

__all__ = [
    "LAYOUTS",
    "SPLITS",
    "AttributionSet",
    "Dataset",
    "GroundTruth",
    "load_attributions",
    "load_dataset",
    "save_attributions",
    "save_dataset",
    "validate_attribution_set",
    "validate_dataset",
]
