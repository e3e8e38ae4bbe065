"""The data-quality policy (docs/data.md), one rule per test, plus 'nothing silently dropped'."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cappuccino_runtime.data import clean_bars
from cappuccino_runtime.errors import DataQualityError
from tests.unit.data.helpers import hourly, raw_rows

FILE = "bars.csv"


def clean(rows, **kw):
    return clean_bars(raw_rows(rows), timeframe="1h", symbol="BTC/USD", file=FILE, **kw)


def test_clean_input_passes_unchanged_with_no_findings() -> None:
    rows = hourly("2021-01-01", 6)
    frame, issues = clean(rows)
    assert issues == []
    assert len(frame) == 6
    assert str(frame.index.tz) == "UTC"
    np.testing.assert_array_equal(frame["close"], [r[4] for r in rows])


def test_out_of_order_rows_are_sorted_and_reported_with_lines() -> None:
    rows = hourly("2021-01-01", 5)
    rows[1], rows[3] = rows[3], rows[1]
    frame, issues = clean(rows)
    assert frame.index.is_monotonic_increasing
    np.testing.assert_array_equal(frame["close"], [r[4] for r in hourly("2021-01-01", 5)])
    (issue,) = [i for i in issues if i.kind == "out_of_order"]
    assert issue.file == FILE and issue.symbol == "BTC/USD"
    assert issue.lines == [3, 4]  # rows that came after a later timestamp in the file


def test_exact_duplicates_keep_one_and_are_reported() -> None:
    rows = hourly("2021-01-01", 4)
    rows.insert(2, rows[1])
    frame, issues = clean(rows)
    assert len(frame) == 4
    (issue,) = issues
    assert issue.kind == "exact_duplicate" and issue.lines == [3] and issue.rows == [rows[1][0]]


def test_conflicting_duplicates_keep_the_largest_volume() -> None:
    rows = hourly("2021-01-01", 4)
    ts, o, h, low, c, _ = rows[2]
    complete = (ts, o, h + 3, low, c + 2, 999.0)
    rows.insert(2, complete)  # the complete bar comes first; the partial one (volume 12) later
    frame, issues = clean(rows)
    assert len(frame) == 4
    assert frame.loc[pd.Timestamp(ts), "volume"] == 999.0
    (issue,) = issues
    assert issue.kind == "conflicting_duplicate" and issue.lines == [4]


def test_a_conflicting_duplicate_spike_is_dropped_even_with_more_volume() -> None:
    rows = hourly("2021-01-01", 5)
    ts, o, h, low, c, v = rows[2]
    spike = (ts, o, h * 10, low, c * 10, v * 100)  # same bar, close 10x its neighbours
    rows.insert(3, spike)
    frame, issues = clean(rows)
    assert len(frame) == 5
    assert frame.loc[pd.Timestamp(ts), "close"] == c  # the plausible row is kept
    (issue,) = issues
    assert issue.kind == "conflicting_duplicate" and issue.lines == [4]


def test_replayed_values_become_a_filled_gap() -> None:
    rows = hourly("2021-01-01", 6)
    # Bars 04:00 and 05:00 repeat the OHLCV of 01:00 and 02:00 exactly (the CDD 2017-11-12 quirk).
    rows[4] = (rows[4][0], *rows[1][1:])
    rows[5] = (rows[5][0], *rows[2][1:])
    frame, issues = clean(rows)
    kinds = {i.kind: i for i in issues}
    assert kinds["replayed_values"].lines == [5, 6]
    assert kinds["gap_filled"].rows == [rows[4][0], rows[5][0]]
    # filled flat at the previous close (03:00), zero volume
    assert (frame.iloc[4:6][["open", "high", "low", "close"]].to_numpy() == rows[3][4]).all()
    assert (frame.iloc[4:6]["volume"] == 0).all()


def test_flat_zero_volume_bars_are_not_called_replays() -> None:
    rows = hourly("2021-01-01", 3)
    flat = rows[2][4]
    rows += [(ts, flat, flat, flat, flat, 0.0) for ts, *_ in hourly("2021-01-01 03:00", 3)]
    frame, issues = clean(rows)
    assert len(frame) == 6
    assert [i.kind for i in issues] == ["flat_zero_volume"]
    assert issues[0].count == 3 and issues[0].severity == "info"


def test_short_gaps_are_forward_filled_flat_and_reported() -> None:
    rows = hourly("2021-01-01", 10)
    del rows[3:5]
    frame, issues = clean(rows, max_gap_bars=2)
    assert len(frame) == 10
    (issue,) = issues
    assert issue.kind == "gap_filled" and issue.count == 2 and "1 gap" in issue.detail
    prev_close = rows[2][4]
    assert (frame.iloc[3:5][["open", "high", "low", "close"]] == prev_close).all().all()
    assert (frame.iloc[3:5]["volume"] == 0).all()


def test_long_gaps_raise_naming_symbol_file_and_range() -> None:
    rows = hourly("2021-01-01", 10)
    del rows[3:6]
    with pytest.raises(DataQualityError) as err:
        clean(rows, max_gap_bars=2)
    message = str(err.value)
    assert "BTC/USD" in message and FILE in message and "max_gap_bars=2" in message
    assert "2021-01-01T03:00:00+00:00 .. 2021-01-01T05:00:00+00:00 (3 bars)" in message


@pytest.mark.parametrize("bad", [0.0, -1.0, np.nan, np.inf])
@pytest.mark.parametrize("column", [1, 2, 3, 4])
def test_bad_prices_raise_naming_file_symbol_and_rows(bad: float, column: int) -> None:
    rows = [list(r) for r in hourly("2021-01-01", 5)]
    rows[2][column] = bad
    with pytest.raises(DataQualityError) as err:
        clean([tuple(r) for r in rows])
    message = str(err.value)
    assert "BTC/USD" in message and FILE in message
    assert "2021-01-01T02:00:00+00:00 (line 3)" in message


def test_negative_volume_raises() -> None:
    rows = [list(r) for r in hourly("2021-01-01", 5)]
    rows[1][5] = -3.0
    with pytest.raises(DataQualityError, match="volume"):
        clean([tuple(r) for r in rows])


def test_misaligned_rows_are_snapped_and_reported() -> None:
    rows = hourly("2021-01-01", 3) + [
        (ts.replace("00:00+00:00", "28:14.789000+00:00"), *vals)
        for ts, *vals in hourly("2021-01-01 03:00", 2, price=300.0)
    ]
    frame, issues = clean(rows)
    assert list(frame.index) == list(pd.date_range("2021-01-01", periods=5, freq="1h", tz="UTC"))
    (issue,) = issues
    assert issue.kind == "misaligned" and issue.lines == [4, 5]


def test_inconsistent_ohlc_is_kept_and_reported() -> None:
    rows = hourly("2021-01-01", 3)
    ts, o, _high, low, c, v = rows[1]
    rows[1] = (ts, o, o - 0.5, low, c, v)  # high below open
    frame, issues = clean(rows)
    assert frame.iloc[1]["high"] == o - 0.5
    assert [i.kind for i in issues] == ["ohlc_inconsistent"]


def test_empty_input_raises() -> None:
    with pytest.raises(DataQualityError, match="no bars"):
        clean([])


@st.composite
def messy_rows(draw):
    """Hourly bars with random deletions, duplicates (exact and conflicting) and shuffles."""
    n = draw(st.integers(3, 30))
    rows = hourly("2021-01-01", n)
    keep = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    keep[0] = keep[-1] = True
    rows = [r for r, k in zip(rows, keep, strict=True) if k]
    for _ in range(draw(st.integers(0, 4))):
        i = draw(st.integers(0, len(rows) - 1))
        ts, o, h, low, c, v = rows[i]
        conflicting = draw(st.booleans())
        rows.append((ts, o, h, low, c, v + 1000.0) if conflicting else rows[i])
    order = draw(st.permutations(range(len(rows))))
    return [rows[i] for i in order], n


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(messy_rows())
def test_nothing_is_dropped_or_added_silently(case) -> None:
    rows, _ = case
    frame, issues = clean(rows, max_gap_bars=30)
    raw = raw_rows(rows)
    # The output is a regular grid over the input's range.
    assert frame.index.is_monotonic_increasing and frame.index.is_unique
    assert frame.index[0] == raw["timestamp"].min() and frame.index[-1] == raw["timestamp"].max()
    # Every input row is either in the output unchanged, or named by a finding.
    reported_lines = {line for i in issues for line in i.lines}
    for _, row in raw.iterrows():
        kept = frame.loc[row["timestamp"]]
        same = all(kept[c] == row[c] for c in ("open", "high", "low", "close", "volume"))
        assert same or int(row["line"]) in reported_lines
    # Every output bar not in the input was reported as filled.
    filled = {r for i in issues if i.kind == "gap_filled" for r in i.rows}
    inputs = {t.isoformat() for t in raw["timestamp"]}
    assert {t.isoformat() for t in frame.index} - inputs == filled
