"""Forecasting: long frames, resampling, the LightGBM quantile forecaster, the seasonal naive
fallback, backtests and metrics, the model store and the accuracy feedback loop."""

from forecasting.backtest import BacktestResult, backtest, rolling_origins, split_last
from forecasting.base import Forecaster
from forecasting.baseline import SeasonalNaive
from forecasting.frames import FrameError, quantile_column, validate_long
from forecasting.lgbm import LightGBMForecaster, NotFittedError
from forecasting.metrics import Evaluation, coverage, evaluate, mase, pinball, scaled_pinball
from forecasting.persist import ModelLoadError
from forecasting.resample import ResampleResult, resample

__all__ = [
    "BacktestResult",
    "Evaluation",
    "Forecaster",
    "FrameError",
    "LightGBMForecaster",
    "ModelLoadError",
    "NotFittedError",
    "ResampleResult",
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
