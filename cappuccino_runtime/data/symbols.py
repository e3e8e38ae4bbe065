"""Symbol spelling: everything becomes Alpaca's "BASE/QUOTE" form ("BTC/USD")."""

from __future__ import annotations

import re
from collections.abc import Sequence

from cappuccino_runtime.errors import ConfigError

__all__ = ["KNOWN_QUOTES", "normalize_symbol", "normalize_symbols"]

KNOWN_QUOTES: tuple[str, ...] = ("USDT", "USDC", "BUSD", "USD", "EUR", "GBP", "DAI", "BTC", "ETH")


def normalize_symbol(symbol: str) -> str:
    """'BTC/USD', 'BTC_USDT', 'btc-usd' and 'BTCUSD' become 'BTC/USD' / 'BTC/USDT'."""
    text = str(symbol).strip().upper()
    parts = [p for p in re.split(r"[/_\-: ]", text) if p]
    if len(parts) == 2 and all(p.isalnum() for p in parts):
        return f"{parts[0]}/{parts[1]}"
    if len(parts) == 1 and parts[0].isalnum():
        for quote in KNOWN_QUOTES:
            if parts[0].endswith(quote) and len(parts[0]) > len(quote):
                return f"{parts[0][: -len(quote)]}/{quote}"
    raise ConfigError(
        f"symbol {symbol!r} is not understood; write it as BASE/QUOTE, for example 'BTC/USD'."
    )


def normalize_symbols(symbols: Sequence[str] | str | None) -> tuple[str, ...] | None:
    """A list of symbols, or one comma-separated string ("BTC/USD,ETH/USD"), normalised.

    None or empty means "every symbol of the source". Repeats raise ConfigError.
    """
    if symbols is None:
        return None
    items = symbols.split(",") if isinstance(symbols, str) else list(symbols)
    chosen = tuple(normalize_symbol(s) for s in items if str(s).strip())
    if len(set(chosen)) != len(chosen):
        raise ConfigError(f"symbols {list(chosen)} name the same symbol twice; list each once.")
    return chosen or None
