"""The seven validation checkpoints as a library; the CLI and init containers are adapters.

Checkpoints: 1 completion, 2 model files, 3 uniqueness, 4 metadata, 5 manifest,
6 deployment files, 7 live health. Nothing here unpickles a file (see `safe_pickle`).
"""

from __future__ import annotations

from cappuccino_runtime.validation.checks import (
    check_completion,
    check_db_identity,
    check_metadata,
    check_uniqueness,
)
from cappuccino_runtime.validation.deployment import check_deployed_model
from cappuccino_runtime.validation.files import SizeBounds
from cappuccino_runtime.validation.fix import fix_trial
from cappuccino_runtime.validation.live import (
    LiveSnapshot,
    LiveThresholds,
    check_live_health,
    read_state_dir,
)
from cappuccino_runtime.validation.report import (
    Checkpoint,
    CheckResult,
    ValidationReport,
    render_report,
)
from cappuccino_runtime.validation.runner import (
    TrialInspection,
    ValidationOptions,
    inspect_trial,
    resolve_trial_dir,
    validate_manifest,
    validate_study,
    validate_trial_id,
    validate_trials,
)
from cappuccino_runtime.validation.safe_pickle import (
    PickleSummary,
    UnverifiablePickle,
    read_trial_pickle,
)
from cappuccino_runtime.validation.verify import check_model_files

__all__ = [
    "CheckResult",
    "Checkpoint",
    "LiveSnapshot",
    "LiveThresholds",
    "PickleSummary",
    "SizeBounds",
    "TrialInspection",
    "UnverifiablePickle",
    "ValidationOptions",
    "ValidationReport",
    "check_completion",
    "check_db_identity",
    "check_deployed_model",
    "check_live_health",
    "check_metadata",
    "check_model_files",
    "check_uniqueness",
    "fix_trial",
    "inspect_trial",
    "read_state_dir",
    "read_trial_pickle",
    "render_report",
    "resolve_trial_dir",
    "validate_manifest",
    "validate_study",
    "validate_trial_id",
    "validate_trials",
]
