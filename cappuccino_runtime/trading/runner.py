"""Builds and runs a trader from a deployment manifest and CLI options (the CLI is a thin adapter).

- `trade`: an ensemble manifest -> ONE book, `--portfolio-id` (default `local/<deploy dir>`),
  all models voting; on Alpaca its orders route to the paper account and positions are read
  back after fills.
- `arena`: an arena config -> one book per member, `<arena_id>/<study_name>:<trial_id>` with
  arena_id = `--portfolio-id` (default `local/<arena_name>`); on Alpaca every member book is
  filled locally at Alpaca's prices and a promoted member gets a separate routed book
  `<member>/routed` whose orders go to the account (trading/routing.py); on replay every
  member book routes.
Every book, routed books included, is locked (persistence.PortfolioLock) for the life of the
process.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from cappuccino_contracts.manifests import ArenaConfig, EnsembleManifest, Manifest
from cappuccino_contracts.naming import LOCAL_NAMESPACE, member_portfolio_id, portfolio_id
from sqlalchemy import Engine

from cappuccino_runtime.errors import ConfigError
from cappuccino_runtime.persistence import PortfolioLock, SqlLedger, make_engine, upgrade
from cappuccino_runtime.settings import Settings
from cappuccino_runtime.trading.brokers.base import Broker
from cappuccino_runtime.trading.brokers.replay import ReplayBroker
from cappuccino_runtime.trading.ensemble import EnsembleRule
from cappuccino_runtime.trading.observation import history_bars
from cappuccino_runtime.trading.ops import TraderMetrics, serve_ops
from cappuccino_runtime.trading.policy import ModelBank, ModelSlot
from cappuccino_runtime.trading.routing import routed_portfolio_id
from cappuccino_runtime.trading.trader import BookPlan, Trader, TraderConfig

__all__ = [
    "ReplayOptions",
    "RunOptions",
    "load_bank",
    "run_deployment",
    "trader_config",
    "utc_timestamp",
]

log = logging.getLogger("cappuccino.trader")


@dataclass(frozen=True)
class ReplayOptions:
    """Where a replay's bars come from and which period it replays."""

    data: str = "sample"
    start: str | None = None
    end: str | None = None
    seconds_per_bar: float = 0.0


@dataclass(frozen=True)
class RunOptions:
    """`cappuccino trade|arena` options (docs/CONTRACTS.md, docs/trading.md)."""

    kind: Literal["ensemble", "arena"]
    manifest: Path
    broker: Literal["alpaca", "replay"]
    ledger_url: str | None = None
    poll_interval: float | None = None  # None: the manifest's, else 60 s
    metrics_port: int | None = None
    state_dir: Path | None = None
    portfolio_id: str | None = None
    artifacts: str | None = None
    replay: ReplayOptions = ReplayOptions()
    max_polls: int | None = None


def load_bank(manifest: Path, artifacts: str | None) -> tuple[Manifest, ModelBank]:
    """The manifest and its models, identity and checksums verified by the deploy loader."""
    from cappuccino_contracts.manifests import read_manifest

    from cappuccino_runtime.deploy.loader import load_deployed_models

    loaded = load_deployed_models(manifest, artifacts)
    slots = [ModelSlot(m.study_name, m.trial_id, m.sha256, m.spec, m.actor) for m in loaded]
    return read_manifest(manifest), ModelBank(slots)


DEFAULT_POLL_SECONDS = 60.0


def trader_config(opts: RunOptions, manifest: Manifest) -> TraderConfig:
    """The TraderConfig in effect: CLI flags, else the manifest's frozen settings, else defaults."""
    kw: dict[str, Any] = {}
    if manifest.initial_cash is not None:
        kw["initial_cash"] = manifest.initial_cash
    if manifest.risk is not None:
        kw["risk"] = manifest.risk
    if isinstance(manifest, ArenaConfig):
        if manifest.ranking_window_seconds is not None:
            kw["ranking_window_hours"] = manifest.ranking_window_seconds / 3600.0
        if manifest.promote_top is not None:
            kw["top_k"] = manifest.promote_top
    elif manifest.voting is not None:
        kw["rule"] = (
            EnsembleRule.MEAN_ACTION if manifest.voting.rule == "mean" else EnsembleRule.MAJORITY
        )
        if manifest.voting.dead_band is not None:
            kw["vote_dead_band"] = manifest.voting.dead_band
    poll = opts.poll_interval or manifest.poll_interval_seconds or DEFAULT_POLL_SECONDS
    return TraderConfig(
        poll_seconds=poll,
        route="promoted" if opts.kind == "arena" and opts.broker == "alpaca" else "all",
        read_back_positions=opts.kind == "ensemble" and opts.broker == "alpaca",
        max_polls=opts.max_polls,
        **kw,
    )


def _check_kind(opts: RunOptions, manifest: Manifest) -> None:
    want = ArenaConfig if opts.kind == "arena" else EnsembleManifest
    if not isinstance(manifest, want):
        cmd = (
            "cappuccino arena --config"
            if opts.kind == "ensemble"
            else "cappuccino trade --manifest"
        )
        raise ConfigError(
            f"{opts.manifest} is an {manifest.kind} manifest, not an {opts.kind} one; "
            f"run it with `{cmd}`."
        )


def _check_market(manifest: Manifest, bank: ModelBank) -> None:
    """The manifest's symbols/timeframe must be the ones its models were trained on."""
    if manifest.symbols is not None and list(manifest.symbols) != list(bank.symbols):
        raise ConfigError(
            f"manifest symbols {manifest.symbols} differ from the models' {list(bank.symbols)}; "
            "set symbols to the study's (or leave them out) and re-freeze the manifest."
        )
    if manifest.timeframe is not None and manifest.timeframe != bank.timeframe:
        raise ConfigError(
            f"manifest timeframe {manifest.timeframe!r} differs from the models' "
            f"{bank.timeframe!r}; re-freeze the manifest from the study."
        )


