"""`cappuccino report --study S --out DIR`: one self-contained HTML file and PNGs of its charts."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from cappuccino_runtime.cli.main import main
from tests.dashboard.world import DemoWorld


def _cli(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    return int(exit_info.value.code or 0)


@pytest.mark.dashboard
def test_report_writes_html_and_pngs(demo_world: DemoWorld, tmp_path: Path) -> None:
    out = tmp_path / "report"
    home = str(demo_world.settings.home)
    assert _cli(["report", "--study", "demo", "--out", str(out), "--home", home]) == 0
    page = (out / "report.html").read_text()
    assert "Cappuccino report: study demo" in page
    assert "<script src=" not in page  # plotly.js is inlined: opens without a server
    for section in ("Training overview", "Two-phase training", "Overfitting", "Arena competition"):
        assert section in page
    assert page.count('class="chart"') >= 10
    images = sorted((out / "images").glob("*.png"))
    assert len(images) == page.count('class="chart"')
    assert {"4-best-value.png", "2-equity-local-ensemble.png", "3-ranking-local-arena.png"} <= {
        p.name for p in images
    }
    for path in images:
        image = Image.open(path).convert("RGB")
        assert image.size == (1100, 420)
        assert len(image.getcolors(maxcolors=1 << 20) or []) > 20, f"{path.name} is blank"


def test_report_of_a_missing_study_is_a_clear_error(
    demo_world: DemoWorld, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = str(demo_world.settings.home)
    code = _cli(["report", "--study", "nope", "--out", str(tmp_path / "r"), "--home", home])
    err = capsys.readouterr().err
    assert code == 2 and "study 'nope' is not in the Optuna storage" in err
    assert not (tmp_path / "r").exists()


def test_report_without_png(demo_world: DemoWorld, tmp_path: Path) -> None:
    home = str(demo_world.settings.home)
    out = tmp_path / "r"
    assert _cli(["report", "--study", "demo", "--out", str(out), "--home", home, "--no-png"]) == 0
    assert (out / "report.html").is_file() and not (out / "images").exists()
