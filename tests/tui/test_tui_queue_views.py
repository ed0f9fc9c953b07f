"""The queue's two views and what the app subscribes to (issue 8, kinds 7 and 8).

The default view subscribes to ``queued`` + ``assigned`` (``subscribe_queue`` with
``statuses``); the AI view (key ``a``, or the palette) re-subscribes with ``ai`` +
``queued`` + ``assigned`` and lists the conversations the AI is handling on its own, so
``handoff demo`` shows activity from its first visitor; new escalations keep arriving
(with their notification) while the AI view is on. ``a`` again goes back.
"""

from __future__ import annotations

from datetime import timedelta

from textual.widgets._footer import FooterKey

from handoff_server.protocol import ASubscribeQueue, SError, SQueue
from handoff_tui import TUISettings, make_app
from handoff_tui.model import QueueView
from handoff_tui.widgets.queue_table import QueueTable
from tests.helpers import agent, say, start_visitor
from tests.tui.pilot_kit import until
from tests.tui_fixtures import NOW, ai_row, build_app, queue_items

DEFAULT = ["queued", "assigned"]
AI = ["ai", "queued", "assigned"]


def _subscriptions(server) -> list[list[str]]:
    return [list(f.statuses) for f in server.received if isinstance(f, ASubscribeQueue)]


def _rows(app) -> list[str]:
    table = app.screen.query_one(QueueTable)
    return [
        "".join(s.text for s in table.render_line(y)) for y in range(1, len(app.queue.view) + 1)
    ]


async def test_ai_view_subscribes_to_ai_conversations_and_back() -> None:
    """``a`` re-subscribes with ai+queued+assigned and shows only the AI's conversations
    (first column: time since the last message); ``a`` again sends the default set and
    the AI rows go; the subscription in force is the one resent after a reconnect."""
    app, server = build_app(queue=[*queue_items(), ai_row()], reconnect_initial=0.05)
    async with app.run_test(size=(120, 36)) as pilot:
        await until(pilot, lambda: app.queue.items, "queue")
        assert _subscriptions(server) == [DEFAULT]
        assert "c_ai" not in app.queue.items

        await pilot.press("a")
        await until(pilot, lambda: "c_ai" in app.queue.items, "AI row")
        assert _subscriptions(server) == [DEFAULT, AI]
        assert [i.conversation_id for i in app.queue.view] == ["c_ai"]
        # Another AI conversation, idle longer: the longest idle comes first.
        server.upsert(
            ai_row("c_ai2", "Vint Cerf").model_copy(
                update={"updated_at": NOW - timedelta(minutes=5)}
            )
        )
        await until(pilot, lambda: "c_ai2" in app.queue.items, "second AI row")
        assert [i.conversation_id for i in app.queue.view] == ["c_ai2", "c_ai"]
        server.upsert(server.queue["c_ai2"].model_copy(update={"status": "resolved"}))
        await until(pilot, lambda: "c_ai2" not in app.queue.items, "second AI row gone")
        header = "".join(s.text for s in app.screen.query_one(QueueTable).render_line(0))
        assert header.startswith(" Idle ")
        assert "Hedy Lamarr" in _rows(app)[0] and "0.91" in _rows(app)[0]
        title = app.screen.query_one("#title-bar").visual.plain
        assert "AI view · 1 with the AI · 5 queued · 3 assigned" in title

        # An escalation while watching the AI still arrives: queued rows stay subscribed.
        server.upsert(ai_row().model_copy(update={"status": "queued", "queued_at": NOW}))
        await until(pilot, lambda: app.queue.items["c_ai"].status == "queued", "escalation")
        assert app.queue.view == []

        server.drop(stay_down=False)
        await until(pilot, lambda: len(_subscriptions(server)) == 3, "resubscribe")
        assert _subscriptions(server)[-1] == AI

        await pilot.press("a")
        await until(pilot, lambda: _subscriptions(server)[-1] == DEFAULT, "default again")
        assert app.queue.mode is QueueView.QUEUE
        assert "c_ai" in app.queue.items  # it is queued now, so it stays


