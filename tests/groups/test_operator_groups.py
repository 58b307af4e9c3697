"""Manual groups keep their class, and groups made through the API are composed each cycle."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from policies.schema import Policy
from providers.models import ProviderName, Resource
from reconciler.analysis import AnalysisResult
from reconciler.analysis.explain import Community, CommunityExplanation
from reconciler.groups import ComposerConfig, ManualGroup, compose, resolve_members
from reconciler.state import GroupRecord
from reconciler.steps.groups import run_compose

T0 = datetime(2026, 3, 1, tzinfo=UTC)
CFG = ComposerConfig(form_cycles=1)


def _res(rid: str, **tags: str) -> Resource:
    return Resource(id=rid, provider=ProviderName.FAKE, account="1", region="r1", tags=tags)


INVENTORY = [_res("a0", app="pay"), _res("a1", app="pay"), _res("b0"), _res("b1"), _res("c0")]
POLICY = Policy.model_validate(
    {
        "name": "t",
        "pools": {"global_gbps": 1.0, "regions": {"r1": {"capacity_gbps": 1.0}}},
        "group_classes": {"standard": {}, "critical": {"priority": 0, "guarantee_gbps": 0.1}},
        "default_class": "standard",
        "group_selection": {
            "traffic": {"form_cycles": 1},
            "manual_groups": [
                {"name": "pay", "match_tags": {"app": "pay"}, "group_class": "critical"}
            ],
        },
    }
)


def _analysis(*communities: tuple[str, ...]) -> AnalysisResult:
    return AnalysisResult(
        communities=[
            Community(
                index=i,
                members=members,
                confidence=0.9,
                conductance=0.1,
                internal_share=0.9,
                internal_weight=1.0,
                boundary_weight=0.0,
                shared_services_weight=0.0,
                explanation=CommunityExplanation(),
            )
            for i, members in enumerate(communities)
        ]
    )


def _api(gid: str, members: tuple[str, ...], cls: str | None, kind: str = "manual") -> GroupRecord:
    return GroupRecord(
        id=gid,
        name=f"{gid}-name",
        kind=kind,
        created_at=T0,
        members=members,
        policy_class=cls,
        explanation={"source": "api", "created_by": "operator"},
    )


def test_resolve_members_adds_tag_matches() -> None:
    assert resolve_members(["x"], {"app": "pay"}, INVENTORY) == ("a0", "a1", "x")
    assert resolve_members(["b0"], None, INVENTORY) == ("b0",)


def test_a_manual_group_carries_its_class_and_name_and_follows_changes() -> None:
    spec = ManualGroup(id="m", name="payments", members=("a0",), group_class="critical")
    state, _ = compose(None, [["a0", "b0"]], at=T0, config=CFG, manual=[spec])
    assert state.groups["m"].group_class == "critical" and state.groups["m"].name == "payments"
    moved = spec.model_copy(update={"group_class": "standard"})
    state, _ = compose(state, [["b0"]], at=T0 + timedelta(minutes=5), config=CFG, manual=[moved])
    assert state.groups["m"].group_class == "standard"


def test_every_composed_group_gets_its_class() -> None:
    operator = [
        _api("m-1", ("b0",), "critical"),
        _api("t-2", ("c0",), None, kind="tenant"),
        _api("m-3", ("a0", "b1"), "gold"),  # a0 is the policy's; gold is not a policy class
    ]
    out = run_compose(
        None, _analysis(("a0", "a1", "b0", "b1", "c0")), INVENTORY, T0, POLICY, operator
    )
    by = out.by_id()
    assert by["manual-pay"].group_class == "critical" and by["manual-pay"].kind == "manual"
    assert by["m-1"].group_class == "critical" and by["m-1"].members == ("b0",)
    assert by["m-1"].name == "m-1-name" and by["m-1"].kind == "manual"
    assert by["t-2"].kind == "tenant" and by["t-2"].group_class == "standard"
    assert by["m-3"].members == ("b1",) and by["m-3"].group_class == "standard"
    assert not [g for g in out.groups if g.kind == "application"]  # every resource is held
    # the next cycle without them: the API groups are dissolved with the manual definitions
    again = run_compose(
        out.state, _analysis(("b0", "b1", "c0")), INVENTORY, T0 + timedelta(minutes=5), POLICY
    )
    assert {"m-1", "t-2", "m-3"} <= set(again.dissolved)
    assert {g.group_class for g in again.groups if g.kind == "application"} == {"standard"}
