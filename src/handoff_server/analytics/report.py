"""Containment, escalations, wait and handling times over a period: the one computation
behind the operator's ``analytics`` frame and ``handoff report``.

Read from stored events, for the conversations started in [since, until):

- a conversation *had an AI turn* when it has an ``ai_message`` or an ``escalated``
  event; it is *escalated* when it has an ``escalated`` event, else *contained*;
  containment rate = contained / (contained + escalated), escalation rate = escalated /
  (contained + escalated); both ``None`` (no data) when there are none, never a
  made-up 0%;
- escalations count by the trigger of the conversation's first escalation, and a
  conversation belongs to the team of its first escalation (``(no team)`` when it named
  none);
- *wait*: from entering the queue (``escalated``, or ``released`` back to it) to the next
  ``claimed``; *handling*: from the last ``claimed`` to its resolution, however it came
  (``resolved``, a call back done, an offline message answered:
  :data:`~handoff_server.protocol.RESOLVING_KINDS`); each in seconds,
  summarised by the median and the 90th percentile (linear interpolation between the
  closest ranks, numpy's default);
- days are the conversation's start date in the policy's business-hours time zone.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from handoff_server.protocol import RESOLVING_KINDS
from handoff_server.protocol_operator import AnalyticsDay, DurationStats, SAnalytics, TeamStats
from handoff_server.store import ConversationRecord, Store, StoredEvent

__all__ = ["NO_TEAM", "REPORT_EVENTS", "analytics_report", "durations", "report_data"]

NO_TEAM = "(no team)"
"""The team key of escalations that named no team (no team name can be written so)."""

REPORT_EVENTS = ("ai_message", "escalated", "claimed", "released", *RESOLVING_KINDS)
"""The event kinds the report reads."""


@dataclass
class _Conversation:
    """What the report needs of one conversation."""

    started: datetime
    had_ai: bool = False
    trigger: str | None = None
    team: str | None = None
    waits: list[float] = field(default_factory=list)
    handling: list[float] = field(default_factory=list)


def analytics_report(
    store: Store,
    since: datetime | None,
    until: datetime | None,
    *,
    team: str | None = None,
    timezone: str = "UTC",
) -> SAnalytics:
    """The report for the conversations started in [since, until) (only those of
    ``team`` when given; days in ``timezone``, an IANA name). Reads ``store`` (call from
    its thread)."""
    convs = store.conversations_between(since, until)
    evs = store.events_of_kinds(REPORT_EVENTS, since, until)
    folded = _fold(convs, evs)
    if team is not None:
        folded = [c for c in folded if c.team == team]
    return _summarise(folded, since, until, ZoneInfo(timezone))


def _fold(convs: list[ConversationRecord], evs: list[StoredEvent]) -> list[_Conversation]:
    by_id = {c.id: _Conversation(started=c.created_at) for c in convs}
    queued_since: dict[str, datetime] = {}
    claimed_since: dict[str, datetime] = {}
    for ev in evs:
        conv = by_id.get(ev.conversation_id)
        if conv is None:
            continue
        cid, kind = ev.conversation_id, ev.kind
        if kind == "ai_message":
            conv.had_ai = True
        elif kind == "escalated":
            conv.had_ai = True
            if conv.trigger is None:
                conv.trigger = str((ev.data.get("trigger") or {}).get("kind") or "rule")
                conv.team = ev.data.get("team")
            queued_since[cid] = ev.at
        elif kind == "released":
            queued_since[cid] = ev.at
        elif kind == "claimed":
            if cid in queued_since:
                conv.waits.append((ev.at - queued_since.pop(cid)).total_seconds())
            claimed_since[cid] = ev.at
        elif kind in RESOLVING_KINDS and cid in claimed_since:
            conv.handling.append((ev.at - claimed_since.pop(cid)).total_seconds())
    return list(by_id.values())


def durations(seconds: list[float]) -> DurationStats:
    """Median and 90th percentile (linear interpolation) of ``seconds``, to the
    millisecond."""
    if not seconds:
        return DurationStats(count=0)
    a = np.asarray(seconds, dtype=float)
    return DurationStats(
        count=len(a),
        median=round(float(np.percentile(a, 50)), 3),
        p90=round(float(np.percentile(a, 90)), 3),
    )


def _rates(contained: int, escalated: int) -> tuple[float | None, float | None]:
    """Containment and escalation rates (0–1), ``None`` each without a denominator."""
    n = contained + escalated
    return (contained / n, escalated / n) if n else (None, None)


def _summarise(
    convs: list[_Conversation], since: datetime | None, until: datetime | None, zone: ZoneInfo
) -> SAnalytics:
    days: dict[date, Counter[str]] = defaultdict(Counter)
    teams: dict[str, list[_Conversation]] = defaultdict(list)
    for c in convs:
        day = days[c.started.astimezone(zone).date()]
        day["conversations"] += 1
        if c.had_ai:
            day["escalated" if c.trigger else "contained"] += 1
        if c.trigger:
            teams[c.team or NO_TEAM].append(c)
    contained = sum(d["contained"] for d in days.values())
    escalated = sum(d["escalated"] for d in days.values())
    containment, escalation = _rates(contained, escalated)
    return SAnalytics(
        since=since,
        until=until,
        conversations=len(convs),
        containment_rate=containment,
        escalation_rate=escalation,
        days=[_day(d, days[d]) for d in sorted(days)],
        by_trigger=dict(Counter(c.trigger for c in convs if c.trigger).most_common()),
        wait=durations([w for c in convs for w in c.waits]),
        handling=durations([h for c in convs for h in c.handling]),
        teams={name: _team(members) for name, members in sorted(teams.items())},
    )


def _day(day: date, counts: Counter[str]) -> AnalyticsDay:
    containment, escalation = _rates(counts["contained"], counts["escalated"])
    return AnalyticsDay(
        date=day,
        conversations=counts["conversations"],
        contained=counts["contained"],
        escalated=counts["escalated"],
        containment_rate=containment,
        escalation_rate=escalation,
    )


def _team(members: list[_Conversation]) -> TeamStats:
    return TeamStats(
        escalated=len(members),
        wait=durations([w for c in members for w in c.waits]),
        handling=durations([h for c in members for h in c.handling]),
    )


def report_data(report: SAnalytics) -> dict[str, Any]:
    """The report as ``handoff report --json`` prints it: the frame without ``type`` and
    ``request_id``."""
    return report.model_dump(mode="json", exclude={"type", "request_id"})
