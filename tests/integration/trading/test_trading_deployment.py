"""End to end on real deployments: `cappuccino arena|trade --broker replay`, locks, ops, demo."""

from __future__ import annotations

import dataclasses
import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from rich.console import Console

from cappuccino_runtime.cli.main import main
from cappuccino_runtime.persistence import PortfolioLock, make_engine, open_sql_ledger, upgrade
from cappuccino_runtime.trading.demo import demo_stage
from cappuccino_runtime.trading.ops import TraderMetrics, serve_ops
from tests.integration.trading.conftest import sample
from tests.integration.trading.deployment import deploy_study


def _cli(argv: list[str]) -> int:
    """Runs the real console entry point in-process; returns its exit code."""
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    return int(exit_info.value.code or 0)


REPLAY = ["--replay-start", "2017-08-20T00:00:00Z", "--replay-end", "2017-08-22T00:00:00Z"]


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("deploy")
    return deploy_study(root, sample(1200))


def test_arena_cli_replays_ranks_and_writes_state_files(
    deployed: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    arena_config, _ = deployed
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    argv = [
        "arena",
        "--config",
        str(arena_config),
        "--broker",
        "replay",
        "--ledger-url",
        url,
        "--state-dir",
        str(tmp_path / "state"),
        *REPLAY,
    ]
    assert _cli(argv) == 0
    ledger = open_sql_ledger(url)
    ranking = ledger.latest_ranking("local/arena")
    assert len(ranking) == 4 and [r.rank for r in ranking] == [1, 2, 3, 4]
    # honest promotion: only after a week of bars and with PSR >= 0.95, never more than 3
    assert sum(r.promoted for r in ranking) <= 3
    assert all((r.n_returns or 0) >= 167 and (r.psr or 0) >= 0.95 for r in ranking if r.promoted)
    assert all(r.sharpe_se is not None for r in ranking if r.sharpe is not None)
    assert all(r.portfolio_id.startswith("local/arena/demo:") for r in ranking)
    orders = {r.portfolio_id: len(ledger.orders(r.portfolio_id)) for r in ranking}
    assert sum(orders.values()) > 0
    state = json.loads((tmp_path / "state" / "positions_state.json").read_text())
    assert set(state) == {r.portfolio_id for r in ranking}
    trades = json.loads((tmp_path / "state" / "trades_history.json").read_text())
    assert len(trades) == sum(len(ledger.fills(r.portfolio_id)) for r in ranking)
    assert "TRADE: " in capsys.readouterr().err  # structured JSON lines carrying TRADE: messages
    # a second run over the same period finds every bar decided: nothing new is ordered
    assert _cli(argv) == 0
    assert {r.portfolio_id: len(ledger.orders(r.portfolio_id)) for r in ranking} == orders
    ledger.engine.dispose()


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_trade_cli_refuses_a_locked_book(
    deployed: tuple[Path, Path], tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    _, manifest = deployed
    url = (
        f"sqlite:///{tmp_path / 'ledger.db'}"
        if backend == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    engine = make_engine(url)
    upgrade(engine)
    argv = ["trade", "--manifest", str(manifest), "--broker", "replay", "--ledger-url", url,
            "--portfolio-id", "local/ens", *REPLAY]  # fmt: skip
    with PortfolioLock(engine, "local/ens"):
        assert _cli(argv) == 1  # another process trades this book: refuse, exit 1
    assert open_sql_ledger(url).snapshots("local/ens") == []
    assert _cli(argv) == 0
    ledger = open_sql_ledger(url)
    # bars [start, end): 48 bars = 47 decisions (each fills at the next open) + the final mark
    assert len(ledger.snapshots("local/ens")) == 48
    assert ledger.orders("local/ens")
    engine.dispose()


def test_ops_endpoints() -> None:
    metrics = TraderMetrics()
    metrics.equity.labels("local/x").set(123.5)
    server = serve_ops(metrics, 0, host="127.0.0.1")
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        assert urllib.request.urlopen(f"{base}/healthz").status == 200
        with pytest.raises(urllib.error.HTTPError) as not_ready:
            urllib.request.urlopen(f"{base}/readyz")
        assert not_ready.value.code == 503
        metrics.ready.set()
        assert urllib.request.urlopen(f"{base}/readyz").status == 200
        body = urllib.request.urlopen(f"{base}/metrics").read().decode()
        assert 'cappuccino_equity{portfolio_id="local/x"} 123.5' in body
    finally:
        server.shutdown()


def test_demo_stage_prints_arena_ensemble_and_buy_and_hold(deployed: tuple[Path, Path]) -> None:
    arena_config, manifest = deployed
    console = Console(record=True, width=140)
    result = demo_stage(
        arena_config.parent, manifest.parent, sample(1200).slice(900, 1100), console
    )
    text = console.export_text()
    assert "ensemble (vote)" in text and "buy-and-hold" in text and "arena demo:" in text
    assert len(result.arena) == 4 and sum(r.promoted for r in result.arena) <= 3
    assert result.bars > 50


def _ledger_state(url: str, arena_id: str) -> dict[str, object]:
    ledger = open_sql_ledger(url)
    ranking = ledger.latest_ranking(arena_id)
    out: dict[str, object] = {"ranking": ranking}
    for r in ranking:
        # every ledger gives its books their own random token: compare ids without it
        def bare(cid: str) -> str:
            return cid.split("-", 2)[2]

        out[r.portfolio_id] = (
            dataclasses.replace(ledger.book(r.portfolio_id), token=""),
            [
                (bare(o.client_order_id), o.status, o.filled_qty)
                for o in ledger.orders(r.portfolio_id)
            ],
            [
                dataclasses.replace(
                    f, client_order_id=bare(f.client_order_id), fill_key=bare(f.fill_key)
                )
                for f in ledger.fills(r.portfolio_id)
            ],
            ledger.snapshots(r.portfolio_id),
        )
    ledger.engine.dispose()
    return out


@pytest.mark.slow
def test_sigkilled_arena_process_resumes_to_the_same_ledger(
    deployed: tuple[Path, Path], tmp_path: Path
) -> None:
    """Real processes killed with SIGKILL mid-run, restarted, end like an uninterrupted run."""
    import random
    import subprocess
    import sys
    import time

    arena_config, _ = deployed
    common = ["arena", "--config", str(arena_config), "--broker", "replay", *REPLAY]
    clean_url = f"sqlite:///{tmp_path / 'clean.db'}"
    assert _cli([*common, "--ledger-url", clean_url, "--state-dir", str(tmp_path / "clean")]) == 0

    url = f"sqlite:///{tmp_path / 'killed.db'}"
    state = tmp_path / "killed"
    argv = [sys.executable, "-m", "cappuccino_runtime.cli.main", *common, "--ledger-url", url,
            "--state-dir", str(state), "--replay-seconds-per-bar", "0.05"]  # fmt: skip
    rng = random.Random(11)
    kills = 0
    for _ in range(3):
        (state / "positions_state.json").unlink(missing_ok=True)  # reappears after a poll
        proc = subprocess.Popen(argv, stderr=subprocess.DEVNULL, cwd=Path(__file__).parents[3])
        deadline = time.monotonic() + 120
        while not (state / "positions_state.json").exists() and proc.poll() is None:
            assert time.monotonic() < deadline, "the trader never finished a poll"
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 0.8))
        if proc.poll() is None:
            proc.kill()  # SIGKILL: no cleanup, no flush, locks released by the kernel
            kills += 1
        proc.wait(timeout=60)
    final = subprocess.run(argv, stderr=subprocess.DEVNULL, cwd=Path(__file__).parents[3])
    assert final.returncode == 0
    assert kills >= 2
    assert _ledger_state(url, "local/arena") == _ledger_state(clean_url, "local/arena")
    journal = [
        json.loads(line)["client_order_id"]
        for line in (state / "replay_broker.jsonl").read_text().splitlines()
    ]
    assert len(journal) == len(set(journal)) > 0


def test_trade_cli_on_alpaca_reads_keys_from_a_secret_dir_and_halts_without_fresh_bars(
    deployed: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`cappuccino trade --broker alpaca` against the fake, whose newest bar is from 2019: no
    bar of the last days exists, so the poll halts on stale data, trades nothing, keeps the
    process alive and says why; the secret never reaches the logs."""
    from tests.support.fake_alpaca import FakeAlpaca, serve_app

    _, manifest = deployed
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "key_id").write_text("kid")
    (secret / "secret_key").write_text("do-not-log-me")
    fake = FakeAlpaca(data=sample(1200))
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    with serve_app(fake.app()) as base:
        monkeypatch.setenv("ALPACA_TRADING_URL", base)
        monkeypatch.setenv("ALPACA_DATA_URL", base)
        monkeypatch.setenv("ALPACA_CREDENTIALS_DIR", str(secret))
        code = _cli(["trade", "--manifest", str(manifest), "--broker", "alpaca",
                     "--ledger-url", url, "--max-polls", "1"])  # fmt: skip
    assert code == 0
    assert fake.post_requests == 0
    assert open_sql_ledger(url).orders("local/ensemble") == []
    err = capsys.readouterr().err
    assert "Not trading on stale data" in err
    assert "do-not-log-me" not in err
