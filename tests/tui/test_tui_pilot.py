"""Pilot tests: the agent app against a real server on an ephemeral port, with a real
visitor client on the other side."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from textual.widgets import Static
from textual.widgets._footer import FooterKey

from handoff_server.client import new_client_msg_id
from handoff_server.protocol import AClaim, SEvent, VMessage, VResume
from handoff_tui import FixedClock, TUISettings, make_app
from handoff_tui.app import AgentApp
from handoff_tui.screens import ConversationScreen
from handoff_tui.widgets.banner import ConnectionBanner
from handoff_tui.widgets.queue_table import QueueTable
from handoff_tui.widgets.transcript import Transcript, TranscriptLine
from tests.conftest import create_token
from tests.helpers import LinkProxy, agent, say, start_visitor
from tests.tui.pilot_kit import until


def _app(url: str, token: str) -> AgentApp:
    return make_app(
        TUISettings(
            server_url=url, token=token, reconnect_initial_seconds=0.1, reconnect_max_seconds=0.5
        )
    )


async def _escalation_shows_in_the_queue(pilot, url: str):
    """A visitor asks for a person; the row appears in the queue without a refresh, with a
    notification. Returns the visitor's connection and the conversation id."""
    app = pilot.app
    visitor, welcome = await start_visitor(
        url, name="Ada Lovelace", email="ada@example.org", page_url="https://hostco.example/help"
    )
    cid = welcome.conversation_id
    frames = await say(visitor, "I want to talk to a person please")
    assert any(isinstance(f, SEvent) and f.event.kind == "escalated" for f in frames)
    await until(pilot, lambda: cid in app.queue.items, what="queue row")
    table = app.screen.query_one(QueueTable)
    assert table.selected.conversation_id == cid
    assert any(
        n.title == "New escalation" and "Ada Lovelace" in n.message for n in app._notifications
    ), [(n.title, n.message) for n in app._notifications]
    row = "".join(seg.text for seg in table.render_line(1))
    assert "Ada Lovelace" in row and "talk to a person" in row
    return visitor, cid


async def test_escalation_claim_reply_resolve(server, agent_token) -> None:
    app = _app(server.url, agent_token)
    async with app.run_test(size=(120, 36)) as pilot:
        await until(
            pilot, lambda: app.connection_state == "connected" and app.queue.me, what="sign-in"
        )
        assert app.queue.me.name == "Sam"
        assert app.queue.view == []

        visitor, cid = await _escalation_shows_in_the_queue(pilot, server.url)

        await pilot.press("c")
        await until(pilot, lambda: app.queue.items[cid].assigned_agent is not None, what="claim")
        assert app.queue.items[cid].status == "assigned"
        assert app.queue.items[cid].assigned_agent.name == "Sam"

        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ConversationScreen), what="screen")
        conv = app.conversations[cid]
        await until(pilot, lambda: conv.packet is not None, what="packet")
        assert conv.packet.visitor.page_url == "https://hostco.example/help"
        kinds = [e.kind for e in conv.transcript]
        assert kinds[:2] == ["conversation_started", "visitor_message"]
        assert "escalated" in kinds and "claimed" in kinds

        await pilot.press(*"Hi Ada, Sam here.")
        await pilot.press("ctrl+s")
        reply = await visitor.recv_until(
            lambda f: isinstance(f, SEvent) and f.event.kind == "agent_message", timeout=10
        )
        assert reply[-1].event.data.text == "Hi Ada, Sam here."
        await until(
            pilot,
            lambda: not conv.pending and any(e.kind == "agent_message" for e in conv.transcript),
            what="reply acked",
        )
        lines = [w for w in app.screen.query(TranscriptLine)]
        assert sum("Hi Ada, Sam here." in str(w.content) for w in lines) == 1

        # r asks how it ended (answered, first) and the AI verdict (none, first).
        await pilot.press("escape", "r")
        await until(pilot, lambda: type(app.screen).__name__ == "ResolveDialog", what="dialog")
        await pilot.press("enter", "enter")
        resolved = await visitor.recv_until(
            lambda f: isinstance(f, SEvent) and f.event.kind == "resolved", timeout=10
        )
        assert resolved[-1].event.data.agent.name == "Sam"
        await until(
            pilot, lambda: conv.status == "resolved" and cid not in app.queue.items, what="resolved"
        )
        await visitor.close()


