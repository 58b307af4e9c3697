from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from reconciler.state import StateStore
from tests.state.conftest import T0

TTL = timedelta(minutes=5)


def test_two_holders_only_one_wins(store: StateStore) -> None:
    assert store.acquire_lease("proc-a", T0, TTL) is True
    assert store.acquire_lease("proc-b", T0 + timedelta(seconds=1), TTL) is False
    assert store.lease_holder(T0 + timedelta(seconds=2)) == "proc-a"


def test_holder_can_reacquire_and_renew_but_not_others(store: StateStore) -> None:
    assert store.acquire_lease("proc-a", T0, TTL)
    assert store.acquire_lease("proc-a", T0 + timedelta(minutes=1), TTL)
    assert store.renew_lease("proc-a", T0 + timedelta(minutes=4), TTL)
    # renewed until T0+9min: still held at T0+8min
    assert store.acquire_lease("proc-b", T0 + timedelta(minutes=8), TTL) is False
    assert store.renew_lease("proc-b", T0 + timedelta(minutes=8), TTL) is False


def test_expiry_lets_another_take_over_and_old_holder_cannot_renew(store: StateStore) -> None:
    assert store.acquire_lease("proc-a", T0, TTL)
    later = T0 + TTL + timedelta(seconds=1)
    assert store.lease_holder(later) is None
    assert store.acquire_lease("proc-b", later, TTL)
    assert store.lease_holder(later) == "proc-b"
    assert store.renew_lease("proc-a", later, TTL) is False
    assert store.release_lease("proc-a") is False
    assert store.lease_holder(later) == "proc-b"


def test_release_frees_the_lease(store: StateStore) -> None:
    assert store.acquire_lease("proc-a", T0, TTL)
    assert store.release_lease("proc-a")
    assert store.lease_holder(T0) is None
    assert store.acquire_lease("proc-b", T0, TTL)


def test_named_leases_are_independent(store: StateStore) -> None:
    assert store.acquire_lease("a", T0, TTL, name="cycle")
    assert store.acquire_lease("b", T0, TTL, name="other")


def test_ttl_must_be_positive(store: StateStore) -> None:
    with pytest.raises(ValueError, match="ttl must be positive"):
        store.acquire_lease("a", T0, timedelta(0))


def test_concurrent_acquire_has_exactly_one_winner(db_url: str) -> None:
    stores = [StateStore.open(db_url, migrate=(i == 0)) for i in range(6)]
    results: dict[str, bool] = {}
    barrier = threading.Barrier(len(stores))

    def attempt(i: int) -> None:
        barrier.wait()
        results[f"h{i}"] = stores[i].acquire_lease(f"h{i}", T0, TTL)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(len(stores))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [h for h, won in results.items() if won]
    assert len(winners) == 1
    assert stores[0].lease_holder(T0) == winners[0]
    for s in stores:
        s.close()


_CONTENDER = """
import sys
from datetime import UTC, datetime, timedelta
from reconciler.state import StateStore
store = StateStore.open(sys.argv[1], migrate=False)
store.ping()
print("ready", flush=True)
sys.stdin.readline()
won = store.acquire_lease(sys.argv[2], datetime(2026, 3, 2, 12, tzinfo=UTC), timedelta(minutes=5))
print("won" if won else "lost", flush=True)
"""


def test_separate_processes_get_exactly_one_winner(tmp_path) -> None:
    """Two processes, released at once after they have connected: one takes the lease.

    SQLite only (process start-up is slow on a loaded machine); PostgreSQL's compare-and-set is
    covered by the threaded test with one connection per contender.
    """
    import subprocess
    import sys
    from pathlib import Path

    db_url = f"sqlite:///{tmp_path / 'lease.db'}"
    StateStore.open(db_url).close()
    root = Path(__file__).resolve().parents[2]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _CONTENDER, db_url, f"proc-{i}"],
            cwd=root,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    for p in procs:
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    outcomes = []
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        outcomes.append(out.strip())
    assert sorted(outcomes) == ["lost", "won"]
