"""Numbers in a policy are numbers: YAML's ``true`` is not a capacity of 1.

Pydantic turns a boolean into ``1.0`` or ``1`` for a number field (``global_gbps: true`` was
accepted as 1 Gbps). The policy models type their numbers as ``Number`` (a float) and ``Count``
(an int), which refuse ``true``/``false`` at the field, so the loader reports
``file:line: field: message``.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator

__all__ = ["Count", "Number"]


def _not_boolean(value: object) -> object:
    if isinstance(value, bool):
        raise ValueError(f"{str(value).lower()} is a boolean, not a number")
    return value


Number = Annotated[float, BeforeValidator(_not_boolean)]
Count = Annotated[int, BeforeValidator(_not_boolean)]
