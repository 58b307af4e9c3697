"""The policy's five-field cron as an EventBridge Scheduler ``cron(...)`` expression.

EventBridge wants six fields (minutes hours day-of-month month day-of-week year) and exactly one
of the two day fields as ``?``. Each field is read into the set of values it matches, exactly as
``headroom serve`` (APScheduler) reads it, and written back in a form EventBridge accepts:
``*``, ``start/step``, ``first-last`` or a list. The weekday field is first read as cron reads
it (``policies.cron.standard_cron``: ``0`` and ``7`` are Sunday) and written as names (``MON-FRI``),
ranges and lists in EventBridge's Sunday-first order.

What cannot mean the same thing on both sides is refused with the reason:

* both day fields restricted: cron fires when either matches, EventBridge allows only one
  (``policies.cron.standard_cron`` refuses it for ``headroom serve`` too);
* APScheduler-only forms (``last``, ``1st mon``) and cron extensions (``L``, ``W``, ``#``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from policies.cron import standard_cron

__all__ = ["CronConversionError", "eventbridge_cron"]

#: APScheduler's weekday order (Monday = 0), in which its ranges such as ``sat-sun`` are read.
_WEEKDAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
#: EventBridge's order (SUN = 1): ranges are written in it.
_EVENTBRIDGE_WEEKDAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_PART = re.compile(r"^(?:(?P<any>\*)|(?P<first>\w+)(?:-(?P<last>\w+))?)(?:/(?P<step>\d+))?$")


class CronConversionError(ValueError):
    """The cron cannot be written for EventBridge with the same meaning; says why."""


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()  # accepted names, valued low, low + 1, ...


_FIELDS = (
    _Field("minute", 0, 59),
    _Field("hour", 0, 23),
    _Field("day of month", 1, 31),
    _Field("month", 1, 12, _MONTHS),
    _Field("day of week", 0, 6, _WEEKDAYS),  # names only (see above)
)


def _value(token: str, field: _Field, cron: str) -> int:
    if token.upper() in field.names:
        return field.low + field.names.index(token.upper())
    if field.name == "day of week":  # standard_cron wrote every weekday as a name
        raise CronConversionError(f"cron {cron!r}: day of week {token!r} is not a weekday name")
    if not token.isdigit() or not field.low <= int(token) <= field.high:
        raise CronConversionError(
            f"cron {cron!r}: {field.name} {token!r} is not a number in {field.low}-{field.high}"
        )
    return int(token)


def _values(text: str, field: _Field, cron: str) -> frozenset[int]:
    """The set of values one field matches."""
    found: set[int] = set()
    for part in text.split(","):
        match = _PART.match(part)
        if match is None:
            raise CronConversionError(
                f"cron {cron!r}: {field.name} {part!r} has no EventBridge equivalent "
                "(use numbers, names, ranges a-b, steps */n or a-b/n, and lists)"
            )
        step = int(match["step"] or 1)
        if step < 1:
            raise CronConversionError(f"cron {cron!r}: {field.name} step must be at least 1")
        if match["any"]:
            first, last = field.low, field.high
        else:
            first = _value(match["first"], field, cron)
            default_last = field.high if match["step"] else first
            last = _value(match["last"], field, cron) if match["last"] else default_last
        if last < first:
            raise CronConversionError(f"cron {cron!r}: {field.name} range {part!r} is backwards")
        found.update(range(first, last + 1, step))
    return frozenset(found)


def _render(values: frozenset[int], field: _Field) -> str:
    weekdays = field.names == _WEEKDAYS
    if weekdays:  # to EventBridge's order, Sunday first
        values = frozenset(_EVENTBRIDGE_WEEKDAYS.index(_WEEKDAYS[v]) for v in values)

    def show(value: int) -> str:
        return _EVENTBRIDGE_WEEKDAYS[value] if weekdays else str(value)

    ordered = sorted(values)
    if ordered == list(range(field.low, field.high + 1)):
        return "*"
    if len(ordered) == 1:
        return show(ordered[0])
    if ordered == list(range(ordered[0], ordered[-1] + 1)):
        return f"{show(ordered[0])}-{show(ordered[-1])}"
    step = ordered[1] - ordered[0]
    if not weekdays and ordered == list(range(ordered[0], field.high + 1, step)):
        return f"{ordered[0]}/{step}"
    return ",".join(show(v) for v in ordered)


def eventbridge_cron(cron: str) -> str:
    """``cron(...)`` for EventBridge Scheduler matching the five-field ``cron`` exactly."""
    try:  # weekday numbers read as cron reads them, exactly as `headroom serve` does
        parts = standard_cron(cron).split()
    except ValueError as exc:
        raise CronConversionError(str(exc)) from exc
    sets = [_values(text, field, cron) for text, field in zip(parts, _FIELDS, strict=True)]
    rendered = [_render(values, field) for values, field in zip(sets, _FIELDS, strict=True)]
    minute, hour, day, month, weekday = rendered
    if day != "*" and weekday != "*":
        raise CronConversionError(
            f"cron {cron!r} restricts both day of month and day of week: EventBridge allows "
            "only one (the other is '?'); keep one of them '*'"
        )
    if weekday == "*":
        weekday = "?"
    else:
        day = "?"
    return f"cron({minute} {hour} {day} {month} {weekday} *)"
