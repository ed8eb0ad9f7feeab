"""DiscoveryParams: the frozen settings of discover_motifs, from keywords, mappings and files."""

from __future__ import annotations

import dataclasses
import json

import pytest
from testkit import planted

from cislens.errors import CislensWarning
from cislens.motifs import DiscoveryParams, discover_motifs


def test_defaults_checks_and_frozen():
    params = DiscoveryParams()
    assert params.window_size == 21 and params.revcomp is True and params.background is None
    assert "background" not in params.to_dict() and len(params.to_dict()) == 18
    with pytest.raises(dataclasses.FrozenInstanceError):
        params.flank = 3
    for bad, message in (
        ({"min_overlap": 0}, r"min_overlap must be in \(0, 1\]; got 0"),
        ({"alpha": 1.5}, r"alpha must be in \(0, 1\]"),
        ({"n_neighbors": 0}, "n_neighbors must be a positive int; got 0"),
        ({"trim_width": True}, "trim_width must be a positive int; got True"),
        ({"background": (0.5, 0.5, 0.0, 0.0)}, "4 positive base frequencies"),
    ):
        with pytest.raises(ValueError, match=message):
            DiscoveryParams(**bad)
    # with_options checks like the constructor and leaves the original alone
    with pytest.raises(ValueError, match="min_cluster_size"):
        params.with_options(min_cluster_size=-1)
    assert params.with_options(revcomp=0).revcomp is False and params.revcomp is True


def test_from_dict_and_file(tmp_path):
    assert DiscoveryParams.from_dict({"flank": 5}) == DiscoveryParams(flank=5)
    with pytest.raises(ValueError, match=r"'min_overlp' is not a discovery parameter.*min_overlap"):
        DiscoveryParams.from_dict({"min_overlp": 0.5})
    yaml_file = tmp_path / "p.yaml"
    yaml_file.write_text("min_overlap: 0.8\nrevcomp: false\n")
    assert DiscoveryParams.from_file(yaml_file) == DiscoveryParams(min_overlap=0.8, revcomp=False)
    json_file = tmp_path / "p.json"
    json_file.write_text(json.dumps({"n_leiden_runs": 3}))
    assert DiscoveryParams.from_file(json_file).n_leiden_runs == 3
    json_file.write_text("[1, 2]")
    with pytest.raises(ValueError, match="must be a mapping"):
        DiscoveryParams.from_file(json_file)


def test_discover_motifs_takes_params_or_keywords():
    X, H, _ = planted(n=40, seed=1)
    params = DiscoveryParams(min_cluster_size=500, n_leiden_runs=1)
    with pytest.warns(CislensWarning, match="fewer than min_cluster_size=500"):
        by_params = discover_motifs(X, H, params, random_state=0)
    with pytest.warns(CislensWarning, match="fewer than min_cluster_size=500"):
        by_keywords = discover_motifs(X, H, random_state=0, min_cluster_size=500, n_leiden_runs=1)
    assert by_params.params == by_keywords.params == params.to_dict()
    assert by_params.seqlets.equals(by_keywords.seqlets)
    # keywords apply over params
    with pytest.warns(CislensWarning):
        over = discover_motifs(X, H, params, random_state=0, flank=4)
    assert over.params["flank"] == 4 and over.params["min_cluster_size"] == 500
    with pytest.raises(TypeError, match=r"unexpected keyword argument.*min_overlp"):
        discover_motifs(X, H, min_overlp=0.5)
    with pytest.raises(TypeError, match="params must be a DiscoveryParams"):
        discover_motifs(X, H, {"flank": 4})


def test_cli_params_file_is_read_and_checked(tmp_path, capsys):
    from cislens.cli import main

    bad = tmp_path / "bad.yaml"
    bad.write_text("min_overlp: 0.5\n")
    code = main(["motifs", "-a", str(tmp_path / "a.h5"), "-o", str(tmp_path), "--params", str(bad)])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "'min_overlp' is not a discovery parameter" in err and "min_overlap" in err


def test_cli_params_file_under_the_given_options(tmp_path):
    from cislens.cli import main
    from cislens.io import AttributionSet, save_attributions
    from cislens.motifs import load_motifs

    X, H, _ = planted(n=40, seed=1)
    store = save_attributions(
        tmp_path / "attr.h5",
        AttributionSet(X=X, attributions=X * H, hypothetical=H, method="deeplift_shap"),
    )
    settings = tmp_path / "discovery.yaml"
    settings.write_text("min_cluster_size: 500\nwindow_size: 15\nrevcomp: false\n")
    out = tmp_path / "motifs"
    args = ["motifs", "-a", str(store), "-o", str(out), "--params", str(settings), "--flank", "4"]
    with pytest.warns(CislensWarning, match="fewer than min_cluster_size=500"):
        assert main([*args, "--no-annotate"]) == 0
    recorded = load_motifs(out / "motifs.h5").params
    # from the file, except --flank (given); --min-cluster-size's default does not override it
    assert recorded["min_cluster_size"] == 500 and recorded["window_size"] == 15
    assert recorded["flank"] == 4 and recorded["revcomp"] is False
    assert recorded == DiscoveryParams(min_cluster_size=500, window_size=15, flank=4,
                                       revcomp=False).to_dict()  # fmt: skip
