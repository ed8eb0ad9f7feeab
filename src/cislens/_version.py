"""The cislens version, recorded in every output file."""

__version__ = "0.1.0"
