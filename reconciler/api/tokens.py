"""API tokens: ``hr_<id>_<secret>``, of which only a salted SHA-256 of the secret is stored."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import datetime

from reconciler.state import StateStore, TokenRecord
from reconciler.state.models import TOKEN_SCOPES

__all__ = [
    "SCOPES",
    "TokenFormatError",
    "hash_secret",
    "issue_token",
    "parse_token",
    "verify_token",
]

SCOPES = TOKEN_SCOPES
_TOKEN = re.compile(r"^hr_([0-9a-f]{12})_([A-Za-z0-9_-]{20,100})$")


class TokenFormatError(ValueError):
    """A bearer value that is not a Headroom token at all."""


def hash_secret(salt: str, secret: str) -> str:
    return hashlib.sha256(f"{salt}:{secret}".encode()).hexdigest()


def parse_token(token: str) -> tuple[str, str]:
    """``(token_id, secret)`` of a token string."""
    match = _TOKEN.match(token.strip())
    if match is None:
        raise TokenFormatError("not a Headroom API token (expected hr_<id>_<secret>)")
    return match.group(1), match.group(2)


def issue_token(
    store: StateStore, *, name: str, scope: str, at: datetime
) -> tuple[TokenRecord, str]:
    """Create a token; returns its record and the plain token, which is shown once and not kept."""
    if scope not in SCOPES:
        raise ValueError(f"scope {scope!r} is not one of {', '.join(SCOPES)}")
    if not name.strip():
        raise ValueError("token name is empty")
    token_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    salt = secrets.token_hex(16)
    record = store.add_token(
        token_id,
        name=name.strip(),
        scope=scope,
        salt=salt,
        secret_hash=hash_secret(salt, secret),
        at=at,
    )
    return record, f"hr_{token_id}_{secret}"


def verify_token(store: StateStore, token: str) -> TokenRecord | None:
    """The token's record when the token is known, matches and is not revoked; else None."""
    try:
        token_id, secret = parse_token(token)
    except TokenFormatError:
        return None
    found = store.token_secret(token_id)
    if found is None:
        return None
    record, salt, digest = found
    if not hmac.compare_digest(hash_secret(salt, secret), digest):
        return None
    return None if record.revoked_at is not None else record
