"""Restart safety: a replay arena crashed at 10 random points ends exactly like an uninterrupted run.

Crashes are injected deterministically at the trader's checkpoints ("decided": snapshot and
intents written, nothing sent; "submitted": the broker has the order, the ledger has no fill;
"filled": the fill is recorded, the order's status is not). Each restart builds everything anew
from disk: a new engine on the same SQLite ledger and a replay broker reloaded from its journal
(the broker outlives the trader, as Alpaca would).
"""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path

import pytest
from cappuccino_contracts.risk import RiskSettings

from cappuccino_runtime.persistence import SqlLedger, open_sql_ledger
from cappuccino_runtime.trading.brokers.replay import ReplayBroker
from cappuccino_runtime.trading.policy import ModelBank
from cappuccino_runtime.trading.trader import BookPlan, Trader, TraderConfig
from tests.integration.trading.conftest import make_slot, sample

START, STOP = 1100, 1160
BOOKS = [BookPlan(f"local/arena/s:{i}", (i,), "s", i) for i in range(3)]
CONFIG = TraderConfig(
    dead_band=0.0,
    route="all",  # every book routes to the (replay) broker; a book's venue never changes
    top_k=1,
    ranking_window_hours=24,
    risk=RiskSettings(max_drawdown=1.0, max_loss_per_hour=1.0, max_trades_per_hour=1000),
)


class Crash(Exception):
    """A simulated kill at a checkpoint."""


def _run(tmp: Path, url: str, data, slots, crash_at: set[int]) -> tuple[SqlLedger, int]:  # type: ignore[no-untyped-def]
    counter = {"n": 0}

    def checkpoint(label: str) -> None:
        counter["n"] += 1
        if counter["n"] in crash_at:
            raise Crash(f"{label} #{counter['n']}")

    crashes = 0
    while True:
        ledger = open_sql_ledger(url)
        broker = ReplayBroker(
            data, start=START, fee_rate=0.0025, slippage=5e-4, journal=tmp / "broker.jsonl"
        )
        trader = Trader(
            ModelBank(slots),
            BOOKS,
            broker,
            ledger,
            CONFIG,
            arena_id="local/arena",
            checkpoint=checkpoint,
        )
        try:
            trader.run()
            return ledger, crashes
        except Crash:
            crashes += 1
            ledger.engine.dispose()


def _state(ledger: SqlLedger) -> dict[str, object]:
    out: dict[str, object] = {}
    for plan in BOOKS:
        pid = plan.portfolio_id

        # each run's books get their own random token (book identity), hence their own ids:
        # compare the ids without the book hash
        def bare(cid: str) -> str:
            return cid.split("-", 2)[2]

        out[pid] = {
            "book": dataclasses.replace(ledger.book(pid), token=""),
            "orders": [
                (bare(o.client_order_id), o.status, o.filled_qty) for o in ledger.orders(pid)
            ],
            "fills": [
                dataclasses.replace(
                    f, client_order_id=bare(f.client_order_id), fill_key=bare(f.fill_key)
                )
                for f in ledger.fills(pid)
            ],
            "snapshots": ledger.snapshots(pid),
        }
    out["ranking"] = ledger.latest_ranking("local/arena")
    return out


@pytest.mark.slow
@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_ten_random_crashes_end_like_an_uninterrupted_run(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    def url(name: str) -> str:
        if backend == "sqlite":
            return f"sqlite:///{tmp_path / name / 'ledger.db'}"
        return request.getfixturevalue("postgres_server").create_database()

    data = sample(STOP)
    slots = [make_slot(data, seed=i) for i in range(3)]
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    clean, _ = _run(tmp_path / "a", url("a"), data, slots, set())
    n_checkpoints = sum(1 for _ in clean.orders(BOOKS[0].portfolio_id)) * 3 + (STOP - START) * 3
    rng = random.Random(7)
    crash_at = set(rng.sample(range(1, n_checkpoints), 10))
    crashed, crashes = _run(tmp_path / "b", url("b"), data, slots, crash_at)
    assert crashes == 10
    expected, got = _state(clean), _state(crashed)
    assert got == expected
    fills = sum(len(v["fills"]) for k, v in expected.items() if k != "ranking")  # type: ignore[index, arg-type]
    assert fills > 30
    journal = [
        json.loads(line)["client_order_id"]
        for line in (tmp_path / "b" / "broker.jsonl").read_text().splitlines()
    ]
    assert len(journal) == len(set(journal)) > 0  # no client_order_id was ever sent twice
    clean.engine.dispose()
    crashed.engine.dispose()
