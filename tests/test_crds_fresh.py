"""crds/ must be exactly what `python -m cappuccino_operator.crdgen` writes from the models."""

from __future__ import annotations

from pathlib import Path

from cappuccino_operator.crdgen import GENERATED_HEADER, render_all

CRDS = Path(__file__).resolve().parents[1] / "crds"


def test_crds_match_the_pydantic_models() -> None:
    rendered = render_all()
    on_disk = {
        p.name: p.read_text()
        for p in CRDS.glob("*.yaml")
        if p.read_text().startswith(GENERATED_HEADER)
    }
    stale = sorted(n for n in rendered if on_disk.get(n) != rendered[n])
    extra = sorted(set(on_disk) - set(rendered))
    assert not stale and not extra, (
        f"crds/ is stale (differs: {stale}, no longer generated: {extra}); "
        "run `python -m cappuccino_operator.crdgen` and commit crds/."
    )
