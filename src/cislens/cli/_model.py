"""``--output`` and ``--input-layout``: how every subcommand that runs a user's model reads it.

One help text and one parser for ``cislens attribute``, ``gia``, ``variants`` and ``run``; the
values mean what ``output=`` and ``input_layout=`` mean in the library
(:mod:`cislens.attribution.heads`), and :func:`cislens.attribution.heads.parse_output` reads
the text.
"""

from __future__ import annotations

OUTPUT_HELP = (
    "Which output of the model to use when it does not return one (N, T) tensor: an index "
    "into a returned tuple ('1'), a head ('counts': the (N, T) tensor; 'profile': BPNet's "
    "profile target; 'sum' / 'mean': an (N, T, L) tensor reduced over L), a dict key (any "
    "other text), or KEY:HEAD / INDEX:HEAD ('0:profile', 'human:sum')."
)
INPUT_LAYOUT_HELP = (
    "The input the model takes: NCL, one-hot (N, 4, L) (default), or NLC, (N, L, 4). Inputs "
    "and results stay (N, 4, L)."
)


def model_view(output: str | None, input_layout: str) -> dict:
    """``{"output": ..., "input_layout": ...}`` from the options' text; errors name them.

    Examples
    --------
    >>> model_view("0:profile", "NLC")
    {'output': (0, 'profile'), 'input_layout': 'NLC'}
    >>> model_view(None, "NCL")
    {'output': None, 'input_layout': 'NCL'}
    """
    from cislens.attribution.heads import check_input_layout, parse_output

    return {
        "output": None if output is None else parse_output(output, name="--output"),
        "input_layout": check_input_layout(input_layout, name="--input-layout"),
    }


def check_view(model, view: dict, length: int) -> int:
    """One forward pass on an all-N sequence of ``length``: a wrong ``--output`` fails here,
    before any long work, with the outputs the model has. Returns their number T."""
    from cislens.attribution.heads import check_output

    return check_output(model, length=int(length), name="--output", **view)


__all__ = ["INPUT_LAYOUT_HELP", "OUTPUT_HELP", "check_view", "model_view"]
