"""Analytics on a known history: the operator's ``analytics`` frame and ``handoff report``
give the same figures, and the figures are the ones the history implies (a real server
with its clock set, real visitors and agents, the real CLI)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from handoff_server.client import Connection, new_client_msg_id
from handoff_server.protocol import SAck, SError
from handoff_server.protocol_operator import SAnalytics
from handoff_server.store import SQLiteStore
from tests.conftest import create_token
from tests.helpers import agent, events, run_handoff, say, start_visitor
from tests.server.test_operator_policy import ask

DAY1 = datetime(2026, 3, 2, tzinfo=UTC)
DAY2 = DAY1 + timedelta(days=1)


class Clock:
    """The server's clock, set by the test."""

    def __init__(self) -> None:
        self.now = DAY1

    def __call__(self) -> datetime:
        return self.now

    def at(self, day: datetime, hh: int, mm: int) -> None:
        self.now = day.replace(hour=hh, minute=mm)


async def act(conn: Connection, action: str, conversation_id: str) -> None:
    cmid = new_client_msg_id()
    await conn.send({"type": action, "conversation_id": conversation_id, "client_msg_id": cmid})
    frames = await conn.recv_until(lambda f: getattr(f, "client_msg_id", None) == cmid)
    assert isinstance(frames[-1], SAck), frames[-1]


async def visit(url: str, text: str | None) -> tuple[str, str]:
    """A conversation with one visitor message (none: started and left); its id and how
    the AI ended it."""
    conn, welcome = await start_visitor(url)
    outcome = "none"
    if text is not None:
        frames = await say(conn, text)
        esc = events(frames, "escalated")
        outcome = esc[0].data.trigger.kind if esc else "contained"
    await conn.close()
    return welcome.conversation_id, outcome


