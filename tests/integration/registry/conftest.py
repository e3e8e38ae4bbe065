"""Registry worlds on real SQLite files and a real PostgreSQL, built once per module.

Tests that damage artifacts get their own copy of the artifact tree (`artifacts`), so the
database, which those tests never modify, is shared.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from cappuccino_runtime.artifacts import ArtifactStore
from cappuccino_runtime.registry import connect
from tests.support.postgres import BACKENDS, backend_url
from tests.support.registry_fixtures import RegistryWorld, build_world


@pytest.fixture(scope="module", params=BACKENDS)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> RegistryWorld:
    """The three-study world of registry_fixtures, on each backend."""
    base = tmp_path_factory.mktemp(f"world-{request.param}")
    storage = backend_url(request, base)
    return build_world(storage, base / "artifacts")


@pytest.fixture(scope="module")
def sqlite_world(tmp_path_factory: pytest.TempPathFactory) -> RegistryWorld:
    """The world on SQLite only, for file-level tests where the backend does not matter."""
    base = tmp_path_factory.mktemp("world-sqlite-only")
    return build_world(f"sqlite:///{base / 'optuna.db'}", base / "artifacts")


@pytest.fixture
def engine(world: RegistryWorld) -> Iterator[Engine]:
    eng = connect(world.storage)
    yield eng
    eng.dispose()


@pytest.fixture
def sqlite_engine(sqlite_world: RegistryWorld) -> Iterator[Engine]:
    eng = connect(sqlite_world.storage)
    yield eng
    eng.dispose()


def copy_artifacts(world: RegistryWorld, dest: Path) -> tuple[Path, ArtifactStore]:
    """A private copy of the world's artifact tree, laid out identically."""
    root = dest / "artifacts"
    shutil.copytree(world.artifact_root, root)
    return root, ArtifactStore(str(root))
