"""RunFolder: one name per file, loaders that read back what the writers wrote."""

import json

import numpy as np
import pandas as pd

from cislens.attribution.ig_path import IGPathDensity
from cislens.run_folder import ArgminnFiles, ReportInputs, RunFolder


def test_every_file_name_is_distinct_and_every_stage_output_is_named():
    names = [v for k, v in vars(RunFolder).items() if k.isupper() and isinstance(v, str)]
    names.remove(RunFolder.PARAMS_SUFFIX)
    assert len(names) == len(set(names))
    named = set(names) | set(RunFolder.ARGMINN_FILES)
    for outputs in RunFolder.OUTPUTS.values():
        assert set(outputs) <= named
    assert RunFolder.ARGMINN_FILES == tuple(f"argminn/{n}" for n in ArgminnFiles.ALL)


def test_report_inputs_round_trip(tmp_path):
    folder = RunFolder(tmp_path)
    rng = np.random.default_rng(0)
    paths = [
        (t, IGPathDensity(np.linspace(0, 1, 3), rng.normal(size=(3, 4, 2)), "dinucleotide"))
        for t in (0, 2)
    ]
    written = ReportInputs({7: np.array([0.5, -1.0]), 3: np.array([2.0, 0.0])}, paths, 4)
    folder.write_report_inputs(written)
    read = folder.report_inputs()
    assert sorted(read.predictions) == [3, 7] and read.ig_inputs == 4
    np.testing.assert_array_equal(read.predictions[7], [0.5, -1.0])
    assert [t for t, _ in read.ig_paths] == [0, 2]
    for (_, want), (_, got) in zip(paths, read.ig_paths, strict=True):
        np.testing.assert_array_equal(got.predictions, want.predictions)
        np.testing.assert_array_equal(got.alphas, want.alphas)
        assert got.baselines == "dinucleotide"
    assert RunFolder(tmp_path / "none").report_inputs() is None


def test_stage_timings_fall_back_to_the_old_name_and_tables_to_none(tmp_path):
    folder = RunFolder(tmp_path)
    assert folder.stage_timings() is None
    (tmp_path / RunFolder.OLD_STAGE_TIMINGS).write_text(json.dumps({"train": 2.0}))
    assert folder.stage_timings() == {"train": 2.0}
    folder.write_json(RunFolder.STAGE_TIMINGS, {"train": 3.0})
    assert folder.stage_timings() == {"train": 3.0}
    assert folder.table(RunFolder.GIA) is None
    folder.write_table(RunFolder.GIA, pd.DataFrame({"pattern": ["a"], "effect": [1.5]}))
    assert folder.table(RunFolder.GIA)["effect"].tolist() == [1.5]
    folder.write_json("a.params.json", {"seed": 1, "_resume": {"key": "x"}})
    folder.write_json("b.params.json", {"n": 2})
    assert folder.params() == {"seed": 1, "n": 2}
