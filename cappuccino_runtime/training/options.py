"""What `cappuccino train` and `cappuccino models refit` share: their common flags, their bars."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cappuccino_runtime.data import MarketData, load_market_data

__all__ = ["CommonOptions", "load_selected_market"]


@dataclass(frozen=True, kw_only=True)
class CommonOptions:
    """The flags both commands take (docs/CONTRACTS.md), after defaults."""

    storage: str | None = None
    artifact_root: str | None = None
    config: str | None = None
    data: str = "sample"
    symbols: Sequence[str] | None = None
    timeframe: str = "1h"
    start: str | None = None
    end: str | None = None
    seed: int = 0
    device: str | None = None


def load_selected_market(opts: CommonOptions, cache_dir: Path | None) -> MarketData:
    """Loads (or reads from `cache_dir`) the bars that --data/--symbols/--timeframe/--start/--end
    name."""
    return load_market_data(
        opts.data, opts.symbols, opts.timeframe, opts.start, opts.end, cache_dir=cache_dir
    )