async def history(server: Any) -> None:
    """Day 1: one answered, a keyword escalation (billing) claimed after 2 min and resolved
    10 min later, a low-confidence one claimed after 10 min and resolved 30 min later.
    Day 2: one answered, a request for a person claimed after 1 min, released, claimed
    again 3 min later and resolved 10 min after that, and one visitor who said nothing."""
    clock = Clock()
    server.service.clock = clock
    sam = await agent(server.url, await create_token(server, "Sam", "agent"))
    plan = [
        (DAY1, 10, 0, "how do I point my domain to your nameservers", "contained", []),
        (DAY1, 10, 5, "I want to cancel my account", "keyword", [(7, "claim"), (17, "resolve")]),
        (DAY1, 11, 0, "how much does it cost", "low_confidence", [(10, "claim"), (40, "resolve")]),
        (DAY2, 9, 0, "my website is slow", "contained", []),
        (DAY2, 9, 30, "I want to talk to a person", "human_request",
         [(31, "claim"), (32, "release"), (35, "claim"), (45, "resolve")]),
        (DAY2, 10, 0, None, "none", []),
    ]  # fmt: skip
    for day, hh, mm, text, expected, steps in plan:
        clock.at(day, hh, mm)
        cid, outcome = await visit(server.url, text)
        assert outcome == expected
        for minute, action in steps:
            clock.at(day, hh + minute // 60, minute % 60)
            await act(sam, action, cid)
    await sam.close()


EXPECTED: dict[str, Any] = {
    "conversations": 6,
    "containment_rate": 0.4,
    "escalation_rate": 0.6,
    "days": [
        {"date": "2026-03-02", "conversations": 3, "contained": 1, "escalated": 2,
         "containment_rate": 1 / 3, "escalation_rate": 2 / 3},
        {"date": "2026-03-03", "conversations": 3, "contained": 1, "escalated": 1,
         "containment_rate": 0.5, "escalation_rate": 0.5},
    ],
    "by_trigger": {"keyword": 1, "low_confidence": 1, "human_request": 1},
    # waits 120, 600, 60, 180 s; handling 600, 1800, 600 s (numpy's linear percentiles)
    "wait": {"count": 4, "median": 150.0, "p90": 474.0},
    "handling": {"count": 3, "median": 600.0, "p90": 1560.0},
    "teams": {
        "(no team)": {"escalated": 2, "wait": {"count": 3, "median": 180.0, "p90": 516.0},
                      "handling": {"count": 2, "median": 1200.0, "p90": 1680.0}},
        "billing": {"escalated": 1, "wait": {"count": 1, "median": 120.0, "p90": 120.0},
                    "handling": {"count": 1, "median": 600.0, "p90": 600.0}},
    },
}  # fmt: skip


async def test_analytics_and_the_report_agree_on_a_known_history(
    server_factory, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    server = await server_factory(data_dir=data)
    await history(server)
    op = await agent(server.url, await create_token(server, "Olga", "operator"))

    answer = await ask(op, {"type": "analytics"})
    assert isinstance(answer, SAnalytics), answer
    figures = answer.model_dump(mode="json", exclude={"type", "request_id", "since", "until"})
    assert figures == json.loads(json.dumps(EXPECTED))

    done = await run_handoff("report", "--json", "--data-dir", str(data))
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    assert {k: v for k, v in printed.items() if k not in ("since", "until")} == figures

    day2 = await ask(op, {"type": "analytics", "since": DAY2.isoformat()})
    assert [d.date.isoformat() for d in day2.days] == ["2026-03-03"] and day2.conversations == 3
    done = await run_handoff("report", "--json", "--since", "2026-03-03", "--data-dir", str(data))
    assert json.loads(done.stdout)["days"] == day2.model_dump(mode="json")["days"]
    done = await run_handoff("report", "--until", "2026-03-02", "--data-dir", str(data))
    assert done.returncode == 0 and "3 conversations (UTC)" in done.stdout
    assert "2026-03-03" not in done.stdout

    billing = await ask(op, {"type": "analytics", "team": "billing"})
    assert billing.by_trigger == {"keyword": 1} and list(billing.teams) == ["billing"]
    await op.close()


async def test_report_refuses_bad_dates_and_a_missing_store(tmp_path: Path) -> None:
    SQLiteStore(tmp_path).close()
    done = await run_handoff("report", "--since", "last tuesday", "--data-dir", str(tmp_path))
    assert done.returncode == 2 and "error[invalid_option]: --since" in done.stderr
    done = await run_handoff(
        "report", "--since", "2026-03-04", "--until", "2026-03-03", "--data-dir", str(tmp_path)
    )
    assert done.returncode == 2 and done.stdout == "", done
    error, hint = done.stderr.splitlines()
    assert error == (
        "error[invalid_option]: --since 2026-03-04 is not before --until 2026-03-03: "
        "the period is empty"
    )
    assert hint.startswith("Try '") and hint.endswith(" report --help' for help."), hint
    one_day = await run_handoff(
        "report", "--since", "2026-03-03", "--until", "2026-03-03", "--data-dir", str(tmp_path)
    )
    assert one_day.returncode == 0, one_day.stderr  # --until's day is included
    done = await run_handoff("report", "--data-dir", str(tmp_path / "nothing"))
    assert done.returncode == 2 and "error[bad_data_dir]" in done.stderr


async def test_rates_without_a_denominator_are_no_data_not_zero(
    server_factory, tmp_path: Path
) -> None:
    """``handoff report`` with no conversation printed "containment 0%". A rate with no
    conversation that had an AI turn is ``-`` in the text and ``null`` in ``--json`` and
    in the operator's ``analytics`` frame, overall and per day."""
    empty = tmp_path / "empty"
    SQLiteStore(empty).close()
    done = await run_handoff("report", "--data-dir", str(empty))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "0 conversations (UTC): containment -, escalation -"
    done = await run_handoff("report", "--json", "--data-dir", str(empty))
    printed = json.loads(done.stdout)
    assert printed["containment_rate"] is None and printed["escalation_rate"] is None

    data = tmp_path / "data"
    server = await server_factory(data_dir=data)
    silent, _ = await start_visitor(server.url, name="Quiet")  # never writes: no AI turn
    await silent.close()
    op = await agent(server.url, await create_token(server, "Olga", "operator"))
    answer = await ask(op, {"type": "analytics"})
    assert isinstance(answer, SAnalytics) and answer.conversations == 1
    assert answer.containment_rate is None and answer.days[0].containment_rate is None
    await op.close()
    done = await run_handoff("report", "--data-dir", str(data))
    lines = done.stdout.splitlines()
    assert lines[0] == "1 conversations (UTC): containment -, escalation -"
    assert lines[2].split()[1:] == ["1", "0", "0", "-"]
    done = await run_handoff("report", "--json", "--data-dir", str(data))
    day = json.loads(done.stdout)["days"][0]
    assert day["conversations"] == 1 and day["containment_rate"] is None


async def test_analytics_for_a_team_nobody_names_is_refused_naming_the_known_ones(
    server_factory: Any,
) -> None:
    """An empty report for a misspelt team would read as a team without escalations;
    the frame is refused as ``handoff report --team`` is, naming the teams there are
    (an agent's, the config's push teams, the policy's)."""
    server = await server_factory(assignment={"push_teams": ["support"]})
    await create_token(server, "Sam", teams=["billing"])
    op = await agent(server.url, await create_token(server, "Olga", "operator"))
    refused = await ask(op, {"type": "analytics", "team": "biling"})
    assert isinstance(refused, SError), refused
    assert refused.code == "not_found"
    assert "'biling'" in refused.detail
    assert "billing" in refused.detail and "support" in refused.detail
    named = await ask(op, {"type": "analytics", "team": "support"})
    assert isinstance(named, SAnalytics) and named.by_trigger == {}
