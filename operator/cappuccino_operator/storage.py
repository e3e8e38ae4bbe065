"""Database access built once per URL: SQLAlchemy engines and Optuna storages.

URLs may carry passwords: they live only in memory here, never in logs, status or specs.
Kept on kopf's global memo (see handlers.startup) and disposed at cleanup.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

from cappuccino_contracts.tables import studies, study_system_attributes
from sqlalchemy import Connection, Engine, create_engine, select
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from cappuccino_operator.errors import StorageUnavailable, StudyOwnedElsewhere

__all__ = ["OWNER_ATTR", "Databases", "check_owner", "describe_error", "study_owner"]


def describe_error(exc: BaseException, url: str | None = None) -> str:
    """A one-line description of a database error that never contains the URL or password."""
    text = (
        str(getattr(exc, "orig", None) or exc).strip().splitlines()[0] if str(exc).strip() else ""
    )
    if url:
        text = text.replace(url, "<storage-url>")
    return f"{type(exc).__name__}: {text}"[:500]


# Optuna study system attr naming the namespace whose Study owns the study.
OWNER_ATTR = "cappuccino.dev/namespace"


def check_owner(study_name: str, owner: str | None, namespace: str) -> None:
    """Raises StudyOwnedElsewhere unless `namespace` owns the study (or nobody does yet)."""
    if owner is not None and owner != namespace:
        raise StudyOwnedElsewhere(
            f"Optuna study {study_name!r} belongs to a Study in namespace {owner!r}; a Study in "
            f"namespace {namespace!r} may not use it. Choose another spec.studyName (a new "
            "Study) or leave it unset (the default <namespace>.<name> is unique)."
        )


def study_owner(conn: Connection, study_name: str) -> str | None:
    """The namespace that claimed the study (OWNER_ATTR), None when unclaimed or missing."""
    attrs = study_system_attributes
    row = conn.execute(
        select(attrs.c.value_json)
        .join(studies, studies.c.study_id == attrs.c.study_id)
        .where(studies.c.study_name == study_name, attrs.c.key == OWNER_ATTR)
    ).first()
    return None if row is None else str(json.loads(row[0]))


class Databases:
    """Engines and Optuna storages by URL, created lazily, shared by every handler thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._engines: dict[str, Engine] = {}
        self._optuna: dict[str, Any] = {}

    def engine(self, url: str) -> Engine:
        with self._lock:
            if url not in self._engines:
                self._engines[url] = create_engine(
                    url,
                    pool_pre_ping=True,
                    pool_size=2,
                    max_overflow=4,
                    connect_args={"connect_timeout": 5} if url.startswith("postgresql") else {},
                )
            return self._engines[url]

    @contextmanager
    def connect(self, url: str) -> Iterator[Connection]:
        """A connection; connection failures become StorageUnavailable (URL-free message)."""
        try:
            conn = self.engine(url).connect()
        except (DBAPIError, SQLAlchemyError) as e:
            raise StorageUnavailable(
                f"Cannot connect to the storage database ({describe_error(e, url)})."
            ) from None
        try:
            yield conn
        finally:
            conn.close()

    def optuna_storage(self, url: str) -> Any:
        """An optuna RDBStorage (creates Optuna's tables on first use)."""
        import optuna

        with self._lock:
            if url not in self._optuna:
                try:
                    self._optuna[url] = optuna.storages.RDBStorage(
                        url,
                        engine_kwargs={"pool_pre_ping": True, "pool_size": 2, "max_overflow": 2}
                        | (
                            {"connect_args": {"connect_timeout": 5}}
                            if url.startswith("postgresql")
                            else {}
                        ),
                    )
                except Exception as e:  # optuna wraps SQLAlchemy errors in several types
                    raise StorageUnavailable(
                        f"Cannot open the Optuna storage ({describe_error(e, url)})."
                    ) from None
            return self._optuna[url]

    def ensure_study(
        self,
        url: str,
        study_name: str,
        direction: Literal["maximize", "minimize"],
        namespace: str,
    ) -> int:
        """Creates the Optuna study if missing (load_if_exists) and claims it for `namespace`
        (study system attr OWNER_ATTR); returns its study_id.

        Raises:
            StudyOwnedElsewhere: another namespace's Study claimed it first.
            ValueError: the existing study has the other direction.
        """
        import optuna

        storage = self.optuna_storage(url)
        try:
            optuna.create_study(
                study_name=study_name, storage=storage, direction=direction, load_if_exists=True
            )
            study_id = int(storage.get_study_id_from_name(study_name))
            owner = storage.get_study_system_attrs(study_id).get(OWNER_ATTR)
            if owner is None:
                storage.set_study_system_attr(study_id, OWNER_ATTR, namespace)
                owner = namespace
        except ValueError:
            raise  # e.g. the existing study has the other direction: the spec is wrong
        except Exception as e:
            raise StorageUnavailable(
                f"Cannot create or load Optuna study {study_name!r} ({describe_error(e, url)})."
            ) from None
        check_owner(study_name, owner, namespace)
        return study_id

    def close(self) -> None:
        with self._lock:
            for engine in self._engines.values():
                engine.dispose()
            for storage in self._optuna.values():
                storage.engine.dispose()
            self._engines.clear()
            self._optuna.clear()
