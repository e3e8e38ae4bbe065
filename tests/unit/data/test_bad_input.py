"""Bad input gets a clear error, never a traceback, a hang or a silent wrong answer.

A fuzz-style sweep over the bar-file loaders and the model readers (random and truncated bytes,
crafted pickles) asserts a clean error class and bounded time and memory per input; the other
tests cover one input class each (file names, study names, URLs, ports, times, manifests, the
SQLite ledger's first migration and lock, oversized weights).
"""

from __future__ import annotations

import io
import json
import os
import pickle
import random
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
import pytest
from cappuccino_contracts.naming import check_study_name

from cappuccino_runtime.data.alpaca import AlpacaDataConfig, redact_url
from cappuccino_runtime.data.files import read_bytes, symbol_from_filename
from cappuccino_runtime.errors import (
    ArtifactError,
    ConfigError,
    DataQualityError,
    PortfolioLocked,
)
from cappuccino_runtime.validation.safe_pickle import UnverifiablePickle, read_trial_pickle

TIME_LIMIT_S = 10.0  # a hang detector, not a benchmark
MEMORY_LIMIT = 256 * 1024 * 1024


def _bounded(fn: Callable[[], Any], allowed: tuple[type[BaseException], ...]) -> None:
    """Runs fn: it returns or raises one of `allowed`, within the time and memory bounds."""
    tracemalloc.start()
    started = time.monotonic()
    try:
        fn()
    except allowed:
        pass
    finally:
        elapsed = time.monotonic() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert elapsed < TIME_LIMIT_S, f"took {elapsed:.1f} s"
    assert peak < MEMORY_LIMIT, f"peaked at {peak / 2**20:.0f} MiB"


def _bars(n: int = 200) -> pd.DataFrame:
    ts = pd.date_range("2020-01-01", periods=n, freq="1h", tz="UTC")
    close = 100 + np.cumsum(np.random.default_rng(0).normal(size=n))
    return pd.DataFrame(
        {
            "timestamp": ts,
            "open": close,
            "high": close + 1,
            "low": close - 1,
            "close": close,
            "volume": np.ones(n),
        }
    )


def _valid_files() -> dict[str, bytes]:
    frame = _bars()
    csv = frame.to_csv(index=False).encode()
    parquet = io.BytesIO()
    frame.to_parquet(parquet)
    rows = [
        [int(t.timestamp() * 1000), o, h, lo, c, v]
        for t, o, h, lo, c, v in frame.itertuples(index=False)
    ]
    return {
        "BTC_USD.csv": csv,
        "BTC_USD.parquet": parquet.getvalue(),
        "BTC_USD-1h.json": json.dumps(rows).encode(),
    }


@pytest.mark.parametrize("name", ["BTC_USD.csv", "BTC_USD.parquet", "BTC_USD-1h.json"])
def test_fuzz_bar_loaders_give_clean_errors_on_random_and_truncated_bytes(name: str) -> None:
    rng = random.Random(hash(name) & 0xFFFF)
    valid = _valid_files()[name]
    samples = [rng.randbytes(rng.randint(0, 4096)) for _ in range(40)]
    samples += [valid[: rng.randint(0, len(valid))] for _ in range(40)]
    samples += [bytes(b ^ 0xFF if rng.random() < 0.01 else b for b in valid) for _ in range(10)]
    for data in samples:
        _bounded(lambda data=data: read_bytes(data, name), (ConfigError, DataQualityError))


def test_a_loader_error_is_one_line_naming_the_file() -> None:
    with pytest.raises(DataQualityError) as caught:
        read_bytes(b"\x00\x01garbage\xff" * 50, "BTC_USD.parquet")
    message = str(caught.value)
    assert "\n" not in message and "BTC_USD.parquet" in message and "truncated" in message


def test_a_file_name_that_is_not_a_symbol_is_refused() -> None:
    with pytest.raises(ConfigError, match="does not name a symbol"):
        symbol_from_filename("prices_hourly.csv")
    assert symbol_from_filename("Coinbase_BTCUSD_1h.csv") == "BTC/USD"


def _trial_pickle(params: dict[str, Any]) -> bytes:
    trial = optuna.trial.create_trial(
        value=1.0,
        params={"lr": 0.01},
        distributions={"lr": optuna.distributions.FloatDistribution(1e-4, 1.0)},
    )
    trial._params = params  # what a crafted file can hold
    return pickle.dumps(trial)


def _laughs(levels: int) -> list[Any]:
    value: list[Any] = [1]
    for _ in range(levels):
        value = [value, value]  # pickled with memo references: tiny file, 2**levels leaves
    return value


def _deep(levels: int) -> bytes:
    """A pickle of `levels` nested lists written opcode by opcode (pickle.dumps would recurse)."""
    return b"\x80\x04" + b"]" * levels + b"a" * (levels - 1) + b"."


