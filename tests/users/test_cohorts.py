"""User groups: named groups win, cohorts by behaviour with ids and names kept across cycles,
one group per user when ``cohorts: 0``, anonymous apart."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import polars as pl
import pytest

from policies.users import UserGroupSpec, UsersPolicy
from reconciler.users import cohorts
from reconciler.users.cohorts import compose_user_groups, user_profiles
from reconciler.users.identity import hash_tenant
from reconciler.users.models import ANONYMOUS, UserGroup, UserGroupKind
from tests.users.frames import T0, bucket, buckets

SALT = "H15_COHORT_TEST_SALT"
#: three behaviours: (hour of day, request class, bytes per request, requests per bucket)
KINDS = {
    "m": (9, "GET /api", 2_000, 2),
    "e": (21, "GET /media", 4_000_000, 2),
    "n": (2, "POST /batch", 20_000, 40),
}


def _rows(user: str, kind: str, days: int = 2, jitter: int = 0) -> list[dict[str, Any]]:
    hour, cls, size, n = KINDS[kind]
    n += jitter
    return [
        bucket(
            ts=T0 + timedelta(days=d, hours=hour, minutes=5 * k),
            user=user,
            request_class=cls,
            requests=n,
            bytes_out=size * n,
        )
        for d in range(days)
        for k in range(3)
    ]


def _frame(users: dict[str, str], jitter: int = 0) -> pl.DataFrame:
    rows = [r for u, k in users.items() for r in _rows(u, k, jitter=jitter)]
    return buckets(*rows)


def _population(n: int = 12) -> dict[str, str]:
    return {f"{kind}{i:03d}": kind for kind in KINDS for i in range(n)}


def _by_members(groups: list[UserGroup]) -> dict[str, UserGroup]:
    """The cohort each behaviour's users landed in (by the first letter of its users)."""
    out = {}
    for g in groups:
        kinds = {u[0] for u in g.users}
        assert len(kinds) == 1, f"{g.name} mixes behaviours {kinds}"
        out[kinds.pop()] = g
    return out


@pytest.fixture
def salted(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(SALT, "cohort-test-key")
    return SALT


def test_profiles_hold_shares_sizes_and_rates() -> None:
    totals, features, window_s = user_profiles(_frame({"m001": "m", "n001": "n"}))
    assert window_s == timedelta(days=1, hours=7, minutes=10).total_seconds() + 300
    row = features.filter(pl.col("user") == "m001").row(0, named=True)
    assert row["hour_share_08"] == 1.0 and row["hour_share_00"] == 0.0
    assert row["class_share:GET /api"] == 1.0 and row["class_share:POST /batch"] == 0.0
    assert row["log_object_kb"] == pytest.approx(float(pl.Series([2000 / 1024]).log1p()[0]))
    assert totals.filter(pl.col("user") == "n001").item(0, "requests") == 240


def test_cohorts_follow_behaviour_and_keep_ids_and_names_across_cycles(salted: str) -> None:
    policy = UsersPolicy(cohorts=3, salt_env=salted)
    first, state = compose_user_groups(_frame(_population()), policy, None)
    assert all(g.kind == UserGroupKind.COHORT for g in first)
    by_kind = _by_members(first)
    assert set(by_kind) == set(KINDS)
    assert all(re.fullmatch(r"ug-[0-9a-f]{6}", g.id) for g in first)
    assert len({g.name for g in first}) == 3 and all(g.name.startswith("cohort-") for g in first)
    assert by_kind["m"].profile["hour_share_08"] == 1.0
    assert by_kind["e"].profile["mean_object_kb"] == pytest.approx(4_000_000 / 1024)
    assert by_kind["n"].regions == ("us-east-1",)
    assert by_kind["m"].profile["users"] == 12.0
    state = json.loads(json.dumps(state))  # what the state store keeps
    # next cycle: some users left, others joined, volumes moved a little
    later = _population(14)
    for gone in ("m000", "e001", "n002"):
        later.pop(gone)
    second, state2 = compose_user_groups(_frame(later, jitter=1), policy, state)
    again = _by_members(second)
    for kind in KINDS:
        assert (again[kind].id, again[kind].name) == (by_kind[kind].id, by_kind[kind].name)
    assert "m013" in again["m"].users and "m000" not in again["m"].users
    # the same data gives the same groups
    repeat, _ = compose_user_groups(_frame(_population()), policy, None)
    assert [(g.id, g.name, g.users) for g in repeat] == [(g.id, g.name, g.users) for g in first]
    assert {c["id"] for c in state2["cohorts"]} == {g.id for g in first}
    # a cycle with only named or anonymous users keeps the state for the next one
    idle, kept = compose_user_groups(_frame({ANONYMOUS: "m"}), policy, state2)
    assert [g.name for g in idle] == [ANONYMOUS] and kept["cohorts"] == state2["cohorts"]


def test_a_new_behaviour_gets_a_new_id_and_a_unique_name(salted: str) -> None:
    two = {u: k for u, k in _population().items() if k != "n"}
    first, state = compose_user_groups(_frame(two), UsersPolicy(cohorts=2, salt_env=salted), None)
    second, _ = compose_user_groups(
        _frame(_population()), UsersPolicy(cohorts=3, salt_env=salted), state
    )
    old, new = _by_members(first), _by_members(second)
    assert new["m"].id == old["m"].id and new["e"].id == old["e"].id
    assert new["n"].id not in {g.id for g in first}
    assert len({g.name for g in second}) == 3


def test_named_groups_win_and_anonymous_is_apart(salted: str) -> None:
    policy = UsersPolicy(
        cohorts=3, salt_env=salted, groups=[UserGroupSpec(name="enterprise", tenants=["acme"])]
    )
    acme = hash_tenant("acme", b"cohort-test-key")
    users = _population() | {acme: "m", ANONYMOUS: "e"}
    groups, _ = compose_user_groups(_frame(users), policy, None)
    named = groups[0]
    assert (named.name, named.kind, named.users) == ("enterprise", UserGroupKind.NAMED, (acme,))
    assert named.profile["hour_share_08"] == 1.0
    assert all(acme not in g.users for g in groups[1:])
    anonymous = [g for g in groups if ANONYMOUS in g.users]
    assert len(anonymous) == 1 and anonymous[0].users == (ANONYMOUS,)
    assert anonymous[0].name == ANONYMOUS
    again, _ = compose_user_groups(_frame(users), policy, None)
    assert again[0].id == named.id
    assert len({g.id for g in groups}) == len(groups)


def test_cohorts_zero_makes_each_user_its_own_group_with_kept_ids(salted: str) -> None:
    policy = UsersPolicy(cohorts=0, salt_env=salted)
    users = {"m001": "m", "e001": "e", "n001": "n"}
    groups, state = compose_user_groups(_frame(users), policy, None)
    assert sorted(g.users for g in groups) == [("e001",), ("m001",), ("n001",)]
    assert all(g.kind == UserGroupKind.USER for g in groups)
    assert state["users"] == {g.users[0]: g.id for g in groups}
    forged = {"version": 1, "cohorts": [], "users": {"m001": "ug-abcdef"}}
    again, _ = compose_user_groups(_frame(users), policy, forged)
    assert next(g for g in again if g.users == ("m001",)).id == "ug-abcdef"


def test_beyond_the_cap_every_user_still_joins_a_cohort(
    salted: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cohorts, "MAX_CLUSTERED", 10)
    groups, _ = compose_user_groups(
        _frame(_population()), UsersPolicy(cohorts=3, salt_env=salted), None
    )
    assert sum(len(g.users) for g in groups) == 36
    assert set(_by_members(groups)) == set(KINDS)
