"""Brokers behind one interface: ReplayBroker (history) and AlpacaBroker (paper, alpaca-py)."""

from __future__ import annotations

from cappuccino_runtime.trading.brokers.base import AssetRules, Broker, BrokerOrder, OrderRequest
from cappuccino_runtime.trading.brokers.replay import ReplayBroker

__all__ = ["AssetRules", "Broker", "BrokerOrder", "OrderRequest", "ReplayBroker"]
