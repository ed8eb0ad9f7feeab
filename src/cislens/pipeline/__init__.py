"""The end-to-end pipeline on a user's own data and model (``cislens run config.yaml``), and
on the demo's preset (``cislens demo``, :class:`DemoConfig`).

Every file of a run folder is named and loaded through :class:`RunFolder`.
"""

from cislens.pipeline.config import (
    DataConfig,
    ModelConfig,
    MotifConfig,
    RunConfig,
    load_run_config,
    parse_run_config,
)
from cislens.pipeline.preset import DemoConfig
from cislens.pipeline.result import RunResult
from cislens.pipeline.run import RUN_STAGES, run_pipeline
from cislens.run_folder import RunFolder

__all__ = [
    "RUN_STAGES",
    "DataConfig",
    "DemoConfig",
    "ModelConfig",
    "MotifConfig",
    "RunConfig",
    "RunFolder",
    "RunResult",
    "load_run_config",
    "parse_run_config",
    "run_pipeline",
]
