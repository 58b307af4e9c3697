from __future__ import annotations

from datetime import timedelta

import pytest

from reconciler.state import (
    AccuracyRecord,
    AllocationRecord,
    CommandRecord,
    ForecastRecord,
    GroupEventRecord,
    GroupRecord,
    NotFoundError,
    PoolRecord,
    PreAllocationRecord,
    StateStore,
)
from tests.state.conftest import T0

H = timedelta(hours=1)


def _run(store: StateStore, run_id: str, at, status: str = "succeeded") -> None:
    store.record_run_start(run_id, at)
    store.record_run_finish(
        run_id,
        at + timedelta(seconds=30),
        status=status,
        step_timings={"collect": 1.5},
        error=None if status != "failed" else "allocate: pool over capacity",
    )


def test_runs_record_start_finish_and_timings(store: StateStore) -> None:
    store.record_run_start("r1", T0, dry_run=True)
    assert store.get_run("r1").status == "running"  # type: ignore[union-attr]
    store.record_run_finish(
        "r1", T0 + H, status="failed", step_timings={"collect": 2, "plan": 0.5}, error="plan: boom"
    )
    run = store.get_run("r1")
    assert run is not None and run.status == "failed" and run.dry_run
    assert run.step_timings == {"collect": 2.0, "plan": 0.5}
    assert run.error == "plan: boom" and run.finished == T0 + H
    assert [r.id for r in store.recent_runs()] == ["r1"]
    with pytest.raises(ValueError, match="not succeeded or failed"):
        store.record_run_finish("r1", T0, status="running", step_timings={})
    with pytest.raises(NotFoundError, match="never started"):
        store.record_run_finish("nope", T0, status="failed", step_timings={})


def test_latest_forecast_batch_per_group(store: StateStore) -> None:
    old = [ForecastRecord("g1", "network_gbps", T0 + H, {"0.5": 1.0, "0.9": 2.0}, "lgbm", "1")]
    new = [
        ForecastRecord(
            "g1", "network_gbps", T0 + 2 * H, {"0.1": 0.5, "0.5": 1.5, "0.9": 3.0}, "lgbm", "2"
        ),
        ForecastRecord("g1", "cpu", T0 + 2 * H, {"0.5": 40.0}, "lgbm", "2"),
        ForecastRecord("g2", "cpu", T0 + 2 * H, {"0.5": 10.0}, "naive", "1"),
    ]
    assert store.save_forecasts("r1", T0, old) == 1
    store.save_forecasts("r2", T0 + H, new)
    latest = store.latest_forecasts("g1")
    assert [(f.metric, f.model_version) for f in latest] == [("cpu", "2"), ("network_gbps", "2")]
    assert latest[1].interval() == ("0.1", "0.9", 0.5, 3.0)
    assert latest[0].interval() is None
    assert store.latest_forecasts("g1", "network_gbps")[0].quantiles["0.9"] == 3.0
    assert store.latest_forecasts("missing") == []


def test_allocations_in_force_skip_failed_runs(store: StateStore) -> None:
    pools = [PoolRecord("global", 100.0, 60.0), PoolRecord("us-east-1", 60.0, 40.0, "global", 30.0)]
    _run(store, "r1", T0)
    store.save_allocations(
        "r1",
        T0,
        [AllocationRecord("g1", "us-east-1", 10.0, used_gbps=6.0, ledger={"guarantee": 5.0})],
        pools,
    )
    _run(store, "r2", T0 + H, status="failed")
    store.save_allocations(
        "r2",
        T0 + H,
        [AllocationRecord("g1", "us-east-1", 99.0)],
        [PoolRecord("global", 100.0, 99.0)],
    )
    latest = store.latest_allocations()
    assert [(a.group_id, a.gbps, a.run_id) for a in latest] == [("g1", 10.0, "r1")]
    assert latest[0].ledger == {"guarantee": 5.0} and latest[0].at == T0
    state = store.latest_pool_states()
    assert [p.pool for p in state] == ["global", "us-east-1"]
    assert state[1].free_gbps == 20.0 and state[1].parent == "global"
    assert [a.gbps for a in store.allocation_history("g1")] == [10.0]


