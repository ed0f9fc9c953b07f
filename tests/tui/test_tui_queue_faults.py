"""A newcomer's faults in the queue, against a real server on an ephemeral port with real
visitor clients: the ``team`` filter of an agent who serves every team, what the empty
table says when a filter hides rows, one name for an anonymous visitor everywhere, and the
priority the server gave a low-confidence escalation (0) shown in the Pri column."""

from __future__ import annotations

from textual.widgets import Static

from handoff_tui import TUISettings, make_app
from handoff_tui.app import AgentApp
from handoff_tui.model import QueueFilter
from handoff_tui.screens import ConversationScreen
from handoff_tui.widgets.banner import OpenBar
from handoff_tui.widgets.queue_table import QueueTable
from handoff_tui.widgets.transcript import TranscriptLine
from tests.conftest import create_token
from tests.helpers import say, start_visitor
from tests.server.routing_kit import escalate, routing_server
from tests.tui.pilot_kit import until


def _app(url: str, token: str) -> AgentApp:
    return make_app(TUISettings(server_url=url, token=token))


def _line(app: AgentApp, y: int) -> str:
    return "".join(seg.text for seg in app.screen.query_one(QueueTable).render_line(y))


def _cell(app: AgentApp, cid: str, header: str, width: int) -> str:
    """The text of column ``header`` in ``cid``'s row, as drawn."""
    start = _line(app, 0).index(header)
    row = [i.conversation_id for i in app.queue.view].index(cid) + 1
    return _line(app, row)[start : start + width].strip()


async def _three_teams_queued(pilot, url: str) -> list:
    """Billing's, security's and a team-less escalation, all in the app's queue; returns
    the visitors' connections (to close)."""
    app = pilot.app
    await until(pilot, lambda: app.queue.me and app.model.staff.known, "sign-in and roster")
    visitors = []
    for team, name in (("billing", "Ada"), ("security", "Grace"), (None, "Hedy")):
        conn, _ = await escalate(url, team, name=name)
        visitors.append(conn)
    await until(pilot, lambda: len(app.queue.items) == 3, "three queue rows")
    assert {i.team for i in app.queue.items.values()} == {"billing", "security", None}
    return visitors


async def _filter(pilot, flt: QueueFilter) -> None:
    await until(pilot, lambda: pilot.app.queue.filter is flt, f"filter {flt}")
    await pilot.pause(0.1)


async def test_team_filter_of_an_every_team_agent_shows_every_team(server_factory) -> None:
    """Sam has no teams (every team, "(every team)" in ``handoff agents list``): the
    ``team`` filter shows billing's, security's and team-less conversations."""
    srv = await routing_server(server_factory)
    app = _app(srv.url, await create_token(srv, "Sam"))
    async with app.run_test(size=(160, 48)) as pilot:
        visitors = await _three_teams_queued(pilot, srv.url)
        await pilot.press("f", "f")
        await _filter(pilot, QueueFilter.TEAM)
        assert len(app.queue.view) == 3, [i.team for i in app.queue.view]
        title = app.screen.query_one("#title-bar", Static).visual.plain
        assert "3 queued" in title and "3 shown" in title, title
        for conn in visitors:
            await conn.close()