def test_fuzz_the_pickle_reader_is_bounded_on_crafted_random_and_truncated_files() -> None:
    rng = random.Random(3)
    valid = _trial_pickle({"lr": 0.01})
    cyclic: list[Any] = [1]
    cyclic.append(cyclic)
    crafted = [
        _trial_pickle({"x": _laughs(40)}),  # the old reader walked 2**40 nodes
        _trial_pickle({"x": cyclic}),
        _deep(100_000),
        b"\x80\x04" + b"(" * 10_000 + b".",  # marks nested without end
        b"\x80\x04\x95" + b"\xff" * 8 + b".",  # a frame claiming 2**64 bytes
        b"\x80\x04N" * 300_000,
    ]
    assert len(crafted[0]) < 2_000
    samples = crafted + [valid[: rng.randint(0, len(valid))] for _ in range(60)]
    samples += [rng.randbytes(rng.randint(0, 2048)) for _ in range(60)]
    for data in samples:
        _bounded(lambda data=data: read_trial_pickle(data), (UnverifiablePickle,))
    assert read_trial_pickle(valid).params == {"lr": 0.01}


def test_a_deeply_nested_trial_pickle_reports_a_reason() -> None:
    nested: list[Any] = [1]
    for _ in range(100):
        nested = [nested]
    with pytest.raises(UnverifiablePickle, match="nest deeper than 64 levels"):
        read_trial_pickle(_trial_pickle({"x": nested}))


def test_fuzz_the_weights_reader_refuses_random_bytes() -> None:
    from cappuccino_contracts.artifacts import ModelSpec

    from cappuccino_runtime.agent.networks import load_actor

    spec = ModelSpec(
        symbols=["BTC/USD"], timeframe="1h", lookback=2, feature_set="minimal", obs_dim=8,
        action_dim=1, net_dimension=8,
    )  # fmt: skip
    rng = random.Random(5)
    for _ in range(20):
        data = rng.randbytes(rng.randint(0, 4096))
        _bounded(lambda data=data: load_actor(data, spec, None, what="fuzz"), (ArtifactError,))


def test_an_oversized_actor_is_refused_from_its_size_without_reading_it(tmp_path: Path) -> None:
    import fsspec

    from cappuccino_runtime.validation.files import file_sha256

    fs = fsspec.filesystem("file")
    (tmp_path / "actor.pth").touch()
    os.truncate(tmp_path / "actor.pth", 3 * 1024**3)  # a sparse 3 GiB file
    tracemalloc.start()
    with pytest.raises(ArtifactError, match=r"over the .* limit"):
        file_sha256(fs, str(tmp_path), "actor.pth")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 16 * 1024 * 1024
    os.truncate(tmp_path / "actor.pth", 5 * 1024 * 1024)
    digest = file_sha256(fs, str(tmp_path), "actor.pth")  # streamed in chunks
    import hashlib

    assert digest == hashlib.sha256(b"\0" * (5 * 1024 * 1024)).hexdigest()


@pytest.mark.parametrize("name", ["../escape", "/etc", "a/b", "..", "", "x" * 200, "ok/../.."])
def test_study_names_that_leave_the_root_are_refused(name: str, tmp_path: Path) -> None:
    from cappuccino_runtime.artifacts import ArtifactStore

    with pytest.raises(ConfigError, match="study name"):
        check_study_name(name)
    with pytest.raises(ConfigError, match="study name"):
        ArtifactStore(str(tmp_path)).trial_path(name, 0, "1h")
    assert check_study_name("demo-1.v2_x") == "demo-1.v2_x"


@pytest.mark.parametrize(
    "url",
    ["bogus://x", "postgresql+psycopg://u:secret@host:notaport/db", "not a url at all"],
)
def test_bad_ledger_urls_are_config_errors_without_the_password(url: str) -> None:
    from cappuccino_runtime.persistence import make_engine

    with pytest.raises(ConfigError) as caught:
        make_engine(url)
    assert "secret" not in str(caught.value)


def test_credentials_in_the_data_url_are_redacted() -> None:
    url = "https://user:hunter22@data.example.com/v1"
    assert redact_url(url) == "https://***@data.example.com/v1"
    assert "hunter22" not in AlpacaDataConfig(url=url).label


def test_replay_times_without_a_zone_are_utc_and_garbage_is_refused() -> None:
    from cappuccino_runtime.trading.runner import utc_timestamp

    assert utc_timestamp("2019-05-20", "--replay-start") == pd.Timestamp("2019-05-20", tz="UTC")
    with pytest.raises(ConfigError, match="--replay-start 'soon' is not a time"):
        utc_timestamp("soon", "--replay-start")


