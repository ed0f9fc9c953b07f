"""The desk in the agent app against a real server on an ephemeral port: the presence
switch, accepting a pushed offer, a transfer and a resolution chosen in their dialogs,
with real visitor and agent clients on the other side."""

from __future__ import annotations

from handoff_server.protocol import AOpen, SConversation, SEvent
from handoff_tui import TUISettings, make_app
from handoff_tui.app import AgentApp
from handoff_tui.screens import ConversationScreen
from tests.conftest import create_token
from tests.helpers import say, start_visitor
from tests.server.routing_kit import TEAMS_POLICY, present
from tests.tui.pilot_kit import until


def _app(url: str, token: str) -> AgentApp:
    return make_app(
        TUISettings(
            server_url=url, token=token, reconnect_initial_seconds=0.1, reconnect_max_seconds=0.5
        )
    )


async def _escalated(url: str, name: str):
    visitor, welcome = await start_visitor(url, name=name)
    frames = await say(visitor, "I want to cancel account")
    assert any(isinstance(f, SEvent) and f.event.kind == "escalated" for f in frames)
    return visitor, welcome.conversation_id


async def test_presence_switch_and_accepting_an_offer(server_factory) -> None:
    srv = await server_factory(policy=TEAMS_POLICY, assignment={"push_teams": ["billing"]})
    token = await create_token(srv, "Sam", teams=["billing"])
    app = _app(srv.url, token)
    async with app.run_test(size=(120, 36)) as pilot:
        await until(pilot, lambda: app.model.staff.known, "the roster")
        presence = srv.desk.presence
        sam = next(a for a in presence.agents.values() if a.info.name == "Sam")
        assert sam.status == "online" and sam.reachable
        await pilot.press("p")
        await until(pilot, lambda: sam.status == "away", "away on the server")
        visitor, cid = await _escalated(srv.url, "Ada")
        await pilot.pause(0.3)
        assert not app.model.staff.offers  # away: nothing is offered
        await pilot.press("p")
        # Back online: the waiting conversation is offered at once.
        await until(pilot, lambda: cid in app.model.staff.offers, "the offer")
        await pilot.press("y")
        await until(pilot, lambda: presence.holders.get(cid) == sam.info.id, "the accept")
        await until(pilot, lambda: app.queue.items[cid].status == "assigned", "the queue row")
        await visitor.close()


async def test_transfer_and_resolve_through_their_dialogs(server_factory) -> None:
    srv = await server_factory(policy=TEAMS_POLICY)
    token = await create_token(srv, "Sam")
    kim, _, _ = await present(srv, "Kim", teams=["billing"])
    app = _app(srv.url, token)
    async with app.run_test(size=(120, 36)) as pilot:
        await until(pilot, lambda: app.model.staff.known, "the roster")
        first_visitor, first = await _escalated(srv.url, "Ada")
        await until(pilot, lambda: first in app.queue.items, "the queue row")
        app.open_conversation(first)
        await until(pilot, lambda: isinstance(app.screen, ConversationScreen), "the screen")
        conv = app.conversations[first]
        await until(pilot, lambda: conv.packet is not None, "the packet")
        await pilot.press("c")  # reading mode: c claims, then the reply box has focus
        await until(pilot, lambda: conv.status == "assigned", "the claim")
        await pilot.press("escape", "t")
        await until(pilot, lambda: type(app.screen).__name__ == "TransferDialog", "the dialog")
        targets = [t.label for t in app.screen.targets]
        assert targets[0].startswith("team billing") and targets[1].startswith("Kim")
        await pilot.press("down", "enter", *"over to you", "enter")
        await until(pilot, lambda: srv.desk.presence.holders.get(first) != _id(app), "transfer")
        await kim.send(AOpen(type="open", conversation_id=first, subscribe=False))
        packet = (await kim.recv_until(lambda f: isinstance(f, SConversation)))[-1].packet
        (moved,) = [e for e in packet.transcript if e.kind == "transferred"]
        assert moved.data.to_agent.name == "Kim" and moved.data.note == "over to you"
        await until(
            pilot, lambda: conv.status == "assigned" and conv.assigned_agent.name == "Kim", "seen"
        )

        second_visitor, second = await _escalated(srv.url, "Bo")
        await until(pilot, lambda: second in app.queue.items, "the second row")
        app.open_conversation(second)
        other = app.conversations[second]
        await until(pilot, lambda: other.packet is not None, "the second packet")
        await pilot.press("r")
        await until(pilot, lambda: type(app.screen).__name__ == "ResolveDialog", "the dialog")
        await pilot.press("down", "enter", "down", "down", "enter")  # referred; wrong
        await until(pilot, lambda: other.status == "resolved", "the resolution")
        (done,) = [e for e in other.transcript if e.kind == "resolved"]
        stored = done.data.model_dump()
        assert (stored["resolution"], stored["ai_verdict"]) == ("referred", "wrong")
        for conn in (kim, first_visitor, second_visitor):
            await conn.close()


def _id(app: AgentApp) -> str:
    assert app.queue.me is not None
    return app.queue.me.id
