"""Our own diff: desired state vs inventory (and the previous state for weights and tiers)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infra.desired_state import DesiredState
from providers.models import ProviderName, Resource, ResourceKind
from reconciler.actuate import Change, ChangeKind, diff_desired_vs_inventory, load_inventory
from tests.infra.samples import web_state


def res(id_: str, itype: str | None, region: str = "us-east-1", **tags: str) -> Resource:
    return Resource(
        id=id_,
        provider=ProviderName.AWS,
        account="111122223333",
        region=region,
        kind=ResourceKind.INSTANCE
        if itype and not itype.startswith("cache.")
        else ResourceKind.OTHER,
        instance_type=itype,
        tags=tags,
    )


def inventory() -> list[Resource]:
    asg = {"aws:autoscaling:groupName": "web-asg-prod"}
    return [
        res("i-0aaa", "m5.large"),
        res("i-0bbb", "r6i.2xlarge"),
        res("i-1", "c6in.large", "eu-west-1", **asg),
        res("i-2", "c5.large", "eu-west-1", **asg),
        res("edge-use1-001", "cache.r7g.large"),
        res("edge-use1-002", "cache.r7g.large"),
    ]


def by_target(changes: list[Change]) -> dict[tuple[ChangeKind, str], Change]:
    return {(c.kind, c.target): c for c in changes}


def test_diff_against_inventory() -> None:
    desired = DesiredState.model_validate(web_state())
    changes = by_target(diff_desired_vs_inventory(desired, inventory()))
    assert changes[ChangeKind.INSTANCE_TYPE, "web-1"] == Change(
        ChangeKind.INSTANCE_TYPE, "web-1", "m5.large", "m5.2xlarge"
    )
    assert (ChangeKind.INSTANCE_TYPE, "web-db") not in changes  # protected: kept as is
    guard = changes[ChangeKind.GUARD_RAIL, "web-db"]
    assert (guard.before, guard.after) == ("r6i.4xlarge", "r6i.2xlarge")
    count = changes[ChangeKind.COUNT, "web-asg"]
    assert (count.before, count.after) == ("2", "4")
    mixed = changes[ChangeKind.INSTANCE_TYPE, "web-asg"]
    assert (mixed.before, mixed.after) == ("c5.large x1, c6in.large x1", "c6in.large")
    assert changes[ChangeKind.CREATE, "batch-asg"].after == "desired=5"  # policy minimum 5
    size = changes[ChangeKind.CACHE_SIZE, "edge-use1"]
    assert (size.before, size.after) == ("2 x cache.r7g.large", "3 x cache.r7g.large")
    new = changes[ChangeKind.NEW_CACHE, "edge-apse2"]
    assert (new.after, new.detail) == ("2 x cache.r7g.large", "ap-southeast-2")
    weights = {t: c.after for (k, t), c in changes.items() if k is ChangeKind.WEIGHT}
    assert weights == {
        "api/us-east-1": "68 (dial 100)",
        "api/eu-west-1": "22 (dial 32.4)",
        "api/ap-southeast-2": "10 (dial 14.7)",
    }
    assert changes[ChangeKind.TIER, "web"].after == "gold"


def test_nothing_to_do_when_inventory_and_previous_match() -> None:
    doc = web_state()
    doc["groups"] = doc["groups"][:1]
    doc["groups"][0]["instances"][0]["instance_type"] = "m5.large"
    doc["groups"][0]["scaling_groups"][0]["desired"] = 2
    doc["groups"][0]["scaling_groups"][0]["instance_type"] = None
    doc["edge_caches"] = doc["edge_caches"][:1]
    doc["edge_caches"][0]["num_nodes"] = 2
    desired = DesiredState.model_validate(doc)
    changes = diff_desired_vs_inventory(desired, inventory(), previous=desired)
    # only guard rails remain: the protected instance and the routing share floor
    assert [(c.kind, c.target) for c in changes] == [
        (ChangeKind.GUARD_RAIL, "web-db"),
        (ChangeKind.GUARD_RAIL, "api/ap-southeast-2"),
    ]


def test_weight_change_against_previous_and_missing_adoption() -> None:
    old = web_state()
    new = web_state()
    new["routing"][0]["regions"][1]["share"] = 3  # eu-west-1 up to us-east-1's share
    new["groups"][0]["instances"][0]["import_id"] = "i-gone"
    changes = diff_desired_vs_inventory(
        DesiredState.model_validate(new),
        inventory(),
        previous=DesiredState.model_validate(old),
    )
    found = by_target(changes)
    weights = {t: (c.before, c.after) for (k, t), c in found.items() if k is ChangeKind.WEIGHT}
    assert weights == {
        "api/us-east-1": ("68 (dial 100)", "45 (dial 100)"),
        "api/eu-west-1": ("22 (dial 32.4)", "45 (dial 100)"),
        "api/ap-southeast-2": ("10 (dial 14.7)", "10 (dial 22.2)"),
    }
    assert found[ChangeKind.ADOPT_MISSING, "web-1"].after == "i-gone"
    assert (ChangeKind.TIER, "web") not in found


def test_load_inventory_keeps_bad_records_aside(tmp_path: Path) -> None:
    good = inventory()[0].model_dump(mode="json")
    path = tmp_path / "inventory.json"
    path.write_text(json.dumps({"resources": [good, {"id": "x"}, good | {"provider": "ibm"}]}))
    loaded = load_inventory(path)
    assert [r.id for r in loaded.resources] == ["i-0aaa"]
    assert [r.line for r in loaded.rejected] == [1, 2]
    assert "provider: Field required" in loaded.rejected[0].reason
    assert "provider: Input should be" in loaded.rejected[1].reason
    bad = tmp_path / "bad.json"
    bad.write_text('{"nothing": 1}')
    with pytest.raises(ValueError, match="expected a list of resources"):
        load_inventory(bad)


def test_cluster_mode_members_are_counted() -> None:
    """Cluster-mode members are named ``<group>-0001-001`` (shard, node): two shards of one
    node each match a desired cluster-mode cache of 2 shards, so no size change is shown."""
    doc = web_state()
    doc["edge_caches"] = doc["edge_caches"][:1]
    doc["edge_caches"][0].update({"num_nodes": 2, "shards": 2, "replicas_per_shard": 0})
    desired = DesiredState.model_validate(doc)
    fleet = [r for r in inventory() if not r.id.startswith("edge-")] + [
        res("edge-use1-0001-001", "cache.r7g.large"),
        res("edge-use1-0002-001", "cache.r7g.large"),
    ]
    changes = by_target(diff_desired_vs_inventory(desired, fleet))
    assert (ChangeKind.CACHE_SIZE, "edge-use1") not in changes
    assert (ChangeKind.NEW_CACHE, "edge-use1") not in changes
