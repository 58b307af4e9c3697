"""The peers of the bandwidth replay, on continuous rates (Gbps), vectorised over groups.

Each returns the allocation every group *asks* for at each replayed step, ``(n_groups,
n_replayed)``, knowing only demand before that step; the replay passes the asks through the
pools (``reconciler.simulate.bandwidth``). They follow the compute peers
(``reconciler.simulate.peers``) with whole instances replaced by a rate:

- ``static_asks``: a percentile of the training window plus a margin, never changed;
- ``tracking_asks``: AWS target tracking of the rate's utilisation (out after 3 points above
  target, in after 15 below, ``mean / target``, one-step cooldowns);
- ``vpa_asks``: hourly, a percentile of a usage histogram decaying with a 24 h half-life over
  14 days, plus a margin;
- ``predictive_asks``: daily, the mean of each hour over the past 14 days raised by a margin, at
  the target utilisation, as a floor under target tracking;
- ``foresight_asks``: the limit, exactly the coming demand.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "foresight_asks",
    "predictive_asks",
    "static_asks",
    "tracking_asks",
    "vpa_asks",
]

_HOUR = 12
_DAY = 24 * _HOUR
_MIN_GBPS = 1e-6  # a rate is never set to zero: utilisation stays defined


def static_asks(
    d: np.ndarray, train: int, quantile: float = 1.0, margin: float = 0.0
) -> np.ndarray:
    level = np.quantile(d[:, :train], quantile, axis=1) * (1 + margin)
    return np.repeat(np.maximum(level, _MIN_GBPS)[:, None], d.shape[1] - train, axis=1)


def tracking_asks(
    d: np.ndarray,
    train: int,
    target: float = 0.7,
    floor: np.ndarray | None = None,
    out_points: int = 3,
    in_points: int = 15,
) -> np.ndarray:
    """Target tracking; ``floor`` (same shape as the result) is a lower bound at each step."""
    n_groups, n = d.shape
    a = np.maximum(d[:, train - out_points : train].mean(axis=1) / target, _MIN_GBPS)
    last = np.full(n_groups, -(10**9))
    asks = np.empty((n_groups, n - train))
    for k, t in enumerate(range(train, n)):
        since = t - last
        recent = d[:, t - out_points : t]
        up = ((recent / a[:, None]) > target).all(axis=1) & (since > 1)
        long = d[:, t - in_points : t]
        down_to = long.mean(axis=1) / target
        down = ~up & ((long / a[:, None]) < target).all(axis=1) & (since > 1) & (down_to < a)
        new = np.where(up, recent.mean(axis=1) / target, np.where(down, down_to, a))
        new = np.maximum(new, _MIN_GBPS)
        if floor is not None:
            new = np.maximum(new, floor[:, k])
        last = np.where(new != a, t, last)
        a = new
        asks[:, k] = a
    return asks


def vpa_asks(
    d: np.ndarray,
    train: int,
    quantile: float = 0.9,
    margin: float = 0.15,
    half_life: int = _DAY,
    every: int = _HOUR,
    window: int = 14 * _DAY,
) -> np.ndarray:
    n_groups, n = d.shape
    asks = np.empty((n_groups, n - train))
    level = np.zeros(n_groups)
    for k, t in enumerate(range(train, n)):
        if k % every == 0:
            past = d[:, max(0, t - window) : t]
            ages = np.arange(past.shape[1])[::-1]
            weights = np.power(0.5, ages / half_life)
            order = np.argsort(past, axis=1, kind="stable")
            cum = np.cumsum(weights[order], axis=1)
            idx = (cum < quantile * cum[:, -1:]).sum(axis=1).clip(max=past.shape[1] - 1)
            level = np.take_along_axis(past, order, axis=1)[np.arange(n_groups), idx]
            level = np.maximum(level * (1 + margin), _MIN_GBPS)
        asks[:, k] = level
    return asks


def predictive_asks(
    d: np.ndarray, train: int, margin: float = 0.0, target: float = 0.7, history_days: int = 14
) -> np.ndarray:
    n_groups, n = d.shape
    floor = np.empty((n_groups, n - train))
    for k0 in range(0, n - train, _DAY):
        t = train + k0
        days = min(history_days, t // _DAY)
        past = d[:, t - days * _DAY : t].reshape(n_groups, days, 24, _HOUR)
        hourly = past.mean(axis=3).mean(axis=1) * (1 + margin) / target  # (groups, 24)
        span = min(_DAY, n - t)
        floor[:, k0 : k0 + span] = np.repeat(hourly, _HOUR, axis=1)[:, :span]
    return tracking_asks(d, train, target, floor=floor)


def foresight_asks(d: np.ndarray, train: int) -> np.ndarray:
    return d[:, train:].copy()
