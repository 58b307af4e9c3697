from __future__ import annotations

from datetime import timedelta

import polars as pl
from sklearn.metrics import adjusted_rand_score

from providers.models import ResourceKind
from reconciler.analysis import AnalysisConfig, analyze
from reconciler.analysis.synthetic import HUB_IDS, synthetic_fleet
from tests.analysis.conftest import NOW, clique, edges, resource


def _groups(result) -> set[frozenset[str]]:
    return {frozenset(c.members) for c in result.communities}


def test_two_cliques_with_dns_hub_are_two_apps_and_a_shared_service() -> None:
    rows = clique("a", 5) + clique("b", 5)
    rows += [(n, "dns", 1000) for n in [f"a{i}" for i in range(5)] + [f"b{i}" for i in range(5)]]
    cfg = AnalysisConfig(hub_min_partners=8, hub_partner_zscore=2.0)
    result = analyze(edges(rows), [], now=NOW, config=cfg)
    assert _groups(result) == {
        frozenset(f"a{i}" for i in range(5)),
        frozenset(f"b{i}" for i in range(5)),
    }
    (hub,) = result.hubs
    assert hub.node == "dns" and "partners" in hub.reasons[0]
    top = result.communities[0].explanation.top_edges[0]
    assert top.src.startswith("a") and top.dst.startswith("a")
    assert result.communities[0].confidence == 1.0


def test_synthetic_fleet_recovered_and_every_hub_isolated() -> None:
    fleet = synthetic_fleet(apps=40, windows=2, start=NOW - timedelta(minutes=10))
    result = analyze(fleet.edges, fleet.inventory, now=NOW, config=AnalysisConfig())
    nodes = sorted(fleet.truth)
    ari = adjusted_rand_score(
        [fleet.truth[n] for n in nodes], [result.membership[n] for n in nodes]
    )
    assert ari > 0.95
    assert set(fleet.hubs) <= result.hub_nodes
    assert "external:internet" in result.hub_nodes
    plain = analyze(
        fleet.edges, fleet.inventory, now=NOW, config=AnalysisConfig(), handle_hubs=False
    )
    plain_ari = adjusted_rand_score(
        [fleet.truth[n] for n in nodes], [plain.membership[n] for n in nodes]
    )
    assert plain_ari < ari
    shared_db = next(h for h in result.hubs if h.node == HUB_IDS["shared_db"])
    assert shared_db.communities >= 3 and shared_db.participation > 0.5


def test_hard_tags_never_merge_or_split_values() -> None:
    # one clique whose members carry two different app tags, plus a tagged node with no traffic
    # inside its clique: the tag keeps x2 with team y even though it talks only to team x
    rows = [*clique("x", 4), ("y0", "y1", 1000000), ("x0", "y2", 5000000)]
    inv = [resource(f"x{i}", app="x") for i in range(4)]
    inv += [resource(f"y{i}", app="y") for i in range(3)]
    cfg = AnalysisConfig(hard_tag_keys=("app",))
    result = analyze(edges(rows), inv, now=NOW, config=cfg)
    assert _groups(result) == {
        frozenset(f"x{i}" for i in range(4)),
        frozenset(f"y{i}" for i in range(3)),
    }
    y = next(c for c in result.communities if "y2" in c.members)
    assert y.explanation.shared_tags == {"app": "y"}
    assert "placed by tag app=y" in y.explanation.member_reasons["y2"]
    untagged = analyze(edges(rows), inv, now=NOW, config=cfg, use_tags=False)
    assert frozenset({"x0", "y2"}) <= next(
        frozenset(c.members) for c in untagged.communities if "x0" in c.members
    )


def test_soft_tags_tip_a_balanced_node() -> None:
    rows = clique("p", 3) + clique("q", 3) + [("m", "p0", 1_000_000), ("m", "q0", 1_000_000)]
    inv = [resource(f"p{i}", team="p") for i in range(3)] + [resource("m", team="q")]
    inv += [resource(f"q{i}", team="q") for i in range(3)]
    cfg = AnalysisConfig(soft_tag_keys=("team",), soft_tag_bonus=1.0)
    result = analyze(edges(rows), inv, now=NOW, config=cfg)
    assert result.membership["m"] == result.membership["q0"]


def test_declared_shared_kinds_are_hubs() -> None:
    rows = [("a", "nat", 10), ("b", "nat", 10), ("a", "b", 100)]
    inv = [resource("a"), resource("b"), resource("nat", ResourceKind.NAT_GATEWAY)]
    result = analyze(edges(rows), inv, now=NOW, config=AnalysisConfig())
    assert [h.node for h in result.hubs] == ["nat"]
    assert "nat_gateway" in result.hubs[0].reasons[0]
    assert _groups(result) == {frozenset({"a", "b"})}


def test_no_traffic_gives_no_communities_and_a_note() -> None:
    empty = edges([]).clear()
    result = analyze(empty, [resource("a")], now=NOW, config=AnalysisConfig())
    assert result.communities == []
    assert result.idle == ["a"]
    assert any("no usable traffic" in n for n in result.notes)


def test_only_self_loops_and_old_rows() -> None:
    frame = pl.concat([edges([("a", "a", 5)]), edges([("a", "b", 5)], age=timedelta(days=2))])
    result = analyze(frame, [], now=NOW, config=AnalysisConfig())
    assert result.communities == []
    assert result.set_aside == {"self-loop: src == dst": 1}
    assert any("older than the lookback" in n for n in result.notes)


def test_unknown_nodes_are_grouped_and_reported() -> None:
    rows = [*clique("k", 3), ("k0", "10.9.9.9", 1000000)]
    result = analyze(edges(rows), [resource("k0")], now=NOW, config=AnalysisConfig())
    assert "10.9.9.9" in result.unknown
    assert any("not in the inventory" in n for n in result.notes)


def test_giant_component_is_reported_and_broken_up() -> None:
    rows = []
    for i in range(6):
        rows += clique(f"c{i}-", 5)
        rows.append((f"c{i}-0", f"c{(i + 1) % 6}-0", 1000))  # a ring of light links
    result = analyze(edges(rows), [], now=NOW, config=AnalysisConfig())
    assert len(result.communities) == 6
    assert any("one component holds 100%" in n for n in result.notes)


def test_deterministic_for_a_fixed_seed() -> None:
    fleet = synthetic_fleet(apps=15, seed=3, start=NOW - timedelta(minutes=5))
    a = analyze(fleet.edges, fleet.inventory, now=NOW, config=AnalysisConfig())
    b = analyze(fleet.edges, fleet.inventory, now=NOW, config=AnalysisConfig())
    assert a.membership == b.membership
