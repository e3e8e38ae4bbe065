"""Checkpoint 7 (live health): pure thresholds on a trader's snapshot."""

from __future__ import annotations

from cappuccino_runtime.validation.live import LiveSnapshot, LiveThresholds, check_live_health

LIMITS = LiveThresholds(
    max_positions_age_s=600,
    max_log_age_s=600,
    require_log=True,
    max_error_rate=0.1,
    max_loss_rate=0.6,
)


def test_a_fresh_trader_with_few_errors_and_losses_is_healthy() -> None:
    snap = LiveSnapshot(
        subject="t",
        positions_age_s=30,
        log_age_s=5,
        cycles=100,
        errors=2,
        trades_closed=20,
        trades_lost=8,
    )
    results = check_live_health(snap, LIMITS)
    assert len(results) == 4
    assert all(r.passed for r in results)


def test_stale_positions_and_missing_logs_fail() -> None:
    results = check_live_health(LiveSnapshot(subject="t", positions_age_s=601), LIMITS)
    failed = [r for r in results if not r.passed]
    assert len(failed) == 2
    assert "stalled" in failed[0].message and failed[0].fix
    assert "no trader log" in failed[1].message


def test_error_and_loss_rates_over_their_limits_fail() -> None:
    snap = LiveSnapshot(
        subject="t",
        positions_age_s=1,
        log_age_s=1,
        cycles=10,
        errors=2,
        trades_closed=10,
        trades_lost=7,
    )
    failed = [r.message for r in check_live_health(snap, LIMITS) if not r.passed]
    assert len(failed) == 2
    assert "error rate 20.0%" in failed[0]
    assert "loss rate 70.0%" in failed[1]


def test_loss_rate_is_not_judged_on_too_few_trades() -> None:
    snap = LiveSnapshot(subject="t", positions_age_s=1, log_age_s=1, trades_closed=3, trades_lost=3)
    results = check_live_health(snap, LIMITS)
    assert all(r.passed for r in results)
    assert not any("loss rate" in r.message for r in results)


def test_the_log_check_is_skipped_when_the_trader_writes_no_log_files() -> None:
    lenient = LIMITS.model_copy(update={"require_log": False})
    results = check_live_health(LiveSnapshot(subject="t", positions_age_s=5), lenient)
    assert [r.passed for r in results] == [True]
