"""``cislens benchmark``: one CSV per method plus a summary."""

import pandas as pd

import cislens.cli.benchmark  # noqa: F401  (registers `benchmark` and `report`)
from cislens.cli import main
from cislens.io import save_dataset
from cislens.models import LabCNN, save_model
from cislens.simulate import simulate


def test_cli_benchmark_writes_a_table_per_method(tmp_path):
    data = simulate("lab3", n=240, random_state=0)
    save_dataset(tmp_path / "data.h5", data)
    model = LabCNN(n_tasks=data.n_tasks, input_length=data.length, random_state=0)
    save_model(model, tmp_path / "model", task_names=data.task_names)
    code = main(
        [
            "benchmark",
            "--data",
            str(tmp_path / "data.h5"),
            "--model",
            str(tmp_path / "model"),
            "--methods",
            "saliency,grad_x_input",
            "--out",
            str(tmp_path / "bench"),
            "--n-examples",
            "3",
        ]
    )
    assert code == 0
    for name in ("saliency", "grad_x_input"):
        table = pd.read_csv(tmp_path / "bench" / f"{name}.csv")
        assert table["method"].tolist() == [name]
        assert {"auroc", "auprc", "seconds_per_sequence"} <= set(table.columns)
    summary = pd.read_csv(tmp_path / "bench" / "summary.csv")
    assert len(summary) == 2


def test_cli_benchmark_unknown_method(tmp_path, capsys):
    data = simulate("lab3", n=240, random_state=0)
    save_dataset(tmp_path / "data.h5", data)
    model = LabCNN(n_tasks=data.n_tasks, input_length=data.length, random_state=0)
    save_model(model, tmp_path / "model", task_names=data.task_names)
    code = main(
        [
            "benchmark",
            "--data",
            str(tmp_path / "data.h5"),
            "--model",
            str(tmp_path / "model"),
            "--methods",
            "shap",
            "--out",
            str(tmp_path / "b"),
        ]
    )
    assert code == 2
    assert "unknown attribution method" in capsys.readouterr().err
