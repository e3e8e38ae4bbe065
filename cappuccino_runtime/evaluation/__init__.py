"""Honest evaluation of a hyperparameter search: CPCV paths, PBO by CSCV, PSR and DSR.

Pure numpy (and the standard library's NormalDist); no I/O. Recipes and sources:
../shared/reference/evaluation.md (Bailey, Borwein, López de Prado & Zhu 2017; Bailey &
López de Prado 2014; López de Prado 2018).
"""

from __future__ import annotations

from cappuccino_runtime.evaluation.paths import cpcv_paths, path_returns
from cappuccino_runtime.evaluation.pbo import PBOResult, pbo_cscv
from cappuccino_runtime.evaluation.sharpe import (
    EULER_GAMMA,
    SharpeMoments,
    deflated_sharpe,
    expected_max_sharpe,
    probabilistic_sharpe,
    sharpe_moments,
)

__all__ = [
    "EULER_GAMMA",
    "PBOResult",
    "SharpeMoments",
    "cpcv_paths",
    "deflated_sharpe",
    "expected_max_sharpe",
    "path_returns",
    "pbo_cscv",
    "probabilistic_sharpe",
    "sharpe_moments",
]
