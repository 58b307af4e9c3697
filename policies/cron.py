"""The policy's five-field cron read as cron reads it, for APScheduler.

APScheduler 3's ``CronTrigger.from_crontab`` differs from cron in two places:

- **weekday numbers**: it reads ``0`` as Monday, cron as Sunday (``0`` and ``7``), so
  ``0 9 * * 1`` fires on Tuesdays; and it drops a weekday step (``mon-fri/2`` is ``mon-fri``);
- **both day fields restricted**: it fires when the day of month *and* the weekday match, cron
  when *either* does.

``standard_cron`` rewrites the weekday field as the list of weekday names it means in cron
(numbers, names, ranges, steps and lists; ``7`` is Sunday), so APScheduler fires exactly when cron
would, and refuses a cron restricting both day fields with the reason. Every reader of the
policy's schedule (validation, ``headroom serve``, the provisioning window, the replay, the
deployment's EventBridge rule) goes through ``crontab_trigger`` / ``standard_cron``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from apscheduler.triggers.cron import CronTrigger

__all__ = ["crontab_trigger", "standard_cron"]

#: cron's weekday numbering: Sunday is 0 (and 7).
_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_PART = re.compile(r"^(?:(?P<any>\*)|(?P<first>\w+)(?:-(?P<last>\w+))?)(?:/(?P<step>\d+))?$")


def _day(token: str, cron: str) -> int:
    text = token.lower()
    if text in _NAMES:
        return _NAMES.index(text)
    if text.isdigit() and 0 <= int(text) <= 7:
        return int(text) % 7 if int(text) == 7 else int(text)
    raise ValueError(f"cron {cron!r}: day of week {token!r} is not 0-7 or a name (sun-sat)")


def _weekdays(field: str, cron: str) -> list[int]:
    """The weekdays (0 = Sunday) one cron day-of-week field matches, in cron's own reading."""
    days: set[int] = set()
    for part in field.split(","):
        match = _PART.match(part)
        if match is None:
            raise ValueError(f"cron {cron!r}: day of week {part!r} is not a value, range or step")
        step = int(match["step"] or 1)
        if step < 1:
            raise ValueError(f"cron {cron!r}: day of week step must be at least 1")
        if match["any"]:
            first, last = 0, 6
        else:
            first = _day(match["first"], cron)
            if match["last"] is None:
                last = 6 if match["step"] else first
            else:
                # a range ending on Sunday ends on 7: ``fri-sun`` and ``5-7`` are Fri, Sat, Sun
                ends_sunday = match["last"].lower() in ("7", "sun") and first > 0
                last = 7 if ends_sunday else _day(match["last"], cron)
            if last < first:
                raise ValueError(f"cron {cron!r}: day of week range {part!r} runs backwards")
        days.update(d % 7 for d in range(first, last + 1, step))
    return sorted(days)


def standard_cron(cron: str) -> str:
    """``cron`` with its weekday field as names (``mon,wed``), meaning what cron means."""
    fields = cron.split()
    if len(fields) != 5:
        raise ValueError(f"cron {cron!r} must have 5 fields (minute hour day month weekday)")
    day, weekday = fields[2], fields[4]
    if weekday == "*":
        return cron
    if day != "*":
        raise ValueError(
            f"cron {cron!r} restricts both day of month and day of week: cron fires when either "
            "matches, APScheduler when both do; keep one of them '*'"
        )
    days = _weekdays(weekday, cron)
    names = "*" if len(days) == 7 else ",".join(_NAMES[d] for d in days)
    return " ".join([*fields[:4], names])


def crontab_trigger(cron: str, timezone: str = "UTC") -> CronTrigger:
    """APScheduler's trigger firing exactly when cron would (``standard_cron``)."""
    from apscheduler.triggers.cron import CronTrigger

    return CronTrigger.from_crontab(standard_cron(cron), timezone=timezone)
