"""The image's Lambda entry reads the database URL from Secrets Manager (moto), once."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from infra.deploy.entry import SECRET_ARN_ENV, URL_ENV, _read_secret, resolve_database_url


@mock_aws
def test_the_url_comes_from_the_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    arn = boto3.client("secretsmanager").create_secret(
        Name="headroom/database", SecretString="postgresql://headroom:pw@db/headroom\n"
    )["ARN"]
    environ = {SECRET_ARN_ENV: arn}
    resolve_database_url(environ, _read_secret)
    assert environ[URL_ENV] == "postgresql://headroom:pw@db/headroom"


def test_an_explicit_url_is_kept_and_nothing_is_read() -> None:
    def refuse(arn: str) -> str:
        raise AssertionError("read")

    environ = {URL_ENV: "sqlite:///x.db", SECRET_ARN_ENV: "arn:aws:secretsmanager:x"}
    resolve_database_url(environ, refuse)
    assert environ[URL_ENV] == "sqlite:///x.db"


def test_without_an_arn_the_handler_reports_the_missing_variable() -> None:
    environ: dict[str, str] = {}
    resolve_database_url(environ, lambda arn: "unused")
    assert URL_ENV not in environ


def test_an_empty_secret_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="holds no database URL"):
        resolve_database_url({SECRET_ARN_ENV: "arn:aws:secretsmanager:x"}, lambda arn: " ")