async def test_bad_token_stops_the_app_with_the_reason(server) -> None:
    """A refused token (HTTP 401) ends the app with return code 1 and says why; nothing
    retries (``handoff agent`` then prints it and exits non-zero: test_cli_agent.py)."""
    app = _app(server.url, "hnd_not_a_token")
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.refusal is not None, what="401")
        await until(pilot, lambda: app.return_code is not None, what="the app to exit")
    assert app.return_code == 1
    assert app.refusal == f"the server at {server.url} refused the token (HTTP 401)"
    assert app.attempt == 0


async def test_claim_stops_the_wait_and_resolved_drops_the_claim_hint(server, agent_token) -> None:
    """Against a real server: while queued the panel counts the wait and says "press c to
    claim"; after the claim the wait is fixed (the app's clock moves on, the shown wait
    does not); after resolving, the conversation says it is resolved and offers no claim."""
    clock = FixedClock(datetime.now(UTC))
    app = make_app(TUISettings(server_url=server.url, token=agent_token), clock=clock)
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: app.queue.me is not None, what="sign-in")
        visitor, welcome = await start_visitor(server.url, name="Katherine Johnson")
        cid = welcome.conversation_id
        await say(visitor, "I want to talk to a person please")
        await until(pilot, lambda: cid in app.queue.items, what="queue row")
        app.open_conversation(cid)
        screen = app.screen
        conv = app.conversations[cid]
        await until(pilot, lambda: conv.packet is not None and screen.ready, what="packet")
        panel = screen.query_one("#panel-body", Static)
        status = screen.query_one("#reply-status", Static)
        clock.advance(300)
        app._tick()
        # The app's clock started just before the escalation: about five minutes later.
        five = re.compile(r"waiting: [45]m\d\ds")
        await until(pilot, lambda: five.search(panel.visual.plain), what="waiting redrawn")
        assert status.visual.plain == "press c to claim it, then reply"

        await pilot.press("c")
        await until(pilot, lambda: conv.status == "assigned", what="claim")
        clock.advance(300)
        app._tick()
        await until(pilot, lambda: "waited: " in panel.visual.plain, what="waited redrawn")
        first = panel.visual.plain
        assert "waiting:" not in first and "waited: " in first
        row_wait = app.queue.waiting(app.queue.items[cid], app.now)
        assert row_wait is not None and row_wait < 60
        clock.advance(3000)
        app._tick()
        await pilot.pause(0.1)
        assert panel.visual.plain == first
        assert app.queue.waiting(app.queue.items[cid], app.now) == row_wait

        await pilot.press("escape", "r")
        await until(pilot, lambda: type(app.screen).__name__ == "ResolveDialog", what="dialog")
        await pilot.press("enter", "enter")
        await until(pilot, lambda: conv.status == "resolved", what="resolve")
        resolved_hint = "resolved · the AI answers if they write again"
        await until(pilot, lambda: status.visual.plain == resolved_hint, what="resolved hint")
        footer = {k.description for k in screen.query(FooterKey)}
        assert "Claim" not in footer and "Resolve" not in footer
        await visitor.close()


def _banner_text(app: AgentApp) -> str:
    return app.screen.query_one(ConnectionBanner).visual.plain  # type: ignore[union-attr]


def _queue_line(app: AgentApp) -> str:
    return "".join(seg.text for seg in app.screen.query_one(QueueTable).render_line(1))


async def test_unreachable_server_is_named_not_called_a_lost_connection(
    server_factory, tmp_path
) -> None:
    """A wrong --server (nothing listening there) is not a "lost connection" and not an
    empty queue: the banner says the server cannot be reached, why, and what to check;
    once it answers the queue shows, and a later drop is called a lost connection."""
    data_dir = tmp_path / "data"
    first = await server_factory(data_dir=data_dir)
    port, url = first.port, first.url
    token = await create_token(first)
    await first.close()
    app = _app(url, token)
    async with app.run_test(size=(120, 36)) as pilot:
        await until(pilot, lambda: app.connection_state == "reconnecting", what="banner")
        await pilot.pause(0.1)
        banner = _banner_text(app)
        assert f"Cannot reach {url} (" in banner, banner
        assert "is 'handoff serve' running there?" in banner and "--server" in banner, banner
        assert "lost" not in banner, banner
        assert "Not connected to the server yet" in _queue_line(app)
        assert "No conversations waiting" not in _queue_line(app)

        second = await server_factory(data_dir=data_dir, server={"port": port})
        await until(
            pilot, lambda: app.connection_state == "connected" and app.queue.me, what="sign-in"
        )
        await pilot.pause(0.1)
        assert "No conversations waiting" in _queue_line(app)
        await second.close()
        await until(pilot, lambda: app.connection_state == "reconnecting", what="lost")
        await pilot.pause(0.1)
        banner = _banner_text(app)
        assert f"Connection to {url} lost" in banner and "Cannot reach" not in banner, banner


