"""Position probability matrices: the ``Motif`` class, MEME files and the JASPAR database."""

from cislens.pwm.motif import UNIFORM_BACKGROUND, Motif, check_background

__all__ = ["UNIFORM_BACKGROUND", "Motif", "check_background"]
