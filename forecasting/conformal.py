"""Conformal calibration of quantile forecasts on recent held-out residuals.

The median gets an additive shift (its recent bias). Every other quantile ``q`` keeps its
distance from the median but scaled by a factor ``lam[q, h]`` chosen so that, on the calibration
pairs of horizon ``h``, exactly a share ``q`` of actuals fall at or below it (split-conformal
with the finite-sample correction). Scaling the model's own spread, rather than adding one pooled
offset, keeps intervals narrow for calm series and wide for bursty ones (CQR-r style). Without a
0.5 quantile every quantile gets an additive shift instead.

Each parameter is fitted per horizon step on enough pairs for its quantile: a tail quantile needs
``TAIL_PAIRS / (1 - q)`` pairs (p99: 1,000, so ten actuals lie beyond it; p90: 100) and every
quantile at least ``MIN_STEP_PAIRS``. A step with fewer (the far steps of a long horizon, or any
step of a sparse calibration zone) is calibrated on its neighbours' pairs too, the nearest steps
first, until there are enough; a step with enough is calibrated on its own. Factors are made
monotone across quantiles that share a spread, so calibrated quantiles never cross.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["MIN_STEP_PAIRS", "TAIL_PAIRS", "apply_conformal", "fit_conformal", "pairs_needed"]

#: Fewer calibration pairs than this at a step: pool it with its neighbouring steps.
MIN_STEP_PAIRS = 20
#: A quantile q is fitted on at least TAIL_PAIRS / min(q, 1 - q) pairs (pooled across steps).
TAIL_PAIRS = 10
_MIN_SPREAD = 0.05  # in normalised units: floor for a quantile's distance from the median


def _median_index(quantiles: tuple[float, ...]) -> int | None:
    return quantiles.index(0.5) if 0.5 in quantiles else None


def _level(n: int, q: float) -> float:
    return min(1.0, math.ceil((n + 1) * q) / n)


def pairs_needed(q: float) -> int:
    """Calibration pairs quantile ``q`` is fitted on, at least (pooling steps to get them)."""
    return max(MIN_STEP_PAIRS, math.ceil(TAIL_PAIRS / min(q, 1.0 - q) - 1e-9))


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
    if len(h) == 0:
        return params
    if mid is None:
        for j, q in enumerate(quantiles):
            for step, sel in _selections(h, horizon, pairs_needed(q)):
                resid = actual[sel] - raw[sel, j]
                params[j, step - 1] = float(np.quantile(resid, _level(len(resid), q)))
        return params
    for step, sel in _selections(h, horizon, pairs_needed(0.5)):
        resid = actual[sel] - raw[sel, mid]
        params[mid, step - 1] = float(np.quantile(resid, _level(len(resid), 0.5)))
    for j, q in enumerate(quantiles):
        if j == mid:
            continue
        for step, sel in _selections(h, horizon, pairs_needed(q)):
            med = raw[sel, mid] + params[mid, step - 1]
            if q > 0.5:
                spread = np.maximum(raw[sel, j] - raw[sel, mid], _MIN_SPREAD)
                score = (actual[sel] - med) / spread
                level = _level(len(score), q)
            else:
                spread = np.maximum(raw[sel, mid] - raw[sel, j], _MIN_SPREAD)
                score = (med - actual[sel]) / spread
                level = _level(len(score), 1.0 - q)
            params[j, step - 1] = max(0.0, float(np.quantile(score, level)))
    _monotone(quantiles, raw, params, mid)
    return params


def _selections(h: np.ndarray, horizon: int, need: int) -> list[tuple[int, np.ndarray]]:
    """(step, pairs to fit it on) for each step 1..horizon that has any."""
    out = []
    for step in range(1, horizon + 1):
        sel = _pooled(h, step, need)
        if sel.any():
            out.append((step, sel))
    return out


def _monotone(quantiles: tuple[float, ...], raw: np.ndarray, params: np.ndarray, mid: int) -> None:
    """Quantiles read from the same model column (the same spread) get factors that grow away
    from the median, so p99 never falls below p90 when both scale p90's spread."""
    for side in (range(mid + 1, len(quantiles)), range(mid - 1, -1, -1)):
        prev: int | None = None
        for j in side:
            if prev is not None and np.array_equal(raw[:, j], raw[:, prev]):
                params[j] = np.maximum(params[j], params[prev])
            prev = j


def _pooled(h: np.ndarray, step: int, need: int = MIN_STEP_PAIRS) -> np.ndarray:
    """The pairs ``step`` is calibrated on: its own when there are ``need``, else those of the
    steps within the smallest distance that gives that many (all, at most). A step outside the
    steps calibrated for (before a look-ahead's first) gets none."""
    own = h == step
    if own.sum() >= need or len(h) == 0 or not h.min() <= step <= h.max():
        return own
    distance = np.abs(h - step)
    counts = np.bincount(distance)
    enough = np.flatnonzero(np.cumsum(counts) >= need)
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