async def test_reconnect_resumes_without_loss_or_doubles(server_factory, tmp_path) -> None:
    data_dir = tmp_path / "data"
    first = await server_factory(data_dir=data_dir)
    port = first.port
    token = await create_token(first)
    app = _app(first.url, token)
    async with app.run_test(size=(120, 36)) as pilot:
        await until(pilot, lambda: app.connection_state == "connected", what="connect")
        visitor, welcome = await start_visitor(first.url, name="Grace Hopper")
        cid = welcome.conversation_id
        await say(visitor, "I want to talk to a human")
        await until(pilot, lambda: cid in app.queue.items, what="queue row")
        app.open_conversation(cid)
        conv = app.conversations[cid]
        await until(pilot, lambda: any(e.kind == "escalated" for e in conv.transcript), what="open")
        app.send_action(cid, "claim")
        await until(pilot, lambda: conv.status == "assigned", what="claim")
        before = conv.last_seq
        await visitor.close()

        await first.close()
        await until(pilot, lambda: app.connection_state == "reconnecting", what="banner")
        assert app.screen.query_one(ConnectionBanner).display
        # A reply typed while the link is down stays pending and goes out on reconnect.
        assert app.send_text(cid, "reply", "Still there? Our link blipped.")

        second = await server_factory(data_dir=data_dir, server={"port": port})
        visitor2, _ = await _resume(second.url, cid, welcome.resume_token, welcome.last_seq)
        await visitor2.send(
            VMessage(type="message", client_msg_id=new_client_msg_id(), text="hello? are you there")
        )
        await until(
            pilot, lambda: app.connection_state == "connected", timeout=15, what="reconnect"
        )
        await until(
            pilot,
            lambda: any(
                e.kind == "visitor_message" and "are you there" in e.data.text
                for e in conv.transcript
            ),
            what="missed message",
        )
        await until(pilot, lambda: not conv.pending, what="pending reply resent and acked")
        await until(
            pilot,
            lambda: any(e.kind == "agent_message" for e in conv.transcript),
            what="reply event",
        )
        seqs = sorted(conv.events)
        assert seqs == list(range(1, len(seqs) + 1)) and seqs[-1] > before
        texts = [e.data.text for e in conv.transcript if e.kind == "agent_message"]
        assert texts == ["Still there? Our link blipped."]
        assert isinstance(app.screen, ConversationScreen)
        await until(
            pilot,
            lambda: len(app.screen.query(TranscriptLine)) == len(seqs),
            what="transcript redrawn",
        )
        lines = list(app.screen.query(TranscriptLine))
        assert len(lines) == len(seqs)
        assert not app.screen.query_one(ConnectionBanner).display
        await visitor2.close()


async def _resume(url: str, cid: str, resume_token: str, last_seq: int):
    from handoff_server.client import connect_visitor

    conn = await connect_visitor(url)
    await conn.send(
        VResume(type="resume", conversation_id=cid, resume_token=resume_token, last_seq=last_seq)
    )
    return conn, await conn.recv(timeout=10)


async def test_a_handshake_without_an_answer_is_retried(server, agent_token) -> None:
    """A connection closed before the server's HTTP answer raised websockets'
    ``InvalidMessage``, which the link did not count as a failed connection: its worker
    died ("The connection worker failed"), and the app never connected again though the
    server was back a moment later (seen under load in CI). It is retried as any failed
    connection is."""
    faults = LinkProxy(server.port, drops=2)
    proxy = await faults.start()
    port = proxy.sockets[0].getsockname()[1]
    app = _app(f"ws://127.0.0.1:{port}", agent_token)
    async with proxy, app.run_test(size=(120, 36)) as pilot:
        await until(
            pilot, lambda: app.connection_state == "connected", timeout=15, what="connected"
        )
        assert faults.seen >= 3
        assert not [n for n in app._notifications if n.title == "Error"]


