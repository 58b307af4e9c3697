"""``LeaseHeartbeat``: keep a short lease alive from a background thread while a cycle runs.

The lease's ttl is short (a minute by default) so that a holder killed with ``kill -9`` is
replaced within about one ttl; the heartbeat renews it every ttl/3 while the holder is alive.
When a renewal is refused (the lease expired or another holder took it) or keeps failing, the
heartbeat marks the lease lost and stops; the cycle checks :attr:`lost` before each step and
records nothing (the recording transaction re-checks the lease as well).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from types import TracebackType

from reconciler.logs import get_logger

__all__ = ["LeaseHeartbeat"]

log = get_logger(__name__)

#: Renewals that raise in a row before the lease counts as lost: after two, 2/3 of the ttl
#: has gone since the last renewal that succeeded, and a contender may soon take over.
_FAILURES_TO_LOSE = 2


class LeaseHeartbeat:
    """Calls ``renew`` every ``ttl / 3`` on a daemon thread between ``start`` and ``stop``
    (or as a context manager). ``renew`` returns False when the lease is no longer ours."""

    def __init__(self, renew: Callable[[], bool], ttl: timedelta, *, name: str = "cycle") -> None:
        if ttl <= timedelta(0):
            raise ValueError(f"lease ttl must be positive, got {ttl}")
        self._renew = renew
        self.interval = ttl.total_seconds() / 3
        self._name = name
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.renewals = 0
        self.reason: str | None = None

    @property
    def lost(self) -> bool:
        """True once a renewal was refused or kept failing."""
        return self.reason is not None

    def start(self) -> LeaseHeartbeat:
        self._thread = threading.Thread(
            target=self._beat, name=f"{self._name}-heartbeat", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop renewing (and wait for a renewal under way to end)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def __enter__(self) -> LeaseHeartbeat:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _beat(self) -> None:
        failures = 0
        while not self._stop.wait(self.interval):
            try:
                held = self._renew()
            except Exception as exc:
                failures += 1
                log.warning("lease_renewal_failed", lease=self._name, error=repr(exc))
                if failures >= _FAILURES_TO_LOSE:
                    self._lose(f"renewing the {self._name} lease kept failing: {exc!r}")
                    return
                continue
            failures = 0
            if not held:
                self._lose(f"the {self._name} lease expired or was taken over")
                return
            self.renewals += 1

    def _lose(self, reason: str) -> None:
        self.reason = reason
        log.error("lease_lost", lease=self._name, reason=reason)
