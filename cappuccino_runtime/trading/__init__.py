"""Trading domain: policies (single model, ensemble vote, arena), brokers, guards, the trader loop.

Public entry points are re-exported here as they land; see docs/trading.md.
"""

from __future__ import annotations
