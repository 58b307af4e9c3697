"""HTTP errors become the contract's error types; 429 and 5xx are retried first."""

from __future__ import annotations

from pathlib import Path

import pytest
import responses
from google.auth import exceptions as gae
from google.auth.credentials import AnonymousCredentials

from providers.base import (
    AccessDeniedError,
    NotFoundError,
    ProviderUnavailableError,
    ThrottledError,
)
from providers.gcp import GcpProvider, GcpSessionFactory
from providers.gcp.metrics import MONITORING_URL
from providers.models import MetricName, MetricQuery, TimeWindow
from tests.providers.gcp.conftest import COMPUTE, PROJECT, fixture, serve_instances

URL = f"{COMPUTE}/aggregated/instances"


def test_403_names_the_missing_permission(
    rsps: responses.RequestsMock, provider: GcpProvider
) -> None:
    rsps.get(URL, json=fixture("error_403.json"), status=403)
    with pytest.raises(AccessDeniedError) as err:
        provider.inventory()
    assert "compute.instances.list" in str(err.value)
    assert str(err.value).startswith("instances.aggregatedList demo-proj: HTTP 403")
    assert len(rsps.calls) == 1  # never retried


def test_404_is_not_found(rsps: responses.RequestsMock, provider: GcpProvider) -> None:
    rsps.get(URL, json=fixture("error_404.json"), status=404)
    with pytest.raises(NotFoundError, match="was not found"):
        provider.inventory()


def test_429_then_503_are_retried_until_an_answer(
    rsps: responses.RequestsMock, provider: GcpProvider
) -> None:
    rsps.get(URL, json=fixture("error_429.json"), status=429)
    rsps.get(URL, json=fixture("error_503.json"), status=503)
    serve_instances(rsps)
    assert len(provider.inventory()) == 4
    assert [getattr(c.response, "status_code", None) for c in rsps.calls] == [429, 503, 200, 200]


def test_throttled_past_the_retry_deadline(
    rsps: responses.RequestsMock, provider: GcpProvider
) -> None:
    rsps.get(URL, json=fixture("error_429.json"), status=429)
    with pytest.raises(ThrottledError, match="gave up after retries.*Quota exceeded"):
        provider.inventory()
    assert len(rsps.calls) > 1


def test_5xx_past_the_retry_deadline(rsps: responses.RequestsMock, provider: GcpProvider) -> None:
    rsps.get(URL, json=fixture("error_503.json"), status=503)
    with pytest.raises(ProviderUnavailableError, match="currently unavailable"):
        provider.inventory()


def test_rest_reader_maps_errors_too(rsps: responses.RequestsMock, provider: GcpProvider) -> None:
    """Cloud Monitoring through AuthorizedSession: 403 on the second page of a query."""
    serve_instances(rsps)
    url = f"{MONITORING_URL}/projects/{PROJECT}/timeSeries"
    rsps.get(url, json=fixture("error_403.json"), status=403)
    window = TimeWindow.model_validate(
        {"start": "2025-03-03T12:00:00Z", "end": "2025-03-03T13:00:00Z"}
    )
    query = MetricQuery(
        resource_id="projects/demo-proj/zones/us-central1-a/instances/web-1",
        metric=MetricName.NETWORK_IN,
        stat="Sum",
    )
    with pytest.raises(AccessDeniedError, match="timeSeries.list"):
        provider.metrics([query], window)


def test_no_credentials_says_how_to_get_them() -> None:
    def no_adc(**_: object) -> tuple[object, None]:
        raise gae.DefaultCredentialsError("Could not automatically determine credentials.")

    factory = GcpSessionFactory(project=PROJECT, default_credentials=no_adc)  # type: ignore[arg-type]
    with pytest.raises(AccessDeniedError, match="application-default login"):
        factory.creds()


def test_unreadable_key_file(tmp_path: Path) -> None:
    key = tmp_path / "key.json"
    key.write_text("{not json", encoding="utf-8")
    with pytest.raises(AccessDeniedError, match="cannot read service-account key"):
        GcpSessionFactory(project=PROJECT, key_path=str(key)).creds()


def test_impersonation_wraps_the_base_credentials() -> None:
    from google.auth import impersonated_credentials

    base = AnonymousCredentials()
    factory = GcpSessionFactory(
        project=PROJECT, credentials=base, impersonate="headroom@demo-proj.iam.gserviceaccount.com"
    )
    creds = factory.creds()
    assert isinstance(creds, impersonated_credentials.Credentials)
    assert creds.service_account_email == "headroom@demo-proj.iam.gserviceaccount.com"
    assert factory.creds() is creds  # built once


def test_adc_is_asked_with_the_cloud_platform_scope() -> None:
    asked: list[object] = []

    def adc(**kwargs: object) -> tuple[AnonymousCredentials, str]:
        asked.append(kwargs["scopes"])
        return AnonymousCredentials(), PROJECT

    GcpSessionFactory(project=PROJECT, default_credentials=adc).creds()
    assert asked == [["https://www.googleapis.com/auth/cloud-platform"]]