def test_a_run_still_running_or_failed_is_not_in_force(store: StateStore) -> None:
    """A process killed while writing its run leaves rows that readers must not show."""
    _run(store, "good", T0)
    store.save_allocations(
        "good", T0, [AllocationRecord("g1", "eu", 2.0)], [PoolRecord("global", 9, 2)]
    )
    store.save_forecasts("good", T0, [ForecastRecord("g1", "cpu", T0 + H, {"0.5": 1.0}, "l", "1")])
    store.record_run_start("half", T0 + H)
    store.save_allocations("half", T0 + H, [AllocationRecord("g1", "eu", 7.0)])
    store.save_forecasts(
        "half", T0 + H, [ForecastRecord("g1", "cpu", T0 + H, {"0.5": 9.0}, "l", "2")]
    )
    assert [a.run_id for a in store.latest_allocations()] == ["good"]
    assert store.latest_allocated_gbps() == {"g1": 2.0}
    assert [a.gbps for a in store.allocation_history("g1")] == [2.0]
    assert store.latest_pool_states()[0].allocated_gbps == 2
    assert [f.model_version for f in store.latest_forecasts("g1")] == ["1"]
    store.record_run_finish("half", T0 + 2 * H, status="succeeded", step_timings={})
    assert store.latest_allocated_gbps() == {"g1": 7.0}
    assert [f.model_version for f in store.latest_forecasts("g1")] == ["2"]


def test_commands_are_recorded_and_change_status(store: StateStore) -> None:
    ids = store.save_commands(
        "r1",
        T0,
        [
            CommandRecord(
                "resize",
                "i-1",
                "forecast p90 above baseline",
                {"type": "m5.large"},
                {"type": "m5.xlarge"},
                {"p90": 4.2},
            ),
            CommandRecord("bandwidth_tier", "g1", "pool has room"),
        ],
    )
    assert len(ids) == 2
    done = store.set_command_status(ids[0], "applied", T0 + H, outcome="pulumi up ok")
    assert done.status == "applied" and done.outcome == "pulumi up ok"
    cmds = store.commands_for_run("r1")
    assert [c.status for c in cmds] == ["applied", "planned"]
    assert cmds[0].after == {"type": "m5.xlarge"} and cmds[0].evidence == {"p90": 4.2}
    assert [c.target for c in store.commands_for_targets(["g1"])] == ["g1"]
    with pytest.raises(ValueError, match="status 'done'"):
        store.set_command_status(ids[0], "done", T0)
    with pytest.raises(NotFoundError):
        store.set_command_status(999, "failed", T0)
    with pytest.raises(ValueError, match="status 'bogus'"):
        CommandRecord("resize", "i-1", "x", status="bogus")


def test_pre_allocations_and_accuracy(store: StateStore) -> None:
    rec = PreAllocationRecord("t1", 4, 2, 8, 8, 1.5, 1.0, 300, 500, 20.0, 25.0)
    store.save_pre_allocations("r1", T0, [rec])
    (got,) = store.pre_allocation_history("t1")
    assert got.cpu_need == 4 and got.network_allocated_gbps == 1.0 and got.at == T0
    store.record_accuracy(
        [
            AccuracyRecord(
                "g1", "network_gbps", T0 + i * H, {"0.5": 1.0, "0.9": 2.0}, 1.2 + i, "lgbm"
            )
            for i in range(3)
        ]
    )
    acc = store.accuracy_for_group("g1", "network_gbps")
    assert [a.actual for a in acc] == [3.2, 2.2, 1.2]
    assert acc[0].predicted == {"0.5": 1.0, "0.9": 2.0}


def test_group_metrics_bundles_everything(store: StateStore) -> None:
    store.save_composition(
        T0,
        [GroupRecord("g1", "web", "discovered", T0, ("i-1",))],
        [GroupEventRecord("g1", "formed", "community", T0)],
    )
    for i in range(3):
        _run(store, f"r{i}", T0 + i * H)
        store.save_allocations(f"r{i}", T0 + i * H, [AllocationRecord("g1", "eu", 1.0 + i)])
    store.save_forecasts(
        "r2",
        T0 + 2 * H,
        [ForecastRecord("g1", "network_gbps", T0 + 3 * H, {"0.5": 2.0}, "lgbm", "1")],
    )
    metrics = store.group_metrics("g1", history=2)
    assert metrics is not None
    assert [a.gbps for a in metrics.allocations] == [3.0, 2.0]
    assert len(metrics.forecasts) == 1 and metrics.events[0].kind == "formed"
    assert store.group_metrics("nope") is None


