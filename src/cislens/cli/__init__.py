"""The ``cislens`` command line (placeholder until the CLI module lands)."""
