"""Two-phase helpers: study names, centre values, usable timeframes, phase spaces."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cappuccino_runtime.data import MarketData
from cappuccino_runtime.errors import ConfigError
from cappuccino_runtime.training.config import parse_config
from cappuccino_runtime.training.search_space import CategoricalParam, FloatParam, IntParam
from cappuccino_runtime.training.two_phase import (
    Phase1Winner,
    centre_value,
    phase1_space,
    phase2_space,
    study_name_for,
    usable_timeframes,
)

CONFIG = {"env": {"episode_length": 48}}


def _market(n_bars: int, timeframe: str = "1h") -> MarketData:
    close = 100.0 * np.exp(np.cumsum(np.full((n_bars, 2), 0.001), axis=0))
    return MarketData(
        index=pd.date_range("2020-01-01", periods=n_bars, freq=pd.Timedelta(timeframe), tz="UTC"),
        symbols=("A/USD", "B/USD"),
        timeframe=timeframe,
        open=close,
        high=close,
        low=close,
        close=close,
        volume=np.ones((n_bars, 2)),
    )


def test_study_names() -> None:
    assert study_name_for("s", "phase1") == "s-phase1"
    assert study_name_for("s", "phase2") == "s"
    assert study_name_for("s", "full") == "s"
    with pytest.raises(ConfigError, match="phase3"):
        study_name_for("s", "phase3")  # type: ignore[arg-type]


def test_centre_values() -> None:
    assert centre_value(FloatParam(low=1e-5, high=1e-3, log=True)) == pytest.approx(1e-4)
    assert centre_value(FloatParam(low=0.1, high=0.3)) == pytest.approx(0.2)
    assert centre_value(IntParam(low=1024, high=1536, step=64)) == 1280
    assert centre_value(IntParam(low=4, high=9)) in (6, 7)
    assert centre_value(CategoricalParam(choices=[2048, 4096])) == 2048


def test_only_coarser_timeframes_with_enough_bars_are_searched() -> None:
    config = parse_config(CONFIG)
    kept, dropped = usable_timeframes(_market(24 * 365), config)  # a year of 1h bars
    assert kept == ["1h", "4h"]
    assert "aggregated" in dropped["15m"] and "aggregated" in dropped["30m"]
    # at 1d the slowest feature set's support (187 bars) plus the embargo after each test
    # group (another 194 bars) leave nothing of a year
    assert "1d" in dropped
    # 120 days: the embargo covering the feature support leaves no room at 4h either
    kept, dropped = usable_timeframes(_market(24 * 120), config)
    assert kept == ["1h"]
    assert "4h" in dropped


def test_phase1_episode_length_and_gamma_are_calendar_time() -> None:
    from cappuccino_runtime.training.config import resolve_trial
    from cappuccino_runtime.training.two_phase import calendar_horizons

    config = parse_config({"env": {"episode_length": 96}})
    params = {"timeframe": "4h", "lookback": 5, "gamma": 0.99}
    setup = resolve_trial(params, config, timeframe="1h", seed=0, device="cpu")
    scaled = calendar_horizons(setup, "1h")
    assert scaled.env.episode_length == 24  # 96 hours either way
    assert scaled.ppo.gamma == pytest.approx(0.99**4)  # same discount per hour
    same = resolve_trial(
        {**params, "timeframe": "1h"}, config, timeframe="1h", seed=0, device="cpu"
    )
    assert calendar_horizons(same, "1h") == same


def test_phase1_space_fixes_ppo_and_searches_the_market_view() -> None:
    config = parse_config({**CONFIG, "phase1": {"fixed": {"gamma": 0.97}}})
    space, notes = phase1_space(_market(24 * 365), config)
    assert space["timeframe"] == CategoricalParam(choices=["1h", "4h"])
    assert (
        isinstance(space["feature_set"], CategoricalParam)
        and len(space["feature_set"].choices) >= 2
    )
    assert space["lookback"] == IntParam(low=4, high=6)
    assert space["gamma"] == CategoricalParam(choices=[0.97])
    assert space["batch_size"] == CategoricalParam(choices=[1024])  # the first default choice
    assert any("15m" in n for n in notes)


def test_phase1_with_no_usable_timeframe_says_why() -> None:
    config = parse_config({"phase1": {"timeframes": ["15m"]}})
    with pytest.raises(ConfigError, match=r"no usable timeframe.*15m"):
        phase1_space(_market(24 * 120), config)


def test_phase1_fixed_rejects_unknown_names() -> None:
    config = parse_config({**CONFIG, "phase1": {"fixed": {"gama": 0.9}}})
    with pytest.raises(ConfigError, match="gama"):
        phase1_space(_market(24 * 120), config)


def test_phase2_fixes_the_winner_and_keeps_ppo_ranges() -> None:
    winner = Phase1Winner(
        study_name="s-phase1",
        trial_id=3,
        number=2,
        value=1.0,
        params={"timeframe": "4h", "lookback": 6, "feature_set": "minimal"},
    )
    space = phase2_space(parse_config({}), winner)
    assert space["timeframe"] == CategoricalParam(choices=["4h"])
    assert space["lookback"] == CategoricalParam(choices=[6])
    assert space["feature_set"] == CategoricalParam(choices=["minimal"])
    assert space["learning_rate"] == FloatParam(low=1e-5, high=1e-3, log=True)
