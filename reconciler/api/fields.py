"""The shapes of what clients send: ids and text free of control characters, ids in range.

A NUL byte reaching PostgreSQL fails the statement (text cannot hold it) and an integer past
the id column's range overflows the driver: both were 500s. Every string a client sends is
checked here first, so such input is a 422 naming the field, and no string is longer than the
column that stores it.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import Path
from pydantic import AfterValidator, Field

__all__ = [
    "COMMAND_ID_MAX",
    "CommandIdPath",
    "GroupIdPath",
    "Label",
    "MemberId",
    "Name",
    "PolicyClass",
    "Text",
]

#: Command ids are 32-bit on PostgreSQL (``INTEGER``).
COMMAND_ID_MAX = 2**31 - 1

# C0 controls, DEL and lone surrogates (which no database encoding can store)
_CONTROL = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")
# the same, except tab, line feed and carriage return: free text may span lines
_CONTROL_IN_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
_NO_CONTROL: dict[str, Any] = {"pattern": r"^[^\x00-\x1f\x7f]*$"}
_NO_CONTROL_IN_TEXT: dict[str, Any] = {"pattern": r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"}


def _refuse(found: re.Match[str] | None) -> None:
    if found is not None:
        raise ValueError(
            f"contains the control character U+{ord(found.group()):04X} at position {found.start()}"
        )


def _printable(value: str) -> str:
    _refuse(_CONTROL.search(value))
    return value


def _text(value: str) -> str:
    _refuse(_CONTROL_IN_TEXT.search(value))
    return value


def _name(max_length: int) -> Any:
    return Field(min_length=1, max_length=max_length, json_schema_extra=_NO_CONTROL)


#: A group's or policy class's name.
Name = Annotated[str, _name(200), AfterValidator(_printable)]
#: A policy class (as the policy names it).
PolicyClass = Annotated[str, _name(64), AfterValidator(_printable)]
#: A resource id, as stored for group members.
MemberId = Annotated[str, _name(128), AfterValidator(_printable)]
#: A tag key or value in a selector.
Label = Annotated[str, _name(128), AfterValidator(_printable)]
#: Free text such as a reason: may hold tabs and line breaks, nothing else below U+0020.
Text = Annotated[
    str,
    Field(min_length=1, max_length=500, json_schema_extra=_NO_CONTROL_IN_TEXT),
    AfterValidator(_text),
]
#: A group id in a path.
GroupIdPath = Annotated[
    str,
    Path(min_length=1, max_length=64, json_schema_extra=_NO_CONTROL),
    AfterValidator(_printable),
]
#: A command id in a path.
CommandIdPath = Annotated[int, Path(ge=1, le=COMMAND_ID_MAX)]
