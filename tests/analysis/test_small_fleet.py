"""Hubs on a fleet the size of the sandbox (~24 nodes), where the top 2% rounds to one node."""

from __future__ import annotations

import itertools

from providers.models import ResourceKind
from reconciler.analysis import AnalysisConfig, analyze
from tests.analysis.conftest import NOW, clique, edges, resource

MB = 1_000_000


def _app_rows(name: str, size: int, mbps: float) -> list[tuple[str, str, int]]:
    return clique(f"{name}-", size, int(mbps * MB))


def _small_fleet() -> tuple[list[tuple[str, str, int]], dict[str, str]]:
    """Four apps of 3-5 nodes, DNS and monitoring talking to every node, a DB used by three."""
    apps = {"shop": 5, "search": 4, "billing": 3, "analytics": 4}
    rows: list[tuple[str, str, int]] = []
    truth: dict[str, str] = {}
    for name, size in apps.items():
        rows += _app_rows(name, size, 20)
        for i in range(size):
            node = f"{name}-{i}"
            truth[node] = name
            rows += [(node, "dns", int(0.05 * MB)), ("monitoring", node, int(0.2 * MB))]
    for name in ("shop", "search", "billing"):
        rows += [(f"{name}-{i}", "shared-db", int(6 * MB)) for i in range(2)]
    return rows, truth


def _groups(result) -> set[frozenset[str]]:
    return {frozenset(c.members) for c in result.communities}


def test_small_fleet_hubs_are_shared_services_and_apps_stay_apart() -> None:
    rows, truth = _small_fleet()
    result = analyze(edges(rows), [], now=NOW, config=AnalysisConfig())
    assert {"dns", "monitoring", "shared-db"} <= result.hub_nodes
    expected = {
        frozenset(n for n, app in truth.items() if app == name) for name in set(truth.values())
    }
    assert _groups(result) == expected
    db = next(h for h in result.hubs if h.node == "shared-db")
    assert db.communities == 3 and "spreads over 3" in " ".join(db.reasons)


def test_sandbox_shape_with_hard_app_tags_puts_every_shared_service_out() -> None:
    """The demo fleet: two regions, shared services tagged ``app=shared-*``, ``app`` hard.

    eu-west-1's DNS and monitoring serve a single application, so their traffic cannot spread
    over communities; the hard tag leaves each alone in its community and the lone-server rule
    moves it to shared services instead of making it a one-member application.
    """
    rows: list[tuple[str, str, int]] = []
    inv = []
    apps = [
        ("shop", "us", 5, True),
        ("search", "us", 4, False),
        ("billing", "us", 3, True),
        ("analytics", "eu", 4, False),
    ]
    for region in ("us", "eu"):
        for svc in ("dns", "monitoring", "db"):
            inv.append(resource(f"{svc}-{region}", app=f"shared-{svc}"))
        inv.append(resource(f"nat-{region}", ResourceKind.NAT_GATEWAY))
        rows.append((f"nat-{region}", "external:internet", MB))
    for name, region, size, uses_db in apps:
        members = [f"{name}-{i}" for i in range(size)]
        inv += [resource(m, app=name) for m in members]
        rows += [(a, b, 10 * MB) for a, b in itertools.pairwise(members)]
        for m in members:
            rows += [(m, f"dns-{region}", int(0.05 * MB)), (f"monitoring-{region}", m, MB // 5)]
            rows.append((m, f"nat-{region}", MB))
        if uses_db:
            rows += [(m, f"db-{region}", 3 * MB) for m in members[-2:]]
    cfg = AnalysisConfig(hard_tag_keys=("app",), hub_min_partners=4)
    result = analyze(edges(rows), inv, now=NOW, config=cfg)
    shared = {f"{s}-{r}" for s in ("dns", "monitoring") for r in ("us", "eu")} | {"db-us"}
    assert shared <= result.hub_nodes
    assert _groups(result) == {
        frozenset(f"{name}-{i}" for i in range(size)) for name, _, size, _ in apps
    }
    lone = next(h for h in result.hubs if h.node == "dns-eu")
    assert "alone in its community" in " ".join(lone.reasons)


def test_lone_server_rule_can_be_turned_off() -> None:
    rows = _app_rows("a", 4, 10) + [(f"a-{i}", "dns", MB // 10) for i in range(4)]
    inv = [resource(f"a-{i}", app="a") for i in range(4)] + [resource("dns", app="dns")]
    on = AnalysisConfig(hard_tag_keys=("app",), hub_min_partners=4)
    assert "dns" in analyze(edges(rows), inv, now=NOW, config=on).hub_nodes
    off = on.model_copy(update={"hub_lone_servers": False})
    result = analyze(edges(rows), inv, now=NOW, config=off)
    assert "dns" not in result.hub_nodes and frozenset({"dns"}) in _groups(result)
