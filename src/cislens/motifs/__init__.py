"""Motif discovery from importance scores, motif annotation and instance calling.

- :func:`discover_motifs`: TF-MoDISco-style patterns (CWM, hCWM, PFM and their seqlets) from
  hypothetical contributions, each tested against null patterns, with the settings of
  :class:`DiscoveryParams`;
- :func:`extract_seqlets`, :func:`continuous_jaccard`: the building blocks;
- :func:`annotate`: TOMTOM (memelite) against JASPAR CORE vertebrates or a MEME file;
- :func:`call_instances`: CWM scanning of contribution tracks, or FIMO-style PWM scanning;
- :func:`filter_motifs`: first-layer convolution filters as PFMs;
- :func:`save_motifs` / :func:`load_motifs`, :func:`export_modisco_h5`,
  :func:`write_patterns_meme`: files (``docs/formats.md``, "Motif discovery results");
- :func:`load_modisco_h5`, :func:`load_finemo_hits`: modisco-lite's and Fi-NeMo's outputs;
- :func:`merge_motif_sets`, :func:`provenance_table`: one non-redundant set from several runs.
"""

from cislens.motifs.affinity import continuous_jaccard
from cislens.motifs.aggregate import Pattern, pattern_similarity
from cislens.motifs.annotate import MATCH_COLUMNS, annotate
from cislens.motifs.database import jaspar_database, load_database
from cislens.motifs.discover import MotifDiscoveryResult, discover_motifs
from cislens.motifs.filters import filter_motifs
from cislens.motifs.instances import HIT_COLUMNS, call_instances, instance_recovery
from cislens.motifs.io import export_modisco_h5, load_motifs, save_motifs, write_patterns_meme
from cislens.motifs.merge import PROVENANCE_COLUMNS, merge_motif_sets, provenance_table
from cislens.motifs.params import DiscoveryParams
from cislens.motifs.peers import FINEMO_HIT_COLUMNS, load_finemo_hits, load_modisco_h5
from cislens.motifs.seqlets import SEQLET_COLUMNS, SeqletCalls, extract_seqlets

__all__ = [
    "FINEMO_HIT_COLUMNS",
    "HIT_COLUMNS",
    "MATCH_COLUMNS",
    "PROVENANCE_COLUMNS",
    "SEQLET_COLUMNS",
    "DiscoveryParams",
    "MotifDiscoveryResult",
    "Pattern",
    "SeqletCalls",
    "annotate",
    "call_instances",
    "continuous_jaccard",
    "discover_motifs",
    "export_modisco_h5",
    "extract_seqlets",
    "filter_motifs",
    "instance_recovery",
    "jaspar_database",
    "load_database",
    "load_finemo_hits",
    "load_modisco_h5",
    "load_motifs",
    "merge_motif_sets",
    "pattern_similarity",
    "provenance_table",
    "save_motifs",
    "write_patterns_meme",
]
