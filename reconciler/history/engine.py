"""Which engine answers the history queries: the policy's ``engine`` (``local`` or ``dask``).

``local`` is the history store itself (Polars, in this process). ``dask`` is a ``DaskHistory``
on a client connected to the policy's scheduler; clients are kept per scheduler address for the
life of the process (a cycle every few minutes does not reconnect), and a closed one is
replaced. Dask is imported only when a policy names it.
"""

from __future__ import annotations

import atexit
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol

import polars as pl

from providers.models import TimeWindow

if TYPE_CHECKING:
    from distributed import Client

    from reconciler.history.store import HistoryStore

__all__ = ["HistoryQueries", "close_clients", "connect", "history_queries"]


class HistoryQueries(Protocol):
    """The three history queries the cycle's steps ask (``reconciler.history.query``)."""

    def edges(self, window: TimeWindow, bucket: timedelta = ...) -> pl.DataFrame: ...

    def resource_series(self, window: TimeWindow, bucket: timedelta = ...) -> pl.DataFrame: ...

    def metric_points(
        self, window: TimeWindow, metrics: Sequence[str] | None = ...
    ) -> pl.DataFrame: ...


_clients: dict[str, Client] = {}


def connect(address: str | None) -> Client:
    """A client of the scheduler at ``address`` (None: Dask's ``scheduler-address`` setting,
    i.e. ``DASK_SCHEDULER_ADDRESS``); never starts a cluster of its own."""
    import dask.config
    from distributed import Client

    address = address or dask.config.get("scheduler-address", None)
    if not address:
        raise ValueError(
            "engine: dask needs a scheduler address (engine.scheduler in the policy, or "
            "DASK_SCHEDULER_ADDRESS)"
        )
    client = _clients.get(address)
    if client is None or client.status != "running":
        atexit.unregister(close_clients)  # registered once: close kept clients at exit
        atexit.register(close_clients)
        client = _clients[address] = Client(address, set_as_default=False, timeout="30s")
    return client


def close_clients() -> None:
    """Close every kept client (process shutdown, tests)."""
    while _clients:
        _, client = _clients.popitem()
        client.close()


def history_queries(engine: Any, store: HistoryStore) -> HistoryQueries:
    """The queries of ``store`` on the engine ``engine`` (``policies.schema.Engine``; None or
    ``local``: the store itself)."""
    if engine is None or engine.kind == "local":
        return store
    from reconciler.history.dask_engine import DaskHistory

    return DaskHistory(store, connect(engine.scheduler), engine.timeout)
