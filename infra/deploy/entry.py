"""The Headroom image's Lambda entry point: ``infra.deploy.entry.handler`` (the Dockerfile's CMD).

Lambda has no way to put a secret into a function's environment, and the deployment never puts
the database URL into stack config: the function gets ``HEADROOM_DATABASE_SECRET_ARN``. This
reads that secret once per container (warm invocations reuse it) into
``HEADROOM_DATABASE_URL`` and hands over to ``reconciler.handler``. With
``HEADROOM_DATABASE_URL`` already set, nothing is read.
"""

from __future__ import annotations

import os
from collections.abc import Callable, MutableMapping
from typing import Any

__all__ = ["SECRET_ARN_ENV", "handler", "resolve_database_url"]

SECRET_ARN_ENV = "HEADROOM_DATABASE_SECRET_ARN"
URL_ENV = "HEADROOM_DATABASE_URL"


def _read_secret(arn: str) -> str:  # pragma: no cover - exercised against moto in the tests
    import boto3

    value: str = boto3.client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"]
    return value


def resolve_database_url(
    environ: MutableMapping[str, str], read_secret: Callable[[str], str] = _read_secret
) -> None:
    """Set ``HEADROOM_DATABASE_URL`` in ``environ`` from the secret its ARN names (if unset)."""
    if environ.get(URL_ENV, "").strip():
        return
    arn = environ.get(SECRET_ARN_ENV, "").strip()
    if not arn:
        return  # reconciler.handler says which variable is missing
    url = read_secret(arn).strip()
    if not url:
        raise RuntimeError(f"the secret {SECRET_ARN_ENV} names holds no database URL")
    environ[URL_ENV] = url


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:  # pragma: no cover - AWS
    """The Lambda entry point: the database URL from its secret, then one cycle."""
    from reconciler.handler import handler as run_cycle

    resolve_database_url(os.environ)
    return run_cycle(event, context)
