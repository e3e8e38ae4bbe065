#!/usr/bin/env python3
"""Regenerates the values table in charts/cappuccino/README.md from the `# --` comments of
values.yaml (KubeRay / helm-docs style). `--check` exits 1 when the README is stale."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml

CHART = Path(__file__).resolve().parents[1] / "charts" / "cappuccino"
BEGIN, END = "<!-- values-table:begin -->", "<!-- values-table:end -->"


def default_of(values: dict[str, Any], path: str) -> str:
    """The parsed default at a dotted path, as compact JSON (`{}` blocks show their content)."""
    node: Any = values
    for key in path.split("."):
        node = node[key]
    return json.dumps(node, separators=(", ", ": "))


def cell(text: str) -> str:
    """Escapes the Markdown table separator."""
    return text.replace("|", "\\|")


def values_table(values_yaml: str) -> str:
    """One row per key that carries a `# --` comment: key path, default, description."""
    values = yaml.safe_load(values_yaml)
    rows: list[tuple[str, str, str]] = []
    stack: list[tuple[int, str]] = []
    pending: list[str] = []
    for line in values_yaml.splitlines():
        stripped = line.strip()
        if stripped.startswith("# --"):
            pending = [stripped[4:].strip()]
            continue
        if stripped.startswith("#") and pending:
            pending.append(stripped[1:].strip())
            continue
        match = re.match(r"^(\s*)([A-Za-z0-9_]+):\s*(.*)$", line)
        if not match:
            continue
        indent, key, value = len(match.group(1)), match.group(2), match.group(3).strip()
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = ".".join([k for _, k in stack] + [key])
        if pending:
            rows.append((path, default_of(values, path), " ".join(pending)))
            pending = []
        if not value:
            stack.append((indent, key))
    lines = ["| Key | Default | Description |", "|---|---|---|"]
    lines += [f"| `{k}` | `{cell(v)}` | {cell(d)} |" for k, v, d in rows]
    return "\n".join(lines)


def render(readme: str, table: str) -> str:
    head, _, rest = readme.partition(BEGIN)
    _, _, tail = rest.partition(END)
    return f"{head}{BEGIN}\n{table}\n{END}{tail}"


def main() -> int:
    readme_path = CHART / "README.md"
    readme = readme_path.read_text()
    fresh = render(readme, values_table((CHART / "values.yaml").read_text()))
    if "--check" in sys.argv:
        if fresh != readme:
            print(f"{readme_path} is stale: run scripts/chart_values_table.py", file=sys.stderr)
            return 1
        return 0
    readme_path.write_text(fresh)
    return 0


if __name__ == "__main__":
    sys.exit(main())
