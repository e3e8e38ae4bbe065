"""The dashboard: one page model (pages.py, computed by build.py from the Optuna storage, the
trading ledger, the deployment manifests and, in a cluster, the custom resources), rendered by
the web dashboard (web.py), the terminal dashboard (tui.py) and `cappuccino report`.
See docs/dashboard.md."""

from __future__ import annotations

from cappuccino_runtime.dashboard.build import DashboardService, DashboardSources
from cappuccino_runtime.dashboard.pages import PAGE_TITLES, Dashboard

__all__ = ["PAGE_TITLES", "Dashboard", "DashboardService", "DashboardSources"]
