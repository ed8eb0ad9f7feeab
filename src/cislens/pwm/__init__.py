"""Position probability matrices: the ``Motif`` class, MEME files and the JASPAR database."""

from cislens.pwm.jaspar import (
    default_release,
    jaspar_releases,
    load_jaspar_motif,
    load_jaspar_motifs,
    load_motif,
    motif_from_consensus,
)
from cislens.pwm.meme import read_meme, read_meme_background, write_meme
from cislens.pwm.motif import UNIFORM_BACKGROUND, Motif, check_background

__all__ = [
    "UNIFORM_BACKGROUND",
    "Motif",
    "check_background",
    "default_release",
    "jaspar_releases",
    "load_jaspar_motif",
    "load_jaspar_motifs",
    "load_motif",
    "motif_from_consensus",
    "read_meme",
    "read_meme_background",
    "write_meme",
]