def test_composer_snapshots_and_tokens(store: StateStore) -> None:
    assert store.latest_composer_snapshot() is None
    store.save_composer_snapshot("r1", T0, {"ids": {"a": "g1"}})
    store.save_composer_snapshot("r2", T0 + H, {"ids": {"a": "g2"}})
    assert store.latest_composer_snapshot() == ("r2", {"ids": {"a": "g2"}})
    tok = store.add_token("abc", name="ci", scope="read", salt="s", secret_hash="h" * 64, at=T0)
    assert tok.scope == "read" and tok.last_used_at is None
    store.touch_token("abc", T0 + H)
    rec, salt, digest = store.token_secret("abc")  # type: ignore[misc]
    assert rec.last_used_at == T0 + H and salt == "s" and digest == "h" * 64
    assert store.revoke_token("abc", T0 + 2 * H).revoked_at == T0 + 2 * H
    assert [t.id for t in store.list_tokens()] == ["abc"]
    with pytest.raises(NotFoundError, match="no API token"):
        store.revoke_token("zzz", T0)


def test_reading_block_shares_one_session_and_totals(store: StateStore) -> None:
    assert store.latest_allocation_totals() == (0, 0.0)
    _run(store, "r1", T0)
    store.save_allocations(
        "r1", T0, [AllocationRecord("g1", "eu", 2.0), AllocationRecord("g2", "eu", 3.5)]
    )
    with store.reading():
        first = store._local.session
        assert store.latest_allocation_totals() == (2, 5.5)
        assert store.latest_allocated_gbps() == {"g1": 2.0, "g2": 3.5}
        with store.reading():
            assert store._local.session is first
    assert getattr(store._local, "session", None) is None


def test_state_version_moves_with_data_changes_only(store: StateStore) -> None:
    v0 = store.state_version()
    store.acquire_lease("a", T0, H)
    store.latest_allocations()
    store.add_token("t1", name="x", scope="read", salt="s", secret_hash="h" * 64, at=T0)
    store.touch_token("t1", T0)
    assert store.state_version() == v0
    _run(store, "r1", T0)
    v1 = store.state_version()
    assert v1 == v0 + 2
    store.record_accuracy([AccuracyRecord("g1", "cpu", T0, {"0.5": 1.0}, 1.0, "lgbm")])
    assert store.state_version() == v1 + 1
    with pytest.raises(NotFoundError):
        store.set_command_status(12345, "failed", T0)
    assert store.state_version() == v1 + 1


def test_state_version_row_is_recreated_when_missing(store: StateStore) -> None:
    from sqlalchemy import delete

    from reconciler.state.models import StateVersionRow

    with store._sessions.begin() as session:
        session.execute(delete(StateVersionRow))
    assert store.state_version() == 0
    store.record_run_start("r1", T0)
    assert store.state_version() == 1
    store.record_run_start("r2", T0)
    assert store.state_version() == 2


