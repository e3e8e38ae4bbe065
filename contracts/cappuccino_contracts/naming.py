"""Naming rules: study names, the studies derived from them, portfolio ids, object names.

A study name becomes a directory under the artifact root (`{root}/{study}/trial_...`) and part
of Kubernetes object names and portfolio ids, so it may only hold letters, digits, `.`, `_` and
`-`, starts with a letter or digit, never holds `..` or `/`, and is at most
STUDY_NAME_MAX_LENGTH characters: a name like `../x` or `/etc` would write outside the root.
A Study resource's `spec.studyName` is shorter still (STUDY_NAME_SPEC_MAX_LENGTH), leaving room
for the `-phase1` / `-refit` studies derived from it. The CRD's `studyName` schema is generated
from these constants.
"""

from __future__ import annotations

import re

from cappuccino_contracts.errors import ConfigError

__all__ = [
    "LOCAL_NAMESPACE",
    "PHASE1_SUFFIX",
    "REFIT_SUFFIX",
    "STUDY_NAME_MAX_LENGTH",
    "STUDY_NAME_PATTERN",
    "STUDY_NAME_SPEC_MAX_LENGTH",
    "check_study_name",
    "default_study_name",
    "deployment_name",
    "manifest_configmap_name",
    "member_portfolio_id",
    "model_id",
    "phase1_study_name",
    "portfolio_id",
    "refit_job_name",
    "refit_study_name",
    "service_name",
    "train_config_name",
    "worker_job_name",
]

STUDY_NAME_MAX_LENGTH = 128
"""Any study name, derived ones (`S-phase1`, `S-refit`) included."""
STUDY_NAME_SPEC_MAX_LENGTH = 120
"""A name users choose (Study `spec.studyName`, `--study`): room for the derived suffixes."""
STUDY_NAME_PATTERN = r"^[A-Za-z0-9]([-A-Za-z0-9_]|\.[-A-Za-z0-9_])*\.?$"
"""Letters, digits, '-', '_' and single dots, starting with a letter or digit (so no '/', no
'..'). Written for both Python's `re` and the apiserver's OpenAPI `pattern`."""
_STUDY_NAME = re.compile(STUDY_NAME_PATTERN)

PHASE1_SUFFIX = "-phase1"
"""Two-phase search: phase 1 writes to study `S-phase1`, phase 2 and `full` to `S`."""
REFIT_SUFFIX = "-refit"
"""Refit agents of study `S` are the COMPLETE trials of study `S-refit`."""
LOCAL_NAMESPACE = "local"
"""The namespace part of portfolio ids outside Kubernetes."""


def check_study_name(name: str) -> str:
    """Returns `name` when it is a safe study name; ConfigError saying why and how otherwise."""
    if (
        not isinstance(name, str)
        or len(name) > STUDY_NAME_MAX_LENGTH
        or not _STUDY_NAME.match(name)
    ):
        raise ConfigError(
            f"study name {name!r} is not allowed: use 1-{STUDY_NAME_MAX_LENGTH} letters, digits, "
            "'.', '_' or '-', starting with a letter or digit, without '..' or '/' (the name "
            "becomes a directory under the artifact root and must stay inside it)."
        )
    return name


def default_study_name(namespace: str, name: str) -> str:
    """`<namespace>.<name>`: unique per cluster (a namespace has no dots), so two namespaces
    sharing one database never write into one Optuna study by accident."""
    return f"{namespace}.{name}"


def refit_study_name(study_name: str) -> str:
    """The study holding the refit agents of `study_name`."""
    return f"{study_name}{REFIT_SUFFIX}"


def phase1_study_name(study_name: str) -> str:
    """The study phase 1 of a two-phase search writes to."""
    return f"{study_name}{PHASE1_SUFFIX}"


def portfolio_id(namespace: str, name: str) -> str:
    """An Ensemble's portfolio id and an Arena's id: `<namespace>/<name>` (`local` outside
    Kubernetes)."""
    return f"{namespace}/{name}"


def model_id(study_name: str, trial_id: int) -> str:
    """One model's id, `<study_name>:<trial_id>` (arena member ids, labels)."""
    return f"{study_name}:{trial_id}"


def member_portfolio_id(arena_id: str, study_name: str, trial_id: int) -> str:
    """An Arena member's book: `<arena_id>/<study_name>:<trial_id>`."""
    return f"{arena_id}/{model_id(study_name, trial_id)}"


def worker_job_name(sweep: str) -> str:
    """The indexed Job of a TrainingSweep's workers."""
    return f"{sweep}-workers"


def refit_job_name(sweep: str) -> str:
    """The Job that refits a finished sweep's best trials."""
    return f"{sweep}-refit"


def train_config_name(sweep: str) -> str:
    """The ConfigMap holding a sweep's train.json."""
    return f"{sweep}-train-config"


def deployment_name(trader: str) -> str:
    """The Deployment of an Arena's or Ensemble's trader."""
    return f"{trader}-trader"


def service_name(trader: str) -> str:
    """The metrics Service of a trader."""
    return f"{trader}-metrics"


def manifest_configmap_name(trader: str, digest: str) -> str:
    """The immutable ConfigMap freezing one manifest, named by its content hash."""
    return f"{trader}-manifest-{digest[:10]}"
