"""Position probability matrices: the ``Motif`` class, MEME files and the JASPAR database."""

from cislens.pwm.meme import read_meme, read_meme_background, write_meme
from cislens.pwm.motif import UNIFORM_BACKGROUND, Motif, check_background

__all__ = [
    "UNIFORM_BACKGROUND",
    "Motif",
    "check_background",
    "read_meme",
    "read_meme_background",
    "write_meme",
]
