"""The desired-state schema: exported JSON schema up to date, validation messages, guard rails."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infra.desired_state import (
    SCHEMA_PATH,
    DesiredState,
    DesiredStateError,
    RoutingSpec,
    export_schema,
    parse_desired_state,
)
from infra.guards import TOTAL_WEIGHT, GuardEvent, route_weights
from tests.infra.samples import minimal_state, web_state


def test_exported_schema_is_up_to_date(tmp_path: Path) -> None:
    fresh = export_schema(tmp_path / "schema.json")
    assert SCHEMA_PATH.read_text(encoding="utf-8") == fresh, (
        "infra/desired_state.schema.json is stale: run python -m infra.desired_state"
    )
    schema = json.loads(fresh)
    assert schema["properties"]["schema_version"]["const"] == 1
    assert schema["additionalProperties"] is False


def test_example_file_is_valid() -> None:
    example = SCHEMA_PATH.parent / "examples" / "desired-state.example.json"
    state = parse_desired_state(example.read_text(encoding="utf-8"), source=str(example))
    assert state.schema_version == 1 and state.generated_at is not None


def test_samples_round_trip() -> None:
    for doc in (web_state(), minimal_state()):
        state = parse_desired_state(json.dumps(doc), source="sample")
        again = parse_desired_state(state.model_dump_json(), source="dump")
        assert again == state
    assert DesiredState.model_validate(web_state()).regions == [
        "ap-southeast-2",
        "eu-west-1",
        "us-east-1",
    ]


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d["groups"][0]["instances"][1].pop("current_instance_type"), "protected needs"),
        (lambda d: d["groups"].append(dict(d["groups"][0])), "duplicate group id: web"),
        (lambda d: d.pop("cdn"), "no cdn is described"),
        (lambda d: d["edge_caches"][0].pop("origin_domain"), "origin_shield needs origin_domain"),
        (lambda d: d["routing"][0].update(min_share=0.5), "exceeds 100%"),
        (lambda d: d["routing"][0]["regions"][1].update(region="us-east-1"), "listed twice"),
        (lambda d: d["groups"][0]["bandwidth_tier"].update(ceiling_mbps=10), "below the guar"),
        (lambda d: d["groups"][0]["instances"][0].update(instance_type="huge"), "instance_type"),
    ],
)
def test_meaningful_errors(mutate, expected: str) -> None:
    doc = web_state()
    mutate(doc)
    with pytest.raises(DesiredStateError) as err:
        parse_desired_state(doc, source="test.json")
    assert expected in str(err.value)
    assert "desired state from test.json is invalid" in str(err.value)


@settings(max_examples=150, deadline=None)
@given(
    shares=st.lists(st.floats(min_value=0, max_value=1000), min_size=1, max_size=8).filter(
        lambda s: sum(s) > 1e-6
    ),
    floor_pct=st.integers(min_value=0, max_value=12),
)
def test_route_weights_sum_and_floor(shares: list[float], floor_pct: int) -> None:
    floor = min(floor_pct / 100, 1 / len(shares))
    if floor * len(shares) > 1:
        floor = 0.0
    spec = RoutingSpec.model_validate(
        {
            "name": "r",
            "zone_id": "Z",
            "record_name": "r.example.com",
            "min_share": min(floor, 0.99),
            "regions": [
                {"region": f"us-east-{i + 1}", "share": s, "target": "t"}
                for i, s in enumerate(shares)
            ],
        }
    )
    events: list[GuardEvent] = []
    routed = route_weights(spec, events)
    weights = [r.weight for r in routed]
    assert sum(weights) == TOTAL_WEIGHT
    assert min(weights) >= int(spec.min_share * TOTAL_WEIGHT + 1e-9)
    assert max(r.traffic_dial for r in routed) == 100.0
    if spec.min_share == 0:
        assert events == []
