"""Risk guards: each trips on a hand-built case, names itself and gives a reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cappuccino_contracts.risk import RiskSettings

from cappuccino_runtime.trading.guards import GuardKind, cap_targets, check_guards

NOW = datetime(2024, 3, 1, 12, tzinfo=UTC)
H = timedelta(hours=1)
FRESH = NOW - timedelta(minutes=1)


def test_all_clear() -> None:
    eq = [(NOW - 2 * H, 100.0), (NOW - H, 101.0), (NOW, 100.5)]
    status = check_guards(RiskSettings(), now=NOW, equity=eq, latest_bar_end=FRESH, trade_times=[])
    assert not status.halted and status.reason is None


def test_drawdown_kill_switch_latches() -> None:
    eq = [(NOW - 3 * H, 100.0), (NOW - 2 * H, 150.0), (NOW - H, 120.0), (NOW, 100.0)]
    cfg = RiskSettings(max_drawdown=0.30, max_loss_per_hour=0.9)
    status = check_guards(cfg, now=NOW, equity=eq, latest_bar_end=FRESH, trade_times=[])
    assert status.halted and status.latched and status.kind is GuardKind.DRAWDOWN
    assert "33.33%" in (status.reason or "")
    again = check_guards(
        cfg, now=NOW, equity=eq[:1], latest_bar_end=FRESH, trade_times=[], latched_reason="x"
    )
    assert again.halted and again.reason == "x"


def test_hourly_loss() -> None:
    eq = [(NOW - 2 * H, 100.0), (NOW - H, 100.0), (NOW, 94.0)]
    status = check_guards(
        RiskSettings(max_loss_per_hour=0.05),
        now=NOW,
        equity=eq,
        latest_bar_end=FRESH,
        trade_times=[],
    )
    assert status.kind is GuardKind.HOURLY_LOSS and not status.latched
    assert "6.00%" in (status.reason or "")
    ok = check_guards(
        RiskSettings(max_loss_per_hour=0.07),
        now=NOW,
        equity=eq,
        latest_bar_end=FRESH,
        trade_times=[],
    )
    assert not ok.halted


def test_stale_data() -> None:
    cfg = RiskSettings(stale_data_seconds=600)
    stale = check_guards(
        cfg, now=NOW, equity=[], latest_bar_end=NOW - 11 * 60 * timedelta(seconds=1), trade_times=[]
    )
    assert stale.kind is GuardKind.STALE_DATA
    assert check_guards(cfg, now=NOW, equity=[], latest_bar_end=None, trade_times=[]).halted
    assert not check_guards(
        cfg, now=NOW, equity=[], latest_bar_end=NOW - 9 * timedelta(minutes=1), trade_times=[]
    ).halted


def test_trade_rate() -> None:
    cfg = RiskSettings(max_trades_per_hour=3)
    old = [NOW - 2 * H] * 10
    recent = [NOW - timedelta(minutes=m) for m in (1, 2, 3)]
    assert not check_guards(
        cfg, now=NOW, equity=[], latest_bar_end=FRESH, trade_times=old + recent[:2]
    ).halted
    status = check_guards(cfg, now=NOW, equity=[], latest_bar_end=FRESH, trade_times=old + recent)
    assert status.kind is GuardKind.TRADE_RATE


def test_position_cap() -> None:
    assert cap_targets([0.7, 0.2, 0.05], 0.25) == [0.25, 0.2, 0.05]
