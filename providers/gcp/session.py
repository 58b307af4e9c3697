"""The one place Google credentials and clients are built, and Google errors become ours.

Credentials the usual way: a pre-built ``credentials`` object (tests), a service-account key
file (``key_path``), else Application Default Credentials (``GOOGLE_APPLICATION_CREDENTIALS``,
``gcloud auth application-default login``, the metadata server); any of them may impersonate a
service account (``impersonate``). Compute is reached through ``google-cloud-compute`` with its
REST transport. Cloud Monitoring and Cloud Logging ship gRPC-only generated clients, so they
are read through their public REST APIs (``rest_get`` / ``rest_post``) on google-auth's
``AuthorizedSession``. Every call is retried on 429 and 5xx with exponential backoff
(``google.api_core.retry``) before a ``ThrottledError`` or ``ProviderUnavailableError`` reaches
the caller.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TypeVar, cast

import google.auth
import google.auth.exceptions as gae
import requests
from google.api_core import exceptions as gce
from google.api_core import retry as api_retry
from google.auth import impersonated_credentials
from google.auth.credentials import Credentials
from google.auth.transport.requests import AuthorizedSession
from google.oauth2 import service_account

from providers.base import (
    AccessDeniedError,
    InvalidResponseError,
    NotFoundError,
    ProviderError,
    ProviderUnavailableError,
    ThrottledError,
)

__all__ = [
    "SCOPES",
    "GcpSessionFactory",
    "JsonObject",
    "gcp_errors",
    "translate_error",
]

SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
#: A decoded JSON object of a REST response (``dict`` of JSON values; typed per use).
JsonObject = dict[str, object]

_THROTTLED = (gce.TooManyRequests, gce.ResourceExhausted)
_UNAVAILABLE = (gce.ServerError, gce.DeadlineExceeded, gce.ServiceUnavailable)
_NETWORK = (requests.ConnectionError, requests.Timeout)
_RETRIED = (*_THROTTLED, *_UNAVAILABLE, *_NETWORK)


def translate_error(exc: BaseException, operation: str, region: str | None) -> ProviderError:
    """Map a google-api-core / google-auth / requests exception to the contract's error."""
    if isinstance(exc, ProviderError):
        return exc
    if isinstance(exc, gce.RetryError):
        cause = exc.cause
        if cause is not None and cause is not exc:
            err = translate_error(cause, operation, region)
            return type(err)(f"gave up after retries: {cause}", operation=operation, region=region)
        return ProviderUnavailableError(str(exc), operation=operation, region=region)
    if isinstance(exc, gae.DefaultCredentialsError):
        return AccessDeniedError(
            "no Google credentials: set GOOGLE_APPLICATION_CREDENTIALS, run `gcloud auth "
            f"application-default login`, or give a key file ({exc})",
            operation=operation,
            region=region,
        )
    if isinstance(exc, gae.RefreshError):
        return AccessDeniedError(
            f"credentials could not be refreshed (expired, revoked, or impersonation refused): "
            f"{exc}",
            operation=operation,
            region=region,
        )
    if isinstance(exc, gce.Unauthenticated | gce.Forbidden | gce.PermissionDenied):
        return AccessDeniedError(_message(exc), operation=operation, region=region)
    if isinstance(exc, gce.NotFound):
        return NotFoundError(_message(exc), operation=operation, region=region)
    if isinstance(exc, _THROTTLED):
        return ThrottledError(_message(exc), operation=operation, region=region)
    if isinstance(exc, _UNAVAILABLE):
        return ProviderUnavailableError(_message(exc), operation=operation, region=region)
    if isinstance(exc, _NETWORK):
        return ProviderUnavailableError(
            f"endpoint unreachable: {exc}", operation=operation, region=region
        )
    if isinstance(exc, gae.TransportError):
        return ProviderUnavailableError(str(exc), operation=operation, region=region)
    return InvalidResponseError(f"{type(exc).__name__}: {exc}", operation=operation, region=region)


