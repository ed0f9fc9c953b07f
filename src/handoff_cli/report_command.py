"""``handoff report``: containment, escalations, wait and handling times from the store.

The same numbers as the operator's analytics screen: both come from
:func:`~handoff_server.analytics.report.analytics_report`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

import regex
import typer

from handoff_cli.common import (
    ConfigOpt,
    DataDirOpt,
    JsonOpt,
    StoreOpt,
    fail,
    print_json,
    settings_from,
)
from handoff_cli.output import echo, one_line
from handoff_cli.times import checked_moment
from handoff_server.analytics.teams import check_team, known_teams
from handoff_server.errors import NotFound, StoredPolicyInvalid
from handoff_server.policies import policy_in_force
from handoff_server.protocol import TEAM_NAME_PATTERN
from handoff_server.protocol_operator import DurationStats, SAnalytics
from handoff_server.store import opened_store, store_exists

__all__ = ["register", "report"]

DateOpt = Annotated[
    str | None,
    typer.Option(
        metavar="DATE",
        help="A day (YYYY-MM-DD, in the policy's business-hours time zone) or an ISO 8601 time.",
    ),
]


def _moment(value: str, zone: ZoneInfo, option: str, *, end: bool) -> datetime:
    """``value`` as an aware time: a day starts at midnight in ``zone`` (with ``end``, the
    next midnight, so the day is included); a time without an offset is in ``zone``."""
    try:
        day = date.fromisoformat(value)
    except ValueError:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            fail(f"{option} takes YYYY-MM-DD or an ISO 8601 time, got {value!r}", "invalid_option")
        aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=zone)
        return checked_moment(aware, option)
    try:
        moment = datetime.combine(day + timedelta(days=1 if end else 0), time(), zone)
    except OverflowError:  # the day after 9999-12-31: past any bound
        moment = datetime.max.replace(tzinfo=UTC)
    return checked_moment(moment, option)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {secs:02d}s"


def _rate(rate: float | None) -> str:
    """A 0–1 rate as a whole percentage; ``-`` when there is no data (no denominator)."""
    return "-" if rate is None else f"{rate:.0%}"


def _durations(name: str, stats: DurationStats) -> str:
    return f"{name}: median {_duration(stats.median)}, p90 {_duration(stats.p90)} ({stats.count})"


def _show(r: SAnalytics, zone: str) -> None:
    echo(
        f"{r.conversations} conversations ({zone}): containment {_rate(r.containment_rate)},"
        f" escalation {_rate(r.escalation_rate)}"
    )
    echo(
        f"{'day':<10}  {'conversations':>13}  {'contained':>9}  {'escalated':>9}  {'containment':>11}"
    )
    for d in r.days:
        echo(
            f"{d.date.isoformat():<10}  {d.conversations:>13}  {d.contained:>9}"
            f"  {d.escalated:>9}  {_rate(d.containment_rate):>11}"
        )
    triggers = ", ".join(f"{one_line(k)} {v}" for k, v in r.by_trigger.items()) or "none"
    echo(f"escalations by trigger: {triggers}")
    echo(_durations("wait (queued to claimed)", r.wait))
    echo(_durations("handling (claimed to resolved)", r.handling))
    for team, stats in r.teams.items():
        echo(
            f"team {one_line(team)}: {stats.escalated} escalated; "
            + _durations("wait", stats.wait)
            + "; "
            + _durations("handling", stats.handling)
        )


def report(
    since: DateOpt = None,
    until: DateOpt = None,
    team: Annotated[
        str | None, typer.Option(metavar="TEAM", help="Only this team's escalations.")
    ] = None,
    json_out: JsonOpt = False,
    data_dir: DataDirOpt = None,
    store_url: StoreOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Containment, escalations and wait times from the store.

    Containment and escalation rates by day, escalations by trigger, wait and handling
    times overall and per team. Counts the conversations started from --since to --until (both days included; a time
    given with --until is excluded). Wait runs from the queue to the claim, handling from
    the claim to the resolution; median and 90th percentile, overall and per team.

    --team takes a team an escalation, an agent, the config or the policy names;
    another is an error listing those.

    A rate with no conversation that had an AI turn is shown as '-' (no data), and
    is null with --json. With --json: one object, as the operator's analytics screen
    receives it.
    """
    settings = settings_from(config, {"store": {"data_dir": data_dir, "url": store_url}})
    if team is not None and not regex.fullmatch(TEAM_NAME_PATTERN, team):
        fail(f"--team {team!r}: use 1-64 letters, digits, '_', '.' or '-'", "invalid_option")
    if not store_exists(settings.store):
        fail(f"no store in {settings.store.data_dir}: nothing to report", "bad_data_dir")
    try:
        policy = policy_in_force(settings).policy
    except StoredPolicyInvalid as exc:
        fail(f"stored policy v{exc.version} is invalid:\n{exc}", exc.code)
    zone = policy.business_hours.timezone
    tz = ZoneInfo(zone)
    start = _moment(since, tz, "--since", end=False) if since else None
    stop = _moment(until, tz, "--until", end=True) if until else None
    if start is not None and stop is not None and start >= stop:
        # An empty period would print a report of nothing, as if nothing had happened.
        fail(
            f"--since {since} is not before --until {until}: the period is empty", "invalid_option"
        )
    from handoff_server.analytics.report import analytics_report, report_data  # NumPy

    with opened_store(settings.store) as store:
        if team is not None:
            configured = [*settings.assignment.push_teams, *settings.assignment.pull_teams]
            try:
                check_team(team, known_teams(store, policy, configured), option="--team")
            except NotFound as exc:
                fail(str(exc), "not_found")
        result = analytics_report(store, start, stop, team=team, timezone=zone)
    if json_out:
        print_json(report_data(result))
    else:
        _show(result, zone)


def register(app: typer.Typer) -> None:
    """Add ``report`` to the ``handoff`` app."""
    app.command("report")(report)
