"""Data subcommands: ``cislens extract`` (BED + genome -> FASTA) and ``cislens shuffle``."""

from __future__ import annotations

from pathlib import Path

import typer

from cislens.cli._app import app, echo, state


@app.command()
def extract(
    genome: Path = typer.Option(..., "--genome", help="Genome FASTA (indexed on first use)."),
    bed: Path = typer.Option(..., "--bed", help="BED intervals (0-based, end-exclusive)."),
    length: int = typer.Option(..., "--length", "-L", help="Window length, centred on each."),
    out: Path = typer.Option(..., "--out", "-o", help="Output FASTA (.gz to compress)."),
    pad_with_n: bool = typer.Option(
        False, "--pad-with-n", help="Pad windows that run off a chromosome end with N."
    ),
) -> None:
    """Cut fixed-length windows centred on BED intervals out of a genome, as FASTA."""
    from cislens.sequence import extract_intervals, interval_names, read_bed, write_fasta
    from cislens.sequence.windows import bed_windows

    # Every window placed and checked first: one off a chromosome is refused in one line.
    bed_windows(bed, genome, length=length, pad_with_n=pad_with_n,
                fix="pass --pad-with-n to pad it with N")  # fmt: skip
    intervals = read_bed(bed)
    X = extract_intervals(genome, intervals, length=length, pad_with_n=pad_with_n)
    names = interval_names(intervals)
    write_fasta(out, X, names=names)
    echo(f"wrote {X.shape[0]} windows of {length} bp to {out}")


@app.command()
def shuffle(
    fasta: Path = typer.Argument(..., help="Input FASTA (sequences of any lengths)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output FASTA (.gz to compress)."),
    n: int = typer.Option(1, "--n", "-n", help="Shuffles per sequence."),
    kind: str = typer.Option(
        "dinucleotide", "--kind", help="dinucleotide (exact 2-mer counts) or mononucleotide."
    ),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
) -> None:
    """Write shuffled copies of each sequence (exact dinucleotide counts by default)."""
    from tqdm import tqdm

    from cislens.sequence import iter_fasta, one_hot_encode, write_fasta
    from cislens.sequence.onehot import decode
    from cislens.shuffle import dinucleotide_shuffle
    from cislens.shuffle import shuffle as mononucleotide_shuffle

    functions = {"dinucleotide": dinucleotide_shuffle, "mononucleotide": mononucleotide_shuffle}
    if kind not in functions:
        raise ValueError(f"--kind must be one of {sorted(functions)}; got {kind!r}.")
    records: dict[str, str] = {}
    for record in tqdm(iter_fasta(fasta), desc="shuffling", disable=not state.verbose):
        shuffled = functions[kind](one_hot_encode(record.sequence), n=n, random_state=seed)
        for index, seq in enumerate(decode(shuffled[0])):
            records[f"{record.name}_shuf{index}"] = seq
    if not records:
        raise ValueError(f"{fasta}: no sequences found.")
    write_fasta(out, records)
    echo(f"wrote {len(records)} shuffled sequences to {out}")
