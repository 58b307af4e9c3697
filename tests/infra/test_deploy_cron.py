"""The policy's cron as EventBridge Scheduler's ``cron(...)``: written forms, and the same
firing times as ``headroom serve``'s APScheduler trigger, checked by an independent reading of
the EventBridge expression."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from infra.deploy.cron import CronConversionError, eventbridge_cron
from policies.cron import crontab_trigger
from policies.loader import load_policy

ROOT = Path(__file__).resolve().parents[2]

EB_DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]  # EventBridge: SUN = 1


def _eb_field(text: str, low: int, high: int, names: list[str] | None = None) -> set[int]:
    """The values an EventBridge field matches (``*``, ``?``, ``a/n``, ``a-b``, lists)."""
    if text in ("*", "?"):
        return set(range(low, high + 1))

    def value(token: str) -> int:
        return names.index(token) + low if names and token in names else int(token)

    found: set[int] = set()
    for part in text.split(","):
        if "/" in part:
            start, step = part.split("/")
            found.update(range(value(start), high + 1, int(step)))
        elif "-" in part:
            first, last = part.split("-")
            found.update(range(value(first), value(last) + 1))
        else:
            found.add(value(part))
    return found


def _fire_times_eventbridge(expression: str, start: datetime, end: datetime) -> list[datetime]:
    assert expression.startswith("cron(") and expression.endswith(")")
    minute, hour, day, month, weekday, year = expression[5:-1].split()
    assert year == "*" and "?" in (day, weekday) and (day, weekday) != ("?", "?")
    minutes, hours = _eb_field(minute, 0, 59), _eb_field(hour, 0, 23)
    days, months = _eb_field(day, 1, 31), _eb_field(month, 1, 12)
    weekdays = _eb_field(weekday, 1, 7, EB_DAYS)
    times, at = [], start
    while at < end:
        if (
            at.minute in minutes
            and at.hour in hours
            and at.day in days
            and at.month in months
            and (at.isoweekday() % 7) + 1 in weekdays  # Sunday -> 1
        ):
            times.append(at)
        at += timedelta(minutes=1)
    return times


def _fire_times_apscheduler(cron: str, start: datetime, end: datetime) -> list[datetime]:
    trigger = crontab_trigger(cron, timezone="UTC")
    times, previous, now = [], None, start
    while True:
        nxt = trigger.get_next_fire_time(previous, now)
        if nxt is None or nxt >= end:
            return times
        times.append(nxt)
        previous, now = nxt, nxt + timedelta(seconds=1)


@pytest.mark.parametrize(
    ("cron", "expected"),
    [
        ("*/15 * * * *", "cron(0/15 * * * ? *)"),
        ("0 * * * *", "cron(0 * * * ? *)"),
        ("*/30 * * * *", "cron(0/30 * * * ? *)"),
        ("5,35 2 * * *", "cron(5/30 2 * * ? *)"),
        ("5,20 2 * * *", "cron(5,20 2 * * ? *)"),
        ("0 9 * * mon-fri", "cron(0 9 ? * MON-FRI *)"),
        ("0 0 * * sat-sun", "cron(0 0 ? * SUN,SAT *)"),
        ("0 0 * * sun", "cron(0 0 ? * SUN *)"),
        ("30 2 1 * *", "cron(30 2 1 * ? *)"),
        ("0 12 1,15 jan-mar,dec *", "cron(0 12 1,15 1,2,3,12 ? *)"),
        ("5/20 1-5 * * *", "cron(5/20 1-5 * * ? *)"),
        ("0-10/5 */6 * * *", "cron(0,5,10 0/6 * * ? *)"),
        ("0 0 * * mon,tue,wed,thu,fri,sat,sun", "cron(0 0 * * ? *)"),
        # weekday numbers as cron reads them (0 and 7 are Sunday), as `headroom serve` does
        ("0 9 * * 1", "cron(0 9 ? * MON *)"),
        ("0 9 * * 0-4", "cron(0 9 ? * SUN-THU *)"),
        ("0 9 * * */2", "cron(0 9 ? * SUN,TUE,THU,SAT *)"),
        ("0 9 * * 5-7", "cron(0 9 ? * SUN,FRI,SAT *)"),
    ],
)
def test_conversion_and_same_fire_times(cron: str, expected: str) -> None:
    assert eventbridge_cron(cron) == expected
    start = datetime(2026, 1, 1, tzinfo=UTC)
    end = start + timedelta(days=120 if " 1," in cron or "jan" in cron else 15)
    fired = _fire_times_apscheduler(cron, start, end)
    assert fired, cron
    assert _fire_times_eventbridge(expected, start, end) == fired


@pytest.mark.parametrize(
    ("cron", "reason"),
    [
        ("0 9 1 * mon", "restricts both day of month and day of week"),
        ("0 9 last * *", "day of month 'last'"),
        ("0 9 L * *", "day of month 'L'"),
        ("0 9 * * mon#1", "is not a value, range or step"),
        ("61 * * * *", "minute '61' is not a number in 0-59"),
        ("0 5-2 * * *", "backwards"),
        ("* * * *", "must have 5 fields"),
    ],
)
def test_what_cannot_mean_the_same_is_refused(cron: str, reason: str) -> None:
    with pytest.raises(CronConversionError, match=reason):
        eventbridge_cron(cron)


def test_every_example_policy_converts() -> None:
    for path in sorted((ROOT / "policies" / "examples").glob("*.yaml")):
        assert eventbridge_cron(load_policy(path).schedule.cron).startswith("cron("), path
