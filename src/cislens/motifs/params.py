"""The settings of motif discovery as one frozen, checked record: :class:`DiscoveryParams`."""

from __future__ import annotations

import difflib
import json
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from cislens.utils.validation import check_positive_int

# Fields that must be positive ints, and fractions in (0, 1]; checked on construction.
_POSITIVE_INTS = (
    "n_neighbors",
    "min_cluster_size",
    "trim_width",
    "max_seqlets_per_metacluster",
    "assign_neighbors",
)
_FRACTIONS = ("min_overlap", "merge_threshold", "alpha")


@dataclass(frozen=True)
class DiscoveryParams:
    """Every setting of :func:`cislens.motifs.discover_motifs`, checked when made.

    Attributes
    ----------
    window_size, flank, target_fdr : int, int, float
        Seqlet calling (:func:`cislens.motifs.extract_seqlets`): core 21 bp, flanks 10 bp,
        FDR 0.2.
    max_seqlets_per_metacluster : int
        At most this many seqlets per metacluster (all of them, or a seeded random sample of
        this size) build the similarity graph and are clustered by Leiden (default 20,000);
        this bounds the graph's memory and time.
        Every further seqlet is not dropped: it joins the cluster of its most similar graph
        seqlet (:func:`cislens.motifs.assign.assign_to_clusters`), at a cost linear in their
        number.
    assign_neighbors : int
        Coarse candidates among the graph seqlets whose fine similarity is computed for each
        seqlet beyond the graph sample (default 30).
    n_neighbors : int
        Coarse (gapped k-mer) neighbours per seqlet for which the fine similarity is computed
        (default 150).
    min_overlap : float
        Minimum overlap of two aligned tracks, as a fraction of the shorter (default 0.7).
    perplexity : float
        Target perplexity of the density-adapted affinities (default 10).
    n_leiden_runs : int
        Leiden runs with different seeds, screened after 2 iterations; the one with the best
        modularity is continued to convergence (default 10).
    min_cluster_size : int
        Smallest cluster / pattern reported, in seqlets (default 20).
    split_min_size, subcluster_perplexity : int, float
        Patterns with at least ``split_min_size`` seqlets (default 100) are subclustered at this
        perplexity (default 50) to split spurious merges.
    merge_threshold : float
        Patterns whose similarity (:func:`cislens.motifs.pattern_similarity`) is at least this
        are merged (default 0.4).
    trim_width : int
        Width of the information-content window each pattern is trimmed to (default 30).
    min_ic_in_window : float
        A pattern needs a 6-bp window with at least this much information, in bits (0.6).
    revcomp : bool
        Treat reverse complements as the same motif (default True); False is strand-specific.
    alpha : float
        Family-wise level of the significance test (default 0.01).
    null_max_seqlets : int
        Seqlets per metacluster used to build the null patterns (default 3,000).
    background : tuple of 4 floats or None
        Base composition (A, C, G, T) for information content; None (default): the composition
        of the sequences, which :func:`~cislens.motifs.discover_motifs` fills in.

    Examples
    --------
    >>> params = DiscoveryParams(min_cluster_size=10, revcomp=False)
    >>> params.min_cluster_size, params.to_dict()["revcomp"]
    (10, False)
    >>> DiscoveryParams(min_overlap=0)
    Traceback (most recent call last):
    ...
    ValueError: min_overlap must be in (0, 1]; got 0.
    """

    window_size: int = 21
    flank: int = 10
    target_fdr: float = 0.2
    max_seqlets_per_metacluster: int = 20_000
    assign_neighbors: int = 30
    n_neighbors: int = 150
    min_overlap: float = 0.7
    perplexity: float = 10.0
    n_leiden_runs: int = 10
    min_cluster_size: int = 20
    split_min_size: int = 100
    subcluster_perplexity: float = 50.0
    merge_threshold: float = 0.4
    trim_width: int = 30
    min_ic_in_window: float = 0.6
    revcomp: bool = True
    alpha: float = 0.01
    null_max_seqlets: int = 3000
    background: tuple | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "revcomp", bool(self.revcomp))
        for name in _POSITIVE_INTS:
            object.__setattr__(self, name, check_positive_int(getattr(self, name), name))
        for name in _FRACTIONS:
            if not 0.0 < float(getattr(self, name)) <= 1.0:
                raise ValueError(f"{name} must be in (0, 1]; got {getattr(self, name)!r}.")
        if self.background is not None:
            object.__setattr__(self, "background", tuple(float(b) for b in self.background))
            if len(self.background) != 4 or min(self.background) <= 0:
                raise ValueError(
                    f"background must be 4 positive base frequencies (A, C, G, T); got "
                    f"{self.background!r}."
                )

    @classmethod
    def names(cls) -> list[str]:
        """The field names, in order."""
        return [f.name for f in fields(cls)]

    @classmethod
    def from_dict(cls, values: dict, *, where: str = "params") -> DiscoveryParams:
        """Parameters from a mapping of field names; an unknown name is refused with the
        closest valid one.

        Examples
        --------
        >>> DiscoveryParams.from_dict({"flank": 5}).flank
        5
        """
        if not isinstance(values, dict):
            raise ValueError(
                f"{where} must be a mapping of DiscoveryParams fields; got {type(values).__name__}."
            )
        valid = cls.names()
        for key in values:
            if key not in valid:
                close = difflib.get_close_matches(str(key), valid, n=1)
                hint = f" Did you mean {close[0]!r}?" if close else ""
                raise ValueError(
                    f"{where}: {key!r} is not a discovery parameter; valid: {valid}.{hint}"
                )
        return cls(**values)

    @classmethod
    def from_file(cls, path) -> DiscoveryParams:
        """Parameters from a JSON or YAML file holding a mapping of field names."""
        import yaml

        path = Path(path)
        text = path.read_text()
        try:
            values = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
        except (json.JSONDecodeError, yaml.YAMLError) as error:
            raise ValueError(f"{path} is not valid JSON / YAML: {error}") from None
        return cls.from_dict(values or {}, where=str(path))

    def with_options(self, **options: Any) -> DiscoveryParams:
        """A copy with some fields changed (checked like the constructor's)."""
        return replace(self, **options) if options else self

    def to_dict(self) -> dict:
        """The fields as a plain dict (``background`` only when set): what results record."""
        values = asdict(self)
        if values["background"] is None:
            del values["background"]
        return values


__all__ = ["DiscoveryParams"]
