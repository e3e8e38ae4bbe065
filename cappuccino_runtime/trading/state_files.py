"""positions_state.json and trades_history.json: the original trader's files, kept for tools.

positions_state.json is written atomically (temp file + rename) after every poll, in the
original's format (../shared/reference/original-formats.md), one portfolio per file, plus a few
fields of ours:
    {"portfolio_value": float, "cash": float,
     "positions": [{"ticker": "BTC/USD", "quantity": float, "avg_entry": float | null,
                    "current_price": float, "position_value": float, "pnl_pct": float | null,
                    "weight": float}, ...],
     "timestamp": ISO-8601 UTC,
     "portfolio_id": str, "initial_value": float, "halted": bool, "halt_reason": str | null}
One book (an ensemble): `<state dir>/positions_state.json` is that object. Several books (an
arena): one file per book in `<state dir>/books/<portfolio id, '/' -> '__'>/`, and the top-level
file maps portfolio_id -> the same object (what `cappuccino validate --state-dir` reads).
`avg_entry` is the average cost of the units held (fills' notional, sells removing cost in
proportion); `pnl_pct` = (current_price / avg_entry - 1) x 100.
trades_history.json (a JSON list, oldest first, one entry per fill; the original's fields
ticker/quantity plus ours):
    [{"timestamp": ISO-8601 UTC, "portfolio_id": str, "ticker": "BTC/USD", "symbol": "BTC/USD",
      "side": "buy"|"sell", "quantity": float, "qty": float, "price": float, "notional": float,
      "fee": float, "fee_currency": "BTC"|"USD", "client_order_id": str, "fill_id": str}]
It is appended to in place (the closing `]` is overwritten by `,` + the new entries + `]`), never
read and rewritten whole; a torn tail left by a kill is repaired on the next append.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from cappuccino_runtime.atomic import write_atomic

__all__ = [
    "append_trades",
    "book_dir_name",
    "book_state",
    "recorded_fill_ids",
    "write_positions_state",
]

POSITIONS_FILE = "positions_state.json"
TRADES_FILE = "trades_history.json"


def _json(payload: Any) -> bytes:
    return json.dumps(payload, indent=2).encode()


def book_dir_name(portfolio_id: str) -> str:
    """A book's directory name under `books/`: the portfolio id with '/' replaced by '__'."""
    return portfolio_id.replace("/", "__")


def write_positions_state(state_dir: Path, books: dict[str, dict[str, Any]]) -> None:
    """Writes positions_state.json for the given books (layout in the module docstring)."""
    if len(books) == 1:
        write_atomic(state_dir / POSITIONS_FILE, _json(next(iter(books.values()))))
        return
    for pid, entry in books.items():
        write_atomic(state_dir / "books" / book_dir_name(pid) / POSITIONS_FILE, _json(entry))
    write_atomic(state_dir / POSITIONS_FILE, _json(books))


def book_state(
    ts: datetime,
    cash: float,
    initial_cash: float,
    symbols: Sequence[str],
    holdings: Sequence[float],
    prices: Sequence[float],
    halt_reason: str | None,
    avg_entry: Sequence[float | None] | None = None,
    portfolio_id: str = "",
) -> dict[str, Any]:
    """One book's positions_state.json object (the original's fields first)."""
    values = [q * p for q, p in zip(holdings, prices, strict=True)]
    total = cash + sum(values)
    entries = avg_entry if avg_entry is not None else [None] * len(symbols)
    positions = []
    for s, q, p, v, entry in zip(symbols, holdings, prices, values, entries, strict=True):
        if q == 0.0:
            continue
        positions.append(
            {
                "ticker": s,
                "quantity": q,
                "avg_entry": entry,
                "current_price": p,
                "position_value": v,
                "pnl_pct": (p / entry - 1.0) * 100.0 if entry else None,
                "weight": v / total if total else 0.0,
            }
        )
    return {
        "portfolio_value": total,
        "cash": cash,
        "positions": positions,
        "timestamp": ts.isoformat(),
        "portfolio_id": portfolio_id,
        "initial_value": initial_cash,
        "halted": halt_reason is not None,
        "halt_reason": halt_reason,
    }


def append_trades(state_dir: Path, trades: Sequence[dict[str, Any]]) -> None:
    """Appends fills to trades_history.json in place (see the module docstring)."""
    if not trades:
        return
    path = state_dir / TRADES_FILE
    body = ",\n".join(json.dumps(t) for t in trades)
    if not path.exists() or path.stat().st_size == 0:
        write_atomic(path, f"[\n{body}\n]\n".encode())
        return
    with path.open("r+b") as f:
        end = _closing_bracket(f)
        if end is None:  # not a list we wrote (or torn beyond repair): keep it, start anew
            f.close()
            path.replace(path.with_name(path.name + ".corrupt"))
            write_atomic(path, f"[\n{body}\n]\n".encode())
            return
        f.seek(end)
        empty = _is_empty_list(f, end)
        f.write(((body if empty else ",\n" + body) + "\n]\n").encode())
        f.truncate()
        f.flush()
        os.fsync(f.fileno())


def recorded_fill_ids(state_dir: Path) -> set[str]:
    """The fill_ids already in trades_history.json (read once, at start-up)."""
    path = state_dir / TRADES_FILE
    if not path.exists():
        return set()
    try:
        rows = json.loads(path.read_text() or "[]")
    except ValueError:
        return set()
    return {str(r["fill_id"]) for r in rows if isinstance(r, dict) and "fill_id" in r}


def _closing_bracket(f: Any) -> int | None:
    """Offset of the list's closing `]`; a tail torn after the last full entry is cut back."""
    size = f.seek(0, os.SEEK_END)
    chunk = min(size, 1 << 16)
    f.seek(size - chunk)
    tail = f.read(chunk)
    stripped = tail.rstrip()
    if stripped.endswith(b"]"):
        return size - chunk + len(stripped) - 1
    last = tail.rfind(b"}")  # torn: an append died mid-entry; keep entries up to the last `}`
    while last >= 0:
        candidate = size - chunk + last + 1
        f.seek(0)
        head = f.read(candidate)
        try:
            json.loads(head + b"\n]")
        except ValueError:
            last = tail.rfind(b"}", 0, last)
            continue
        f.seek(candidate)
        f.write(b"\n]")
        f.truncate()
        return candidate + 1
    return None


def _is_empty_list(f: Any, end: int) -> bool:
    f.seek(0)
    head = f.read(end).strip()
    f.seek(end)
    return head == b"["
