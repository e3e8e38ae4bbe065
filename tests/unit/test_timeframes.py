"""One timeframe grammar: data loading (bar length) and metrics (annualisation) read it alike."""

from __future__ import annotations

from pathlib import Path

import pytest

from cappuccino_runtime.errors import ConfigError
from cappuccino_runtime.metrics import bars_per_year
from cappuccino_runtime.timeframes import canonical_timeframe, timeframe_delta
from cappuccino_runtime.training.config import Phase1Settings

_YEAR_SECONDS = 365 * 86400
# What the CLI's --timeframe and a training config's `timeframes` accept: the default search
# list and the other spellings the data layer understands.
_ACCEPTED = [
    *Phase1Settings().timeframes,
    "1m",
    "5m",
    "60m",
    "240m",
    "24h",
    "1Hour",
    "15Min",
    "1minute",
    "30T",
    "1D",
    "2day",
    " 4h ",
]


@pytest.mark.parametrize("timeframe", _ACCEPTED)
def test_every_accepted_timeframe_means_the_same_bar_length_to_data_and_metrics(
    timeframe: str,
) -> None:
    seconds = timeframe_delta(timeframe).total_seconds()
    assert bars_per_year(timeframe) == pytest.approx(_YEAR_SECONDS / seconds)
    canonical = canonical_timeframe(timeframe)
    assert bars_per_year(canonical) == bars_per_year(timeframe)
    assert timeframe_delta(canonical) == timeframe_delta(timeframe)


@pytest.mark.parametrize("bad", ["", "h", "0h", "-1h", "1x", "1.5h", "1w", "h1"])
def test_a_bad_timeframe_fails_alike_everywhere_with_one_clear_line(bad: str) -> None:
    messages = []
    for parse in (timeframe_delta, canonical_timeframe, bars_per_year):
        with pytest.raises(ConfigError) as info:
            parse(bad)
        messages.append(str(info.value))
    assert len(set(messages)) == 1
    (message,) = set(messages)
    assert "\n" not in message
    assert repr(bad) in message
    assert "'15m', '1h', '4h' or '1d'" in message


def test_the_cli_refuses_a_bad_timeframe_with_one_line_and_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from cappuccino_runtime.cli.main import main

    monkeypatch.setenv("CAPPUCCINO_HOME", str(tmp_path))
    argv = ["train", "--study", "s", "--n-trials", "1", "--timeframe", "1w", "--device", "cpu"]
    argv += ["--storage", f"sqlite:///{tmp_path / 'o.db'}"]
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("error: timeframe '1w' is not understood")
