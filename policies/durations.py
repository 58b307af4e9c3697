"""Durations as operators write them in YAML: ``30s``, ``5m``, ``1h``, ``7d``, ``1h30m``."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer

__all__ = ["Duration", "format_duration", "parse_duration"]

_PART = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: object) -> timedelta:
    """Parse ``"1h30m"``, ``"5m"``, ``300`` (seconds) or a ``timedelta``; refuse anything else."""
    if isinstance(value, timedelta):
        out = value
    elif isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    elif isinstance(value, int | float):
        out = timedelta(seconds=float(value))
    elif isinstance(value, str):
        text = value.strip().lower().replace(" ", "")
        if not text or _PART.sub("", text):
            raise ValueError(f"not a duration: {value!r} (write e.g. 30s, 5m, 1h, 7d, 1h30m)")
        seconds = sum(float(n) * _UNIT_S[u] for n, u in _PART.findall(text))
        out = timedelta(seconds=seconds)
    else:
        raise ValueError(f"not a duration: {value!r}")
    if out < timedelta(0):
        raise ValueError(f"duration must not be negative: {value!r}")
    return out


def format_duration(value: timedelta) -> str:
    """The shortest ``1h30m``-style text for a duration (whole seconds)."""
    left = int(value.total_seconds())
    if left == 0:
        return "0s"
    parts = []
    for unit in ("d", "h", "m", "s"):
        size = _UNIT_S[unit]
        if left >= size:
            parts.append(f"{left // size}{unit}")
            left %= size
    return "".join(parts)


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
]
