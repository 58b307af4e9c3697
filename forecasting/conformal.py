"""Conformal calibration of quantile forecasts on recent held-out residuals.

The median gets an additive shift (its recent bias). Every other quantile ``q`` keeps its
distance from the median but scaled by a factor ``lam[q, h]`` chosen so that, on the calibration
pairs of horizon ``h``, exactly a share ``q`` of actuals fall at or below it (split-conformal
with the finite-sample correction). Scaling the model's own spread, rather than adding one pooled
offset, keeps intervals narrow for calm series and wide for bursty ones (CQR-r style). Without a
0.5 quantile every quantile gets an additive shift instead.

A step with fewer than ``MIN_STEP_PAIRS`` pairs (the far steps of a long horizon: a calibration
zone of one season leaves step ``h`` only ``season - h`` origins per series) is calibrated on
its neighbours' pairs too, the nearest steps first, until there are enough. A step with enough
pairs is calibrated on its own, exactly as before.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["MIN_STEP_PAIRS", "apply_conformal", "fit_conformal"]

#: Fewer calibration pairs than this at a step: pool it with its neighbouring steps.
MIN_STEP_PAIRS = 20
_MIN_SPREAD = 0.05  # in normalised units: floor for a quantile's distance from the median


def _median_index(quantiles: tuple[float, ...]) -> int | None:
    return quantiles.index(0.5) if 0.5 in quantiles else None


def _level(n: int, q: float) -> float:
    return min(1.0, math.ceil((n + 1) * q) / n)


def fit_conformal(
    quantiles: tuple[float, ...],
    raw: np.ndarray,
    actual: np.ndarray,
    h: np.ndarray,
    horizon: int,
) -> np.ndarray:
    """Parameters (n_quantiles, horizon): median shift and per-quantile spread factors."""
    params = np.zeros((len(quantiles), horizon))
    mid = _median_index(quantiles)
    if mid is not None:
        params[:, :] = 1.0
        params[mid, :] = 0.0
    for step in range(1, horizon + 1):
        sel = _pooled(h, step)
        if not sel.any():
            continue
        y = actual[sel]
        block = raw[sel]
        n = len(y)
        if mid is None:
            for j, q in enumerate(quantiles):
                params[j, step - 1] = float(np.quantile(y - block[:, j], _level(n, q)))
            continue
        shift = float(np.quantile(y - block[:, mid], _level(n, 0.5)))
        params[mid, step - 1] = shift
        med = block[:, mid] + shift
        for j, q in enumerate(quantiles):
            if j == mid:
                continue
            if q > 0.5:
                spread = np.maximum(block[:, j] - block[:, mid], _MIN_SPREAD)
                score = (y - med) / spread
                params[j, step - 1] = max(0.0, float(np.quantile(score, _level(n, q))))
            else:
                spread = np.maximum(block[:, mid] - block[:, j], _MIN_SPREAD)
                score = (med - y) / spread
                params[j, step - 1] = max(0.0, float(np.quantile(score, _level(n, 1.0 - q))))
    return params


def _pooled(h: np.ndarray, step: int) -> np.ndarray:
    """The pairs ``step`` is calibrated on: its own when there are ``MIN_STEP_PAIRS``, else
    those of the steps within the smallest distance that gives that many (all, at most). A step
    outside the steps calibrated for (before a look-ahead's first) gets none."""
    own = h == step
    if own.sum() >= MIN_STEP_PAIRS or len(h) == 0 or not h.min() <= step <= h.max():
        return own
    distance = np.abs(h - step)
    counts = np.bincount(distance)
    enough = np.flatnonzero(np.cumsum(counts) >= MIN_STEP_PAIRS)
    reach = int(enough[0]) if len(enough) else len(counts) - 1
    return distance <= reach


def apply_conformal(
    quantiles: tuple[float, ...], raw: np.ndarray, h: np.ndarray, params: np.ndarray
) -> np.ndarray:
    """Calibrated predictions (same shape as ``raw``) for rows of horizon ``h``."""
    out = np.empty_like(raw)
    mid = _median_index(quantiles)
    col = h - 1
    if mid is None:
        return raw + params[:, col].T
    med = raw[:, mid] + params[mid, col]
    out[:, mid] = med
    for j, q in enumerate(quantiles):
        if j == mid:
            continue
        if q > 0.5:
            spread = np.maximum(raw[:, j] - raw[:, mid], _MIN_SPREAD)
            out[:, j] = med + params[j, col] * spread
        else:
            spread = np.maximum(raw[:, mid] - raw[:, j], _MIN_SPREAD)
            out[:, j] = med - params[j, col] * spread
    return out
