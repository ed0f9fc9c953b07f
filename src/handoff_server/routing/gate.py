"""The queue gate: whether a team can take one more live conversation, or the visitor is
offered the fallbacks instead, and why.

Pure: the policy, the time and the facts of the team's line in, a reason (or ``None``)
out. The order of the checks is the order of the reasons' weight: closed (nobody is
meant to come), nobody online, the queue at its length, the wait past its limit.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from handoff_server.escalation import Policy, in_business_hours
from handoff_server.escalation.policy import BusinessHours
from handoff_server.protocol import FallbackReason
from handoff_server.routing.wait import WaitEstimate

__all__ = ["gate_reason", "next_opening"]

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def gate_reason(
    policy: Policy,
    team: str | None,
    now: datetime,
    *,
    online: int,
    line_length: int,
    estimate: WaitEstimate,
) -> FallbackReason | None:
    """Why ``team``'s visitor should be offered the fallbacks at ``now`` (UTC), or
    ``None`` when the queue takes them: ``closed`` (outside business hours, when the
    policy's ``fallbacks.outside_business_hours`` is on), ``no_agents`` (``online`` is
    0), ``queue_full`` (``line_length`` live conversations, theirs included, past the
    team's ``max_queue_length``), ``wait_too_long`` (``estimate`` past its
    ``max_wait_minutes``); a limit of 0 is no limit."""
    rules = policy.fallbacks
    if rules.outside_business_hours and not in_business_hours(policy.business_hours, now):
        return "closed"
    if online <= 0:
        return "no_agents"
    gate = rules.gate_for(team)
    if gate.max_queue_length and line_length > gate.max_queue_length:
        return "queue_full"
    limit = gate.max_wait_minutes
    if limit and estimate.seconds is not None and estimate.seconds > limit * 60:
        return "wait_too_long"
    return None


def next_opening(hours: BusinessHours, now: datetime, *, days: int = 14) -> datetime | None:
    """When business hours next start after ``now`` (UTC), within ``days`` days, or
    ``None``. A day's hours start at ``hours.start`` local time on a working day that is
    no holiday, and only if they are open then: a start that a daylight-saving change
    skips together with the whole span is no opening."""
    zone = ZoneInfo(hours.timezone)
    local = now.astimezone(zone)
    for offset in range(days + 1):
        day = local.date() + timedelta(days=offset)
        if _DAYS[day.weekday()] not in hours.days or day in hours.holidays:
            continue
        start = datetime.combine(day, hours.start, tzinfo=zone).astimezone(UTC)
        if start > now and in_business_hours(hours, start):
            return start
    return None
