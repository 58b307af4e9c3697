"""Fitted models kept in the model store between processes, so a cycle reuses the last fit.

A Lambda or ``headroom run --once`` starts with an empty ``ModelCache``: without this every
cycle refits. ``ModelShelf`` saves each LightGBM fit to a ``ModelStore`` (one model name per
cache key) with what reuse is judged by (when it was fitted, its series, its steps, its
configuration), and hands the latest version back while it is still fresh by the same rule as
the in-process cache (its role's retrain interval, series it saw, steps it covers, the same
configuration). A stored version that fails its checksum or structure checks is quarantined by
the store and logged once; the cycle then refits. Saving never fails a cycle.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, is_dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog

from forecasting.lgbm import LightGBMForecaster
from forecasting.persist import ModelLoadError
from forecasting.store import ModelStore

__all__ = ["ModelShelf", "Shelved", "store_name"]

log = structlog.get_logger(__name__)

#: configuration that changes with the cycle's anchoring, judged by the steps covered instead
_VARYING = ("horizon", "first_step")


def store_name(key: str) -> str:
    """The store's model name for a cache key (``lightgbm@300s/near-term``)."""
    return re.sub(r"[^A-Za-z0-9_.=-]", "-", key)


def _config(model: Any) -> dict[str, Any] | None:
    config = getattr(model, "config", None)
    if config is None or not is_dataclass(config) or isinstance(config, type):
        return None
    out = {k: v for k, v in asdict(config).items() if k not in _VARYING}
    return dict(json.loads(json.dumps(out, default=str)))


@dataclass(frozen=True)
class Shelved:
    """A model loaded from the store: its version and when it was fitted."""

    model: Any
    version: int
    fitted_at: datetime


@dataclass
class ModelShelf:
    """Save fits to ``store`` and load the latest back while fresh (see the module doc)."""

    store: ModelStore

    def fetch(
        self,
        key: str,
        now: datetime,
        series: set[str],
        every: timedelta,
        steps: tuple[int, int],
        like: Callable[[], Any] | None = None,
    ) -> Shelved | None:
        """The latest stored model for ``key`` when fresh and fitting the request, else None
        (nothing stored, stale, other series or steps or settings, or rejected and
        quarantined: each said in one log line, the cycle then fits)."""
        name = store_name(key)
        try:
            version = self.store.latest(name)
            if version is None:
                return None
            meta = self.store.metadata(name, version).get("cycle")
            why = _stale(meta, now, series, every, steps, like)
            if why:
                log.info("stored_model_not_reused", model=name, version=version, reason=why)
                return None
            assert isinstance(meta, dict)  # _stale said so
            model = self.store.load_checked(name, version)
        except ModelLoadError as exc:
            log.warning("stored_model_rejected", model=name, reason=str(exc))
            return None
        except OSError as exc:  # the store is unreachable: fit, as without one
            log.warning("model_store_unreadable", model=name, error=str(exc))
            return None
        return Shelved(model, version, datetime.fromisoformat(meta["fitted_at"]))

    def keep(
        self, key: str, model: Any, now: datetime, series: set[str], steps: tuple[int, int]
    ) -> int | None:
        """Save a LightGBM fit as the next version of ``key``'s model; its version, or None
        (another kind of model: cheap to refit; or the store refused: logged, never raised)."""
        if not isinstance(model, LightGBMForecaster):
            return None
        cycle = {
            "fitted_at": now.isoformat(),
            "series": sorted(series),
            "steps": list(steps),
            "config": _config(model),
        }
        try:
            return self.store.save(store_name(key), model, extra={"cycle": cycle}).version
        except Exception as exc:  # any store failure (disk, S3): the fit still serves
            log.warning("model_store_save_failed", model=store_name(key), error=repr(exc)[:300])
            return None


def _stale(
    meta: Any,
    now: datetime,
    series: set[str],
    every: timedelta,
    steps: tuple[int, int],
    like: Callable[[], Any] | None,
) -> str:
    """Why a stored model with store metadata ``cycle`` = ``meta`` must not serve, or ''."""
    try:
        at = datetime.fromisoformat(meta["fitted_at"])
        stored = set(meta["series"])
        first, last = (int(s) for s in meta["steps"])
    except (KeyError, TypeError, ValueError):
        return "stored without cycle metadata"
    if now < at or now - at >= every:
        return f"fitted at {at.isoformat()}, retrain interval {every} passed"
    if not series <= stored:
        return f"{len(series - stored)} series it was not fitted on"
    if not (first <= steps[0] and steps[1] <= last):
        return f"covers steps {first}..{last}, wanted {steps[0]}..{steps[1]}"
    if like is not None and meta.get("config") != _config(like()):
        return "fitted with other settings"
    return ""