async def test_a_filter_hiding_every_row_says_so_and_names_the_key(server_factory) -> None:
    """With ``mine`` (nothing is Sam's) the three queued rows are hidden: the table says
    the filter hides 3 queued conversations and that f changes it, not "No conversations
    waiting"; an agent of billing alone sees the same with ``team`` (2 hidden)."""
    srv = await routing_server(server_factory)
    app = _app(srv.url, await create_token(srv, "Sam"))
    async with app.run_test(size=(80, 24)) as pilot:
        visitors = await _three_teams_queued(pilot, srv.url)
        await pilot.press("f")
        await _filter(pilot, QueueFilter.MINE)
        assert app.queue.view == []
        empty = _line(app, 1)
        assert "No conversations waiting" not in empty, empty
        assert empty.strip() == (
            "The filter 'mine' hides 3 queued conversations: press f to change the filter."
        ), empty
    kim = _app(srv.url, await create_token(srv, "Kim", teams=["billing"]))
    async with kim.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: len(kim.queue.items) == 3 and kim.queue.my_teams, "rows")
        await pilot.press("f", "f")
        await _filter(pilot, QueueFilter.TEAM)
        assert [i.team for i in kim.queue.view] == ["billing"]
        await pilot.press("c")
        await until(pilot, lambda: kim.queue.view[0].status == "assigned", "the claim")
        await pilot.press("f", "f")  # mine: Kim's claimed row shows, two are hidden
        await _filter(pilot, QueueFilter.MINE)
        assert len(kim.queue.view) == 1 and kim.queue.hidden() == {"queued": 2}
    for conn in visitors:
        await conn.close()


async def _anonymous_and_named(pilot, url: str):
    """An anonymous visitor escalated by low confidence and Ada asking for a person, both
    in the queue; returns their connections and conversation ids."""
    app = pilot.app
    await until(pilot, lambda: app.queue.me, "sign-in")
    anon, welcome = await start_visitor(url)
    anon_cid = welcome.conversation_id
    await say(anon, "what's a good recipe for sourdough bread")
    named, welcome = await start_visitor(url, name="Ada")
    ada_cid = welcome.conversation_id
    await say(named, "can I talk to someone real")
    await until(pilot, lambda: {anon_cid, ada_cid} <= app.queue.items.keys(), "rows")
    await pilot.pause(0.1)
    return (anon, anon_cid), (named, ada_cid)


async def test_low_confidence_priority_zero_shows_in_the_pri_column(server) -> None:
    """The server gives a low-confidence escalation priority 0 (the default rule's): the
    Pri column shows 0, as it shows a human request's 1 beside it."""
    app = _app(server.url, await create_token(server))
    async with app.run_test(size=(160, 48)) as pilot:
        (anon, anon_cid), (named, ada_cid) = await _anonymous_and_named(pilot, server.url)
        anon_row = app.queue.items[anon_cid]
        assert anon_row.trigger is not None and anon_row.trigger.kind == "low_confidence"
        assert (anon_row.priority, app.queue.items[ada_cid].priority) == (0, 1)
        assert _cell(app, anon_cid, "Pri", 3) == "0"
        assert _cell(app, ada_cid, "Pri", 3) == "1"
        await anon.close()
        await named.close()


async def test_an_anonymous_visitor_has_one_name_everywhere(server) -> None:
    """A visitor who gave no name nor email is "visitor" in the queue row, the
    notification, the conversation's title and tab and the transcript."""
    app = _app(server.url, await create_token(server))
    async with app.run_test(size=(160, 48)) as pilot:
        (anon, anon_cid), (named, _) = await _anonymous_and_named(pilot, server.url)
        assert _cell(app, anon_cid, "Visitor", 18) == "visitor"
        told = [n.message for n in app._notifications if n.title == "New escalation"]
        assert "visitor — low confidence" in told, told

        app.open_conversation(anon_cid)
        await until(pilot, lambda: isinstance(app.screen, ConversationScreen), "screen")
        conv = app.conversations[anon_cid]
        await until(pilot, lambda: conv.packet is not None and app.screen.ready, "packet")
        await pilot.pause(0.1)
        title = app.screen.query_one("#title-bar", Static).visual.plain
        assert title.startswith("visitor · "), title
        tabs = app.screen.query_one(OpenBar).visual.plain
        assert "visitor" in tabs and "anonymous" not in tabs, tabs
        said = [
            str(w.content)
            for w in app.screen.query(TranscriptLine)
            if "sourdough" in str(w.content)
        ]
        assert said and all("visitor" in line for line in said), said
        await anon.close()
        await named.close()
