"""The policy's ``users`` section: tenant key, named groups, sampling, and the actions' new
fields; each refusal names the field and says why."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from policies.actions import EdgeCacheAction, RoutingAction
from policies.users import TenantKey, UsersPolicy


def _error(exc: pytest.ExceptionInfo[ValidationError]) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.value.errors())


def test_defaults_read_the_first_path_segment() -> None:
    users = UsersPolicy()
    assert users.tenant_key.source == "path_segment" and users.tenant_key.index == 0
    assert users.cohorts == 3 and 0 < users.sample_rate <= 1
    assert users.salt_env == "HEADROOM_USER_SALT"


@pytest.mark.parametrize(
    ("key", "says"),
    [
        ({"source": "query"}, "tenant_key source 'query' needs a name"),
        ({"source": "field"}, "tenant_key source 'field' needs a name"),
        ({"pattern": "^t-[a-z]+$"}, "needs exactly one group (the key), has 0"),
        ({"pattern": "^(t)-([a-z]+)$"}, "needs exactly one group (the key), has 2"),
        ({"pattern": "^(t"}, "tenant_key pattern is not a regular expression"),
        ({"source": "cookie"}, "Input should be 'path_segment', 'query', 'host' or 'field'"),
        ({"index": 40}, "less than or equal to 32"),
    ],
)
def test_a_bad_tenant_key_says_what_is_wrong(key: dict[str, object], says: str) -> None:
    with pytest.raises(ValidationError) as exc:
        TenantKey.model_validate(key)
    assert says in _error(exc)


def test_named_groups_must_not_share_a_name_or_a_tenant() -> None:
    with pytest.raises(ValidationError) as exc:
        UsersPolicy.model_validate(
            {"groups": [{"name": "a", "tenants": ["x"]}, {"name": "a", "tenants": ["y"]}]}
        )
    assert "user group names repeat" in _error(exc)
    with pytest.raises(ValidationError) as exc:
        UsersPolicy.model_validate(
            {"groups": [{"name": "a", "tenants": ["x"]}, {"name": "b", "tenants": ["x"]}]}
        )
    assert "tenant 'x' is in user groups 'a' and 'b'" in _error(exc)


@pytest.mark.parametrize(
    ("field", "value"),
    [("sample_rate", 0), ("sample_rate", 1.5), ("cohorts", -1), ("salt_env", "lower")],
)
def test_out_of_range_settings_are_refused(field: str, value: object) -> None:
    with pytest.raises(ValidationError) as exc:
        UsersPolicy.model_validate({field: value})
    assert field in _error(exc)


def test_unknown_keys_are_refused() -> None:
    with pytest.raises(ValidationError) as exc:
        UsersPolicy.model_validate({"tenant_keys": {}})
    assert "tenant_keys: Extra inputs are not permitted" in _error(exc)


def test_curve_sizing_and_latency_routing_fields() -> None:
    cache = EdgeCacheAction.model_validate(
        {
            "type": "edge_cache",
            "regions": ["us-east-1"],
            "node_type": "cache.r7g.large",
            "node_gbps": 12.5,
            "threshold_gbps": 40,
            "target_hit_ratio": 0.85,
        }
    )
    assert cache.target_hit_ratio == 0.85 and cache.node_memory_gib > 0
    with pytest.raises(ValidationError):
        EdgeCacheAction.model_validate({**cache.model_dump(), "target_hit_ratio": 1.0})
    route = RoutingAction.model_validate(
        {"type": "routing", "objective": "latency", "latency_ms": {"a": {"b": 40}}}
    )
    assert route.objective == "latency" and route.max_utilization == 0.9
    with pytest.raises(ValidationError):
        RoutingAction.model_validate({"type": "routing", "objective": "fastest"})
