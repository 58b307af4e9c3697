"""The LightGBM quantile forecaster trained and evaluated on a Dask cluster (``engine: dask``).

``DaskLightGBMForecaster`` is ``LightGBMForecaster`` with two parts moved to the cluster; the
features, targets, training-pair sampling, conformal calibration, quantile ordering and the
saved artifact are the local forecaster's own code:

- training (``_train``): the rows are split by series into one partition per worker (a series'
  rows stay together, partitions balanced by rows) and scattered to the workers; each trained
  quantile is one ``lightgbm.dask.DaskLGBMRegressor`` fit (data-parallel tree learner) on them,
  with the local forecaster's parameters, turned into a plain booster with ``to_local()``, so
  the model store saves and checks it like any other fit (``forecasting.persist``);
- evaluation (``_raw``, used by calibration and every predict): the feature rows are scattered
  in chunks and every booster is evaluated with one ``map_partitions`` pass (the boosters are
  broadcast once per pass, one thread per task).

Not identical to the local fit, as LightGBM documents for distributed training
(microsoft/LightGBM#3835, #5798): each feature's bin boundaries are found by one worker from its
own partition and then shared, and bagging samples each worker's rows separately, so splits and
leaf values differ slightly. ``tests/dask/test_lgbm_dask.py`` states and tests the tolerance.

Failures: a fit or evaluation that raises (a worker lost mid-fit loses its scattered rows and
its part of LightGBM's collective, which Dask cannot re-run alone) is tried again from the
start, ``retries`` times, on the workers not still inside the failed collective (``_workers``);
one that still fails, or gets no answer within ``timeout``, raises ``ClusterFitError``.
``forecasting.serve`` then serves the series with the seasonal naive fallback and reports it,
as for any model that raises.

A saved model loads as a plain ``LightGBMForecaster`` (its boosters are ordinary boosters).
"""

from __future__ import annotations

import itertools
import math
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import asdict
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Self, TypeVar

import numpy as np
import pandas as pd
import polars as pl
import structlog

from forecasting.features import FeatureSpec
from forecasting.grid import ForecastGrid
from forecasting.lgbm import LightGBMConfig, LightGBMForecaster, trained_quantiles
from forecasting.serve import ModelFactory, default_model

if TYPE_CHECKING:
    from distributed import Client

__all__ = [
    "ClusterFitError",
    "DaskLightGBMForecaster",
    "dask_models",
    "partition_by_series",
    "training_tasks",
]

log = structlog.get_logger(__name__)

_T = TypeVar("_T")
_TARGET = "__target"
#: rows per scattered chunk of the feature frame evaluated with ``map_partitions``
PREDICT_CHUNK_ROWS = 100_000


class ClusterFitError(RuntimeError):
    """The cluster did not fit or evaluate the boosters (after its retries, or in time)."""