def _books(kind: str, manifest: object, bank: ModelBank, root_id: str) -> list[BookPlan]:
    if kind == "ensemble":
        return [BookPlan(root_id, tuple(range(len(bank.slots))))]
    return [
        BookPlan(
            member_portfolio_id(root_id, s.study_name, s.trial_id), (i,), s.study_name, s.trial_id
        )
        for i, s in enumerate(bank.slots)
    ]


def _replay_broker(
    bank: ModelBank, opts: RunOptions, settings: Settings, slippage_bps: float
) -> ReplayBroker:
    from cappuccino_runtime.data import load_market_data

    data = load_market_data(
        opts.replay.data,
        list(bank.symbols),
        bank.timeframe,
        None,
        utc_timestamp(opts.replay.end, "--replay-end") if opts.replay.end else None,
        settings.data_cache,
    )
    need = max(history_bars(s.spec) for s in bank.slots)
    first = need - 1
    if opts.replay.start is not None:
        start = utc_timestamp(opts.replay.start, "--replay-start")
        first = max(first, int(data.index.searchsorted(start)))
    else:
        first = max(first, data.n_bars - 24 * 30)  # the last 30 days of hourly bars
    if first >= data.n_bars - 1:
        raise ConfigError(
            f"the replay data ({data.n_bars} {bank.timeframe} bars up to "
            f"{data.index[-1].isoformat()}) has no bar to trade after {opts.replay.start}."
        )
    return ReplayBroker(
        data,
        start=first,
        fee_rate=bank.slots[0].spec.fee_rate,
        slippage=bank.slots[0].spec.execution.slippage,  # the model's frozen rule (contract 4)
        seconds_per_bar=opts.replay.seconds_per_bar,
        journal=(opts.state_dir / "replay_broker.jsonl") if opts.state_dir else None,
    )


def utc_timestamp(value: str, flag: str) -> pd.Timestamp:
    """An ISO time from a flag; without a zone it is taken as UTC (the system's only zone)."""
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError) as e:
        raise ConfigError(
            f"{flag} {value!r} is not a time; give ISO-8601 such as 2019-05-20 or "
            "2019-05-20T12:00:00Z (UTC)."
        ) from e
    if ts is pd.NaT:
        raise ConfigError(f"{flag} {value!r} is not a time; give ISO-8601 such as 2019-05-20.")
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _serve(metrics: TraderMetrics, port: int) -> Any:
    if not 1 <= port <= 65535:
        raise ConfigError(f"--metrics-port {port} is not a TCP port; use 1-65535 (e.g. 8000).")
    try:
        return serve_ops(metrics, port)
    except OSError as e:
        raise ConfigError(
            f"--metrics-port {port} cannot be served ({e.strerror or e}); pick a free port."
        ) from e


def _alpaca_broker(bank: ModelBank) -> Broker:
    import os

    from cappuccino_runtime.trading.brokers.alpaca import AlpacaBroker
    from cappuccino_runtime.trading.credentials import AlpacaCredentials

    return AlpacaBroker(
        AlpacaCredentials.from_env(),
        symbols=bank.symbols,
        fee_rate=bank.slots[0].spec.fee_rate,
        trading_url=os.environ.get("ALPACA_TRADING_URL") or None,
        data_url=os.environ.get("ALPACA_DATA_URL") or None,
    )


@contextlib.contextmanager
def _locks(engine: Engine, ids: list[str]) -> Iterator[None]:
    with contextlib.ExitStack() as stack:
        for pid in ids:
            stack.enter_context(PortfolioLock(engine, pid))
        yield


def run_deployment(opts: RunOptions, settings: Settings | None = None) -> Trader:
    """Loads the models, locks the books, reconciles and polls until done (replay) or forever."""
    import torch

    # One decision per poll is a few small matmuls: one intra-op thread never stalls on a
    # thread barrier when the pod's CPU is shared (see benchmarks/ensemble_latency.py).
    torch.set_num_threads(1)
    settings = settings or Settings.from_env(ledger_url=opts.ledger_url)
    manifest, bank = load_bank(opts.manifest, opts.artifacts)
    _check_kind(opts, manifest)
    _check_market(manifest, bank)
    config = trader_config(opts, manifest)
    name = getattr(manifest, "arena_name", None) or opts.manifest.resolve().parent.name
    root_id = opts.portfolio_id or manifest.portfolio_id or portfolio_id(LOCAL_NAMESPACE, name)
    books = _books(opts.kind, manifest, bank, root_id)
    broker = (
        _replay_broker(bank, opts, settings, config.slippage_bps)
        if opts.broker == "replay"
        else _alpaca_broker(bank)
    )
    engine = make_engine(settings.ledger_url)
    upgrade(engine)
    metrics = TraderMetrics()
    server = _serve(metrics, opts.metrics_port) if opts.metrics_port is not None else None
    try:
        ids = [b.portfolio_id for b in books]
        if opts.kind == "arena" and config.route == "promoted":
            ids += [routed_portfolio_id(pid) for pid in list(ids)]
        with _locks(engine, ids):
            trader = Trader(
                bank,
                books,
                broker,
                SqlLedger(engine),
                config,
                arena_id=root_id if opts.kind == "arena" else None,
                state_dir=opts.state_dir,
                metrics=metrics,
            )
            polls = trader.run()
            log.info("trader stopped", extra={"polls": polls, "books": len(books)})
            return trader
    finally:
        if server is not None:
            server.shutdown()
        engine.dispose()
