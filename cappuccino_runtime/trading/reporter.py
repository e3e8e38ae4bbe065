"""The reporter: what the trader shows (TRADE: lines, metrics, liveness, state files).

One job, no decisions: it is told about fills, fees and each poll's books and writes them out.
positions_state.json is rewritten atomically each poll; trades_history.json is appended to,
never rewritten (state_files.append_trades), and at start-up every fill the ledger has but the
file lacks (a kill between the ledger commit and the append) is appended, so the file never
misses a trade.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from cappuccino_runtime.persistence.ledger import (
    Book,
    FeeRecord,
    FillRecord,
    Ledger,
    OrderRecord,
    OrderSide,
)
from cappuccino_runtime.trading.ops import TraderMetrics
from cappuccino_runtime.trading.state_files import (
    append_trades,
    book_state,
    recorded_fill_ids,
    write_positions_state,
)

__all__ = ["Reporter", "trade_entry"]

log = logging.getLogger("cappuccino.trader")


def trade_entry(order: OrderRecord, fill: FillRecord) -> dict[str, Any]:
    """One trades_history.json entry (docs: ../shared/reference/original-formats.md)."""
    base = order.symbol.split("/")[0]
    return {
        "timestamp": fill.ts.isoformat(),
        "portfolio_id": order.portfolio_id,
        "ticker": order.symbol,
        "symbol": order.symbol,
        "side": order.side.value,
        "quantity": fill.qty,
        "qty": fill.qty,
        "price": fill.price,
        "notional": fill.qty * fill.price,
        "fee": fill.fee,
        "fee_currency": base if order.side is OrderSide.BUY else "USD",
        "client_order_id": order.client_order_id,
        "fill_id": fill.fill_key,
    }


class Reporter:
    """Writes TRADE: lines, metrics and the state files of one deployment's books."""

    def __init__(
        self, metrics: TraderMetrics, state_dir: Path | None, symbols: Sequence[str]
    ) -> None:
        self.metrics = metrics
        self.state_dir = state_dir
        self.symbols = list(symbols)
        self._cost: dict[tuple[str, str], tuple[float, float]] = {}  # (pid, symbol): units, cost

    def _track(self, order: OrderRecord, fill: FillRecord) -> None:
        """Average-cost bookkeeping for avg_entry (buys add notional, sells remove it pro rata)."""
        key = (order.portfolio_id, order.symbol)
        units, cost = self._cost.get(key, (0.0, 0.0))
        if order.side is OrderSide.BUY:
            units, cost = units + fill.qty - fill.fee, cost + fill.qty * fill.price
        elif units > 0:
            kept = max(0.0, 1.0 - fill.qty / units)
            units, cost = units - fill.qty, cost * kept
        self._cost[key] = (max(units, 0.0), cost if units > 1e-15 else 0.0)

    def avg_entry(self, portfolio_id: str, symbol: str, held: float) -> float | None:
        """Average cost per unit of the units held, None when unknown or flat."""
        units, cost = self._cost.get((portfolio_id, symbol), (0.0, 0.0))
        if held <= 0 or units <= 0 or cost <= 0:
            return None
        return cost / units

    def catch_up(self, ledger: Ledger, portfolio_ids: Sequence[str]) -> int:
        """At start-up (once): rebuilds the cost basis from the ledger's fills and appends the
        fills trades_history.json lacks; returns how many were appended."""
        have = recorded_fill_ids(self.state_dir) if self.state_dir is not None else set()
        missing: list[dict[str, Any]] = []
        for pid in portfolio_ids:
            orders: dict[str, OrderRecord] = {}
            for fill in ledger.fills(pid):
                order = orders.get(fill.client_order_id) or ledger.get_order(fill.client_order_id)
                if order is None:
                    continue
                orders[fill.client_order_id] = order
                self._track(order, fill)
                if fill.fill_key not in have:
                    missing.append(trade_entry(order, fill))
        if self.state_dir is None:
            return 0
        append_trades(self.state_dir, missing)
        if missing:
            log.info("trades_history.json caught up with the ledger", extra={"added": len(missing)})
        return len(missing)

    def fill(self, order: OrderRecord, fill: FillRecord) -> None:
        """A fill was recorded in the ledger: log it, count it, append it to the file."""
        fee_note = f"fee {fill.fee:.8f}" if fill.fee else "fee posted later"
        log.info(
            f"TRADE: {order.side.value.upper()} {fill.qty:.8f} {order.symbol} @ {fill.price:.2f} "
            f"{fee_note} book {order.portfolio_id} id {order.client_order_id}",
            extra={"portfolio_id": order.portfolio_id, "client_order_id": order.client_order_id},
        )
        self.metrics.trades.labels(order.portfolio_id).inc()
        self._track(order, fill)
        if self.state_dir is not None:
            append_trades(self.state_dir, [trade_entry(order, fill)])

    def fee(self, fee: FeeRecord) -> None:
        log.info(
            f"FEE: {fee.amount:.8f} {fee.asset} book {fee.portfolio_id}",
            extra={"portfolio_id": fee.portfolio_id, "fee_key": fee.fee_key},
        )

    def poll(
        self,
        bar_end: datetime,
        close: Sequence[float],
        books: Sequence[tuple[Book, float, str | None]],
    ) -> None:
        """Metrics and positions_state.json for (book, equity peak, halt reason) at bar_end."""
        states: dict[str, dict[str, Any]] = {}
        for book, peak, halted in books:
            pid = book.portfolio_id
            holdings = [book.positions.get(s, 0.0) for s in self.symbols]
            equity = book.cash + sum(q * p for q, p in zip(holdings, close, strict=True))
            peak = max(peak, equity)
            self.metrics.equity.labels(pid).set(equity)
            self.metrics.returns.labels(pid).set(equity / book.initial_cash - 1.0)
            self.metrics.drawdown.labels(pid).set(1.0 - equity / peak if peak > 0 else 0.0)
            self.metrics.halted.labels(pid).set(1.0 if halted else 0.0)
            entries = [
                self.avg_entry(pid, s, q) for s, q in zip(self.symbols, holdings, strict=True)
            ]
            states[pid] = book_state(
                bar_end,
                book.cash,
                book.initial_cash,
                self.symbols,
                holdings,
                list(close),
                halted,
                avg_entry=entries,
                portfolio_id=pid,
            )
        self.metrics.last_poll.set(bar_end.timestamp())
        if self.state_dir is not None:
            write_positions_state(self.state_dir, states)
