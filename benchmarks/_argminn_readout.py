"""The readout columns of ``argminn_presets.py``: filters <-> simulated motifs (one-to-one,
composite filters, statuses), instance-call precision / recall, and the decoy ranking of the
pair-rule presets."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

UNMATCHED = "<unmatched>"


def instance_scores(hits, truth, pattern_truth):
    from cislens.motifs import instance_recovery

    known = truth.instances
    known = known[(known["split"] == "test") & (known["role"].astype(str) != "background")]
    labelled = pd.DataFrame(
        {
            "sequence": hits["example"].to_numpy(dtype=int),
            "start": hits["start"].to_numpy(dtype=int),
            "end": hits["end"].to_numpy(dtype=int),
            "motif": [pattern_truth.get(p, UNMATCHED) for p in hits["pattern"]],
        }
    )
    table = instance_recovery(
        labelled, known[["sequence", "start", "end", "motif"]], motifs=[*truth.motifs, UNMATCHED]
    )
    n_hits = table["n_hits"].sum()
    true_hits = (table["precision"].fillna(0) * table["n_hits"]).sum()
    found = (table["recall"].fillna(0) * table["n_true"]).sum()
    precision = float(true_hits / n_hits) if n_hits else float("nan")
    return precision, float(found / table["n_true"].sum()), int(n_hits), table


def readout_columns(argminn, data, args, preset) -> dict:
    """The readout columns of a row: filters <-> motifs, and the instance calls on test."""
    from cislens.argminn import argminn_instances, argminn_motifs
    from cislens.benchmark.motifs import benchmark_motifs

    start = time.perf_counter()
    motifs = argminn_motifs(argminn, data.X["test"], annotate=False)
    bench = benchmark_motifs(motifs.motifs, data.ground_truth, q_threshold=0.05)
    rule_motifs = preset_rule_motifs(preset, data.ground_truth.motifs)
    hits = argminn_instances(argminn, data.X["test"], motifs=motifs, random_state=args.seed)
    readout_seconds = time.perf_counter() - start
    per_motif = {
        m: sorted(p for p, t in bench.pattern_truth.items() if t == m)
        for m in data.ground_truth.motifs
    }
    # One-to-one over the motifs the labels depend on; a distractor (planted in both classes)
    # need not have a filter, and one that has is listed in `matches` but not held against it.
    one_to_one = all(len(per_motif[m]) == 1 for m in rule_motifs) and bench.n_spurious == 0
    composites = composite_filters(motifs, data.ground_truth, rule_motifs)
    claims, unit_parts = unit_claims(
        motifs, data.ground_truth, bench.pattern_truth, composites, rule_motifs
    )
    claimed_by = {m: {u for u, c in claims.items() if m in c} for m in data.ground_truth.motifs}
    # As units: every rule motif claimed by exactly one readout unit (a passing filter, or
    # filters that read one unit at a fixed arrangement), and no unit that claims nothing.
    one_to_one_units = all(len(claimed_by[m]) == 1 for m in rule_motifs) and all(claims.values())
    # Strictly: as units, and every unit is one filter, and a unit stands for two motifs only
    # when the rule makes them one (a pair at one gap, orientation and order).
    joined = inseparable_pairs(preset)
    one_to_one_strict = (
        one_to_one_units
        and all(";" not in str(f) for f in motifs.units["filters"])
        and all(len(c) < 2 or frozenset(c) in joined for c in claims.values())
    )
    statuses = motifs.filters["status"].value_counts()
    precision, recall, n_hits, _ = instance_scores(hits, data.ground_truth, bench.pattern_truth)
    # The reference's call rule (activation >= the filter's mean positive activation, no chance
    # floor), for comparison with the default.
    mean_rule = argminn_instances(
        argminn, data.X["test"], motifs=motifs, activation_threshold=None, null_quantile=None
    )
    mean_precision, mean_recall, mean_hits, _ = instance_scores(
        mean_rule, data.ground_truth, bench.pattern_truth
    )
    return {
        "n_motifs": len(data.ground_truth.motifs),
        "n_passing": len(motifs.motifs),
        "one_to_one": bool(one_to_one),
        "one_to_one_units": bool(one_to_one_units),
        "one_to_one_strict": bool(one_to_one_strict),
        "composites": "; ".join(
            f"{name}: " + " + ".join(f"{m} ({span})" for span, m in parts.items())
            for name, parts in composites.items()
        ),
        "units": "; ".join(
            f"{u}: "
            + ("+".join(f"f{k}" for k in str(row.filters).split(";")))
            + (
                f" (offsets {row.offsets}, share {row.share:.2f})"
                if ";" in str(row.filters)
                else ""
            )
            + " -> "
            + (",".join(sorted(claims[u])) or "-")
            for u, row in zip(motifs.units["unit"], motifs.units.itertuples(), strict=True)
        ),
        "n_units": len(motifs.units),
        "unit_parts": unit_parts,
        "unit_readings": unit_readings(motifs),
        "matches": "; ".join(f"{m}:{','.join(p) or '-'}" for m, p in per_motif.items()),
        "n_unmatched": int(bench.n_spurious),
        "rule_motifs": ",".join(rule_motifs),
        "statuses": ", ".join(f"{name} {int(n)}" for name, n in statuses.items()),
        "n_redundant": int(statuses.get("redundant", 0)),
        "precision": precision,
        "recall": recall,
        "n_hits": n_hits,
        "precision_mean_rule": mean_precision,
        "recall_mean_rule": mean_recall,
        "n_hits_mean_rule": mean_hits,
        "readout_s": readout_seconds,
        "filters": motifs.filters.to_dict(orient="records"),
    }


def unit_claims(motifs, truth, pattern_truth, composites, rule_motifs) -> dict:
    """``({unit: set of simulated motifs}, text)``: what each readout unit (``motifs.units``) stands
    for. A unit claims the motifs its filters' trimmed cores match (``pattern_truth``), the
    rule motifs of a composite member's parts (``composites``), and, for a composite unit
    (``units.parts`` set), the rule motifs that the informative parts of its unit PFM match
    on their own (TOMTOM q < 0.05 against JASPAR plus the simulated matrices); ``text`` lists
    each such part with the simulated motif it matches (``-``: none)."""
    from cislens.benchmark.motifs import benchmark_motifs
    from cislens.pwm import Motif

    claims, parts, owners, found = {}, [], [], []
    by_name = {m.name: m for m in motifs.unit_motifs}
    for row in motifs.units.itertuples():
        members = [f"filter_{k}" for k in str(row.filters).split(";")]
        claims[row.unit] = {pattern_truth[f] for f in members if f in pattern_truth}
        for f in members:
            claims[row.unit].update(composites.get(f, {}).values())
        for span in [s for s in str(row.parts).split(";") if s]:
            a, b = (int(v) for v in span.split("-"))
            pfm = by_name[row.unit].probabilities[:, a:b]
            parts.append(Motif(f"{row.unit}:{span}", pfm / pfm.sum(0), source="ARGMINN"))
            owners.append(row.unit)
    if parts:
        truth_of = benchmark_motifs(parts, truth, q_threshold=0.05).pattern_truth
        for part, unit in zip(parts, owners, strict=True):
            found.append(f"{part.name} {truth_of.get(part.name, '-')}")
            if truth_of.get(part.name) in rule_motifs:
                claims[unit].add(truth_of[part.name])
    return claims, "; ".join(found)


def unit_readings(motifs) -> str:
    """The composite units in words (``units.reading``): each part's consensus with its rank-1
    TOMTOM match against JASPAR (name, q-value, strand; ``-`` above q 0.05) and the gaps, e.g.
    ``unit_3: CTGGAATGT [TEAD1 q 1.2e-07 -] + 6 bp + ATGAGTCAT [JUND q 3.3e-07 -]``; ``""``
    when no unit has two parts."""
    from cislens.argminn.units import named_readings
    from cislens.motifs import annotate
    from cislens.pwm import Motif

    composite = motifs.units[motifs.units["parts"].astype(str).str.contains(";")]
    if composite.empty:
        return ""
    pfms = {m.name: np.asarray(m.probabilities) for m in motifs.unit_motifs}
    parts = []
    for row in composite.itertuples():
        for span in str(row.parts).split(";"):
            a, b = (int(v) for v in span.split("-"))
            piece = pfms[row.unit][:, a:b]
            parts.append(Motif(f"{row.unit}:{span}", piece / piece.sum(0), source="ARGMINN"))
    texts = named_readings(composite, annotate(parts), pfms)
    return "; ".join(f"{u}: {t}" for u, t in zip(composite["unit"], texts, strict=True))


def composite_filters(motifs, truth, rule_motifs) -> dict:
    """Passing filters whose informative runs (``parts``) match two or more different rule
    motifs: ``{filter name: {"start-end": motif}}``. Each part is matched on its own, like the
    trimmed cores (TOMTOM q < 0.05 against JASPAR plus the simulated matrices)."""
    from cislens.benchmark.motifs import benchmark_motifs
    from cislens.pwm import Motif

    parts, owners = [], []
    for row in motifs.filters[motifs.filters["passing"]].itertuples():
        spans = [s for s in str(row.parts).split(";") if s]
        if len(spans) < 2:
            continue
        for span in spans:
            a, b = (int(v) for v in span.split("-"))
            pfm = motifs.pfms[row.filter][:, a:b] + 0.001
            parts.append(Motif(f"{row.name}:{span}", pfm / pfm.sum(0), source="ARGMINN"))
            owners.append((row.name, span))
    if not parts:
        return {}
    truth_of = benchmark_motifs(parts, truth, q_threshold=0.05).pattern_truth
    found: dict = {}
    for part, (name, span) in zip(parts, owners, strict=True):
        if truth_of.get(part.name) in rule_motifs:
            found.setdefault(name, {})[span] = truth_of[part.name]
    return {name: p for name, p in found.items() if len(set(p.values())) >= 2}


def preset_rule_motifs(preset, motifs) -> list[str]:
    """The simulated motifs that the labels of ``preset`` depend on (its tasks' rules), in the
    order of ``motifs``; distractors are left out."""
    from cislens.simulate.presets import load_preset

    used = set()
    for task in load_preset(preset).tasks:
        used.update(task.rule.motifs())
    return [m for m in motifs if m in used]


def inseparable_pairs(preset) -> set:
    """The motif pairs of ``preset`` whose rule makes them one unit: a pair rule at a single
    gap, a fixed orientation and a fixed order (``composite_pair``, ``jund_tead``). The labels
    then depend on the arrangement only, so one filter reading it whole is one motif's worth."""
    from cislens.simulate.grammar import PairRule
    from cislens.simulate.presets import load_preset

    pairs = set()
    for task in load_preset(preset).tasks:
        rule = task.rule
        if (
            isinstance(rule, PairRule)
            and len(frozenset(rule.spacing.gaps)) == 1
            and rule.orientation != "any"
            and rule.order == "fixed"
        ):
            pairs.add(frozenset((rule.first, rule.second)))
    return pairs


DECOY_KINDS = ("single", "spacing", "arrangement")


def decoy_ranking(logits, data, preset) -> dict:
    """Test auROC of the positives against each kind of negative of a pair-rule preset, from
    the model's test ``logits`` (N, 1).

    Negatives are sorted by their recorded instances: ``single`` (one motif only), ``spacing``
    (both, in an allowed arrangement but at a wrong gap), ``arrangement`` (both, in a wrong
    order or orientation). ``decoy_auroc_<kind>`` columns; NaN for presets of other rules.
    """
    from sklearn.metrics import roc_auc_score

    from cislens.simulate.grammar import Inst, PairRule
    from cislens.simulate.presets import load_preset

    rule = load_preset(preset).tasks[0].rule
    columns = {f"decoy_auroc_{kind}": float("nan") for kind in DECOY_KINDS}
    if not isinstance(rule, PairRule):
        return columns
    labels = data.Y["test"][:, 0]
    scores = logits[:, 0]
    known = data.ground_truth.instances
    known = known[(known["split"] == "test") & known["motif"].isin([rule.first, rule.second])]
    kinds = {}
    for sequence, group in known.groupby("sequence"):
        if labels[sequence] == 1:
            continue
        insts = [
            Inst(i, r.motif, int(r.start), int(r.end), r.strand)
            for i, r in enumerate(group.itertuples())
        ]
        firsts = [a for a in insts if a.motif == rule.first]
        seconds = [b for b in insts if b.motif == rule.second]
        if not firsts or not seconds:
            kinds[sequence] = "single"
        elif len(insts) == 2:
            a, b = firsts[0], seconds[0]
            upstream = a.start < b.start
            ok = rule.arrangement_ok(a.strand, b.strand, upstream)
            kinds[sequence] = "spacing" if ok else "arrangement"
    positives = scores[labels == 1]
    for kind in DECOY_KINDS:
        negatives = scores[[s for s, k in kinds.items() if k == kind]]
        if len(negatives):
            truth = np.r_[np.ones(len(positives)), np.zeros(len(negatives))]
            columns[f"decoy_auroc_{kind}"] = float(
                roc_auc_score(truth, np.r_[positives, negatives])
            )
    return columns
