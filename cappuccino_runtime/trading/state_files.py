"""positions_state.json and trades_history.json: the original trader's files, kept for tools.

Written atomically (temp file + rename) in the state directory after every poll.

positions_state.json (one object per book, keyed by portfolio_id):
    {"<portfolio_id>": {"timestamp": ISO-8601 UTC, "cash": float, "total_value": float,
      "initial_value": float, "halted": bool, "halt_reason": str | null,
      "positions": {"BTC/USD": {"qty": float, "price": float, "value": float,
                                "weight": float}, ...}}, ...}
trades_history.json (a list, oldest first, one entry per fill):
    [{"timestamp": ISO-8601 UTC, "portfolio_id": str, "symbol": "BTC/USD", "side": "buy"|"sell",
      "qty": float, "price": float, "notional": float, "fee": float, "client_order_id": str}]
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

__all__ = ["append_trades", "write_positions_state"]

POSITIONS_FILE = "positions_state.json"
TRADES_FILE = "trades_history.json"


def _atomic_write(path: Path, payload: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.tmp-")
    with os.fdopen(fd, "w") as f:
        json.dump(payload, f, indent=2)
    os.replace(tmp, path)


def write_positions_state(state_dir: Path, books: dict[str, dict[str, Any]]) -> None:
    """Replaces positions_state.json with the given books (shape in the module docstring)."""
    _atomic_write(state_dir / POSITIONS_FILE, books)


def book_state(
    ts: datetime,
    cash: float,
    initial_cash: float,
    symbols: Sequence[str],
    holdings: Sequence[float],
    prices: Sequence[float],
    halt_reason: str | None,
) -> dict[str, Any]:
    """One book's entry of positions_state.json."""
    values = [q * p for q, p in zip(holdings, prices, strict=True)]
    total = cash + sum(values)
    return {
        "timestamp": ts.isoformat(),
        "cash": cash,
        "total_value": total,
        "initial_value": initial_cash,
        "halted": halt_reason is not None,
        "halt_reason": halt_reason,
        "positions": {
            s: {"qty": q, "price": p, "value": v, "weight": v / total if total else 0.0}
            for s, q, p, v in zip(symbols, holdings, prices, values, strict=True)
            if q != 0.0
        },
    }


def append_trades(state_dir: Path, trades: Sequence[dict[str, Any]]) -> None:
    """Appends fills to trades_history.json (read, extend, atomic replace)."""
    if not trades:
        return
    path = state_dir / TRADES_FILE
    history = json.loads(path.read_text()) if path.exists() else []
    history.extend(trades)
    _atomic_write(path, history)