async def test_a_row_leaving_the_subscribed_set_is_removed() -> None:
    """A ``queue_item`` whose new status is outside the set removes the row (resolved from
    the queue view; escalated out of nothing but the AI view)."""
    app, server = build_app(queue=[*queue_items(), ai_row()])
    async with app.run_test(size=(120, 36)) as pilot:
        await until(pilot, lambda: "c_ada" in app.queue.items, "queue")
        server.upsert(app.queue.items["c_ada"].model_copy(update={"status": "resolved"}))
        await until(pilot, lambda: "c_ada" not in app.queue.items, "resolved row gone")
        await pilot.press("a")
        await until(pilot, lambda: "c_ai" in app.queue.items, "AI row")
        server.upsert(ai_row().model_copy(update={"status": "resolved"}))
        await until(pilot, lambda: "c_ai" not in app.queue.items, "AI row gone")


async def test_palette_toggles_the_ai_view() -> None:
    """The command palette offers the view the screen is not showing."""
    app, server = build_app(queue=[*queue_items(), ai_row()])
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.queue.items, "queue")
        commands = {c.title: c for c in app.get_system_commands(app.screen)}
        assert "AI view" in commands and "Queue view" not in commands
        await commands["AI view"].callback()
        await until(pilot, lambda: "c_ai" in app.queue.items, "AI row")
        commands = {c.title: c for c in app.get_system_commands(app.screen)}
        assert "Queue view" in commands and "AI view" not in commands


async def test_ai_view_shows_the_ai_at_work_on_a_real_server(server, agent_token) -> None:
    """Against a real server: a visitor the AI answers shows up in the AI view, with the
    AI's confidence, and never in the default view.

    (Needs only what every server version does: a ``queue_item`` for each change of an
    AI conversation reaches an agent subscribed to ``ai``.)"""
    app = make_app(TUISettings(server_url=server.url, token=agent_token))
    async with app.run_test(size=(120, 36)) as pilot:
        await until(pilot, lambda: app.queue.me is not None, "sign-in")
        await pilot.press("a")
        await until(pilot, lambda: app.queue.mode is QueueView.AI, "AI view")
        await pilot.pause(0.3)
        visitor, welcome = await start_visitor(server.url, name="Radia Perlman")
        cid = welcome.conversation_id
        frames = await say(visitor, "how do I reset my login password")
        assert any(getattr(f, "event", None) and f.event.kind == "ai_message" for f in frames)
        await until(pilot, lambda: cid in app.queue.items, "AI row")
        await until(pilot, lambda: app.queue.items[cid].last_confidence is not None, "conf")
        row = _rows(app)[0]
        assert "Radia Perlman" in row and "how do I reset my login password" in row
        await pilot.press("a")
        await until(pilot, lambda: cid not in app.queue.items, "gone in the default view")
        await visitor.close()


async def test_subscribe_queue_statuses_are_checked(server, agent_token) -> None:
    """The server accepts ``statuses`` and refuses an empty or repeating list with
    ``invalid_frame`` (the protocol model's validator)."""
    conn = await agent(server.url, agent_token)
    for statuses in ([], ["ai", "ai"], ["waiting"]):
        await conn.send({"type": "subscribe_queue", "statuses": statuses})
        error = await conn.recv(timeout=10)
        assert isinstance(error, SError) and error.code == "invalid_frame", (statuses, error)
    await conn.send({"type": "subscribe_queue", "statuses": ["ai"]})
    assert isinstance(await conn.recv(timeout=10), SQueue)
    await conn.close()


async def test_claim_is_offered_only_on_a_row_that_can_be_claimed() -> None:
    """The queue's footer offered ``c Claim`` whatever row was highlighted; on an
    assigned one the server refuses it ("already claimed by Kim", "you already have
    this conversation"). It is offered on queued rows only, following the highlight."""
    app, _server = build_app(queue=queue_items())
    async with app.run_test(size=(160, 40)) as pilot:
        await until(pilot, lambda: app.queue.me is not None and app.queue.items, what="queue")
        table = app.screen.query_one(QueueTable)

        def shown() -> set[str]:
            return {k.description for k in app.screen.query(FooterKey)}

        seen: dict[str, bool] = {}
        for _ in range(len(queue_items())):
            item = table.selected
            await until(
                pilot,
                lambda item=item: ("Claim" in shown()) == (item.status == "queued"),
                what=f"the claim key on {item.conversation_id}",
            )
            seen[item.status] = "Claim" in shown()
            await pilot.press("down")
        assert seen == {"queued": True, "assigned": False}, seen
