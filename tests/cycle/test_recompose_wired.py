"""A recompose is taken up by the next cycle (issue 11, finding 3): remediation records one when a
congested group's membership no longer matches its traffic; the next compose step re-forms that
group from the communities at once and marks the stored action applied."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl

from bench.cycle import FleetSpec, synthetic_fleet
from policies import load_policy
from policies.schema import Policy, Pools, RegionPool
from providers.fake import FakeProvider
from providers.models import FLOW_SCHEMA, FlowChunk, NetworkInterface, ProviderName, Resource
from reconciler.clock import SimulatedClock
from reconciler.loop import CycleOutputs, RunReport, run_once
from reconciler.remediation import RemediationConfig
from reconciler.state import StateStore
from reconciler.steps.build import CycleSettings, build_context
from reconciler.steps.forecast import ForecastSettings
from reconciler.steps.package import StepSettings

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
CYCLE = timedelta(minutes=15)
RECOMPOSE_KIND = "remediate.recompose"
FIVE = timedelta(minutes=5)
NEW = Resource(
    id="i-new",
    provider=ProviderName.AWS,
    account="123456789012",
    region="us-east-1",
    zone="us-east-1a",
    instance_type="m6i.large",
    tags={"Name": "new"},
    interfaces=(NetworkInterface(id="eni-new", private_ips=("10.9.9.9",)),),
)


def _policy() -> Policy:
    """Groups from traffic alone (no hard tag), three cycles to form one, a pool far too small
    (every group congested, borrowing cannot cover it)."""
    policy = load_policy(ROOT / "policies" / "examples" / "default.yaml")
    sel = policy.group_selection
    return policy.model_copy(
        update={
            "group_selection": sel.model_copy(
                update={
                    "tag_keys": sel.tag_keys.model_copy(update={"hard": [], "soft": []}),
                    "traffic": sel.traffic.model_copy(update={"form_cycles": 3}),
                }
            ),
            "pools": Pools(
                global_gbps=1.0,
                regions={"us-east-1": RegionPool(capacity_gbps=1.0, guaranteed_gbps=0.5)},
            ),
        }
    )


def _flows(provider: FakeProvider, pairs: list[tuple[str, str]], start: datetime) -> FlowChunk:
    """Heavy flows both ways between each pair, every 5 minutes for two hours from ``start``."""
    iface = {r.id: r.interfaces[0] for r in provider.resources}
    rows = [
        {
            "version": 2,
            "account_id": "123456789012",
            "interface_id": iface[a].id,
            "srcaddr": iface[a].private_ips[0],
            "dstaddr": iface[b].private_ips[0],
            "srcport": 40000,
            "dstport": 443,
            "protocol": 6,
            "packets": 5 * 10**7,
            "bytes": 5 * 10**10,
            "start": start + FIVE * k,
            "end": start + FIVE * (k + 1),
            "action": "ACCEPT",
            "log_status": "OK",
        }
        for k in range(24)
        for x, y in pairs
        for a, b in ((x, y), (y, x))
    ]
    frame = pl.DataFrame(rows)
    frame = frame.with_columns(
        [pl.lit(None, dtype=t).alias(c) for c, t in FLOW_SCHEMA.items() if c not in frame.columns]
    ).select([pl.col(c).cast(t) for c, t in FLOW_SCHEMA.items()])
    return FlowChunk(source=f"test://recompose/{start:%H%M}", records=frame)


def test_the_next_cycle_re_forms_a_drifted_group_and_applies_the_action(tmp_path: Path) -> None:
    provider = synthetic_fleet(
        FleetSpec(resources=12, groups=4, metric_days=3.2, flow_hours=3), NOW + timedelta(hours=2)
    )
    eager = RemediationConfig(
        utilisation_threshold=0.05, points=1, borrow_margin=1.5, drift_threshold=0.1
    )
    settings = CycleSettings(
        policy_path=ROOT / "policies" / "examples" / "default.yaml",
        history_root=str(tmp_path / "history"),
        state_dir=tmp_path / "state",
        database_url=f"sqlite:///{tmp_path / 'state.db'}",
        steps=StepSettings(remediation=eager, forecast=ForecastSettings(min_lgbm_days=100)),
    )
    provider.resources.append(NEW)  # idle until its traffic starts
    state = StateStore.open(settings.database_url or "")
    clock = SimulatedClock(NOW)
    policy = _policy()

    def cycle() -> tuple[RunReport, CycleOutputs]:
        ctx = build_context(settings, clock=clock, provider=provider, policy=policy, state=state)
        seen: list[CycleOutputs] = []
        ctx.observer = lambda _report, out: seen.append(out)
        report = run_once(ctx)
        assert report.ok, report.error
        clock.advance(CYCLE)
        return report, seen[0]

    for _ in range(3):  # the fleet's four applications form their groups
        _, out = cycle()
    assert out.groups is not None
    r0, r1, r2 = "i-00000000", "i-00000001", "i-00000002"
    (group,) = [g for g in out.groups.groups if r0 in g.members]
    assert set(group.members) == {r0, r1, r2}

    # r2 now talks mostly with an instance outside every group: its group's membership no
    # longer matches its traffic; the group is congested and the pool cannot lend
    provider.chunks.append(_flows(provider, [(r0, r1), (r2, NEW.id)], clock.now() - 2 * CYCLE))
    report, out = cycle()
    assert out.remediation is not None and out.analysis is not None
    assert (r2, NEW.id) in [c.members for c in out.analysis.result.communities]
    assert [a.group_id for a in out.remediation.actions if a.kind == "recompose"] == [group.id]
    assert report.step("compose").summary["recomposed"] == 0
    (action,) = [c for c in state.list_commands() if c.kind == "remediate.recompose"]
    assert (action.target, action.status) == (group.id, "planned")

    # the next cycle re-forms it from this cycle's communities at once (a new community would
    # wait form_cycles cycles and a member its leave hysteresis)
    report, out = cycle()
    assert out.groups is not None
    members = {g.id: set(g.members) for g in out.groups.groups}
    assert members[group.id] == {r0, r1}  # still mostly its members: it keeps its id
    (split,) = [e for e in out.groups.events if e.kind == "split"]
    assert members[split.group_id] == {r2, NEW.id}
    assert group.id in split.reason and "recompose" in split.reason
    assert report.step("compose").summary["recomposed"] == 1
    done = state.get_command(action.id or 0)
    assert done is not None and done.status == "applied"
    assert done.outcome is not None and split.group_id in done.outcome
    stored = {e.kind for e in state.recent_events(split.group_id)}
    assert "split" in stored

    # taken up once: the following cycle has nothing left to recompose
    report, _ = cycle()
    assert report.step("compose").summary["recomposed"] == 0
    state.close()


def test_pending_recomposes_are_settled_applied_skipped_or_superseded(tmp_path: Path) -> None:
    """Read from the store: planned actions of succeeded real runs only; one older than its
    group's last membership change is superseded, one whose group is gone is skipped; the
    others are applied with the events they caused, through the compare-and-set update."""
    from types import SimpleNamespace

    from reconciler.groups import ComposerState, Group, GroupKind
    from reconciler.state import CommandRecord, GroupEventRecord, GroupRecord
    from reconciler.steps.groups import pending_recomposes, run_compose

    store = StateStore.open(f"sqlite:///{tmp_path / 'state.db'}")
    t0, minute = NOW, timedelta(minutes=1)

    def run(run_id: str, at: datetime, targets: list[str], *, dry: bool = False) -> list[int]:
        store.record_run_start(run_id, at, dry_run=dry)
        ids = store.save_commands(
            run_id,
            at,
            [CommandRecord(RECOMPOSE_KIND, t, "drift 60%", status="planned") for t in targets],
        )
        store.record_run_finish(run_id, at, status="succeeded", step_timings={})
        return ids

    old, gone, live = run("r1", t0, ["grp-old", "grp-gone", "grp-a"])
    (dry,) = run("r2", t0 + minute, ["grp-a"], dry=True)
    # grp-old changed after its action was recorded: that action is stale
    store.save_composition(
        t0 + minute,
        [GroupRecord("grp-old", "grp-old", "discovered", t0, members=("z",))],
        [GroupEventRecord("grp-old", "grew", "1 resource(s) joined", t0 + minute)],
    )
    pending = pending_recomposes(store)
    assert [a.id for a in pending.actions] == [gone, live]
    assert [(r.command_id, r.status) for r in pending.superseded] == [(old, "skipped")]

    def group(gid: str, members: list[str]) -> Group:
        return Group(
            id=gid, kind=GroupKind.DISCOVERED, members=members, created_at=t0, updated_at=t0
        )

    prev = ComposerState(
        cycle=3,
        at=t0,
        groups={"grp-a": group("grp-a", ["x", "y"]), "grp-old": group("grp-old", ["z"])},
    )
    analysis = SimpleNamespace(
        communities=[SimpleNamespace(members=m, confidence=1.0) for m in (("x",), ("y",), ("z",))],
        strength={},
        hub_nodes=set(),
    )
    groups = run_compose(
        prev.model_dump(mode="json"), analysis, [], t0 + 2 * minute, _policy(), recompose=pending
    )
    assert groups.summary()["recomposed"] == 1 and groups.summary()["recompose_skipped"] == 2
    members = {g.id: g.members for g in groups.groups}
    assert members["grp-a"] == ("x",)  # y's community forms at once, split off
    rows, expected = groups.settlements()  # what the cycle's record writes
    assert store.update_commands(rows, t0 + 2 * minute, expected=expected) == []
    got = {i: store.get_command(i) for i in (old, gone, live, dry)}
    assert {i: c.status for i, c in got.items() if c} == {
        old: "skipped",
        gone: "skipped",
        live: "applied",
        dry: "planned",  # a dry run's action is never taken up
    }
    assert "superseded" in (got[old].outcome or "")  # type: ignore[union-attr]
    assert "grp-gone no longer exists" in (got[gone].outcome or "")  # type: ignore[union-attr]
    assert "split" in (got[live].outcome or "")  # type: ignore[union-attr]
    assert pending_recomposes(store).actions == ()
    store.close()