def test_bad_metrics_ports_are_config_errors() -> None:
    import socket

    from cappuccino_runtime.trading.ops import TraderMetrics
    from cappuccino_runtime.trading.runner import _serve

    with pytest.raises(ConfigError, match="not a TCP port"):
        _serve(TraderMetrics(), 70_000)
    taken = socket.socket()
    taken.bind(("0.0.0.0", 0))
    taken.listen()
    try:
        with pytest.raises(ConfigError, match="cannot be served"):
            _serve(TraderMetrics(), taken.getsockname()[1])
    finally:
        taken.close()


def test_manifests_refuse_infinite_cash_and_typo_keys(tmp_path: Path) -> None:
    from cappuccino_contracts.manifests import EnsembleManifest

    base = {
        "study_name": "s", "model_count": 1, "trial_numbers": [0], "trial_ids": [1],
        "trial_values": [0.1], "sha256": ["a" * 64], "model_paths": ["s/trial_0_1h"],
        "source_dirs": ["s/trial_0_1h"], "created_by": "test",
    }  # fmt: skip
    EnsembleManifest.model_validate(base)
    with pytest.raises(ValueError, match="finite"):
        EnsembleManifest.model_validate({**base, "initial_cash": float("inf")})
    with pytest.raises(ValueError, match="poll_intervall_seconds"):
        EnsembleManifest.model_validate({**base, "poll_intervall_seconds": 5})


def test_a_failed_first_migration_leaves_no_half_schema(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from alembic import op
    from sqlalchemy import inspect

    from cappuccino_runtime.persistence import make_engine, upgrade

    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    real = op.create_table
    calls = {"n": 0}

    def dying(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 4:  # portfolios, positions, orders exist by now
            raise KeyboardInterrupt("killed during the first migration")
        return real(*args, **kwargs)

    monkeypatch.setattr(op, "create_table", dying)
    engine = make_engine(url)
    with pytest.raises(KeyboardInterrupt):
        upgrade(engine)
    assert inspect(engine).get_table_names() == []
    monkeypatch.setattr(op, "create_table", real)
    upgrade(engine)  # the restart migrates cleanly
    assert "orders" in inspect(engine).get_table_names()
    engine.dispose()


def test_the_sqlite_lock_holds_through_a_symlink(tmp_path: Path) -> None:
    from cappuccino_runtime.persistence import PortfolioLock, make_engine

    real = tmp_path / "real" / "ledger.db"
    real.parent.mkdir()
    real.touch()
    link = tmp_path / "link.db"
    link.symlink_to(real)
    first = make_engine(f"sqlite:///{real}")
    second = make_engine(f"sqlite:///{link}")
    with PortfolioLock(first, "local/x"), pytest.raises(PortfolioLocked):
        PortfolioLock(second, "local/x").acquire()


def test_the_cli_boundary_user_errors_are_one_line_exit_2_and_bugs_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from cappuccino_runtime.cli import main as cli

    def raising(exc: BaseException) -> Callable[..., None]:
        def app(*_a: Any, **_k: Any) -> None:
            raise exc

        return app

    cases = [
        (ConfigError("the thing is wrong; fix it like so."), 2),
        (DataQualityError("file.csv: bad rows."), 2),
        (PortfolioLocked("book held."), 1),
    ]
    for exc, code in cases:
        monkeypatch.setattr(cli, "app", raising(exc))
        with pytest.raises(SystemExit) as caught:
            cli.main([])
        assert caught.value.code == code
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err
    from sqlalchemy.exc import ArgumentError

    monkeypatch.setattr(cli, "app", raising(ArgumentError("Could not parse URL from string")))
    with pytest.raises(SystemExit) as caught:
        cli.main([])
    assert caught.value.code == 2 and "Traceback" not in capsys.readouterr().err
    monkeypatch.setattr(cli, "app", raising(RuntimeError("an internal invariant broke")))
    with pytest.raises(SystemExit) as caught:
        cli.main([])
    err = capsys.readouterr().err
    assert caught.value.code == 1 and "Traceback" in err and "Please report it" in err


def test_a_missing_artifact_root_is_an_error_not_another_directory(tmp_path: Path) -> None:
    from cappuccino_runtime.validation.files import check_artifact_root
    from cappuccino_runtime.validation.runner import resolve_entry_dir

    with pytest.raises(ConfigError, match="'/nonexistent' is not a directory"):
        check_artifact_root("/nonexistent")
    with pytest.raises(ConfigError, match="not a directory"):
        resolve_entry_dir(tmp_path / "m.json", "model_0", "s/trial_0_1h", "/nonexistent")
    assert check_artifact_root(str(tmp_path)) == str(tmp_path)
    assert check_artifact_root("s3://bucket/root") == "s3://bucket/root"  # not probed
