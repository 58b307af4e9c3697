"""``explain`` names the cloud that raised a provider error and points at that cloud's fix:
Google's and Azure's refusals are not reported as AWS's."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from google.api_core import exceptions as gce
from google.auth.credentials import AnonymousCredentials

from providers.base import AccessDeniedError, ProviderError, ProviderUnavailableError
from providers.gcp.session import GcpSessionFactory, gcp_errors
from providers.multi import named_errors
from reconciler.cli import explain


def _gcp(exc: Exception) -> ProviderError:
    """``exc`` as the GCP provider raises it (through its one error translator)."""
    with pytest.raises(ProviderError) as info, gcp_errors("instances.aggregatedList p"):
        raise exc
    return info.value


def test_a_google_refusal_names_google_cloud_and_its_role() -> None:
    err = _gcp(gce.Forbidden("Required 'compute.instances.list' permission"))
    assert isinstance(err, AccessDeniedError)
    code, line = explain(err)
    assert code == 1
    assert line.startswith("Google Cloud refused the call: ")
    assert "right project" in line and "docs/gcp-roles.json lists it" in line
    assert "AWS" not in line


def test_google_unreachable_names_google_cloud_without_endpoint_url() -> None:
    err = _gcp(gce.ServiceUnavailable("backend down"))
    assert isinstance(err, ProviderUnavailableError)
    _, line = explain(err)
    assert line.startswith("Google Cloud could not be reached: ")
    assert line.endswith("check the network") and "AWS" not in line


def test_no_google_credentials_keeps_the_google_fix() -> None:
    factory = GcpSessionFactory(project="p", key_path="/nonexistent/key.json")
    with pytest.raises(AccessDeniedError) as info:
        factory.creds()
    _, line = explain(info.value)
    assert "cannot read service-account key /nonexistent/key.json" in line
    assert line.startswith("Google Cloud refused the call: ") and "AWS" not in line


def test_a_mixed_cycle_error_is_told_by_its_cloud_prefix() -> None:
    with pytest.raises(ProviderError) as info, named_errors("azure"):
        raise AccessDeniedError("AuthorizationFailed on the subscription", operation="vms.list")
    _, line = explain(info.value)
    assert line.startswith("Azure refused the call: azure: vms.list: AuthorizationFailed")
    assert "right subscription" in line and "AWS" not in line
    assert "docs/azure-roles.json lists it" in line


def test_aws_errors_keep_their_wording() -> None:
    denied = ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "DescribeInstances")
    err = AccessDeniedError("DescribeInstances: AccessDenied", operation="DescribeInstances")
    err.__cause__ = denied
    _, line = explain(err)
    assert line.startswith("AWS refused the call: ") and "docs/iam-policy.json lists it" in line
    down = ProviderUnavailableError("no route", operation="DescribeInstances")
    down.__cause__ = EndpointConnectionError(endpoint_url="http://127.0.0.1:1")
    _, line = explain(down)
    assert line.endswith("check the network and --endpoint-url")
    assert line.startswith("AWS could not be reached: ")


def test_an_unknown_cloud_is_not_guessed() -> None:
    _, line = explain(AccessDeniedError("denied"))
    assert line.startswith("the cloud provider refused the call: denied")
    assert "AWS" not in line and "Google" not in line


def test_anonymous_google_credentials_are_not_an_error() -> None:
    """The tests' stand-in credentials build: the refusals above come from the API."""
    assert GcpSessionFactory(project="p", credentials=AnonymousCredentials()).creds()
