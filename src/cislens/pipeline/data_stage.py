"""The pipeline's ``data`` stage: the dataset a config names, built (or loaded), checked
against the config and the model before anything is written, and stored as ``data.h5``."""

from __future__ import annotations

from cislens._version import __version__
from cislens.errors import ConfigError
from cislens.pipeline._data import build_dataset, fingerprint
from cislens.pipeline.attribution import explained_rows
from cislens.pipeline.model_stage import check_model_outputs, model_record, predicting
from cislens.run_folder import RunFolder


def task_indices(config, dataset) -> list[int]:
    if config.tasks is None:
        return list(range(dataset.n_tasks))
    indices = []
    for i, task in enumerate(config.tasks):
        if isinstance(task, int):
            if task >= dataset.n_tasks:
                raise ConfigError(
                    f"tasks[{i}]: output index {task} is out of range for "
                    f"{dataset.n_tasks} tasks {dataset.task_names}; use 0 to "
                    f"{dataset.n_tasks - 1} or a task name."
                )
            indices.append(task)
        elif task in dataset.task_names:
            indices.append(dataset.task_names.index(task))
        else:
            raise ConfigError(
                f"tasks[{i}]: {task!r} is not a task of the data; tasks are {dataset.task_names}."
            )
    return sorted(set(indices))


def data_stage(config, stages, model, view) -> tuple:
    """The ``data`` stage: build (or, resumed, load) the dataset and check it against the
    config before anything is written; then write ``run_config.json`` and ``data.h5``.

    Returns the dataset as stored on disk and the stage's parameters.
    """
    from cislens.io import save_dataset

    labelled = config.data.kind == "hdf5" or bool(config.data.labels or config.data.label_columns)
    data_record = {k: v for k, v in config.to_dict()["data"].items() if v is not None}
    data_params = {
        "data": data_record,
        "random_state": config.seed,
        "cislens_version": __version__,
        "train_split": model is None,
        "files": fingerprint(config.data.path, config.data.genome, config.data.labels),
    }
    if not labelled:  # the model's predictions stand in for labels
        data_params["model"] = model_record(config)
    folder: RunFolder = stages.folder
    resumed = stages.done("data", data_params, RunFolder.DATA)
    names = None
    if resumed:
        dataset = folder.dataset()
    else:
        dataset, names = build_dataset(
            config.data,
            model=predicting(model, view),
            need_train=model is None,
            random_state=config.seed,
            batch_size=config.batch_size,
            device=config.device,
        )
    check_dataset(config, dataset, model, view)
    folder.root.mkdir(parents=True, exist_ok=True)
    folder.write_json(
        RunFolder.RUN_CONFIG, {"cislens_version": __version__, **config.to_dict()}, indent=2
    )
    if not resumed:
        save_dataset(folder / RunFolder.DATA, dataset)
        (folder / RunFolder.SEQUENCES).unlink(missing_ok=True)
        if names is not None:
            folder.write_table(RunFolder.SEQUENCES, names, sep="\t")
        dataset = folder.dataset()  # always work on exactly what is on disk
    stages.finish("data", data_params)
    return dataset, data_params


def check_dataset(config, dataset, model, view) -> None:
    """Refuse, before any write, a dataset the later stages cannot use."""
    if "test" not in dataset.X:
        raise ConfigError(
            f"data: {config.data.path} has no 'test' split (splits: "
            f"{dataset.splits}); the pipeline explains the test sequences. Add "
            "one, e.g. with `cislens simulate` or a 'split' column in the labels."
        )
    if config.benchmark == "true" and dataset.ground_truth is None:
        raise ConfigError(
            "benchmark: true needs ground truth (a simulated cislens dataset); "
            f"{config.data.path} has none. Set benchmark: auto or false."
        )
    if model is not None:
        check_model_outputs(predicting(model, view), dataset, config.batch_size, config.device)
    tasks = task_indices(config, dataset)
    if not any(len(r) for r in explained_rows(dataset, tasks, config.n_examples).values()):
        chosen = [dataset.task_names[t] for t in tasks]
        raise ValueError(
            f"no test sequence to explain for tasks {chosen}: the test split has "
            "no positives for them. Choose other tasks (tasks: [...])."
        )


__all__ = ["check_dataset", "data_stage", "task_indices"]
