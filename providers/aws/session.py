"""The one place boto3 sessions and clients are built, and AWS errors become ours.

``AwsSessionFactory`` holds the base session (default chain or a profile), an optional
``endpoint_url`` (a moto server in tests), and assumes a role per account through STS. Every
client gets botocore's adaptive retry mode, so throttling is retried with client-side rate
limiting before a ``ThrottledError`` reaches the caller.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3
import botocore.exceptions as bce
from botocore.config import Config

from providers.base import (
    AccessDeniedError,
    InvalidResponseError,
    NotFoundError,
    ProviderError,
    ProviderUnavailableError,
    ThrottledError,
)

__all__ = ["AwsSessionFactory", "aws_errors", "translate_error"]

_ACCESS = (
    "AccessDenied",
    "UnauthorizedOperation",
    "AuthFailure",
    "InvalidClientTokenId",
    "ExpiredToken",
    "UnrecognizedClientException",
    "SignatureDoesNotMatch",
    "OptInRequired",
)
_THROTTLE = ("Throttling", "RequestLimitExceeded", "TooManyRequests", "SlowDown")
_NOT_FOUND = ("NoSuchBucket", "NoSuchKey", "ResourceNotFound", "NotFound", "NoSuchEntity")


def translate_error(exc: Exception, operation: str, region: str | None) -> ProviderError:
    """Map a botocore exception to the provider error a caller handles."""
    if isinstance(exc, ProviderError):
        return exc
    if isinstance(exc, bce.ClientError):
        err = exc.response.get("Error", {})
        code = str(err.get("Code", "Unknown"))
        message = f"{code}: {err.get('Message', '') or exc}"
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        if code.startswith(_ACCESS) or status == 403:
            return AccessDeniedError(message, operation=operation, region=region)
        if code.startswith(_THROTTLE) or status == 429:
            return ThrottledError(message, operation=operation, region=region)
        if any(part in code for part in _NOT_FOUND) or status == 404:
            return NotFoundError(message, operation=operation, region=region)
        if status >= 500 or code in {"InternalError", "ServiceUnavailable", "InternalFailure"}:
            return ProviderUnavailableError(message, operation=operation, region=region)
        return InvalidResponseError(message, operation=operation, region=region)
    if isinstance(exc, bce.NoCredentialsError | bce.PartialCredentialsError):
        return AccessDeniedError(f"no AWS credentials: {exc}", operation=operation, region=region)
    if isinstance(exc, bce.ProfileNotFound):
        return AccessDeniedError(str(exc), operation=operation, region=region)
    if isinstance(
        exc,
        bce.EndpointConnectionError
        | bce.ConnectTimeoutError
        | bce.ReadTimeoutError
        | bce.ConnectionClosedError,
    ):
        return ProviderUnavailableError(
            f"endpoint unreachable: {exc}", operation=operation, region=region
        )
    if isinstance(exc, bce.BotoCoreError):
        return ProviderUnavailableError(str(exc), operation=operation, region=region)
    return InvalidResponseError(f"{type(exc).__name__}: {exc}", operation=operation, region=region)


@contextmanager
def aws_errors(operation: str, region: str | None) -> Iterator[None]:
    """Re-raise botocore errors inside the block as provider errors naming operation/region."""
    try:
        yield
    except (bce.BotoCoreError, bce.ClientError) as exc:
        raise translate_error(exc, operation, region) from exc


@dataclass
class AwsSessionFactory:
    """Builds sessions and clients; one instance per process, passed into the provider."""

    profile: str | None = None
    endpoint_url: str | None = None
    max_attempts: int = 8
    role_name: str | None = None
    base_session: boto3.Session | None = None
    session_builder: Callable[..., boto3.Session] = boto3.Session
    _assumed: dict[str, boto3.Session] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.base_session is None:
            with aws_errors("CreateSession", None):
                self.base_session = self.session_builder(profile_name=self.profile)

    @property
    def config(self) -> Config:
        return Config(
            retries={"mode": "adaptive", "max_attempts": self.max_attempts},
            connect_timeout=10,
            read_timeout=60,
        )

    def session(self, account_id: str | None = None) -> boto3.Session:
        """The base session, or one for ``account_id`` through ``role_name`` when set."""
        assert self.base_session is not None
        if account_id is None or self.role_name is None:
            return self.base_session
        return self.assume_role(account_id, self.role_name)

    def assume_role(self, account_id: str, role_name: str) -> boto3.Session:
        """A session with ``arn:aws:iam::<account>:role/<role>`` credentials (cached)."""
        key = f"{account_id}/{role_name}"
        if key not in self._assumed:
            arn = f"arn:aws:iam::{account_id}:role/{role_name}"
            sts = self.client("sts", None)
            with aws_errors(f"AssumeRole {arn}", None):
                creds = sts.assume_role(RoleArn=arn, RoleSessionName="headroom")["Credentials"]
            self._assumed[key] = self.session_builder(
                aws_access_key_id=creds["AccessKeyId"],
                aws_secret_access_key=creds["SecretAccessKey"],
                aws_session_token=creds["SessionToken"],
            )
        return self._assumed[key]

    def client(self, service: str, region: str | None, account_id: str | None = None) -> Any:
        """A boto3 client with adaptive retries (and the endpoint override, if any)."""
        kwargs: dict[str, Any] = {"config": self.config}
        if region:
            kwargs["region_name"] = region
        if self.endpoint_url:
            kwargs["endpoint_url"] = self.endpoint_url
        with aws_errors(f"client {service}", region):
            return self.session(account_id).client(service, **kwargs)

    def account_id(self, account_id: str | None = None) -> str:
        """The account the (assumed) credentials belong to."""
        sts = self.client("sts", None, account_id)
        with aws_errors("GetCallerIdentity", None):
            return str(sts.get_caller_identity()["Account"])
