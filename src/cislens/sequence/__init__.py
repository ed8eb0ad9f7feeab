"""DNA sequences as one-hot arrays: encoding, decoding, reverse complements, FASTA and BED."""

from cislens.sequence.alphabet import ALPHABET, IUPAC_CODES
from cislens.sequence.fasta import (
    FastaRecord,
    extract_intervals,
    interval_names,
    iter_fasta,
    iter_fasta_batches,
    read_bed,
    read_fasta,
    write_fasta,
)
from cislens.sequence.onehot import (
    check_one_hot,
    decode,
    one_hot_encode,
    one_hot_from_tokens,
    reverse_complement,
    tokens_from_one_hot,
)

__all__ = [
    "ALPHABET",
    "IUPAC_CODES",
    "FastaRecord",
    "check_one_hot",
    "decode",
    "extract_intervals",
    "interval_names",
    "iter_fasta",
    "iter_fasta_batches",
    "one_hot_encode",
    "one_hot_from_tokens",
    "read_bed",
    "read_fasta",
    "reverse_complement",
    "tokens_from_one_hot",
    "write_fasta",
]
