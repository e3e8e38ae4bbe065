"""The contracts package stays small: it imports without torch, numpy, pandas, Optuna, kopf or
the Kubernetes client, and the operator (whose image installs it) imports without torch."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
import tomllib
from pathlib import Path

import cappuccino_contracts

ROOT = Path(__file__).resolve().parents[3]
HEAVY = ("torch", "numpy", "pandas", "optuna", "kopf", "kubernetes")
OURS = ("cappuccino_runtime", "cappuccino_operator")


def _import_with_blocked(
    modules: list[str], blocked: tuple[str, ...]
) -> subprocess.CompletedProcess[str]:
    """Imports `modules` in a fresh interpreter where importing any of `blocked` fails."""
    code = f"""
import importlib, importlib.abc, sys
BLOCKED = {blocked!r}
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"blocked import of {{name}}")
        return None
sys.meta_path.insert(0, Block())
for name in {modules!r}:
    importlib.import_module(name)
loaded = sorted({{m.split(".")[0] for m in sys.modules}} & set(BLOCKED))
assert not loaded, loaded
"""
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )


def _contract_modules() -> list[str]:
    return [
        f"cappuccino_contracts.{m.name}"
        for m in pkgutil.iter_modules(cappuccino_contracts.__path__)
    ]


def test_every_contracts_module_imports_without_anything_heavy() -> None:
    modules = _contract_modules()
    assert {"manifests", "naming", "tables", "registry"} <= {m.rsplit(".", 1)[1] for m in modules}
    result = _import_with_blocked(modules, HEAVY + OURS)
    assert result.returncode == 0, result.stderr


def test_the_operator_imports_without_torch() -> None:
    modules = [
        "cappuccino_operator.main",
        "cappuccino_operator.handlers",
        "cappuccino_operator.queries",
    ]
    result = _import_with_blocked(modules, ("torch", "cappuccino_runtime"))
    assert result.returncode == 0, result.stderr


def test_the_block_is_real() -> None:
    """The check above would catch a heavy import: importing the runtime's agent fails."""
    result = _import_with_blocked(["cappuccino_runtime.agent.networks"], ("torch",))
    assert result.returncode != 0 and "blocked import of torch" in result.stderr


def test_declared_dependencies_stay_torch_free() -> None:
    for pyproject in (ROOT / "contracts/pyproject.toml", ROOT / "operator/pyproject.toml"):
        deps = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
        names = {d.split(">")[0].split("[")[0].split("=")[0].strip().lower() for d in deps}
        assert not names & {"torch", "numpy", "pandas", "cappuccino", "cappuccino-runtime"}, (
            pyproject,
            names,
        )
    contracts = tomllib.loads((ROOT / "contracts/pyproject.toml").read_text())
    assert sorted(d.split(">")[0] for d in contracts["project"]["dependencies"]) == [
        "pydantic",
        "sqlalchemy",
    ]
