"""Forecasting: long frames, resampling, the LightGBM quantile forecaster, the seasonal naive
fallback, backtests and metrics, the model store and the accuracy feedback loop."""

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
