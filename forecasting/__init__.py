"""Forecasting: long frames, resampling, the LightGBM quantile forecaster, the seasonal naive
fallback, backtests and metrics, the model store and the accuracy feedback loop; and each
cycle's forecast: demand series (``demand``), the grid and model cache (``grid``, ``cache``),
the near-term and look-ahead models with their fallbacks (``run``, ``serve``).

Names are imported lazily so ``headroom --help`` does not pay for polars/numpy imports.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from forecasting.backtest import BacktestResult, backtest, rolling_origins, split_last
    from forecasting.base import Forecaster
    from forecasting.baseline import SeasonalNaive
    from forecasting.feedback import (
        AccuracyStore,
        AccuracyTracker,
        InMemoryAccuracyStore,
        ModelChoice,
        ParquetAccuracyStore,
        RetrainDecision,
    )
    from forecasting.frames import FrameError, quantile_column, validate_long
    from forecasting.lgbm import LightGBMForecaster, NotFittedError
    from forecasting.metrics import Evaluation, coverage, evaluate, mase, pinball, scaled_pinball
    from forecasting.persist import ModelLoadError
    from forecasting.resample import ResampleResult, resample
    from forecasting.store import ArtifactInfo, LoadOutcome, ModelStore

_HOMES = {
    "forecasting.backtest": ("BacktestResult", "backtest", "rolling_origins", "split_last"),
    "forecasting.base": ("Forecaster",),
    "forecasting.baseline": ("SeasonalNaive",),
    "forecasting.feedback": (
        "AccuracyStore",
        "AccuracyTracker",
        "InMemoryAccuracyStore",
        "ModelChoice",
        "ParquetAccuracyStore",
        "RetrainDecision",
    ),
    "forecasting.frames": ("FrameError", "quantile_column", "validate_long"),
    "forecasting.lgbm": ("LightGBMForecaster", "NotFittedError"),
    "forecasting.metrics": (
        "Evaluation",
        "coverage",
        "evaluate",
        "mase",
        "pinball",
        "scaled_pinball",
    ),
    "forecasting.persist": ("ModelLoadError",),
    "forecasting.resample": ("ResampleResult", "resample"),
    "forecasting.store": ("ArtifactInfo", "LoadOutcome", "ModelStore"),
}
_WHERE = {name: module for module, names in _HOMES.items() for name in names}

__all__ = [
    "AccuracyStore",
    "AccuracyTracker",
    "ArtifactInfo",
    "BacktestResult",
    "Evaluation",
    "Forecaster",
    "FrameError",
    "InMemoryAccuracyStore",
    "LightGBMForecaster",
    "LoadOutcome",
    "ModelChoice",
    "ModelLoadError",
    "ModelStore",
    "NotFittedError",
    "ParquetAccuracyStore",
    "ResampleResult",
    "RetrainDecision",
    "SeasonalNaive",
    "backtest",
    "coverage",
    "evaluate",
    "mase",
    "pinball",
    "quantile_column",
    "resample",
    "rolling_origins",
    "scaled_pinball",
    "split_last",
    "validate_long",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'forecasting' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
