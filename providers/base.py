"""The one narrow contract every cloud provider implements, and its error types."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Protocol, runtime_checkable

from providers.models import (
    FlowChunk,
    InstanceType,
    MetricQuery,
    MetricSeries,
    RequestChunk,
    Resource,
    ScalingGroup,
    TimeWindow,
)

__all__ = [
    "AccessDeniedError",
    "CloudProvider",
    "InvalidResponseError",
    "NotFoundError",
    "ProviderError",
    "ProviderUnavailableError",
    "RequestLogProvider",
    "ThrottledError",
]


class ProviderError(Exception):
    """Base of every error a provider raises. ``operation`` names the cloud call that failed."""

    def __init__(self, message: str, *, operation: str = "", region: str | None = None) -> None:
        where = " ".join(p for p in (operation, f"in {region}" if region else "") if p)
        super().__init__(f"{where}: {message}" if where else message)
        self.operation = operation
        self.region = region


class AccessDeniedError(ProviderError):
    """Credentials are missing, expired, or lack a permission (the message names it)."""


class ThrottledError(ProviderError):
    """The cloud kept throttling after the configured retries."""


class NotFoundError(ProviderError):
    """A named thing (bucket, log group, role, region) does not exist."""


class ProviderUnavailableError(ProviderError):
    """The endpoint could not be reached or answered 5xx after retries."""


class InvalidResponseError(ProviderError):
    """The cloud answered with something we cannot interpret."""


@runtime_checkable
class CloudProvider(Protocol):
    """What Headroom needs from a cloud. Implementations: ``providers.aws``, ``providers.fake``."""

    name: str

    def inventory(self) -> list[Resource]:
        """Every resource that sends or receives traffic, with tags and interfaces.

        Raises AccessDeniedError, ThrottledError, ProviderUnavailableError.
        """
        ...

    def scaling_groups(self) -> list[ScalingGroup]:
        """Every autoscaling group with its counts, launch template, subnets and members, as the
        cloud has them now (the settings in force; a manual change is read back here).

        Raises AccessDeniedError, ThrottledError, ProviderUnavailableError.
        """
        ...

    def instance_catalog(self) -> dict[str, InstanceType]:
        """Instance types by name, with vCPU, memory, baseline/peak bandwidth and price.

        Raises AccessDeniedError, ThrottledError, ProviderUnavailableError.
        """
        ...

    def metrics(self, queries: Sequence[MetricQuery], window: TimeWindow) -> list[MetricSeries]:
        """One series per query over ``window`` (empty series where the cloud has no data).

        Raises AccessDeniedError, ThrottledError, ProviderUnavailableError,
        InvalidResponseError.
        """
        ...

    def flow_records(self, window: TimeWindow) -> Iterator[FlowChunk]:
        """Flow records delivered for ``window``, one chunk per source object.

        Malformed records never raise: they are returned in ``FlowChunk.rejected``.
        Raises AccessDeniedError, NotFoundError (configured bucket or log group missing),
        ThrottledError, ProviderUnavailableError.
        """
        ...


@runtime_checkable
class RequestLogProvider(Protocol):
    """A provider that also reads request-level logs (ALB access logs, CloudFront standard logs).

    Optional beside ``CloudProvider``: the collect step reads request logs only from a provider
    that implements this and a policy with a ``users`` section.
    """

    def request_records(
        self,
        window: TimeWindow,
        tenant_field: str | None = None,
        edge_regions: Mapping[str, str] | None = None,
    ) -> Iterator[RequestChunk]:
        """Request records delivered for ``window``, one chunk per log object.

        ``tenant_field`` names a log field (a CloudFront custom/standard field such as
        ``cs(Cookie)``, or ``x-host-header``) whose value fills ``tenant_raw``; None leaves it
        None (the tenant key then comes from the path, query or host). ``edge_regions`` adds
        CloudFront edge location codes -> region to the provider's table (the policy's
        ``users.edge_regions``). Malformed lines never
        raise: they are returned in ``RequestChunk.rejected``.
        Raises AccessDeniedError, NotFoundError (a configured log bucket missing),
        ThrottledError, ProviderUnavailableError.
        """
        ...
