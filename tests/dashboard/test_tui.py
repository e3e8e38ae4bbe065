"""The terminal dashboard through Textual's pilot: the original's keys and each page's content."""

from __future__ import annotations

import asyncio
import html
from pathlib import Path

from cappuccino_runtime.dashboard import DashboardService, DashboardSources
from cappuccino_runtime.dashboard.tui import PAGES, DashboardApp
from cappuccino_runtime.settings import Settings
from tests.dashboard.world import DemoWorld

EXPECTED = {
    1: ["Data sources", "trading ledger", "demo", "local/ensemble", "stopped"],
    2: ["local/ensemble", "Positions", "BTC/USD", "avg entry", "buy-and-hold", "Recent trades"],
    3: ["local/arena", "Sharpe", "± SE", "local/arena/demo:"],
    4: ["demo", "demo-phase1", "COMPLETE 3", "per-split Sharpe", "importances"],
    5: ["Trade history", "fills", "cap-"],
    6: ["Performance", "local/ensemble", "trades/h", "Targets", "1-3"],
    7: ["demo", "PBO", "DSR", "Refit models"],
    9: ["Two-phase studies", "demo-phase1", "trial_id", "COMPLETE 3"],
}


def _run(app: DashboardApp, script) -> None:  # type: ignore[no-untyped-def]
    async def main() -> None:
        async with app.run_test(size=(180, 60)) as pilot:
            await script(pilot)

    asyncio.run(main())


def test_keys_and_every_page(demo_world: DemoWorld) -> None:
    service = DashboardService(DashboardSources.from_settings(demo_world.settings))
    app = DashboardApp(service, refresh_seconds=3600)
    seen: dict[int, str] = {}

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.pause()
        assert app.page == 1 and app.refreshes == 1
        for n in PAGES:  # number keys jump to each page
            await pilot.press(str(n))
            await pilot.pause()
            assert app.page == n
            seen[n] = app.page_text
            screen = html.unescape(app.export_screenshot()).replace("\xa0", " ")
            assert EXPECTED[n][0] in screen, f"page {n} is not on the screen"
        await pilot.press("1", "right")
        assert app.page == 2
        await pilot.press("left", "left")
        assert app.page == PAGES[-1]  # wraps around
        await pilot.press("r")
        await pilot.pause()
        assert app.refreshes == 2
        await pilot.press("q")

    _run(app, script)
    for n, words in EXPECTED.items():
        missing = [w for w in words if w not in seen[n]]
        assert not missing, f"page {n} lacks {missing}:\n{seen[n]}"


def test_auto_refresh_and_empty_home(tmp_path: Path) -> None:
    service = DashboardService(DashboardSources.from_settings(Settings.from_env(home=tmp_path)))
    app = DashboardApp(service, refresh_seconds=0.2)

    async def script(pilot) -> None:  # type: ignore[no-untyped-def]
        for _ in range(100):  # the 0.2 s interval refreshes by itself (a loaded machine is slow)
            if app.refreshes >= 3:
                break
            await pilot.pause(0.1)
        assert app.refreshes >= 3
        assert "no database file" in app.page_text
        for n in PAGES:
            await pilot.press(str(n))
            await pilot.pause()
            assert app.page_text  # every page renders with nothing to show
        await pilot.press("4")
        assert "no study yet" in app.page_text

    _run(app, script)