class DaskLightGBMForecaster(LightGBMForecaster):
    """``LightGBMForecaster`` whose boosters are trained and evaluated on ``client``'s
    cluster (see the module). ``timeout`` bounds each attempt; ``retries`` more attempts
    follow a failed one."""

    def __init__(
        self,
        freq: str = "5m",
        quantiles: tuple[float, ...] = (0.5, 0.9, 0.99),
        season_length: int = 288,
        *,
        client: Client,
        timeout: timedelta = timedelta(minutes=10),
        retries: int = 1,
        **settings: Any,
    ) -> None:
        super().__init__(freq, quantiles, season_length, **settings)
        if retries < 0:
            raise ValueError("retries must be >= 0")
        self.client = client
        self.timeout = timeout
        self.retries = retries
        #: attempts repeated after a failure, over this model's cluster jobs so far
        self.retried = 0
        self._trained_on = 0

    @classmethod
    def from_config(
        cls,
        config: LightGBMConfig,
        client: Client,
        timeout: timedelta = timedelta(minutes=10),
        retries: int = 1,
    ) -> Self:
        """The Dask variant of a local forecaster configured as ``config``."""
        settings = asdict(config)
        return cls(
            settings.pop("freq"),
            settings.pop("quantiles"),
            settings.pop("season_length"),
            client=client,
            timeout=timeout,
            retries=retries,
            **settings,
        )

    def fit(
        self, df: pl.DataFrame, static: pl.DataFrame | None = None, exog: pl.DataFrame | None = None
    ) -> Self:
        """``LightGBMForecaster.fit`` with the boosters trained and calibrated on the cluster;
        ``info["dask"]`` says on how many workers, and how many attempts were repeated."""
        before = self.retried
        super().fit(df, static, exog)
        self._state().info["dask"] = {"workers": self._trained_on, "retried": self.retried - before}
        return self

    # ---- training -----------------------------------------------------------------------------
    def _train(
        self,
        params: dict[str, Any],
        X: np.ndarray,
        target: np.ndarray,
        spec: FeatureSpec,
        row_series: np.ndarray,
    ) -> list[Any]:
        """One booster per trained quantile, each a ``DaskLGBMRegressor`` fit on the rows
        scattered by series to the free workers (``partition_by_series``), as a local booster."""
        c = self.config
        names = spec.names()
        frame = pd.DataFrame(X, columns=names)
        frame[_TARGET] = target
        # LightGBM's socket timeout is in minutes; the attempt's own timeout is the real bound
        minutes = max(1, math.ceil(self.timeout.total_seconds() / 60))
        shared = {k: v for k, v in params.items() if k != "num_threads"}
        shared |= {"n_estimators": c.n_estimators, "time_out": minutes}
        categorical = list(spec.categorical_names()) or "auto"
        boosters = []
        for q in trained_quantiles(c.quantiles):

            def fit(q: float = q) -> Any:
                workers = self._workers()
                self._trained_on = len(workers)
                parts = partition_by_series(row_series, len(workers))
                data = self._scatter([frame.iloc[rows] for rows in parts], workers)
                return _fit_one(self.client, data, names, {**shared, "alpha": q}, categorical)

            boosters.append(self._attempt(fit, f"fit of quantile {q}"))
        return boosters

    # ---- evaluation ---------------------------------------------------------------------------
    def _raw(self, boosters: list[Any], X: np.ndarray) -> np.ndarray:
        """The local ``_raw`` on every booster's predictions, computed on the cluster over the
        rows in chunks of at most ``PREDICT_CHUNK_ROWS``, at least one per free worker."""
        if len(X) == 0:
            return super()._raw(boosters, X)

        def evaluate() -> np.ndarray:
            workers = self._workers()
            n = max(len(workers), math.ceil(len(X) / PREDICT_CHUNK_ROWS))
            chunks = self._scatter(
                [pd.DataFrame(p) for p in np.array_split(X, n) if len(p)], workers
            )
            return _evaluate(self.client, chunks, X.shape[1], boosters, self.timeout)

        preds = self._attempt(evaluate, f"predict of {len(X)} rows")
        return super()._raw([_Column(preds[:, j]) for j in range(len(boosters))], X)

    # ---- on the cluster -----------------------------------------------------------------------
    def _workers(self) -> list[str]:
        """The workers to use: those not still running a LightGBM training task. A task of a
        failed fit that Dask cancelled keeps its worker's thread, and LightGBM's network (one
        per process), until LightGBM gives up on the lost peer (its ``time_out``); the others
        can train now. Waits up to ``timeout`` for one to be free."""
        where = getattr(self.client.scheduler, "address", "?")
        deadline = time.monotonic() + self.timeout.total_seconds()
        while True:
            workers = sorted(self.client.scheduler_info()["workers"])
            if not workers:
                raise ClusterFitError(f"the Dask cluster at {where} has no workers")
            busy = self.client.run(training_tasks, workers=workers, on_error="ignore")
            free = [w for w in workers if not busy.get(w)]
            if free:
                return free
            if time.monotonic() > deadline:
                raise ClusterFitError(
                    f"every worker of the Dask cluster at {where} still runs a LightGBM training"
                )
            time.sleep(0.5)

    def _scatter(self, frames: list[pd.DataFrame], workers: list[str]) -> list[Any]:
        """``frames`` scattered over ``workers``, one each in turn, as futures."""
        return [
            self.client.scatter(f, workers=[workers[i % len(workers)]], hash=False)
            for i, f in enumerate(frames)
        ]

    def _attempt(self, job: Callable[[], _T], what: str) -> _T:
        """``job`` within ``timeout``, tried ``1 + retries`` times; ClusterFitError after."""
        where = getattr(self.client.scheduler, "address", "?")
        seconds = self.timeout.total_seconds()
        for attempt in range(1, self.retries + 2):
            pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lgbm-dask")
            try:
                result = pool.submit(job).result(timeout=seconds)
            except (TimeoutError, FutureTimeout) as exc:
                raise ClusterFitError(
                    f"LightGBM {what}: the Dask cluster at {where} gave no answer in {seconds:g} s"
                ) from exc
            except ClusterFitError:
                raise
            except Exception as exc:  # a lost worker: cancelled futures, LightGBM socket errors
                log.warning(
                    "lgbm_dask_attempt_failed",
                    what=what,
                    attempt=attempt,
                    error=f"{type(exc).__name__}: {exc}"[:300],
                )
                if attempt > self.retries:
                    raise ClusterFitError(
                        f"LightGBM {what} on the Dask cluster at {where} failed "
                        f"{attempt} time(s): {type(exc).__name__}: {exc}"[:500]
                    ) from exc
                continue
            finally:
                pool.shutdown(wait=False, cancel_futures=True)
            self.retried += attempt - 1
            return result
        raise AssertionError("unreachable")  # pragma: no cover


