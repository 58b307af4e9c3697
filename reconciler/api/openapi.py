"""The OpenAPI document states every response the API really sends, errors included.

FastAPI documents the success body of each route and a 422 shaped like its own validation error;
ours differs (``reconciler.api.app`` answers ``{"detail": [{"field", "reason", "type"}]}``) and
the 400/401/403/404/409/413 bodies were left out. :func:`document_errors` adds them to the
generated document (FastAPI's "extending OpenAPI" hook), so clients and ``/docs`` see what a
response can be.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, Field

__all__ = ["ErrorOut", "FieldErrorOut", "RefusedOut", "ValidationErrorOut", "document_errors"]


class ErrorOut(BaseModel):
    """An error: what went wrong, in words."""

    detail: str


class RefusedDetail(BaseModel):
    group_id: str
    reason: str


class RefusedOut(BaseModel):
    """A refusal: a sentence, or (for a bandwidth override) the group and the reason."""

    detail: str | RefusedDetail


class FieldErrorOut(BaseModel):
    field: str = Field(description="where, e.g. `body.gbps` or `query.limit`")
    reason: str
    type: str | None = None


class ValidationErrorOut(BaseModel):
    """422: each bad field and why."""

    detail: list[FieldErrorOut]


_REF = "#/components/schemas/{model}"
_ERRORS: tuple[type[BaseModel], ...] = (ErrorOut, RefusedOut, ValidationErrorOut)


def _response(model: type[BaseModel], description: str) -> dict[str, Any]:
    schema = {"$ref": _REF.format(model=model.__name__)}
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _document(doc: dict[str, Any]) -> dict[str, Any]:
    """Add the error responses of every operation to a generated OpenAPI document."""
    schemas: dict[str, Any] = doc.setdefault("components", {}).setdefault("schemas", {})
    for model in _ERRORS:
        found = model.model_json_schema(ref_template=_REF, mode="serialization")
        schemas.update(found.pop("$defs", {}))
        schemas[model.__name__] = found
    for path, operations in doc.get("paths", {}).items():
        for op in operations.values():
            responses: dict[str, Any] = op.setdefault("responses", {})
            if "requestBody" in op:
                responses["400"] = _response(
                    ErrorOut, "the body cannot be read as JSON (bad UTF-8, a number too long)"
                )
                responses["413"] = _response(
                    ErrorOut, "the body is over the size limit (1 MiB unless configured)"
                )
                responses.setdefault("422", {})
            if op.get("security"):
                responses["401"] = _response(
                    ErrorOut, "missing, malformed, unknown or revoked token"
                )
                responses["403"] = _response(ErrorOut, "the token's scope is too small")
            if "{" in path:
                responses.setdefault("404", _response(ErrorOut, "not found"))
                responses["404"]["content"] = _response(ErrorOut, "")["content"]
            if "409" in responses:
                responses["409"]["content"] = _response(RefusedOut, "")["content"]
            if "422" in responses:
                responses["422"] = _response(ValidationErrorOut, "a field is missing or invalid")
    for unused in ("HTTPValidationError", "ValidationError"):
        if unused in schemas and f'"{_REF.format(model=unused)}"' not in json.dumps(doc["paths"]):
            schemas.pop(unused)
    return doc


def document_errors(app: FastAPI) -> None:
    """Make ``app.openapi()`` state the error responses each route can send (400 and 413 on
    routes that take a body, 401 and 403 on routes that need a token, 404 where the path names
    something, 409 refusals, our 422)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _document(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
