"""Checkpoint 7 on a state directory written by the trader's own state_files module."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cappuccino_runtime.trading.state_files import book_state, write_positions_state
from cappuccino_runtime.validation import LiveThresholds, check_live_health, read_state_dir

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def _write(state_dir: Path, stamps: list[datetime]) -> None:
    books = {
        f"local/arena/alpha:{i}": book_state(
            ts, 9_000.0, 10_000.0, ["BTC/USD"], [0.01], [100_000.0], None
        )
        for i, ts in enumerate(stamps)
    }
    write_positions_state(state_dir, books)


def test_fresh_books_pass_and_one_stale_book_fails(tmp_path: Path) -> None:
    limits = LiveThresholds(max_positions_age_s=3600)
    _write(tmp_path, [T0, T0 - timedelta(minutes=5)])
    snap = read_state_dir(tmp_path, now=T0 + timedelta(minutes=10), subject="arena")
    assert snap.positions_age_s == 15 * 60
    assert all(r.passed for r in check_live_health(snap, limits))
    _write(tmp_path, [T0, T0 - timedelta(hours=2)])
    snap = read_state_dir(tmp_path, now=T0 + timedelta(minutes=10), subject="arena")
    failed = [r for r in check_live_health(snap, limits) if not r.passed]
    assert len(failed) == 1 and "stalled" in failed[0].message


def test_log_files_are_aged_by_mtime_and_a_missing_state_fails(tmp_path: Path) -> None:
    log = tmp_path / "trader.log"
    log.write_text("{}\n")
    stamp = (T0 - timedelta(hours=3)).timestamp()
    os.utime(log, (stamp, stamp))
    snap = read_state_dir(tmp_path, now=T0)
    assert snap.log_age_s == 3 * 3600
    results = check_live_health(snap, LiveThresholds(max_log_age_s=3600))
    messages = [r.message for r in results if not r.passed]
    assert any("no positions_state.json" in m for m in messages)
    assert any("trader log is 10800 s old" in m for m in messages)
