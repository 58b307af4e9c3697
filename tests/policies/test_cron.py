"""The policy's cron fires when cron would: APScheduler 3 reads weekday 0 as Monday and drops a
weekday step, so ``policies.cron`` rewrites the weekday field as the names cron means; a cron
restricting both day fields (cron: either matches; APScheduler: both) is refused at its field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from policies.cron import crontab_trigger, standard_cron
from policies.loader import PolicyError, parse_policy
from reconciler.scheduler import cron_trigger

WEDNESDAY = datetime(2026, 12, 2, tzinfo=UTC)


def _days(cron: str, days: int = 14) -> list[str]:
    trigger = crontab_trigger(cron)
    out, previous, now = [], None, WEDNESDAY
    while (nxt := trigger.get_next_fire_time(previous, now)) and nxt < WEDNESDAY + timedelta(
        days=days
    ):
        out.append(nxt.strftime("%a"))
        previous, now = nxt, nxt + timedelta(seconds=1)
    return out


@pytest.mark.parametrize(
    ("cron", "week"),
    [
        ("0 9 * * 1", ["Mon"]),
        ("0 9 * * 0", ["Sun"]),
        ("0 9 * * 7", ["Sun"]),
        ("0 9 * * 1-5", ["Mon", "Tue", "Wed", "Thu", "Fri"]),
        ("0 9 * * mon-fri/2", ["Mon", "Wed", "Fri"]),
        ("0 9 * * */3", ["Sun", "Wed", "Sat"]),
        ("0 9 * * 5-7", ["Sun", "Fri", "Sat"]),
        ("0 9 * * sat,1", ["Mon", "Sat"]),
        ("0 9 * * sat-sun", ["Sun", "Sat"]),
    ],
)
def test_weekdays_fire_as_cron_reads_them(cron: str, week: list[str]) -> None:
    assert sorted(set(_days(cron))) == sorted(week)
    assert sorted(set(_days(cron))) == sorted(
        {t.strftime("%a") for t in _fire(cron_trigger(cron))}
    )  # `headroom serve`'s trigger is the same


def _fire(trigger: object) -> list[datetime]:
    from apscheduler.triggers.cron import CronTrigger

    assert isinstance(trigger, CronTrigger)
    out, previous, now = [], None, WEDNESDAY
    for _ in range(20):
        nxt = trigger.get_next_fire_time(previous, now)
        assert nxt is not None
        out.append(nxt)
        previous, now = nxt, nxt + timedelta(seconds=1)
    return out


def test_unrestricted_weekdays_are_left_alone() -> None:
    assert standard_cron("*/15 * * * *") == "*/15 * * * *"
    assert standard_cron("0 9 * * 0-6") == "0 9 * * *"


@pytest.mark.parametrize(
    ("cron", "reason"),
    [
        ("0 9 1 * mon", "restricts both day of month and day of week"),
        ("0 9 * * 8", "not 0-7 or a name"),
        ("0 9 * * fri-mon", "runs backwards"),
        ("0 9 * * mon#1", "not a value, range or step"),
    ],
)
def test_what_cron_and_apscheduler_would_read_differently_is_refused(
    cron: str, reason: str
) -> None:
    with pytest.raises(ValueError, match=reason):
        standard_cron(cron)
    pools = "pools: {global_gbps: 1, regions: {r: {capacity_gbps: 1}}}"
    policy = f'name: p\n{pools}\nschedule:\n  cron: "{cron}"\n'
    with pytest.raises(PolicyError, match=r"schedule\.cron"):
        parse_policy(policy)
