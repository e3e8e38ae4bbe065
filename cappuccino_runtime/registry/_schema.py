"""The columns of Optuna's RDB tables that the registry reads (optuna/storages/_rdb/models.py).

Declared with SQLAlchemy Core instead of importing Optuna's private ORM models, so the
registry (and the init container) needs neither Optuna nor its import time. Enum columns are
declared as plain strings: SQLite stores the member names as text and PostgreSQL's native
enum types compare with text literals, which is all the queries do.
"""

from __future__ import annotations

from sqlalchemy import Column, Float, Integer, MetaData, String, Table, Text

__all__ = [
    "metadata",
    "studies",
    "study_directions",
    "trial_params",
    "trial_user_attributes",
    "trial_values",
    "trials",
]

metadata = MetaData()

studies = Table(
    "studies",
    metadata,
    Column("study_id", Integer, primary_key=True),
    Column("study_name", String(512)),
)

study_directions = Table(
    "study_directions",
    metadata,
    Column("study_direction_id", Integer, primary_key=True),
    Column("direction", String(16)),
    Column("study_id", Integer),
    Column("objective", Integer),
)

trials = Table(
    "trials",
    metadata,
    Column("trial_id", Integer, primary_key=True),
    Column("number", Integer),
    Column("study_id", Integer),
    Column("state", String(16)),
)

trial_values = Table(
    "trial_values",
    metadata,
    Column("trial_value_id", Integer, primary_key=True),
    Column("trial_id", Integer),
    Column("objective", Integer),
    Column("value", Float(precision=53)),
    Column("value_type", String(16)),
)

trial_params = Table(
    "trial_params",
    metadata,
    Column("param_id", Integer, primary_key=True),
    Column("trial_id", Integer),
    Column("param_name", String(512)),
    Column("param_value", Float(precision=53)),
    Column("distribution_json", Text),
)

trial_user_attributes = Table(
    "trial_user_attributes",
    metadata,
    Column("trial_user_attribute_id", Integer, primary_key=True),
    Column("trial_id", Integer),
    Column("key", String(512)),
    Column("value_json", Text),
)