async def test_a_refused_claim_leaves_writing_mode(server, agent_token) -> None:
    """``c`` puts the screen in writing mode at once (the reply box focused). When
    another agent took the conversation first, the server refuses the claim; the box
    kept the focus, so the agent's next letter keys typed into a reply they could not
    send. After the refusal the screen is back in reading mode."""
    link = LinkProxy(server.port)
    proxy = await link.start()
    app = _app(f"ws://127.0.0.1:{proxy.sockets[0].getsockname()[1]}", agent_token)
    async with proxy, app.run_test(size=(120, 36)) as pilot:
        await until(pilot, lambda: app.queue.me is not None, what="sign-in")
        visitor, cid = await _escalation_shows_in_the_queue(pilot, server.url)
        app.open_conversation(cid)
        screen = app.screen
        await until(pilot, lambda: screen.conv.packet is not None and screen.ready, what="open")
        await until(pilot, lambda: isinstance(screen.focused, Transcript), what="reading")

        link.flowing.clear()  # Sam's app hears nothing of what follows until the claim is in
        kim = await agent(server.url, await create_token(server, name="Kim"))
        cmid = new_client_msg_id()
        await kim.send(AClaim(type="claim", conversation_id=cid, client_msg_id=cmid))
        await kim.recv_until(lambda f: getattr(f, "client_msg_id", None) == cmid)
        await pilot.press("c")
        await until(pilot, lambda: screen.focused is not None, what="a focus")
        assert not isinstance(screen.focused, Transcript)  # writing mode, as before
        link.flowing.set()

        await until(
            pilot,
            lambda: any(n.title == "claim failed" for n in app._notifications),
            what="the refusal",
        )
        await until(pilot, lambda: isinstance(screen.focused, Transcript), what="reading again")
        assert screen.conv.status == "assigned" and screen.conv.assigned_agent.name == "Kim"
        await kim.close()
        await visitor.close()


async def test_writing_before_the_claim_is_no_server_error(server, agent_token) -> None:
    """Typing needs the right to reply: the server refuses ``typing`` in a conversation
    the agent does not hold. The app sent it for any text in the box, so writing a draft
    in a queued conversation (or opening one whose draft was kept) popped up "Server
    error · claim the conversation before you reply". It says it is typing only where
    it may reply; once claimed, the visitor sees the agent typing."""
    app = _app(server.url, agent_token)
    async with app.run_test(size=(120, 36)) as pilot:
        await until(pilot, lambda: app.queue.me is not None, what="sign-in")
        visitor, cid = await _escalation_shows_in_the_queue(pilot, server.url)
        app.open_conversation(cid)
        screen = app.screen
        await until(pilot, lambda: screen.conv.packet is not None and screen.ready, what="open")
        await pilot.press("i", *"hello Ada")
        await until(pilot, lambda: screen.conv.draft == "hello Ada", what="the draft")
        await pilot.pause(1.0)  # the server's answer to a typing frame would be here
        errors = [n.message for n in app._notifications if n.severity == "error"]
        assert not errors, errors

        await pilot.press("escape", "c")
        await until(pilot, lambda: screen.conv.status == "assigned", what="claim")
        await pilot.press("!")
        frames = await visitor.recv_until(
            lambda f: getattr(f, "type", None) == "typing" and f.active, timeout=10
        )
        assert frames[-1].role == "agent"
        assert not [n.message for n in app._notifications if n.severity == "error"]
        await visitor.close()


async def test_a_refusal_with_retry_after_is_obeyed(server, agent_token) -> None:
    """A server that refuses the handshake with ``503`` and ``Retry-After: 2`` (starting,
    or at its connection cap) was asked again after the app's own back-off (0.1 s
    here), ignoring when it said to come back. The app waits the longer of the two,
    says so on the banner's count-down, then connects."""
    faults = LinkProxy(server.port, refuse=1, retry_after="2")
    proxy = await faults.start()
    app = _app(f"ws://127.0.0.1:{proxy.sockets[0].getsockname()[1]}", agent_token)
    async with proxy, app.run_test(size=(120, 36)) as pilot:
        await until(pilot, lambda: app.model.link.state == "reconnecting", what="refused")
        assert app.model.link.retry_in >= 2.0, app.model.link.retry_in
        await pilot.pause(1.0)
        assert faults.seen == 1  # not asked again before the two seconds
        await until(pilot, lambda: app.connection_state == "connected", what="connected")
        assert faults.seen == 2