def _message(exc: gce.GoogleAPICallError) -> str:
    code = exc.code if exc.code is not None else "?"
    return f"HTTP {code}: {exc.message}"


@contextmanager
def gcp_errors(operation: str, region: str | None = None) -> Iterator[None]:
    """Re-raise Google errors inside the block as provider errors naming operation/region."""
    try:
        yield
    except (gce.GoogleAPIError, gae.GoogleAuthError, requests.RequestException) as exc:
        raise translate_error(exc, operation, region) from exc


_C = TypeVar("_C")


@dataclass
class GcpSessionFactory:
    """Builds credentials and clients for one project; one per process, passed into the
    provider. ``retry_timeout_s`` bounds the time spent retrying one call."""

    project: str
    key_path: str | None = None
    impersonate: str | None = None
    credentials: Credentials | None = None
    retry_initial_s: float = 1.0
    retry_maximum_s: float = 30.0
    retry_timeout_s: float = 120.0
    #: how ADC is found (``google.auth.default``); tests pass their own
    default_credentials: Callable[..., tuple[Credentials, str | None]] = google.auth.default
    _built: Credentials | None = field(default=None, repr=False)
    _session: AuthorizedSession | None = field(default=None, repr=False)

    def creds(self) -> Credentials:
        """The credentials every client uses (built once)."""
        if self._built is None:
            with gcp_errors("credentials"):
                self._built = self._make_credentials()
        return self._built

    def _make_credentials(self) -> Credentials:
        if self.credentials is not None:
            base = self.credentials
        elif self.key_path is not None:
            try:
                base = service_account.Credentials.from_service_account_file(
                    self.key_path, scopes=list(SCOPES)
                )
            except (OSError, ValueError) as exc:
                raise AccessDeniedError(
                    f"cannot read service-account key {self.key_path}: {exc}",
                    operation="credentials",
                ) from exc
        else:
            base, _ = self.default_credentials(scopes=list(SCOPES))
        if self.impersonate is None:
            return base
        return impersonated_credentials.Credentials(
            source_credentials=base,
            target_principal=self.impersonate,
            target_scopes=list(SCOPES),
            lifetime=3600,
        )

    def retry(self) -> api_retry.Retry:
        """Exponential backoff on 429, 5xx and dropped connections."""
        return api_retry.Retry(
            predicate=api_retry.if_exception_type(*_RETRIED),
            initial=self.retry_initial_s,
            maximum=self.retry_maximum_s,
            multiplier=2.0,
            timeout=self.retry_timeout_s,
        )

    def compute(self, client_class: Callable[..., _C]) -> _C:
        """A ``google.cloud.compute_v1`` client on the REST transport."""
        with gcp_errors(f"client {getattr(client_class, '__name__', 'compute')}"):
            return client_class(credentials=self.creds(), transport="rest")

    def session(self) -> AuthorizedSession:
        """The authorized HTTP session the REST readers share."""
        if self._session is None:
            self._session = AuthorizedSession(self.creds())
        return self._session

    def rest_get(self, url: str, params: Mapping[str, str | int | list[str]]) -> JsonObject:
        """GET a Google REST endpoint with retries; Google's errors raised as theirs."""
        return self._call(lambda: self.session().get(url, params=dict(params), timeout=60))

    def rest_post(self, url: str, body: Mapping[str, str | int | list[str]]) -> JsonObject:
        """POST a JSON body to a Google REST endpoint with retries."""
        return self._call(lambda: self.session().post(url, json=dict(body), timeout=60))

    def _call(self, send: Callable[[], requests.Response]) -> JsonObject:
        def once() -> JsonObject:
            response = send()
            if response.status_code >= 400:
                raise gce.from_http_response(response)
            try:
                payload = response.json()
            except ValueError as exc:
                raise InvalidResponseError(f"response is not JSON: {exc}") from exc
            if not isinstance(payload, dict):
                raise InvalidResponseError(f"expected a JSON object, got {type(payload).__name__}")
            return cast(JsonObject, payload)

        return cast(JsonObject, self.retry()(once)())
