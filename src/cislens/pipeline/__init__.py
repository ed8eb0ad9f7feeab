"""The end-to-end pipeline on a user's own data and model (``cislens run config.yaml``).

The stage functions are shared with the built-in demo (:mod:`cislens.demo`).
"""

from cislens.pipeline.config import (
    DataConfig,
    ModelConfig,
    MotifConfig,
    RunConfig,
    load_run_config,
    parse_run_config,
)
from cislens.pipeline.run import RUN_STAGES, RunResult, run_pipeline

__all__ = [
    "RUN_STAGES",
    "DataConfig",
    "ModelConfig",
    "MotifConfig",
    "RunConfig",
    "RunResult",
    "load_run_config",
    "parse_run_config",
    "run_pipeline",
]