def test_command_approval_pending_and_last_applied(store: StateStore) -> None:
    from reconciler.state import CommandStateError

    _run(store, "c1", T0)
    ids = store.save_commands(
        "c1",
        T0,
        [
            CommandRecord("scale", "asg-1", "r", {"desired": 2}, {"desired": 4}, status="applied"),
            CommandRecord(
                "scale", "asg-1", "r", {"desired": 4}, {"desired": 6}, status="needs_approval"
            ),
            CommandRecord(
                "resize", "i-1", "r", {}, {"instance_type": "m6i.xlarge"}, status="scheduled"
            ),
            CommandRecord("edge_cache", "edge-cache/r1", "r", {}, {"nodes": 2}, status="applied"),
        ],
    )
    _run(store, "bad", T0 + H, status="failed")
    store.save_commands(
        "bad", T0 + H, [CommandRecord("scale", "asg-1", "r", {}, {"desired": 9}, status="applied")]
    )
    assert [c.id for c in store.list_commands(["needs_approval", "scheduled"])] == [ids[2], ids[1]]
    applied = store.last_applied(["scale", "edge_cache"])
    # a failed run records only what its apply step really put on the stack: that is in force
    assert applied[("scale", "asg-1")].after == {"desired": 9}
    assert applied[("edge_cache", "edge-cache/r1")].after == {"nodes": 2}
    got = store.approve_command(ids[1], T0 + H, by="ops")
    assert (got.status, got.outcome, got.updated_at) == ("approved", "approved by ops", T0 + H)
    with pytest.raises(CommandStateError, match="is approved, not needs_approval"):
        store.approve_command(ids[1], T0 + H)
    with pytest.raises(NotFoundError):
        store.approve_command(10**6, T0)
    assert store.update_commands([(ids[2], "applied", "done")], T0 + 2 * H) == []
    assert store.get_command(ids[2]).status == "applied"  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="unknown command status"):
        store.list_commands(["nope"])
    # cooldown history: changed at or after ``since`` (the scheduled resize counts from when it
    # was applied, T0 + 2h); the failed run's applied scale went out before its process died
    since = store.commands_for_targets(["asg-1", "i-1"], since=T0 + H, statuses=["applied"])
    assert [(c.run_id, c.kind) for c in since] == [("bad", "scale"), ("c1", "resize")]
    assert [c.id for c in store.commands_for_targets(["asg-1"], since=T0 + H)] == [
        since[0].id,
        ids[1],  # approved at T0 + 1h
    ]


def test_commands_that_changed_nothing_stay_out_of_real_state(store: StateStore) -> None:
    """A dry run's commands, and a failed run's commands that were never applied, are not
    pending, approvable, in force, nor in the cooldown history."""
    from reconciler.state import CommandStateError

    def scale(after: int, status: str) -> CommandRecord:
        return CommandRecord(
            "scale", "asg-1", "r", {"desired": 2}, {"desired": after}, status=status
        )

    store.record_run_start("dry", T0, dry_run=True)
    dry = store.save_commands("dry", T0, [scale(3, "applied"), scale(4, "needs_approval")])
    store.record_run_finish("dry", T0, status="succeeded", step_timings={})
    _run(store, "bad", T0, status="failed")
    bad = store.save_commands("bad", T0, [scale(5, "needs_approval"), scale(6, "planned")])
    assert store.list_commands() == []
    assert store.last_applied(["scale"]) == {}
    assert store.commands_for_targets(["asg-1"], statuses=["applied"]) == []
    assert [c.id for c in store.commands_for_targets(["asg-1"])] == [bad[1], bad[0]]
    with pytest.raises(CommandStateError, match=f"command {dry[1]} cannot be approved: run dry "):
        store.approve_command(dry[1], T0 + H)
    with pytest.raises(CommandStateError, match="cannot be approved: run bad failed"):
        store.approve_command(bad[0], T0 + H)
    assert store.get_command(bad[0]).status == "needs_approval"  # type: ignore[union-attr]


def test_update_commands_is_compare_and_set(store: StateStore) -> None:
    _run(store, "c1", T0)
    applied, waiting, approved = store.save_commands(
        "c1",
        T0,
        [
            CommandRecord("scale", "asg-1", "r", {}, {"desired": 4}, status="applied"),
            CommandRecord("scale", "asg-2", "r", {}, {"desired": 4}, status="needs_approval"),
            CommandRecord("resize", "i-1", "r", {}, {"instance_type": "x"}, status="approved"),
        ],
    )
    unchanged = store.update_commands(
        [(applied, "skipped", "superseded"), (waiting, "skipped", "no longer needed")], T0 + H
    )
    assert unchanged == [applied]
    assert store.get_command(applied).status == "applied"  # type: ignore[union-attr]
    assert store.get_command(waiting).status == "skipped"  # type: ignore[union-attr]
    # the cycle read "scheduled"; it is "approved" now: left as it is
    moved = store.update_commands(
        [(approved, "applied", None)], T0 + H, expected={approved: "scheduled"}
    )
    assert moved == [approved]
    assert (
        store.update_commands(
            [(approved, "applied", None)], T0 + H, expected={approved: "approved"}
        )
        == []
    )
    got = store.get_command(approved)
    assert got is not None and (got.status, got.updated_at) == ("applied", T0 + H)
