"""The wait-time estimate, how it is told, when it is told again, the handling times it
reads, the gate's reasons and the next opening of business hours: pure functions."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from handoff_server.escalation import parse_policy
from handoff_server.escalation.policy import BusinessHours
from handoff_server.routing.gate import gate_reason, next_opening
from handoff_server.routing.wait import (
    HandlingTimes,
    estimate_wait,
    materially_changed,
    overrun,
    rounded,
    wait_sentence,
)


@pytest.mark.parametrize(
    ("seconds", "told"),
    [
        (0, (0, None)),
        (59, (0, None)),
        (60, (1, None)),
        (330, (6, None)),  # 5.5 minutes: to the minute
        (600, (10, None)),
        (1000, (15, None)),  # 16.7 minutes: to 5 minutes
        (1800, (30, None)),
        (1900, (30, 45)),  # past half an hour: a quarter-hour range
        (3500, (45, 60)),
        (3599, (45, 60)),
        (3600, (60, 90)),  # from an hour: a half-hour range
        (3700, (60, 90)),
        (7199, (90, 120)),
        (7200, (120, None)),  # from two hours: "more than two hours"
        (7300, (120, None)),
    ],
)
def test_rounded_honestly(seconds: float, told: tuple[int, int | None]) -> None:
    assert rounded(seconds) == told


def test_every_figure_has_its_sentence() -> None:
    for seconds in range(0, 3 * 3600, 7):
        minutes, top = rounded(seconds)
        assert wait_sentence(minutes, top, 2).startswith("2 conversations are ahead of you.")
        assert top is None or minutes < top


def test_sentences() -> None:
    assert wait_sentence(0, None, 0) == (
        "You're next in line. A person should be with you in under a minute."
    )
    assert wait_sentence(1, None, 1) == (
        "1 conversation is ahead of you. A person should be with you in about a minute."
    )
    assert wait_sentence(45, 60, 7).endswith("in 45 minutes to an hour.")
    assert wait_sentence(30, 45, 7).endswith("in 30 to 45 minutes.")
    assert wait_sentence(60, 90, 7).endswith("in an hour to an hour and a half.")
    assert wait_sentence(120, None, 20).endswith("The wait is more than two hours right now.")
    assert wait_sentence(None, None, 3).startswith("Nobody from the team is online right now")


def test_the_formula() -> None:
    # Nobody online: no estimate.
    assert estimate_wait(2, 0, 0, 0, 600).seconds is None
    # A free slot for the visitor: no wait.
    assert estimate_wait(2, 1, 3, 0, 600).seconds == 0
    # One agent, one slot, busy: the visitor first in line waits one handling time.
    assert estimate_wait(0, 1, 0, 1, 600).seconds == 600
    # Two agents with three slots each, all six busy, four ahead: 5 x 600 / 6.
    assert estimate_wait(4, 2, 0, 6, 600).seconds == 500
    # One slot free, three ahead: three conversations to be served first, 3 x 600 / 4.
    assert estimate_wait(3, 2, 1, 3, 600).seconds == 450


def test_a_late_estimate_counts_the_wait_so_far() -> None:
    # A free slot says "no wait"; a visitor who has waited 3 minutes anyway is told at
    # least that, and why.
    late = estimate_wait(0, 1, 3, 0, 600, waited=190)
    assert (late.seconds, late.minutes, late.waited) == (190, 3, 190)
    assert late.text == (
        "You're next in line. Sorry, this is taking longer than we expected: you've been "
        "waiting 3 minutes. A person should be with you in about 3 minutes."
    )
    # The formula says more than the wait so far: the formula's figure.
    assert estimate_wait(4, 1, 0, 1, 600, waited=120).seconds == 3000
    assert wait_sentence(120, None, 0, waited=8000).endswith(
        "you've been waiting more than two hours. The wait is more than two hours right now."
    )
    assert "a minute." in wait_sentence(1, None, 0, waited=61)
    # Nobody online: still no estimate, whatever the wait.
    assert estimate_wait(0, 0, 0, 0, 600, waited=900).seconds is None


def test_overrun_past_the_upper_end_of_what_was_told() -> None:
    told = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)

    def past(minutes: int | None, top: int | None, after: float) -> bool:
        return overrun(minutes, top, told, told + timedelta(seconds=after))

    assert not past(0, None, 59) and past(0, None, 60)  # "under a minute"
    assert not past(4, None, 239) and past(4, None, 240)
    assert not past(30, 45, 2699) and past(30, 45, 2700)  # the top of the range
    assert not past(None, None, 10**6)  # "nobody online" promised no time


@pytest.mark.parametrize(
    ("old", "new", "material"),
    [
        (None, None, False),
        (None, 0, True),  # it became known
        (600, None, True),  # it became unknown
        (600, 790, False),  # < a third
        (600, 800, True),  # a third
        (600, 400, True),
        (30, 80, False),  # more than a third, but under a minute
        (30, 95, True),
        (7200, 7300, False),
    ],
)
def test_told_again_when_it_moves_by_a_third_and_a_minute(
    old: float | None, new: float | None, material: bool
) -> None:
    assert materially_changed(old, new) is material


def test_handling_times_median_bounded_with_a_default_first() -> None:
    times = HandlingTimes(600)
    for seconds in (100, 200, 300, 400):
        times.record("dns", seconds)
    assert times.typical("dns") == 600  # four are too few
    times.record("dns", 99999)  # one conversation left open overnight
    assert times.typical("dns") == 300  # the median ignores it
    assert times.typical("billing") == 300  # no billing history: the desk's
    for _ in range(5):
        times.record("billing", 10)
    assert times.typical("billing") == 60  # bounded below: a claim released at once


def test_the_gate_reasons_in_order() -> None:
    policy = parse_policy(
        {
            "business_hours": {"timezone": "Asia/Tokyo"},
            "fallbacks": {
                "outside_business_hours": True,
                "gate": {"max_queue_length": 3, "max_wait_minutes": 10},
                "teams": {"vip": {"max_queue_length": 0, "max_wait_minutes": 0}},
            },
        }
    )
    monday_noon_tokyo = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)
    sunday = datetime(2026, 3, 1, 3, 0, tzinfo=UTC)
    quick, slow = estimate_wait(0, 1, 1, 0, 600), estimate_wait(3, 1, 0, 1, 600)

    def reason(now: datetime, team: str | None = None, **kw) -> str | None:
        facts = {"online": 1, "line_length": 1, "estimate": quick, **kw}
        return gate_reason(policy, team, now, **facts)

    assert reason(sunday, online=0) == "closed"
    assert reason(monday_noon_tokyo, online=0) == "no_agents"
    assert reason(monday_noon_tokyo, line_length=4) == "queue_full"
    assert reason(monday_noon_tokyo, estimate=slow) == "wait_too_long"
    assert reason(monday_noon_tokyo) is None
    assert reason(monday_noon_tokyo, "vip", line_length=400, estimate=slow) is None
    # A stored policy keeps the limits (and "no limit") as they were given.
    again = parse_policy(policy.to_data())
    assert again.fallbacks == policy.fallbacks
    assert again.fallbacks.gate_for("vip").max_queue_length == 0


def test_next_opening_in_the_hours_time_zone() -> None:
    hours = BusinessHours(
        timezone="Europe/Berlin", start=time(9), end=time(17), holidays=[date(2026, 3, 30)]
    )
    # Friday 18:00 in Berlin: Monday 09:00 Berlin, 08:00 UTC.
    assert next_opening(hours, datetime(2026, 3, 27, 17, 0, tzinfo=UTC)) == datetime(
        2026, 3, 31, 7, 0, tzinfo=UTC
    )  # Monday the 30th is a holiday; summer time from the 29th (UTC+2)
    assert next_opening(hours, datetime(2026, 3, 2, 6, 0, tzinfo=UTC)) == datetime(
        2026, 3, 2, 8, 0, tzinfo=UTC
    )
    assert next_opening(BusinessHours(days=[]), datetime(2026, 3, 2, tzinfo=UTC)) is None
