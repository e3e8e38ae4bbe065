"""kopf handlers, thin: parse spec -> pure builders -> idempotent apply -> status patch.

Importing this package registers every handler with kopf's default registry.
"""

from __future__ import annotations

from cappuccino_operator.handlers import startup, study, sweep, traders

startup.drop_timer_finalizers()

__all__ = ["startup", "study", "sweep", "traders"]
