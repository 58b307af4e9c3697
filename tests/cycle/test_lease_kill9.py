"""A lease holder killed with ``kill -9`` is replaced within about one ttl (issue 13, finding 13).

A real process takes the lease and hangs in its first step while its heartbeat keeps the lease
alive well past one ttl; after SIGKILL another reconciler's cycle runs within the ttl, where it
used to wait up to 15 minutes.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from reconciler.state import StateStore
from tests.state.faults import takeover_after_sigkill

TTL = timedelta(seconds=3)


def test_a_holder_killed_with_sigkill_is_replaced_within_the_ttl(tmp_path: Path) -> None:
    report, took, held = takeover_after_sigkill(tmp_path, TTL)
    assert held, "the heartbeat did not keep the lease for two ttls"
    assert report.ok, report.error
    print(f"takeover {took:.2f} s after kill -9 (ttl {TTL.total_seconds():g} s)")
    assert took <= TTL.total_seconds() + 0.5, f"took over {took:.1f} s after the kill"
    store = StateStore.open(f"sqlite:///{tmp_path / 'state.db'}", migrate=False)
    assert [r.status for r in store.recent_runs()] == ["succeeded"]
    store.close()
