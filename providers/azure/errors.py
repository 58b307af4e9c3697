"""Azure SDK errors become the contract's errors (``providers.base``), naming the operation.

azure-core raises ``HttpResponseError`` (with ``status_code`` and the ARM error ``code``),
``ClientAuthenticationError`` when a token cannot be had or is refused, and
``ServiceRequestError``/``ServiceResponseError`` when the endpoint cannot be reached. Its retry
policy has already honoured ``Retry-After`` on 429 and 5xx before any of these reach us.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from azure.core import exceptions as az

from providers.base import (
    AccessDeniedError,
    InvalidResponseError,
    NotFoundError,
    ProviderError,
    ProviderUnavailableError,
    ThrottledError,
)

__all__ = ["azure_errors", "translate_error"]

_ACCESS_CODES = (
    "AuthorizationFailed",
    "AuthenticationFailed",
    "InvalidAuthenticationToken",
    "LinkedAuthorizationFailed",
    "AuthorizationPermissionMismatch",
    "InsufficientAccountPermissions",
)
_NOT_FOUND_CODES = (
    "ResourceNotFound",
    "ResourceGroupNotFound",
    "SubscriptionNotFound",
    "ContainerNotFound",
    "BlobNotFound",
    "NotFound",
)


def _code(exc: az.HttpResponseError) -> str:
    code = getattr(exc, "error_code", None) or getattr(getattr(exc, "error", None), "code", None)
    return str(code or "")


def translate_error(exc: Exception, operation: str, region: str | None = None) -> ProviderError:
    """The provider error a caller handles for one azure-core exception."""
    if isinstance(exc, ProviderError):
        return exc
    if isinstance(exc, az.ClientAuthenticationError):
        return AccessDeniedError(
            f"authentication failed: {exc.message}", operation=operation, region=region
        )
    if isinstance(exc, az.HttpResponseError):
        status = int(exc.status_code or 0)
        code = _code(exc)
        message = f"{code or status}: {exc.message}"
        if status in (401, 403) or code in _ACCESS_CODES:
            return AccessDeniedError(message, operation=operation, region=region)
        if status == 429:
            return ThrottledError(message, operation=operation, region=region)
        if status == 404 or code in _NOT_FOUND_CODES:
            return NotFoundError(message, operation=operation, region=region)
        if status >= 500:
            return ProviderUnavailableError(message, operation=operation, region=region)
        return InvalidResponseError(message, operation=operation, region=region)
    if isinstance(exc, az.ServiceRequestError | az.ServiceResponseError):
        return ProviderUnavailableError(
            f"endpoint unreachable: {exc}", operation=operation, region=region
        )
    if isinstance(exc, az.DecodeError | az.DeserializationError):
        return InvalidResponseError(
            f"cannot decode the answer: {exc}", operation=operation, region=region
        )
    return InvalidResponseError(f"{type(exc).__name__}: {exc}", operation=operation, region=region)


@contextmanager
def azure_errors(operation: str, region: str | None = None) -> Iterator[None]:
    """Re-raise azure-core errors inside the block as provider errors."""
    try:
        yield
    except az.AzureError as exc:
        raise translate_error(exc, operation, region) from exc
