"""The policy's ``users`` section: who the users are in request logs, and how they are grouped.

Example::

    users:
      tenant_key: {source: path_segment, index: 0}      # /acme/... -> "acme"
      cohorts: 3                                         # behaviour cohorts for the rest
      groups:
        - {name: enterprise, tenants: [acme, globex]}    # raw keys: hashed at load, never stored
      sample_rate: 0.05                                  # the access stream's spatial sampling
      latency_target_ms: 80

A *user* is one value of the tenant key, kept only as its keyed hash (``salt_env`` names the
environment variable holding the hashing key). A *user group* is one of ``groups`` (users named
by key) or, for every other user, a behaviour cohort (users clustered by their profile:
time-of-day shape, request mix, object sizes); ``cohorts: 0`` makes each user its own group.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from policies.numbers import Count, Number

__all__ = ["TenantKey", "UserGroupSpec", "UsersPolicy"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TenantKey(_Strict):
    """Where a request carries its tenant key.

    - ``path_segment``: the ``index``-th segment of the URI path (``/acme/api/x``: 0 -> acme);
    - ``query``: the query parameter ``name``;
    - ``host``: the request's host name (``acme.example.com``);
    - ``field``: a log field named ``name`` (a CloudFront field such as ``cs(Cookie)``).

    ``pattern`` (optional) is a regular expression with one group applied to that value: the
    group is the key; a value it does not match has no key (the request counts as anonymous).
    """

    source: Literal["path_segment", "query", "host", "field"] = "path_segment"
    index: Count = Field(default=0, ge=0, le=32)
    name: str | None = Field(default=None, min_length=1, max_length=128)
    pattern: str | None = Field(default=None, min_length=1, max_length=512)

    @model_validator(mode="after")
    def _needs_name(self) -> TenantKey:
        if self.source in ("query", "field") and self.name is None:
            raise ValueError(f"tenant_key source {self.source!r} needs a name")
        if self.pattern is not None:
            try:
                compiled = re.compile(self.pattern)
            except re.error as exc:
                raise ValueError(f"tenant_key pattern is not a regular expression: {exc}") from exc
            if compiled.groups != 1:
                raise ValueError(
                    f"tenant_key pattern needs exactly one group (the key), has {compiled.groups}"
                )
        return self


class UserGroupSpec(_Strict):
    """A named user group: the users whose tenant key is one of ``tenants``."""

    name: str = Field(min_length=1, max_length=63, pattern=r"^[a-z0-9][a-z0-9-]*$")
    tenants: list[str] = Field(min_length=1)


class UsersPolicy(_Strict):
    """Request-level behaviour: identity, grouping, sampling, and latency goal."""

    tenant_key: TenantKey = Field(default_factory=TenantKey)
    #: environment variable holding the key the tenant keys are hashed with (BLAKE2b, keyed)
    salt_env: str = Field(default="HEADROOM_USER_SALT", pattern=r"^[A-Z_][A-Z0-9_]*$")
    cohorts: Count = Field(default=3, ge=0, le=64)
    groups: list[UserGroupSpec] = Field(default_factory=list)
    #: fraction of objects whose accesses are kept (SHARDS spatial sampling by object hash)
    sample_rate: Number = Field(default=0.05, gt=0, le=1)
    #: request-weighted latency the routing and caching decisions aim for (ms)
    latency_target_ms: Number = Field(default=100.0, gt=0)
    #: extra CloudFront edge location codes (first three letters, e.g. ``FRA``) -> region
    edge_regions: dict[str, str] = Field(default_factory=dict)

    @field_validator("groups")
    @classmethod
    def _distinct(cls, groups: list[UserGroupSpec]) -> list[UserGroupSpec]:
        names = [g.name for g in groups]
        if len(set(names)) != len(names):
            raise ValueError(f"user group names repeat: {names}")
        seen: dict[str, str] = {}
        for g in groups:
            for t in g.tenants:
                if t in seen:
                    raise ValueError(f"tenant {t!r} is in user groups {seen[t]!r} and {g.name!r}")
                seen[t] = g.name
        return groups
