"""Scale beyond one process: chunked, resumable attribution, ISM and variant scoring on Dask.

Inputs are streamed from a dataset HDF5, a FASTA file, or BED intervals + a genome FASTA
(:mod:`cislens.scale.sources`); each row block is one Dask task whose worker loads the model
once, computes the block, and writes it to its chunk of a Zarr store with a completion marker
(:mod:`cislens.scale.store`). A restarted run computes only the missing blocks and refuses to
resume a store written with other settings. Needs the ``scale`` extra (``dask[distributed]``,
``zarr>=3``); see ``docs/scale.md``.
"""

from cislens.scale.attribute import attribute_to_zarr
from cislens.scale.engine import ModelSpec, RunReport, dask_client
from cislens.scale.sources import BedSource, FastaSource, HDF5Source, open_source
from cislens.scale.store import completed_blocks, read_metadata, read_windows
from cislens.scale.tracks import MERGE_RULES, TrackReport, write_bigwig
from cislens.scale.variants import read_vcf, score_variants, variant_table

__all__ = [
    "MERGE_RULES",
    "BedSource",
    "FastaSource",
    "HDF5Source",
    "ModelSpec",
    "RunReport",
    "TrackReport",
    "attribute_to_zarr",
    "completed_blocks",
    "dask_client",
    "open_source",
    "read_metadata",
    "read_vcf",
    "read_windows",
    "score_variants",
    "variant_table",
    "write_bigwig",
]