def training_tasks(dask_worker: Any) -> int:
    """LightGBM training tasks (``lightgbm.dask._train_part``) a worker is still running,
    cancelled ones included (run on each worker by ``Client.run``)."""
    running = ("executing", "long-running", "cancelled", "resumed")
    return sum(
        1
        for key, task in dask_worker.state.tasks.items()
        if str(key).startswith("_train_part") and task.state in running
    )


def partition_by_series(row_series: np.ndarray, parts: int) -> list[np.ndarray]:
    """Row indices in at most ``parts`` groups: each series' rows in one group, series in
    order, cut where the running row count passes each ``k / parts`` of the rows."""
    order = np.argsort(row_series, kind="stable")
    keys = row_series[order]
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])  # each series' first row
    cuts = np.searchsorted(starts, [len(keys) * k / parts for k in range(1, parts)])
    bounds = np.unique(np.r_[0, np.r_[starts, len(keys)][cuts], len(keys)])
    return [order[a:b] for a, b in itertools.pairwise(bounds) if b > a]


def _fit_one(
    client: Client,
    data: list[Any],
    names: list[str],
    params: dict[str, Any],
    categorical: list[str] | str,
) -> Any:
    """One ``DaskLGBMRegressor`` fit on the scattered partitions ``data``, as a local booster."""
    import dask.dataframe as dd
    from lightgbm.dask import DaskLGBMRegressor

    meta = pd.DataFrame({n: pd.Series(dtype="float64") for n in [*names, _TARGET]})
    frame = dd.from_delayed(data, meta=meta, verify_meta=False)
    with warnings.catch_warnings(), client.as_current():
        # sklearn's n_jobs alias: Dask sets each worker's threads itself
        warnings.filterwarnings("ignore", message="Parameter .* will be ignored")
        model = DaskLGBMRegressor(client=client, **params)
        model.fit(frame[names], frame[_TARGET], feature_name=names, categorical_feature=categorical)
    return model.to_local().booster_


def _predict_part(part: pd.DataFrame, boosters: list[Any]) -> pd.DataFrame:
    """Every booster's prediction of a chunk of feature rows (runs on a worker)."""
    values = part.to_numpy(dtype=np.float64)
    return pd.DataFrame(
        {j: b.predict(values, num_threads=1) for j, b in enumerate(boosters)}, index=part.index
    )


def _evaluate(
    client: Client, chunks: list[Any], width: int, boosters: list[Any], timeout: timedelta
) -> np.ndarray:
    """``_predict_part`` over the scattered ``chunks`` (``width`` feature columns) with
    ``map_partitions``: (rows, boosters) in row order; ClusterFitError past ``timeout``."""
    import dask.dataframe as dd

    rows = pd.DataFrame({j: pd.Series(dtype="float64") for j in range(width)})
    frame = dd.from_delayed(chunks, meta=rows, verify_meta=False)
    meta = pd.DataFrame({j: pd.Series(dtype="float64") for j in range(len(boosters))})
    [shared] = client.scatter([boosters], broadcast=True, hash=False)
    future = client.compute(frame.map_partitions(_predict_part, shared, meta=meta))
    seconds = timeout.total_seconds()
    try:
        got: pd.DataFrame = future.result(timeout=seconds)
    except (TimeoutError, FutureTimeout) as exc:
        where = getattr(client.scheduler, "address", "?")
        raise ClusterFitError(
            f"LightGBM predict: the Dask cluster at {where} gave no answer in {seconds:g} s"
        ) from exc
    finally:
        future.cancel()
    return got.to_numpy(dtype=np.float64)


class _Column:
    """A booster's predictions already computed: ``predict`` hands them back."""

    def __init__(self, values: np.ndarray) -> None:
        self.values = values

    def predict(self, X: np.ndarray, **_: Any) -> np.ndarray:
        return self.values


def dask_models(
    client: Callable[[], Client], timeout: timedelta = timedelta(minutes=10)
) -> ModelFactory:
    """A model factory (``forecasting.serve.ModelFactory``) whose LightGBM forecasters train
    and predict on the cluster of ``client()`` (asked at each build, so a replaced client is
    used); every other kind is ``default_model``'s."""

    def build(kind: str, grid: ForecastGrid) -> Any:
        model = default_model(kind, grid)
        if not isinstance(model, LightGBMForecaster):
            return model
        return DaskLightGBMForecaster.from_config(model.config, client(), timeout)

    return build
