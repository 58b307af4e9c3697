"""Tenant keys: where they are read, how they are hashed, what is redacted, bounded classes."""

from __future__ import annotations

import hashlib

import pytest
from structlog.testing import capture_logs

from policies.users import TenantKey, UsersPolicy
from reconciler.users import identity
from reconciler.users.identity import (
    DEFAULT_KEY,
    MAX_CLASSES,
    hash_tenant,
    hash_tenants,
    identify,
    user_key,
)
from reconciler.users.models import ANONYMOUS
from tests.users.frames import record, records

KEY = b"test-key"


def test_hash_is_keyed_blake2b_16_hex_and_stable() -> None:
    h = hash_tenant("acme", KEY)
    assert h == hashlib.blake2b(b"acme", key=KEY, digest_size=8).hexdigest()
    assert len(h) == 16 and int(h, 16) >= 0
    assert hash_tenant("acme", KEY) == h  # stable
    assert hash_tenant("acme", b"other-key") != h  # keyed
    assert hash_tenant("globex", KEY) != h


def test_key_from_the_environment_or_the_default_with_one_warning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    policy = UsersPolicy(salt_env="H15_TEST_SALT")
    assert user_key(policy, {"H15_TEST_SALT": "s3cret"}) == b"s3cret"
    long = "x" * 100
    assert user_key(policy, {"H15_TEST_SALT": long}) == hashlib.blake2b(long.encode()).digest()
    monkeypatch.setattr(identity, "_warned", set())
    with capture_logs() as logs:
        assert user_key(policy, {}) == DEFAULT_KEY
        assert user_key(policy, {}) == DEFAULT_KEY
    assert [(e["event"], e["env"]) for e in logs] == [("users_salt_unset", "H15_TEST_SALT")]


def test_path_segment_key_is_hashed_and_its_segment_redacted() -> None:
    frame = records(
        record(path="/acme/api/items", query="token=abc"),
        record(path="/globex/", method="post"),
        record(path="/acme"),
        record(path="/"),
    )
    out = identify(frame, TenantKey(source="path_segment", index=0), KEY)
    assert "query" not in out.columns and "tenant_raw" not in out.columns
    acme, globex = hash_tenant("acme", KEY), hash_tenant("globex", KEY)
    assert out.get_column("user").to_list() == [acme, globex, acme, ANONYMOUS]
    assert out.get_column("path").to_list() == [
        "/{tenant}/api/items",
        "/{tenant}/",
        "/{tenant}",
        "/",
    ]
    assert out.get_column("request_class").to_list() == ["GET /api", "POST /", "GET /", "GET /"]
    assert not any("acme" in str(v) for v in out.row(0))


def test_second_segment_key_keeps_the_first_segment_as_the_class() -> None:
    out = identify(records(record(path="/v1/acme/orders")), TenantKey(index=1), KEY)
    assert out.row(0, named=True)["path"] == "/v1/{tenant}/orders"
    assert out.row(0, named=True)["request_class"] == "GET /v1"
    assert out.row(0, named=True)["user"] == hash_tenant("acme", KEY)


def test_query_host_and_field_sources() -> None:
    frame = records(
        record(query="a=1&tenant=acme&b=2", host="Acme.Example.com", tenant_raw="acme"),
        record(query="xtenant=evil", host="globex.example.com", tenant_raw="-"),
        record(query=None, host=None, tenant_raw=None),
    )
    acme = hash_tenant("acme", KEY)
    by_query = identify(frame, TenantKey(source="query", name="tenant"), KEY)
    assert by_query.get_column("user").to_list() == [acme, ANONYMOUS, ANONYMOUS]
    assert by_query.get_column("path").to_list()[0] == "/acme/api/items"  # not a path key
    by_host = identify(frame, TenantKey(source="host", pattern=r"^([a-z]+)\."), KEY)
    assert by_host.get_column("user").to_list() == [
        acme,
        hash_tenant("globex", KEY),
        ANONYMOUS,
    ]
    assert by_host.get_column("host").to_list() == ["{tenant}", "{tenant}", None]
    by_field = identify(frame, TenantKey(source="field", name="cs(Cookie)"), KEY)
    assert by_field.get_column("user").to_list() == [acme, ANONYMOUS, ANONYMOUS]


def test_pattern_cuts_the_key_and_a_mismatch_is_anonymous() -> None:
    frame = records(record(path="/t-acme/api"), record(path="/static/app.js"))
    out = identify(frame, TenantKey(pattern=r"^t-(\w+)$"), KEY)
    assert out.get_column("user").to_list() == [hash_tenant("acme", KEY), ANONYMOUS]
    assert out.get_column("path").to_list() == ["/{tenant}/api", "/static/app.js"]
    assert out.get_column("request_class").to_list() == ["GET /api", "GET /static"]


def test_named_tenants_hash_like_log_keys() -> None:
    key = TenantKey(source="host")
    named = hash_tenants(["Acme.example.com"], key, KEY)
    out = identify(records(record(host="ACME.example.com")), key, KEY)
    assert named["Acme.example.com"] == out.item(0, "user")


def test_request_classes_are_bounded_to_the_most_frequent() -> None:
    rows = [record(path=f"/acme/c{i:02d}") for i in range(MAX_CLASSES + 8)]
    rows += [record(path="/acme/c00")] * 3  # the most frequent
    out = identify(records(*rows), TenantKey(), KEY)
    classes = out.get_column("request_class")
    assert classes.n_unique() == MAX_CLASSES + 1
    assert (classes == "other").sum() == 8
    assert (classes == "GET /c00").sum() == 4
