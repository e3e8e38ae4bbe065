"""Operator errors, translated at the call site; what handlers do with each is documented."""

from __future__ import annotations

__all__ = [
    "OperatorError",
    "SelectionError",
    "StorageUnavailable",
    "StudyNotReady",
    "StudyOwnedElsewhere",
]


class OperatorError(Exception):
    """Base of the operator's own errors."""


class StorageUnavailable(OperatorError):
    """The Optuna/trading database cannot be reached. Handlers set Ready=False reason
    StorageUnavailable and retry later (kopf.TemporaryError). Messages never carry the URL."""


class StudyNotReady(OperatorError):
    """The referenced Study (or its storage Secret) does not exist yet; retried later."""


class SelectionError(OperatorError):
    """The study cannot supply the requested models yet (too few COMPLETE trials, unknown
    trial_ids, missing sha256_actor). Ready=False reason SelectionFailed; retried later, since
    trials keep completing."""


class StudyOwnedElsewhere(OperatorError):
    """The Optuna study belongs to a Study of another namespace (its system attr
    `cappuccino.dev/namespace`). Ready=False reason StudyOwnedElsewhere; nothing is written
    into it, and every sweep and trader of this Study waits. Fixed by choosing another
    studyName (a new Study: the field is immutable)."""
