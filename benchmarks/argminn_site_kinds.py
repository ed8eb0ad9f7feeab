"""What each filter of a saved ARGMINN detects on a pair-rule preset, and what the model needs.

Usage::

    python benchmarks/argminn_site_kinds.py --preset jund_tead --model runs/models/jund_tead

For the test split (the first ``--n-test`` sequences) of ``--preset`` simulated with ``--seed``
and ``--n`` (as in ``argminn_presets.py``): the readout's filter table (status, effect, strand
symmetry, parts), each filter's PFM (upper case: >= 1 bit, lower case: >= 0.3), the fraction of
the planted sites of each motif, by kind of sequence (positive; negative with one motif only,
``single``; both at a wrong gap, ``spacing``; both in a wrong order or orientation,
``arrangement``), on which some window overlapping the site activates the filter above half its
maximum, and the test auROC (all, and against each kind of negative) with each live filter
removed (weights 0, bias -1). Printed to stdout.
"""

from __future__ import annotations

import argparse
import copy

import numpy as np
import pandas as pd
import torch


def _kinds(known, labels, rule) -> dict:
    from cislens.simulate.grammar import Inst

    kind = {}
    for s, group in known.groupby("sequence"):
        if labels[s] == 1:
            kind[s] = "positive"
            continue
        insts = [
            Inst(i, q.motif, int(q.start), int(q.end), q.strand)
            for i, q in enumerate(group.itertuples())
        ]
        firsts = [i for i in insts if i.motif == rule.first]
        seconds = [i for i in insts if i.motif == rule.second]
        if not firsts or not seconds:
            kind[s] = "single"
        elif len(insts) == 2:
            upstream = firsts[0].start < seconds[0].start
            ok = rule.arrangement_ok(firsts[0].strand, seconds[0].strand, upstream)
            kind[s] = "spacing" if ok else "arrangement"
        else:
            kind[s] = "other"
    return kind


def _decoy_aurocs(scores, labels, kind) -> dict:
    from sklearn.metrics import roc_auc_score

    out = {"all": round(float(roc_auc_score(labels, scores)), 4)}
    positives = scores[labels == 1]
    for name in ("single", "spacing", "arrangement"):
        negatives = scores[[s for s, v in kind.items() if v == name]]
        truth = np.r_[np.ones(len(positives)), np.zeros(len(negatives))]
        out[name] = round(float(roc_auc_score(truth, np.r_[positives, negatives])), 3)
    return out


def main(argv=None) -> None:
    from cislens.argminn import argminn_motifs
    from cislens.models import load_model
    from cislens.simulate import simulate
    from cislens.simulate.presets import load_preset
    from cislens.train import predict

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="jund_tead")
    parser.add_argument("--model", required=True)
    parser.add_argument("--n", type=int, default=None)
    parser.add_argument("--n-test", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    pd.set_option("display.width", 250)
    data = simulate(args.preset, n=args.n, random_state=args.seed)
    model = load_model(args.model).eval()
    X = torch.as_tensor(data.X["test"][: args.n_test])
    labels = data.Y["test"][: len(X), 0]
    found = argminn_motifs(model, X[:2000], annotate=False)
    columns = ["filter", "n_sites", "influence", "effect", "strand_symmetry", "status", "parts"]
    print(found.filters[columns].to_string(index=False))
    for k, pfm in enumerate(found.pfms):
        ic = (pfm * np.log2((pfm + 1e-3) / 0.25)).sum(0)
        letters = [
            "ACGT"[i] if ic[j] >= 1 else ("acgt"[i] if ic[j] >= 0.3 else ".")
            for j, i in enumerate(pfm.argmax(0))
        ]
        print(f"filter {k} PFM {''.join(letters)}")
    rule = load_preset(args.preset).tasks[0].rule
    known = data.ground_truth.instances
    known = known[(known["split"] == "test") & (known["sequence"] < len(X))]
    kind = _kinds(known, labels, rule)
    with torch.no_grad():
        acts, _ = model.scan(X)
    acts = acts.numpy()
    top = acts.max((0, 2))
    live = [k for k in range(acts.shape[1]) if top[k] > 0]
    width = model.hparams["filter_width"]
    rows = []
    for q in known.itertuples():
        lo, hi = max(0, q.start - width + 1), min(acts.shape[2], q.end)
        fired = {f"f{k}": float(acts[q.sequence, k, lo:hi].max() > 0.5 * top[k]) for k in live}
        rows.append({"motif": q.motif, "kind": kind.get(q.sequence, "?"), **fired})
    table = pd.DataFrame(rows).groupby(["motif", "kind"])
    print("fraction of planted sites a filter fires on (above half its maximum):")
    print(pd.concat([table.size().rename("sites"), table.mean().round(2)], axis=1).to_string())
    base = predict(model, X)[:, 0]
    print("test auROC with every filter:", _decoy_aurocs(base, labels, kind))
    for k in live:
        ablated = copy.deepcopy(model)
        with torch.no_grad():
            ablated.scanner.weight[k] = 0.0
            ablated.scanner.bias[k] = -1.0
        scores = predict(ablated, X)[:, 0]
        change = float(np.abs(scores - base).mean())
        print(f"without filter {k}: mean |logit change| {change:.3f};", end=" ")
        print(_decoy_aurocs(scores, labels, kind))


if __name__ == "__main__":
    main()
