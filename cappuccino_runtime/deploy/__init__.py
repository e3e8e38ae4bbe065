"""Deploying validated models (arena / ensemble directories) and loading them back safely.

Public entry points:
- `deploy(kind, engine, store, study_name, top_n, out_dir)`: what `cappuccino deploy` runs.
- `load_deployed_models(manifest_or_dir, artifacts=None, expected_study=None)`: what traders
  call; identity and checksums verified, weights loaded with weights_only=True.
- `demo_stage(settings, study_name, top_n, out_dir, console)`: the demo's registry stage;
  `stage_validate_deploy(ctx)` wraps it as a `cappuccino_runtime.demo` stage.
"""

from __future__ import annotations

from cappuccino_runtime.deploy.build import (
    DeployKind,
    DeployRefused,
    DeployResult,
    default_creator,
    deploy,
)
from cappuccino_runtime.deploy.demo import DemoStageResult, demo_stage, stage_validate_deploy
from cappuccino_runtime.deploy.loader import LoadedModel, load_deployed_models

__all__ = [
    "DemoStageResult",
    "DeployKind",
    "DeployRefused",
    "DeployResult",
    "LoadedModel",
    "default_creator",
    "demo_stage",
    "deploy",
    "load_deployed_models",
    "stage_validate_deploy",
]
